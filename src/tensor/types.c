/*
 * types.c: the type table (names, block sizes, block bytes, kernels), row
 * sizes, and the run-time choice of SIMD kernels (once, under pthread_once).
 * TYCHO_SIMD=scalar|avx2 in the environment caps the level picked.
 */
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "quants.h"

/* The scalar table: shapes as GGML defines them, plus reference kernels;
   the optional kernels (rows, batch, repacked) start NULL. */
#define T(nm, blck, size, dot_type, to, from, dot) \
  { .name = nm, .blck_size = blck, .type_size = size, .vec_dot_type = dot_type, \
    .to_float = to, .from_float = from, .vec_dot = dot }
static const struct ty_qtype_traits ref_table[TY_QTYPE_COUNT] = {
  [TY_QTYPE_F32] = T("f32", 1, 4, TY_QTYPE_F32, ty_f32_to_float, ty_f32_from_float, ty_vec_dot_f32),
  [TY_QTYPE_F16] = T("f16", 1, 2, TY_QTYPE_F16, ty_f16_to_float, ty_f16_from_float, ty_vec_dot_f16),
  [TY_QTYPE_Q4_0] = T("q4_0", 32, 18, TY_QTYPE_Q8_0, ty_dequant_q4_0, ty_quant_q4_0, ty_vec_dot_q4_0_q8_0),
  [TY_QTYPE_Q4_1] = T("q4_1", 32, 20, TY_QTYPE_Q8_1, ty_dequant_q4_1, ty_quant_q4_1, ty_vec_dot_q4_1_q8_1),
  [TY_QTYPE_Q5_0] = T("q5_0", 32, 22, TY_QTYPE_Q8_0, ty_dequant_q5_0, ty_quant_q5_0, ty_vec_dot_q5_0_q8_0),
  [TY_QTYPE_Q5_1] = T("q5_1", 32, 24, TY_QTYPE_Q8_1, ty_dequant_q5_1, ty_quant_q5_1, ty_vec_dot_q5_1_q8_1),
  [TY_QTYPE_Q8_0] = T("q8_0", 32, 34, TY_QTYPE_Q8_0, ty_dequant_q8_0, ty_quant_q8_0, ty_vec_dot_q8_0_q8_0),
  [TY_QTYPE_Q8_1] = T("q8_1", 32, 36, TY_QTYPE_Q8_1, ty_dequant_q8_1, ty_quant_q8_1, NULL),
  [TY_QTYPE_Q2_K] = T("q2_K", 256, 84, TY_QTYPE_Q8_K, ty_dequant_q2_K, ty_quant_q2_K, ty_vec_dot_q2_K_q8_K),
  [TY_QTYPE_Q3_K] = T("q3_K", 256, 110, TY_QTYPE_Q8_K, ty_dequant_q3_K, ty_quant_q3_K, ty_vec_dot_q3_K_q8_K),
  [TY_QTYPE_Q4_K] = T("q4_K", 256, 144, TY_QTYPE_Q8_K, ty_dequant_q4_K, ty_quant_q4_K, ty_vec_dot_q4_K_q8_K),
  [TY_QTYPE_Q5_K] = T("q5_K", 256, 176, TY_QTYPE_Q8_K, ty_dequant_q5_K, ty_quant_q5_K, ty_vec_dot_q5_K_q8_K),
  [TY_QTYPE_Q6_K] = T("q6_K", 256, 210, TY_QTYPE_Q8_K, ty_dequant_q6_K, ty_quant_q6_K, ty_vec_dot_q6_K_q8_K),
  [TY_QTYPE_Q8_K] = T("q8_K", 256, 292, TY_QTYPE_Q8_K, ty_dequant_q8_K, ty_quant_q8_K, NULL),
  [TY_QTYPE_BF16] = T("bf16", 1, 2, TY_QTYPE_BF16, ty_bf16_to_float, ty_bf16_from_float, ty_vec_dot_bf16),
};
#undef T

static struct ty_qtype_traits fast_table[TY_QTYPE_COUNT];
static enum ty_simd_level fast_level = TY_SIMD_SCALAR;
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;


static int known(int type) {
  return type >= 0 && type < TY_QTYPE_COUNT && ref_table[type].name != NULL;
}


#if defined(__x86_64__) || defined(__i386__)
/* F16C (cpuid 1, ecx bit 29); clang's __builtin_cpu_supports lacks "f16c". */
static int has_f16c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif


enum ty_simd_level ty_simd_level_cpu(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!has_f16c())
    return TY_SIMD_SCALAR;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return TY_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return TY_SIMD_AVX2;
#endif
  return TY_SIMD_SCALAR;
}


int ty_qtype_table_for(enum ty_simd_level level, struct ty_qtype_traits *table) {
  memcpy(table, ref_table, sizeof ref_table);
  /* q4_1 has no i8 form on purpose (gemm.c: SmolLM2's exactness) */
  for (int i = 0; i < TY_QTYPE_COUNT; i++) table[i].to_i8 = ty_qtype_to_i8(i);
  if (level > ty_simd_level_cpu())
    return -1;
#if defined(__x86_64__) || defined(__i386__)
  table[TY_QTYPE_Q8_0].from_float = ty_quant_q8_0_x86;
  table[TY_QTYPE_Q8_1].from_float = ty_quant_q8_1_x86;
  if (level >= TY_SIMD_AVX2)
    ty_quants_fill_avx2(table);
  if (level >= TY_SIMD_AVX512)
    ty_quants_fill_avx512(table);
#endif
  return 0;
}


static void fast_init(void) {
  enum ty_simd_level level = ty_simd_level_cpu();
  const char *cap = getenv("TYCHO_SIMD");
  if (cap != NULL) {
    if (strcmp(cap, "scalar") == 0 && level > TY_SIMD_SCALAR)
      level = TY_SIMD_SCALAR;
    else if (strcmp(cap, "avx2") == 0 && level > TY_SIMD_AVX2)
      level = TY_SIMD_AVX2;
  }
  ty_qtype_table_for(level, fast_table);
  fast_level = level;
}


const struct ty_qtype_traits *ty_qtype_get(int type) {
  if (!known(type))
    return NULL;
  pthread_once(&fast_once, fast_init);
  return &fast_table[type];
}


const struct ty_qtype_traits *ty_qtype_get_ref(int type) {
  return known(type) ? &ref_table[type] : NULL;
}


const char *ty_qtype_simd(void) {
  static const char *names[] = { "scalar", "avx2", "avx512" };
  pthread_once(&fast_once, fast_init);
  return names[fast_level];
}


size_t ty_qtype_row_size(int type, int64_t n) {
  if (!known(type) || n < 0)
    return 0;
  if (n % ref_table[type].blck_size != 0)
    return 0;
  return (size_t)(n / ref_table[type].blck_size) * ref_table[type].type_size;
}
