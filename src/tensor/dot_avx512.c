/*
 * dot_avx512.c: AVX-512 (F/BW/VL/DQ/VNNI) kernels, reached only through
 * ty_quants_fill_avx512 after a CPU check; they override the AVX2 entries.
 * The 32-element dots are dot_q32_x86.h built again, now with vpdpbusd
 * (q4_1 and q8_0 use dot_ggml_x86.h, llama.cpp's own order).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>

#include "quants.h"
#include "simd_x86.h"
#include "dot_q32_x86.h"
#include "dot_ggml_x86.h"


/* The rows kernels of dot_ggml_x86.h with two rows per 512-bit register:
   row r in the low 8 lanes, row r + 1 in the high 8, so each row's lanes,
   products and sums are exactly the 256-bit kernel's, at half the
   instructions. */
static inline __m512i two_rows(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}


static inline __m512 two_scales(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}


static inline void store_two(float *s, __m512 acc) {
  s[0] = ty_hsum_f32_8(_mm512_castps512_ps256(acc));
  s[1] = ty_hsum_f32_8(_mm512_extractf32x8_ps(acc, 1));
}


static void q8_0_rows_512(int n, float *s, const void *vx, size_t bx, const void *vy) {
  const ty_block_q8_0 *y = vy;
  const char *x = vx;
  __m512 a01 = _mm512_setzero_ps(), a23 = a01;
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const float dy = _cvtsh_ss(y[ib].d);
    const __m512i qy = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)y[ib].qs));
    const ty_block_q8_0 *b[4];
    for (int r = 0; r < 4; r++) b[r] = (const ty_block_q8_0 *)(x + r * bx) + ib;
#define PAIR(acc, r) do { \
      const __m512i qx = two_rows(_mm256_loadu_si256((const __m256i *)b[r]->qs), \
                                  _mm256_loadu_si256((const __m256i *)b[r + 1]->qs)); \
      /* |x| times y with x's sign, as _mm256_sign_epi8 does it */ \
      const __m512i sy = _mm512_mask_sub_epi8(qy, _mm512_movepi8_mask(qx), _mm512_setzero_si512(), qy); \
      const __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qx), sy)); \
      acc = _mm512_fmadd_ps(two_scales(_cvtsh_ss(b[r]->d) * dy, _cvtsh_ss(b[r + 1]->d) * dy), p, acc); \
    } while (0)
    PAIR(a01, 0);
    PAIR(a23, 2);
#undef PAIR
  }
  store_two(s, a01);
  store_two(s + 2, a23);
}


static void q4_1_rows_512(int n, float *s, const void *vx, size_t bx, const void *vy) {
  const ty_block_q8_1 *y = vy;
  const char *x = vx;
  __m512 a01 = _mm512_setzero_ps(), a23 = a01;
  float m[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const float dy = _cvtsh_ss(y[ib].d), sy = _cvtsh_ss(y[ib].s);
    const __m512i qy = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)y[ib].qs));
    const ty_block_q4_1 *b[4];
    for (int r = 0; r < 4; r++) {
      b[r] = (const ty_block_q4_1 *)(x + r * bx) + ib;
      m[r] = fmaf(_cvtsh_ss(b[r]->m), sy, m[r]);
    }
#define PAIR(acc, r) do { \
      const __m512i qx = two_rows(ty_nibbles32(b[r]->qs), ty_nibbles32(b[r + 1]->qs)); \
      const __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy)); \
      acc = _mm512_fmadd_ps(two_scales(_cvtsh_ss(b[r]->d) * dy, _cvtsh_ss(b[r + 1]->d) * dy), p, acc); \
    } while (0)
    PAIR(a01, 0);
    PAIR(a23, 2);
#undef PAIR
  }
  store_two(s, a01);
  store_two(s + 2, a23);
  for (int r = 0; r < 4; r++) s[r] += m[r];
}


void ty_quants_fill_avx512(struct ty_qtype_traits *t) {
  t[TY_QTYPE_Q4_0].vec_dot = q32_vec_dot_q4_0;
  t[TY_QTYPE_Q5_0].vec_dot = q32_vec_dot_q5_0;
  t[TY_QTYPE_Q5_1].vec_dot = q32_vec_dot_q5_1;
  t[TY_QTYPE_Q4_1].vec_dot = ggml_vec_dot_q4_1;
  t[TY_QTYPE_Q4_1].vec_dot_rows = q4_1_rows_512;
  t[TY_QTYPE_Q8_0].vec_dot = ggml_vec_dot_q8_0;
  t[TY_QTYPE_Q8_0].vec_dot_rows = q8_0_rows_512;
}

#endif
