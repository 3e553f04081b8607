/*
 * kernels.h: the CUDA kernels' C entry points, the only way the engine reaches
 * kernels/ (the .cu files). Each launcher enqueues its work on `stream` (a cudaStream_t
 * passed as void *) and returns 0, or the cudaError_t of the failed launch.
 * Pointers are device memory unless a comment says otherwise; strides are in
 * bytes; a "row" of a quantized type is cols/blck_size blocks, as in GGUF.
 * Types are GGML's ids (src/tensor/tensor.h).
 */
#ifndef TY_KERNELS_H
#define TY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest token count the matrix-vector kernel takes; larger batches go to
   cuBLAS through tyk_dequant_f16 and tyk_f32_to_f16. */
#define TYK_MATVEC_MAX_TOK 8

/* Elements per 8-element chunk: every weight type's block is a multiple. */
#define TYK_CHUNK 8

/* 1 if tyk_matvec / tyk_dequant_f16 / tyk_get_rows read this weight type. */
int tyk_weight_type_ok(int type);

/* y[t][r] = dot(row r of w, x[t]) for t < n_tok (1..TYK_MATVEC_MAX_TOK),
   r < rows; w is read once for all tokens, in registers. cols is a multiple
   of the type's block size; x and y rows are f32. With xq (n_tok rows of
   tyk_q8_row_bytes(cols), 16-byte aligned) and a type tyk_matvec_int8
   takes, x is first rounded to 8 bits there (unless xq_ready: xq already
   holds this x, from the product before) and the product is in int8
   (matvec.cu says how); with xq NULL, each weight is dequantized to f32. */
int tyk_matvec(void *stream, int type, const void *w, size_t w_stride, int64_t rows, int64_t cols,
               const float *x, size_t x_stride, void *xq, int xq_ready, float *y,
               size_t y_stride, int n_tok);

/* 1 if tyk_matvec has an int8 product for this weight type. */
int tyk_matvec_int8(int type);

/* Bytes of one token's activations rounded to 8 bits: cols int8, then a
   float2 per 32, rounded up to 16. */
static inline size_t tyk_q8_row_bytes(int64_t cols) {
  return ((size_t)cols + (size_t)cols / 32 * 8 + 15) & ~(size_t)15;
}

/* out (rows x cols halves, row-major, contiguous) = w dequantized to f16. */
int tyk_dequant_f16(void *stream, int type, const void *w, size_t w_stride, int64_t rows,
                    int64_t cols, void *out);

/* out (rows x cols halves, contiguous) = x rounded to f16. */
int tyk_f32_to_f16(void *stream, const float *x, size_t x_stride, int64_t rows, int64_t cols,
                   void *out);

/* dst[t] = row ids[t] of a (any weight type), as f32, times scale; t < n. */
int tyk_get_rows(void *stream, int type, const void *a, size_t a_stride, int64_t cols,
                 const int32_t *ids, int n, float *dst, size_t dst_stride, float scale);

/* y[t] = x[t] / rms(x[t]) * w, over groups of `group` elements (group ==
   cols: the whole row; else per head, w of length group). y may be x. */
int tyk_rmsnorm(void *stream, const float *x, size_t x_stride, float *y, size_t y_stride,
                const float *w, int64_t rows, int64_t cols, int64_t group, float eps);

/* Rotates x in place (rows = tokens, cols = heads * head_dim) as the CPU
   backend's ROPE does: pairs (i, i + rope_dims/2) when neox, else (2i, 2i+1);
   theta = pos[t] * base^(-2i/rope_dims) * freq_scale / ff[i] (ff NULL: 1). */
int tyk_rope(void *stream, float *x, size_t stride, int64_t rows, int64_t cols, int head_dim,
             int rope_dims, int neox, float base, float freq_scale, const float *ff,
             const int32_t *pos);

/* Row pos[t] of cache (type f32, f16 or q8_0) = x[t] converted, t < rows. */
int tyk_kv_store(void *stream, int type, void *cache, size_t c_stride, const float *x,
                 size_t x_stride, int64_t rows, int64_t cols, const int32_t *pos);

/* Causal attention for n_tok query rows: out[t] head h = softmax(q k^T * scale) v
   over cache rows [first, pos[t]], first = max(0, pos[t] - window + 1) when
   window > 0, else 0; head h reads kv head h / (n_head / n_head_kv).
   k and v are caches of kv_type (f32, f16, q8_0), rows of n_head_kv * head_dim.
   The visible rows are cut into n_split pieces of `chunk` rows (0: each
   token's visible rows / n_split, rounded up), computed in parallel with an
   online softmax into `partial` (tyk_attention_partial_floats floats), then
   combined. */
int tyk_attention(void *stream, const float *q, size_t q_stride, int n_tok, int kv_type,
                  const void *k, size_t k_stride, const void *v, size_t v_stride, float *out,
                  size_t out_stride, const int32_t *pos, int n_head, int n_head_kv, int head_dim,
                  int window, float scale, int n_split, int chunk, float *partial);

static inline size_t tyk_attention_partial_floats(int n_tok, int n_head, int head_dim,
                                                  int n_split) {
  return (size_t)n_tok * (size_t)n_head * (size_t)n_split * (size_t)(head_dim + 2);
}

enum { TYK_ACT_SILU = 0, TYK_ACT_GELU = 1 };   /* the backend's TY_ACT_* */

/* dst = act(a) * b elementwise over rows x cols (GELU: the tanh form). */
int tyk_glu(void *stream, int act, const float *a, size_t a_stride, const float *b,
            size_t b_stride, float *dst, size_t d_stride, int64_t rows, int64_t cols);

/* dst = a + b, and dst = a * s, elementwise over rows x cols. */
int tyk_add(void *stream, const float *a, size_t a_stride, const float *b, size_t b_stride,
            float *dst, size_t d_stride, int64_t rows, int64_t cols);
int tyk_scale(void *stream, const float *a, size_t a_stride, float s, float *dst,
              size_t d_stride, int64_t rows, int64_t cols);

#ifdef __cplusplus
}
#endif

#endif
