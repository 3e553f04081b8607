/*
 * fuzz_manifest.c: libFuzzer target for what a registry sends and a user
 * types: the first line of the input is parsed as a model name, the rest as a
 * manifest. Checks the promises the store relies on: a parsed name's path has
 * no "..", no leading '/' and exactly four parts; every digest a parsed
 * manifest holds is sha256 plus 64 lowercase hex digits; the name a .gguf
 * URL gets parses back as a name. Without the store
 * (TYCHO_CURL=OFF) only names are fuzzed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"


static void check_name(const char *s) {
  struct ty_name n;
  char path[1024];
  int slashes = 0;
  if (ty_name_parse(s, &n, NULL) != TY_OK) return;
  ty_name_path(&n, path, sizeof path);
  if (path[0] == '/' || strstr(path, "..") != NULL) abort();
  for (const char *p = path; *p; p++) slashes += *p == '/';
  if (slashes != 3) abort();
  ty_name_display(&n, path, sizeof path);
  if (ty_url_is_gguf(s)) {                /* a URL's name is a name: it parses back */
    struct ty_name back;
    if (ty_name_parse(path, &back, NULL) != TY_OK || memcmp(&back, &n, sizeof n) != 0) abort();
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t nlen = nl ? (size_t)(nl - data) : size;
  char *name = malloc(nlen + 1);
  if (name == NULL) return 0;
  memcpy(name, data, nlen);
  name[nlen] = '\0';
  check_name(name);
  free(name);
#ifdef TYCHO_HAVE_STORE
  if (nl != NULL) {
    struct ty_manifest m;
    const char *json = (const char *)nl + 1;
    if (ty_manifest_parse(json, size - nlen - 1, "fuzz", &m, NULL) == TY_OK) {
      if (!ty_digest_valid(m.digest) || !ty_digest_valid(m.config.digest)) abort();
      for (size_t i = 0; i < m.n_layers; i++)
        if (!ty_digest_valid(m.layers[i].digest)) abort();
      ty_manifest_layer(&m, TY_MEDIA_MODEL);
      ty_manifest_free(&m);
    }
  }
#endif
  return 0;
}
