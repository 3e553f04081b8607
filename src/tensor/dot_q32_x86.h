/*
 * dot_q32_x86.h: the dots of the 32-element formats (q4_0, q4_1, q5_0, q5_1,
 * q8_0), included by dot_avx2.c and again by dot_avx512.c, where the same
 * code builds with vpdpbusd. Two blocks share one register (low 128 bits
 * block A, high 128 bits block B) and the half-precision scales of eight
 * blocks are fetched by one gather and converted by one vcvtph2ps each.
 */
#ifndef TY_DOT_Q32_X86_H
#define TY_DOT_Q32_X86_H

#include "quants.h"
#include "simd_x86.h"

/* Gathers the 32-bit word at offset 0 of 8 blocks `stride` bytes apart and
   converts its two halves: lo = blocks 0..3, hi = blocks 4..7, each as
   (first half, second half) pairs. */
static inline void q32_scales8(const void *base, int stride, __m256 *lo, __m256 *hi) {
  const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
  const __m256i w = _mm256_i32gather_epi32((const int *)base, off, 1);
  *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(w));
  *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(w, 1));
}


/* Pairs of 16-byte halves: [a | b]. */
static inline __m256i q32_load2(const void *a, const void *b) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                 _mm_loadu_si128((const __m128i *)b), 1);
}


/* Sum of u*y over both halves: lanes 0..3 block A, 4..7 block B. The int16
   sums cannot saturate: |u| <= 31 and |y| <= 128 keep each pair < 8000. */
static inline __m256i q32_dot_u(__m256i lo, __m256i ylo, __m256i hi, __m256i yhi) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, ylo), hi, yhi);
#else
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, ylo), _mm256_maddubs_epi16(hi, yhi));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}


/* Same as q32_dot_u with k subtracted from every u: sum((u-k)*y). */
static inline __m256i q32_dot_off(__m256i lo, __m256i ylo, __m256i hi, __m256i yhi, __m256i k) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  const __m256i z = _mm256_setzero_si256();
  const __m256i p = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(z, lo, ylo), hi, yhi);
  const __m256i c = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(z, k, ylo), k, yhi);
  return _mm256_sub_epi32(p, c);
#else
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, ylo), _mm256_maddubs_epi16(hi, yhi));
  const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(k, ylo), _mm256_maddubs_epi16(k, yhi));
  return _mm256_madd_epi16(_mm256_sub_epi16(p, c), _mm256_set1_epi16(1));
#endif
}


/* Broadcasts lane 2i of v to lanes 0..3 and lane 2i+2 to lanes 4..7. */
static inline __m256 q32_pair_scale(__m256 v, int i) {
  return _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(2 * i, 2 * i, 2 * i, 2 * i, 2 * i + 2, 2 * i + 2, 2 * i + 2, 2 * i + 2));
}


/* The 5th bits of a q5 block pair for the low / high halves, as 0x10 bytes. */
static inline void q32_high_bits(const uint8_t *qha, const uint8_t *qhb, __m256i *lo, __m256i *hi) {
  uint32_t a, b;
  memcpy(&a, qha, 4);
  memcpy(&b, qhb, 4);
  const uint32_t l = (a & 0xFFFF) | (b << 16), h = (a >> 16) | (b & 0xFFFF0000u);
  const __m256i b4 = _mm256_set1_epi8(0x10);
  *lo = _mm256_and_si256(ty_bits32((const uint8_t *)&l), b4);
  *hi = _mm256_and_si256(ty_bits32((const uint8_t *)&h), b4);
}


/* Expands a loop over block pairs: scales of 8 blocks at a time by gather,
   then the leftover blocks with scalar scales (a lone last block is paired
   with itself and its copy gets scale 0). PAIR(a, b) yields the int32 sums;
   SCALE(v, i) spreads the scales of pair i of v = (d, _, d', _, ...) over
   PAIR's lanes; MIN(i) is block i's m*s term, or 0 (HAS_MIN then 0). */
#define Q32_DOT_LOOP(XT, YT, PAIR, SCALE, HAS_MIN, MIN)                                                   \
  const XT *x = vx;                                                                           \
  const YT *y = vy;                                                                           \
  const int nb = n / TY_QK;                                                                   \
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps();  \
  int ib = 0;                                                                                 \
  for (; ib + 8 <= nb; ib += 8) {                                                             \
    __m256 xl, xh, yl, yh;                                                                    \
    ty_prefetch_ahead(x + ib, 8 * sizeof(XT));                                                \
    q32_scales8(x + ib, (int)sizeof(XT), &xl, &xh);                                           \
    q32_scales8(y + ib, (int)sizeof(YT), &yl, &yh);                                           \
    const __m256 pl = _mm256_mul_ps(xl, yl), ph = _mm256_mul_ps(xh, yh);                      \
    if (HAS_MIN) accm = _mm256_add_ps(accm, _mm256_add_ps(pl, ph));                           \
    acc0 = _mm256_fmadd_ps(SCALE(pl, 0), _mm256_cvtepi32_ps(PAIR(ib, ib + 1)), acc0); \
    acc1 = _mm256_fmadd_ps(SCALE(pl, 2), _mm256_cvtepi32_ps(PAIR(ib + 2, ib + 3)), acc1); \
    acc0 = _mm256_fmadd_ps(SCALE(ph, 0), _mm256_cvtepi32_ps(PAIR(ib + 4, ib + 5)), acc0); \
    acc1 = _mm256_fmadd_ps(SCALE(ph, 2), _mm256_cvtepi32_ps(PAIR(ib + 6, ib + 7)), acc1); \
  }                                                                                           \
  float summs = 0;                                                                            \
  for (; ib < nb; ib += 2) {                                                                  \
    const int jb = ib + 1 < nb ? ib + 1 : ib;                                                 \
    const float da = _cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d);                                 \
    const float db = jb != ib ? _cvtsh_ss(x[jb].d) * _cvtsh_ss(y[jb].d) : 0.0f;              \
    if (HAS_MIN) summs += MIN(ib) + (jb != ib ? MIN(jb) : 0.0f);                              \
    const __m256 sc = SCALE(_mm256_setr_ps(da, 0, db, 0, 0, 0, 0, 0), 0);                     \
    acc0 = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(PAIR(ib, jb)), acc0);                       \
  }                                                                                           \
  if (HAS_MIN) {                                                                              \
    const __m256 odd = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, 0, -1, 0, -1, 0, -1));    \
    summs += ty_hsum_f32_8(_mm256_and_ps(accm, odd));                                         \
  }                                                                                           \
  *s = ty_hsum_f32_8(_mm256_add_ps(acc0, acc1)) + summs;

#define Q32_MIN(i) (_cvtsh_ss(x[i].m) * _cvtsh_ss(y[i].s))
#define Q32_NO_MIN(i) 0.0f


static void q32_vec_dot_q4_0(int n, float *s, const void *vx, const void *vy) {
  const __m256i m4 = _mm256_set1_epi8(0xF), k8 = _mm256_set1_epi8(8);
#define PAIR(a, b) __extension__({                                                           \
    const __m256i qx = q32_load2(x[a].qs, x[b].qs);                                          \
    q32_dot_off(_mm256_and_si256(qx, m4), q32_load2(y[a].qs, y[b].qs),                       \
                _mm256_and_si256(_mm256_srli_epi16(qx, 4), m4), q32_load2(y[a].qs + 16, y[b].qs + 16), k8); })
  Q32_DOT_LOOP(ty_block_q4_0, ty_block_q8_0, PAIR, q32_pair_scale, 0, Q32_NO_MIN)
#undef PAIR
}


static void q32_vec_dot_q5_0(int n, float *s, const void *vx, const void *vy) {
  const __m256i m4 = _mm256_set1_epi8(0xF), k16 = _mm256_set1_epi8(16);
#define PAIR(a, b) __extension__({                                                           \
    const __m256i qx = q32_load2(x[a].qs, x[b].qs);                                          \
    __m256i bl, bh;                                                                          \
    q32_high_bits(x[a].qh, x[b].qh, &bl, &bh);                                               \
    q32_dot_off(_mm256_or_si256(_mm256_and_si256(qx, m4), bl), q32_load2(y[a].qs, y[b].qs),  \
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qx, 4), m4), bh),         \
                q32_load2(y[a].qs + 16, y[b].qs + 16), k16); })
  Q32_DOT_LOOP(ty_block_q5_0, ty_block_q8_0, PAIR, q32_pair_scale, 0, Q32_NO_MIN)
#undef PAIR
}


static void q32_vec_dot_q5_1(int n, float *s, const void *vx, const void *vy) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
#define PAIR(a, b) __extension__({                                                           \
    const __m256i qx = q32_load2(x[a].qs, x[b].qs);                                          \
    __m256i bl, bh;                                                                          \
    q32_high_bits(x[a].qh, x[b].qh, &bl, &bh);                                               \
    q32_dot_u(_mm256_or_si256(_mm256_and_si256(qx, m4), bl), q32_load2(y[a].qs, y[b].qs),    \
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qx, 4), m4), bh),           \
              q32_load2(y[a].qs + 16, y[b].qs + 16)); })
  Q32_DOT_LOOP(ty_block_q5_1, ty_block_q8_1, PAIR, q32_pair_scale, 1, Q32_MIN)
#undef PAIR
}


/* q8_0 x q8_0: both signed, so x's sign moves onto y; the two blocks' 8
   lane sums are folded with one hadd into [A A B B | A A B B]. */
static inline __m256i q8_block(const int8_t *xq, const int8_t *yq) {
  const __m256i qx = _mm256_loadu_si256((const __m256i *)xq), qy = _mm256_loadu_si256((const __m256i *)yq);
  return ty_dot_us8(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
}


/* Broadcasts lane 2i of v to lanes 0,1,4,5 and lane 2i+2 to 2,3,6,7. */
static inline __m256 q8_pair_scale(__m256 v, int i) {
  return _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(2 * i, 2 * i, 2 * i + 2, 2 * i + 2, 2 * i, 2 * i, 2 * i + 2, 2 * i + 2));
}


#undef Q32_MIN
#undef Q32_NO_MIN
#undef Q32_DOT_LOOP

#endif
