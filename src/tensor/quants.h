/*
 * quants.h: GGML's block layouts and the kernel entry points, internal to
 * src/tensor. Blocks are packed (alignment 1) so a row can start anywhere
 * inside a GGUF mapping; half-precision fields are read as uint16_t values.
 */
#ifndef TY_QUANTS_H
#define TY_QUANTS_H

#include <stdint.h>
#include <string.h>

#include "tensor.h"

#define TY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TY_MAX(a, b) ((a) > (b) ? (a) : (b))

#define TY_QK 32      /* elements per block of the simple formats */
#define TY_QK_K 256   /* elements per super-block of the K formats */

#define TY_PACKED __attribute__((packed))

typedef struct TY_PACKED { uint16_t d; uint8_t qs[16]; } ty_block_q4_0;
typedef struct TY_PACKED { uint16_t d, m; uint8_t qs[16]; } ty_block_q4_1;
typedef struct TY_PACKED { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } ty_block_q5_0;
typedef struct TY_PACKED { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } ty_block_q5_1;
typedef struct TY_PACKED { uint16_t d; int8_t qs[32]; } ty_block_q8_0;
typedef struct TY_PACKED { uint16_t d, s; int8_t qs[32]; } ty_block_q8_1;   /* s = d * sum(qs) */
typedef struct TY_PACKED {
  uint8_t scales[16];   /* low nibble scale, high nibble min, per 16 */
  uint8_t qs[64];
  uint16_t d, dmin;
} ty_block_q2_K;
typedef struct TY_PACKED {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];   /* 16 six-bit scales */
  uint16_t d;
} ty_block_q3_K;
typedef struct TY_PACKED {
  uint16_t d, dmin;
  uint8_t scales[12];   /* 8 six-bit scales and 8 six-bit mins */
  uint8_t qs[128];
} ty_block_q4_K;
typedef struct TY_PACKED {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
} ty_block_q5_K;
typedef struct TY_PACKED {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
} ty_block_q6_K;
typedef struct TY_PACKED {
  float d;
  int8_t qs[256];
  int16_t bsums[16];    /* sum of each 16 qs */
} ty_block_q8_K;

/* One block of a 16-row group (repack.c): the 16 rows' scales, then their
   quants lane by lane, lane k of row r at byte 4r of lane k's 64. */
typedef struct TY_PACKED { uint16_t d[16], m[16]; uint8_t qs[4][64]; } ty_x16_q4_1;
typedef struct TY_PACKED { uint16_t d[16]; uint8_t qs[8][64]; } ty_x16_q8_0;
typedef struct TY_PACKED { uint16_t d[16]; uint8_t qs[4][64]; uint64_t qh[8]; } ty_x16_q5_0;

_Static_assert(sizeof(ty_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(ty_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(ty_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(ty_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(ty_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(ty_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(ty_block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(ty_block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(ty_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(ty_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(ty_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(ty_block_q8_K) == 292, "q8_K block");
_Static_assert(sizeof(ty_x16_q4_1) == 16 * sizeof(ty_block_q4_1), "q4_1 group block");
_Static_assert(sizeof(ty_x16_q8_0) == 16 * sizeof(ty_block_q8_0), "q8_0 group block");
_Static_assert(sizeof(ty_x16_q5_0) == 16 * sizeof(ty_block_q5_0), "q5_0 group block");


/* Bit casts without aliasing trouble. */
static inline uint32_t ty_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ty_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }


/* Half to float, exact for every input (GGML's branch-free version). */
static inline float ty_h2f(uint16_t h) {
  const uint32_t w = (uint32_t)h << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = ty_u2f((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = ty_u2f((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t r = sign | (two_w < (1u << 27) ? ty_f2u(denormalized) : ty_f2u(normalized));
  return ty_u2f(r);
}


/* Float to half, round to nearest even; NaN stays NaN (quiet 0x7E00). */
static inline uint16_t ty_f2h(float f) {
  float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = ty_f2u(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = ty_u2f((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = ty_f2u(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}


/* GGML's round-half-to-even for |f| < 2^22. */
static inline int ty_nearest_int(float f) {
  const float v = f + 12582912.f;
  int i;
  memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}


/* Unpacks the 6-bit scale and min of sub-block j (0..7) of q4_K / q5_K. */
static inline void ty_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}


/* ---- scalar kernels (quants.c: plain types and 32-blocks) -------------- */
void ty_f32_to_float(const void *x, float *y, int64_t n);
void ty_f32_from_float(const float *x, void *y, int64_t n);
void ty_f16_to_float(const void *x, float *y, int64_t n);
void ty_f16_from_float(const float *x, void *y, int64_t n);
void ty_bf16_to_float(const void *x, float *y, int64_t n);
void ty_bf16_from_float(const float *x, void *y, int64_t n);
void ty_vec_dot_f32(int n, float *s, const void *x, const void *y);
void ty_vec_dot_f16(int n, float *s, const void *x, const void *y);
void ty_vec_dot_bf16(int n, float *s, const void *x, const void *y);

void ty_dequant_q4_0(const void *x, float *y, int64_t n);
void ty_dequant_q4_1(const void *x, float *y, int64_t n);
void ty_dequant_q5_0(const void *x, float *y, int64_t n);
void ty_dequant_q5_1(const void *x, float *y, int64_t n);
void ty_dequant_q8_0(const void *x, float *y, int64_t n);
void ty_dequant_q8_1(const void *x, float *y, int64_t n);
void ty_quant_q4_0(const float *x, void *y, int64_t n);
void ty_quant_q4_1(const float *x, void *y, int64_t n);
void ty_quant_q5_0(const float *x, void *y, int64_t n);
void ty_quant_q5_1(const float *x, void *y, int64_t n);
void ty_quant_q8_0(const float *x, void *y, int64_t n);
void ty_quant_q8_1(const float *x, void *y, int64_t n);
/* The activation quantizers of llama.cpp's x86 backend (see quants.c). */
void ty_quant_q8_0_x86(const float *x, void *y, int64_t n);
void ty_quant_q8_1_x86(const float *x, void *y, int64_t n);
void ty_vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q5_0_q8_0(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q5_1_q8_1(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y);

/* ---- scalar kernels (quants_k.c: 256-element super-blocks) ------------- */
void ty_dequant_q2_K(const void *x, float *y, int64_t n);
void ty_dequant_q3_K(const void *x, float *y, int64_t n);
void ty_dequant_q4_K(const void *x, float *y, int64_t n);
void ty_dequant_q5_K(const void *x, float *y, int64_t n);
void ty_dequant_q6_K(const void *x, float *y, int64_t n);
void ty_dequant_q8_K(const void *x, float *y, int64_t n);
void ty_quant_q2_K(const float *x, void *y, int64_t n);
void ty_quant_q3_K(const float *x, void *y, int64_t n);
void ty_quant_q4_K(const float *x, void *y, int64_t n);
void ty_quant_q5_K(const float *x, void *y, int64_t n);
void ty_quant_q6_K(const float *x, void *y, int64_t n);
void ty_quant_q8_K(const float *x, void *y, int64_t n);
void ty_vec_dot_q2_K_q8_K(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q3_K_q8_K(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q4_K_q8_K(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q5_K_q8_K(int n, float *s, const void *x, const void *y);
void ty_vec_dot_q6_K_q8_K(int n, float *s, const void *x, const void *y);

/* ---- SIMD levels --------------------------------------------------------
   Each fill function overwrites the entries of a traits table (indexed by
   type id) that its instruction set speeds up and leaves the rest alone, so
   a level is built as: copy the scalar table, fill avx2, then fill avx512. */
enum ty_simd_level { TY_SIMD_SCALAR = 0, TY_SIMD_AVX2 = 1, TY_SIMD_AVX512 = 2 };

void ty_quants_fill_avx2(struct ty_qtype_traits *table);     /* dot_avx2.c */
void ty_quants_fill_avx512(struct ty_qtype_traits *table);   /* dot_avx512.c */
ty_to_i8_fn ty_qtype_to_i8(int type);                         /* gemm.c; NULL if none */
void ty_dot_x16_q4_1_avx2(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                          float *s, size_t ss, const void *after);   /* dot_x16_avx2.c */
void ty_dot_x16_q8_0_avx2(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                          float *s, size_t ss, const void *after);
void ty_x16_act_q8_0_avx2(void *row, int64_t n);
void ty_x16_act_q8_1_avx2(void *row, int64_t n);
void ty_x16_to_i8_q8_0_avx2(const void *x, void *out, size_t w_stride, int64_t n);
void ty_dot_x16_q5_0_avx2(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                          float *s, size_t ss, const void *after);
void ty_x16_to_i8_q5_0_avx2(const void *x, void *out, size_t w_stride, int64_t n);
void ty_dot_x16_q4_1_avx512(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                            float *s, size_t ss, const void *after); /* dot_x16_avx512.c */
void ty_dot_x16_q5_0_avx512(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                            float *s, size_t ss, const void *after);
void ty_dot_x16_q8_0_avx512(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                            float *s, size_t ss, const void *after);
void ty_x16_act_q8_0_avx512(void *row, int64_t n);
void ty_x16_act_q8_1_avx512(void *row, int64_t n);
void ty_x16_to_i8_q5_0_avx512(const void *x, void *out, size_t w_stride, int64_t n);
void ty_x16_to_i8_q8_0_avx512(const void *x, void *out, size_t w_stride, int64_t n);
void ty_to_i8_q4_0_avx2(const void *x, int8_t *w, float *sc, int64_t n);   /* gemm_avx2.c */
void ty_to_i8_q5_0_avx2(const void *x, int8_t *w, float *sc, int64_t n);
void ty_gemm_i8_avx2(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                     size_t ys, float *out, size_t os);     /* gemm_avx2.c */
void ty_gemm_i8_avx512(int64_t n, int nr, int nt, const void *w, size_t ws, const void *y,
                       size_t ys, float *out, size_t os);   /* gemm_avx512.c */

void ty_sb_tile_q4_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_sb_tile_q5_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_sb_tile_q6_K_avx2(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_gemm_sb32_avx2(int64_t n, int nr, int nt, const void *tile, const void *y, size_t ys,
                       const float *ya, size_t yas, float *out, size_t os);  /* gemm_sb_avx2.c */
void ty_gemm_sb16_avx2(int64_t n, int nr, int nt, const void *tile, const void *y, size_t ys,
                       const float *ya, size_t yas, float *out, size_t os);
void ty_sb_tile_q4_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_sb_tile_q5_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_sb_tile_q6_K_avx512(const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_gemm_sb32_avx512(int64_t n, int nr, int nt, const void *tile, const void *y, size_t ys,
                         const float *ya, size_t yas, float *out, size_t os);  /* gemm_sb_avx512.c */
void ty_gemm_sb16_avx512(int64_t n, int nr, int nt, const void *tile, const void *y, size_t ys,
                         const float *ya, size_t yas, float *out, size_t os);

/* Highest level this CPU runs (ignores TYCHO_SIMD). */
enum ty_simd_level ty_simd_level_cpu(void);

/* Fills table[TY_QTYPE_COUNT] with the kernels of one level; returns 0, or
   -1 if this CPU cannot run that level (the table then holds scalar ones).
   Tests use it to compare every level against the scalar reference. */
int ty_qtype_table_for(enum ty_simd_level level, struct ty_qtype_traits *table);

#endif
