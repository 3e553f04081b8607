/*
 * store.c: resolving a model reference to a file: a path, a plain file in the
 * cache, or (with the store) a registry name's model blob.
 */
#include "store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


void ty_store_dir(char *out, size_t size) {
  const char *home = getenv("TYCHO_HOME");
  if (home != NULL && home[0] != '\0')
    snprintf(out, size, "%s/models", home);
  else
    snprintf(out, size, "%s/.cache/tycho/models", getenv("HOME") ? getenv("HOME") : ".");
}


void ty_store_ollama_dir(char *out, size_t size) {
  const char *dir = getenv("OLLAMA_MODELS");
  if (dir != NULL && dir[0] != '\0')
    snprintf(out, size, "%s", dir);
  else
    snprintf(out, size, "%s/.ollama/models", getenv("HOME") ? getenv("HOME") : ".");
}


void ty_store_blob_path(const char *root, const char *digest, char *out, size_t size) {
  snprintf(out, size, "%s/blobs/sha256-%s", root, digest + 7);
}


static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}


/* Writes "name, name, ..." of the cache's .gguf files into out (sorted). */
static void list_models(const char *dir, char *out, size_t size) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char *names[64];
  size_t n = 0, used = 0;
  out[0] = '\0';
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL && n < sizeof names / sizeof names[0]) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0 && (names[n] = strdup(e->d_name)) != NULL)
      names[n++][len - 5] = '\0';
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(out + used, size - used, "%s%s", i ? ", " : "", names[i]);
    if (w > 0 && (size_t)w < size - used) used += (size_t)w;
    free(names[i]);
  }
}


ty_status ty_store_resolve(const char *ref, char *out, size_t size, ty_err *err) {
  char dir[2048], have[512];
  if (ref[0] == '\0') return ty_err_set(err, TY_ERR_ARG, "an empty model name; give a path or a name");
  if (access(ref, R_OK) == 0) {
    snprintf(out, size, "%s", ref);
    return TY_OK;
  }
  ty_store_dir(dir, sizeof dir);
  if (strchr(ref, '/') == NULL) {
    snprintf(out, size, "%s/%s.gguf", dir, ref);
    if (access(out, R_OK) == 0) return TY_OK;
    snprintf(out, size, "%s/%s", dir, ref);
    if (access(out, R_OK) == 0) return TY_OK;
  }
#ifdef TYCHO_HAVE_STORE
  {
    struct ty_name n;
    if (ty_name_parse(ref, &n, NULL) == TY_OK) {
      struct ty_manifest m;
      char root[2048];
      bool ro;
      ty_status s = ty_store_manifest(ref, &m, root, sizeof root, &ro, err);
      if (s == TY_OK) {
        const struct ty_layer *l = ty_manifest_layer(&m, TY_MEDIA_MODEL);
        if (l == NULL)
          s = ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest has no model layer (%s)", ref,
                         TY_MEDIA_MODEL);
        else
          ty_store_blob_path(root, l->digest, out, size);
        if (s == TY_OK && access(out, R_OK) != 0)
          s = ty_err_set(err, TY_ERR_IO, "%s: the model blob %s is missing; tycho pull %s fetches "
                         "it again", ref, out, ref);
        ty_manifest_free(&m);
        return s;
      }
      if (s != TY_ERR_IO) return s;            /* a bad manifest: say so, not "not found" */
    }
  }
#endif
  list_models(dir, have, sizeof have);
  if (have[0] != '\0')
    return ty_err_set(err, TY_ERR_IO, "'%s' is not a file, nor a model in %s (available: %s)", ref,
                      dir, have);
  return ty_err_set(err, TY_ERR_IO, "'%s' is not a file, nor a model in %s (it is empty; "
                    "scripts/setup.sh fetches smollm2 and gemma3)", ref, dir);
}
