/*
 * tok_impl.h: the inside of a ty_tok, shared by tokenizer.c (loading, special
 * tokens, pieces, decoding) and tok_merge.c (the SPM and BPE merge loops).
 * Not a public header.
 */
#ifndef TY_TOK_IMPL_H
#define TY_TOK_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer.h"
#include "pretok.h"

struct ty_tok {
  enum ty_tok_kind kind;
  int32_t n;                     /* vocabulary size */
  char *blob;                    /* every token's text, back to back */
  uint64_t *off;                 /* (n) start of token i in blob */
  uint32_t *len;                 /* (n) its length */
  float *score;                  /* (n) */
  uint32_t *attr;                /* (n) enum ty_tok_attr bits */
  uint32_t *map;                 /* text -> id + 1, open addressing; 0 = empty */
  uint64_t map_mask;             /* capacity - 1 (a power of two) */

  /* BPE merges: "first second" strings; rank = index */
  char *mblob;
  uint64_t *moff;                /* (n_merges) start of first part */
  uint32_t *mlen1, *mlen2;       /* (n_merges) lengths of the parts */
  uint32_t n_merges;
  uint32_t *mmap;                /* pair -> rank + 1 */
  uint64_t mmap_mask;

  int32_t bos, eos, eot, eom, unk, sep, pad, mask;
  int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
  bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
  bool escape_ws, byte_encode;

  int32_t *special;              /* control/user-defined/unknown ids, longest text first */
  uint32_t n_special;
  int32_t *spec_lex;             /* the same ids in byte order of their text */
  uint32_t *spec_rank;           /* (n_special) position in special[] of spec_lex[i] */
  uint8_t spec_first[2][32];     /* bitmaps of first bytes: [parse_special] */

  int32_t *eog;                  /* sorted */
  uint32_t n_eog;

  int32_t byte_tok[256];         /* SPM byte fallback ids, -1 when none */
  ty_pretok *pretok;             /* BPE only */
  char pre[64];
};

/* Hash of a byte string (not cryptographic; for the tables above). */
static inline uint64_t tok_hash(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
  uint64_t v;
  while (n >= 8) {
    memcpy(&v, s, 8);
    h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    s += 8;
    n -= 8;
  }
  v = 0;
  if (n > 0)
    memcpy(&v, s, n);
  h = (h ^ v) * 0x94d049bb133111ebull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return h;
}

/* Id of the token whose text is p[0..n), or -1. */
int32_t tok_lookup(const ty_tok *t, const char *p, size_t n);

/* Rank of the merge (a, b), or -1. */
int32_t tok_merge_rank(const ty_tok *t, const char *a, size_t na, const char *b, size_t nb);

/* Growable id list the encoders append to. */
struct tok_out {
  int32_t *ids;
  size_t n, cap;
};
ty_status tok_out_push(struct tok_out *o, int32_t id);

/* Encodes one raw fragment (no special tokens in it) and appends its ids.
   SPM: text is already space-escaped. */
ty_status tok_spm_encode(const ty_tok *t, const char *text, size_t len, struct tok_out *o,
                         ty_err *err);
ty_status tok_bpe_encode(const ty_tok *t, const char *text, size_t len, struct tok_out *o,
                         ty_err *err);

/* GPT-2's byte-to-unicode table: the UTF-8 of the code point standing for
   byte b (1 or 2 bytes) into out; returns its length. */
size_t tok_byte_to_utf8(unsigned b, char *out);
/* The inverse: byte for code point cp, or -1 when cp stands for no byte. */
int tok_cp_to_byte(uint32_t cp);

#endif
