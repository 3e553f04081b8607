/*
 * test_store.c: model names (what they fill in, what they refuse), digests,
 * the GGUF prefix reader plan-before-pull uses, and (with the store) manifest
 * parsing and blob/manifest writes into a temporary TYCHO_HOME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "store/store.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
  printf(__VA_ARGS__); printf("\n"); } } while (0)


static void name_ok(const char *s, const char *path, const char *display) {
  struct ty_name n;
  char buf[1024];
  ty_err err;
  if (ty_name_parse(s, &n, &err) != TY_OK) {
    CHECK(0, "'%s' should parse: %s", s, err.msg);
    return;
  }
  ty_name_path(&n, buf, sizeof buf);
  CHECK(strcmp(buf, path) == 0, "'%s' -> path '%s', want '%s'", s, buf, path);
  ty_name_display(&n, buf, sizeof buf);
  CHECK(strcmp(buf, display) == 0, "'%s' -> display '%s', want '%s'", s, buf, display);
}


static void name_bad(const char *s) {
  struct ty_name n;
  ty_err err;
  ty_status st = ty_name_parse(s, &n, &err);
  CHECK(st == TY_ERR_ARG && strstr(err.msg, "model name") != NULL, "'%s' should be refused (%s)", s,
        err.msg);
}


static void test_names(void) {
  char longpart[100];
  name_ok("llama3.2", "registry.ollama.ai/library/llama3.2/latest", "llama3.2:latest");
  name_ok("llama3.2:1b", "registry.ollama.ai/library/llama3.2/1b", "llama3.2:1b");
  name_ok("user/model:v1", "registry.ollama.ai/user/model/v1", "user/model:v1");
  name_ok("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
          "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF/Q4_K_M",
          "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M");
  name_ok("127.0.0.1:5000/ns/m:t", "127.0.0.1:5000/ns/m/t", "127.0.0.1:5000/ns/m:t");
  name_ok("https://registry.ollama.ai/library/x:y", "registry.ollama.ai/library/x/y", "x:y");
  memset(longpart, 'a', 81);
  longpart[81] = '\0';
  const char *bad[] = { "", "../x", "/etc/passwd", "a/b/c/d", "a/../b", "x:..", "x:a/b", ".hidden",
    "a..b", "ns.dot/m", "m:", ":t", "a//b", "m:t:u", "m@sha256:00", "m b", "m\n", "-m",
    "host_/n/m", longpart, NULL };
  for (int i = 0; bad[i]; i++) name_bad(bad[i]);
  CHECK(ty_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        "a good digest");
  CHECK(!ty_digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
        "upper case");
  CHECK(!ty_digest_valid("sha256:../../etc/passwd"), "an escaping digest");
  CHECK(!ty_digest_valid("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        "not sha256");
}


/* URLs of a .gguf: which strings are one, and (with the store, which hashes
   the URL for the tag) the names they get. */
static void test_urls(void) {
  const char *yes[] = { "https://h/a.gguf", "HTTP://h/a.GGUF", "https://h/a.gguf?x=1#f", NULL };
  const char *no[] = { "https://h/a.gguf.txt", "ftp://h/a.gguf", "h/a.gguf", "https://h/a?f=.gguf",
    "https://h/gguf", NULL };
  for (int i = 0; yes[i]; i++) CHECK(ty_url_is_gguf(yes[i]), "'%s' is a .gguf URL", yes[i]);
  for (int i = 0; no[i]; i++) CHECK(!ty_url_is_gguf(no[i]), "'%s' is no .gguf URL", no[i]);
#ifdef TYCHO_HAVE_STORE
  {
    struct ty_name n;
    ty_err err;
    char url[TY_URL_MAX + 20] = "https://h/";
    name_ok("https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/"
            "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf?download=true",
            "huggingface.co/url/Qwen2.5-0.5B-Instruct-Q4_K_M/3f8d9d379a70",
            "huggingface.co/url/Qwen2.5-0.5B-Instruct-Q4_K_M:3f8d9d379a70");
    name_ok("http://user:pw@LocalHost:8080/x/My%20Model..v2.GGUF",
            "localhost:8080/url/My-20Model._v2/5771d682481f",
            "localhost:8080/url/My-20Model._v2:5771d682481f");
    name_ok("https://h/.gguf", "h/url/model/9eeed9e734a3", "h/url/model:9eeed9e734a3");
    name_ok("https://[::1]:8443/m.gguf", "1-:8443/url/m/e1a911b20113", "1-:8443/url/m:e1a911b20113");
    CHECK(ty_name_parse("https://x.gguf", &n, &err) == TY_ERR_ARG && strstr(err.msg, "no .gguf file"),
          "a URL that is only a host: %s", err.msg);
    memset(url + 10, 'a', TY_URL_MAX);
    strcpy(url + 10 + TY_URL_MAX - 5, ".gguf");
    CHECK(ty_name_parse(url, &n, &err) == TY_ERR_ARG && strstr(err.msg, "longer than"),
          "a URL that is too long: %s", err.msg);
  }
#endif
}


/* A prefix of a GGUF reports "need more" until the tensor table is in. */
static void test_prefix(void) {
  char path[] = "/tmp/test_store_XXXXXX";
  int fd = mkstemp(path);
  ty_gguf_writer *w = ty_gguf_writer_new();
  int64_t dims[2] = { 64, 64 };
  char *buf;
  size_t len = 0, at;
  ty_gguf *g = NULL;
  bool more;
  ty_err err;
  close(fd);
  ty_gguf_writer_set_str(w, "general.architecture", "llama");
  for (int i = 0; i < 40; i++) {
    char name[32];
    snprintf(name, sizeof name, "blk.%d.w", i);
    ty_gguf_writer_add_tensor(w, name, 0, 2, dims, NULL, &err);
  }
  CHECK(ty_gguf_writer_write(w, path, &err) == TY_OK, "write: %s", err.msg);
  ty_gguf_writer_free(w);
  buf = NULL;
  {
    FILE *f = fopen(path, "rb");
    buf = malloc(1 << 20);
    len = fread(buf, 1, 1 << 20, f);
    fclose(f);
  }
  for (at = 16; at < len; at += 64) {
    ty_status s = ty_gguf_open_prefix(buf, at, len, "prefix", &g, &more, &err);
    if (s == TY_OK) break;
    CHECK(more, "a %zu-byte prefix should ask for more: %s", at, err.msg);
    if (!more) break;
  }
  CHECK(at < len && g != NULL && ty_gguf_n_tensors(g) == 40, "the table parses from a prefix");
  CHECK(ty_gguf_file_size(g) == len, "the whole file's size is kept");
  ty_gguf_close(g);
  buf[0] = 'X';
  CHECK(ty_gguf_open_prefix(buf, len, len, "bad", &g, &more, &err) != TY_OK && !more,
        "bad magic is an error, not a request for more");
  free(buf);
  unlink(path);
}


#ifdef TYCHO_HAVE_STORE
static void test_manifests(void) {
  char home[] = "/tmp/test_store_home_XXXXXX", cmd[256], dg[TY_DIGEST_LEN + 1], json[1024];
  struct ty_manifest m;
  struct ty_name n;
  ty_err err;
  const char *bad[] = { "", "[]", "{\"schemaVersion\":1,\"layers\":[]}",
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":-1},\"layers\":[]}",
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":1},\"layers\":[7]}",
    NULL };
  for (int i = 0; bad[i]; i++)
    CHECK(ty_manifest_parse(bad[i], strlen(bad[i]), "m", &m, &err) == TY_ERR_FORMAT,
          "bad manifest %d refused", i);
  CHECK(mkdtemp(home) != NULL, "mkdtemp");
  setenv("TYCHO_HOME", home, 1);
  setenv("OLLAMA_MODELS", "/nonexistent", 1);
  CHECK(ty_store_put_bytes("GGUF?", 5, dg, &err) == TY_OK, "put bytes: %s", err.msg);
  snprintf(json, sizeof json, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"%s\","
           "\"size\":5},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":5}]}", dg,
           TY_MEDIA_MODEL, dg);
  ty_name_parse("made:here", &n, &err);
  CHECK(ty_store_put_manifest(&n, json, strlen(json), &err) == TY_OK, "put manifest: %s", err.msg);
  {
    char root[2048], path[4096];
    bool ro = true;
    CHECK(ty_store_manifest("made:here", &m, root, sizeof root, &ro, &err) == TY_OK && !ro &&
          m.n_layers == 1, "read back: %s", err.msg);
    ty_manifest_free(&m);
    CHECK(ty_store_resolve("made:here", path, sizeof path, &err) == TY_OK &&
          strstr(path, dg + 7) != NULL, "resolve to the blob: %s", err.msg);
  }
  {
    struct ty_store_entry *e;
    size_t cnt;
    CHECK(ty_store_list(&e, &cnt, &err) == TY_OK && cnt == 1 && strcmp(e[0].name, "made:here") == 0 &&
          e[0].size == 10, "list");
    free(e);
  }
  snprintf(json, sizeof json, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"sha256:%064d\",\"size\":1},\"layers\":[]}", 0);
  CHECK(ty_store_put_manifest(&n, json, strlen(json), &err) == TY_ERR_IO, "a manifest naming a missing blob is refused");
  CHECK(ty_store_rm("made:here", &err) == TY_OK, "rm: %s", err.msg);
  {
    char root[2048];
    bool ro;
    CHECK(ty_store_manifest("made:here", &m, root, sizeof root, &ro, &err) == TY_ERR_IO, "gone");
  }
  snprintf(cmd, sizeof cmd, "test -z \"$(find %s -type f)\" && rm -rf %s", home, home);
  CHECK(system(cmd) == 0, "rm leaves no file behind");
}
#endif


int main(void) {
  test_names();
  test_urls();
  test_prefix();
#ifdef TYCHO_HAVE_STORE
  test_manifests();
#endif
  if (failures) {
    printf("%d failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
