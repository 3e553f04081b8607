/*
 * dot_x8_avx512.c: products over q4_1, q5_0 and q8_0 rows repacked in groups
 * of 8 (repack.c), for 1 to 4 tokens per pass over the weights.
 *
 * Each (row, token) sum is computed exactly as llama.cpp's x86 vec_dot does
 * it (dot_ggml_x86.h): per block, the integer sum of 4 byte products in each
 * of 8 lanes, times the product of the two scales, fma'd into 8 lanes; at the
 * end ggml's horizontal sum, plus for q4_1 the min terms fma'd block by block.
 * Only the grouping differs: a 512-bit register holds two rows' 8 lanes, the
 * scales of 8 rows are converted as one vector, and a pass serves up to 4
 * tokens, so the weights are unpacked once per block instead of once per row
 * and token. The same floats, about three times fewer instructions.
 *
 * q5_0 follows the same order (llama.cpp's x86 q5_0 dot is its q8_0 dot with
 * the quants unpacked first); tycho's own row-by-row q5_0 dot (dot_q32_x86.h)
 * sums two blocks per register, so a repacked q5_0 weight gives llama.cpp's
 * order rather than that dot's. A batch of 8 or more tokens over a q5_0 or
 * q8_0 weight takes the byte-dot product (gemm.c), each group converted to
 * its i8 form here (X8_TO_I8); q4_1, which has none, runs here 4 tokens a
 * pass.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "quants.h"
#include "simd_x86.h"

#define TY_INLINE static inline __attribute__((always_inline))

/* Broadcasts lane 2p of 8 floats to the low 8 lanes and lane 2p + 1 to the
   high 8: the scales of pair p's two rows. */
TY_INLINE __m512 pair_lanes(__m256 v, int p) {
  const __m512i idx = _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                                       2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p, 2 * p, 2 * p,
                                       2 * p, 2 * p, 2 * p, 2 * p, 2 * p);
  return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(v));
}


/* The 64 nibbles of a pair's 32 bytes as bytes: the low nibbles (the first
   row) in the low half, the high ones in the high half; one broadcast load,
   one shift of the high half, one mask. */
TY_INLINE __m512i pair_nibbles(const uint8_t *q) {
  const __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
  return _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)),
                          _mm512_set1_epi8(0x0F));
}


/* Pair p's scale products dx * dy for token t: one token multiplies the 8
   rows' scales once and spreads the products (dp NULL); several spread the
   scales once per block (dp) and multiply per token. Either way each lane
   holds the float dx * dy. */
TY_INLINE __m512 pair_scale(const __m512 *dp, __m256 d8, float dy, int p) {
  if (dp == NULL) return pair_lanes(_mm256_mul_ps(d8, _mm256_set1_ps(dy)), p);
  return _mm512_mul_ps(dp[p], _mm512_set1_ps(dy));
}


/* s[t * ss + 2p + h] = ggml's horizontal sum of half h of acc[p][t], plus
   the row's min term (q4_1) */
TY_INLINE void store_sums(int nt, __m512 acc[4][4], const __m256 *summ, float *s, size_t ss) {
  for (int t = 0; t < nt; t++) {
    float m[8] = { 0 };
    if (summ != NULL) _mm256_storeu_ps(m, summ[t]);
    for (int p = 0; p < 4; p++) {
      s[t * ss + 2 * p] = ty_hsum_f32_8(_mm512_castps512_ps256(acc[p][t])) + m[2 * p];
      s[t * ss + 2 * p + 1] = ty_hsum_f32_8(_mm512_extractf32x8_ps(acc[p][t], 1)) + m[2 * p + 1];
    }
  }
}


TY_INLINE void x8_q4_1(int n, const int nt, const void *vx, const void *vy, size_t ys, float *s,
                       size_t ss) {
  const ty_x8_q4_1 *g = vx;
  __m512 acc[4][4];
  __m256 summ[4];
#pragma GCC unroll 4
  for (int t = 0; t < nt; t++) {
    summ[t] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) acc[p][t] = _mm512_setzero_ps();
  }
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g[ib].d));
    const __m256 m8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g[ib].m));
    ty_prefetch_ahead(&g[ib], sizeof *g);
    __m512i w[4];
    __m512 d[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
      w[p] = pair_nibbles(g[ib].qs[p]);
      if (nt > 1) d[p] = pair_lanes(d8, p);
    }
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
      const ty_block_q8_1 *y = (const ty_block_q8_1 *)((const char *)vy + t * ys) + ib;
      const __m512i qy = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)y->qs));
      const float dy = _cvtsh_ss(y->d);
      summ[t] = _mm256_fmadd_ps(m8, _mm256_set1_ps(_cvtsh_ss(y->s)), summ[t]);
#pragma GCC unroll 4
      for (int p = 0; p < 4; p++) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[p], qy);
        acc[p][t] = _mm512_fmadd_ps(pair_scale(nt > 1 ? d : NULL, d8, dy, p),
                                    _mm512_cvtepi32_ps(dot), acc[p][t]);
      }
    }
  }
  store_sums(nt, acc, summ, s, ss);
}


/* q8_0 and q5_0, whose quants are signed: a group stores them as x + bias
   (unsigned), so each lane's byte products come out bias times the sum of
   its 4 activation bytes too large; the sum starts at minus that and ends as
   the exact sum of x * y. UNPACK(block, p) gives pair p's 64 stored bytes. */
#define X8_SIGNED(name, XT, UNPACK, BIAS) \
TY_INLINE void name(int n, const int nt, const void *vx, const void *vy, size_t ys, float *s, \
                    size_t ss) { \
  const XT *g = vx; \
  const __m512i bias = _mm512_set1_epi8(BIAS); \
  __m512 acc[4][4]; \
  _Pragma("GCC unroll 4") \
  for (int t = 0; t < nt; t++) \
    _Pragma("GCC unroll 4") \
    for (int p = 0; p < 4; p++) acc[p][t] = _mm512_setzero_ps(); \
  for (int ib = 0; ib < n / TY_QK; ib++) { \
    const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g[ib].d)); \
    __m512 d[4]; \
    __m512i w[4]; \
    ty_prefetch_ahead(&g[ib], sizeof *g); \
    _Pragma("GCC unroll 4") \
    for (int p = 0; p < 4; p++) { \
      if (nt > 1) d[p] = pair_lanes(d8, p); \
      w[p] = UNPACK(&g[ib], p); \
    } \
    _Pragma("GCC unroll 4") \
    for (int t = 0; t < nt; t++) { \
      const ty_block_q8_0 *y = (const ty_block_q8_0 *)((const char *)vy + t * ys) + ib; \
      const __m512i qy = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)y->qs)); \
      const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), \
                                             _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, qy)); \
      const float dy = _cvtsh_ss(y->d); \
      _Pragma("GCC unroll 4") \
      for (int p = 0; p < 4; p++) { \
        const __m512i dot = _mm512_dpbusd_epi32(start, w[p], qy); \
        acc[p][t] = _mm512_fmadd_ps(pair_scale(nt > 1 ? d : NULL, d8, dy, p), \
                                    _mm512_cvtepi32_ps(dot), acc[p][t]); \
      } \
    } \
  } \
  store_sums(nt, acc, NULL, s, ss); \
}

TY_INLINE __m512i unpack_q8_0(const ty_x8_q8_0 *b, int p) {
  return _mm512_loadu_si512((const void *)b->qs[p]);
}

/* The low 4 bits as q4_1's, plus 16 where the fifth bit is set: x + 16. */
TY_INLINE __m512i unpack_q5_0(const ty_x8_q5_0 *b, int p) {
  const __m512i u = pair_nibbles(b->qs[p]);
  return _mm512_mask_add_epi8(u, (__mmask64)b->qh[p], u, _mm512_set1_epi8(16));
}

X8_SIGNED(x8_q8_0, ty_x8_q8_0, unpack_q8_0, (char)0x80)
X8_SIGNED(x8_q5_0, ty_x8_q5_0, unpack_q5_0, 16)


/* A group of signed quants to the i8 form (gemm.c), as ty_i8_weight would
   write each rebuilt row: the quants, the block scale over its 8 lanes, and
   the lane sums' start (ty_i8_lane_init). */
#define X8_TO_I8(name, XT, UNPACK, BIAS) \
void name(const void *vx, void *out, size_t ws, int64_t n) { \
  const XT *g = vx; \
  const __m512i bias = _mm512_set1_epi8(BIAS); \
  for (int64_t ib = 0; ib < n / TY_QK; ib++) { \
    const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g[ib].d)); \
    for (int p = 0; p < 4; p++) { \
      const __m512i w = _mm512_sub_epi8(UNPACK(&g[ib], p), bias); \
      const __m512i init = ty_i8_lane_init(w); \
      const __m512 sc = pair_lanes(d8, p); \
      for (int h = 0; h < 2; h++) { \
        int8_t *row = (int8_t *)out + (size_t)(2 * p + h) * ws; \
        float *scr = (float *)(row + n); \
        int32_t *initr = (int32_t *)(scr + n / 4); \
        _mm256_storeu_si256((__m256i *)(row + ib * TY_QK), \
                            h ? _mm512_extracti64x4_epi64(w, 1) : _mm512_castsi512_si256(w)); \
        _mm256_storeu_ps(scr + ib * 8, h ? _mm512_extractf32x8_ps(sc, 1) : _mm512_castps512_ps256(sc)); \
        _mm256_storeu_si256((__m256i *)(initr + ib * 8), h ? _mm512_extracti64x4_epi64(init, 1) \
                                                            : _mm512_castsi512_si256(init)); \
      } \
    } \
  } \
}

X8_TO_I8(ty_x8_to_i8_q5_0_avx512, ty_x8_q5_0, unpack_q5_0, 16)
X8_TO_I8(ty_x8_to_i8_q8_0_avx512, ty_x8_q8_0, unpack_q8_0, (char)0x80)


/* Tokens in passes of 4, then the 1 to 3 left. */
#define X8_DRIVER(name, kernel) \
  void name(int n, int nt, const void *x, const void *y, size_t ys, float *s, size_t ss) { \
    for (; nt >= 4; nt -= 4, y = (const char *)y + 4 * ys, s += 4 * ss) \
      kernel(n, 4, x, y, ys, s, ss); \
    if (nt == 3) kernel(n, 3, x, y, ys, s, ss); \
    else if (nt == 2) kernel(n, 2, x, y, ys, s, ss); \
    else if (nt == 1) kernel(n, 1, x, y, ys, s, ss); \
  }

X8_DRIVER(ty_dot_x8_q4_1_avx512, x8_q4_1)
X8_DRIVER(ty_dot_x8_q8_0_avx512, x8_q8_0)
X8_DRIVER(ty_dot_x8_q5_0_avx512, x8_q5_0)

#endif
