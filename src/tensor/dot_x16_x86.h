/*
 * dot_x16_x86.h: what the 16-row group products of dot_x16_avx2.c and
 * dot_x16_avx512.c share: where a token's derived blocks are, a lane of its
 * quants, ggml's horizontal sum over lane registers, and the derived blocks
 * themselves (ty_x16_act), computed alike at both levels.
 */
#ifndef TY_DOT_X16_X86_H
#define TY_DOT_X16_X86_H

#include "quants.h"
#include "tensor.h"
#include "simd_x86.h"

#define TY_INLINE static inline __attribute__((always_inline))

/* Token t's derived blocks: after its quantized row of nb blocks of bs bytes. */
TY_INLINE const ty_x16_act_block *act_of(const void *y, size_t ys, int t, int nb, size_t bs) {
  return (const ty_x16_act_block *)((const char *)y + t * ys + ty_x16_act_offset(nb * bs));
}


/* Lane k's 4 quants of a token's block as one 32-bit word (to broadcast). */
TY_INLINE int32_t lane_word(const int8_t *qs, int k) {
  int32_t v;
  __builtin_memcpy(&v, qs + 4 * k, 4);
  return v;
}


/* ggml's hsum_float_8 over lanes l0..l7 is ((l4 + l0) + (l6 + l2)) +
   ((l5 + l1) + (l7 + l3)); over registers acc[0..7] with the level's add,
   it gives every row's sum at once. */
#define TY_X16_LANE_SUM(add, acc) \
  add(add(add((acc)[4], (acc)[0]), add((acc)[6], (acc)[2])), \
      add(add((acc)[5], (acc)[1]), add((acc)[7], (acc)[3])))


/* ty_x16_act's blocks, a block at a time: the 8 lane sums of 4 quants (a
   byte dot against ones, ty_dot_us8), the scales widened by F16C. In a
   decode step this is serial work before every product, and the portable
   loop took about as long as quantizing the row. */
TY_INLINE void x16_act(void *row, int64_t n, size_t bs, size_t qs, int has_s) {
  ty_x16_act_block *a = (ty_x16_act_block *)((char *)row + ty_x16_act_offset((size_t)(n / TY_QK) * bs));
  for (int64_t ib = 0; ib < n / TY_QK; ib++) {
    const uint8_t *b = (const uint8_t *)row + ib * bs;
    uint16_t d, s = 0;
    __builtin_memcpy(&d, b, 2);
    if (has_s) __builtin_memcpy(&s, b + 2, 2);
    const __m256i sum = ty_dot_us8(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)(b + qs)));
    a[ib].d = _cvtsh_ss(d);
    a[ib].s = _cvtsh_ss(s);
    _mm256_storeu_si256((__m256i *)a[ib].m16, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 4)));
    _mm256_storeu_si256((__m256i *)a[ib].m128, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 7)));
  }
}

#endif
