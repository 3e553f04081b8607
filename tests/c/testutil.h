/*
 * testutil.h: the little every C test shares: where the real models live,
 * and how a test that needs one skips when it is not there.
 */
#ifndef TY_TESTUTIL_H
#define TY_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_SKIP 77

/* Path of a model file in the cache ($TYCHO_HOME/models, else
   ~/.cache/tycho/models) in buf, or NULL when absent. Absent models skip a
   test, unless TYCHO_REQUIRE_MODELS=1 (CI), which makes them fail. */
static inline const char *test_model_path(const char *file, char *buf, size_t size) {
  const char *home = getenv("TYCHO_HOME");
  if (home != NULL && home[0] != '\0')
    snprintf(buf, size, "%s/models/%s", home, file);
  else
    snprintf(buf, size, "%s/.cache/tycho/models/%s", getenv("HOME") ? getenv("HOME") : ".", file);
  if (access(buf, R_OK) == 0) return buf;
  return NULL;
}

/* A whole file, NUL-terminated and malloc'd (the caller frees it), its
   length in *len when len is not NULL; NULL when it cannot be read. */
static inline char *test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) != NULL) {
    if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
      buf[n] = '\0';
      if (len != NULL) *len = (size_t)n;
    } else {
      free(buf);
      buf = NULL;
    }
  }
  fclose(f);
  return buf;
}


static inline int test_models_required(void) {
  const char *r = getenv("TYCHO_REQUIRE_MODELS");
  return r != NULL && strcmp(r, "1") == 0;
}

#endif
