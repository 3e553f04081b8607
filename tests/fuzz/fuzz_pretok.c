/*
 * fuzz_pretok.c: libFuzzer target for the pre-tokenizers. The first byte
 * picks a tokenizer.ggml.pre name, the rest is the text. Checks that every
 * word is non-empty and that the words put together are the input with each
 * malformed UTF-8 byte turned into U+FFFD (a property that must always hold).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "text/unicode.h"

struct acc {
  char *p;
  size_t n, cap;
};


static int take(void *ud, const char *w, size_t len) {
  struct acc *a = ud;
  if (len == 0)
    abort();                    /* empty words must never reach the tokenizer */
  if (a->n + len > a->cap)
    abort();                    /* more bytes than the normalised input holds */
  memcpy(a->p + a->n, w, len);
  a->n += len;
  return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static ty_pretok **cache;     /* compiled once per name, kept for the run */
  size_t n = ty_pretok_count(), pick, i, o = 0;
  const char *text = (const char *)data + 1;
  size_t len;
  struct acc a;
  char *norm;
  ty_err err;
  ty_status st;
  if (size < 1)
    return 0;
  if (cache == NULL) {
    cache = calloc(n, sizeof *cache);
    if (cache == NULL)
      abort();
  }
  pick = data[0] % n;
  if (cache[pick] == NULL) {
    const char *name = ty_pretok_name(pick);
    if (ty_pretok_new(name, strlen(name), &cache[pick], &err) != TY_OK)
      abort();                  /* every listed name must compile */
  }
  len = size - 1;
  /* normalised input: at most 3 bytes (U+FFFD) per input byte */
  norm = malloc(len * 3 + 1);
  a.p = malloc(len * 3 + 1);
  if (norm == NULL || a.p == NULL)
    abort();
  for (i = 0; i < len; ) {
    size_t adv;
    o += ty_utf8_encode(ty_utf8_decode(text + i, len - i, &adv), norm + o);
    i += adv;
  }
  a.n = 0;
  a.cap = len * 3;
  st = ty_pretok_split(cache[pick], text, len, take, &a, &err);
  if (st != TY_OK || a.n != o || memcmp(a.p, norm, o) != 0)
    abort();
  free(norm);
  free(a.p);
  return 0;
}
