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

static inline int test_models_required(void) {
  const char *r = getenv("TYCHO_REQUIRE_MODELS");
  return r != NULL && strcmp(r, "1") == 0;
}

#endif
