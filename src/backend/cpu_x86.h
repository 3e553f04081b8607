/*
 * cpu_x86.h: the x86 forms of cpu_kernels.h, included by cpu_avx2.c
 * (AVX2+FMA+F16C) and again by cpu_avx512.c, where the f16 dots and the
 * value sums run 16 lanes to a register and the query heads of one kv head
 * share each cache row (the same lanes and operations, so
 * the same floats); X86_NAME(f) names each build's functions. Called only
 * after a CPU check. Same floats as the portable forms in cpu_kernels.c.
 */
#ifndef TY_CPU_X86_H
#define TY_CPU_X86_H

#include "cpu_kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>


/* ty_cpu_expf on 8 lanes: the AVX-512 form's arithmetic (2^n applied
   exactly through the exponent bits), with its overflow rule blended in:
   lanes with |n| > 192 (a softmax's masked -inf among them, in every head's
   last chunk) are 0 or infinity. These had sent all 8 lanes to the scalar
   ty_cpu_expf, about 2% of a short attention's time. */
static inline __m256 expf8(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(192), _CMP_GT_OQ);
  /* j * 2^n: scale in two steps so that results below 2^-126 round as scalef does */
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
  const __m256 over = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ),
                                    _mm256_set1_ps(INFINITY));   /* n <= 0: 0 */
  return _mm256_blendv_ps(_mm256_mul_ps(_mm256_mul_ps(j, s1), s2), over, big);
}


/* reduce16 of (lo = lanes 0..7, hi = lanes 8..15), GCC's tree. */
static inline float reduce16(__m256 lo, __m256 hi) {
  const __m256 t3 = _mm256_add_ps(hi, lo);
  const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
  const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtss_f32(_mm_add_ss(t8, _mm_movehdup_ps(t8)));
}


static inline __m256 load_f16(const char *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}


/* The widest head the one-token group dots take (dots8_group keeps a row's
   floats on the stack; model.c allows 1024). */
#define GROUP_MAX_HD 1024


#ifdef __AVX512F__
/* dot_f16's 16 lanes before their horizontal sum, where one register holds
   them: a batch's one chain, or one token's 4 chains folded (0 + 2) + (1 + 3)
   (hd a multiple of 64; register m holds chains (c[2m], c[2m+1])). */
static inline __m512 lanes_f16(const char *k, const float *q16, int hd, int single) {
  if (!single) {            /* lanes 0..7 are lo's, 8..15 hi's */
    __m512 a = _mm512_setzero_ps();
    for (int d = 0; d < hd; d += 16)
      a = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + 2 * d))),
                          _mm512_loadu_ps(q16 + d), a);
    return a;
  }
  __m512 z0 = _mm512_setzero_ps(), z1 = z0, z2 = z0, z3 = z0;
#define Z(m) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + 2 * (d + 16 * (m))))), \
             _mm512_loadu_ps(q16 + d + 16 * (m))
  for (int d = 0; d < hd; d += 64) {
    z0 = _mm512_fmadd_ps(Z(0), z0);
    z1 = _mm512_fmadd_ps(Z(1), z1);
    z2 = _mm512_fmadd_ps(Z(2), z2);
    z3 = _mm512_fmadd_ps(Z(3), z3);
  }
#undef Z
  return _mm512_add_ps(_mm512_add_ps(z0, z2), _mm512_add_ps(z1, z3));
}


/* reduce16's tree for 16 rows at once, from their lanes f[p]: a level a
   step, each step pairing the lanes that level adds (in reduce16's operand
   order) from two rows' registers, then one permute into row order: 46
   instructions where 16 reduce16 take about 144. */
static inline __attribute__((always_inline)) __m512 tree16(const __m512 *f) {
  __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
  for (int p = 0; p < 8; p++)     /* t3 = hi8 + lo8: rows p and p + 8 */
    a[p] = _mm512_add_ps(_mm512_shuffle_f32x4(f[p], f[p + 8], _MM_SHUFFLE(3, 2, 3, 2)),
                         _mm512_shuffle_f32x4(f[p], f[p + 8], _MM_SHUFFLE(1, 0, 1, 0)));
#pragma GCC unroll 4
  for (int p = 0; p < 4; p++)     /* t6 = hi4 + lo4: 128-bit parts [p, p+8, p+4, p+12] */
    b[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[p], a[p + 4], _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm512_shuffle_f32x4(a[p], a[p + 4], _MM_SHUFFLE(2, 0, 2, 0)));
  for (int p = 0; p < 2; p++)     /* t8 = t6[0, 1] + t6[2, 3] */
    c[p] = _mm512_add_ps(_mm512_shuffle_ps(b[p], b[p + 2], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(b[p], b[p + 2], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
  /* r holds rows 0 2 1 3, 8 10 9 11, 4 6 5 7, 12 14 13 15 */
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), r);
}


/* A batch's dots of the 16 rows at k, stride apart, each as dot_f16 computes
   it (one chain a row, the 16 rows' chains side by side), then tree16. */
static inline __attribute__((always_inline)) __m512 dots16(const char *k, size_t stride,
                                                          const float *q16, int hd) {
  __m512 f[16];
#pragma GCC unroll 16
  for (int p = 0; p < 16; p++) f[p] = _mm512_setzero_ps();
  for (int d = 0; d < hd; d += 16) {
    const __m512 q = _mm512_loadu_ps(q16 + d);
#pragma GCC unroll 16
    for (int p = 0; p < 16; p++)
      f[p] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + (size_t)p * stride + 2 * d))),
                             q, f[p]);
  }
  return tree16(f);
}


/* One token's dots of the 16 rows at k for G queries (q16 + j * qs, G <= 4,
   hd a multiple of 64), each as dot_f16 computes it: each row's values are
   read and converted once and serve every query's 4 chains, which then fold
   (0 + 2) + (1 + 3) as lanes_f16's do and go through tree16 (figures with
   lane_sums below). */
static inline __attribute__((always_inline)) void dots16_group(const char *k, size_t stride,
                                                               const float *q16, size_t qs,
                                                               int hd, const int G, __m512 *r) {
  __m512 f[4][16];
#pragma GCC unroll 16
  for (int p = 0; p < 16; p++) {
    const char *row = k + (size_t)p * stride;
    __m512 z[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < G; j++)
#pragma GCC unroll 4
      for (int m = 0; m < 4; m++) z[j][m] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d += 64) {
      __m512 kv[4];
#pragma GCC unroll 4
      for (int m = 0; m < 4; m++)
        kv[m] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * (d + 16 * m))));
#pragma GCC unroll 4
      for (int j = 0; j < G; j++)
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++)
          z[j][m] = _mm512_fmadd_ps(kv[m], _mm512_loadu_ps(q16 + j * qs + d + 16 * m), z[j][m]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < G; j++)
      f[j][p] = _mm512_add_ps(_mm512_add_ps(z[j][0], z[j][2]), _mm512_add_ps(z[j][1], z[j][3]));
  }
#pragma GCC unroll 4
  for (int j = 0; j < G; j++) r[j] = tree16(f[j]);
}
#else
/* reduce16's tree for 8 rows at once, from each row's t3 = hi + lo (f[p]):
   a level a step, each step pairing the lanes that level adds from two
   rows' registers, then one permute into row order (tree16 at 8 lanes). */
static inline __attribute__((always_inline)) __m256 tree8(const __m256 *f) {
  __m256 a[4], b[2];
#pragma GCC unroll 4
  for (int p = 0; p < 4; p++)     /* t6 = hi4 + lo4: row p in the low half, p + 4 in the high */
    a[p] = _mm256_add_ps(_mm256_permute2f128_ps(f[p], f[p + 4], 0x31),
                         _mm256_permute2f128_ps(f[p], f[p + 4], 0x20));
  for (int p = 0; p < 2; p++)     /* t8 = t6[0, 1] + t6[2, 3]: rows p and p + 2 a half */
    b[p] = _mm256_add_ps(_mm256_shuffle_ps(a[p], a[p + 2], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm256_shuffle_ps(a[p], a[p + 2], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(3, 1, 3, 1)));
  /* r holds rows 0 2 1 3, 4 6 5 7 */
  return _mm256_permute_ps(r, _MM_SHUFFLE(3, 1, 2, 0));
}


/* A batch's dots of the 8 rows at k, stride apart, each as dot_f16 computes
   it (a row's two chains lo and hi, then t3 = hi + lo), then tree8. */
static inline __attribute__((always_inline)) __m256 dots8(const char *k, size_t stride,
                                                         const float *q16, int hd) {
  __m256 f[8];
#pragma GCC unroll 8
  for (int p = 0; p < 8; p++) {
    const char *row = k + (size_t)p * stride;
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int d = 0; d < hd; d += 16) {
      lo = _mm256_fmadd_ps(load_f16(row + 2 * d), _mm256_loadu_ps(q16 + d), lo);
      hi = _mm256_fmadd_ps(load_f16(row + 2 * d + 16), _mm256_loadu_ps(q16 + d + 8), hi);
    }
    f[p] = _mm256_add_ps(hi, lo);
  }
  return tree8(f);
}


/* One token's dots of the 8 rows at k for G queries (q16 + j * qs, G <= 4,
   hd a multiple of 64, at most GROUP_MAX_HD), each as dot_f16 computes it: a
   row's values are converted once (into kr, on the stack) and serve every
   query's 8 chains, which fold to lo and hi and t3 = hi + lo as reduce16's
   first step; tree8 does the rest for the 8 rows at once. At hd 64 a query
   fits in 8 registers instead: it stays there for the 8 rows, and each row
   is converted again for each query (from L1), where kr cost 8 stores and
   8 loads a query. A group of 3 heads, one thread, alternating in one
   process (medians): 1016 positions 119.0k -> 90.2k cycles warm, 323k ->
   254k cold; 72 positions 12.3k -> 10.5k warm. SmolLM2 decode after 1000
   tokens: 1 thread +5.8% (faster in 5 of 6 rounds); 2 threads, where the
   rows' reads bound it more, 0.990 (3 of 8) and 1.070 (8 of 10); after 8
   tokens within the noise (1.006). */
static inline __attribute__((always_inline)) void dots8_group(const char *k, size_t stride,
                                                              const float *q16, size_t qs,
                                                              int hd, const int G, __m256 *r) {
  __m256 f[4][8];
  if (hd == 64) {
#pragma GCC unroll 4
    for (int j = 0; j < G; j++) {
      __m256 qv[8];
#pragma GCC unroll 8
      for (int m = 0; m < 8; m++) qv[m] = _mm256_loadu_ps(q16 + j * qs + 8 * m);
      for (int p = 0; p < 8; p++) {
        const char *row = k + (size_t)p * stride;
        __m256 c[8];        /* fma onto +0, as the chains begin */
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++)
          c[m] = _mm256_fmadd_ps(load_f16(row + 16 * m), qv[m], _mm256_setzero_ps());
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(c[0], c[4]), _mm256_add_ps(c[2], c[6]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(c[1], c[5]), _mm256_add_ps(c[3], c[7]));
        f[j][p] = _mm256_add_ps(hi, lo);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < G; j++) r[j] = tree8(f[j]);
    return;
  }
  float kr[GROUP_MAX_HD] __attribute__((aligned(32)));
  for (int p = 0; p < 8; p++) {
    const char *row = k + (size_t)p * stride;
    for (int d = 0; d < hd; d += 8) _mm256_store_ps(kr + d, load_f16(row + 2 * d));
#pragma GCC unroll 4
    for (int j = 0; j < G; j++) {
      const float *q = q16 + j * qs;
      __m256 c[8];
#pragma GCC unroll 8
      for (int m = 0; m < 8; m++) c[m] = _mm256_setzero_ps();
      for (int d = 0; d < hd; d += 64)
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++)
          c[m] = _mm256_fmadd_ps(_mm256_load_ps(kr + d + 8 * m), _mm256_loadu_ps(q + d + 8 * m), c[m]);
      const __m256 lo = _mm256_add_ps(_mm256_add_ps(c[0], c[4]), _mm256_add_ps(c[2], c[6]));
      const __m256 hi = _mm256_add_ps(_mm256_add_ps(c[1], c[5]), _mm256_add_ps(c[3], c[7]));
      f[j][p] = _mm256_add_ps(hi, lo);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < G; j++) r[j] = tree8(f[j]);
}


/* The largest of 8 lanes (no NaN among them). */
static inline float max8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
#endif


/* dot_f16 of cpu_kernels.c: 16 lanes are (lo, hi); 64 lanes four such pairs. */
static inline float dot_f16(const char *k, const float *q16, int hd, int single) {
#ifdef __AVX512F__
  if (!single || hd % 64 == 0) {
    const __m512 f = lanes_f16(k, q16, hd, single);
    return reduce16(_mm512_castps512_ps256(f), _mm512_extractf32x8_ps(f, 1));
  }
#endif
  if (!single) {
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int d = 0; d < hd; d += 16) {
      lo = _mm256_fmadd_ps(load_f16(k + 2 * d), _mm256_loadu_ps(q16 + d), lo);
      hi = _mm256_fmadd_ps(load_f16(k + 2 * d + 16), _mm256_loadu_ps(q16 + d + 8), hi);
    }
    return reduce16(lo, hi);
  }
  __m256 c[8];
  int np = hd & ~63;
  for (int j = 0; j < 8; j++) c[j] = _mm256_setzero_ps();
  for (int d = 0; d < np; d += 64)
    for (int j = 0; j < 8; j++)
      c[j] = _mm256_fmadd_ps(load_f16(k + 2 * (d + 8 * j)), _mm256_loadu_ps(q16 + d + 8 * j), c[j]);
  double sum = 0.0;
  if (np > 0) {
    /* chains 0..3 are (c0,c1) (c2,c3) (c4,c5) (c6,c7): (0 + 2) + (1 + 3) */
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(c[0], c[4]), _mm256_add_ps(c[2], c[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(c[1], c[5]), _mm256_add_ps(c[3], c[7]));
    sum = (double)reduce16(lo, hi);
  }
  for (int d = np; d < hd; d++) {
    uint16_t x;
    memcpy(&x, k + 2 * (size_t)d, 2);
    sum += (double)(_cvtsh_ss(x) * q16[d]);
  }
  return (float)sum;
}


#ifndef ATTN_AHEAD
/* A head's cache rows are a few lines each, a row of all heads apart: each
   position asks for the one ATTN_AHEAD on. The cache is cold in a decode
   step (a layer's weights pass through between its uses), and these misses
   were most of a SmolLM2 step's attention. */
#define ATTN_AHEAD 8
static inline __attribute__((always_inline)) void prefetch_row(const char *p, int hd, int want) {
  if (want)
    for (int o = 0; o < 2 * hd; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}
#endif


/* The scores go a block of SCORE_ROWS cache rows at a time, a vector of
   them a query head (score_block: dots16 or dots16_group with AVX-512, dots8
   or dots8_group with AVX2); each block asks for the rows SCORE_AHEAD on
   (one block of 16, or 4 of 8: 8, 16 and 32 rows ahead were within the
   noise with AVX2). */
#ifdef __AVX512F__
#define SCORE_ROWS 16
#define SCORE_AHEAD 16
typedef __m512 score_vec;
#define SV_SET1 _mm512_set1_ps
#define SV_MUL _mm512_mul_ps
#define SV_STORE _mm512_storeu_ps
#define SV_MAX _mm512_max_ps
#define SV_HMAX _mm512_reduce_max_ps
#define SCORE_DOTS dots16
#define SCORE_GROUP dots16_group
#else
#define SCORE_ROWS 8
#define SCORE_AHEAD 32
typedef __m256 score_vec;
#define SV_SET1 _mm256_set1_ps
#define SV_MUL _mm256_mul_ps
#define SV_STORE _mm256_storeu_ps
#define SV_MAX _mm256_max_ps
#define SV_HMAX max8
#define SCORE_DOTS dots8
#define SCORE_GROUP dots8_group
#endif

static inline __attribute__((always_inline)) void score_block(const char *k, size_t stride,
                                                              const float *q, size_t hs, int hd,
                                                              int single, int G, score_vec *r) {
  if (!single)
    for (int j = 0; j < G; j++) r[j] = SCORE_DOTS(k, stride, q + j * hs, hd);
  else if (G == 4) SCORE_GROUP(k, stride, q, hs, hd, 4, r);
  else if (G == 3) SCORE_GROUP(k, stride, q, hs, hd, 3, r);
  else if (G == 2) SCORE_GROUP(k, stride, q, hs, hd, 2, r);
  else SCORE_GROUP(k, stride, q, hs, hd, 1, r);
}


/* One token over a long span also asks for each value row beside its key
   row, in order, as the scores go: lane_sums64's own asks (value_rows) come
   in bursts of two lines for every 16th position, which past a few hundred
   positions is more than the core keeps in flight. Decode after 1000
   tokens, alternating rounds: SmolLM2 +14.6% with 2 threads (faster in 8 of
   8), +26% with 1 (6 of 6); Gemma 3 270M +5.1% (8 of 10). A cold
   1016-position group of 3 heads, one thread: 293-331k -> 221-264k cycles.
   At 72 positions the same asks cost a little (decode 0.98, 5 of 12), so
   shorter spans keep value_rows alone. */
#define VALUES_EARLY 256

void X86_NAME(ty_cpu_attn_scores_f16)(const struct ty_attn_head *h, float *q16, float *s,
                                      size_t hs, float *mx) {
  const int hd = h->hd;
  int tail = h->first;      /* the positions from here on go one at a time */
  for (int j = 0; j < h->n_q; j++) {
    const float *q = h->q + (size_t)j * hd;
    for (int d = 0; d < hd; d += 8)
      _mm256_storeu_ps(q16 + j * hs + d, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + d), _MM_FROUND_TO_NEAREST_INT)));
    mx[j] = -INFINITY;
  }
  if (!h->single || (hd % 64 == 0 && hd <= GROUP_MAX_HD)) {   /* whole blocks of rows */
    for (int j0 = 0; j0 < h->n_q; j0 += 4) {
      const int G = h->n_q - j0 < 4 ? h->n_q - j0 : 4;
      const int values_early = h->single && j0 == 0 && h->last - h->first + 1 >= VALUES_EARLY;
      score_vec m[4], r[4];
      int i = h->first;
      for (int j = 0; j < G; j++) m[j] = SV_SET1(-INFINITY);
      if (h->single && j0 == 0)   /* the rows the loop's own asks do not reach */
        for (int p = i; p < i + SCORE_AHEAD && p <= h->last; p++)
          prefetch_row(h->k + (size_t)p * h->stride, hd, 1);
      for (; i + SCORE_ROWS <= h->last + 1; i += SCORE_ROWS) {
        for (int p = i + SCORE_AHEAD; p < i + SCORE_AHEAD + SCORE_ROWS; p++) {
          prefetch_row(h->k + (size_t)p * h->stride, hd, p <= h->last);
          prefetch_row(h->v + (size_t)p * h->stride, hd, values_early && p <= h->last);
        }
        score_block(h->k + (size_t)i * h->stride, h->stride, q16 + j0 * hs, hs, hd, h->single,
                    G, r);
        for (int j = 0; j < G; j++) {
          const score_vec v = SV_MUL(r[j], SV_SET1(h->scale));
          SV_STORE(s + (j0 + j) * hs + i, v);
          m[j] = SV_MAX(v, m[j]);   /* a NaN score is passed over, as below */
        }
      }
      for (int j = 0; j < G; j++) mx[j0 + j] = SV_HMAX(m[j]);
      tail = i;
    }
  }
  for (int j = 0; j < h->n_q; j++)
    for (int i = tail; i <= h->last; i++) {
      float *sj = s + j * hs;
      prefetch_row(h->k + (size_t)(i + ATTN_AHEAD) * h->stride, hd, i + ATTN_AHEAD <= h->last);
      sj[i] = dot_f16(h->k + (size_t)i * h->stride, q16 + j * hs, hd, h->single) * h->scale;
      if (sj[i] > mx[j]) mx[j] = sj[i];
    }
}


/* Head e's probabilities, rounded to f16 as llama.cpp's weights are, from
   its scores and their largest mx: exp over whole chunks of 16 positions,
   those outside [first, last] as exp(-inf) = 0 (e has room for the last
   chunk's tail), summed in double a chunk's reduce16 at a time. */
static inline void softmax_f16(const struct ty_attn_head *h, float *e, float mx) {
  const int c0 = h->first / 16, c1 = h->last / 16;
  double sum = 0.0;
  for (int i = 16 * c0; i < h->first; i++) e[i] = -INFINITY;
  for (int i = h->last + 1; i < 16 * c1 + 16; i++) e[i] = -INFINITY;
  const __m256 vmx = _mm256_set1_ps(mx);
  for (int c = c0; c <= c1; c++) {
    __m256 x[2];
    for (int k = 0; k < 2; k++) {
      x[k] = expf8(_mm256_sub_ps(_mm256_loadu_ps(e + 16 * c + 8 * k), vmx));
      _mm256_storeu_ps(e + 16 * c + 8 * k, x[k]);
    }
    sum += (double)reduce16(x[0], x[1]);
  }
  const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
  for (int i = 16 * c0; i <= h->last; i += 8)
    _mm256_storeu_ps(e + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(e + i), inv),
                                                            _MM_FROUND_TO_NEAREST_INT)));
}


/* out = reduce16 over a head's value lanes (the used ones; the rest are
   zero, and x + 0 is x), a vector of dims at a time (hd is a multiple of
   16): the same adds, dim by dim. One token's 64 lanes fold their 4 chains
   first: (0 + 2) + (1 + 3), lane by lane. */
static inline void value_reduce(const float *acc, int hd, int lanes, int used, float *out) {
#ifdef __AVX512F__
#define RV __m512
#define RW 16
#define R_LOAD _mm512_loadu_ps
#define R_ZERO _mm512_setzero_ps
#define R_ADD _mm512_add_ps
#define R_STORE _mm512_storeu_ps
#else
#define RV __m256
#define RW 8
#define R_LOAD _mm256_loadu_ps
#define R_ZERO _mm256_setzero_ps
#define R_ADD _mm256_add_ps
#define R_STORE _mm256_storeu_ps
#endif
  for (int d = 0; d < hd; d += RW) {
#define A(l) ((l) < used ? R_LOAD(acc + (size_t)(l) * hd + d) : R_ZERO())
    RV x[16], t3[8], t6[4];
    if (lanes == 64)
      for (int l = 0; l < 16; l++)
        x[l] = R_ADD(R_ADD(A(l), A(32 + l)), R_ADD(A(16 + l), A(48 + l)));
    else
      for (int l = 0; l < 16; l++) x[l] = A(l);
#undef A
    for (int l = 0; l < 8; l++) t3[l] = R_ADD(x[8 + l], x[l]);
    for (int l = 0; l < 4; l++) t6[l] = R_ADD(t3[4 + l], t3[l]);
    R_STORE(out + d, R_ADD(R_ADD(t6[0], t6[2]), R_ADD(t6[1], t6[3])));
  }
#undef RV
#undef RW
#undef R_LOAD
#undef R_ZERO
#undef R_ADD
#undef R_STORE
}


/* The value sums of G heads (from head j0; G <= LANE_G, hd a multiple of
   4 registers) a lane at a time: lane l's sums over the positions
   i = l mod lanes stay in registers and are stored once, where the
   position-major loop loads and stores them at every position (and zeroes
   them first); each cache row is converted once for all G heads. Lanes
   below `used` that no position reaches are stored as zeros. 4 registers of
   dims a head at a time: AVX-512 takes 4 heads (16 sums), AVX2 3 (12 sums
   and the 4 values fill its 16 registers). A head's cost (one core, cycles,
   against the position-major loop a head at a time, AVX-512): SmolLM2's
   groups of 3 at hd 64, 2.9k against 3.7k at 72 positions, 17.8k against
   28.1k at 1000; Gemma 3's 4 at hd 256, 26k against 65k at 500. */
#ifdef __AVX512F__
#define LV __m512
#define LANE_W 16
#define LANE_G 4
#define LV_ZERO _mm512_setzero_ps
#define LV_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LV_SET1 _mm512_set1_ps
#define LV_FMA _mm512_fmadd_ps
#define LV_STORE _mm512_storeu_ps
#define LV_LOAD _mm512_loadu_ps
#define LV_ADD _mm512_add_ps
#else
#define LV __m256
#define LANE_W 8
#define LANE_G 3
#define LV_ZERO _mm256_setzero_ps
#define LV_F16(p) load_f16(p)
#define LV_SET1 _mm256_set1_ps
#define LV_FMA _mm256_fmadd_ps
#define LV_STORE _mm256_storeu_ps
#define LV_LOAD _mm256_loadu_ps
#define LV_ADD _mm256_add_ps
#endif
/* The first visible position that feeds lane `lane` of `lanes` (i = lane mod lanes). */
static inline int lane_first(const struct ty_attn_head *h, int lanes, int lane) {
  return h->first + ((lane - h->first) % lanes + lanes) % lanes;
}


/* acc = lane's sums for dims d..d + 4 LANE_W of G heads from j0. */
static inline __attribute__((always_inline)) void lane_acc(const struct ty_attn_head *h, size_t hs,
                                                           int lanes, int lane, int d, int j0,
                                                           const int G, LV acc[][4]) {
  const int i0 = lane_first(h, lanes, lane);
#pragma GCC unroll 4
  for (int g = 0; g < G; g++)
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) acc[g][m] = LV_ZERO();
  for (int i = i0; i <= h->last; i += lanes) {
    const char *v = h->v + (size_t)i * h->stride + 2 * d;
    LV x[4];
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) x[m] = LV_F16(v + 2 * LANE_W * m);
#pragma GCC unroll 4
    for (int g = 0; g < G; g++) {
      const LV w = LV_SET1(h->work[(j0 + g) * hs + i]);
#pragma GCC unroll 4
      for (int m = 0; m < 4; m++) acc[g][m] = LV_FMA(x[m], w, acc[g][m]);
    }
  }
}


/* Lane `lane` of G heads' value sums, dims d..: at h->work + (j0 + g) * hs
   + e_size + lane * hd + d. */
#define LANE_AT(g, lane) (h->work + (size_t)(j0 + (g)) * hs + e_size + (size_t)(lane) * hd + d)

static inline __attribute__((always_inline)) void lane_sums(const struct ty_attn_head *h, size_t hs,
                                                            size_t e_size, int lanes, int used,
                                                            int j0, const int G) {
  const int hd = h->hd;
  for (int lane = 0; lane < used; lane++)
    for (int d = 0; d < hd; d += 4 * LANE_W) {
      LV acc[LANE_G][4];
      lane_acc(h, hs, lanes, lane, d, j0, G, acc);
#pragma GCC unroll 4
      for (int g = 0; g < G; g++)
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) LV_STORE(LANE_AT(g, lane) + LANE_W * m, acc[g][m]);
    }
}


/* Asks for the value rows of slot l (positions i = l mod 16, lanes l, l + 16,
   l + 32 and l + 48), which lane_sums64 reads LANE_AHEAD slots later, each
   row once. In a decode step they are cold (a layer's weights pass between
   its uses). Below VALUES_EARLY positions these are the only asks for them:
   asked for from the scores' loop, a block of rows ahead of the scores,
   most had not arrived when a lane read them. Over longer spans the scores'
   loop asks as well and these find most rows already in L2 (without them a
   cold 1016-position call was 1.12x slower). SmolLM2, 2 threads, after 8
   tokens, alternating rounds: attention 54.8k -> 32.7k cycles a layer
   (median of 6), decode +8.1% (faster in 8 of 12); after 1000 tokens +3.1%
   (6 of 10). Gemma 3 270M (head size 256,
   attention 2% of a step): 44.5k -> 43.8k, decode within the noise. */
#define LANE_AHEAD 2
static inline __attribute__((always_inline)) void value_rows(const struct ty_attn_head *h, int l) {
  for (int i = lane_first(h, 16, l); i <= h->last; i += 16)
    for (int o = 0; o < 2 * h->hd; o += 64) _mm_prefetch(h->v + (size_t)i * h->stride + o, _MM_HINT_T0);
}


/* One token's 64 lanes folded as they are made, into 16: slot l gets
   (lane l + lane 32 + l) + (lane 16 + l + lane 48 + l), value_reduce's first
   step for 64 lanes in its order, so that value_reduce then reads 16 lanes.
   Lanes no position reaches are zeros, as value_reduce's. A head's lanes
   take 16 hd floats of work instead of 64 (4 KiB at hd 64, which a layer's
   weights evict before the next layer writes them again). One thread's
   share of a SmolLM2 layer (5 heads, 72 positions, AVX2), after 1.5 MB of
   other reads: 41 -> 37k cycles (warm: 34.6 -> 30.7k); 1000 positions: the
   same. */
static inline __attribute__((always_inline)) void lane_sums64(const struct ty_attn_head *h, size_t hs,
                                                              size_t e_size, int j0, const int G) {
  const int hd = h->hd;
  LV pair[LANE_G][4];
  if (j0 == 0)
    for (int l = 0; l < LANE_AHEAD; l++) value_rows(h, l);
  for (int l = 0; l < 16; l++) {
    if (j0 == 0 && l + LANE_AHEAD < 16) value_rows(h, l + LANE_AHEAD);
    for (int d = 0; d < hd; d += 4 * LANE_W) {
      LV acc[LANE_G][4];
      for (int half = 0; half < 2; half++) {
        lane_acc(h, hs, 64, l + 16 * half, d, j0, G, acc);
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
#pragma GCC unroll 4
          for (int m = 0; m < 4; m++) pair[g][m] = acc[g][m];
        lane_acc(h, hs, 64, l + 16 * half + 32, d, j0, G, acc);
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
#pragma GCC unroll 4
          for (int m = 0; m < 4; m++) {
            const LV sum = LV_ADD(pair[g][m], acc[g][m]);
            float *slot = LANE_AT(g, l) + LANE_W * m;
            LV_STORE(slot, half ? LV_ADD(LV_LOAD(slot), sum) : sum);
          }
      }
    }
  }
}
#undef LANE_AT
#undef LV
#undef LV_ZERO
#undef LV_F16
#undef LV_SET1
#undef LV_FMA
#undef LV_STORE
#undef LV_LOAD
#undef LV_ADD


void X86_NAME(ty_cpu_attn_f16)(const struct ty_attn_head *h) {
  const int hd = h->hd, lanes = h->single ? 64 : 16, n_q = h->n_q;
  const size_t hs = TY_ATTN_HEAD_WORK(h->last, hd), e_size = TY_ATTN_HEAD_WORK(h->last, 0);
  /* lanes no position reaches stay zero and are skipped */
  const int used = h->last + 1 < lanes ? h->last + 1 : lanes;
  float mx[TY_ATTN_GROUP];

  if (n_q > TY_ATTN_GROUP) {
    ty_attn_split(h, X86_NAME(ty_cpu_attn_f16));
    return;
  }
  X86_NAME(ty_cpu_attn_scores_f16)(h, h->work + e_size + 64 * (size_t)hd, h->work, hs, mx);
  for (int j = 0; j < n_q; j++) softmax_f16(h, h->work + j * hs, mx[j]);
  /* the weighted values: position i feeds lane i % lanes */
  if (hd % (4 * LANE_W) == 0) {
#define LANE_SUMS(G) (lanes == 64 ? lane_sums64(h, hs, e_size, j0, G) \
                              : lane_sums(h, hs, e_size, lanes, used, j0, G))
    for (int j0 = 0; j0 < n_q; j0 += LANE_G) {
      const int G = n_q - j0 < LANE_G ? n_q - j0 : LANE_G;
      if (G == LANE_G) LANE_SUMS(LANE_G);
      else if (G == 3) LANE_SUMS(3);
      else if (G == 2) LANE_SUMS(2);
      else LANE_SUMS(1);
    }
#undef LANE_SUMS
    const int slots = lanes == 64 ? 16 : lanes;   /* lane_sums64 leaves 16 folded slots */
    for (int j = 0; j < n_q; j++)
      value_reduce(h->work + j * hs + e_size, hd, slots, lanes == 64 ? slots : used,
                   h->out + (size_t)j * hd);
    return;
  }

  for (int j = 0; j < n_q; j++) {
    float *acc = h->work + j * hs + e_size;
    memset(acc, 0, (size_t)used * hd * sizeof(float));
    for (int i = h->first, lane = h->first % lanes; i <= h->last;
         i++, lane = lane + 1 < lanes ? lane + 1 : 0) {
      const char *v = h->v + (size_t)i * h->stride;
      float *a = acc + (size_t)lane * hd;
      prefetch_row(v + ATTN_AHEAD * h->stride, hd, i + ATTN_AHEAD <= h->last);
#ifdef __AVX512F__
      const __m512 w16 = _mm512_set1_ps(h->work[j * hs + i]);
#pragma GCC unroll 4
      for (int d = 0; d < hd; d += 16)
        _mm512_storeu_ps(a + d, _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + 2 * d))),
                                                w16, _mm512_loadu_ps(a + d)));
#else
      const __m256 w = _mm256_set1_ps(h->work[j * hs + i]);
      for (int d = 0; d < hd; d += 8)
        _mm256_storeu_ps(a + d, _mm256_fmadd_ps(load_f16(v + 2 * d), w, _mm256_loadu_ps(a + d)));
#endif
    }
  }
  for (int j = 0; j < n_q; j++)
    value_reduce(h->work + j * hs + e_size, hd, lanes, used, h->out + (size_t)j * hd);
}


void X86_NAME(ty_cpu_rope)(float *x, const float *cs, const float *sn, int nd, int neox) {
  const int h = nd / 2;
  int i = 0;
  if (neox)                 /* fmsub: x0 c - (x1 s rounded), as fmaf(x0, c, -(x1 s)) */
    for (; i + 8 <= h; i += 8) {
      const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + h + i);
      const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(sn + i);
      _mm256_storeu_ps(x + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
      _mm256_storeu_ps(x + h + i, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
    }
  if (!neox)                /* pairs (x[2i], x[2i+1]), 4 to a vector: w swaps each pair,
                               the angles' cosines and sines go in twice; even lanes
                               take x0 c - (x1 s rounded), odd x0 s + (x1 c rounded) */
    for (; i + 4 <= h; i += 4) {
      const __m128 c4 = _mm_loadu_ps(cs + i), s4 = _mm_loadu_ps(sn + i);
      const __m256 c = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
      const __m256 s = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
      const __m256 v = _mm256_loadu_ps(x + 2 * i);
      const __m256 w = _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
      const __m256 even = _mm256_fmsub_ps(v, c, _mm256_mul_ps(w, s));
      const __m256 odd = _mm256_fmadd_ps(w, s, _mm256_mul_ps(v, c));
      _mm256_storeu_ps(x + 2 * i, _mm256_blend_ps(even, odd, 0xAA));
    }
  for (; i < h; i++) {      /* fmaf is one instruction here */
    const int a = neox ? i : 2 * i, b = neox ? i + h : 2 * i + 1;
    const float x0 = x[a], x1 = x[b];
    x[a] = fmaf(x0, cs[i], -(x1 * sn[i]));
    x[b] = fmaf(x0, sn[i], x1 * cs[i]);
  }
}


#ifndef __AVX512F__
/* Built once, for AVX2: the table lookup is an 8-lane gather on either
   level, so the AVX-512 backend takes this form too. */
void ty_cpu_geglu_avx2(int64_t n, float *y, const float *x, const float *g, const float *table) {
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    __m256 a = _mm256_i32gather_ps(table, h, 4);
    a = _mm256_blendv_ps(a, v, _mm256_cmp_ps(v, hi, _CMP_GE_OQ));
    a = _mm256_andnot_ps(_mm256_cmp_ps(v, lo, _CMP_LE_OQ), a);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(a, _mm256_loadu_ps(g + i)));
  }
  ty_cpu_geglu(n - i, y + i, x + i, g + i, table);
}
#endif


void X86_NAME(ty_cpu_swiglu)(int64_t n, float *y, const float *x, const float *g) {
  const int64_t nv = n - n % 16;
  int64_t i = 0;
  for (; i < nv; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 s = _mm256_div_ps(xv, _mm256_add_ps(_mm256_set1_ps(1.0f), expf8(_mm256_sub_ps(_mm256_setzero_ps(), xv))));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(g + i)));
  }
  for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

#endif
