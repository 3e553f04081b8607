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
tile(int64_t n, int NR, int NT, const char *w, size_t ws, const char *y, size_t ys, float *out,
     size_t os) {
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
    for (int t = 0; t < NT; t++) out[(size_t)t * os + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}


void ty_gemm_i8_avx512(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                       size_t ys, float *out, size_t os) {
  for (int r = 0; r < nr; r += 4) {
    const char *wr = (const char *)w + (size_t)r * ws;
    int t = 0;
    if (nr - r >= 4) {
      for (; t + 4 <= nt; t += 4)
        tile(n, 4, 4, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
      for (; t < nt; t++)
        tile(n, 4, 1, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
    } else {
      for (int rr = r; rr < nr; rr++)
        for (t = 0; t < nt; t++)
          tile(n, 1, 1, (const char *)w + (size_t)rr * ws, ws, (const char *)y + t * ys, ys,
               out + t * os + rr, os);
    }
  }
}


#endif
