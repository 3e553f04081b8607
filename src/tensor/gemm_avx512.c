/*
 * gemm_avx512.c: the batch product of gemm.c with AVX-512 VNNI: 64 bytes
 * (16 lanes of 4) per vpdpbusd, a micro-tile of up to 4 rows x 4 tokens in
 * registers. Same lanes and integer sums as ty_gemm_i8_ref; the 16 lanes are
 * folded by a tree instead of in order, so floats agree with it to rounding.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stdbool.h>

#include "quants.h"
#include "simd_x86.h"


static inline __attribute__((always_inline)) void
tile(int64_t n, int NR, int NT, const char *w, size_t ws, const char *y, size_t ys, bool has_min,
     float *out, size_t os) {
  __m512 acc[4][4];
  const int8_t *wq[4];
  const float *wsc[4];
  const int32_t *wi[4];
  const uint8_t *yq[4];
  const float *ysc[4];
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++) {
    wq[r] = (const int8_t *)(w + (size_t)r * ws);
    wsc[r] = (const float *)(wq[r] + n);
    wi[r] = (const int32_t *)(wsc[r] + n / 4);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; t++) {
    yq[t] = (const uint8_t *)(y + (size_t)t * ys);
    ysc[t] = (const float *)(yq[t] + n);
  }
  for (int64_t g = 0; g < n; g += 64) {
    __m512i yv[4];
    __m512 ysv[4];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
      yv[t] = _mm512_loadu_si512(yq[t] + g);
      ysv[t] = _mm512_loadu_ps(ysc[t] + g / 4);
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      const __m512i wv = _mm512_loadu_si512(wq[r] + g);
      const __m512i iv = _mm512_loadu_si512(wi[r] + g / 4);
      const __m512 sv = _mm512_loadu_ps(wsc[r] + g / 4);
#pragma GCC unroll 4
      for (int t = 0; t < NT; t++)
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(iv, yv[t], wv)),
                                    _mm512_mul_ps(sv, ysv[t]), acc[r][t]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
      float mins = 0.0f;
      if (has_min) {
        const float *mn = (const float *)(wi[r] + n / 4), *ysum = ysc[t] + n / 4;
        __m512 m = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 16 <= n / 16; k += 16)
          m = _mm512_fmadd_ps(_mm512_loadu_ps(mn + k), _mm512_loadu_ps(ysum + k), m);
        mins = _mm512_reduce_add_ps(m);
        for (; k < n / 16; k++) mins += mn[k] * ysum[k];
      }
      out[(size_t)t * os + r] = _mm512_reduce_add_ps(acc[r][t]) - mins;
    }
  }
}


void ty_gemm_i8_avx512(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                       size_t ys, bool has_min, float *out, size_t os) {
  for (int r = 0; r < nr; r += 4) {
    const char *wr = (const char *)w + (size_t)r * ws;
    int t = 0;
    if (nr - r >= 4) {
      for (; t + 4 <= nt; t += 4)
        tile(n, 4, 4, wr, ws, (const char *)y + t * ys, ys, has_min, out + t * os + r, os);
      for (; t < nt; t++)
        tile(n, 4, 1, wr, ws, (const char *)y + t * ys, ys, has_min, out + t * os + r, os);
    } else {
      for (int rr = r; rr < nr; rr++)
        for (t = 0; t < nt; t++)
          tile(n, 1, 1, (const char *)w + (size_t)rr * ws, ws, (const char *)y + t * ys, ys,
               has_min, out + t * os + rr, os);
    }
  }
}


/* ---- rows to the i8 form (gemm.c) with AVX-512 --------------------------
   The same bytes as ty_i8_weight with the scalar to_i8: the quants, each
   lane's scale, the lane sums times -128 (ty_i8_lane_init), the mins. Conversion runs once per batch and tile, so at a few tokens its
   scalar form cost more than the product (65% of an 8B-shaped 32-token
   prefill). */

/* Stores 64 quants at w and their lane sums times -128 at init. */
static inline void put_quants(int8_t *w, int32_t *init, __m512i q) {
  _mm512_storeu_si512((void *)w, q);
  _mm512_storeu_si512((void *)init, ty_i8_lane_init(q));
}


bool ty_i8_row_q4_K_avx512(const void *vx, void *out, int64_t n) {
  const ty_block_q4_K *x = vx;
  int8_t *w = out;
  float *sc = (float *)(w + n);
  int32_t *init = (int32_t *)(sc + n / 4);
  float *mn = (float *)(init + n / 4);
  for (int64_t i = 0; i < n / TY_QK_K; i++, w += TY_QK_K, sc += 64, init += 64, mn += 16) {
    const float d = ty_h2f(x[i].d), dmin = ty_h2f(x[i].dmin);
    for (int c = 0; c < 4; c++) {   /* 32 bytes: sub-block 2c low nibbles, 2c + 1 high */
      const __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c)));
      put_quants(w + 64 * c, init + 16 * c,
                 _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)),
                                  _mm512_set1_epi8(0x0F)));
    }
    for (int j = 0; j < 8; j++) {
      uint8_t s, m;
      ty_scale_min_k4(j, x[i].scales, &s, &m);
      _mm256_storeu_ps(sc + 8 * j, _mm256_set1_ps(d * s));
      mn[2 * j] = mn[2 * j + 1] = dmin * m;
    }
  }
  return true;
}


bool ty_i8_row_q6_K_avx512(const void *vx, void *out, int64_t n) {
  const ty_block_q6_K *x = vx;
  int8_t *w = out;
  float *sc = (float *)(w + n);
  int32_t *init = (int32_t *)(sc + n / 4);
  memset(init + n / 4, 0, (size_t)n / 16 * sizeof(float));   /* no mins */
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < n / TY_QK_K; i++, w += TY_QK_K, sc += 64, init += 64) {
    const float d = ty_h2f(x[i].d);
    for (int half = 0; half < 2; half++) {
      const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * half));
      const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * half + 32));
      const __m256i h = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * half));
      /* element groups of 32: low nibbles of l0 and l1, then high; the two
         high bits come from bits 0-1, 2-3, 4-5, 6-7 of h */
      const __m256i v0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
      const __m256i v1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
      const __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
      const __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
      int8_t *y = w + 128 * half;
      int32_t *in = init + 32 * half;
      put_quants(y, in, _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_sub_epi8(v0, k32)),
                                           _mm256_sub_epi8(v1, k32), 1));
      put_quants(y + 64, in + 16, _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_sub_epi8(v2, k32)),
                                                     _mm256_sub_epi8(v3, k32), 1));
      for (int g = 0; g < 8; g++)     /* 16 elements (4 lanes) a scale */
        _mm_storeu_ps(sc + 32 * half + 4 * g, _mm_set1_ps(d * x[i].scales[8 * half + g]));
    }
  }
  return false;
}

#endif
