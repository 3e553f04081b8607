/*
 * cpu_kernels.h: the CPU backend's own vector kernels, in a portable form
 * (cpu_kernels.c) and AVX2+FMA and AVX-512 forms (cpu_x86.h) that compute
 * the same floats. Both follow llama.cpp's CPU backend (its AVX-512 build) operation
 * for operation: an f16 KV cache read as its kernels read it (for a batch,
 * llamafile's tinyBLAS: 16 lanes per chain; for one token, ggml_vec_dot_f16:
 * 4 chains of 16 lanes folded pairwise; both ending in GCC's
 * _mm512_reduce_add_ps tree), its exp approximation, its softmax sums. With the llama.cpp-order matmul dots this makes tycho's
 * SmolLM2 logits the very floats llama.cpp computes.
 */
#ifndef TY_CPU_KERNELS_H
#define TY_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* One query head against an f16 cache. */
struct ty_attn_head {
  const float *q;        /* (hd) the query, f32 */
  const char *k, *v;     /* cache rows of this kv head: position i at k + i * stride */
  size_t stride;         /* bytes between cache rows */
  int hd;                /* head size, a multiple of 16 */
  int first, last;       /* visible positions: [first, last] */
  float scale;           /* applied to q.k before the softmax */
  int single;            /* one query token in the batch: llama.cpp's vec_dot order */
  float *out;            /* (hd) */
  float *work;           /* TY_ATTN_WORK(last, hd) floats, 32-byte aligned */
};

#define TY_ATTN_WORK(last, hd) ((size_t)(last) + 16 + 64 * (size_t)(hd) + 2 * (size_t)(hd))

void ty_cpu_attn_f16(const struct ty_attn_head *h);
void ty_cpu_attn_f16_avx2(const struct ty_attn_head *h);
void ty_cpu_attn_f16_avx512(const struct ty_attn_head *h);

/* The attention's first step on its own, so that tests see it: the scaled
   scores q.k of positions [first, last] into s[first..last] (q16: hd floats
   of scratch for the query rounded to f16); returns their largest. Later
   steps round the probabilities to f16, which hides most last-bit errors
   here from a test of the whole head. */
float ty_cpu_attn_scores_f16(const struct ty_attn_head *h, float *q16, float *s);
float ty_cpu_attn_scores_f16_avx2(const struct ty_attn_head *h, float *q16, float *s);
float ty_cpu_attn_scores_f16_avx512(const struct ty_attn_head *h, float *q16, float *s);

/* y = silu(x) * g, silu through ggml's exp approximation. */
void ty_cpu_swiglu(int64_t n, float *y, const float *x, const float *g);
void ty_cpu_swiglu_avx2(int64_t n, float *y, const float *x, const float *g);
void ty_cpu_swiglu_avx512(int64_t n, float *y, const float *x, const float *g);

/* Rotates one head's nd leading values by angles with cosines cs and sines
   sn (nd / 2 of each): pairs (x[i], x[i + nd/2]) in NeoX order, else
   (x[2i], x[2i+1]); each result one fmaf over the other rounded product, as
   ggml's compiled rope. */
void ty_cpu_rope(float *x, const float *cs, const float *sn, int nd, int neox);
void ty_cpu_rope_avx2(float *x, const float *cs, const float *sn, int nd, int neox);
void ty_cpu_rope_avx512(float *x, const float *cs, const float *sn, int nd, int neox);

/* ggml's exp approximation (its AVX-512 form), one value. */
float ty_cpu_expf(float x);

#endif
