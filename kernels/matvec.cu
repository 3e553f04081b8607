/*
 * matvec.cu: the weight readers: the matrix-vector products for decode
 * (1..8 tokens), dequantization to f16 for cuBLAS prefill, f32 to f16
 * activations, and the embedding lookup.
 *
 * Decode has two products. The int8 one (q4_0, q4_1, q5_0, q5_1, q8_0,
 * q4_K, q5_K, q6_K), as llama.cpp's mmvq: the activations are first rounded
 * to 8 bits per 32 values (ggml's reference q8_1 rule: d = amax/127, q =
 * roundf(x * (1/d)), d kept as f16), then each 32 weights meet 32 of them in
 * eight dp4a, whose exact integer sums are scaled in f32. The float one
 * (every other type, or TYCHO_CUDA_MMVQ=0): each weight dequantized exactly
 * (dequant.h, checked bit for bit on the host by tests/c/test_cuda_dequant.c,
 * except that nvcc fuses "d*q - m" into one FMA) and multiplied by f32 x.
 * A dequantizing f32 product spends about 9 instructions a weight, which on
 * an H200 is twice the time its weights take to stream; dp4a takes about one
 * a weight.
 *
 * Precision: the int8 product computes exactly, up to f32 rounding, the
 * product of the dequantized weights with the activations as the q8_1
 * reference rounds them; the CPU backend rounds them too (to its weight's
 * dot type, 8-bit), so the two differ by where each rounds. The float
 * product differs from the exact one by f32 rounding only (~1e-6 relative).
 * dequant_f16 rounds each dequantized weight to f16 (relative 2^-11 per
 * weight), as llama.cpp's cuBLAS path does.
 */
#include "common.cuh"

#include <cuda_fp16.h>

#define TYK_WEIGHT_TYPES(X) \
  X(TYK_F32) X(TYK_F16) X(TYK_BF16) X(TYK_Q4_0) X(TYK_Q4_1) X(TYK_Q5_0) X(TYK_Q5_1) \
  X(TYK_Q8_0) X(TYK_Q2_K) X(TYK_Q3_K) X(TYK_Q4_K) X(TYK_Q5_K) X(TYK_Q6_K)

#define TYK_INT8_TYPES(X) \
  X(TYK_Q4_0) X(TYK_Q4_1) X(TYK_Q5_0) X(TYK_Q5_1) X(TYK_Q8_0) X(TYK_Q4_K) X(TYK_Q5_K) X(TYK_Q6_K)

/* name(type): 1 if type is one of LIST's. */
#define TYK_CASE(T) case T:
#define TYK_TYPE_SET(name, LIST) \
  extern "C" int name(int type) { \
    switch (type) { LIST(TYK_CASE) return 1; default: return 0; } \
  }

TYK_TYPE_SET(tyk_weight_type_ok, TYK_WEIGHT_TYPES)
TYK_TYPE_SET(tyk_matvec_int8, TYK_INT8_TYPES)


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


/* ---- int8 product -------------------------------------------------------
   Activations first: q8 rows of tyk_q8_row_bytes(cols), one per token: the
   int8 values, then a float2 per 32 (d as f16 read back to f32, and the sum
   of the 32 int8, exact). Then each thread takes 32 weights (a "granule") at
   a time: a 32-weight block of the small types, an eighth of a K
   super-block. */

__global__ void quantize_q8_kernel(const float *__restrict__ x, size_t xs, int64_t nblocks,
                                   uint8_t *__restrict__ xq, size_t xrow, int64_t cols) {
  const int lane = threadIdx.x & 31, t = blockIdx.y;
  const int64_t b = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (b >= nblocks) return;
  const float v = tyk_row(x, xs, t)[32 * b + lane];
  const float amax = tyk_warp_max(fabsf(v));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const int q = (int)roundf(v * id);
  uint8_t *row = xq + (size_t)t * xrow;
  row[32 * b + lane] = (uint8_t)(int8_t)q;
  const int sum = __reduce_add_sync(0xffffffffu, q);
  if (lane == 0)
    ((float2 *)(row + cols))[b] = make_float2(__half2float(__float2half_rn(d)), (float)sum);
}


/* n words from a 2-byte aligned p: aligned loads and funnel shifts (blocks
   of 18, 22, 34 or 210 bytes sit at any even address). The word past the
   end is read only when p is not 4-byte aligned, so nothing past the last
   byte is touched. */
template <int N>
__device__ __forceinline__ void ld_words2(const uint8_t *p, uint32_t *w) {
  const uint32_t *a = (const uint32_t *)((uintptr_t)p & ~(uintptr_t)3);
  const int sh = (int)((uintptr_t)p & 2) * 8;
  uint32_t u[N + 1];
#pragma unroll
  for (int i = 0; i < N; i++) u[i] = __ldg(a + i);
  u[N] = sh ? __ldg(a + N) : 0u;
#pragma unroll
  for (int i = 0; i < N; i++) w[i] = __funnelshift_r(u[i], u[i + 1], sh);
}


template <int N>
__device__ __forceinline__ void ld_words4(const uint8_t *p, uint32_t *w) {
#pragma unroll
  for (int i = 0; i < N; i++) w[i] = __ldg((const uint32_t *)p + i);
}


__device__ __forceinline__ uint4 ld_x16(const uint8_t *p) { return __ldg((const uint4 *)p); }

__device__ __forceinline__ int dot4(uint32_t a, uint32_t b, int c) { return __dp4a((int)a, (int)b, c); }

/* Sum of 8 products of (w[k], x[k]) words. */
__device__ __forceinline__ int dot8(const uint32_t *w, uint4 x0, uint4 x1) {
  int s = dot4(w[0], x0.x, 0);
  s = dot4(w[1], x0.y, s); s = dot4(w[2], x0.z, s); s = dot4(w[3], x0.w, s);
  s = dot4(w[4], x1.x, s); s = dot4(w[5], x1.y, s); s = dot4(w[6], x1.z, s);
  return dot4(w[7], x1.w, s);
}

__device__ __forceinline__ int dot_x4(const uint32_t *w, uint4 x) {
  return dot4(w[3], x.w, dot4(w[2], x.z, dot4(w[1], x.y, dot4(w[0], x.x, 0))));
}

__device__ __forceinline__ int sum_x4(uint4 x) {
  const uint32_t one = 0x01010101u;
  return dot4(one, x.w, dot4(one, x.z, dot4(one, x.y, dot4(one, x.x, 0))));
}

/* Bit k of each of the 4 bytes of (h >> s) moved to bit 4 of that byte: the
   fifth bit of q5 weights, as llama.cpp spreads it. */
__device__ __forceinline__ uint32_t q5_high(uint32_t h) {
  return (h << 4 & 0x10u) | (h << 11 & 0x1000u) | (h << 18 & 0x100000u) | (h << 25 & 0x10000000u);
}

/* A q4/q5 block's 32 weights as 8 words of bytes: the low nibbles of its 16
   bytes of qs (elements 0..15), then the high ones (16..31); q5's fifth bit
   of element e is bit e of h. */
template <int Q5>
__device__ __forceinline__ void unpack_q45(const uint32_t w[4], uint32_t h, uint32_t q[8]) {
#pragma unroll
  for (int k = 0; k < 4; k++) {
    q[k] = w[k] & 0x0F0F0F0Fu;
    q[4 + k] = w[k] >> 4 & 0x0F0F0F0Fu;
    if (Q5) {
      q[k] |= q5_high(h >> 4 * k);
      q[4 + k] |= q5_high(h >> (16 + 4 * k));
    }
  }
}

/* q8 x block k of a token row: its 32 int8 and its (d, sum). */
struct xblock { uint4 lo, hi; float2 ds; };

__device__ __forceinline__ xblock x_block(const uint8_t *xr, int64_t cols, int64_t k) {
  xblock b;
  b.lo = ld_x16(xr + 32 * k);
  b.hi = ld_x16(xr + 32 * k + 16);
  b.ds = __ldg((const float2 *)(xr + cols) + k);
  return b;
}


/* One granule of each type: load() reads its weights once, dot() meets them
   with one token's q8 row. gi counts granules along the row. */
template <int TYPE> struct gran;

/* q4_0 and q5_0: (q - 8) d and (q - 16) d, blocks of 18 and 22 bytes. */
template <int Q5> struct gran_q45_0 {
  uint32_t q[8]; float d;
  __device__ void load(const uint8_t *row, int64_t gi) {
    const uint8_t *b = row + (Q5 ? 22 : 18) * gi;
    uint32_t w[4], h = 0;
    d = tyk_h2f(tyk_ld16(b));
    if (Q5) ld_words2<1>(b + 2, &h);
    ld_words2<4>(b + (Q5 ? 6 : 2), w);
    unpack_q45<Q5>(w, h, q);
  }
  __device__ float dot(const uint8_t *xr, int64_t cols, int64_t gi) const {
    const xblock x = x_block(xr, cols, gi);
    return d * x.ds.x * ((float)dot8(q, x.lo, x.hi) - (Q5 ? 16.0f : 8.0f) * x.ds.y);
  }
};

/* q4_1 and q5_1: q d + m, blocks of 20 and 24 bytes. */
template <int Q5> struct gran_q45_1 {
  uint32_t q[8]; float d, m;
  __device__ void load(const uint8_t *row, int64_t gi) {
    const uint8_t *b = row + (Q5 ? 24 : 20) * gi;
    uint32_t w[4];
    const uint32_t dm = __ldg((const uint32_t *)b), h = Q5 ? __ldg((const uint32_t *)b + 1) : 0;
    d = tyk_h2f(dm & 0xFFFF);
    m = tyk_h2f(dm >> 16);
    ld_words4<4>(b + (Q5 ? 8 : 4), w);
    unpack_q45<Q5>(w, h, q);
  }
  __device__ float dot(const uint8_t *xr, int64_t cols, int64_t gi) const {
    const xblock x = x_block(xr, cols, gi);
    return x.ds.x * (d * (float)dot8(q, x.lo, x.hi) + m * x.ds.y);
  }
};

template <> struct gran<TYK_Q4_0> : gran_q45_0<0> {};
template <> struct gran<TYK_Q5_0> : gran_q45_0<1> {};
template <> struct gran<TYK_Q4_1> : gran_q45_1<0> {};
template <> struct gran<TYK_Q5_1> : gran_q45_1<1> {};

template <> struct gran<TYK_Q8_0> {
  uint32_t q[8]; float d;
  __device__ void load(const uint8_t *row, int64_t gi) {
    const uint8_t *b = row + 34 * gi;
    d = tyk_h2f(tyk_ld16(b));
    ld_words2<8>(b + 2, q);
  }
  __device__ float dot(const uint8_t *xr, int64_t cols, int64_t gi) const {
    const xblock x = x_block(xr, cols, gi);
    return d * x.ds.x * (float)dot8(q, x.lo, x.hi);
  }
};

/* q4_K and q5_K: granule g (0..7) of super-block gi/8 takes 16 bytes of qs,
   i = g/2's 32 bytes, half h = g%2: the low nibbles are elements 64i + 16h
   + 0..15 (sub-block 2i), the high ones 64i + 32 + 16h + 0..15 (sub-block
   2i + 1). Each half meets half of a q8 block, so its sum of x is taken
   with dp4a too. */
template <int Q5> struct gran_k45 {
  uint32_t lo[4], hi[4]; float d1, m1, d2, m2;
  __device__ void load(const uint8_t *row, int64_t gi) {
    const int g = (int)(gi & 7), i = g >> 1, h = g & 1;
    const uint8_t *b = row + (Q5 ? 176 : 144) * (gi >> 3);
    const uint4 head = ld_x16(b);    /* d, dmin, 12 bytes of packed scales */
    const uint4 qs = ld_x16(b + (Q5 ? 48 : 16) + 32 * i + 16 * h);
    const uint32_t w[4] = { qs.x, qs.y, qs.z, qs.w };
    uint32_t qh[4] = { 0, 0, 0, 0 };
    if (Q5) {
      const uint4 u = ld_x16(b + 16 + 16 * h);
      qh[0] = u.x; qh[1] = u.y; qh[2] = u.z; qh[3] = u.w;
    }
#pragma unroll
    for (int k = 0; k < 4; k++) {
      lo[k] = w[k] & 0x0F0F0F0Fu;
      hi[k] = w[k] >> 4 & 0x0F0F0F0Fu;
      if (Q5) {
        lo[k] |= (qh[k] >> 2 * i & 0x01010101u) << 4;
        hi[k] |= (qh[k] >> (2 * i + 1) & 0x01010101u) << 4;
      }
    }
    const float d = tyk_h2f(head.x & 0xFFFF), dmin = tyk_h2f(head.x >> 16);
    int sc, m;
    scale_min(head, 2 * i, &sc, &m);
    d1 = d * tyk_i2f(sc);
    m1 = dmin * tyk_i2f(m);
    scale_min(head, 2 * i + 1, &sc, &m);
    d2 = d * tyk_i2f(sc);
    m2 = dmin * tyk_i2f(m);
  }
  /* byte k of the 12 packed scale bytes (head.y .. head.w) */
  static __device__ __forceinline__ int sbyte(uint4 head, int k) {
    const uint32_t w = k < 4 ? head.y : k < 8 ? head.z : head.w;
    return (int)(w >> 8 * (k & 3) & 0xFF);
  }
  /* ggml's get_scale_min_k4 */
  static __device__ __forceinline__ void scale_min(uint4 head, int j, int *sc, int *m) {
    if (j < 4) {
      *sc = sbyte(head, j) & 63;
      *m = sbyte(head, j + 4) & 63;
    } else {
      *sc = (sbyte(head, j + 4) & 15) | (sbyte(head, j - 4) >> 6) << 4;
      *m = (sbyte(head, j + 4) >> 4) | (sbyte(head, j) >> 6) << 4;
    }
  }
  __device__ float dot(const uint8_t *xr, int64_t cols, int64_t gi) const {
    const int g = (int)(gi & 7), i = g >> 1, h = g & 1;
    const int64_t k0 = 8 * (gi >> 3) + 2 * i;          /* q8 block of sub-block 2i */
    const uint4 x0 = ld_x16(xr + 32 * k0 + 16 * h), x1 = ld_x16(xr + 32 * (k0 + 1) + 16 * h);
    const float2 *ds = (const float2 *)(xr + cols);
    const float dx0 = __ldg(ds + k0).x, dx1 = __ldg(ds + k0 + 1).x;
    return dx0 * (d1 * (float)dot_x4(lo, x0) - m1 * (float)sum_x4(x0)) +
           dx1 * (d2 * (float)dot_x4(hi, x1) - m2 * (float)sum_x4(x1));
  }
};

template <> struct gran<TYK_Q4_K> : gran_k45<0> {};
template <> struct gran<TYK_Q5_K> : gran_k45<1> {};

/* q6_K: granule g of super-block gi/8: half n = g/4 (128 elements), l in
   8(g%4) .. +7; each l gives 4 weights, at l, l + 32, l + 64, l + 96 of the
   half (ggml's q1..q4), each run of 8 with one scale. */
template <> struct gran<TYK_Q6_K> {
  uint32_t q[4][2]; float sc[4], d;
  __device__ void load(const uint8_t *row, int64_t gi) {
    const int g = (int)(gi & 7), n = g >> 2, lq = g & 3;
    const uint8_t *b = row + 210 * (gi >> 3);
    uint32_t a[2], c[2], h[2];
    ld_words2<2>(b + 64 * n + 8 * lq, a);          /* ql[l] */
    ld_words2<2>(b + 64 * n + 32 + 8 * lq, c);     /* ql[l + 32] */
    ld_words2<2>(b + 128 + 32 * n + 8 * lq, h);    /* qh[l] */
#pragma unroll
    for (int k = 0; k < 2; k++) {
      q[0][k] = __vsub4((a[k] & 0x0F0F0F0Fu) | (h[k] << 4 & 0x30303030u), 0x20202020u);
      q[1][k] = __vsub4((c[k] & 0x0F0F0F0Fu) | (h[k] << 2 & 0x30303030u), 0x20202020u);
      q[2][k] = __vsub4((a[k] >> 4 & 0x0F0F0F0Fu) | (h[k] & 0x30303030u), 0x20202020u);
      q[3][k] = __vsub4((c[k] >> 4 & 0x0F0F0F0Fu) | (h[k] >> 2 & 0x30303030u), 0x20202020u);
    }
    const uint8_t *s = b + 192 + 8 * n + (lq >> 1);
#pragma unroll
    for (int p = 0; p < 4; p++) sc[p] = tyk_i2f((int8_t)__ldg(s + 2 * p));
    d = tyk_h2f(tyk_ld16(b + 208));
  }
  __device__ float dot(const uint8_t *xr, int64_t cols, int64_t gi) const {
    const int g = (int)(gi & 7), n = g >> 2, lq = g & 3;
    const int64_t k0 = 8 * (gi >> 3) + 4 * n;        /* q8 block of the l run */
    const float2 *ds = (const float2 *)(xr + cols);
    float s = 0.0f;
#pragma unroll
    for (int p = 0; p < 4; p++) {
      const uint2 x = __ldg((const uint2 *)(xr + 32 * (k0 + p) + 8 * lq));
      const int v = dot4(q[p][1], x.y, dot4(q[p][0], x.x, 0));
      s = fmaf(sc[p] * __ldg(ds + k0 + p).x, (float)v, s);
    }
    return d * s;
  }
};


#define MQ_WARPS 4

/* W warps a row (1, 2 or MQ_WARPS: as many as the row has granules for),
   MQ_WARPS / W rows a block, a granule a thread at a time. (A warp a row,
   each lane loading four granules before it multiplies any, ran an 8B
   decode step slower on the H200: 89 to 126 registers a thread, so fewer
   warps in flight.) */
template <int TYPE, int NT, int W>
__global__ void __launch_bounds__(MQ_WARPS * 32)
matvec_q8_kernel(const uint8_t *__restrict__ w, size_t ws, int64_t rows, int64_t ngran,
                 const uint8_t *__restrict__ xq, size_t xrow, int64_t cols, float *__restrict__ y,
                 size_t ys, int n_tok) {
  __shared__ float part[MQ_WARPS][NT];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * (MQ_WARPS / W) + warp / W;
  const int tid = (warp % W) * 32 + lane;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; t++) acc[t] = 0.0f;
  if (r < rows) {
    const uint8_t *wr = w + (size_t)r * ws;
    for (int64_t gi = tid; gi < ngran; gi += W * 32) {
      gran<TYPE> g;
      g.load(wr, gi);
#pragma unroll
      for (int t = 0; t < NT; t++)
        if (t < n_tok) acc[t] += g.dot(xq + (size_t)t * xrow, cols, gi);
    }
  }
#pragma unroll
  for (int t = 0; t < NT; t++) acc[t] = tyk_warp_sum(acc[t]);
  if (W == 1) {
    if (lane == 0 && r < rows)
#pragma unroll
      for (int t = 0; t < NT; t++)
        if (t < n_tok) tyk_row(y, ys, t)[r] = acc[t];
    return;
  }
  if (lane == 0)
#pragma unroll
    for (int t = 0; t < NT; t++) part[warp][t] = acc[t];
  __syncthreads();
  if (warp % W == 0 && lane < NT && lane < n_tok && r < rows) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < W; k++) s += part[warp + k][lane];
    tyk_row(y, ys, lane)[r] = s;
  }
}


template <int TYPE, int NT>
static void matvec_q8_launch(cudaStream_t st, const uint8_t *w, size_t ws, int64_t rows,
                             int64_t cols, const uint8_t *xq, float *y, size_t ys, int n_tok) {
  const int64_t ngran = cols / 32;
  const size_t xrow = tyk_q8_row_bytes(cols);
  const dim3 block(MQ_WARPS * 32);
#define TYK_MQ_LAUNCH(W) \
  matvec_q8_kernel<TYPE, NT, W><<<(unsigned)((rows + MQ_WARPS / W - 1) / (MQ_WARPS / W)), block, \
                                  0, st>>>(w, ws, rows, ngran, xq, xrow, cols, y, ys, n_tok)
  if (ngran >= 32 * MQ_WARPS) TYK_MQ_LAUNCH(MQ_WARPS);
  else if (ngran > 32) TYK_MQ_LAUNCH(2);
  else TYK_MQ_LAUNCH(1);
#undef TYK_MQ_LAUNCH
}


template <int TYPE>
static void matvec_q8_tokens(cudaStream_t st, const uint8_t *w, size_t ws, int64_t rows,
                             int64_t cols, const uint8_t *xq, float *y, size_t ys, int n_tok) {
  if (n_tok == 1) matvec_q8_launch<TYPE, 1>(st, w, ws, rows, cols, xq, y, ys, n_tok);
  else if (n_tok == 2) matvec_q8_launch<TYPE, 2>(st, w, ws, rows, cols, xq, y, ys, n_tok);
  else if (n_tok <= 4) matvec_q8_launch<TYPE, 4>(st, w, ws, rows, cols, xq, y, ys, n_tok);
  else matvec_q8_launch<TYPE, 8>(st, w, ws, rows, cols, xq, y, ys, n_tok);
}


extern "C" int tyk_matvec(void *stream, int type, const void *w, size_t w_stride, int64_t rows,
                          int64_t cols, const float *x, size_t x_stride, void *xq, int xq_ready,
                          float *y, size_t y_stride, int n_tok) {
  TYK_CHECK_ARG(n_tok >= 1 && n_tok <= TYK_MATVEC_MAX_TOK);
  TYK_CHECK_ARG(weights_ok(type, w, w_stride, rows, cols));
  TYK_CHECK_ARG(x != NULL && y != NULL && tyk_aligned(x, x_stride, 16));
  TYK_CHECK_ARG(rows / (MV_WARPS * MV_ROWS) < INT32_MAX);
  TYK_CHECK_ARG(xq == NULL || (tyk_matvec_int8(type) && (uintptr_t)xq % 16 == 0));
  if (rows == 0) return 0;
  const cudaStream_t st = tyk_stream(stream);
  const uint8_t *wb = (const uint8_t *)w;
  if (xq != NULL) {
    const int64_t nblocks = cols / 32;
    const dim3 grid((unsigned)((nblocks + MQ_WARPS - 1) / MQ_WARPS), (unsigned)n_tok);
    if (!xq_ready)
      quantize_q8_kernel<<<grid, MQ_WARPS * 32, 0, st>>>(x, x_stride, nblocks, (uint8_t *)xq,
                                                         tyk_q8_row_bytes(cols), cols);
    switch (type) {
#define TYK_MQ_CASE(T) \
      case T: matvec_q8_tokens<T>(st, wb, w_stride, rows, cols, (const uint8_t *)xq, y, y_stride, n_tok); break;
      TYK_INT8_TYPES(TYK_MQ_CASE)
#undef TYK_MQ_CASE
    }
    return tyk_launched();
  }
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
