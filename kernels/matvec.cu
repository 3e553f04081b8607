/*
 * matvec.cu: the weight readers: the dequantizing matrix-vector product for
 * decode (1..8 tokens), dequantization to f16 for cuBLAS prefill, f32 to f16
 * activations, and the embedding lookup.
 *
 * Precision against the CPU backend: the CPU rounds the activations to the
 * weight's dot type (q8_0 / q8_1 / q8_K, 8-bit) before an integer dot; here
 * x stays f32 and each weight is dequantized exactly (dequant.h, checked bit
 * for bit on the host by tests/c/test_cuda_dequant.c, except that nvcc fuses
 * q4_1/q5_1/K-quant "d*q - m" into one FMA), then summed in f32 per lane and
 * across the warp. So the GPU is closer to the exact product than the CPU;
 * the two differ by the CPU's activation rounding (each x off by up to half
 * of its block's max|x|/127): for random Gaussian x expect |gpu - cpu| <=
 * 1e-2 * sum|w*x| per output for the quantized types, and ~1e-6 relative for
 * f32/f16/bf16 weights (the CPU sums those in double; order only). dequant_f16 rounds each dequantized weight
 * to f16 (relative 2^-11 per weight), as llama.cpp's cuBLAS path does.
 */
#include "common.cuh"

#include <cuda_fp16.h>

#define TYK_WEIGHT_TYPES(X) \
  X(TYK_F32) X(TYK_F16) X(TYK_BF16) X(TYK_Q4_0) X(TYK_Q4_1) X(TYK_Q5_0) X(TYK_Q5_1) \
  X(TYK_Q8_0) X(TYK_Q2_K) X(TYK_Q3_K) X(TYK_Q4_K) X(TYK_Q5_K) X(TYK_Q6_K)

extern "C" int tyk_weight_type_ok(int type) {
  switch (type) {
#define TYK_OK_CASE(T) case T:
    TYK_WEIGHT_TYPES(TYK_OK_CASE)
#undef TYK_OK_CASE
      return 1;
    default:
      return 0;
  }
}


/* Checks shared by the weight readers: a known type, whole 8-element chunks
   and blocks, rows as aligned as the type's blocks need (dequant.h). */
static bool weights_ok(int type, const void *w, size_t w_stride, int64_t rows, int64_t cols) {
  if (!tyk_weight_type_ok(type) || w == NULL || rows < 0 || cols <= 0) return false;
  if (cols % TYK_CHUNK != 0 || cols % tyk_blck(type) != 0) return false;
  if (cols / TYK_CHUNK > INT32_MAX) return false;
  if (rows > 1 && w_stride < (size_t)(cols / tyk_blck(type) * tyk_type_size(type))) return false;
  return tyk_aligned(w, w_stride, tyk_align(type));
}


/* ---- matrix-vector -------------------------------------------------------
   Each warp takes MV_ROWS consecutive rows; lane l reads chunks l, l + 32,
   ... of each, so a warp's loads of a row are contiguous. The x chunk a lane
   loads (two float4 per token) serves all MV_ROWS rows, and each weight chunk
   is dequantized once for all tokens. NT is the token count rounded up to a
   power of two; tokens past n_tok are skipped (uniform branches). */

#define MV_WARPS 4
#define MV_ROWS 2

template <int TYPE, int NT>
__global__ void __launch_bounds__(MV_WARPS * 32)
matvec_kernel(const uint8_t *__restrict__ w, size_t ws, int64_t rows, int nchunks,
              const float *__restrict__ x, size_t xs, float *__restrict__ y, size_t ys, int n_tok) {
  const int lane = threadIdx.x & 31;
  const int64_t r0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * MV_ROWS;
  if (r0 >= rows) return;
  const uint8_t *wr[MV_ROWS];
#pragma unroll
  for (int r = 0; r < MV_ROWS; r++)   /* rows past the end reread row r0; never stored */
    wr[r] = w + (size_t)(r0 + r < rows ? r0 + r : r0) * ws;
  float acc[MV_ROWS][NT];
#pragma unroll
  for (int r = 0; r < MV_ROWS; r++)
#pragma unroll
    for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;

#pragma unroll 2
  for (int c = lane; c < nchunks; c += 32) {
    float xv[NT][8];
#pragma unroll
    for (int t = 0; t < NT; t++) {
      if (t < n_tok) {
        const float4 *xp = (const float4 *)(tyk_row(x, xs, t) + 8 * (size_t)c);
        const float4 a = __ldg(xp), b = __ldg(xp + 1);
        xv[t][0] = a.x; xv[t][1] = a.y; xv[t][2] = a.z; xv[t][3] = a.w;
        xv[t][4] = b.x; xv[t][5] = b.y; xv[t][6] = b.z; xv[t][7] = b.w;
      }
    }
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) {
      float v[8];
      tyk_dq_chunk(TYPE, wr[r], c, v);
#pragma unroll
      for (int t = 0; t < NT; t++) {
        if (t < n_tok) {
          float s = acc[r][t];
#pragma unroll
          for (int k = 0; k < 8; k++) s = fmaf(v[k], xv[t][k], s);
          acc[r][t] = s;
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < MV_ROWS; r++)
#pragma unroll
    for (int t = 0; t < NT; t++) {
      const float s = tyk_warp_sum(acc[r][t]);
      if (lane == 0 && t < n_tok && r0 + r < rows) tyk_row(y, ys, t)[r0 + r] = s;
    }
}


template <int TYPE>
static void matvec_launch(cudaStream_t st, const uint8_t *w, size_t ws, int64_t rows,
                          int nchunks, const float *x, size_t xs, float *y, size_t ys, int n_tok) {
  const int64_t per_block = MV_WARPS * MV_ROWS;
  const unsigned blocks = (unsigned)((rows + per_block - 1) / per_block);
  const dim3 grid(blocks), block(MV_WARPS * 32);
  if (n_tok == 1)
    matvec_kernel<TYPE, 1><<<grid, block, 0, st>>>(w, ws, rows, nchunks, x, xs, y, ys, n_tok);
  else if (n_tok == 2)
    matvec_kernel<TYPE, 2><<<grid, block, 0, st>>>(w, ws, rows, nchunks, x, xs, y, ys, n_tok);
  else if (n_tok <= 4)
    matvec_kernel<TYPE, 4><<<grid, block, 0, st>>>(w, ws, rows, nchunks, x, xs, y, ys, n_tok);
  else
    matvec_kernel<TYPE, 8><<<grid, block, 0, st>>>(w, ws, rows, nchunks, x, xs, y, ys, n_tok);
}


extern "C" int tyk_matvec(void *stream, int type, const void *w, size_t w_stride, int64_t rows,
                          int64_t cols, const float *x, size_t x_stride, float *y,
                          size_t y_stride, int n_tok) {
  TYK_CHECK_ARG(n_tok >= 1 && n_tok <= TYK_MATVEC_MAX_TOK);
  TYK_CHECK_ARG(weights_ok(type, w, w_stride, rows, cols));
  TYK_CHECK_ARG(x != NULL && y != NULL && tyk_aligned(x, x_stride, 16));
  TYK_CHECK_ARG(rows / (MV_WARPS * MV_ROWS) < INT32_MAX);
  if (rows == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  const uint8_t *wb = (const uint8_t *)w;
  const int nchunks = (int)(cols / TYK_CHUNK);
  switch (type) {
#define TYK_MV_CASE(T) \
    case T: matvec_launch<T>(st, wb, w_stride, rows, nchunks, x, x_stride, y, y_stride, n_tok); break;
    TYK_WEIGHT_TYPES(TYK_MV_CASE)
#undef TYK_MV_CASE
  }
  return tyk_launched();
}


/* ---- dequantize to f16 ---------------------------------------------------
   One thread per chunk: 8 weights, stored as one 16-byte write. */

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *(const uint32_t *)&h;
}


template <int TYPE>
__global__ void dequant_f16_kernel(const uint8_t *__restrict__ w, size_t ws, int64_t rows,
                                   int64_t nchunks, uint4 *__restrict__ out) {
  const int64_t n = rows * nchunks;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / nchunks, c = i % nchunks;
    float v[8];
    tyk_dq_chunk(TYPE, w + (size_t)r * ws, c, v);
    out[i] = make_uint4(pack_half2(v[0], v[1]), pack_half2(v[2], v[3]), pack_half2(v[4], v[5]),
                        pack_half2(v[6], v[7]));
  }
}


extern "C" int tyk_dequant_f16(void *stream, int type, const void *w, size_t w_stride,
                               int64_t rows, int64_t cols, void *out) {
  TYK_CHECK_ARG(weights_ok(type, w, w_stride, rows, cols));
  TYK_CHECK_ARG(out != NULL && (uintptr_t)out % 16 == 0);
  if (rows == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  const uint8_t *wb = (const uint8_t *)w;
  const int64_t nchunks = cols / TYK_CHUNK;
  const unsigned blocks = tyk_blocks(rows * nchunks, 256);
  switch (type) {
#define TYK_DQ_CASE(T) \
    case T: dequant_f16_kernel<T><<<blocks, 256, 0, st>>>(wb, w_stride, rows, nchunks, (uint4 *)out); break;
    TYK_WEIGHT_TYPES(TYK_DQ_CASE)
#undef TYK_DQ_CASE
  }
  return tyk_launched();
}


/* ---- f32 to f16 --------------------------------------------------------- */

__global__ void f32_to_f16_kernel(const float *__restrict__ x, size_t xs, int64_t rows,
                                  int64_t cols, __half *__restrict__ out) {
  const int64_t n = rows * cols;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    out[i] = __float2half_rn(tyk_row(x, xs, r)[c]);
  }
}


extern "C" int tyk_f32_to_f16(void *stream, const float *x, size_t x_stride, int64_t rows,
                              int64_t cols, void *out) {
  TYK_CHECK_ARG(x != NULL && out != NULL && rows >= 0 && cols > 0);
  TYK_CHECK_ARG(rows <= 1 || x_stride >= (size_t)cols * sizeof(float));
  TYK_CHECK_ARG(tyk_aligned(x, x_stride, 4) && (uintptr_t)out % 2 == 0);
  if (rows == 0) return 0;
  f32_to_f16_kernel<<<tyk_blocks(rows * cols, 256), 256, 0, tyk_stream(stream)>>>(
      x, x_stride, rows, cols, (__half *)out);
  return tyk_launched();
}


/* ---- embedding lookup ----------------------------------------------------
   dst[t] = row ids[t] of a, times scale. Grid: (chunks of a row, tokens). The
   ids are device memory and are not checked against a's row count (the
   launcher does not know it): the caller validates token ids. */

template <int TYPE>
__global__ void get_rows_kernel(const uint8_t *__restrict__ a, size_t as, int nchunks,
                                const int32_t *__restrict__ ids, float *__restrict__ dst,
                                size_t ds, float scale) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= nchunks) return;
  const int t = blockIdx.y;
  float v[8];
  tyk_dq_chunk(TYPE, a + (size_t)ids[t] * as, c, v);
  float *d = tyk_row(dst, ds, t) + 8 * (size_t)c;
#pragma unroll
  for (int k = 0; k < 8; k++) d[k] = v[k] * scale;
}


extern "C" int tyk_get_rows(void *stream, int type, const void *a, size_t a_stride, int64_t cols,
                            const int32_t *ids, int n, float *dst, size_t dst_stride,
                            float scale) {
  TYK_CHECK_ARG(n >= 0 && n <= 65535 && ids != NULL && dst != NULL);
  TYK_CHECK_ARG(weights_ok(type, a, a_stride, 2, cols));
  TYK_CHECK_ARG(tyk_aligned(dst, dst_stride, 4));
  if (n == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  const uint8_t *ab = (const uint8_t *)a;
  const int nchunks = (int)(cols / TYK_CHUNK);
  const dim3 grid((unsigned)((nchunks + 127) / 128), (unsigned)n);
  switch (type) {
#define TYK_GR_CASE(T) \
    case T: get_rows_kernel<T><<<grid, 128, 0, st>>>(ab, a_stride, nchunks, ids, dst, dst_stride, scale); break;
    TYK_WEIGHT_TYPES(TYK_GR_CASE)
#undef TYK_GR_CASE
  }
  return tyk_launched();
}
