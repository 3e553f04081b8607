/*
 * types.c: the type table (names, block sizes, block bytes) and row sizes.
 * Kernels are filled in by the format files; this file only knows shapes.
 */
#include "tensor.h"

struct ty_qtype_shape { const char *name; int blck; size_t size; };

/* Block sizes and bytes per block, as GGML defines them. */
static const struct ty_qtype_shape shapes[TY_QTYPE_COUNT] = {
  [TY_QTYPE_F32]  = { "f32",  1,   4 },
  [TY_QTYPE_F16]  = { "f16",  1,   2 },
  [TY_QTYPE_Q4_0] = { "q4_0", 32,  18 },
  [TY_QTYPE_Q4_1] = { "q4_1", 32,  20 },
  [TY_QTYPE_Q5_0] = { "q5_0", 32,  22 },
  [TY_QTYPE_Q5_1] = { "q5_1", 32,  24 },
  [TY_QTYPE_Q8_0] = { "q8_0", 32,  34 },
  [TY_QTYPE_Q8_1] = { "q8_1", 32,  36 },
  [TY_QTYPE_Q2_K] = { "q2_K", 256, 84 },
  [TY_QTYPE_Q3_K] = { "q3_K", 256, 110 },
  [TY_QTYPE_Q4_K] = { "q4_K", 256, 144 },
  [TY_QTYPE_Q5_K] = { "q5_K", 256, 176 },
  [TY_QTYPE_Q6_K] = { "q6_K", 256, 210 },
  [TY_QTYPE_Q8_K] = { "q8_K", 256, 292 },
  [TY_QTYPE_BF16] = { "bf16", 1,   2 },
};


size_t ty_qtype_row_size(int type, int64_t n) {
  if (type < 0 || type >= TY_QTYPE_COUNT || shapes[type].name == NULL || n < 0)
    return 0;
  if (n % shapes[type].blck != 0)
    return 0;
  return (size_t)(n / shapes[type].blck) * shapes[type].size;
}
