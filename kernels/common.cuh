/*
 * common.cuh: what the kernel files share: the launch status convention,
 * strided row addressing, warp reductions, grid sizing.
 */
#ifndef TYK_COMMON_CUH
#define TYK_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "kernels.h"
#include "dequant.h"

/* A launcher's bad argument: nothing is launched. */
#define TYK_CHECK_ARG(cond) do { if (!(cond)) return (int)cudaErrorInvalidValue; } while (0)

/* Every launcher ends with this: 0, or the error of its launches. */
static inline int tyk_launched(void) { return (int)cudaGetLastError(); }

static inline cudaStream_t tyk_stream(void *s) { return (cudaStream_t)s; }

/* Row r of a strided matrix. */
template <typename T>
__device__ __forceinline__ T *tyk_row(T *base, size_t stride, int64_t r) {
  return (T *)((char *)base + (size_t)r * stride);
}
template <typename T>
__device__ __forceinline__ const T *tyk_row(const T *base, size_t stride, int64_t r) {
  return (const T *)((const char *)base + (size_t)r * stride);
}

__device__ __forceinline__ float tyk_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float tyk_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Blocks of `threads` covering n items, capped so grid-stride loops finish
   the rest (the x dimension allows 2^31 - 1 blocks). */
static inline unsigned tyk_blocks(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > 65535 * 16) b = 65535 * 16;
  return (unsigned)(b > 0 ? b : 1);
}

/* 1 if p and stride are multiples of a (a power of two). */
static inline int tyk_aligned(const void *p, size_t stride, int a) {
  return ((uintptr_t)p % (uintptr_t)a) == 0 && stride % (size_t)a == 0;
}

#endif
