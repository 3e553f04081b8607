/*
 * dequant.h: GGML's weight formats, read 8 elements (one chunk) at a time.
 * Plain C and CUDA: the same functions run in the kernels (device) and in
 * tests/c/test_cuda_dequant.c (host), which checks them bit for bit against
 * tycho's scalar dequantizers, so the GPU reads the formats the CPU reads.
 *
 * tyk_dq_<type>(block, c, v): v = elements 8c..8c+7 of one block. The plain
 * types (f32, f16, bf16) count 8 elements as their block here. Blocks are
 * read through byte pointers: GGUF places them only 2-byte aligned (a q4_0
 * block is 18 bytes), so the device loads are as wide as the type's block
 * size allows (TYK_ALIGN) and never wider. Products are written in the CPU's
 * order; the host side must compile without FMA contraction to match it.
 */
#ifndef TYK_DEQUANT_H
#define TYK_DEQUANT_H

#include <stdint.h>

#include <string.h>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define TYK_HD __host__ __device__ __forceinline__
#else
#define TYK_HD static inline
#endif

/* GGML's type ids (src/tensor/tensor.h). */
enum {
  TYK_F32 = 0, TYK_F16 = 1, TYK_Q4_0 = 2, TYK_Q4_1 = 3, TYK_Q5_0 = 6, TYK_Q5_1 = 7,
  TYK_Q8_0 = 8, TYK_Q2_K = 10, TYK_Q3_K = 11, TYK_Q4_K = 12, TYK_Q5_K = 13, TYK_Q6_K = 14,
  TYK_BF16 = 30
};


/* ---- loads and conversions ---------------------------------------------- */

/* Half to float, exact for every input (NaN payloads included). */
TYK_HD float tyk_h2f(uint32_t h) {
#ifdef __CUDACC__
  return __half2float(__ushort_as_half((unsigned short)h));
#else
  /* GGML's branch-free conversion, as src/tensor/quants.h */
  const uint32_t w = h << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  uint32_t u = (two_w >> 4) + (0xE0u << 23), r;
  float normalized, denormalized;
  memcpy(&normalized, &u, 4);
  normalized *= 0x1.0p-112f;
  u = (two_w >> 17) | (126u << 23);
  memcpy(&denormalized, &u, 4);
  denormalized -= 0.5f;
  if (two_w < (1u << 27))
    memcpy(&r, &denormalized, 4);
  else
    memcpy(&r, &normalized, 4);
  r |= sign;
  memcpy(&normalized, &r, 4);
  return normalized;
#endif
}


TYK_HD float tyk_bf2f(uint32_t h) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(h << 16);
#else
  const uint32_t u = h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}


/* Small integer to float, exact for |i| < 2^22. On the device through the
   float's bits: integer-to-float conversion runs at a quarter of the FMA rate
   and the matrix-vector kernel converts every weight. */
TYK_HD float tyk_i2f(int i) {
#ifdef __CUDA_ARCH__
  return __int_as_float(0x4B400000 + i) - 12582912.0f;
#else
  return (float)i;
#endif
}


/* 16 bits at p (2-byte aligned), little-endian. */
TYK_HD uint32_t tyk_ld16(const uint8_t *p) {
#ifdef __CUDA_ARCH__
  return *(const uint16_t *)p;
#else
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
#endif
}


/* 32 bits at p, which is aligned to `a` (2, 4, 8 or 16) bytes. */
TYK_HD uint32_t tyk_ld32(const uint8_t *p, int a) {
#ifdef __CUDA_ARCH__
  if (a >= 4) return *(const uint32_t *)p;
  return tyk_ld16(p) | tyk_ld16(p + 2) << 16;
#else
  (void)a;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}


/* 64 bits at p (aligned to `a`) as two little-endian words. */
TYK_HD void tyk_ld64(const uint8_t *p, int a, uint32_t w[2]) {
#ifdef __CUDA_ARCH__
  if (a >= 8) {
    const uint2 u = *(const uint2 *)p;
    w[0] = u.x;
    w[1] = u.y;
    return;
  }
#endif
  w[0] = tyk_ld32(p, a);
  w[1] = tyk_ld32(p + 4, a);
}


/* Byte k (0..7) of the two words of tyk_ld64, shifted right by s bits. */
TYK_HD uint32_t tyk_byte(const uint32_t w[2], int k, int s) {
  return w[k >> 2] >> (8 * (k & 3) + s);
}


/* ---- block shapes ---------------------------------------------------------
   Per type: elements per block (GGML's), bytes per block, and the alignment
   every block has when the row start and row stride have it (the largest
   power of two dividing the block size, capped at 16). The plain types are
   read as 8-element blocks and are assumed 16-byte aligned. */

TYK_HD int tyk_blck(int type) {
  switch (type) {
    case TYK_F32: case TYK_F16: case TYK_BF16: return 1;
    case TYK_Q4_0: case TYK_Q4_1: case TYK_Q5_0: case TYK_Q5_1: case TYK_Q8_0: return 32;
    case TYK_Q2_K: case TYK_Q3_K: case TYK_Q4_K: case TYK_Q5_K: case TYK_Q6_K: return 256;
    default: return 0;
  }
}


TYK_HD int tyk_type_size(int type) {
  switch (type) {
    case TYK_F32: return 4;
    case TYK_F16: case TYK_BF16: return 2;
    case TYK_Q4_0: return 18;
    case TYK_Q4_1: return 20;
    case TYK_Q5_0: return 22;
    case TYK_Q5_1: return 24;
    case TYK_Q8_0: return 34;
    case TYK_Q2_K: return 84;
    case TYK_Q3_K: return 110;
    case TYK_Q4_K: return 144;
    case TYK_Q5_K: return 176;
    case TYK_Q6_K: return 210;
    default: return 0;
  }
}


TYK_HD int tyk_align(int type) {
  switch (type) {
    case TYK_F32: case TYK_F16: case TYK_BF16: case TYK_Q4_K: case TYK_Q5_K: return 16;
    case TYK_Q5_1: return 8;
    case TYK_Q4_1: case TYK_Q2_K: return 4;
    default: return 2;
  }
}


/* ---- plain types ---------------------------------------------------------- */

TYK_HD void tyk_dq_f32(const uint8_t *b, int c, float v[8]) {
#ifdef __CUDA_ARCH__
  const float4 lo = ((const float4 *)b)[2 * c], hi = ((const float4 *)b)[2 * c + 1];
  v[0] = lo.x; v[1] = lo.y; v[2] = lo.z; v[3] = lo.w;
  v[4] = hi.x; v[5] = hi.y; v[6] = hi.z; v[7] = hi.w;
#else
  memcpy(v, b + 32 * c, 32);
#endif
}


TYK_HD void tyk_dq_f16(const uint8_t *b, int c, float v[8]) {
  uint32_t w[4];
  tyk_ld64(b + 16 * c, 16, w);
  tyk_ld64(b + 16 * c + 8, 16, w + 2);
  for (int k = 0; k < 8; k++) v[k] = tyk_h2f((w[k >> 1] >> (16 * (k & 1))) & 0xFFFF);
}


TYK_HD void tyk_dq_bf16(const uint8_t *b, int c, float v[8]) {
  uint32_t w[4];
  tyk_ld64(b + 16 * c, 16, w);
  tyk_ld64(b + 16 * c + 8, 16, w + 2);
  for (int k = 0; k < 8; k++) v[k] = tyk_bf2f((w[k >> 1] >> (16 * (k & 1))) & 0xFFFF);
}


/* ---- 32-element blocks -----------------------------------------------------
   Chunk c of a q4/q5 block: elements j < 16 are the low nibbles of qs[j],
   elements 16 + j the high nibbles; so chunk c reads qs[8(c&1) ..] shifted by
   4(c>>1). q5's fifth bit of element e is bit e of qh. */

TYK_HD void tyk_dq_q4_0(const uint8_t *b, int c, float v[8]) {
  const float d = tyk_h2f(tyk_ld16(b));
  uint32_t w[2];
  tyk_ld64(b + 2 + 8 * (c & 1), 2, w);
  for (int k = 0; k < 8; k++) v[k] = tyk_i2f((int)(tyk_byte(w, k, 4 * (c >> 1)) & 15) - 8) * d;
}


TYK_HD void tyk_dq_q4_1(const uint8_t *b, int c, float v[8]) {
  const uint32_t dm = tyk_ld32(b, 4);
  const float d = tyk_h2f(dm & 0xFFFF), m = tyk_h2f(dm >> 16);
  uint32_t w[2];
  tyk_ld64(b + 4 + 8 * (c & 1), 4, w);
  for (int k = 0; k < 8; k++) v[k] = tyk_i2f((int)(tyk_byte(w, k, 4 * (c >> 1)) & 15)) * d + m;
}


TYK_HD void tyk_dq_q5_0(const uint8_t *b, int c, float v[8]) {
  const float d = tyk_h2f(tyk_ld16(b));
  const uint32_t qh = tyk_ld32(b + 2, 2) >> (8 * c);
  uint32_t w[2];
  tyk_ld64(b + 6 + 8 * (c & 1), 2, w);
  for (int k = 0; k < 8; k++) {
    const int q = (int)((tyk_byte(w, k, 4 * (c >> 1)) & 15) | ((qh >> k) & 1) << 4);
    v[k] = tyk_i2f(q - 16) * d;
  }
}


TYK_HD void tyk_dq_q5_1(const uint8_t *b, int c, float v[8]) {
  const uint32_t dm = tyk_ld32(b, 8);
  const float d = tyk_h2f(dm & 0xFFFF), m = tyk_h2f(dm >> 16);
  const uint32_t qh = tyk_ld32(b + 4, 8) >> (8 * c);
  uint32_t w[2];
  tyk_ld64(b + 8 + 8 * (c & 1), 8, w);
  for (int k = 0; k < 8; k++) {
    const int q = (int)((tyk_byte(w, k, 4 * (c >> 1)) & 15) | ((qh >> k) & 1) << 4);
    v[k] = tyk_i2f(q) * d + m;
  }
}


TYK_HD void tyk_dq_q8_0(const uint8_t *b, int c, float v[8]) {
  const float d = tyk_h2f(tyk_ld16(b));
  uint32_t w[2];
  tyk_ld64(b + 2 + 8 * c, 2, w);
  for (int k = 0; k < 8; k++) v[k] = tyk_i2f((int8_t)(tyk_byte(w, k, 0) & 0xFF)) * d;
}


/* ---- 256-element super-blocks ----------------------------------------------
   q2_K, q3_K and q6_K walk each 128 elements as four 32-element rows over
   32 bytes of qs, 2 bits (or a nibble) per row; their scales go per 16
   elements, so chunk c uses scale c/2. q4_K and q5_K take 64 elements per 32
   bytes of qs (low nibbles, then high) with a scale and min per 32. */

TYK_HD void tyk_dq_q2_K(const uint8_t *b, int c, float v[8]) {
  const uint32_t dm = tyk_ld32(b + 80, 4);
  const float d = tyk_h2f(dm & 0xFFFF), min = tyk_h2f(dm >> 16);
  const uint32_t sc = b[c >> 1];
  const float dl = d * tyk_i2f((int)(sc & 15)), ml = min * tyk_i2f((int)(sc >> 4));
  const int shift = 2 * ((c >> 2) & 3);
  uint32_t w[2];
  tyk_ld64(b + 16 + 32 * (c >> 4) + 8 * (c & 3), 4, w);
  for (int k = 0; k < 8; k++) v[k] = dl * tyk_i2f((int)(tyk_byte(w, k, shift) & 3)) - ml;
}


/* q3_K's 16 six-bit scales (offset by 32): the low 4 bits of scale i + 4g
   (g = 0..3) are nibble g>>1 of byte (g&1)*4 + i, the high 2 bits are bits
   2g..2g+1 of byte 8 + i. */
TYK_HD int tyk_q3k_scale(const uint8_t *s, int is) {
  const int i = is & 3, g = is >> 2;
  const int lo = (s[(g & 1) * 4 + i] >> (4 * (g >> 1))) & 15;
  const int hi = (s[8 + i] >> (2 * g)) & 3;
  return (lo | hi << 4) - 32;
}


TYK_HD void tyk_dq_q3_K(const uint8_t *b, int c, float v[8]) {
  const float dl = tyk_h2f(tyk_ld16(b + 108)) * tyk_i2f(tyk_q3k_scale(b + 96, c >> 1));
  const int j = (c >> 2) & 3, bit = 4 * (c >> 4) + j;
  uint32_t q[2], hm[2];
  tyk_ld64(b + 32 + 32 * (c >> 4) + 8 * (c & 3), 2, q);
  tyk_ld64(b + 8 * (c & 3), 2, hm);
  for (int k = 0; k < 8; k++) {
    const int x = (int)(tyk_byte(q, k, 2 * j) & 3) - ((tyk_byte(hm, k, bit) & 1) ? 0 : 4);
    v[k] = dl * tyk_i2f(x);
  }
}


/* Scale and min of sub-block j (0..7) of q4_K / q5_K: 6 bits each in the 12
   packed bytes, as ggml's get_scale_min_k4. Without branches: a warp's lanes
   read different sub-blocks, and every lane loads the same three bytes. */
TYK_HD void tyk_scale_min_k4(const uint8_t *q, int j, int *sc, int *m) {
  const int a = q[j], b = q[j + 4], c = q[j & 3];   /* c = q[j - 4] when j >= 4 */
  const int hi = j >= 4;
  *sc = hi ? (b & 15) | ((c >> 6) << 4) : a & 63;
  *m = hi ? (b >> 4) | ((a >> 6) << 4) : b & 63;
}


TYK_HD void tyk_dq_q4_K(const uint8_t *b, int c, float v[8]) {
  const uint32_t dm = tyk_ld32(b, 16);
  int sc, m;
  tyk_scale_min_k4(b + 4, c >> 2, &sc, &m);
  const float d1 = tyk_h2f(dm & 0xFFFF) * tyk_i2f(sc), m1 = tyk_h2f(dm >> 16) * tyk_i2f(m);
  const int shift = 4 * ((c >> 2) & 1);
  uint32_t w[2];
  tyk_ld64(b + 16 + 32 * (c >> 3) + 8 * (c & 3), 16, w);
  for (int k = 0; k < 8; k++) v[k] = d1 * tyk_i2f((int)(tyk_byte(w, k, shift) & 15)) - m1;
}


TYK_HD void tyk_dq_q5_K(const uint8_t *b, int c, float v[8]) {
  const uint32_t dm = tyk_ld32(b, 16);
  int sc, m;
  tyk_scale_min_k4(b + 4, c >> 2, &sc, &m);
  const float d1 = tyk_h2f(dm & 0xFFFF) * tyk_i2f(sc), m1 = tyk_h2f(dm >> 16) * tyk_i2f(m);
  const int shift = 4 * ((c >> 2) & 1), bit = c >> 2;
  uint32_t w[2], h[2];
  tyk_ld64(b + 48 + 32 * (c >> 3) + 8 * (c & 3), 16, w);
  tyk_ld64(b + 16 + 8 * (c & 3), 16, h);
  for (int k = 0; k < 8; k++) {
    const int q = (int)(tyk_byte(w, k, shift) & 15) + ((tyk_byte(h, k, bit) & 1) ? 16 : 0);
    v[k] = d1 * tyk_i2f(q) - m1;
  }
}


TYK_HD void tyk_dq_q6_K(const uint8_t *b, int c, float v[8]) {
  const int n = c >> 4, j = (c >> 2) & 3;
  const float ds = tyk_h2f(tyk_ld16(b + 208)) * tyk_i2f((int8_t)b[192 + (c >> 1)]);
  uint32_t ql[2], qh[2];
  tyk_ld64(b + 64 * n + 32 * (j & 1) + 8 * (c & 3), 2, ql);
  tyk_ld64(b + 128 + 32 * n + 8 * (c & 3), 2, qh);
  for (int k = 0; k < 8; k++) {
    const int q = (int)((tyk_byte(ql, k, 4 * (j >> 1)) & 15) | (tyk_byte(qh, k, 2 * j) & 3) << 4);
    v[k] = ds * tyk_i2f(q - 32);
  }
}


/* ---- by type id --------------------------------------------------------- */

/* Chunks (8 elements) per block as tyk_dq_* count them. */
TYK_HD int tyk_chunks_per_block(int type) {
  const int blck = tyk_blck(type);
  return blck == 1 ? 1 : blck / 8;
}


/* Bytes of the block tyk_dq_* reads (the plain types' 8 elements). */
TYK_HD int tyk_block_bytes(int type) {
  return tyk_blck(type) == 1 ? 8 * tyk_type_size(type) : tyk_type_size(type);
}


/* v = elements 8*chunk .. 8*chunk+7 of a row of `type`; zeros for a type
   this file does not read (tyk_blck(type) == 0). With a constant type the
   switch folds away. */
TYK_HD void tyk_dq_chunk(int type, const uint8_t *row, int64_t chunk, float v[8]) {
  const int cpb = tyk_chunks_per_block(type);
  const uint8_t *b = cpb > 0 ? row + (chunk / cpb) * tyk_block_bytes(type) : row;
  const int c = cpb > 0 ? (int)(chunk % cpb) : 0;
  switch (type) {
    case TYK_F32: tyk_dq_f32(b, c, v); return;
    case TYK_F16: tyk_dq_f16(b, c, v); return;
    case TYK_BF16: tyk_dq_bf16(b, c, v); return;
    case TYK_Q4_0: tyk_dq_q4_0(b, c, v); return;
    case TYK_Q4_1: tyk_dq_q4_1(b, c, v); return;
    case TYK_Q5_0: tyk_dq_q5_0(b, c, v); return;
    case TYK_Q5_1: tyk_dq_q5_1(b, c, v); return;
    case TYK_Q8_0: tyk_dq_q8_0(b, c, v); return;
    case TYK_Q2_K: tyk_dq_q2_K(b, c, v); return;
    case TYK_Q3_K: tyk_dq_q3_K(b, c, v); return;
    case TYK_Q4_K: tyk_dq_q4_K(b, c, v); return;
    case TYK_Q5_K: tyk_dq_q5_K(b, c, v); return;
    case TYK_Q6_K: tyk_dq_q6_K(b, c, v); return;
    default:
      for (int k = 0; k < 8; k++) v[k] = 0.0f;
  }
}

#endif
