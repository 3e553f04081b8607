/*
 * ops.cu: the small ops: RMSNorm, RoPE, KV cache store, gated activations,
 * residual add, scale. Each follows src/backend/cpu.c's arithmetic.
 *
 * Precision against the CPU backend:
 * - rmsnorm: the sum of squares is f32 (the CPU sums in double), in a
 *   different order: relative ~1e-6 on the scale, so ~2e-6 on y.
 * - rope: theta is stepped by the same repeated product from the same host
 *   powf as the CPU, and the rotation uses the same FMA; only sincosf (CUDA,
 *   <= 2 ulp) differs from glibc's: ~1e-6 absolute per rotated value times
 *   |x|.
 * - kv_store: f32 exact; f16 exact (both round to nearest even); q8_0 as the
 *   CPU backend on x86 (ggml's x86 quantize_row_q8_0: id = 127/amax, round
 *   half to even, d = amax/127 as f16): identical bytes except where the
 *   reciprocal differs by an ulp (rare, one step of a quant).
 * - glu: SiLU uses expf; the CPU uses llama.cpp's exp approximation for 16 at
 *   a time: relative ~1e-6. GELU: the tanh form in f32 here; the CPU reads an
 *   f16 table (input and output rounded to f16): relative up to ~2e-3 (worse
 *   near the zero of GELU at x ~ -0.75..0 where the output is small: compare
 *   with an absolute tolerance of ~2e-3 * max(|x|, 1) there).
 * - add, scale: exact.
 */
#include "common.cuh"

#include <cuda_fp16.h>
#include <math.h>

/* The sum of every thread's s over the block (every thread must call it),
   through part, 32 floats of shared memory. */
__device__ __forceinline__ float block_sum(float s, float *part) {
  s = tyk_warp_sum(s);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
    s = tyk_warp_sum(s);
    if (threadIdx.x == 0) part[0] = s;
  }
  __syncthreads();
  return part[0];
}


/* ---- rmsnorm ---------------------------------------------------------------
   One block per (row, group); the block sums the group's squares, then
   scales. y may be x: each thread writes only the elements it read. */

__global__ void rmsnorm_kernel(const float *x, size_t xs, float *y, size_t ys,
                               const float *__restrict__ w, int64_t per_row, int64_t group,
                               float eps) {
  __shared__ float part[32];
  const int64_t t = blockIdx.x / per_row, g = blockIdx.x % per_row;
  const float *xr = tyk_row(x, xs, t) + g * group;
  float *yr = tyk_row(y, ys, t) + g * group;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) s = fmaf(xr[i], xr[i], s);
  const float scale = 1.0f / sqrtf(block_sum(s, part) / (float)group + eps);
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}


/* The same in one read: V float4 of x and of w a thread, held in registers
   across the reduction (group a multiple of 4, rows 16-byte aligned). A
   decode step's norm is one block, so its time is latency: one round trip
   to memory here against two, and a quarter of the load instructions. */
template <int V>
__global__ void rmsnorm4_kernel(const float *x, size_t xs, float *y, size_t ys,
                                const float *__restrict__ w, int64_t per_row, int group,
                                float eps) {
  __shared__ float part[32];
  const int64_t t = blockIdx.x / per_row, g = blockIdx.x % per_row;
  const float4 *xr = (const float4 *)(tyk_row(x, xs, t) + g * group);
  float4 *yr = (float4 *)(tyk_row(y, ys, t) + g * group);
  const int n4 = group / 4;
  float4 v[V], wv[V];
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < V; i++) {
    const int k = threadIdx.x + i * blockDim.x;
    if (k < n4) {
      v[i] = xr[k];
      wv[i] = __ldg((const float4 *)w + k);
      s = fmaf(v[i].x, v[i].x, s);
      s = fmaf(v[i].y, v[i].y, s);
      s = fmaf(v[i].z, v[i].z, s);
      s = fmaf(v[i].w, v[i].w, s);
    }
  }
  const float scale = 1.0f / sqrtf(block_sum(s, part) / (float)group + eps);
#pragma unroll
  for (int i = 0; i < V; i++) {
    const int k = threadIdx.x + i * blockDim.x;
    if (k < n4)
      yr[k] = make_float4(v[i].x * scale * wv[i].x, v[i].y * scale * wv[i].y,
                          v[i].z * scale * wv[i].z, v[i].w * scale * wv[i].w);
  }
}


extern "C" int tyk_rmsnorm(void *stream, const float *x, size_t x_stride, float *y,
                           size_t y_stride, const float *w, int64_t rows, int64_t cols,
                           int64_t group, float eps) {
  TYK_CHECK_ARG(x != NULL && y != NULL && w != NULL && rows >= 0 && cols > 0);
  TYK_CHECK_ARG(group > 0 && cols % group == 0);
  TYK_CHECK_ARG(tyk_aligned(x, x_stride, 4) && tyk_aligned(y, y_stride, 4));
  TYK_CHECK_ARG(rows * (cols / group) <= INT32_MAX);
  if (rows == 0) return 0;
  const unsigned blocks = (unsigned)(rows * (cols / group));
  if (group % 4 == 0 && group <= 4 * 4 * 1024 && tyk_aligned(x, x_stride, 16) &&
      tyk_aligned(y, y_stride, 16) && (uintptr_t)w % 16 == 0) {
    const int n4 = (int)(group / 4);
    const int threads = n4 >= 1024 ? 1024 : (n4 + 31) / 32 * 32;
    const int v = (n4 + threads - 1) / threads;
    const cudaStream_t st = tyk_stream(stream);
    if (v == 1)
      rmsnorm4_kernel<1><<<blocks, threads, 0, st>>>(x, x_stride, y, y_stride, w, cols / group,
                                                     (int)group, eps);
    else if (v == 2)
      rmsnorm4_kernel<2><<<blocks, threads, 0, st>>>(x, x_stride, y, y_stride, w, cols / group,
                                                     (int)group, eps);
    else
      rmsnorm4_kernel<4><<<blocks, threads, 0, st>>>(x, x_stride, y, y_stride, w, cols / group,
                                                     (int)group, eps);
    return tyk_launched();
  }
  const int threads = group >= 2048 ? 512 : group >= 512 ? 256 : group >= 128 ? 128 : 32;
  rmsnorm_kernel<<<(unsigned)(rows * (cols / group)), threads, 0, tyk_stream(stream)>>>(
      x, x_stride, y, y_stride, w, cols / group, group, eps);
  return tyk_launched();
}


/* ---- rope ------------------------------------------------------------------
   One thread per rotated pair (token, head, i < rope_dims/2). theta_i is
   pos * theta_scale^i by repeated products, as the CPU steps it. */

__global__ void rope_kernel(float *x, size_t stride, int64_t rows, int n_head, int head_dim,
                            int half, int neox, float theta_scale, float freq_scale,
                            const float *__restrict__ ff, const int32_t *__restrict__ pos) {
  const int64_t n = rows * n_head * half;
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n;
       k += (int64_t)gridDim.x * blockDim.x) {
    const int i = (int)(k % half);
    const int64_t th_ = k / half, t = th_ / n_head;
    const int h = (int)(th_ % n_head);
    float theta = (float)pos[t];
    for (int j = 0; j < i; j++) theta *= theta_scale;
    const float th = freq_scale * (ff != NULL ? theta / ff[i] : theta);
    float sn, cs;
    sincosf(th, &sn, &cs);
    float *xh = tyk_row(x, stride, t) + (size_t)h * head_dim;
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x0 = xh[a], x1 = xh[b];
    xh[a] = fmaf(x0, cs, -__fmul_rn(x1, sn));
    xh[b] = fmaf(x0, sn, __fmul_rn(x1, cs));
  }
}


extern "C" int tyk_rope(void *stream, float *x, size_t stride, int64_t rows, int64_t cols,
                        int head_dim, int rope_dims, int neox, float base, float freq_scale,
                        const float *ff, const int32_t *pos) {
  TYK_CHECK_ARG(x != NULL && pos != NULL && rows >= 0 && cols > 0 && head_dim > 0);
  TYK_CHECK_ARG(cols % head_dim == 0 && cols / head_dim <= INT32_MAX);
  TYK_CHECK_ARG(rope_dims > 0 && rope_dims % 2 == 0 && rope_dims <= head_dim);
  TYK_CHECK_ARG(tyk_aligned(x, stride, 4));
  if (rows == 0) return 0;
  /* the host's powf, as the CPU backend computes it */
  const float theta_scale = powf(base, -2.0f / (float)rope_dims);
  const int n_head = (int)(cols / head_dim);
  rope_kernel<<<tyk_blocks(rows * n_head * (rope_dims / 2), 256), 256, 0, tyk_stream(stream)>>>(
      x, stride, rows, n_head, head_dim, rope_dims / 2, neox != 0, theta_scale, freq_scale, ff,
      pos);
  return tyk_launched();
}


/* ---- kv_store --------------------------------------------------------------
   f32 and f16: one thread per element. q8_0: one warp per 32-element block,
   a lane per element. The positions are device memory: the caller keeps them
   below the cache's row count. */

template <typename T>
__global__ void kv_store_plain(uint8_t *cache, size_t cs, const float *__restrict__ x, size_t xs,
                               int64_t rows, int64_t cols, const int32_t *__restrict__ pos) {
  const int64_t n = rows * cols;
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n;
       k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = k / cols, i = k % cols;
    const float v = tyk_row(x, xs, t)[i];
    T *dst = (T *)(cache + (size_t)pos[t] * cs);
    if constexpr (sizeof(T) == 2)
      dst[i] = __float2half_rn(v);
    else
      dst[i] = v;
  }
}


__global__ void kv_store_q8_0(uint8_t *cache, size_t cs, const float *__restrict__ x, size_t xs,
                              int64_t rows, int64_t nblocks, const int32_t *__restrict__ pos) {
  const int lane = threadIdx.x & 31;
  const int64_t n = rows * nblocks, warps = (int64_t)gridDim.x * (blockDim.x >> 5);
  for (int64_t k = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); k < n;
       k += warps) {
    const int64_t t = k / nblocks, b = k % nblocks;
    const float v = tyk_row(x, xs, t)[32 * b + lane];
    const float amax = tyk_warp_max(fabsf(v));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    uint8_t *blk = cache + (size_t)pos[t] * cs + 34 * (size_t)b;
    blk[2 + lane] = (uint8_t)(int8_t)rintf(v * id);
    if (lane == 0) *(__half *)blk = __float2half_rn(amax / 127.0f);
  }
}


extern "C" int tyk_kv_store(void *stream, int type, void *cache, size_t c_stride, const float *x,
                            size_t x_stride, int64_t rows, int64_t cols, const int32_t *pos) {
  TYK_CHECK_ARG(cache != NULL && x != NULL && pos != NULL && rows >= 0 && cols > 0);
  TYK_CHECK_ARG(type == TYK_F32 || type == TYK_F16 || type == TYK_Q8_0);
  TYK_CHECK_ARG(tyk_aligned(x, x_stride, 4));
  if (rows == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  uint8_t *c = (uint8_t *)cache;
  if (type == TYK_F32) {
    TYK_CHECK_ARG(tyk_aligned(cache, c_stride, 4) && c_stride >= (size_t)cols * 4);
    kv_store_plain<float><<<tyk_blocks(rows * cols, 256), 256, 0, st>>>(c, c_stride, x, x_stride,
                                                                         rows, cols, pos);
  } else if (type == TYK_F16) {
    TYK_CHECK_ARG(tyk_aligned(cache, c_stride, 2) && c_stride >= (size_t)cols * 2);
    kv_store_plain<__half><<<tyk_blocks(rows * cols, 256), 256, 0, st>>>(c, c_stride, x,
                                                                          x_stride, rows, cols, pos);
  } else {
    TYK_CHECK_ARG(cols % 32 == 0 && tyk_aligned(cache, c_stride, 2));
    TYK_CHECK_ARG(c_stride >= (size_t)(cols / 32) * 34);
    kv_store_q8_0<<<tyk_blocks(rows * (cols / 32), 8), 256, 0, st>>>(c, c_stride, x, x_stride,
                                                                     rows, cols / 32, pos);
  }
  return tyk_launched();
}


/* ---- elementwise ---------------------------------------------------------- */

__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

/* The tanh form, clamped where the CPU's table is (|x| >= 10). */
__device__ __forceinline__ float gelu(float x) {
  const float c = 0.044715f, s = 0.79788456080286535587989211986876f;   /* sqrt(2/pi) */
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return 0.5f * x * (1.0f + tanhf(s * x * (1.0f + c * x * x)));
}

enum { EW_SILU, EW_GELU, EW_ADD, EW_SCALE };

template <int OP>
__global__ void elementwise_kernel(const float *a, size_t as, const float *b, size_t bs,
                                   float s, float *dst, size_t ds, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n;
       k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = k / cols, i = k % cols;
    const float x = tyk_row(a, as, t)[i];
    float r;
    if constexpr (OP == EW_SILU) r = silu(x) * tyk_row(b, bs, t)[i];
    else if constexpr (OP == EW_GELU) r = gelu(x) * tyk_row(b, bs, t)[i];
    else if constexpr (OP == EW_ADD) r = x + tyk_row(b, bs, t)[i];
    else r = x * s;
    tyk_row(dst, ds, t)[i] = r;
  }
}


template <int OP>
static int elementwise(void *stream, const float *a, size_t as, const float *b, size_t bs,
                       float s, float *dst, size_t ds, int64_t rows, int64_t cols) {
  TYK_CHECK_ARG(a != NULL && dst != NULL && (OP == EW_SCALE || b != NULL));
  TYK_CHECK_ARG(rows >= 0 && cols > 0);
  TYK_CHECK_ARG(tyk_aligned(a, as, 4) && tyk_aligned(dst, ds, 4));
  TYK_CHECK_ARG(OP == EW_SCALE || tyk_aligned(b, bs, 4));
  if (rows == 0) return 0;
  elementwise_kernel<OP><<<tyk_blocks(rows * cols, 256), 256, 0, tyk_stream(stream)>>>(
      a, as, b, bs, s, dst, ds, rows, cols);
  return tyk_launched();
}


extern "C" int tyk_glu(void *stream, int act, const float *a, size_t a_stride, const float *b,
                       size_t b_stride, float *dst, size_t d_stride, int64_t rows, int64_t cols) {
  if (act == TYK_ACT_SILU)
    return elementwise<EW_SILU>(stream, a, a_stride, b, b_stride, 0.0f, dst, d_stride, rows, cols);
  if (act == TYK_ACT_GELU)
    return elementwise<EW_GELU>(stream, a, a_stride, b, b_stride, 0.0f, dst, d_stride, rows, cols);
  return (int)cudaErrorInvalidValue;
}


extern "C" int tyk_add(void *stream, const float *a, size_t a_stride, const float *b,
                       size_t b_stride, float *dst, size_t d_stride, int64_t rows, int64_t cols) {
  return elementwise<EW_ADD>(stream, a, a_stride, b, b_stride, 0.0f, dst, d_stride, rows, cols);
}


extern "C" int tyk_scale(void *stream, const float *a, size_t a_stride, float s, float *dst,
                         size_t d_stride, int64_t rows, int64_t cols) {
  return elementwise<EW_SCALE>(stream, a, a_stride, NULL, 0, s, dst, d_stride, rows, cols);
}
