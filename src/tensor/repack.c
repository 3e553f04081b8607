/*
 * repack.c: the 16-row layouts the CPU backend repacks q4_1, q5_0 and q8_0
 * weights into at load (tensor.h, TY_X16), and the derived activation
 * blocks their products read.
 *
 * llama.cpp's x86 dots sum a block of 32 elements in 8 integer lanes of 4
 * byte products each: lane k takes elements 4k..4k+3 (for the nibble
 * formats, the low nibbles of bytes 4k..4k+3 when k < 4, else the high
 * nibbles of bytes 4(k-4)..4(k-4)+3, the same elements). A group keeps the
 * bytes of its 16 rows; per block it holds the 16 rows' scales side by side,
 * then the quants lane by lane, row r's 4 bytes at 4r of each 64:
 *
 *   q4_1: d[16] m[16] (f16), then per k < 4 the 64 bytes of row r's packed
 *         bytes 4k..4k+3 (lane k in the low nibbles, k + 4 in the high)
 *                                                               (320 bytes)
 *   q5_0: d[16], the low 4 bits as q4_1's, then per lane k a 64-bit mask,
 *         bit 4r + i = the fifth bit of row r's element 4k + i  (352 bytes)
 *   q8_0: d[16], then per lane k the 64 bytes of the rows' quants 4k..4k+3,
 *         each xor 0x80 (stored unsigned)                       (544 bytes)
 *
 * so a kernel loads the 16 rows' scales as one vector and lane k of all 16
 * rows as one register: no shuffles. Only the placement of bytes changes:
 * every row keeps its values.
 */
#include "quants.h"
#include "tensor.h"

#include <string.h>


bool ty_x16_pack(int type, const void *src, size_t row_size, void *dst, int64_t n) {
  const int64_t nb = n / TY_QK;
  const char *s = src;
  if (type == TY_QTYPE_Q4_1) {
    ty_x16_q4_1 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++)
      for (int r = 0; r < TY_X16; r++) {
        const ty_block_q4_1 *b = (const ty_block_q4_1 *)(s + r * row_size) + ib;
        g[ib].d[r] = b->d;
        g[ib].m[r] = b->m;
        for (int k = 0; k < 4; k++) memcpy(&g[ib].qs[k][4 * r], &b->qs[4 * k], 4);
      }
    return true;
  }
  if (type == TY_QTYPE_Q5_0) {
    ty_x16_q5_0 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++) {
      memset(g[ib].qh, 0, sizeof g[ib].qh);
      for (int r = 0; r < TY_X16; r++) {
        const ty_block_q5_0 *b = (const ty_block_q5_0 *)(s + r * row_size) + ib;
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        g[ib].d[r] = b->d;
        for (int k = 0; k < 4; k++) memcpy(&g[ib].qs[k][4 * r], &b->qs[4 * k], 4);
        for (int k = 0; k < 8; k++) g[ib].qh[k] |= (uint64_t)(qh >> 4 * k & 0xF) << 4 * r;
      }
    }
    return true;
  }
  if (type == TY_QTYPE_Q8_0) {
    ty_x16_q8_0 *g = dst;
    for (int64_t ib = 0; ib < nb; ib++)
      for (int r = 0; r < TY_X16; r++) {
        const ty_block_q8_0 *b = (const ty_block_q8_0 *)(s + r * row_size) + ib;
        g[ib].d[r] = b->d;
        for (int k = 0; k < 8; k++)
          for (int i = 0; i < 4; i++) g[ib].qs[k][4 * r + i] = (uint8_t)b->qs[4 * k + i] ^ 0x80;
      }
    return true;
  }
  return false;
}


/* Row r of the group block at x rebuilt as the block it was. */
static void x16_block(int type, const void *x, int r, void *blk) {
  if (type == TY_QTYPE_Q4_1) {
    const ty_x16_q4_1 *g = x;
    ty_block_q4_1 *b = blk;
    b->d = g->d[r];
    b->m = g->m[r];
    for (int k = 0; k < 4; k++) memcpy(&b->qs[4 * k], &g->qs[k][4 * r], 4);
  } else if (type == TY_QTYPE_Q5_0) {
    const ty_x16_q5_0 *g = x;
    ty_block_q5_0 *b = blk;
    uint32_t qh = 0;
    b->d = g->d[r];
    for (int k = 0; k < 4; k++) memcpy(&b->qs[4 * k], &g->qs[k][4 * r], 4);
    for (int k = 0; k < 8; k++) qh |= (uint32_t)(g->qh[k] >> 4 * r & 0xF) << 4 * k;
    memcpy(b->qh, &qh, 4);
  } else {
    const ty_x16_q8_0 *g = x;
    ty_block_q8_0 *b = blk;
    b->d = g->d[r];
    for (int k = 0; k < 8; k++)
      for (int i = 0; i < 4; i++) b->qs[4 * k + i] = (int8_t)(g->qs[k][4 * r + i] ^ 0x80);
  }
}


/* Rebuilds row r a block at a time and converts it as the format does. */
void ty_x16_to_float(int type, const void *x, int r, float *y, int64_t n) {
  const struct ty_qtype_traits *tr = ty_qtype_get(type);
  const size_t group_block = TY_X16 * tr->type_size;   /* one block of all 16 rows */
  _Alignas(16) char blk[sizeof(ty_block_q8_0)];         /* the largest such block */
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    x16_block(type, (const char *)x + ib * group_block, r, blk);
    tr->to_float(blk, y + ib * TY_QK, TY_QK);
  }
}


size_t ty_x16_act_size(int vt, int64_t n) {
  return ty_x16_act_offset(ty_qtype_row_size(vt, n)) + (size_t)(n / TY_QK) * sizeof(ty_x16_act_block);
}


/* q8_0 and q8_1 blocks both start with the f16 scale; q8_1's scaled sum
   and its quants follow, q8_0's quants follow at once. */
void ty_x16_act(int vt, void *row, int64_t n) {
  const ty_x16_act_fn simd = ty_qtype_get(vt)->x16_act;
  if (simd != NULL) {
    simd(row, n);
    return;
  }
  const size_t bs = ty_qtype_row_size(vt, TY_QK), qs = vt == TY_QTYPE_Q8_1 ? 4 : 2;
  ty_x16_act_block *a = (ty_x16_act_block *)((char *)row + ty_x16_act_offset(ty_qtype_row_size(vt, n)));
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    const uint8_t *b = (const uint8_t *)row + ib * bs;
    const int8_t *q = (const int8_t *)(b + qs);
    uint16_t d, s = 0;
    memcpy(&d, b, 2);
    if (vt == TY_QTYPE_Q8_1) memcpy(&s, b + 2, 2);
    a[ib].d = ty_h2f(d);
    a[ib].s = ty_h2f(s);
    for (int k = 0; k < 8; k++) {
      int32_t sum = q[4 * k] + q[4 * k + 1] + q[4 * k + 2] + q[4 * k + 3];
      a[ib].m16[k] = -16 * sum;
      a[ib].m128[k] = -128 * sum;
    }
  }
}
