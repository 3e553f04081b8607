/*
 * quants_k.c: portable reference kernels for the K formats (256-element
 * super-blocks: q2_K .. q6_K and the q8_K activation format). Quantizers
 * are ggml's quantize_row_*_ref; dots follow ggml-cpu's *_generic order.
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
#include <stdbool.h>

#include "quants.h"

#define TY_GROUP_MAX_EPS 1e-15f


/* ==== helpers from ggml-quants.c ======================================== */

/* Symmetric quantization of n values to [-nmax, nmax-1] with a search over
   19 candidate scales; returns the scale, L gets the levels plus nmax. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = fabsf(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < TY_GROUP_MAX_EPS) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; i++) {
      const int l = ty_nearest_int(iscale * x[i]);
      L[i] = (int8_t)(nmax + TY_MAX(-nmax, TY_MIN(nmax - 1, l)));
    }
    return 1 / iscale;
  }
  bool return_early = false;
  if (rmse_type < 0) { rmse_type = -rmse_type; return_early = true; }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    int l = ty_nearest_int(iscale * x[i]);
    l = TY_MAX(-nmax, TY_MIN(nmax - 1, l));
    L[i] = (int8_t)(l + nmax);
    const float w = rmse_type == 1 ? x[i] * x[i] : rmse_type == 2 ? 1 : rmse_type == 3 ? fabsf(x[i]) : sqrtf(fabsf(x[i]));
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      int l = ty_nearest_int(iscale * x[i]);
      l = TY_MAX(-nmax, TY_MIN(nmax - 1, l));
      const float w = rmse_type == 1 ? x[i] * x[i] : rmse_type == 2 ? 1 : rmse_type == 3 ? fabsf(x[i]) : sqrtf(fabsf(x[i]));
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; i++) {
        const int l = ty_nearest_int(iscale * x[i]);
        L[i] = (int8_t)(nmax + TY_MAX(-nmax, TY_MIN(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}


/* q3_K's scale search: iteratively moves single levels while that lowers
   the weighted error; returns the scale, L gets levels plus nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L, bool do_rmse) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = fabsf(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < TY_GROUP_MAX_EPS) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  if (do_rmse) {
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
      int l = ty_nearest_int(iscale * x[i]);
      l = TY_MAX(-nmax, TY_MIN(nmax - 1, l));
      L[i] = (int8_t)l;
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
      int n_changed = 0;
      for (int i = 0; i < n; i++) {
        const float w = x[i] * x[i];
        float slx = sumlx - w * x[i] * L[i];
        if (slx > 0) {
          float sl2 = suml2 - w * L[i] * L[i];
          int new_l = ty_nearest_int(x[i] * sl2 / slx);
          new_l = TY_MAX(-nmax, TY_MIN(nmax - 1, new_l));
          if (new_l != L[i]) {
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
              L[i] = (int8_t)new_l;
              sumlx = slx;
              suml2 = sl2;
              n_changed++;
            }
          }
        }
      }
      if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
  }
  for (int i = 0; i < n; i++) {
    int l = ty_nearest_int(iscale * x[i]);
    l = TY_MAX(-nmax, TY_MIN(nmax - 1, l));
    L[i] = (int8_t)(l + nmax);
  }
  return 1 / iscale;
}


/* Asymmetric quantization to [0, nmax] with scale and min found by a
   weighted least-squares search over nstep+1 candidates; returns the scale
   and stores -min in *the_min. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; i++) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    const int l = ty_nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)TY_MAX(0, TY_MIN(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? fabsf(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      int l = ty_nearest_int(iscale * (x[i] - min));
      l = TY_MAX(0, TY_MIN(nmax, l));
      Laux[i] = (uint8_t)l;
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; i++) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; i++) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}


/* ==== q2_K ============================================================== */

void ty_quant_q2_K(const float *x, void *vy, int64_t n) {
  ty_block_q2_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  uint8_t L[TY_QK_K], Laux[16];
  float weights[16], mins[TY_QK_K / 16], scales[TY_QK_K / 16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < nb; i++) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < TY_QK_K / 16; j++) {
      for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < TY_QK_K / 16; j++)
        y[i].scales[j] = (uint8_t)ty_nearest_int(iscale * scales[j]);
      y[i].d = ty_f2h(max_scale / q4scale);
    } else {
      for (int j = 0; j < TY_QK_K / 16; j++) y[i].scales[j] = 0;
      y[i].d = ty_f2h(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < TY_QK_K / 16; j++) {
        const int l = ty_nearest_int(iscale * mins[j]);
        y[i].scales[j] |= (uint8_t)(l << 4);
      }
      y[i].dmin = ty_f2h(max_min / q4scale);
    } else {
      y[i].dmin = ty_f2h(0.f);
    }
    for (int j = 0; j < TY_QK_K / 16; j++) {
      const float d = ty_h2f(y[i].d) * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = ty_h2f(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ii++) {
        int l = ty_nearest_int((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = (uint8_t)TY_MAX(0, TY_MIN(3, l));
      }
    }
    for (int j = 0; j < TY_QK_K; j += 128)
      for (int l = 0; l < 32; l++)
        y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    x += TY_QK_K;
  }
}


void ty_dequant_q2_K(const void *vx, float *y, int64_t n) {
  const ty_block_q2_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    const float min = ty_h2f(x[i].dmin);
    const uint8_t *q = x[i].qs;
    int is = 0;
    for (int k = 0; k < TY_QK_K; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; j++) {
        uint8_t sc = x[i].scales[is++];
        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
        sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}


void ty_vec_dot_q2_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q2_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  float sumf = 0;
  for (int i = 0; i < nb; i++) {
    const uint8_t *q2 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    const uint8_t *sc = x[i].scales;
    int summs = 0;
    for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
    const float dall = y[i].d * ty_h2f(x[i].d);
    const float dmin = y[i].d * ty_h2f(x[i].dmin);
    int isum = 0, is = 0;
    for (int k = 0; k < TY_QK_K / 128; k++) {
      int shift = 0;
      for (int j = 0; j < 4; j++) {
        int d = sc[is++] & 0xF;
        int isuml = 0;
        for (int l = 0; l < 16; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
        isum += d * isuml;
        d = sc[is++] & 0xF;
        isuml = 0;
        for (int l = 16; l < 32; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
        isum += d * isuml;
        shift += 2;
        q8 += 32;
      }
      q2 += 32;
    }
    sumf += dall * isum - dmin * summs;
  }
  *s = sumf;
}


/* ==== q3_K ============================================================== */

void ty_quant_q3_K(const float *x, void *vy, int64_t n) {
  ty_block_q3_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  int8_t L[TY_QK_K];
  float scales[TY_QK_K / 16];
  for (int64_t i = 0; i < nb; i++) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < TY_QK_K / 16; j++) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
      const float scale = fabsf(scales[j]);
      if (scale > amax) { amax = scale; max_scale = scales[j]; }
    }
    memset(y[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < TY_QK_K / 16; j++) {
        int8_t l = (int8_t)ty_nearest_int(iscale * scales[j]);
        l = (int8_t)(TY_MAX(-32, TY_MIN(31, l)) + 32);
        if (j < 8) y[i].scales[j] = l & 0xF;
        else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        l >>= 4;
        y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
      }
      y[i].d = ty_f2h(1 / iscale);
    } else {
      y[i].d = ty_f2h(0.f);
    }
    for (int j = 0; j < TY_QK_K / 16; j++) {
      int8_t sc = (int8_t)(j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4);
      sc = (int8_t)((sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
      const float d = ty_h2f(y[i].d) * sc;
      if (!d) continue;
      for (int ii = 0; ii < 16; ii++) {
        int l = ty_nearest_int(x[16 * j + ii] / d);
        l = TY_MAX(-4, TY_MIN(3, l));
        L[16 * j + ii] = (int8_t)(l + 4);
      }
    }
    memset(y[i].hmask, 0, TY_QK_K / 8);
    /* the high bit of the first 32 quants goes to bit 0, the next to bit 1... */
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < TY_QK_K; j++) {
      if (L[j] > 3) {
        y[i].hmask[m] |= hm;
        L[j] -= 4;
      }
      if (++m == TY_QK_K / 8) { m = 0; hm <<= 1; }
    }
    for (int j = 0; j < TY_QK_K; j += 128)
      for (int l = 0; l < 32; l++)
        y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    x += TY_QK_K;
  }
}


/* Unpacks q3_K's 16 six-bit scales (still offset by 32) into aux. */
static void q3k_scales(const uint8_t *packed, uint32_t aux[4]) {
  const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  memcpy(aux, packed, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
}


void ty_dequant_q3_K(const void *vx, float *y, int64_t n) {
  const ty_block_q3_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  uint32_t aux[4];
  int8_t scales[16];
  for (int64_t i = 0; i < nb; i++) {
    const float d_all = ty_h2f(x[i].d);
    const uint8_t *q = x[i].qs;
    const uint8_t *hm = x[i].hmask;
    uint8_t m = 1;
    q3k_scales(x[i].scales, aux);
    memcpy(scales, aux, 16);
    int is = 0;
    for (int k = 0; k < TY_QK_K; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; j++) {
        float dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; l++)
          *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; l++)
          *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
}


void ty_vec_dot_q3_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q3_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  int8_t aux8[TY_QK_K];
  int16_t aux16[8];
  float sums[8];
  int32_t aux32[8];
  uint32_t auxs[4];
  int8_t scales[16];
  memset(sums, 0, sizeof sums);
  float sumf = 0;
  for (int i = 0; i < nb; i++) {
    const uint8_t *q3 = x[i].qs;
    const uint8_t *hm = x[i].hmask;
    const int8_t *q8 = y[i].qs;
    memset(aux32, 0, sizeof aux32);
    int8_t *a = aux8;
    uint8_t m = 1;
    for (int j = 0; j < TY_QK_K; j += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int l = 0; l < 32; l++) a[l] = (int8_t)((q3[l] >> shift) & 3);
        for (int l = 0; l < 32; l++) a[l] = (int8_t)(a[l] - (hm[l] & m ? 0 : 4));
        a += 32;
        m <<= 1;
      }
      q3 += 32;
    }
    a = aux8;
    q3k_scales(x[i].scales, auxs);
    memcpy(scales, auxs, 16);
    for (int j = 0; j < TY_QK_K / 16; j++) {
      for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 8; l++) aux16[l] = (int16_t)(q8[l] * a[l]);
        for (int l = 0; l < 8; l++) aux32[l] += (scales[j] - 32) * aux16[l];
        q8 += 8;
        a += 8;
      }
    }
    const float d = ty_h2f(x[i].d) * y[i].d;
    for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
  }
  for (int l = 0; l < 8; l++) sumf += sums[l];
  *s = sumf;
}


/* ==== q4_K / q5_K ======================================================= */

/* Packs 8 scales and 8 mins (each < 64) into the 12-byte K4 layout. */
static void k4_pack_scales(uint8_t *out, const float *scales, const float *mins, float inv_scale, float inv_min) {
  for (int j = 0; j < TY_QK_K / 32; j++) {
    uint8_t ls = (uint8_t)ty_nearest_int(inv_scale * scales[j]);
    uint8_t lm = (uint8_t)ty_nearest_int(inv_min * mins[j]);
    ls = TY_MIN(63, ls);
    lm = TY_MIN(63, lm);
    if (j < 4) {
      out[j] = ls;
      out[j + 4] = lm;
    } else {
      out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
      out[j - 4] |= (uint8_t)((ls >> 4) << 6);
      out[j] |= (uint8_t)((lm >> 4) << 6);
    }
  }
}


/* Shared by q4_K (nmax 15) and q5_K (nmax 31): fills scales, d, dmin and
   the levels L (0..nmax) of one super-block. */
static void k4_quant_block(const float *x, int nmax, float rmin, int nstep, uint8_t *scales_out,
                           uint16_t *d_out, uint16_t *dmin_out, uint8_t *L) {
  uint8_t Laux[32];
  float weights[32], mins[TY_QK_K / 32], scales[TY_QK_K / 32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < TY_QK_K / 32; j++) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = sqrtf(sum_x2 / 32);
    for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  k4_pack_scales(scales_out, scales, mins, inv_scale, inv_min);
  const uint16_t dh = ty_f2h(max_scale / 63.f), dminh = ty_f2h(max_min / 63.f);
  *d_out = dh;
  *dmin_out = dminh;
  for (int j = 0; j < TY_QK_K / 32; j++) {
    uint8_t sc, m;
    ty_scale_min_k4(j, scales_out, &sc, &m);
    const float d = ty_h2f(dh) * sc;
    if (!d) continue;
    const float dm = ty_h2f(dminh) * m;
    for (int ii = 0; ii < 32; ii++) {
      const int l = ty_nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = (uint8_t)TY_MAX(0, TY_MIN(nmax, l));
    }
  }
}


void ty_quant_q4_K(const float *x, void *vy, int64_t n) {
  ty_block_q4_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  uint8_t L[TY_QK_K];
  for (int64_t i = 0; i < nb; i++) {
    uint16_t d, dmin;
    k4_quant_block(x, 15, -1.f, 20, y[i].scales, &d, &dmin, L);
    y[i].d = d;
    y[i].dmin = dmin;
    uint8_t *q = y[i].qs;
    for (int j = 0; j < TY_QK_K; j += 64) {
      for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
    x += TY_QK_K;
  }
}


void ty_dequant_q4_K(const void *vx, float *y, int64_t n) {
  const ty_block_q4_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *q = x[i].qs;
    const float d = ty_h2f(x[i].d);
    const float min = ty_h2f(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < TY_QK_K; j += 64) {
      ty_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      ty_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}


/* Unpacks the K4 scales into 8 scales (utmp[0..1]) and 8 mins (utmp[2..3]). */
static void k4_unpack(const uint8_t *packed, uint32_t utmp[4]) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
}


/* The common tail of the q4_K and q5_K dots: aux8 holds the 256 unsigned
   levels of block i; adds into sums[8] and returns dmin * sum(bsums*mins). */
static float k4_dot_block(const int8_t *aux8, const ty_block_q8_K *y, const uint8_t *packed,
                          uint16_t xd, uint16_t xdmin, float sums[8]) {
  uint32_t utmp[4];
  uint8_t scales[8], mins[8];
  int16_t aux16[8];
  int32_t aux32[8];
  k4_unpack(packed, utmp);
  memcpy(scales, utmp, 8);
  memcpy(mins, utmp + 2, 8);
  memset(aux32, 0, sizeof aux32);
  int sumi = 0;
  for (int j = 0; j < TY_QK_K / 16; j++) sumi += y->bsums[j] * mins[j / 2];
  const int8_t *a = aux8, *q8 = y->qs;
  for (int j = 0; j < TY_QK_K / 32; j++) {
    const int32_t scale = scales[j];
    for (int k = 0; k < 4; k++) {
      for (int l = 0; l < 8; l++) aux16[l] = (int16_t)(q8[l] * a[l]);
      for (int l = 0; l < 8; l++) aux32[l] += scale * aux16[l];
      q8 += 8;
      a += 8;
    }
  }
  const float d = ty_h2f(xd) * y->d;
  for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
  const float dmin = ty_h2f(xdmin) * y->d;
  return dmin * sumi;
}


void ty_vec_dot_q4_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q4_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  int8_t aux8[TY_QK_K];
  float sums[8] = { 0 };
  float sumf = 0;
  for (int i = 0; i < nb; i++) {
    const uint8_t *q4 = x[i].qs;
    int8_t *a = aux8;
    for (int j = 0; j < TY_QK_K / 64; j++) {
      for (int l = 0; l < 32; l++) a[l] = (int8_t)(q4[l] & 0xF);
      a += 32;
      for (int l = 0; l < 32; l++) a[l] = (int8_t)(q4[l] >> 4);
      a += 32;
      q4 += 32;
    }
    sumf -= k4_dot_block(aux8, &y[i], x[i].scales, x[i].d, x[i].dmin, sums);
  }
  for (int l = 0; l < 8; l++) sumf += sums[l];
  *s = sumf;
}


void ty_quant_q5_K(const float *x, void *vy, int64_t n) {
  ty_block_q5_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  uint8_t L[TY_QK_K];
  for (int64_t i = 0; i < nb; i++) {
    uint16_t d, dmin;
    k4_quant_block(x, 31, -0.5f, 15, y[i].scales, &d, &dmin, L);
    y[i].d = d;
    y[i].dmin = dmin;
    uint8_t *qh = y[i].qh, *ql = y[i].qs;
    memset(qh, 0, TY_QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int k = 0; k < TY_QK_K; k += 64) {
      for (int j = 0; j < 32; j++) {
        int l1 = L[k + j];
        if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
        int l2 = L[k + j + 32];
        if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
        ql[j] = (uint8_t)(l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
    x += TY_QK_K;
  }
}


void ty_dequant_q5_K(const void *vx, float *y, int64_t n) {
  const ty_block_q5_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *ql = x[i].qs, *qh = x[i].qh;
    const float d = ty_h2f(x[i].d);
    const float min = ty_h2f(x[i].dmin);
    int is = 0;
    uint8_t sc, m, u1 = 1, u2 = 2;
    for (int j = 0; j < TY_QK_K; j += 64) {
      ty_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      ty_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}


void ty_vec_dot_q5_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q5_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  int8_t aux8[TY_QK_K];
  float sums[8] = { 0 };
  float sumf = 0;
  for (int i = 0; i < nb; i++) {
    const uint8_t *q4 = x[i].qs, *hm = x[i].qh;
    int8_t *a = aux8;
    uint8_t m = 1;
    for (int j = 0; j < TY_QK_K / 64; j++) {
      for (int l = 0; l < 32; l++) a[l] = (int8_t)((q4[l] & 0xF) + (hm[l] & m ? 16 : 0));
      a += 32;
      m <<= 1;
      for (int l = 0; l < 32; l++) a[l] = (int8_t)((q4[l] >> 4) + (hm[l] & m ? 16 : 0));
      a += 32;
      m <<= 1;
      q4 += 32;
    }
    sumf -= k4_dot_block(aux8, &y[i], x[i].scales, x[i].d, x[i].dmin, sums);
  }
  for (int l = 0; l < 8; l++) sumf += sums[l];
  *s = sumf;
}


/* ==== q6_K ============================================================== */

void ty_quant_q6_K(const float *x, void *vy, int64_t n) {
  ty_block_q6_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  int8_t L[TY_QK_K];
  float scales[TY_QK_K / 16];
  for (int64_t i = 0; i < nb; i++) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < TY_QK_K / 16; ib++) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
      scales[ib] = scale;
      const float abs_scale = fabsf(scale);
      if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
    }
    if (max_abs_scale < TY_GROUP_MAX_EPS) {
      memset(&y[i], 0, sizeof y[i]);
      y[i].d = ty_f2h(0.f);
      x += TY_QK_K;
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = ty_f2h(1 / iscale);
    for (int ib = 0; ib < TY_QK_K / 16; ib++)
      y[i].scales[ib] = (int8_t)TY_MIN(127, ty_nearest_int(iscale * scales[ib]));
    for (int j = 0; j < TY_QK_K / 16; j++) {
      const float d = ty_h2f(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ii++) {
        int l = ty_nearest_int(x[16 * j + ii] / d);
        l = TY_MAX(-32, TY_MIN(31, l));
        L[16 * j + ii] = (int8_t)(l + 32);
      }
    }
    uint8_t *ql = y[i].ql, *qh = y[i].qh;
    for (int j = 0; j < TY_QK_K; j += 128) {
      for (int l = 0; l < 32; l++) {
        const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = (uint8_t)(q1 | (q3 << 4));
        ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
        qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
    x += TY_QK_K;
  }
}


void ty_dequant_q6_K(const void *vx, float *y, int64_t n) {
  const ty_block_q6_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const float d = ty_h2f(x[i].d);
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int k = 0; k < TY_QK_K; k += 128) {
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        const int8_t q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}


void ty_vec_dot_q6_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q6_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  int8_t aux8[TY_QK_K];
  int16_t aux16[8];
  float sums[8] = { 0 };
  int32_t aux32[8];
  float sumf = 0;
  for (int i = 0; i < nb; i++) {
    const uint8_t *q4 = x[i].ql, *qh = x[i].qh;
    const int8_t *q8 = y[i].qs;
    memset(aux32, 0, sizeof aux32);
    int8_t *a = aux8;
    for (int j = 0; j < TY_QK_K; j += 128) {
      for (int l = 0; l < 32; l++) {
        a[l] = (int8_t)(((q4[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        a[l + 32] = (int8_t)(((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        a[l + 64] = (int8_t)(((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        a[l + 96] = (int8_t)(((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      a += 128;
      q4 += 64;
      qh += 32;
    }
    a = aux8;
    for (int j = 0; j < TY_QK_K / 16; j++) {
      const int scale = x[i].scales[j];
      for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 8; l++) aux16[l] = (int16_t)(q8[l] * a[l]);
        for (int l = 0; l < 8; l++) aux32[l] += scale * aux16[l];
        q8 += 8;
        a += 8;
      }
    }
    const float d = ty_h2f(x[i].d) * y[i].d;
    for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
  }
  for (int l = 0; l < 8; l++) sumf += sums[l];
  *s = sumf;
}


/* ==== q8_K ============================================================== */

void ty_quant_q8_K(const float *x, void *vy, int64_t n) {
  ty_block_q8_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    float max = 0, amax = 0;
    for (int j = 0; j < TY_QK_K; j++) {
      const float ax = fabsf(x[j]);
      if (ax > amax) { amax = ax; max = x[j]; }
    }
    if (!amax) {   /* ggml leaves bsums unset here; zero them */
      memset(&y[i], 0, sizeof y[i]);
      x += TY_QK_K;
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < TY_QK_K; j++) {
      const int v = ty_nearest_int(iscale * x[j]);
      y[i].qs[j] = (int8_t)TY_MIN(127, v);
    }
    for (int j = 0; j < TY_QK_K / 16; j++) {
      int sum = 0;
      for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = (int16_t)sum;
    }
    y[i].d = 1 / iscale;
    x += TY_QK_K;
  }
}


void ty_dequant_q8_K(const void *vx, float *y, int64_t n) {
  const ty_block_q8_K *x = vx;
  const int64_t nb = n / TY_QK_K;
  for (int64_t i = 0; i < nb; i++)
    for (int j = 0; j < TY_QK_K; j++)
      *y++ = x[i].d * x[i].qs[j];
}
