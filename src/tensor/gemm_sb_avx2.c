/*
 * gemm_sb_avx2.c: the sb form's product (gemm_sb.c) with AVX2, for CPUs
 * without AVX-512 VNNI. Without vpdpbusd, a lane's byte products come from
 * vpmaddubsw, which sums them in pairs as int16 (at most 2 * 63 * 128 in
 * magnitude: the K formats' quants have 6 bits or fewer, so nothing
 * saturates); two lanes' pairs are added (at most 32256) before vpmaddwd
 * against ones widens them to the 8 rows' int32 sums. A 256-bit vector
 * holds half a tile's lane (8 rows), so each half runs on its own, 4 tokens
 * sharing each weight vector; the rest is gemm_sb_avx512.c's order. Rows
 * convert to the sb form 8 at a time: each row's 32 quants of a sub-block
 * (a vector), then 8 rows' vectors transposed as 8 x 8 dwords.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <stddef.h>

#include "gemm_sb_x86.h"


/* nt (1, 2 or 4) tokens against rows 8h..8h+7 of a tile (wq, sw and mw
   already offset to the half); L lanes a sub-block; rows < nr stored. */
TY_INLINE SB_NO_BOUNDS_CHECK void sb_half(int64_t n, const int L, const int NT, const uint8_t *wq,
                                          const float *sw, const float *mw, const char *y,
                                          size_t ys, const float *ya, size_t yas, int nr,
                                          float *out, size_t os) {
  const int units = TY_QK_K / (4 * L);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4];
  for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / TY_QK_K; b++) {
    const ty_block_q8_K *yb[4];
    __m256 blk[4];
    for (int t = 0; t < NT; t++) {
      yb[t] = (const ty_block_q8_K *)(y + (size_t)t * ys) + b;
      blk[t] = _mm256_setzero_ps();
    }
    for (int u = 0; u < units; u++) {
      const int64_t su = b * units + u;
      __m256i is[4];
      for (int t = 0; t < NT; t++) is[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int k = 0; k < L; k += 2) {
        const int l = u * L + k;
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wq + (size_t)(b * 64 + l) * 64));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wq + (size_t)(b * 64 + l + 1) * 64));
        for (int t = 0; t < NT; t++) {
          int32_t v0, v1;
          __builtin_memcpy(&v0, yb[t]->qs + 4 * l, 4);
          __builtin_memcpy(&v1, yb[t]->qs + 4 * l + 4, 4);
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(v0)),
                                             _mm256_maddubs_epi16(w1, _mm256_set1_epi32(v1)));
          is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(p, ones));
        }
      }
      const __m256 s = _mm256_loadu_ps(sw + su * TY_SB_ROWS);
      const __m256 m = _mm256_loadu_ps(mw + su * TY_SB_ROWS);
      for (int t = 0; t < NT; t++) {
        blk[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]), s, blk[t]);
        blk[t] = _mm256_fnmadd_ps(m, _mm256_set1_ps(ya[(size_t)t * yas + su]), blk[t]);
      }
    }
    for (int t = 0; t < NT; t++) acc[t] = _mm256_fmadd_ps(blk[t], _mm256_set1_ps(yb[t]->d), acc[t]);
  }
  const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int t = 0; t < NT; t++) _mm256_maskstore_ps(out + (size_t)t * os, keep, acc[t]);
}


/* Each half of the tile, its tokens in passes of 4, then 2 and 1. */
#define SB_PRODUCT(name, L) \
  SB_NO_BOUNDS_CHECK void name(int64_t n, int nr, int nt, const void *tile, const void *y, \
                               size_t ys, const float *ya, size_t yas, float *out, size_t os) { \
    const uint8_t *wq = tile; \
    const float *sw = ty_sb_scales(tile, n), *mw = ty_sb_mins(tile, n, 4 * (L)); \
    for (int h = 0; h < 2 && 8 * h < nr; h++) \
      for (int t = 0, step = 4; t < nt; t += step) { \
        const char *yt = (const char *)y + (size_t)t * ys; \
        float *o = out + (size_t)t * os + 8 * h; \
        while (step > nt - t) step /= 2; \
        if (step == 4) \
          sb_half(n, L, 4, wq + 32 * h, sw + 8 * h, mw + 8 * h, yt, ys, ya + (size_t)t * yas, yas, \
                  nr - 8 * h, o, os); \
        else if (step == 2) \
          sb_half(n, L, 2, wq + 32 * h, sw + 8 * h, mw + 8 * h, yt, ys, ya + (size_t)t * yas, yas, \
                  nr - 8 * h, o, os); \
        else \
          sb_half(n, L, 1, wq + 32 * h, sw + 8 * h, mw + 8 * h, yt, ys, ya + (size_t)t * yas, yas, \
                  nr - 8 * h, o, os); \
      } \
  }

SB_PRODUCT(ty_gemm_sb32_avx2, 8)
SB_PRODUCT(ty_gemm_sb16_avx2, 4)


/* ---- rows to the sb form --------------------------------------------------- */

/* Transposes 8 vectors of 8 dwords (v[r] dword l = row r's l-th) and
   stores vector l of the result (dword l of the 8 rows) at out + l * stride. */
TY_INLINE void store_transposed8(const __m256i v[8], char *out, size_t stride) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; i++) {       /* per 128 bits: rows 2i, 2i+1 of dwords 4H+{0,1} / {2,3} */
    t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {       /* u[4i + m], 128 bits H: rows 4i..4i+3 of dword 4H + m */
    u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int m = 0; m < 4; m++) {
    _mm256_storeu_si256((__m256i *)(out + m * stride), _mm256_permute2x128_si256(u[m], u[4 + m], 0x20));
    _mm256_storeu_si256((__m256i *)(out + (4 + m) * stride), _mm256_permute2x128_si256(u[m], u[4 + m], 0x31));
  }
}


/* Scales (and mins) of 8 rows, 8 sub-blocks each (v[r] for row r), to the
   tile's columns: sub-block j's 8 floats at out + 16 j. */
TY_INLINE void store_scales8(const __m256 v[8], float *out) {
  __m256i w[8];
  for (int r = 0; r < 8; r++) w[r] = _mm256_castps_si256(v[r]);
  store_transposed8(w, (char *)out, TY_SB_ROWS * sizeof(float));
}


/* q4_K and q5_K alike (gemm_sb_avx512.c's tile_q45_K, 8 rows at a time). */
TY_INLINE void tile_q45_K(const void *x, size_t row_size, int nr, void *out, int64_t n,
                          const int five) {
  const size_t bs = five ? sizeof(ty_block_q5_K) : sizeof(ty_block_q4_K);
  uint8_t *wq = out;
  float *sw = ty_sb_scales(out, n), *mw = ty_sb_mins(out, n, 32);
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    prefetch_rows(x, row_size, nr, (size_t)(i + SB_AHEAD) * bs, (size_t)n / TY_QK_K * bs, bs);
    for (int g = 0; g < 2; g++) {     /* rows 8g .. 8g+7: bytes 32g.. of each lane */
      for (int c = 0; c < 4; c++) {
        __m256i lo[8], hi[8];
        for (int k = 0; k < 8; k++) {
          const uint8_t *b = (const uint8_t *)x + (8 * g + k) * row_size + (size_t)i * bs;
          if (8 * g + k < nr)
            q45_K_quarter(b + (five ? offsetof(ty_block_q5_K, qs) : offsetof(ty_block_q4_K, qs)),
                          five ? b + offsetof(ty_block_q5_K, qh) : NULL, c, &lo[k], &hi[k]);
          else
            lo[k] = hi[k] = _mm256_setzero_si256();
        }
        store_transposed8(lo, (char *)wq + (size_t)(i * 64 + 16 * c) * 64 + 32 * g, 64);
        store_transposed8(hi, (char *)wq + (size_t)(i * 64 + 16 * c + 8) * 64 + 32 * g, 64);
      }
      __m256 s[8], m[8];
      for (int k = 0; k < 8; k++)
        q45_K_row_scales(8 * g + k < nr ? (const char *)x + (8 * g + k) * row_size + (size_t)i * bs
                                        : NULL, &s[k], &m[k]);
      store_scales8(s, sw + (size_t)i * 8 * TY_SB_ROWS + 8 * g);
      store_scales8(m, mw + (size_t)i * 8 * TY_SB_ROWS + 8 * g);
    }
  }
}


void ty_sb_tile_q4_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  tile_q45_K(x, row_size, nr, out, n, 0);
}


void ty_sb_tile_q5_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  tile_q45_K(x, row_size, nr, out, n, 1);
}


void ty_sb_tile_q6_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n) {
  uint8_t *wq = out;
  float *sw = ty_sb_scales(out, n), *mw = ty_sb_mins(out, n, 16);
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    prefetch_rows(x, row_size, nr, (size_t)(i + SB_AHEAD) * sizeof(ty_block_q6_K),
                  (size_t)n / TY_QK_K * sizeof(ty_block_q6_K), sizeof(ty_block_q6_K));
    for (int g = 0; g < 2; g++) {
      for (int q = 0; q < 4; q++) {
        __m256i v0[8], v1[8];
        for (int k = 0; k < 8; k++) {
          if (8 * g + k < nr)
            q6_K_quarter((const ty_block_q6_K *)((const char *)x + (8 * g + k) * row_size) + i, q / 2,
                         q % 2, &v0[k], &v1[k]);
          else
            v0[k] = v1[k] = _mm256_setzero_si256();
        }
        store_transposed8(v0, (char *)wq + (size_t)(i * 64 + 16 * q) * 64 + 32 * g, 64);
        store_transposed8(v1, (char *)wq + (size_t)(i * 64 + 16 * q + 8) * 64 + 32 * g, 64);
      }
      for (int p = 0; p < 2; p++) {   /* sub-blocks 8p .. 8p+7 */
        __m256 s[8], m[8];
        for (int k = 0; k < 8; k++) {
          s[k] = _mm256_setzero_ps();
          if (8 * g + k < nr) {
            const ty_block_q6_K *b = (const ty_block_q6_K *)((const char *)x + (8 * g + k) * row_size) + i;
            s[k] = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d)),
                                 _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                     _mm_loadl_epi64((const __m128i *)(b->scales + 8 * p)))));
          }
          m[k] = _mm256_mul_ps(s[k], _mm256_set1_ps(32.0f));   /* stored 32 above their value */
        }
        store_scales8(s, sw + (size_t)(i * 16 + 8 * p) * TY_SB_ROWS + 8 * g);
        store_scales8(m, mw + (size_t)(i * 16 + 8 * p) * TY_SB_ROWS + 8 * g);
      }
    }
  }
}

#endif
