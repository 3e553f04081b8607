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
 *   q5_0: d[8] (f16), then per pair 32 bytes of low 4 bits as q4_1's,
 *         then per pair 64 fifth bits, bit k = element k of the first row
 *         and bit 32 + k = element k of the second                (176 bytes)
 *
 * so a kernel loads a pair's block as one register (two 256-bit halves in
 * the order of the activations' 32 quants) and the scales of 8 rows as one
 * vector. Only the placement of bytes changes: every row keeps its values.
 */
#include "quants.h"
#include "tensor.h"

#include <string.h>

/* Puts the 32 low-nibble-packed quants of a q4_1 or q5_0 block (element k
   | element k + 16 << 4) into pair byte k: row r's nibble, low for the
   first row of the pair, high for the second. */
static void put_nibbles(uint8_t *pair, int r, const uint8_t *qs) {
  for (int k = 0; k < 32; k++) {
    uint8_t e = k < 16 ? qs[k] & 0x0F : qs[k - 16] >> 4;
    pair[k] = r % 2 == 0 ? e : (uint8_t)(pair[k] | e << 4);
  }
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
        put_nibbles(g[ib].qs[r / 2], r, b->qs);
      }
    return true;
  }
  if (type == TY_QTYPE_Q5_0) {
    ty_x8_q5_0 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++)
      for (int r = 0; r < TY_X8; r++) {
        const ty_block_q5_0 *b = (const ty_block_q5_0 *)(s + r * row_size) + ib;
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        g[ib].d[r] = b->d;
        if (r % 2 == 0) g[ib].qh[r / 2] = 0;
        g[ib].qh[r / 2] |= (uint64_t)qh << (r % 2 * 32);
        put_nibbles(g[ib].qs[r / 2], r, b->qs);
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


/* The low nibbles of the 32 elements of row r of a pair, packed as a block
   of the format packs them (element k | element k + 16 << 4). */
static void nibbles_of(const uint8_t *pair, int r, uint8_t *qs) {
  const int sh = r % 2 * 4;
  for (int k = 0; k < 16; k++)
    qs[k] = (uint8_t)((pair[k] >> sh & 0x0F) | (pair[k + 16] >> sh & 0x0F) << 4);
}


/* Row r (0..7) of the group at x rebuilt as the row it was (n elements). */
static void x8_row(int type, const void *x, int r, void *row, int64_t n) {
  const int64_t nb = n / TY_QK;
  if (type == TY_QTYPE_Q4_1) {
    const ty_x8_q4_1 *g = x;
    ty_block_q4_1 *b = row;
    for (int64_t ib = 0; ib < nb; ib++) {
      b[ib].d = g[ib].d[r];
      b[ib].m = g[ib].m[r];
      nibbles_of(g[ib].qs[r / 2], r, b[ib].qs);
    }
  } else if (type == TY_QTYPE_Q5_0) {
    const ty_x8_q5_0 *g = x;
    ty_block_q5_0 *b = row;
    for (int64_t ib = 0; ib < nb; ib++) {
      uint32_t qh = (uint32_t)(g[ib].qh[r / 2] >> (r % 2 * 32));
      b[ib].d = g[ib].d[r];
      memcpy(b[ib].qh, &qh, 4);
      nibbles_of(g[ib].qs[r / 2], r, b[ib].qs);
    }
  } else if (type == TY_QTYPE_Q8_0) {
    const ty_x8_q8_0 *g = x;
    ty_block_q8_0 *b = row;
    for (int64_t ib = 0; ib < nb; ib++) {
      b[ib].d = g[ib].d[r];
      for (int k = 0; k < 32; k++) b[ib].qs[k] = (int8_t)(g[ib].qs[r / 2][r % 2 * 32 + k] ^ 0x80);
    }
  }
}


/* Rebuilds row r a block at a time and converts it as the format does. */
void ty_x8_to_float(int type, const void *x, int r, float *y, int64_t n) {
  const struct ty_qtype_traits *tr = ty_qtype_get(type);
  const size_t group_block = TY_X8 * tr->type_size;   /* one block of all 8 rows */
  _Alignas(16) char blk[sizeof(ty_block_q8_0)];        /* the largest such block */
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    x8_row(type, (const char *)x + ib * group_block, r, blk, TY_QK);
    tr->to_float(blk, y + ib * TY_QK, TY_QK);
  }
}
