/*
 * cpu_kernels.c: the portable forms of cpu_kernels.h. fmaf is exact here
 * whether or not the compiler has FMA instructions, so these give the same
 * floats as the AVX2 forms, only slower.
 */
#include "cpu_kernels.h"
#include "../tensor/tensor.h"

#include <math.h>
#include <string.h>


float ty_cpu_expf(float x) {
  /* ggml_v_expf (vec.h), AVX-512 form: 2^n * p(b) with n = round(x/ln2) */
  const float r = 0x1.8p23f;
  const float z = fmaf(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                            fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                       u, fmaf(0x1.ffffecp-1f, b, 1.0f));
  if (fabsf(n) > 192) return n <= 0 ? 0.0f : INFINITY;
  return ldexpf(j, (int)n);
}


/* _mm512_reduce_add_ps as GCC spells it: halves, quarters, then pairs. */
static float reduce16(const float *v) {
  float t3[8], t6[4], t8[2];
  for (int i = 0; i < 8; i++) t3[i] = v[8 + i] + v[i];
  for (int i = 0; i < 4; i++) t6[i] = t3[4 + i] + t3[i];
  t8[0] = t6[0] + t6[2];
  t8[1] = t6[1] + t6[3];
  return t8[0] + t8[1];
}


static float f16_round(float x) {
  return ty_fp16_to_fp32(ty_fp32_to_fp16(x));
}


static float f16_at(const char *row, int i) {
  uint16_t h;
  memcpy(&h, row + 2 * (size_t)i, 2);
  return ty_fp16_to_fp32(h);
}


/* Folds 64 lanes (4 chains of 16) as ggml's GGML_F32x16_REDUCE does, then
   reduce16: (c0 + c2) + (c1 + c3), lane by lane. */
static float reduce64(float *v) {
  for (int l = 0; l < 16; l++) {
    v[l] = v[l] + v[32 + l];
    v[16 + l] = v[16 + l] + v[48 + l];
  }
  for (int l = 0; l < 16; l++) v[l] = v[l] + v[16 + l];
  return reduce16(v);
}


/* q.k over hd f16 values: one tinyBLAS chain of 16 lanes for a batch, or
   ggml_vec_dot_f16 for one token (64-wide steps, the rest in double). */
static float dot_f16(const char *k, const float *q16, int hd, int single) {
  float a[64] = { 0 };
  if (!single) {
    for (int d = 0; d < hd; d++) a[d % 16] = fmaf(f16_at(k, d), q16[d], a[d % 16]);
    return reduce16(a);
  }
  int np = hd & ~63;
  for (int d = 0; d < np; d++) a[d % 64] = fmaf(f16_at(k, d), q16[d], a[d % 64]);
  double sum = np > 0 ? (double)reduce64(a) : 0.0;
  for (int d = np; d < hd; d++) sum += (double)(f16_at(k, d) * q16[d]);
  return (float)sum;
}


void ty_cpu_attn_scores_f16(const struct ty_attn_head *h, float *q16, float *s, size_t hs,
                            float *mx) {
  for (int j = 0; j < h->n_q; j++) {
    const float *q = h->q + (size_t)j * h->hd;
    float *qj = q16 + j * hs, *sj = s + j * hs;
    mx[j] = -INFINITY;
    for (int d = 0; d < h->hd; d++) qj[d] = f16_round(q[d]);
    for (int i = h->first; i <= h->last; i++) {
      sj[i] = dot_f16(h->k + (size_t)i * h->stride, qj, h->hd, h->single) * h->scale;
      if (sj[i] > mx[j]) mx[j] = sj[i];
    }
  }
}


void ty_attn_split(const struct ty_attn_head *h, void (*fn)(const struct ty_attn_head *)) {
  for (int j = 0; j < h->n_q; j += TY_ATTN_GROUP) {
    struct ty_attn_head g = *h;
    g.q += (size_t)j * h->hd;
    g.out += (size_t)j * h->hd;
    g.work += j * TY_ATTN_HEAD_WORK(h->last, h->hd);
    g.n_q = h->n_q - j < TY_ATTN_GROUP ? h->n_q - j : TY_ATTN_GROUP;
    fn(&g);
  }
}


void ty_cpu_attn_f16(const struct ty_attn_head *h) {
  const int hd = h->hd, c0 = h->first / 16, c1 = h->last / 16, lanes = h->single ? 64 : 16;
  const size_t hs = TY_ATTN_HEAD_WORK(h->last, hd);
  const size_t e_size = TY_ATTN_HEAD_WORK(h->last, 0);
  float mx[TY_ATTN_GROUP], v[64];

  if (h->n_q > TY_ATTN_GROUP) {
    ty_attn_split(h, ty_cpu_attn_f16);
    return;
  }

  ty_cpu_attn_scores_f16(h, h->work + e_size + 64 * (size_t)hd, h->work, hs, mx);
  for (int j = 0; j < h->n_q; j++) {
    float *e = h->work + j * hs;                /* (last + 16) weights by position */
    float *acc = e + e_size;                    /* (lanes, hd) position lanes x dims */
    float *out = h->out + (size_t)j * hd;
    double sum = 0.0;
    for (int c = c0; c <= c1; c++) {
      for (int l = 0; l < 16; l++) {
        int i = 16 * c + l;
        v[l] = i >= h->first && i <= h->last ? ty_cpu_expf(e[i] - mx[j]) : 0.0f;
        if (i <= h->last) e[i] = v[l];
      }
      sum += (double)reduce16(v);
    }
    /* the weighted values: position i feeds lane i % lanes; the cache length
       llama.cpp uses is a multiple of 256, so the vec_dot form has no tail */
    /* lanes no position reaches stay zero; x + 0 is x, so they are skipped */
    const int used = h->last + 1 < lanes ? h->last + 1 : lanes;
    const float inv = (float)(1.0 / sum);
    memset(acc, 0, (size_t)used * hd * sizeof *acc);
    for (int i = h->first; i <= h->last; i++) {
      const char *vr = h->v + (size_t)i * h->stride;
      const float w = f16_round(e[i] * inv);
      float *a = acc + (size_t)(i % lanes) * hd;
      for (int d = 0; d < hd; d++) a[d] = fmaf(f16_at(vr, d), w, a[d]);
    }
    for (int d = 0; d < hd; d++) {
      for (int l = 0; l < lanes; l++) v[l] = l < used ? acc[(size_t)l * hd + d] : 0.0f;
      out[d] = lanes == 64 ? reduce64(v) : reduce16(v);
    }
  }
}


void ty_cpu_rope(float *x, const float *cs, const float *sn, int nd, int neox) {
  for (int i = 0; i < nd / 2; i++) {
    const int a = neox ? i : 2 * i, b = neox ? i + nd / 2 : 2 * i + 1;
    const float x0 = x[a], x1 = x[b];
    x[a] = fmaf(x0, cs[i], -(x1 * sn[i]));
    x[b] = fmaf(x0, sn[i], x1 * cs[i]);
  }
}


void ty_cpu_geglu(int64_t n, float *y, const float *x, const float *g, const float *table) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = (v <= -10.0f ? 0.0f : v >= 10.0f ? v : table[ty_fp32_to_fp16(v)]) * g[i];
  }
}


void ty_cpu_swiglu(int64_t n, float *y, const float *x, const float *g) {
  /* ggml runs 16 at a time through its approximation, the rest through libm */
  const int64_t nv = n - n % 16;
  for (int64_t i = 0; i < nv; i++) y[i] = x[i] / (1.0f + ty_cpu_expf(0.0f - x[i])) * g[i];
  for (int64_t i = nv; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}
