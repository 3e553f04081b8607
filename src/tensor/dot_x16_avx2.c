/*
 * dot_x16_avx2.c: the products over q4_1, q5_0 and q8_0 rows repacked in groups
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
 * q5_0's group product keeps its row dot's order instead (below).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stddef.h>

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


/* q5_0 keeps the order of its row dot at this level (dot_q32_x86.h), by
   which Gemma 3's tokens match llama.cpp's where llama.cpp's own AVX2 order
   did not (docs/correctness.md): per row, block b's 4 integer lane sums
   S_j (j < 4: elements 4j..4j+3 and 16+4j..16+4j+3, less 16 each) times
   dx * dy are fma'd into one of 4 chains of 4 lanes. In a whole run of 8
   blocks the chain is b mod 4; in the pairs after the last such run, b's
   place in its pair (a lone last block's partner has scale 0, which adds
   +0 to a chain that never holds -0: nothing). The row's sum is
   ty_hsum_f32_8 of (chain 0 | chain 1) + (chain 2 | chain 3).

   Here register lane r is row r of a half, so a chain's lane j for 8 rows
   is one register, and a pass over the blocks takes one j (the 4 chains of
   both halves live): S_j of 8 rows is lane j's quants (low nibbles) and
   lane j + 4's (high), with their fifth bits from the masks, two byte dots
   against the token's lanes j and j + 4, and the derived blocks' -16 sums.
   Every float is the row dot's: the same products of exact integers and
   scales, fma'd into the same chains in the same order (test_repack writes
   the order out in scalar C). The row dot was compute-bound, with gathers
   for its scales: 2.0-2.6 bytes a cycle from L2 (Gemma 3's 640-wide rows,
   one thread), 5.7-6.3 here; a Gemma 3 270M layer's gate/up product took
   530-541k cycles, 295-341k here (2 threads). */

/* Rows 8h..8h+7's fifth bits of lane k (mask k of b) as 0x10 bytes. */
TY_INLINE __m256i fifth_bits(const ty_x16_q5_0 *b, int k, int h) {
  const uint8_t *masks = (const uint8_t *)b + offsetof(ty_x16_q5_0, qh);
  return _mm256_and_si256(ty_bits32(masks + 8 * k + 4 * h), _mm256_set1_epi8(0x10));
}

/* Lanes j (lo) and j + 4 (hi) of rows 8h..8h+7 as unsigned 5-bit values,
   nibble | fifth bit << 4 (the quant plus 16). */
TY_INLINE void lanes_q5_0(const ty_x16_q5_0 *b, int h, int j, __m256i *lo, __m256i *hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs[j] + 32 * h));
  *lo = _mm256_or_si256(_mm256_and_si256(v, m4), fifth_bits(b, j, h));
  *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), fifth_bits(b, j + 4, h));
}

/* S_j of block b for rows 8h..8h+7: its lanes j and j + 4 dotted with the
   token's (yj, yj4), plus off, the token's -16 sums of both (m16[j] +
   m16[j + 4]). */
TY_INLINE __m256i lane_sums_q5_0(const ty_x16_q5_0 *b, int h, int j, __m256i yj, __m256i yj4,
                                 __m256i off) {
  __m256i lo, hi;
  lanes_q5_0(b, h, j, &lo, &hi);
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, yj), _mm256_maddubs_epi16(hi, yj4));
  return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), off);
}

/* Block ib's step of pass j for both halves: chain = fma(dx * dy, S_j, chain)
   for rows 0-7 (c0_) and 8-15 (c1_), dx * dy and the -16 sums from the
   chunk's tables (taken once for the 4 passes); each step asks for the
   lines of a quarter of a block's bytes of the next group (88 of them: two
   lines), so that the passes spread it evenly. */
#define Q5_STEP(c0_, c1_, ib)                                                                   \
  do {                                                                                          \
    const ty_x16_q5_0 *b_ = g + (ib);                                                           \
    const __m256i yj_ = lane_of(y[ib].qs, j), yj4_ = lane_of(y[ib].qs, j + 4);                  \
    const __m256i off_ = _mm256_set1_epi32(off[(ib) - c0][j]);                                  \
    if (next) {                                                                                 \
      const char *p_ = next + ((size_t)j * nb + (ib)) * (sizeof *b_ / 4);                       \
      _mm_prefetch(p_, _MM_HINT_T0);                                                            \
      _mm_prefetch(p_ + 64, _MM_HINT_T0);                                                       \
    }                                                                                           \
    c0_ = _mm256_fmadd_ps(_mm256_load_ps(dd[(ib) - c0]),                                        \
                          _mm256_cvtepi32_ps(lane_sums_q5_0(b_, 0, j, yj_, yj4_, off_)), c0_);  \
    c1_ = _mm256_fmadd_ps(_mm256_load_ps(dd[(ib) - c0] + 8),                                    \
                          _mm256_cvtepi32_ps(lane_sums_q5_0(b_, 1, j, yj_, yj4_, off_)), c1_);  \
  } while (0)

#define Q5_CHUNK 64   /* blocks a chunk's tables hold: whole runs of 8 */

/* The group's 16 rows against one token into out[0..15]: the chunk's
   tables, then for each j a pass over its blocks with the 4 chains of both
   halves in registers. */
TY_INLINE void group_q5_0(int nb, const ty_x16_q5_0 *g, const ty_block_q8_0 *y,
                          const ty_x16_act_block *a, float *out, int first, const char *next) {
  const int runs = nb & ~7;   /* blocks in whole runs of 8 */
  _Alignas(32) float dd[Q5_CHUNK][16];
  int32_t off[Q5_CHUNK][4];
  __m256 chains[4][8];        /* [j][chain + 4 * half], between chunks */
  for (int j = 0; j < 4; j++)
    for (int c = 0; c < 8; c++) chains[j][c] = _mm256_setzero_ps();
  for (int c0 = 0; c0 < nb; c0 += Q5_CHUNK) {
    const int c1 = nb - c0 < Q5_CHUNK ? nb : c0 + Q5_CHUNK;
    for (int ib = c0; ib < c1; ib++) {
      const __m256 dy = _mm256_set1_ps(a[ib].d);
      if (first) ty_prefetch_ahead(g + ib, sizeof *g);
      for (int h = 0; h < 2; h++)
        _mm256_store_ps(dd[ib - c0] + 8 * h,
                        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g[ib].d + 8 * h))), dy));
      for (int j = 0; j < 4; j++) off[ib - c0][j] = a[ib].m16[j] + a[ib].m16[j + 4];
    }
    for (int j = 0; j < 4; j++) {
      __m256 k0 = chains[j][0], k1 = chains[j][1], k2 = chains[j][2], k3 = chains[j][3];
      __m256 l0 = chains[j][4], l1 = chains[j][5], l2 = chains[j][6], l3 = chains[j][7];
      int ib = c0;
      for (; ib < c1 && ib < runs; ib += 4) {
        Q5_STEP(k0, l0, ib);
        Q5_STEP(k1, l1, ib + 1);
        Q5_STEP(k2, l2, ib + 2);
        Q5_STEP(k3, l3, ib + 3);
      }
      for (; ib + 2 <= c1; ib += 2) {
        Q5_STEP(k0, l0, ib);
        Q5_STEP(k1, l1, ib + 1);
      }
      if (ib < c1) Q5_STEP(k0, l0, ib);
      chains[j][0] = k0, chains[j][1] = k1, chains[j][2] = k2, chains[j][3] = k3;
      chains[j][4] = l0, chains[j][5] = l1, chains[j][6] = l2, chains[j][7] = l3;
    }
  }
  for (int h = 0; h < 2; h++) {
    __m256 u[4], w[4];
    for (int j = 0; j < 4; j++) {
      u[j] = _mm256_add_ps(chains[j][4 * h], chains[j][4 * h + 2]);       /* lane j of acc0 + acc1 */
      w[j] = _mm256_add_ps(chains[j][4 * h + 1], chains[j][4 * h + 3]);   /* lane 4 + j */
    }
    /* ty_hsum_f32_8 of lanes u0..u3 w0..w3 */
    _mm256_storeu_ps(out + 8 * h,
                     _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(w[0], u[0]), _mm256_add_ps(w[2], u[2])),
                                   _mm256_add_ps(_mm256_add_ps(w[1], u[1]), _mm256_add_ps(w[3], u[3]))));
  }
}
#undef Q5_STEP
#undef Q5_CHUNK

/* As X16_DRIVER, a group at a time for each token. */
void ty_dot_x16_q5_0_avx2(int n, int ng, int nt, const void *x, const void *y, size_t ys, float *s,
                          size_t ss, const void *after) {
  const int nb = n / TY_QK;
  for (int gi = 0; gi < ng; gi++) {
    const ty_x16_q5_0 *g = (const ty_x16_q5_0 *)x + (size_t)gi * nb;
    for (int t = 0; t < nt; t++)
      group_q5_0(nb, g, (const ty_block_q8_0 *)((const char *)y + t * ys),
                 act_of(y, ys, t, nb, sizeof(ty_block_q8_0)), s + gi * TY_X16 + t * ss,
                 gi == 0 && t == 0,
                 t > 0 ? NULL : gi + 1 < ng ? (const char *)(g + nb) : (const char *)after);
  }
}


/* A q5_0 group to the i8 form, as ty_i8_weight writes each rebuilt row:
   the values (nibble | fifth bit << 4) - 16, the block scale over its 8
   lanes, and the lane sums' start -128 * sum. A half's 8 lane registers
   (lane k of rows 8h..8h+7) are an 8 x 8 matrix of 4-byte words; its
   transpose is the half's rows. */
void ty_x16_to_i8_q5_0_avx2(const void *vx, void *out, size_t ws, int64_t n) {
  const ty_x16_q5_0 *g = vx;
  const __m256i k16 = _mm256_set1_epi8(16);
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    const ty_x16_q5_0 *b = g + ib;
    for (int h = 0; h < 2; h++) {
      __m256i m[8], t[8], u[8], rows[8];
      float d[8];
      _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b->d + 8 * h))));
      for (int k = 0; k < 4; k++) {
        lanes_q5_0(b, h, k, &m[k], &m[k + 4]);
        m[k] = _mm256_sub_epi8(m[k], k16);
        m[k + 4] = _mm256_sub_epi8(m[k + 4], k16);
      }
      for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_epi32(m[k], m[k + 1]);
        t[k + 1] = _mm256_unpackhi_epi32(m[k], m[k + 1]);
      }
      for (int k = 0; k < 8; k += 4)
        for (int i = 0; i < 2; i++) {
          u[k + 2 * i] = _mm256_unpacklo_epi64(t[k + i], t[k + i + 2]);
          u[k + 2 * i + 1] = _mm256_unpackhi_epi64(t[k + i], t[k + i + 2]);
        }
      for (int r = 0; r < 4; r++) {
        rows[r] = _mm256_permute2x128_si256(u[r], u[r + 4], 0x20);
        rows[r + 4] = _mm256_permute2x128_si256(u[r], u[r + 4], 0x31);
      }
      for (int r = 0; r < 8; r++) {
        char *row = (char *)out + (size_t)(8 * h + r) * ws;
        const __m256i sum = ty_dot_us8(_mm256_set1_epi8(1), rows[r]);
        _mm256_storeu_si256((__m256i *)(row + ib * TY_QK), rows[r]);
        _mm256_storeu_ps((float *)(row + n) + ib * 8, _mm256_set1_ps(d[r]));
        _mm256_storeu_si256((__m256i *)((int32_t *)(row + 2 * n) + ib * 8),
                            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 7)));
      }
    }
  }
}


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
