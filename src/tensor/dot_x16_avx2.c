/*
 * dot_x16_avx2.c: the products over q4_1 and q8_0 rows repacked in groups
 * of 16 (repack.c) for CPUs with AVX2 but no AVX-512: dot_x16_avx512.c's
 * arithmetic, 8 rows to a register. Each (row, token) sum is llama.cpp's x86
 * vec_dot exactly (dot_ggml_x86.h): per block the integer sum of 4 byte
 * products in each of 8 lanes, times the two scales' product, fma'd into the
 * lane; ggml's horizontal sum of the lanes at the end (test_repack compares
 * every sum with llama.cpp's order bit for bit). Register k holds lane k of 8
 * rows, so a block of a group's half is 8 byte dots against the token's lane
 * k broadcast, and the horizontal sum is 7 vertical adds.
 *
 * Without vpdpbusd a byte dot is vpmaddubsw then vpmaddwd against ones, the
 * very instructions of ggml's AVX2 dot. q4_1's nibbles are unsigned; q8_0's
 * quants, which the group stores as x + 128, go back to signed and lend
 * their sign to the activations (|x| * (y * sign(x)), ggml's q8_0 dot).
 *
 * A group's two halves (rows 0-7, 8-15) are two passes: 8 accumulators
 * fill half the register file. The second pass and every further token
 * read the group from L1 (a group of SmolLM2's widest row is 15 KiB), while
 * both passes ask for the next group's lines (next_share).
 * q5_0 has no AVX2 group product: its rows keep dot_q32_x86.h's order
 * (Gemma's test_model, see docs/performance.md).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "dot_x16_x86.h"


/* Lane k's 4 quants of a token's block, in every 32-bit element. */
TY_INLINE __m256i lane_of(const int8_t *qs, int k) { return _mm256_set1_epi32(lane_word(qs, k)); }


/* The 8 rows' sums. */
TY_INLINE __m256 lane_sum(const __m256 *acc) { return TY_X16_LANE_SUM(_mm256_add_ps, acc); }


/* Step k of the 2 nb a group takes (two passes over nb blocks of `size`
   bytes) asks for its share of the next group's lines, so that the next
   group arrives over both passes at an even rate. When only the first pass
   asked (TY_AHEAD on), memory sat idle through the second, which reads from
   L1: on a 2-core AMD EPYC (Zen 3) the q4_1 product over 96 MB from DRAM,
   2 threads, streamed 12.2-14.4 GB/s, under a plain read's 15.6-17.8, and
   15.2-17.3 GB/s with this; SmolLM2 decode +6.5% (faster in 9 of 10
   alternating rounds). The AVX-512 products take a group in one pass and
   keep asking TY_AHEAD on. */
TY_INLINE void next_share(const char *next, int k, size_t size) {
  const size_t lo = ((size_t)k * size / 2 + 63) & ~(size_t)63, hi = (size_t)(k + 1) * size / 2;
  for (size_t o = lo; o < hi; o += 64) _mm_prefetch(next + o, _MM_HINT_T0);
}


/* Rows 8h..8h+7 of group g against one token (quants y, derived blocks a)
   into out[0..7]. The first pass of a call's first group asks for the
   bytes TY_AHEAD on; with `next`, each step asks for its share of the next
   group (next_share). */
TY_INLINE void half_q4_1(int nb, const ty_x16_q4_1 *g, int h, const ty_block_q8_1 *y,
                         const ty_x16_act_block *a, float *out, int first, const char *next) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[8], summ = _mm256_setzero_ps();
  for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
  for (int ib = 0; ib < nb; ib++) {
    const ty_x16_q4_1 *b = g + ib;
    if (first) ty_prefetch_ahead(b, sizeof *b);
    if (next) next_share(next, h * nb + ib, sizeof *b);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b->d + 8 * h)));
    const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b->m + 8 * h)));
    const __m256 sc = _mm256_mul_ps(d, _mm256_set1_ps(a[ib].d));
    summ = _mm256_fmadd_ps(m, _mm256_set1_ps(a[ib].s), summ);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs[k] + 32 * h));
      const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      acc[k] = _mm256_fmadd_ps(sc, ty_mul_sum_us8_pairs_float(lo, lane_of(y[ib].qs, k)), acc[k]);
      acc[k + 4] = _mm256_fmadd_ps(sc, ty_mul_sum_us8_pairs_float(hi, lane_of(y[ib].qs, k + 4)), acc[k + 4]);
    }
  }
  _mm256_storeu_ps(out, _mm256_add_ps(lane_sum(acc), summ));
}


TY_INLINE void half_q8_0(int nb, const ty_x16_q8_0 *g, int h, const ty_block_q8_0 *y,
                         const ty_x16_act_block *a, float *out, int first, const char *next) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  __m256 acc[8];
  for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
  for (int ib = 0; ib < nb; ib++) {
    const ty_x16_q8_0 *b = g + ib;
    if (first) ty_prefetch_ahead(b, sizeof *b);
    if (next) next_share(next, h * nb + ib, sizeof *b);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b->d + 8 * h)));
    const __m256 sc = _mm256_mul_ps(d, _mm256_set1_ps(a[ib].d));
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
      const __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b->qs[k] + 32 * h)), flip);
      acc[k] = _mm256_fmadd_ps(sc, ty_mul_sum_i8_pairs_float(x, lane_of(y[ib].qs, k)), acc[k]);
    }
  }
  _mm256_storeu_ps(out, lane_sum(acc));
}


/* Group by group, each half for every token (token t's sums at s + t * ss);
   the last group asks for `after` as the others ask for their next. */
#define X16_DRIVER(name, half, XT, YT) \
  void name(int n, int ng, int nt, const void *x, const void *y, size_t ys, float *s, \
            size_t ss, const void *after) { \
    const int nb = n / TY_QK; \
    for (int gi = 0; gi < ng; gi++) { \
      const XT *g = (const XT *)x + (size_t)gi * nb; \
      for (int h = 0; h < 2; h++) \
        for (int t = 0; t < nt; t++) \
          half(nb, g, h, (const YT *)((const char *)y + t * ys), act_of(y, ys, t, nb, sizeof(YT)), \
               s + gi * TY_X16 + 8 * h + t * ss, gi == 0 && h == 0 && t == 0, \
               t > 0 ? NULL : gi + 1 < ng ? (const char *)(g + nb) : (const char *)after); \
    } \
  }

X16_DRIVER(ty_dot_x16_q4_1_avx2, half_q4_1, ty_x16_q4_1, ty_block_q8_1)
X16_DRIVER(ty_dot_x16_q8_0_avx2, half_q8_0, ty_x16_q8_0, ty_block_q8_0)


void ty_x16_act_q8_0_avx2(void *row, int64_t n) { x16_act(row, n, sizeof(ty_block_q8_0), 2, 0); }
void ty_x16_act_q8_1_avx2(void *row, int64_t n) { x16_act(row, n, sizeof(ty_block_q8_1), 4, 1); }


/* A q8_0 group to the i8 form (gemm.c), as ty_i8_weight writes each rebuilt
   row: row r's quants (lane k of block ib is bytes 4r..4r+3 of qs[k]), the
   block scale over its 8 lanes, and the lane sums' start -128 * sum. */
void ty_x16_to_i8_q8_0_avx2(const void *vx, void *out, size_t ws, int64_t n) {
  const ty_x16_q8_0 *g = vx;
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    float d[16];
    _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g[ib].d)));
    _mm256_storeu_ps(d + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g[ib].d + 8))));
    for (int r = 0; r < TY_X16; r++) {
      char *row = (char *)out + (size_t)r * ws;
      int8_t *w = (int8_t *)row + ib * TY_QK;
      float *sc = (float *)(row + n) + ib * 8;
      int32_t *init = (int32_t *)(row + 2 * n) + ib * 8;
      for (int k = 0; k < 8; k++) {
        int32_t sum = 0;
        for (int e = 0; e < 4; e++) {
          w[4 * k + e] = (int8_t)(g[ib].qs[k][4 * r + e] ^ 0x80);
          sum += w[4 * k + e];
        }
        sc[k] = d[r];
        init[k] = -128 * sum;
      }
    }
  }
}

#endif
