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

/* The query heads that share one kv head (grouped-query attention) against
   an f16 cache. Each head's floats are the one-head kernel's: the group only
   shares the reading and converting of the cache rows, which is most of a
   long context's work. */
struct ty_attn_head {
  const float *q;        /* (n_q, hd) the queries, f32, hd floats apart */
  const char *k, *v;     /* cache rows of this kv head: position i at k + i * stride */
  size_t stride;         /* bytes between cache rows */
  int hd;                /* head size, a multiple of 16 */
  int first, last;       /* visible positions: [first, last] */
  float scale;           /* applied to q.k before the softmax */
  int single;            /* one query token in the batch: llama.cpp's vec_dot order */
  int n_q;               /* query heads, at least 1 */
  float *out;            /* (n_q, hd), hd floats apart */
  float *work;           /* TY_ATTN_WORK(last, hd, n_q) floats, 64-byte aligned */
};

/* The work: a block for each head (its weights by position, last + 16 in
   whole vectors; its 64 lanes of value sums, hd each; its query rounded to
   f16). A call takes at most TY_ATTN_GROUP heads at a time. */
#define TY_ATTN_GROUP 8
#define TY_ATTN_HEAD_WORK(last, hd) ((((size_t)(last) + 31) & ~(size_t)15) + 65 * (size_t)(hd))
#define TY_ATTN_WORK(last, hd, n_q) ((size_t)(n_q) * TY_ATTN_HEAD_WORK(last, hd))

void ty_cpu_attn_f16(const struct ty_attn_head *h);
/* fn on each TY_ATTN_GROUP heads of h in turn (the kernels' own use) */
void ty_attn_split(const struct ty_attn_head *h, void (*fn)(const struct ty_attn_head *));
void ty_cpu_attn_f16_avx2(const struct ty_attn_head *h);
void ty_cpu_attn_f16_avx512(const struct ty_attn_head *h);

/* The attention's first step on its own, so that tests see it: query head
   j's scaled scores q.k of positions [first, last] into s + j * hs (its
   [first..last]) and their largest into mx[j]; q16 + j * hs is hd floats of
   scratch for its query rounded to f16. Later steps round the probabilities
   to f16, which hides most last-bit errors here from a test of the whole
   head. */
void ty_cpu_attn_scores_f16(const struct ty_attn_head *h, float *q16, float *s, size_t hs,
                            float *mx);
void ty_cpu_attn_scores_f16_avx2(const struct ty_attn_head *h, float *q16, float *s, size_t hs,
                                 float *mx);
void ty_cpu_attn_scores_f16_avx512(const struct ty_attn_head *h, float *q16, float *s, size_t hs,
                                   float *mx);

/* y = gelu(x) * g, gelu (tanh form) as ggml computes it on the CPU: from
   `table`, its 65536 values by the f16 bits of x (rounded to nearest), but
   0 for x <= -10 and x for x >= 10. One x86 form, for AVX2 and AVX-512 alike. */
void ty_cpu_geglu(int64_t n, float *y, const float *x, const float *g, const float *table);
void ty_cpu_geglu_avx2(int64_t n, float *y, const float *x, const float *g, const float *table);

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
