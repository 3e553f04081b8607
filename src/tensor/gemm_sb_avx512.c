/*
 * gemm_sb_avx512.c: the sb form's product (gemm_sb.c) with AVX-512 VNNI,
 * and the conversion of q4_K, q5_K and q6_K rows to it.
 *
 * Product: one 64-byte vector is lane l (4 quants) of the tile's 16 rows;
 * a token's 4 quants of that lane, broadcast, make one vpdpbusd that adds
 * 16 rows' lane dots into 16 integer sums. A sub-block's 8 (q4_K, q5_K) or
 * 4 (q6_K) lanes chain into the same sums, which are then converted once and
 * scaled by the 16 rows' sw, less mw times the token's sum over the
 * sub-block; the 256-block's total is scaled by the token's d. Up to 8
 * tokens share each weight vector: 3 accumulators each (integer, block,
 * total), 24 registers.
 *
 * Conversion: a row's 64 quants at a time (one vector, as the row stores
 * them), then 16 rows' vectors transposed as a 16 x 16 matrix of dwords, so
 * vector l of the result is lane l of all 16 rows.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <stddef.h>

#include "gemm_sb_x86.h"


/* ---- the product ---------------------------------------------------------- */

/* NT (8, 4, 2 or 1) tokens against a tile whose sub-blocks have L lanes
   (8 or 4). */
TY_INLINE SB_NO_BOUNDS_CHECK void sb_tokens(int64_t n, const int L, const int NT,
                                            const uint8_t *wq, const float *sw, const float *mw,
                                            const char *y, size_t ys, const float *ya, size_t yas,
                                            __mmask16 keep, float *out, size_t os) {
  const int units = TY_QK_K / (4 * L);
  __m512 acc[8];
#pragma GCC unroll 8
  for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / TY_QK_K; b++) {
    const ty_block_q8_K *yb[8];
    __m512 blk[8];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
      yb[t] = (const ty_block_q8_K *)(y + (size_t)t * ys) + b;
      blk[t] = _mm512_setzero_ps();
    }
    for (int u = 0; u < units; u++) {
      const int64_t su = b * units + u;
      __m512i is[8];
#pragma GCC unroll 8
      for (int t = 0; t < NT; t++) is[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int k = 0; k < L; k++) {
        const int l = u * L + k;      /* lane within the 256-block */
        const __m512i w = _mm512_loadu_si512((const void *)(wq + (size_t)(b * 64 + l) * 64));
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
          int32_t v;
          __builtin_memcpy(&v, yb[t]->qs + 4 * l, 4);
          is[t] = _mm512_dpbusd_epi32(is[t], w, _mm512_set1_epi32(v));
        }
      }
      const __m512 s = _mm512_loadu_ps(sw + su * TY_SB_ROWS);
      const __m512 m = _mm512_loadu_ps(mw + su * TY_SB_ROWS);
#pragma GCC unroll 8
      for (int t = 0; t < NT; t++) {
        blk[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[t]), s, blk[t]);
        blk[t] = _mm512_fnmadd_ps(m, _mm512_set1_ps(ya[(size_t)t * yas + su]), blk[t]);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) acc[t] = _mm512_fmadd_ps(blk[t], _mm512_set1_ps(yb[t]->d), acc[t]);
  }
#pragma GCC unroll 8
  for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(out + (size_t)t * os, keep, acc[t]);
}


/* Tokens in passes of 8, then of 4, 2 and 1 for the rest (few shapes: each
   is a fully unrolled copy of the kernel). */
#define SB_PRODUCT(name, L) \
  SB_NO_BOUNDS_CHECK void name(int64_t n, int nr, int nt, const void *tile, const void *y, size_t ys, \
            const float *ya, size_t yas, float *out, size_t os) { \
    const uint8_t *wq = tile; \
    const float *sw = ty_sb_scales(tile, n), *mw = ty_sb_mins(tile, n, 4 * (L)); \
    const __mmask16 keep = (__mmask16)((1u << nr) - 1); \
    for (int t = 0, step = 8; t < nt; t += step) { \
      const char *yt = (const char *)y + (size_t)t * ys; \
      while (step > nt - t) step /= 2; \
      if (step == 8) \
        sb_tokens(n, L, 8, wq, sw, mw, yt, ys, ya + (size_t)t * yas, yas, keep, out + (size_t)t * os, os); \
      else if (step == 4) \
        sb_tokens(n, L, 4, wq, sw, mw, yt, ys, ya + (size_t)t * yas, yas, keep, out + (size_t)t * os, os); \
      else if (step == 2) \
        sb_tokens(n, L, 2, wq, sw, mw, yt, ys, ya + (size_t)t * yas, yas, keep, out + (size_t)t * os, os); \
      else \
        sb_tokens(n, L, 1, wq, sw, mw, yt, ys, ya + (size_t)t * yas, yas, keep, out + (size_t)t * os, os); \
    } \
  }

SB_PRODUCT(ty_gemm_sb32_avx512, 8)
SB_PRODUCT(ty_gemm_sb16_avx512, 4)


/* ---- rows to the sb form --------------------------------------------------- */

/* Transposes 16 vectors of 16 dwords (v[r] dword l = row r's lane l) and
   stores vector l of the result (lane l of the 16 rows) at out + 64 l. */
TY_INLINE void store_lanes(__m512i v[16], uint8_t *out) {
  __m512i a[16], b[16];
  for (int i = 0; i < 8; i++) {       /* per 128 bits: rows 2i, 2i+1 of dwords 4L+{0,1} / {2,3} */
    a[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {       /* b[4i + m], 128 bits L: rows 4i..4i+3 of dword 4L + m */
    b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int m = 0; m < 4; m++) {       /* dword 4L + m: 128 bits L of b[m], b[4+m], b[8+m], b[12+m] */
    const __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44);
    const __m512i c1 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44);
    const __m512i c2 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
    const __m512i c3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
    _mm512_storeu_si512((void *)(out + 64 * m), _mm512_shuffle_i32x4(c0, c1, 0x88));
    _mm512_storeu_si512((void *)(out + 64 * (4 + m)), _mm512_shuffle_i32x4(c0, c1, 0xDD));
    _mm512_storeu_si512((void *)(out + 64 * (8 + m)), _mm512_shuffle_i32x4(c2, c3, 0x88));
    _mm512_storeu_si512((void *)(out + 64 * (12 + m)), _mm512_shuffle_i32x4(c2, c3, 0xDD));
  }
}


/* A q4_K or q5_K quarter (gemm_sb_x86.h) as one vector. */
TY_INLINE __m512i q45_K_quarter512(const uint8_t *qs, const uint8_t *qh, int c) {
  __m256i lo, hi;
  q45_K_quarter(qs, qh, c, &lo, &hi);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}


/* Columns j < nc of a 16 x nc matrix of floats (row r at m + nc r): 16
   rows' sub-block j, stored at out + 16 j, and times f at out2 + 16 j. */
TY_INLINE void store_columns(const float *m, int nc, float *out, float *out2, float f) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
                                                          3, 2, 1, 0), _mm512_set1_epi32(nc));
  for (int j = 0; j < nc; j++) {
    const __m512 c = _mm512_i32gather_ps(idx, m + j, 4);
    _mm512_storeu_ps(out + 16 * j, c);
    if (out2 != NULL) _mm512_storeu_ps(out2 + 16 * j, _mm512_mul_ps(c, _mm512_set1_ps(f)));
  }
}


/* q4_K and q5_K alike: the super-blocks start with d, dmin and the 12
   bytes of scales and mins; q5_K adds a fifth bit per quant (qh). */
TY_INLINE void tile_q45_K(const void *x, size_t row_size, int nr, void *out, int64_t n,
                          const int five) {
  const size_t bs = five ? sizeof(ty_block_q5_K) : sizeof(ty_block_q4_K);
  uint8_t *wq = out;
  float *sw = ty_sb_scales(out, n), *mw = ty_sb_mins(out, n, 32);
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    float s[TY_SB_ROWS * 8], m[TY_SB_ROWS * 8];
    prefetch_rows(x, row_size, nr, (size_t)(i + SB_AHEAD) * bs, (size_t)n / TY_QK_K * bs, bs);
    for (int c = 0; c < 4; c++) {
      __m512i v[16];
      for (int r = 0; r < TY_SB_ROWS; r++) {
        const uint8_t *b = (const uint8_t *)x + r * row_size + (size_t)i * bs;
        v[r] = r >= nr ? _mm512_setzero_si512()
                       : q45_K_quarter512(b + (five ? offsetof(ty_block_q5_K, qs) : offsetof(ty_block_q4_K, qs)),
                                          five ? b + offsetof(ty_block_q5_K, qh) : NULL, c);
      }
      store_lanes(v, wq + (size_t)(i * 64 + 16 * c) * 64);
    }
    for (int r = 0; r < TY_SB_ROWS; r++) {
      __m256 sr, mr;
      q45_K_row_scales(r < nr ? (const char *)x + r * row_size + (size_t)i * bs : NULL, &sr, &mr);
      _mm256_storeu_ps(s + 8 * r, sr);
      _mm256_storeu_ps(m + 8 * r, mr);
    }
    store_columns(s, 8, sw + (size_t)i * 8 * TY_SB_ROWS, NULL, 0.0f);
    store_columns(m, 8, mw + (size_t)i * 8 * TY_SB_ROWS, NULL, 0.0f);
  }
}


void ty_sb_tile_q4_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  tile_q45_K(x, row_size, nr, out, n, 0);
}


void ty_sb_tile_q5_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  tile_q45_K(x, row_size, nr, out, n, 1);
}


void ty_sb_tile_q6_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  uint8_t *wq = out;
  float *sw = ty_sb_scales(out, n), *mw = ty_sb_mins(out, n, 16);
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    prefetch_rows(x, row_size, nr, (size_t)(i + SB_AHEAD) * sizeof(ty_block_q6_K),
                  (size_t)n / TY_QK_K * sizeof(ty_block_q6_K), sizeof(ty_block_q6_K));
    for (int q = 0; q < 4; q++) {
      __m512i v[16];
      for (int r = 0; r < TY_SB_ROWS; r++)
        if (r < nr) {
          __m256i v0, v1;
          q6_K_quarter((const ty_block_q6_K *)((const char *)x + r * row_size) + i, q / 2, q % 2, &v0, &v1);
          v[r] = _mm512_inserti64x4(_mm512_castsi256_si512(v0), v1, 1);
        } else {
          v[r] = _mm512_setzero_si512();
        }
      store_lanes(v, wq + (size_t)(i * 64 + 16 * q) * 64);
    }
    float sc[TY_SB_ROWS * 16];
    for (int r = 0; r < TY_SB_ROWS; r++) {
      __m512 f = _mm512_setzero_ps();
      if (r < nr) {
        const ty_block_q6_K *b = (const ty_block_q6_K *)((const char *)x + r * row_size) + i;
        f = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)),
                          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                              _mm_loadu_si128((const __m128i *)b->scales))));
      }
      _mm512_storeu_ps(sc + 16 * r, f);
    }
    /* mw = 32 * sw: q6_K's quants are stored 32 above their value */
    store_columns(sc, 16, sw + (size_t)i * 16 * TY_SB_ROWS, mw + (size_t)i * 16 * TY_SB_ROWS, 32.0f);
  }
}

#endif
