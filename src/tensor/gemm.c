/*
 * gemm.c: the batch product (prefill). A matrix times a batch of tokens as
 * row-by-row dots unpacks each weight block again for every token; here a
 * tile of weight rows is converted once into signed bytes with float scales
 * (the "i8 form"), the tokens' quantized activations once into unsigned
 * bytes, and the product is byte dots (vpdpbusd) over tiles of rows x
 * tokens. The integer sums are exact; the floats are summed in another
 * order than vec_dot's, so results agree with it to rounding (which is why
 * q4_1, the format whose llama.cpp order SmolLM2's exactness needs, has no
 * i8 form: llama.cpp runs it row by row too).
 *
 * i8 form of a weight row of n elements (n a multiple of TY_I8_GROUP):
 *   int8 w[n]; float sc[n/4]; int32 init[n/4]; float mn[n/16]
 * element i = w[i] * sc[i/4] - mn[i/16]; init[k] = -128 * (sum of lane k's
 * four w), so that a byte dot of (y + 128) with w starting from init is the
 * dot of y with w. Activations: uint8 yu[n] (y + 128); float ys[n/4] (the
 * lane's scale); float ysum[n/16] (scale * sum of the 16 y).
 */
#include "quants.h"

#include <stdbool.h>
#include <string.h>


size_t ty_i8_weight_size(int64_t n) { return (size_t)n * 3 + (size_t)n / 4; }
size_t ty_i8_act_size(int64_t n) { return (size_t)n * 2 + (size_t)n / 4; }


/* ---- weight rows to the i8 form (scale and min per lane filled here) ---- */

static bool to_i8_q4_0(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
  const ty_block_q4_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    for (int j = 0; j < 16; j++) {
      w[j] = (int8_t)((x[i].qs[j] & 0xF) - 8);
      w[j + 16] = (int8_t)((x[i].qs[j] >> 4) - 8);
    }
    for (int k = 0; k < 8; k++) sc[k] = ty_h2f(x[i].d);
  }
  return false;
}


static bool to_i8_q5_0(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
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
  return false;
}


static bool to_i8_q8_0(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
  const ty_block_q8_0 *x = vx;
  for (int64_t i = 0; i < n / TY_QK; i++, w += TY_QK, sc += 8) {
    memcpy(w, x[i].qs, TY_QK);
    for (int k = 0; k < 8; k++) sc[k] = ty_h2f(x[i].d);
  }
  return false;
}


/* q4_K and q5_K: 8 sub-blocks of 32 with a 6-bit scale and min each. */
static bool to_i8_q45_K(const uint8_t *scales, float d, float dmin, const uint8_t *q, const uint8_t *qh,
                        int8_t *w, float *sc, float *mn) {
  for (int j = 0; j < 8; j++) {
    uint8_t s, m;
    ty_scale_min_k4(j, scales, &s, &m);
    const uint8_t *qj = q + 32 * (j / 2);
    for (int l = 0; l < 32; l++) {
      int v = j % 2 ? qj[l] >> 4 : qj[l] & 0xF;
      if (qh != NULL && (qh[l] >> j) & 1) v += 16;
      w[32 * j + l] = (int8_t)v;
    }
    for (int k = 0; k < 8; k++) sc[8 * j + k] = d * s;
    mn[2 * j] = mn[2 * j + 1] = dmin * m;
  }
  return true;
}


static bool to_i8_q4_K(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
  const ty_block_q4_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++)
    to_i8_q45_K(x[i].scales, ty_h2f(x[i].d), ty_h2f(x[i].dmin), x[i].qs, NULL,
                w + i * TY_QK_K, sc + i * 64, mn + i * 16);
  return true;
}


static bool to_i8_q5_K(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
  const ty_block_q5_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++)
    to_i8_q45_K(x[i].scales, ty_h2f(x[i].d), ty_h2f(x[i].dmin), x[i].qs, x[i].qh,
                w + i * TY_QK_K, sc + i * 64, mn + i * 16);
  return true;
}


static bool to_i8_q6_K(const void *vx, int8_t *w, float *sc, float *mn, int64_t n) {
  const ty_block_q6_K *x = vx;
  for (int64_t i = 0; i < n / TY_QK_K; i++) {
    const float d = ty_h2f(x[i].d);
    for (int half = 0; half < 2; half++) {
      const uint8_t *ql = x[i].ql + 64 * half, *qh = x[i].qh + 32 * half;
      const int8_t *s = x[i].scales + 8 * half;
      int8_t *y = w + i * TY_QK_K + 128 * half;
      float *c = sc + i * 64 + 32 * half;
      for (int l = 0; l < 32; l++) {
        y[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        y[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        y[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        y[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      /* 16 elements (4 lanes) per scale, in the order the values lie */
      for (int g = 0; g < 8; g++)
        for (int k = 0; k < 4; k++) c[4 * g + k] = d * s[g];
    }
  }
  return false;
}


ty_to_i8_fn ty_qtype_to_i8(int type) {
  switch (type) {
    case TY_QTYPE_Q4_0: return to_i8_q4_0;
    case TY_QTYPE_Q5_0: return to_i8_q5_0;
    case TY_QTYPE_Q8_0: return to_i8_q8_0;
    case TY_QTYPE_Q4_K: return to_i8_q4_K;
    case TY_QTYPE_Q5_K: return to_i8_q5_K;
    case TY_QTYPE_Q6_K: return to_i8_q6_K;
    default: return NULL;
  }
}


bool ty_i8_weight(ty_to_i8_fn f, const void *x, void *out, int64_t n) {
  int8_t *w = out;
  float *sc = (float *)(w + n);
  int32_t *init = (int32_t *)(sc + n / 4);
  float *mn = (float *)(init + n / 4);
  memset(mn, 0, (size_t)n / 16 * sizeof *mn);
  bool has_min = f(x, w, sc, mn, n);
  for (int64_t k = 0; k < n / 4; k++)
    init[k] = -128 * (w[4 * k] + w[4 * k + 1] + w[4 * k + 2] + w[4 * k + 3]);
  return has_min;
}


void ty_i8_act(int type, const void *yq, void *out, int64_t n) {
  uint8_t *yu = out;
  float *ys = (float *)(yu + n), *ysum = ys + n / 4;
  const int8_t *q;
  if (type == TY_QTYPE_Q8_K) {
    const ty_block_q8_K *y = yq;
    for (int64_t i = 0; i < n / TY_QK_K; i++) {
      for (int k = 0; k < 64; k++) ys[i * 64 + k] = y[i].d;
      for (int k = 0; k < 16; k++) ysum[i * 16 + k] = y[i].d * y[i].bsums[k];
      q = y[i].qs;
      for (int k = 0; k < TY_QK_K; k++) yu[i * TY_QK_K + k] = (uint8_t)(q[k] + 128);
    }
    return;
  }
  const ty_block_q8_0 *y = yq;    /* q8_0 */
  for (int64_t i = 0; i < n / TY_QK; i++) {
    const float d = ty_h2f(y[i].d);
    int s0 = 0, s1 = 0;
    q = y[i].qs;
    for (int k = 0; k < 16; k++) s0 += q[k], s1 += q[16 + k];
    for (int k = 0; k < 8; k++) ys[i * 8 + k] = d;
    ysum[2 * i] = d * s0;
    ysum[2 * i + 1] = d * s1;
    for (int k = 0; k < TY_QK; k++) yu[i * TY_QK + k] = (uint8_t)(q[k] + 128);
  }
}


/* The reference product: out[t * out_stride + r] for nr rows and nt tokens,
   lane by lane as the SIMD form sums (each lane's integer sum times its two
   scales, summed over 16 lanes then groups), the mins subtracted last. */
void ty_gemm_i8_ref(int64_t n, int nr, int nt, const void *w, size_t w_stride, const void *y,
                    size_t y_stride, bool has_min, float *out, size_t out_stride) {
  for (int r = 0; r < nr; r++) {
    const int8_t *wr = (const int8_t *)((const char *)w + (size_t)r * w_stride);
    const float *sc = (const float *)(wr + n);
    const float *mn = sc + n / 2;      /* past sc and init */
    for (int t = 0; t < nt; t++) {
      const uint8_t *yu = (const uint8_t *)y + (size_t)t * y_stride;
      const float *ys = (const float *)(yu + n), *ysum = ys + n / 4;
      float lane[16] = { 0 }, mins = 0.0f;
      for (int64_t k = 0; k < n / 4; k++) {
        int32_t s = ((const int32_t *)(sc + n / 4))[k];
        for (int e = 0; e < 4; e++) s += yu[4 * k + e] * wr[4 * k + e];
        lane[k % 16] += (float)s * (sc[k] * ys[k]);
      }
      if (has_min)
        for (int64_t k = 0; k < n / 16; k++) mins += mn[k] * ysum[k];
      float sum = 0.0f;
      for (int k = 0; k < 16; k++) sum += lane[k];
      out[(size_t)t * out_stride + r] = sum - mins;
    }
  }
}
