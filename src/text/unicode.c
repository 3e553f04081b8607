/*
 * unicode.c: UTF-8 decoding/encoding and the code-point flag lookup over the
 * generated ranges in unicode_data.c.
 */
#include "unicode.h"


size_t ty_utf8_seq_len(unsigned char lead) {
  static const unsigned char len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
  return len[lead >> 4];
}


uint32_t ty_utf8_decode(const char *s, size_t len, size_t *adv) {
  const unsigned char *p = (const unsigned char *)s;
  uint32_t cp;
  size_t n, i;
  *adv = 1;
  if (p[0] < 0x80)
    return p[0];
  if (p[0] < 0xC0 || p[0] >= 0xF8)
    return TY_UNICODE_REPLACEMENT;
  if (p[0] < 0xE0) {
    n = 2; cp = p[0] & 0x1F;
  } else if (p[0] < 0xF0) {
    n = 3; cp = p[0] & 0x0F;
  } else {
    n = 4; cp = p[0] & 0x07;
  }
  if (len < n)
    return TY_UNICODE_REPLACEMENT;
  for (i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return TY_UNICODE_REPLACEMENT;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  /* llama.cpp decodes F5..F7 sequences to values it then cannot encode (it
     throws); tycho calls them malformed instead */
  if (cp > 0x10FFFF)
    return TY_UNICODE_REPLACEMENT;
  *adv = n;
  return cp;
}


size_t ty_utf8_encode(uint32_t cp, char out[4]) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp > 0x10FFFF)
    cp = TY_UNICODE_REPLACEMENT;
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}


unsigned ty_unicode_flags(uint32_t cp) {
  size_t lo = 0, hi = ty_ucp_nranges;
  if (cp > 0x10FFFF)
    return TY_UCP_UNDEFINED;
  /* invariant: ranges[lo].first <= cp < ranges[hi].first (hi may be the end) */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (ty_ucp_ranges[mid].first <= cp)
      lo = mid;
    else
      hi = mid;
  }
  return ty_ucp_ranges[lo].flags;
}


int ty_unicode_is_han(uint32_t cp) {
  static const uint32_t han[][2] = {
    { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xF900, 0xFAFF },
    { 0x20000, 0x2A6DF }, { 0x2A700, 0x2B73F }, { 0x2B740, 0x2B81F },
    { 0x2B820, 0x2CEAF }, { 0x2CEB0, 0x2EBEF }, { 0x2F800, 0x2FA1F },
  };
  size_t i;
  for (i = 0; i < sizeof han / sizeof han[0]; i++)
    if (cp >= han[i][0] && cp <= han[i][1])
      return 1;
  return 0;
}
