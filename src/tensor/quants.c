/*
 * quants.c: portable reference kernels for f32/f16/bf16 and the 32-element
 * block formats (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1). Layout, rounding and
 * float operation order follow ggml-quants.c / ggml-cpu quants.c exactly.
 */
/* These are the reference kernels: keep them literal. FMA contraction would
   change the rounding the fixtures pin down (-march=native), and GCC 12.2
   miscompiles the u8 x s8 dot loops below when it vectorizes them with
   VNNI (wrong sums under -march=native on AVX512-VNNI / AVX-VNNI CPUs). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("no-tree-vectorize", "fp-contract=off")
#endif

#include <math.h>
#include <float.h>

#include "quants.h"



/* ==== half and bfloat16 ================================================= */

float ty_fp16_to_fp32(uint16_t h) { return ty_h2f(h); }


uint16_t ty_fp32_to_fp16(float f) { return ty_f2h(f); }


float ty_bf16_to_fp32(uint16_t h) { return ty_u2f((uint32_t)h << 16); }


uint16_t ty_fp32_to_bf16(float f) {
  const uint32_t u = ty_f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)       /* NaN: keep it, force quiet */
    return (uint16_t)((u >> 16) | 64);
  return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}


/* ==== plain element types =============================================== */

void ty_f32_to_float(const void *x, float *y, int64_t n) {
  memcpy(y, x, (size_t)n * sizeof(float));
}


void ty_f32_from_float(const float *x, void *y, int64_t n) {
  memcpy(y, x, (size_t)n * sizeof(float));
}


void ty_f16_to_float(const void *x, float *y, int64_t n) {
  const uint8_t *p = x;
  for (int64_t i = 0; i < n; i++) {
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    y[i] = ty_h2f(h);
  }
}


void ty_f16_from_float(const float *x, void *y, int64_t n) {
  uint8_t *p = y;
  for (int64_t i = 0; i < n; i++) {
    const uint16_t h = ty_f2h(x[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}


void ty_bf16_to_float(const void *x, float *y, int64_t n) {
  const uint8_t *p = x;
  for (int64_t i = 0; i < n; i++) {
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    y[i] = ty_bf16_to_fp32(h);
  }
}


void ty_bf16_from_float(const float *x, void *y, int64_t n) {
  uint8_t *p = y;
  for (int64_t i = 0; i < n; i++) {
    const uint16_t h = ty_fp32_to_bf16(x[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}


/* The plain dots accumulate in double, like ggml's scalar fallbacks. */
void ty_vec_dot_f32(int n, float *s, const void *vx, const void *vy) {
  const uint8_t *px = vx, *py = vy;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    float a, b;
    memcpy(&a, px + 4 * (size_t)i, 4);
    memcpy(&b, py + 4 * (size_t)i, 4);
    sum += (double)(a * b);
  }
  *s = (float)sum;
}


void ty_vec_dot_f16(int n, float *s, const void *vx, const void *vy) {
  const uint8_t *px = vx, *py = vy;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    uint16_t a, b;
    memcpy(&a, px + 2 * (size_t)i, 2);
    memcpy(&b, py + 2 * (size_t)i, 2);
    sum += (double)(ty_h2f(a) * ty_h2f(b));
  }
  *s = (float)sum;
}


void ty_vec_dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const uint8_t *px = vx, *py = vy;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    uint16_t a, b;
    memcpy(&a, px + 2 * (size_t)i, 2);
    memcpy(&b, py + 2 * (size_t)i, 2);
    sum += (double)(ty_bf16_to_fp32(a) * ty_bf16_to_fp32(b));
  }
  *s = (float)sum;
}


/* ==== dequantize ======================================================== */

void ty_dequant_q4_0(const void *vx, float *y, int64_t n) {
  const ty_block_q4_0 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    for (int j = 0; j < TY_QK / 2; j++) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * TY_QK + j] = x0 * d;
      y[i * TY_QK + j + TY_QK / 2] = x1 * d;
    }
  }
}


void ty_dequant_q4_1(const void *vx, float *y, int64_t n) {
  const ty_block_q4_1 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    const float m = ty_h2f(x[i].m);
    for (int j = 0; j < TY_QK / 2; j++) {
      const int x0 = x[i].qs[j] & 0x0F;
      const int x1 = x[i].qs[j] >> 4;
      y[i * TY_QK + j] = x0 * d + m;
      y[i * TY_QK + j + TY_QK / 2] = x1 * d + m;
    }
  }
}


void ty_dequant_q5_0(const void *vx, float *y, int64_t n) {
  const ty_block_q5_0 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    uint32_t qh;
    memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < TY_QK / 2; j++) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
      const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh0) - 16;
      const int32_t x1 = ((x[i].qs[j] >> 4) | xh1) - 16;
      y[i * TY_QK + j] = x0 * d;
      y[i * TY_QK + j + TY_QK / 2] = x1 * d;
    }
  }
}


void ty_dequant_q5_1(const void *vx, float *y, int64_t n) {
  const ty_block_q5_1 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    const float m = ty_h2f(x[i].m);
    uint32_t qh;
    memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < TY_QK / 2; j++) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
      const int x0 = (x[i].qs[j] & 0x0F) | xh0;
      const int x1 = (x[i].qs[j] >> 4) | xh1;
      y[i * TY_QK + j] = x0 * d + m;
      y[i * TY_QK + j + TY_QK / 2] = x1 * d + m;
    }
  }
}


void ty_dequant_q8_0(const void *vx, float *y, int64_t n) {
  const ty_block_q8_0 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    for (int j = 0; j < TY_QK; j++)
      y[i * TY_QK + j] = x[i].qs[j] * d;
  }
}


/* ggml has no q8_1 dequantizer; this one ignores s, as q8_0's would. */
void ty_dequant_q8_1(const void *vx, float *y, int64_t n) {
  const ty_block_q8_1 *x = vx;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    for (int j = 0; j < TY_QK; j++)
      y[i * TY_QK + j] = x[i].qs[j] * d;
  }
}


/* ==== quantize (ggml's quantize_row_*_ref) ============================== */

void ty_quant_q4_0(const float *x, void *vy, int64_t n) {
  ty_block_q4_0 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < TY_QK; j++) {
      const float v = x[i * TY_QK + j];
      if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    for (int j = 0; j < TY_QK / 2; j++) {
      const float x0 = x[i * TY_QK + j] * id;
      const float x1 = x[i * TY_QK + TY_QK / 2 + j] * id;
      const uint8_t xi0 = (uint8_t)TY_MIN(15, (int8_t)(x0 + 8.5f));
      const uint8_t xi1 = (uint8_t)TY_MIN(15, (int8_t)(x1 + 8.5f));
      y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
    }
  }
}


void ty_quant_q4_1(const float *x, void *vy, int64_t n) {
  ty_block_q4_1 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < TY_QK; j++) {
      const float v = x[i * TY_QK + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    y[i].m = ty_f2h(min);
    for (int j = 0; j < TY_QK / 2; j++) {
      const float x0 = (x[i * TY_QK + j] - min) * id;
      const float x1 = (x[i * TY_QK + TY_QK / 2 + j] - min) * id;
      const uint8_t xi0 = (uint8_t)TY_MIN(15, (int8_t)(x0 + 0.5f));
      const uint8_t xi1 = (uint8_t)TY_MIN(15, (int8_t)(x1 + 0.5f));
      y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
    }
  }
}


void ty_quant_q5_0(const float *x, void *vy, int64_t n) {
  ty_block_q5_0 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < TY_QK; j++) {
      const float v = x[i * TY_QK + j];
      if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    uint32_t qh = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const float x0 = x[i * TY_QK + j] * id;
      const float x1 = x[i * TY_QK + TY_QK / 2 + j] * id;
      const uint8_t xi0 = (uint8_t)TY_MIN(31, (int8_t)(x0 + 16.5f));
      const uint8_t xi1 = (uint8_t)TY_MIN(31, (int8_t)(x1 + 16.5f));
      y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + TY_QK / 2);
    }
    memcpy(y[i].qh, &qh, 4);
  }
}


void ty_quant_q5_1(const float *x, void *vy, int64_t n) {
  ty_block_q5_1 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < TY_QK; j++) {
      const float v = x[i * TY_QK + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    y[i].m = ty_f2h(min);
    uint32_t qh = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const float x0 = (x[i * TY_QK + j] - min) * id;
      const float x1 = (x[i * TY_QK + TY_QK / 2 + j] - min) * id;
      const uint8_t xi0 = (uint8_t)(x0 + 0.5f);
      const uint8_t xi1 = (uint8_t)(x1 + 0.5f);
      y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + TY_QK / 2);
    }
    memcpy(y[i].qh, &qh, 4);
  }
}


void ty_quant_q8_0(const float *x, void *vy, int64_t n) {
  ty_block_q8_0 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    for (int j = 0; j < TY_QK; j++)
      amax = TY_MAX(amax, fabsf(x[i * TY_QK + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    for (int j = 0; j < TY_QK; j++)
      y[i].qs[j] = (int8_t)roundf(x[i * TY_QK + j] * id);
  }
}


void ty_quant_q8_1(const float *x, void *vy, int64_t n) {
  ty_block_q8_1 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    for (int j = 0; j < TY_QK; j++)
      amax = TY_MAX(amax, fabsf(x[i * TY_QK + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = ty_f2h(d);
    int sum = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      y[i].qs[j] = (int8_t)roundf(x[i * TY_QK + j] * id);
      y[i].qs[TY_QK / 2 + j] = (int8_t)roundf(x[i * TY_QK + TY_QK / 2 + j] * id);
      sum += y[i].qs[j] + y[i].qs[TY_QK / 2 + j];
    }
    y[i].s = ty_f2h(sum * d);
  }
}


/* llama.cpp's x86 CPU backend quantizes activations with its own AVX code,
   not with the reference above: id = 127/amax instead of 1/(amax/127), and
   rounding half to even instead of away from zero. The two differ in a few
   values per million, but a value in a block with a large outlier moves by a
   whole step, and over 30 layers that shows in the logits (about 1.0 on
   SmolLM2). tycho's run-time tables use these, at every SIMD level, so its
   results match llama.cpp's on the machines both run on. */
static int8_t round_even(float v) {
  return (int8_t)nearbyintf(v);       /* default rounding mode: half to even */
}


static float block_amax(const float *x) {
  float amax = 0.0f;
  for (int j = 0; j < TY_QK; j++) amax = TY_MAX(amax, fabsf(x[j]));
  return amax;
}


void ty_quant_q8_0_x86(const float *x, void *vy, int64_t n) {
  ty_block_q8_0 *y = vy;
  for (int64_t i = 0; i < n / TY_QK; i++, x += TY_QK) {
    const float amax = block_amax(x);
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = ty_f2h(amax / 127.f);
    for (int j = 0; j < TY_QK; j++) y[i].qs[j] = round_even(x[j] * id);
  }
}


void ty_quant_q8_1_x86(const float *x, void *vy, int64_t n) {
  ty_block_q8_1 *y = vy;
  for (int64_t i = 0; i < n / TY_QK; i++, x += TY_QK) {
    const float amax = block_amax(x), d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int sum = 0;
    y[i].d = ty_f2h(d);
    for (int j = 0; j < TY_QK; j++) {
      y[i].qs[j] = round_even(x[j] * id);
      sum += y[i].qs[j];
    }
    y[i].s = ty_f2h(d * (float)sum);
  }
}


/* ==== dot products (ggml-cpu's *_generic) =============================== */

void ty_vec_dot_q4_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q4_0 *x = vx;
  const ty_block_q8_0 *y = vy;
  const int nb = n / TY_QK;
  float sumf = 0;
  for (int ib = 0; ib < nb; ib++) {
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const int v0 = (x[ib].qs[j] & 0x0F) - 8;
      const int v1 = (x[ib].qs[j] >> 4) - 8;
      sumi0 += v0 * y[ib].qs[j];
      sumi1 += v1 * y[ib].qs[j + TY_QK / 2];
    }
    const int sumi = sumi0 + sumi1;
    sumf += sumi * ty_h2f(x[ib].d) * ty_h2f(y[ib].d);
  }
  *s = sumf;
}


void ty_vec_dot_q4_1_q8_1(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q4_1 *x = vx;
  const ty_block_q8_1 *y = vy;
  const int nb = n / TY_QK;
  float sumf = 0;
  for (int ib = 0; ib < nb; ib++) {
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const int v0 = x[ib].qs[j] & 0x0F;
      const int v1 = x[ib].qs[j] >> 4;
      sumi0 += v0 * y[ib].qs[j];
      sumi1 += v1 * y[ib].qs[j + TY_QK / 2];
    }
    const int sumi = sumi0 + sumi1;
    sumf += (ty_h2f(x[ib].d) * ty_h2f(y[ib].d)) * sumi + ty_h2f(x[ib].m) * ty_h2f(y[ib].s);
  }
  *s = sumf;
}


void ty_vec_dot_q5_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q5_0 *x = vx;
  const ty_block_q8_0 *y = vy;
  const int nb = n / TY_QK;
  float sumf = 0;
  for (int ib = 0; ib < nb; ib++) {
    uint32_t qh;
    memcpy(&qh, x[ib].qh, 4);
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const uint8_t xh0 = ((qh & (1u << j)) >> j) << 4;
      const uint8_t xh1 = (qh & (1u << (j + 16))) >> (j + 12);
      const int32_t x0 = (int8_t)(((x[ib].qs[j] & 0x0F) | xh0) - 16);
      const int32_t x1 = (int8_t)(((x[ib].qs[j] >> 4) | xh1) - 16);
      sumi0 += x0 * y[ib].qs[j];
      sumi1 += x1 * y[ib].qs[j + TY_QK / 2];
    }
    const int sumi = sumi0 + sumi1;
    sumf += (ty_h2f(x[ib].d) * ty_h2f(y[ib].d)) * sumi;
  }
  *s = sumf;
}


void ty_vec_dot_q5_1_q8_1(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q5_1 *x = vx;
  const ty_block_q8_1 *y = vy;
  const int nb = n / TY_QK;
  float sumf = 0;
  for (int ib = 0; ib < nb; ib++) {
    uint32_t qh;
    memcpy(&qh, x[ib].qh, 4);
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < TY_QK / 2; j++) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
      const int32_t x0 = (x[ib].qs[j] & 0xF) | xh0;
      const int32_t x1 = (x[ib].qs[j] >> 4) | xh1;
      sumi0 += x0 * y[ib].qs[j];
      sumi1 += x1 * y[ib].qs[j + TY_QK / 2];
    }
    const int sumi = sumi0 + sumi1;
    sumf += (ty_h2f(x[ib].d) * ty_h2f(y[ib].d)) * sumi + ty_h2f(x[ib].m) * ty_h2f(y[ib].s);
  }
  *s = sumf;
}


void ty_vec_dot_q8_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q8_0 *x = vx;
  const ty_block_q8_0 *y = vy;
  const int nb = n / TY_QK;
  float sumf = 0;
  for (int ib = 0; ib < nb; ib++) {
    int sumi = 0;
    for (int j = 0; j < TY_QK; j++)
      sumi += x[ib].qs[j] * y[ib].qs[j];
    sumf += sumi * (ty_h2f(x[ib].d) * ty_h2f(y[ib].d));
  }
  *s = sumf;
}
