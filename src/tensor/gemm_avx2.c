/*
 * gemm_avx2.c: the batch product of gemm.c for CPUs with AVX2 but no VNNI.
 * Without vpdpbusd, a byte dot is vpmaddubsw (unsigned x signed bytes into
 * saturating 16-bit pair sums) then vpmaddwd against ones. The i8 form's
 * unsigned activations (y + 128) times q8_0 weights would saturate those
 * pair sums, so the activations go back to signed (xor 0x80) and the
 * weight's sign moves onto them, as ggml's x86 q8_0 dot does:
 * |w| * (y * sign(w)), exact for |y| <= 127 (q8_0 activations are) and any
 * w. The init terms of the i8 form are then not needed. A micro-tile of 4
 * rows x 2 tokens keeps its 8 accumulators in registers. Same lanes and
 * integer sums as ty_gemm_i8_ref; the 8 lanes of a register are folded by
 * a tree, so floats agree with it to rounding (test_gemm).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "quants.h"
#include "simd_x86.h"

#define TY_INLINE static inline __attribute__((always_inline))

TY_INLINE void tile(int64_t n, int NR, int NT, const char *w, size_t ws, const char *y, size_t ys,
                    float *out, size_t os) {
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
  __m256 acc[4][2];
  const int8_t *wq[4];
  const float *wsc[4];
  const uint8_t *yq[2];
  const float *ysc[2];
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++) {
    wq[r] = (const int8_t *)(w + (size_t)r * ws);
    wsc[r] = (const float *)(wq[r] + n);
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int t = 0; t < NT; t++) {
    yq[t] = (const uint8_t *)(y + (size_t)t * ys);
    ysc[t] = (const float *)(yq[t] + n);
  }
  for (int64_t g = 0; g < n; g += 32) {
    __m256i yv[2];
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++)
      yv[t] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(yq[t] + g)), flip);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      const __m256i wv = _mm256_loadu_si256((const __m256i *)(wq[r] + g));
      const __m256i aw = _mm256_sign_epi8(wv, wv);
      const __m256 sv = _mm256_loadu_ps(wsc[r] + g / 4);
#pragma GCC unroll 2
      for (int t = 0; t < NT; t++) {
        const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(yv[t], wv));
        const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
        acc[r][t] = _mm256_fmadd_ps(sum, _mm256_mul_ps(sv, _mm256_loadu_ps(ysc[t] + g / 4)),
                                    acc[r][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++) {
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++) out[(size_t)t * os + r] = ty_hsum_f32_8(acc[r][t]);
  }
}


void ty_gemm_i8_avx2(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                     size_t ys, float *out, size_t os) {
  for (int r = 0; r < nr; r += 4) {
    const char *wr = (const char *)w + (size_t)r * ws;
    int t = 0;
    if (nr - r >= 4) {
      for (; t + 2 <= nt; t += 2)
        tile(n, 4, 2, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
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
