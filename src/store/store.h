/*
 * store.h: where models live. For now a model reference is a path to a
 * GGUF file or the name of one in the local cache ($TYCHO_HOME/models,
 * default ~/.cache/tycho/models); registry names and Ollama's own model
 * directory come with the registry client.
 */
#ifndef TY_STORE_H
#define TY_STORE_H

#include <stddef.h>

#include "../base/base.h"

/* The cache folder ($TYCHO_HOME/models) into out. */
void ty_store_dir(char *out, size_t size);

/* Resolves ref to a readable file path in out: ref itself when it names a
   file, else ref.gguf or ref in the cache. When nothing matches, fails
   with TY_ERR_IO and a message that lists the models the cache has. */
ty_status ty_store_resolve(const char *ref, char *out, size_t size, ty_err *err);

#endif
