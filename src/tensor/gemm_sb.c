/*
 * gemm_sb.c: the batch product of the K formats by sub-blocks (the "sb
 * form"). The i8 form (gemm.c) gives every 4 weights a float scale, so each
 * byte dot is converted and scaled on its own: three float operations per
 * vpdpbusd. A K format shares one scale among a whole sub-block (32 weights
 * in q4_K and q5_K, 16 in q6_K), so here a tile of 16 rows is laid out lane
 * by lane, one 64-byte vector holding the same 4 weights of all 16 rows, and
 * a sub-block's byte dots sum in integers before one conversion and one
 * scale serve all 16 rows: 8 (or 4) vpdpbusd per float fma.
 *
 * Tile of 16 rows of n elements (n a multiple of 256), U the sub-block size:
 *   uint8 q[n/4][16][4]     lane l of row r at q + 64 l + 4 r: its 4 quants
 *   float sw[n/U][16]       the sub-block's scale, per row (d * sc)
 *   float mw[n/U][16]       what the sub-block subtracts per unit of the
 *                           activations' sum (dmin * m; 32 * d * sc for q6_K)
 * so that element i of row r is q * sw - mw. The quants are stored unsigned
 * (q6_K's 0..63, not q - 32), as vpdpbusd wants them.
 *
 * Activations stay q8_K rows (signed bytes, a float scale per 256); beside
 * each, ty_sb_act writes the sum of its quants over every sub-block, as a
 * float. Then per 256-block of a row and token
 *   blk = sum over sub-blocks u of (isum_u * sw_u - mw_u * ysum_u)
 * with isum_u the exact integer dot, and the result sums blk * d. The
 * integers are exact; the floats round in this order, so results agree with
 * vec_dot to rounding (the K formats have no exact-order requirement: no
 * fixture compares their logits bit for bit).
 */
#include "quants.h"

#include <string.h>


int ty_sb_unit(int type) {
  switch (type) {
    case TY_QTYPE_Q4_K: case TY_QTYPE_Q5_K: return 32;
    case TY_QTYPE_Q6_K: return 16;
    default: return 0;
  }
}


size_t ty_sb_tile_size(int type, int64_t n) {
  int u = ty_sb_unit(type);
  if (u == 0 || n <= 0 || n % TY_QK_K != 0) return 0;
  return (size_t)n * TY_SB_ROWS + 2 * (size_t)(n / u) * TY_SB_ROWS * sizeof(float);
}


void ty_sb_act(int unit, const void *yq, float *out, int64_t n) {
  const ty_block_q8_K *y = yq;
  const int per = unit / 16;     /* bsums (of 16 quants each) per sub-block */
  for (int64_t i = 0; i < n / TY_QK_K; i++)
    for (int u = 0; u < TY_QK_K / unit; u++) {
      int s = 0;
      for (int k = 0; k < per; k++) s += y[i].bsums[per * u + k];
      *out++ = (float)s;
    }
}


/* ---- rows to the sb form ------------------------------------------------ */

/* Where quant i of row r lies in a tile. */
static inline size_t sb_at(int r, int64_t i) { return (size_t)(64 * (i / 4) + 4 * r + i % 4); }
#define SB_Q(tile, r, i) ((uint8_t *)(tile))[sb_at(r, i)]

static void put_scale(void *tile, int64_t n, int unit, int r, int64_t u, float sw, float mw) {
  ty_sb_scales(tile, n)[u * TY_SB_ROWS + r] = sw;
  ty_sb_mins(tile, n, unit)[u * TY_SB_ROWS + r] = mw;
}


/* q4_K and q5_K: sub-block j of a super-block has the 32 low (j even) or
   high nibbles of 32 bytes, plus bit j of qh in q5_K. */
static void row_q45_K(void *tile, int64_t n, int r, int64_t i, uint16_t d16, uint16_t dmin16,
                      const uint8_t *scales, const uint8_t *qs, const uint8_t *qh) {
  const float d = ty_h2f(d16), dmin = ty_h2f(dmin16);
  for (int j = 0; j < 8; j++) {
    uint8_t s, m;
    ty_scale_min_k4(j, scales, &s, &m);
    put_scale(tile, n, 32, r, i * 8 + j, d * s, dmin * m);
    for (int l = 0; l < 32; l++) {
      int v = j % 2 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0xF;
      if (qh != NULL && (qh[l] >> j) & 1) v += 16;
      SB_Q(tile, r, i * TY_QK_K + 32 * j + l) = (uint8_t)v;
    }
  }
}


static void row_q4_K(void *tile, int64_t n, int r, const void *vx) {
  const ty_block_q4_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++)
    row_q45_K(tile, n, r, i, x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL);
}


static void row_q5_K(void *tile, int64_t n, int r, const void *vx) {
  const ty_block_q5_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++)
    row_q45_K(tile, n, r, i, x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh);
}


/* q6_K: per half of 128, 4 runs of 32 from the nibbles of ql and bit pairs
   of qh; a scale per 16 elements, in order. */
static void row_q6_K(void *tile, int64_t n, int r, const void *vx) {
  const ty_block_q6_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    const float d = ty_h2f(x[i].d);
    for (int u = 0; u < 16; u++)
      put_scale(tile, n, 16, r, i * 16 + u, d * x[i].scales[u], 32 * (d * x[i].scales[u]));
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
      int64_t e = i * TY_QK_K + 128 * h;
      for (int l = 0; l < 32; l++) {
        SB_Q(tile, r, e + l) = (uint8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
        SB_Q(tile, r, e + l + 32) = (uint8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
        SB_Q(tile, r, e + l + 64) = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
        SB_Q(tile, r, e + l + 96) = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
      }
    }
  }
}


void ty_sb_tile_ref(int type, const void *x, size_t row_size, int nr, void *out, int64_t n) {
  void (*row)(void *, int64_t, int, const void *);
  switch (type) {
    case TY_QTYPE_Q4_K: row = row_q4_K; break;
    case TY_QTYPE_Q5_K: row = row_q5_K; break;
    case TY_QTYPE_Q6_K: row = row_q6_K; break;
    default: return;
  }
  /* rows past nr: zero quants and scales, so they sum to 0 */
  if (nr < TY_SB_ROWS) memset(out, 0, ty_sb_tile_size(type, n));
  for (int r = 0; r < nr; r++)
    row(out, n, r, (const char *)x + (size_t)r * row_size);
}


/* ---- the reference product ---------------------------------------------- */

void ty_gemm_sb_ref(int64_t n, int unit, int nr, int nt, const void *tile, const void *y,
                    size_t ys, const float *ya, size_t yas, float *out, size_t os) {
  const float *sw = ty_sb_scales(tile, n), *mw = ty_sb_mins(tile, n, unit);
  for (int t = 0; t < nt; t++) {
    const ty_block_q8_K *yt = (const ty_block_q8_K *)((const char *)y + (size_t)t * ys);
    const float *sum = ya + (size_t)t * yas;
    for (int r = 0; r < nr; r++) {
      float acc = 0.0f;
      for (int64_t i = 0; i < n / TY_QK_K; i++) {
        float blk = 0.0f;
        for (int u = 0; u < TY_QK_K / unit; u++) {
          int64_t su = i * (TY_QK_K / unit) + u;
          int32_t isum = 0;
          for (int e = u * unit; e < (u + 1) * unit; e++)
            isum += ((const uint8_t *)tile)[sb_at(r, i * TY_QK_K + e)] * yt[i].qs[e];
          blk += (float)isum * sw[su * TY_SB_ROWS + r] - mw[su * TY_SB_ROWS + r] * sum[su];
        }
        acc += blk * yt[i].d;
      }
      out[(size_t)t * os + r] = acc;
    }
  }
}
