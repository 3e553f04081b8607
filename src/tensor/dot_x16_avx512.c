/*
 * dot_x16_avx512.c: products over q4_1, q5_0 and q8_0 rows repacked in
 * groups of 16 (repack.c); a pass over the weights serves one token from two
 * groups or two tokens from one.
 *
 * Each (row, token) sum is computed exactly as llama.cpp's x86 vec_dot does
 * it (dot_ggml_x86.h): per block, the integer sum of 4 byte products in each
 * of 8 lanes, times the product of the two scales, fma'd into the lane; at
 * the end ggml's horizontal sum of the 8 lanes, plus for q4_1 the min terms
 * fma'd block by block. Only the grouping differs: register k holds lane k
 * of 16 rows, so a block is 8 vpdpbusd against the token's lane k quants
 * broadcast, 8 conversions and 8 fma with the 16 rows' scales times the
 * token's, and ggml's horizontal sum becomes 7 vertical adds over the lane
 * registers, giving 16 rows' sums in one vector. What each token needs per
 * block beyond its quants (its scale as a float, the lane sums the signed
 * formats start from) is derived once per row of activations
 * (ty_x16_act), not once per group.
 *
 * q5_0 follows the same order (llama.cpp's x86 q5_0 dot is its q8_0 dot with
 * the quants unpacked first). A batch of 8 or more tokens over a q5_0 or
 * q8_0 weight takes the byte-dot product (gemm.c), each group converted to
 * its i8 form here (X16_TO_I8); q4_1, which has none, runs here 2 tokens a
 * pass.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "dot_x16_x86.h"


/* Lane k's 4 quants of a token's block, in every 32-bit element. */
TY_INLINE __m512i lane_of(const int8_t *qs, int k) { return _mm512_set1_epi32(lane_word(qs, k)); }


/* The 16 rows' sums. */
TY_INLINE __m512 lane_sum(const __m512 *acc) { return TY_X16_LANE_SUM(_mm512_add_ps, acc); }


/* The 16 rows' lanes k and k + 4 from their 64 packed bytes at q: the low
   nibbles, then the high. */
TY_INLINE void nibble_lanes(const uint8_t *q, __m512i *lo, __m512i *hi) {
  const __m512i m = _mm512_set1_epi8(0x0F), v = _mm512_loadu_si512((const void *)q);
  *lo = _mm512_and_si512(v, m);
  *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
}


/* A pass computes nw x nt (group, token) pairs, at most 2: two tokens over one
   group, or one token over two groups far apart (x[0], x[1]): two weight
   streams keep more of memory's reads in flight than one (1 GB of q4_1 from
   DRAM, 1 thread: 7.0-8.6 -> 7.5-10.2 GB/s). Pair (w, t) goes to s[w][t * ss]. */
TY_INLINE void x16_q4_1(int n, const int nw, const int nt, const void *const *x,
                        const void *vy, size_t ys, float *const *s, size_t ss) {
  const int nb = n / TY_QK;
  const ty_x16_act_block *a[2];
  __m512 acc[2][8], summ[2];
  for (int t = 0; t < nt; t++) a[t] = act_of(vy, ys, t, nb, sizeof(ty_block_q8_1));
  for (int p = 0; p < nw * nt; p++) {
    summ[p] = _mm512_setzero_ps();
    for (int k = 0; k < 8; k++) acc[p][k] = _mm512_setzero_ps();
  }
  for (int ib = 0; ib < nb; ib++) {
    for (int w = 0; w < nw; w++) {
      const ty_x16_q4_1 *g = (const ty_x16_q4_1 *)x[w] + ib;
      const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g->d));
      const __m512 m = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g->m));
      ty_prefetch_ahead(g, sizeof *g);
      __m512 sc[2];
      for (int t = 0; t < nt; t++) {
        sc[t] = _mm512_mul_ps(d, _mm512_set1_ps(a[t][ib].d));
        summ[w + t] = _mm512_fmadd_ps(m, _mm512_set1_ps(a[t][ib].s), summ[w + t]);
      }
#pragma GCC unroll 4
      for (int k = 0; k < 4; k++) {
        __m512i lo, hi;
        nibble_lanes(g->qs[k], &lo, &hi);
        for (int t = 0; t < nt; t++) {
          const int8_t *q = ((const ty_block_q8_1 *)((const char *)vy + t * ys) + ib)->qs;
          const __m512i dl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, lane_of(q, k));
          const __m512i dh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, lane_of(q, k + 4));
          acc[w + t][k] = _mm512_fmadd_ps(sc[t], _mm512_cvtepi32_ps(dl), acc[w + t][k]);
          acc[w + t][k + 4] = _mm512_fmadd_ps(sc[t], _mm512_cvtepi32_ps(dh), acc[w + t][k + 4]);
        }
      }
    }
  }
  for (int w = 0; w < nw; w++)
    for (int t = 0; t < nt; t++)
      _mm512_storeu_ps(s[w] + t * ss, _mm512_add_ps(lane_sum(acc[w + t]), summ[w + t]));
}


/* q8_0 and q5_0, whose quants are signed: a group stores them as x + bias
   (unsigned), so each lane's byte products come out bias times the sum of
   its 4 activation quants too large; the sum starts at minus that (START,
   from the derived block) and ends as the exact sum of x * y. UNPACK(block,
   k) gives lane k of the 16 rows. */
#define X16_SIGNED(name, XT, UNPACK, START) \
TY_INLINE void name(int n, const int nw, const int nt, const void *const *x, const void *vy, \
                    size_t ys, float *const *s, size_t ss) { \
  const int nb = n / TY_QK; \
  const ty_x16_act_block *a[2]; \
  __m512 acc[2][8]; \
  for (int t = 0; t < nt; t++) a[t] = act_of(vy, ys, t, nb, sizeof(ty_block_q8_0)); \
  for (int p = 0; p < nw * nt; p++) \
    for (int k = 0; k < 8; k++) acc[p][k] = _mm512_setzero_ps(); \
  for (int ib = 0; ib < nb; ib++) { \
    for (int v = 0; v < nw; v++) { \
      const XT *g = (const XT *)x[v] + ib; \
      const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g->d)); \
      ty_prefetch_ahead(g, sizeof *g); \
      __m512 sc[2]; \
      for (int t = 0; t < nt; t++) sc[t] = _mm512_mul_ps(d, _mm512_set1_ps(a[t][ib].d)); \
      _Pragma("GCC unroll 8") \
      for (int k = 0; k < 8; k++) { \
        const __m512i w = UNPACK(g, k); \
        for (int t = 0; t < nt; t++) { \
          const int8_t *q = ((const ty_block_q8_0 *)((const char *)vy + t * ys) + ib)->qs; \
          const __m512i dot = _mm512_dpbusd_epi32(_mm512_set1_epi32(a[t][ib].START[k]), w, \
                                                  lane_of(q, k)); \
          acc[v + t][k] = _mm512_fmadd_ps(sc[t], _mm512_cvtepi32_ps(dot), acc[v + t][k]); \
        } \
      } \
    } \
  } \
  for (int v = 0; v < nw; v++) \
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(s[v] + t * ss, lane_sum(acc[v + t])); \
}

TY_INLINE __m512i unpack_q8_0(const ty_x16_q8_0 *b, int k) {
  return _mm512_loadu_si512((const void *)b->qs[k]);
}

/* The low 4 bits as q4_1's, plus 16 where the fifth bit is set: x + 16. */
TY_INLINE __m512i unpack_q5_0(const ty_x16_q5_0 *b, int k) {
  const __m512i v = _mm512_loadu_si512((const void *)b->qs[k % 4]);
  const __m512i u = _mm512_and_si512(k < 4 ? v : _mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F));
  return _mm512_mask_add_epi8(u, (__mmask64)b->qh[k], u, _mm512_set1_epi8(16));
}

X16_SIGNED(x16_q8_0, ty_x16_q8_0, unpack_q8_0, m128)
X16_SIGNED(x16_q5_0, ty_x16_q5_0, unpack_q5_0, m16)


void ty_x16_act_q8_0_avx512(void *row, int64_t n) { x16_act(row, n, sizeof(ty_block_q8_0), 2, 0); }
void ty_x16_act_q8_1_avx512(void *row, int64_t n) { x16_act(row, n, sizeof(ty_block_q8_1), 4, 1); }


/* Writes 16 rows of 8 dwords, row r's at out + r * stride: dword r of a[k]
   is row r's k-th. The classic transpose: dwords, then pairs of them,
   interleaved within 128-bit lanes, after which 128-bit lane j of u[m]
   (v[m]) holds row 4j + m's first (last) 4 dwords. */
TY_INLINE void store_transposed(const __m512i a[8], char *out, size_t stride) {
  __m512i t[8], u[4], v[4];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]);
  }
  for (int h = 0; h < 2; h++) {
    __m512i *w = h ? v : u;
    const __m512i *p = t + 4 * h;
    w[0] = _mm512_unpacklo_epi64(p[0], p[2]);
    w[1] = _mm512_unpackhi_epi64(p[0], p[2]);
    w[2] = _mm512_unpacklo_epi64(p[1], p[3]);
    w[3] = _mm512_unpackhi_epi64(p[1], p[3]);
  }
#define ROWS_OF_LANE(j) \
  for (int m = 0; m < 4; m++) { \
    char *row = out + (size_t)(4 * (j) + m) * stride; \
    _mm_storeu_si128((__m128i *)row, _mm512_extracti32x4_epi32(u[m], j)); \
    _mm_storeu_si128((__m128i *)(row + 16), _mm512_extracti32x4_epi32(v[m], j)); \
  }
  ROWS_OF_LANE(0) ROWS_OF_LANE(1) ROWS_OF_LANE(2) ROWS_OF_LANE(3)
#undef ROWS_OF_LANE
}


/* A group of signed quants to the i8 form (gemm.c), as ty_i8_weight would
   write each rebuilt row: the quants, the block scale over its 8 lanes, and
   the lane sums' start (ty_i8_lane_init). */
#define X16_TO_I8(name, XT, UNPACK, BIAS) \
void name(const void *vx, void *out, size_t ws, int64_t n) { \
  const XT *g = vx; \
  const __m512i bias = _mm512_set1_epi8(BIAS); \
  for (int64_t ib = 0; ib < n / TY_QK; ib++) { \
    __m512i w[8], init[8]; \
    float d[16]; \
    for (int k = 0; k < 8; k++) { \
      w[k] = _mm512_sub_epi8(UNPACK(&g[ib], k), bias); \
      init[k] = ty_i8_lane_init(w[k]); \
    } \
    store_transposed(w, (char *)out + ib * TY_QK, ws); \
    store_transposed(init, (char *)out + n + (size_t)n + ib * 32, ws); \
    _mm512_storeu_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g[ib].d))); \
    for (int r = 0; r < TY_X16; r++) \
      _mm256_storeu_ps((float *)((char *)out + (size_t)r * ws + n) + ib * 8, _mm256_set1_ps(d[r])); \
  } \
}

X16_TO_I8(ty_x16_to_i8_q5_0_avx512, ty_x16_q5_0, unpack_q5_0, 16)
X16_TO_I8(ty_x16_to_i8_q8_0_avx512, ty_x16_q8_0, unpack_q8_0, (char)0x80)


/* One token: groups g and g + ng/2 together, two streams (the odd one out
   alone). Several: groups one by one, tokens in passes of 2, then the one
   left. `after` goes unused: each stream asks TY_AHEAD on as it goes. */
#define X16_DRIVER(name, kernel, XT) \
  void name(int n, int ng, int nt, const void *x, const void *y, size_t ys, float *s, \
            size_t ss, const void *after) { \
    const size_t group = (size_t)(n / TY_QK) * sizeof(XT); \
    (void)after; \
    if (nt == 1) { \
      const int h = ng / 2; \
      for (int gi = 0; gi < h; gi++) { \
        const void *const xs[2] = { (const char *)x + gi * group, \
                                    (const char *)x + (gi + h) * group }; \
        float *const ss2[2] = { s + gi * TY_X16, s + (gi + h) * TY_X16 }; \
        kernel(n, 2, 1, xs, y, ys, ss2, ss); \
      } \
      if (ng % 2) { \
        const void *const xs[1] = { (const char *)x + (ng - 1) * group }; \
        float *const s1[1] = { s + (ng - 1) * TY_X16 }; \
        kernel(n, 1, 1, xs, y, ys, s1, ss); \
      } \
      return; \
    } \
    for (int gi = 0; gi < ng; gi++) { \
      const void *const xs[1] = { (const char *)x + gi * group }; \
      int t = 0; \
      for (; t + 2 <= nt; t += 2) { \
        float *const st[1] = { s + gi * TY_X16 + t * ss }; \
        kernel(n, 1, 2, xs, (const char *)y + t * ys, ys, st, ss); \
      } \
      if (t < nt) { \
        float *const st[1] = { s + gi * TY_X16 + t * ss }; \
        kernel(n, 1, 1, xs, (const char *)y + t * ys, ys, st, ss); \
      } \
    } \
  }

X16_DRIVER(ty_dot_x16_q4_1_avx512, x16_q4_1, ty_x16_q4_1)
X16_DRIVER(ty_dot_x16_q8_0_avx512, x16_q8_0, ty_x16_q8_0)
X16_DRIVER(ty_dot_x16_q5_0_avx512, x16_q5_0, ty_x16_q5_0)

#endif
