/*
 * pretok.h: the regex pre-tokenizers of byte-level BPE vocabularies. A GGUF's
 * tokenizer.ggml.pre names a list of regexes (as llama.cpp does); each one
 * splits the pieces the previous one produced, and the pieces are the words BPE merges.
 */
#ifndef TY_PRETOK_H
#define TY_PRETOK_H

#include <stddef.h>

#include "base/base.h"

typedef struct ty_pretok ty_pretok;

/* Compiles the regex list that tokenizer.ggml.pre names (name need not be
   NUL-terminated; an empty name means "default", as llama.cpp does when the
   key is missing). Unknown names fail with TY_ERR_UNSUPPORTED and a message
   listing what is known. On success *out is the caller's; free it with
   ty_pretok_free. A ty_pretok is read-only once made: threads may share it. */
ty_status ty_pretok_new(const char *name, size_t name_len, ty_pretok **out, ty_err *err);

/* Frees p; NULL is a no-op. */
void ty_pretok_free(ty_pretok *p);

/* Splits text (len bytes, any bytes) into words in order, calling fn for each
   with the word's UTF-8 bytes (a temporary buffer, valid during the call;
   invalid input bytes have become U+FFFD). Words are never empty and put
   together give back the (U+FFFD-normalised) text. fn returns 0 to go on,
   nonzero to stop (then TY_ERR_CANCELLED). */
typedef int (*ty_pretok_fn)(void *ud, const char *word, size_t len);
ty_status ty_pretok_split(const ty_pretok *p, const char *text, size_t len,
                          ty_pretok_fn fn, void *ud, ty_err *err);

/* The names ty_pretok_new knows, for listings and tests: ty_pretok_name(i)
   for i < ty_pretok_count() (NULL past the end). */
size_t ty_pretok_count(void);
const char *ty_pretok_name(size_t i);

/* The regex list p applies, in order: the k-th pattern (k < ty_pretok_nregex),
   as llama.cpp writes it, except that kimi-k2's is the regex tycho runs for
   llama.cpp's hand-written Kimi-K2 splitter, and "\p{AFMoE_digits}" stands
   for AFMoE's built-in digit grouping, as in llama.cpp. */
int ty_pretok_nregex(const ty_pretok *p);
const char *ty_pretok_regex(const ty_pretok *p, int k);

#endif
