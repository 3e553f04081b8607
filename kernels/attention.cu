/*
 * attention.cu: causal attention over the KV cache (f32, f16 or q8_0), split
 * along the sequence: one block per (split, head, token) walks its keys with
 * an online softmax into `partial`, a second kernel combines the splits (a
 * single split writes the output itself).
 *
 * Split s takes the chunks s, s + n_split, s + 2 n_split, ... of `chunk`
 * rows of the visible range [first, pos[t]] (counted from first), so every
 * visible row is used whatever n_split and chunk are (chunk 0: each token's
 * visible rows over n_split, worked out here from its position, so that a
 * decode step's launch does not change from one token to the next and its
 * CUDA graph can be launched again as it is); a split with no rows
 * writes acc = 0, m = -inf, l = 0.
 *
 * Precision against the CPU backend: the CPU rounds the query to the key
 * cache's dot type (f16, or q8_0 per 32 values) before the dot, sums the
 * softmax in double, and for an f16 value cache rounds each probability to
 * f16 before it weights the values; here q, scores, probabilities and sums
 * stay f32 (expf). Expect relative differences of ~1e-3 on the output for an
 * f16 cache, ~1e-2 for q8_0 (the query's 8-bit rounding moves the scores),
 * ~1e-5 for f32.
 */
#include "common.cuh"

#include <cuda_fp16.h>
#include <math.h>

#define AT_THREADS 128
#define AT_WARPS (AT_THREADS / 32)
#define AT_TILE 32                            /* keys scored per step */
#define AT_MAX_HD 1024

/* Element e of one head's cache row. */
template <int KT>
__device__ __forceinline__ float kv_elem(const uint8_t *row, int e) {
  if constexpr (KT == TYK_F32) {
    return ((const float *)row)[e];
  } else if constexpr (KT == TYK_F16) {
    return __half2float(((const __half *)row)[e]);
  } else {   /* q8_0: 34-byte blocks of an f16 scale and 32 int8 */
    const uint8_t *b = row + 34 * (e >> 5);
    return tyk_i2f((int8_t)b[2 + (e & 31)]) * tyk_h2f(tyk_ld16(b));
  }
}


/* Bytes of one head (head_dim values) in a cache row. */
static size_t head_bytes(int kt, int hd) {
  return kt == TYK_F32 ? (size_t)hd * 4 : kt == TYK_F16 ? (size_t)hd * 2 : (size_t)(hd / 32) * 34;
}


/* DIMS: output dims per thread, head_dim <= DIMS * AT_THREADS. */
template <int KT, int DIMS>
__global__ void __launch_bounds__(AT_THREADS)
attn_split_kernel(const float *__restrict__ q, size_t qs, const uint8_t *__restrict__ k,
                  size_t ks, const uint8_t *__restrict__ v, size_t vs, size_t head_b,
                  const int32_t *__restrict__ pos, int n_head, int group, int hd, int window,
                  float scale, int n_split, int chunk, float *__restrict__ partial,
                  float *__restrict__ out, size_t os) {
  __shared__ float qsh[AT_MAX_HD];
  __shared__ float score[AT_TILE], prob[AT_TILE];
  const int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t p = pos[t];
  const int64_t first = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
  const uint8_t *kh = k + (size_t)(h / group) * head_b;
  const uint8_t *vh = v + (size_t)(h / group) * head_b;
  const float *qh = tyk_row(q, qs, t) + (size_t)h * hd;
  for (int d = tid; d < hd; d += AT_THREADS) qsh[d] = qh[d];
  __syncthreads();

  float acc[DIMS], m = -INFINITY, l = 0.0f;
#pragma unroll
  for (int i = 0; i < DIMS; i++) acc[i] = 0.0f;

  const int64_t ch = chunk > 0 ? chunk : (p - first + n_split) / n_split;
  for (int64_t c0 = first + (int64_t)s * ch; c0 <= p; c0 += (int64_t)n_split * ch) {
    const int64_t c1 = c0 + ch - 1 < p ? c0 + ch - 1 : p;
    for (int64_t r0 = c0; r0 <= c1; r0 += AT_TILE) {
      const int n = (int)(c1 - r0 + 1 < AT_TILE ? c1 - r0 + 1 : AT_TILE);
      /* scores: a warp per key, lanes across the head */
      for (int j = warp; j < n; j += AT_WARPS) {
        const uint8_t *kr = kh + (size_t)(r0 + j) * ks;
        float dot = 0.0f;
        for (int e = lane; e < hd; e += 32) dot = fmaf(qsh[e], kv_elem<KT>(kr, e), dot);
        dot = tyk_warp_sum(dot);
        if (lane == 0) score[j] = dot * scale;
      }
      __syncthreads();
      /* online softmax: every thread keeps the same m and l */
      float mt = -INFINITY;
      for (int j = 0; j < n; j++) mt = fmaxf(mt, score[j]);
      const float mn = fmaxf(m, mt), corr = expf(m - mn);   /* m = -inf: 0 */
      if (tid < n) prob[tid] = expf(score[tid] - mn);
      __syncthreads();
      float lt = 0.0f;
      for (int j = 0; j < n; j++) lt += prob[j];
      l = l * corr + lt;
      m = mn;
#pragma unroll
      for (int i = 0; i < DIMS; i++) {
        const int d = tid + i * AT_THREADS;
        if (d < hd) {
          float a = acc[i] * corr;
#pragma unroll 4
          for (int j = 0; j < n; j++) a = fmaf(prob[j], kv_elem<KT>(vh + (size_t)(r0 + j) * vs, d), a);
          acc[i] = a;
        }
      }
      __syncthreads();   /* score and prob are rewritten by the next tile */
    }
  }

  if (n_split == 1) {   /* the only split: the output itself, as the combine would write it */
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *o = tyk_row(out, os, t) + (size_t)h * hd;
#pragma unroll
    for (int i = 0; i < DIMS; i++) {
      const int d = tid + i * AT_THREADS;
      if (d < hd) o[d] = acc[i] * inv;
    }
    return;
  }
  float *pt = partial + (((size_t)t * n_head + h) * n_split + s) * (size_t)(hd + 2);
#pragma unroll
  for (int i = 0; i < DIMS; i++) {
    const int d = tid + i * AT_THREADS;
    if (d < hd) pt[d] = acc[i];
  }
  if (tid == 0) {
    pt[hd] = m;
    pt[hd + 1] = l;
  }
}


/* out[t] head h = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M). */
__global__ void __launch_bounds__(AT_THREADS)
attn_combine_kernel(const float *__restrict__ partial, int n_head, int hd, int n_split,
                    float *__restrict__ out, size_t os) {
  const int h = blockIdx.x, t = blockIdx.y;
  const size_t per = (size_t)(hd + 2);
  const float *base = partial + ((size_t)t * n_head + h) * n_split * per;
  float mx = -INFINITY, l = 0.0f;
  for (int s = 0; s < n_split; s++) mx = fmaxf(mx, base[s * per + hd]);
  for (int s = 0; s < n_split; s++) {
    const float ms = base[s * per + hd];
    if (ms != -INFINITY) l += base[s * per + hd + 1] * expf(ms - mx);
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;   /* nothing visible (pos < 0): zeros */
  float *o = tyk_row(out, os, t) + (size_t)h * hd;
  for (int d = threadIdx.x; d < hd; d += AT_THREADS) {
    float a = 0.0f;
    for (int s = 0; s < n_split; s++) {
      const float ms = base[s * per + hd];
      if (ms != -INFINITY) a = fmaf(base[s * per + d], expf(ms - mx), a);
    }
    o[d] = a * inv;
  }
}


extern "C" int tyk_attention(void *stream, const float *q, size_t q_stride, int n_tok,
                             int kv_type, const void *k, size_t k_stride, const void *v,
                             size_t v_stride, float *out, size_t out_stride, const int32_t *pos,
                             int n_head, int n_head_kv, int head_dim, int window, float scale,
                             int n_split, int chunk, float *partial) {
  TYK_CHECK_ARG(q != NULL && k != NULL && v != NULL && out != NULL && pos != NULL);
  TYK_CHECK_ARG(partial != NULL);
  TYK_CHECK_ARG(n_tok >= 0 && n_tok <= 65535 && n_head >= 1 && n_head <= 65535);
  TYK_CHECK_ARG(n_head_kv >= 1 && n_head % n_head_kv == 0);
  TYK_CHECK_ARG(head_dim >= 1 && head_dim <= AT_MAX_HD && window >= 0);
  TYK_CHECK_ARG(n_split >= 1 && chunk >= 0);
  TYK_CHECK_ARG(kv_type == TYK_F32 || kv_type == TYK_F16 || kv_type == TYK_Q8_0);
  TYK_CHECK_ARG(kv_type != TYK_Q8_0 || head_dim % 32 == 0);
  const int a = kv_type == TYK_F32 ? 4 : 2;
  TYK_CHECK_ARG(tyk_aligned(k, k_stride, a) && tyk_aligned(v, v_stride, a));
  TYK_CHECK_ARG(tyk_aligned(q, q_stride, 4) && tyk_aligned(out, out_stride, 4));
  const size_t hb = head_bytes(kv_type, head_dim);
  TYK_CHECK_ARG(k_stride >= hb * (size_t)n_head_kv && v_stride >= hb * (size_t)n_head_kv);
  if (n_tok == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  const dim3 grid((unsigned)n_split, (unsigned)n_head, (unsigned)n_tok);
  const int group = n_head / n_head_kv;
  const uint8_t *kb = (const uint8_t *)k, *vb = (const uint8_t *)v;
#define TYK_AT_LAUNCH(KT, DIMS) \
  attn_split_kernel<KT, DIMS><<<grid, AT_THREADS, 0, st>>>(q, q_stride, kb, k_stride, vb, \
      v_stride, hb, pos, n_head, group, head_dim, window, scale, n_split, chunk, partial, out, \
      out_stride)
#define TYK_AT_DIMS(KT) \
  if (head_dim <= AT_THREADS) TYK_AT_LAUNCH(KT, 1); \
  else if (head_dim <= 2 * AT_THREADS) TYK_AT_LAUNCH(KT, 2); \
  else TYK_AT_LAUNCH(KT, AT_MAX_HD / AT_THREADS)
  if (kv_type == TYK_F32) {
    TYK_AT_DIMS(TYK_F32);
  } else if (kv_type == TYK_F16) {
    TYK_AT_DIMS(TYK_F16);
  } else {
    TYK_AT_DIMS(TYK_Q8_0);
  }
#undef TYK_AT_DIMS
#undef TYK_AT_LAUNCH
  if (n_split > 1)
    attn_combine_kernel<<<dim3((unsigned)n_head, (unsigned)n_tok), AT_THREADS, 0, st>>>(
        partial, n_head, head_dim, n_split, out, out_stride);
  return tyk_launched();
}
