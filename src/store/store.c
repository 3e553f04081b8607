/*
 * store.c: resolving a model reference to a file: a path, or a name in the
 * local cache.
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
  list_models(dir, have, sizeof have);
  if (have[0] != '\0')
    return ty_err_set(err, TY_ERR_IO, "'%s' is not a file, nor a model in %s (available: %s)", ref,
                      dir, have);
  return ty_err_set(err, TY_ERR_IO, "'%s' is not a file, nor a model in %s (it is empty; "
                    "scripts/setup.sh fetches smollm2 and gemma3)", ref, dir);
}
