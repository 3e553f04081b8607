/*
 * simd_x86.h: small AVX2 helpers shared by dot_avx2.c and dot_avx512.c.
 * Include only from files built with -mavx2 -mfma -mf16c; where the file is
 * also built with AVX512-VNNI+VL the pair products use vpdpbusd.
 */
#ifndef TY_SIMD_X86_H
#define TY_SIMD_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* Horizontal sum of 8 floats. */
static inline float ty_hsum_f32_8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}


/* Asks for the cache lines of the `size` bytes TY_AHEAD bytes past p: a
   weight row is read as one stream, and a kernel's work between its loads
   keeps too few misses in flight for the hardware prefetcher alone (2 KiB
   ahead took the 8-row products of the time from DRAM 1.3x to 2x faster).
   Always inlined: GCC 12 finds a helper that only prefetches "const" and,
   where it was not inlined before that analysis, drops its calls as dead
   code; the 16-row products had lost every prefetch that way. */
#define TY_AHEAD 2048
static inline __attribute__((always_inline)) void ty_prefetch_ahead(const void *p, size_t size) {
  for (size_t o = 0; o < size; o += 64)
    _mm_prefetch((const char *)p + TY_AHEAD + o, _MM_HINT_T0);
}


#if defined(__AVX512VNNI__)
/* -128 times the sum of each 4 of 64 signed bytes: the lane sums that start
   the byte-dot product's i8 form (gemm.c), one vpdpbusd against ones. */
static inline __m512i ty_i8_lane_init(__m512i q) {
  const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), q);
  return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, 7));
}
#endif


/* Horizontal max of 8 floats. */
static inline float ty_hmax_f32_8(__m256 x) {
  __m128 r = _mm_max_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_max_ps(r, _mm_movehl_ps(r, r));
  r = _mm_max_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}


/* Sum of 32 signed bytes. */
static inline int ty_hsum_i8_32(__m256i q) {
  __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
  __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  t = _mm_add_epi64(t, _mm_unpackhi_epi64(t, t));
  return _mm_cvtsi128_si32(t) - 32 * 128;
}


/* 16 bytes of nibbles to 32 bytes 0..15: low nibbles first, then high. */
static inline __m256i ty_nibbles32(const uint8_t *p) {
  const __m128i t = _mm_loadu_si128((const __m128i *)p);
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(b, _mm256_set1_epi8(0xF));
}


/* 32 bits to 32 bytes of 0x00 / 0xFF. */
static inline __m256i ty_bits32(const uint8_t *p) {
  uint32_t x32;
  memcpy(&x32, p, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}


/* Unsigned x signed bytes, summed in fours, as 8 int32. */
static inline __m256i ty_dot_us8(__m256i ax, __m256i sy) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
#endif
}


static inline __m256 ty_mul_sum_us8_pairs_float(__m256i ax, __m256i sy) {
  return _mm256_cvtepi32_ps(ty_dot_us8(ax, sy));
}


/* Signed x signed bytes: move x's sign onto y, then unsigned x signed. */
static inline __m256 ty_mul_sum_i8_pairs_float(__m256i x, __m256i y) {
  return ty_mul_sum_us8_pairs_float(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}


/* Quantizes 32 floats as llama.cpp's x86 quantize_row_q8_0/q8_1 do (and
   ty_quant_q8_0_x86): id = 127/amax, rounded half to even. Inlined and
   unrolled: GCC 12 had called it and kept v and q on the stack, and a
   decode step quantizes each product's activations serially (576 floats
   to q8_1: 808 -> 539-563 cycles). */
static inline __attribute__((always_inline)) __m256i ty_quant32_even(const float *x, float *d_out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
#pragma GCC unroll 4
  for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
  __m256 amax = _mm256_andnot_ps(sign, v[0]);
#pragma GCC unroll 4
  for (int k = 1; k < 4; k++) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
  const float m = ty_hmax_f32_8(amax);
  const __m256 mul = _mm256_set1_ps(m != 0.0f ? 127.f / m : 0.0f);
  __m256i q[4];
#pragma GCC unroll 4
  for (int k = 0; k < 4; k++)
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], mul),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __m256i a = _mm256_packs_epi32(q[0], q[1]);
  const __m256i b = _mm256_packs_epi32(q[2], q[3]);
  *d_out = m / 127.f;
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}


/* Unpacks q4_K/q5_K scales: utmp[0..1] 8 scales, utmp[2..3] 8 mins. */
static inline void ty_k4_unpack(const uint8_t *packed, uint32_t utmp[4]) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
}


/* Shuffle masks that broadcast one scale over a register, from tables so
   that each is a single load in the unrolled loops. */
static inline __m256i ty_scale_shuffle_k4(int i) {
  /* int16 scale i of 8, in both 128-bit lanes */
  static const uint8_t k[8][32] = {
#define R(a) { a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, \
               a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1 }
    R(0), R(2), R(4), R(6), R(8), R(10), R(12), R(14)
#undef R
  };
  return _mm256_loadu_si256((const __m256i *)k[i]);
}


static inline __m256i ty_scale_shuffle_q3k(int i) {
  /* int16 scales 2i (low 128 bits) and 2i+1 (high 128 bits) */
  static const uint8_t k[4][32] = {
#define R(a) { a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, \
               a + 2, a + 3, a + 2, a + 3, a + 2, a + 3, a + 2, a + 3, a + 2, a + 3, a + 2, a + 3, a + 2, a + 3, a + 2, a + 3 }
    R(0), R(4), R(8), R(12)
#undef R
  };
  return _mm256_loadu_si256((const __m256i *)k[i]);
}


static inline __m128i ty_scale_shuffle_q6k(int i) {
  /* int8 scales 2i (first 8 bytes) and 2i+1 (next 8) */
  static const uint8_t k[8][16] = {
#define R(a) { a, a, a, a, a, a, a, a, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1 }
    R(0), R(2), R(4), R(6), R(8), R(10), R(12), R(14)
#undef R
  };
  return _mm_loadu_si128((const __m128i *)k[i]);
}

#endif
