/*
 * gemm_sb_x86.h: what the AVX2 and AVX-512 forms of the sb form (gemm_sb.c)
 * share, in 256-bit operations: the quants of a K super-block unpacked 64 at
 * a time, its scales and mins, and the prefetch of a tile's rows. Included
 * by gemm_sb_avx2.c and gemm_sb_avx512.c, each compiled for its own level.
 */
#ifndef TY_GEMM_SB_X86_H
#define TY_GEMM_SB_X86_H

#include <immintrin.h>

#include "quants.h"
#include "simd_x86.h"

#define TY_INLINE static inline __attribute__((always_inline))

/* The products' arrays are indexed by loop counters below compile-time
   bounds only; clang's array-bounds checks (UBSan) on the fully unrolled
   kernels took its sanitizer build minutes per file, so they are left out
   there. ASan still checks every access. */
#define SB_NO_BOUNDS_CHECK __attribute__((no_sanitize("bounds")))


/* The 16 rows are 16 streams through memory, more than the hardware
   prefetcher follows well: each row's block SB_AHEAD blocks on is asked for
   (bytes at offset of each row, within its size). */
#define SB_AHEAD 4

TY_INLINE void prefetch_rows(const void *x, size_t row_size, int nr, size_t offset, size_t size,
                             size_t bytes) {
  if (offset >= size) return;
  for (int r = 0; r < nr; r++)
    for (size_t k = 0; k < bytes; k += 64)
      _mm_prefetch((const char *)x + r * row_size + offset + k, _MM_HINT_T0);
}


/* Quants c*64 .. c*64+63 of a q4_K (qh NULL) or q5_K super-block: sub-block
   2c's 32 low nibbles in lo, 2c+1's 32 high ones in hi; q5_K adds 16 where
   bit 2c (2c + 1) of qh is set. */
TY_INLINE void q45_K_quarter(const uint8_t *qs, const uint8_t *qh, int c, __m256i *lo, __m256i *hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
  *lo = _mm256_and_si256(v, m4);
  *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  if (qh != NULL) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    const __m128i s0 = _mm_cvtsi32_si128(2 * c), s1 = _mm_cvtsi32_si128(2 * c + 1);
    *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(h, s0), one), 4));
    *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(h, s1), one), 4));
  }
}


/* Quants h*128 + c*64 .. +63 of a q6_K super-block (unsigned, 0..63), as
   two runs of 32. */
TY_INLINE void q6_K_quarter(const ty_block_q6_K *x, int h, int c, __m256i *v0, __m256i *v1) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
  const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
  const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
  const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
  if (c == 0) {     /* elements 0..31 and 32..63 of the half: low nibbles, qh bits 0-1, 2-3 */
    *v0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(q, 4), m2));
    *v1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(q, 2), m2));
  } else {          /* 64..95 and 96..127: high nibbles, qh bits 4-5, 6-7 */
    *v0 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(q, m2));
    *v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_and_si256(_mm256_srli_epi16(q, 2), m2));
  }
}


/* The 8 six-bit scales and 8 mins of a q4_K or q5_K super-block
   (ty_k4_unpack): scales in bytes 0-7, mins 8-15. */
TY_INLINE __m128i q4_K_scales(const uint8_t *s12) {
  uint32_t u[4];
  ty_k4_unpack(s12, u);
  return _mm_loadu_si128((const __m128i *)u);
}


/* A row's floats d * scale (s) and dmin * min (m), 8 sub-blocks each; zero
   for a row past nr (b NULL). b: the super-block, starting d, dmin, scales. */
TY_INLINE void q45_K_row_scales(const char *b, __m256 *s, __m256 *m) {
  if (b == NULL) {
    *s = *m = _mm256_setzero_ps();
    return;
  }
  uint16_t h[2];
  __builtin_memcpy(h, b, 4);
  const __m128i sm = q4_K_scales((const uint8_t *)b + 4);
  *s = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h[0])), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm)));
  *m = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h[1])),
                     _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
}

#endif
