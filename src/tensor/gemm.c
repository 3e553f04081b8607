/*
 * gemm.c: the batch product (prefill) of the 32-element formats q4_0, q5_0
 * and q8_0. A matrix times a batch of tokens as row-by-row dots unpacks each
 * weight block again for every token; here a tile of weight rows is
 * converted once into signed bytes with float scales (the "i8 form"), the
 * tokens' q8_0 activations once into unsigned bytes, and the product is byte
 * dots (vpdpbusd) over tiles of rows x tokens. The integer sums are exact;
 * the floats are summed in another order than vec_dot's, so results agree
 * with it to rounding (which is why q4_1, the format whose llama.cpp order
 * SmolLM2's exactness needs, has no i8 form: llama.cpp runs it row by row
 * too). The K formats, whose scales cover whole sub-blocks, have their own
 * form (gemm_sb.c).
 *
 * i8 form of a weight row of n elements (n a multiple of TY_I8_GROUP):
 *   int8 w[n]; float sc[n/4]; int32 init[n/4]
 * element i = w[i] * sc[i/4]; init[k] = -128 * (sum of lane k's four w), so
 * that a byte dot of (y + 128) with w starting from init is the dot of y
 * with w. Activations: uint8 yu[n] (y + 128); float ys[n/4] (the lane's
 * scale).
 */
#include "quants.h"

#include <stdbool.h>
#include <string.h>


size_t ty_i8_weight_size(int64_t n) { return (size_t)n * 3; }
size_t ty_i8_act_size(int64_t n) { return (size_t)n * 2; }


/* ---- weight rows to the i8 form (a scale per lane filled here) ---- */

static void to_i8_q4_0(const void *vx, int8_t *w, float *sc, int64_t n) {
  const ty_block_q4_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    for (int j = 0; j < 16; j++) {
      w[j] = (int8_t)((x[i].qs[j] & 0xF) - 8);
      w[j + 16] = (int8_t)((x[i].qs[j] >> 4) - 8);
    }
    for (int k = 0; k < 8; k++) sc[k] = ty_h2f(x[i].d);
  }
}


static void to_i8_q5_0(const void *vx, int8_t *w, float *sc, int64_t n) {
  const ty_block_q5_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    uint32_t qh;
    memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < 16; j++) {
      w[j] = (int8_t)(((x[i].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16);
      w[j + 16] = (int8_t)(((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16);
    }
    for (int k = 0; k < 8; k++) sc[k] = ty_h2f(x[i].d);
  }
}


static void to_i8_q8_0(const void *vx, int8_t *w, float *sc, int64_t n) {
  const ty_block_q8_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    memcpy(w, x[i].qs, TY_QK);
    for (int k = 0; k < 8; k++) sc[k] = ty_h2f(x[i].d);
  }
}


ty_to_i8_fn ty_qtype_to_i8(int type) {
  switch (type) {
    case TY_QTYPE_Q4_0: return to_i8_q4_0;
    case TY_QTYPE_Q5_0: return to_i8_q5_0;
    case TY_QTYPE_Q8_0: return to_i8_q8_0;
    default: return NULL;
  }
}


void ty_i8_weight(ty_to_i8_fn f, const void *x, void *out, int64_t n) {
  int8_t *w = out;
  float *sc = (float *)(w + n);
  int32_t *init = (int32_t *)(sc + n / 4);
  f(x, w, sc, n);
  for (int64_t k = 0; k < n / 4; k++)
    init[k] = -128 * (w[4 * k] + w[4 * k + 1] + w[4 * k + 2] + w[4 * k + 3]);
}


void ty_i8_act(const void *yq, void *out, int64_t n) {
  const ty_block_q8_0 *y = yq;
  uint8_t *yu = out;
  float *ys = (float *)(yu + n);
  for (int64_t i = 0; i < n / TY_QK; i++) {
    const float d = ty_h2f(y[i].d);
    for (int k = 0; k < 8; k++) ys[i * 8 + k] = d;
    for (int k = 0; k < TY_QK; k++) yu[i * TY_QK + k] = (uint8_t)(y[i].qs[k] + 128);
  }
}


/* The reference product: out[t * out_stride + r] for nr rows and nt tokens,
   lane by lane as the SIMD form sums (each lane's integer sum times its two
   scales, summed over 16 lanes then groups). */
void ty_gemm_i8_ref(int64_t n, int nr, int nt, const void *w, size_t w_stride, const void *y,
                    size_t y_stride, float *out, size_t out_stride) {
  for (int r = 0; r < nr; r++) {
    const int8_t *wr = (const int8_t *)((const char *)w + (size_t)r * w_stride);
    const float *sc = (const float *)(wr + n);
    for (int t = 0; t < nt; t++) {
      const uint8_t *yu = (const uint8_t *)y + (size_t)t * y_stride;
      const float *ys = (const float *)(yu + n);
      float lane[16] = { 0 };
      for (int64_t k = 0; k < n / 4; k++) {
        int32_t s = ((const int32_t *)(sc + n / 4))[k];
        for (int e = 0; e < 4; e++) s += yu[4 * k + e] * wr[4 * k + e];
        lane[k % 16] += (float)s * (sc[k] * ys[k]);
      }
      float sum = 0.0f;
      for (int k = 0; k < 16; k++) sum += lane[k];
      out[(size_t)t * out_stride + r] = sum;
    }
  }
}
