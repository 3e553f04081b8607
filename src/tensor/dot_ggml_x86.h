/*
 * dot_ggml_x86.h: dots that follow llama.cpp's x86 kernels operation for
 * operation, included by dot_avx2.c and again by dot_avx512.c (where the
 * byte products use vpdpbusd: the same integers, one instruction).
 */
#ifndef TY_DOT_GGML_X86_H
#define TY_DOT_GGML_X86_H

#include <math.h>

#include "quants.h"
#include "simd_x86.h"

/* ==== dots in llama.cpp's own order =====================================
   For the formats of the llama-family test model (q4_1 weights, q8_0 output)
   these follow ggml-cpu's x86 kernels operation for operation: one block at
   a time, the integer sums of 4 byte products per lane, fma into 8 lanes,
   ggml's horizontal sum, and for q4_1 the min terms fused into a scalar.
   The results are then the same floats llama.cpp computes, not just close:
   a model with large activation outliers re-quantizes activations before
   every matmul, so a last-bit difference grows into visible logit drift. */

static inline void ggml_vec_dot_q4_1(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q4_1 *x = vx;
  const ty_block_q8_1 *y = vy;
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const float d0d1 = _cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d);
    summs = fmaf(_cvtsh_ss(x[ib].m), _cvtsh_ss(y[ib].s), summs);
    const __m256i qx = ty_nibbles32(x[ib].qs);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d0d1), ty_mul_sum_us8_pairs_float(qx, qy), acc);
  }
  *s = ty_hsum_f32_8(acc) + summs;
}


static inline void ggml_vec_dot_q8_0(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q8_0 *x = vx;
  const ty_block_q8_0 *y = vy;
  __m256 acc = _mm256_setzero_ps();
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d));
    const __m256i qx = _mm256_loadu_si256((const __m256i *)x[ib].qs);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
    acc = _mm256_fmadd_ps(d, ty_mul_sum_i8_pairs_float(qx, qy), acc);
  }
  *s = ty_hsum_f32_8(acc);
}


/* Four rows at once, each row's arithmetic exactly as ggml_vec_dot_q4_1.
   The rows are spelled out so the sums stay in registers. */
#define Q4_1_ROW(r) do { \
    const ty_block_q4_1 *b = (const ty_block_q4_1 *)(x + (r) * bx) + ib; \
    if (ib % 3 == 0) _mm_prefetch((const char *)b + TY_AHEAD, _MM_HINT_T0); \
    m##r = fmaf(_cvtsh_ss(b->m), sy, m##r); \
    a##r = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b->d) * dy), \
                           ty_mul_sum_us8_pairs_float(ty_nibbles32(b->qs), qy), a##r); \
  } while (0)

static inline void ggml_vec_dot_q4_1_rows(int n, float *s, const void *vx, size_t bx, const void *vy) {
  const ty_block_q8_1 *y = vy;
  const char *x = vx;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  float m0 = 0.0f, m1 = 0.0f, m2 = 0.0f, m3 = 0.0f;
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const float dy = _cvtsh_ss(y[ib].d), sy = _cvtsh_ss(y[ib].s);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
    Q4_1_ROW(0); Q4_1_ROW(1); Q4_1_ROW(2); Q4_1_ROW(3);
  }
  s[0] = ty_hsum_f32_8(a0) + m0;
  s[1] = ty_hsum_f32_8(a1) + m1;
  s[2] = ty_hsum_f32_8(a2) + m2;
  s[3] = ty_hsum_f32_8(a3) + m3;
}
#undef Q4_1_ROW


/* Four rows at once, each row's arithmetic exactly as ggml_vec_dot_q8_0. */
#define Q8_0_ROW(r) do { \
    const ty_block_q8_0 *b = (const ty_block_q8_0 *)(x + (r) * bx) + ib; \
    if (ib % 2 == 0) _mm_prefetch((const char *)b + TY_AHEAD, _MM_HINT_T0); \
    a##r = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b->d) * dy), \
                           ty_mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)b->qs), qy), \
                           a##r); \
  } while (0)

static inline void ggml_vec_dot_q8_0_rows(int n, float *s, const void *vx, size_t bx, const void *vy) {
  const ty_block_q8_0 *y = vy;
  const char *x = vx;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const float dy = _cvtsh_ss(y[ib].d);
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
    Q8_0_ROW(0); Q8_0_ROW(1); Q8_0_ROW(2); Q8_0_ROW(3);
  }
  s[0] = ty_hsum_f32_8(a0);
  s[1] = ty_hsum_f32_8(a1);
  s[2] = ty_hsum_f32_8(a2);
  s[3] = ty_hsum_f32_8(a3);
}
#undef Q8_0_ROW

#endif
