/*
 * gemm_avx2.c: the batch product of gemm.c for CPUs with AVX2 but no VNNI.
 * Without vpdpbusd, a byte dot is vpmaddubsw (unsigned x signed bytes into
 * saturating 16-bit pair sums) then vpmaddwd against ones. The i8 form's
 * unsigned activations (y + 128) times q8_0 weights would saturate those
 * pair sums, so the activations go back to signed (xor 0x80) and the
 * weight's sign moves onto them (ty_mul_sum_i8_pairs_float, ggml's x86 q8_0 dot):
 * |w| * (y * sign(w)), exact for |y| <= 127 (q8_0 activations are) and any
 * w; that is the integer the i8 form's init terms give, so they are not
 * read. The floats are those of gemm_avx512.c bit for bit: its 16 lanes
 * are kept as two registers of 8 (the first and second 32 bytes of every
 * 64), each lane's sum scaled and added in the same order, and folded as
 * _mm512_reduce_add_ps does (the halves added, then ty_hsum_f32_8's tree),
 * so a batch gives the same logits on either level (test_gemm). A
 * micro-tile of 2 rows x 2 tokens keeps its 8 accumulators in registers.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "quants.h"
#include "simd_x86.h"

#define TY_INLINE static inline __attribute__((always_inline))

TY_INLINE void tile(int64_t n, int NR, int NT, const char *w, size_t ws, const char *y, size_t ys,
                    float *out, size_t os) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  __m256 acc[2][2][2];          /* [row][token][half] */
  const int8_t *wq[2];
  const float *wsc[2];
  const uint8_t *yq[2];
  const float *ysc[2];
#pragma GCC unroll 2
  for (int r = 0; r < NR; r++) {
    wq[r] = (const int8_t *)(w + (size_t)r * ws);
    wsc[r] = (const float *)(wq[r] + n);
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int t = 0; t < NT; t++) {
    yq[t] = (const uint8_t *)(y + (size_t)t * ys);
    ysc[t] = (const float *)(yq[t] + n);
  }
  for (int64_t g = 0; g < n; g += 64) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      const int64_t o = g + 32 * h;
      __m256i yv[2];
#pragma GCC unroll 2
      for (int t = 0; t < NT; t++)
        yv[t] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(yq[t] + o)), flip);
#pragma GCC unroll 2
      for (int r = 0; r < NR; r++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i *)(wq[r] + o));
        const __m256 sv = _mm256_loadu_ps(wsc[r] + o / 4);
#pragma GCC unroll 2
        for (int t = 0; t < NT; t++)
          acc[r][t][h] = _mm256_fmadd_ps(ty_mul_sum_i8_pairs_float(wv, yv[t]),
                                         _mm256_mul_ps(sv, _mm256_loadu_ps(ysc[t] + o / 4)),
                                         acc[r][t][h]);
      }
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < NR; r++) {
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++)
      out[(size_t)t * os + r] = ty_hsum_f32_8(_mm256_add_ps(acc[r][t][1], acc[r][t][0]));
  }
}


/* Weight rows to the i8 form (gemm.c's to_i8_q4_0 / to_i8_q5_0 a block
   at a time): in a batch every tile of rows is converted once, and the
   scalar loops took an eighth of Gemma 3's prefill. */
void ty_to_i8_q4_0_avx2(const void *vx, int8_t *w, float *sc, int64_t n) {
  const ty_block_q4_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    _mm256_storeu_si256((__m256i *)w, _mm256_sub_epi8(ty_nibbles32(x[i].qs), _mm256_set1_epi8(8)));
    _mm256_storeu_ps(sc, _mm256_set1_ps(_cvtsh_ss(x[i].d)));
  }
}

/* The nibble, less 16 where the fifth bit is clear (ggml's q5_0 unpack). */
void ty_to_i8_q5_0_avx2(const void *vx, int8_t *w, float *sc, int64_t n) {
  const ty_block_q5_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    const __m256i hi = _mm256_andnot_si256(ty_bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
    _mm256_storeu_si256((__m256i *)w, _mm256_or_si256(ty_nibbles32(x[i].qs), hi));
    _mm256_storeu_ps(sc, _mm256_set1_ps(_cvtsh_ss(x[i].d)));
  }
}


void ty_gemm_i8_avx2(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                     size_t ys, float *out, size_t os) {
  for (int r = 0; r < nr; r += 2) {
    const char *wr = (const char *)w + (size_t)r * ws;
    const int NR = nr - r >= 2 ? 2 : 1;
    int t = 0;
    for (; t + 2 <= nt; t += 2) {
      if (NR == 2) tile(n, 2, 2, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
      else tile(n, 1, 2, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
    }
    if (t < nt) {
      if (NR == 2) tile(n, 2, 1, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
      else tile(n, 1, 1, wr, ws, (const char *)y + t * ys, ys, out + t * os + r, os);
    }
  }
}

#endif
