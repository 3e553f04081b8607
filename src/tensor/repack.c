/*
 * repack.c: the 8-row layouts the CPU backend repacks q4_1 and q8_0 weights
 * into at load (tensor.h, TY_X8). A group keeps the bytes of its 8 rows; per
 * block of 32 elements it holds the 8 rows' scales side by side, then the
 * quants of rows (0,1), (2,3), (4,5), (6,7), a pair to 64 elements:
 *
 *   q4_1: d[8] m[8] (f16), then per pair 32 bytes, byte k = element k of the
 *         first row | element k of the second << 4            (160 bytes)
 *   q8_0: d[8] (f16), then per pair 64 bytes: the first row's 32 quants,
 *         then the second's, each xor 0x80 (stored unsigned)   (272 bytes)
 *
 * so a kernel loads a pair's block as one register (two 256-bit halves in
 * the order of the activations' 32 quants) and the scales of 8 rows as one
 * vector. Only the placement of bytes changes: every row keeps its values.
 */
#include "quants.h"
#include "tensor.h"

#include <string.h>

/* Element k (0..31) of a q4_1 block: the low nibbles hold 0..15. */
static uint8_t q4_1_elem(const ty_block_q4_1 *b, int k) {
  return k < 16 ? b->qs[k] & 0x0F : b->qs[k - 16] >> 4;
}


bool ty_x8_pack(int type, const void *src, size_t row_size, void *dst, int64_t n) {
  const int64_t nb = n / TY_QK;
  const char *s = src;
  if (type == TY_QTYPE_Q4_1) {
    ty_x8_q4_1 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++)
      for (int r = 0; r < TY_X8; r++) {
        const ty_block_q4_1 *b = (const ty_block_q4_1 *)(s + r * row_size) + ib;
        g[ib].d[r] = b->d;
        g[ib].m[r] = b->m;
        for (int k = 0; k < 32; k++) {
          uint8_t *q = &g[ib].qs[r / 2][k];
          *q = r % 2 == 0 ? q4_1_elem(b, k) : (uint8_t)(*q | q4_1_elem(b, k) << 4);
        }
      }
    return true;
  }
  if (type == TY_QTYPE_Q8_0) {
    ty_x8_q8_0 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++)
      for (int r = 0; r < TY_X8; r++) {
        const ty_block_q8_0 *b = (const ty_block_q8_0 *)(s + r * row_size) + ib;
        g[ib].d[r] = b->d;
        for (int k = 0; k < 32; k++)
          g[ib].qs[r / 2][(r % 2) * 32 + k] = (uint8_t)b->qs[k] ^ 0x80;
      }
    return true;
  }
  return false;
}


/* Rebuilds each block of row r and converts it as the format does. */
void ty_x8_to_float(int type, const void *x, int r, float *y, int64_t n) {
  const struct ty_qtype_traits *tr = ty_qtype_get(type);
  const int64_t nb = n / TY_QK;
  if (type == TY_QTYPE_Q4_1) {
    const ty_x8_q4_1 *g = x;
    for (int64_t ib = 0; ib < nb; ib++) {
      ty_block_q4_1 b = { .d = g[ib].d[r], .m = g[ib].m[r] };
      for (int k = 0; k < 16; k++) {
        uint8_t lo = g[ib].qs[r / 2][k], hi = g[ib].qs[r / 2][k + 16];
        if (r % 2) lo >>= 4, hi >>= 4;
        b.qs[k] = (uint8_t)((lo & 0x0F) | (hi & 0x0F) << 4);
      }
      tr->to_float(&b, y + ib * TY_QK, TY_QK);
    }
  } else if (type == TY_QTYPE_Q8_0) {
    const ty_x8_q8_0 *g = x;
    for (int64_t ib = 0; ib < nb; ib++) {
      ty_block_q8_0 b = { .d = g[ib].d[r] };
      for (int k = 0; k < 32; k++) b.qs[k] = (int8_t)(g[ib].qs[r / 2][(r % 2) * 32 + k] ^ 0x80);
      tr->to_float(&b, y + ib * TY_QK, TY_QK);
    }
  }
}
