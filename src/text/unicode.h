/*
 * unicode.h: UTF-8 decoding and encoding with llama.cpp's rules, and the
 * code-point flags (letter, number, whitespace, ...) the pre-tokenizers match.
 * The tokenizer and the streaming detokenizer use the UTF-8 helpers too.
 */
#ifndef TY_UNICODE_H
#define TY_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define TY_UNICODE_REPLACEMENT 0xFFFDu

/* Code-point flags, the same bits as llama.cpp's unicode_cpt_flags: exactly
   one category bit (from the general category) plus TY_UCP_WHITESPACE. */
enum {
  TY_UCP_UNDEFINED   = 0x001,   /* Cn, and anything above U+10FFFF */
  TY_UCP_NUMBER      = 0x002,   /* N*: \p{N} */
  TY_UCP_LETTER      = 0x004,   /* L*: \p{L} */
  TY_UCP_SEPARATOR   = 0x008,   /* Z* */
  TY_UCP_MARK        = 0x010,   /* M*: \p{M} */
  TY_UCP_PUNCTUATION = 0x020,   /* P*: \p{P} */
  TY_UCP_SYMBOL      = 0x040,   /* S*: \p{S} */
  TY_UCP_CONTROL     = 0x080,   /* Cc Cf Co Cs */
  TY_UCP_CATEGORIES  = 0x0FF,
  TY_UCP_WHITESPACE  = 0x100    /* Unicode White_Space: \s */
};

struct ty_ucp_range {
  uint32_t first;                /* first code point of a run */
  uint16_t flags;                /* TY_UCP_* of every code point in the run */
};
extern const struct ty_ucp_range ty_ucp_ranges[];   /* unicode_data.c */
extern const size_t ty_ucp_nranges;

/* Length of the UTF-8 sequence a lead byte announces, as llama.cpp's
   unicode_len_utf8 reads it: 1 for ASCII and for continuation bytes, 2, 3 or 4
   from the high bits (0xF8..0xFF count as 4). Never 0. */
size_t ty_utf8_seq_len(unsigned char lead);

/* Decodes the code point at s[0..len) (len > 0) and stores the bytes used in
   *adv. A malformed or truncated sequence decodes to U+FFFD with *adv = 1, so
   each bad byte becomes one U+FFFD (llama.cpp's unicode_cpts_from_utf8). Like
   llama.cpp, overlong forms and surrogates are accepted as they decode;
   values above U+10FFFF count as malformed. */
uint32_t ty_utf8_decode(const char *s, size_t len, size_t *adv);

/* Writes cp as UTF-8 into out and returns the length (1-4); a cp above
   U+10FFFF is written as U+FFFD. */
size_t ty_utf8_encode(uint32_t cp, char out[4]);

/* TY_UCP_* flags of cp (binary search over the generated ranges). */
unsigned ty_unicode_flags(uint32_t cp);

/* 1 when cp is in llama.cpp's Han ranges (unicode_cpt_is_han: CJK unified
   ideographs, extensions A-F, compatibility ideographs), else 0. */
int ty_unicode_is_han(uint32_t cp);

#endif
