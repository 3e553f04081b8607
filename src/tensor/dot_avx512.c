/*
 * dot_avx512.c: AVX-512 (F/BW/VL/DQ/VNNI) kernels, reached only through
 * ty_quants_fill_avx512 after a CPU check; they override the AVX2 entries.
 * The 32-element dots are dot_q32_x86.h built again, now with vpdpbusd
 * (q4_1 and q8_0 use dot_ggml_x86.h, llama.cpp's own order).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "quants.h"
#include "simd_x86.h"
#include "dot_q32_x86.h"
#include "dot_ggml_x86.h"


void ty_quants_fill_avx512(struct ty_qtype_traits *t) {
  t[TY_QTYPE_Q4_0].vec_dot = q32_vec_dot_q4_0;
  t[TY_QTYPE_Q5_0].vec_dot = q32_vec_dot_q5_0;
  t[TY_QTYPE_Q5_1].vec_dot = q32_vec_dot_q5_1;
  t[TY_QTYPE_Q4_1].vec_dot = ggml_vec_dot_q4_1;
  t[TY_QTYPE_Q4_1].vec_dot_rows = ggml_vec_dot_q4_1_rows;
  t[TY_QTYPE_Q8_0].vec_dot = ggml_vec_dot_q8_0;
  t[TY_QTYPE_Q8_0].vec_dot_rows = ggml_vec_dot_q8_0_rows;
  /* weights the CPU backend repacks in groups of 16 rows (repack.c) */
  t[TY_QTYPE_Q4_1].dot_x16 = ty_dot_x16_q4_1_avx512;
  t[TY_QTYPE_Q8_0].dot_x16 = ty_dot_x16_q8_0_avx512;
  t[TY_QTYPE_Q5_0].dot_x16 = ty_dot_x16_q5_0_avx512;
  t[TY_QTYPE_Q8_0].x16_act = ty_x16_act_q8_0_avx512;
  t[TY_QTYPE_Q8_1].x16_act = ty_x16_act_q8_1_avx512;
  t[TY_QTYPE_Q5_0].x16_to_i8 = ty_x16_to_i8_q5_0_avx512;
  t[TY_QTYPE_Q8_0].x16_to_i8 = ty_x16_to_i8_q8_0_avx512;
  /* batches: the byte-dot product for every format with an i8 form */
  for (int i = 0; i < TY_QTYPE_COUNT; i++)
    if (t[i].to_i8 != NULL) t[i].gemm_i8 = ty_gemm_i8_avx512;
  t[TY_QTYPE_Q4_K].sb_tile = ty_sb_tile_q4_K_avx512;
  t[TY_QTYPE_Q5_K].sb_tile = ty_sb_tile_q5_K_avx512;
  t[TY_QTYPE_Q6_K].sb_tile = ty_sb_tile_q6_K_avx512;
  t[TY_QTYPE_Q4_K].gemm_sb = t[TY_QTYPE_Q5_K].gemm_sb = ty_gemm_sb32_avx512;
  t[TY_QTYPE_Q6_K].gemm_sb = ty_gemm_sb16_avx512;
}

#endif
