/*
 * test_cuda.c: every CUDA op against the CPU backend on fresh random inputs.
 * Each case runs the same op on both backends and compares the outputs by
 * the norm-wise relative error |gpu - ref| / |ref|, with ref the CPU's
 * result or, for matrix products, a double-precision product of the
 * dequantized weights with x (the CPU rounds x to its own q8 forms; the
 * GPU's int8 product rounds it to q8_1, and the reference then does too).
 * The bounds, stated once in `tol` below,
 * come from the arithmetic each path does differently:
 *   matvec (f32 sums; the reference rounds x to q8_1 where
 *   the GPU does, for the int8 product)                    1e-5
 *   cuBLAS (weights and activations in f16, f32 sums)      2e-3
 *   attention, f32 cache                                   1e-4
 *   attention, f16 cache (CPU rounds q and probabilities)  2e-3
 *   attention, q8_0 cache (CPU rounds q to 8 bits)         2e-2
 *   GELU (CPU reads an f16 table)                          2e-3
 *   RoPE (CPU steps the angle by products, GPU powf)       1e-4
 *   the rest (same operations, other order)                1e-5
 * Skips (77) where tycho has no CUDA or the machine no GPU:
 * scripts/gpu-check.sh runs it on one.
 */
#include "backend/backend.h"
#include "tensor/tensor.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0, cases = 0;
static ty_backend_t cpu, gpu;
static ty_err err;

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); \
  printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)
#define OK(call) do { if ((call) != TY_OK) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, \
  err.msg); exit(1); } } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void) {   /* uniform in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((rng >> 40) / 8388608.0 - 1.0);
}


static void fill(float *x, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = frand() * scale;
}


/* ---- device buffers: every allocation is freed at the end ---- */

static void *gpu_bufs[256];
static int n_gpu_bufs;

static void *dev_alloc(size_t n) {
  void *d;
  OK(ty_backend_alloc(gpu, n, &d, &err));
  gpu_bufs[n_gpu_bufs++] = d;
  return d;
}


static void *dev_copy(const void *src, size_t n) {
  void *d = dev_alloc(n);
  OK(ty_backend_set(gpu, d, src, n, &err));
  return d;
}


static void dev_free_all(void) {
  while (n_gpu_bufs > 0) ty_backend_free(gpu, gpu_bufs[--n_gpu_bufs]);
}


/* A view of host data and its device twin. */
static struct ty_view hv(void *data, int type, int64_t rows, int64_t cols) {
  return ty_view_make(data, type, rows, cols, ty_qtype_row_size(type, cols));
}


static struct ty_view dv(struct ty_view h) {
  h.data = dev_copy(h.data, (size_t)h.rows * h.stride);
  return h;
}


/* Runs op on the CPU as given and on the GPU with every view's data
   replaced by a device copy; returns the GPU's dst in host memory. */
static void *run_both(struct ty_op *op) {
  struct ty_op g = *op;
  size_t n = (size_t)op->dst.rows * op->dst.stride;
  void *out = malloc(n);
  g.dst = dv(op->dst);
  if (op->a.data != NULL) g.a = dv(op->a);
  if (op->b.data != NULL) g.b = dv(op->b);
  if (op->c.data != NULL) g.c = dv(op->c);
  OK(ty_backend_run(cpu, op, &err));
  OK(ty_backend_run(gpu, &g, &err));
  if (op->kind == TY_OP_MATMUL) OK(ty_backend_run(gpu, &g, &err));   /* x quantized already */
  OK(ty_backend_get(gpu, out, g.dst.data, n, &err));
  return out;
}


static double rel_err(const float *got, const double *want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}


static void expect(const char *what, const float *got, const float *want, size_t n, double tol) {
  double *w = malloc(n * sizeof *w), e;
  for (size_t i = 0; i < n; i++) w[i] = want[i];
  e = rel_err(got, w, n);
  cases++;
  CHECK(e <= tol && e == e, "%s: relative error %.3g > %.3g", what, e, tol);
  free(w);
  dev_free_all();
}


/* ================================================================
   matrix products
   ================================================================ */

static const int weight_types[] = {
  TY_QTYPE_F32, TY_QTYPE_F16, TY_QTYPE_BF16, TY_QTYPE_Q4_0, TY_QTYPE_Q4_1, TY_QTYPE_Q5_0,
  TY_QTYPE_Q5_1, TY_QTYPE_Q8_0, TY_QTYPE_Q2_K, TY_QTYPE_Q3_K, TY_QTYPE_Q4_K, TY_QTYPE_Q5_K,
  TY_QTYPE_Q6_K,
};


/* rows x cols weights of type, made by quantizing random floats. */
static void *make_weights(int type, int64_t rows, int64_t cols) {
  const struct ty_qtype_traits *t = ty_qtype_get_ref(type);
  size_t rs = ty_qtype_row_size(type, cols);
  char *w = malloc(rs * (size_t)rows);
  float *row = malloc((size_t)cols * sizeof *row);
  for (int64_t r = 0; r < rows; r++) {
    fill(row, (size_t)cols, 1.0f);
    t->from_float(row, w + (size_t)r * rs, cols);
  }
  free(row);
  return w;
}


/* The types with an int8 decode product (kernels/matvec.cu): their
   activations are rounded to q8_1 by ggml's reference rule first, so the
   reference rounds them the same way (TYCHO_CUDA_MMVQ=0: it does not). */
static bool int8_product(int type, int n_tok) {
  const char *e = getenv("TYCHO_CUDA_MMVQ");
  if (n_tok > 8 || (e != NULL && strcmp(e, "0") == 0)) return false;
  switch (type) {
    case TY_QTYPE_Q4_0: case TY_QTYPE_Q4_1: case TY_QTYPE_Q5_0: case TY_QTYPE_Q5_1:
    case TY_QTYPE_Q8_0: case TY_QTYPE_Q4_K: case TY_QTYPE_Q5_K: case TY_QTYPE_Q6_K:
      return true;
    default:
      return false;
  }
}


/* Each type at 1..8 tokens (the matrix-vector kernels: rows of 16, 64 and
   136 granules of 32 weights take 1, 2 and 4 warps a row, the last in two
   rounds) and above 8 (cuBLAS).
   The reference is a double-precision product of the dequantized weights
   with x, or with x as q8_1 holds it for the int8 product. run_both runs
   the GPU's product twice: the second finds x quantized already. */
static void test_matmul(void) {
  static const int toks[] = { 1, 2, 5, 8, 9, 64 };
  static const int64_t widths[] = { 512, 2048, 4352 };
  const int64_t rows = 67;
  const struct ty_qtype_traits *q8 = ty_qtype_get_ref(TY_QTYPE_Q8_1);
  for (size_t c = 0; c < sizeof widths / sizeof *widths; c++)
  for (size_t a = 0; a < sizeof weight_types / sizeof *weight_types; a++)
    for (size_t b = 0; b < sizeof toks / sizeof *toks; b++) {
      int type = weight_types[a], n = toks[b];
      int64_t cols = widths[c];
      if (n > 8 && cols != 512) continue;   /* cuBLAS: one width is enough */
      const struct ty_qtype_traits *t = ty_qtype_get_ref(type);
      char *w = make_weights(type, rows, cols);
      float *x = malloc((size_t)n * cols * sizeof *x), *wf = malloc(cols * sizeof *wf);
      float *xr = malloc((size_t)n * cols * sizeof *xr);
      char *xq = malloc(ty_qtype_row_size(TY_QTYPE_Q8_1, cols));
      float *y = calloc((size_t)n * rows, sizeof *y);
      double *ref = malloc((size_t)n * rows * sizeof *ref);
      char what[80];
      fill(x, (size_t)n * cols, 1.0f);
      for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * cols, *ri = xr + (size_t)i * cols;
        if (int8_product(type, n)) {
          q8->from_float(xi, xq, cols);
          q8->to_float(xq, ri, cols);
        } else {
          memcpy(ri, xi, (size_t)cols * sizeof *ri);
        }
      }
      for (int64_t r = 0; r < rows; r++) {
        t->to_float(w + (size_t)r * ty_qtype_row_size(type, cols), wf, cols);
        for (int i = 0; i < n; i++) {
          double s = 0;
          for (int64_t k = 0; k < cols; k++) s += (double)wf[k] * xr[(size_t)i * cols + k];
          ref[(size_t)i * rows + r] = s;
        }
      }
      struct ty_op op = { .kind = TY_OP_MATMUL, .dst = hv(y, TY_QTYPE_F32, n, rows),
                          .a = hv(w, type, rows, cols), .b = hv(x, TY_QTYPE_F32, n, cols) };
      float *got = run_both(&op);
      double e = rel_err(got, ref, (size_t)n * rows);
      double tol = n > 8 ? 2e-3 : 1e-5;
      snprintf(what, sizeof what, "matmul %s %lld cols x %d tokens%s", t->name, (long long)cols,
               n, int8_product(type, n) ? " (int8)" : "");
      cases++;
      CHECK(e <= tol && e == e, "%s: relative error %.3g > %.3g", what, e, tol);
      dev_free_all();
      free(got); free(w); free(x); free(xr); free(xq); free(wf); free(y); free(ref);
    }
}


static void test_get_rows(void) {
  const int64_t rows = 40, cols = 256;
  int32_t ids[5] = { 3, 0, 39, 3, 17 };
  for (size_t a = 0; a < sizeof weight_types / sizeof *weight_types; a++) {
    int type = weight_types[a];
    char *w = make_weights(type, rows, cols);
    float *y = calloc(5 * cols, sizeof *y);
    char what[64];
    struct ty_op op = { .kind = TY_OP_GET_ROWS, .dst = hv(y, TY_QTYPE_F32, 5, cols),
                        .a = hv(w, type, rows, cols), .ids = ids, .f0 = 1.5f };
    float *got = run_both(&op);
    snprintf(what, sizeof what, "get_rows %s", ty_qtype_get(type)->name);
    expect(what, got, y, 5 * cols, 1e-6);
    free(got); free(w); free(y);
  }
}


/* ================================================================
   elementwise ops, norms, rope
   ================================================================ */

/* Whole rows and per-head groups; widths that give the one-read kernel 1,
   2 and 4 float4 a thread, and one (570) it cannot take. */
static void test_norm(void) {
  static const struct { int64_t cols, group; } shapes[] = {
    { 576, 576 }, { 576, 64 }, { 6144, 6144 }, { 12288, 12288 }, { 570, 570 },
  };
  const int64_t n = 6;
  for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
    int64_t cols = shapes[k].cols, group = shapes[k].group;
    float *x = malloc(n * cols * sizeof *x), *w = malloc(group * sizeof *w);
    float *y = calloc(n * cols, sizeof *y);
    char what[64];
    fill(x, n * cols, 3.0f);
    fill(w, group, 1.0f);
    struct ty_op op = { .kind = TY_OP_RMSNORM, .dst = hv(y, TY_QTYPE_F32, n, cols),
                        .a = hv(x, TY_QTYPE_F32, n, cols), .b = hv(w, TY_QTYPE_F32, 1, group),
                        .i0 = group < cols ? (int)group : 0, .eps = 1e-6f };
    float *got = run_both(&op);
    snprintf(what, sizeof what, "rmsnorm %lld cols, groups of %lld", (long long)cols,
             (long long)group);
    expect(what, got, y, n * cols, 1e-5);
    free(got); free(x); free(w); free(y);
  }
}


static void test_elementwise(void) {
  const int64_t n = 5, cols = 1536;
  float *a = malloc(n * cols * sizeof *a), *b = malloc(n * cols * sizeof *b);
  float *y = calloc(n * cols, sizeof *y);
  fill(a, n * cols, 4.0f);
  fill(b, n * cols, 2.0f);
  for (int k = 0; k < 4; k++) {
    static const char *const names[] = { "glu silu", "glu gelu", "add", "scale" };
    struct ty_op op = { .kind = k < 2 ? TY_OP_GLU : k == 2 ? TY_OP_ADD : TY_OP_SCALE,
                        .dst = hv(y, TY_QTYPE_F32, n, cols), .a = hv(a, TY_QTYPE_F32, n, cols),
                        .b = hv(b, TY_QTYPE_F32, n, cols), .i0 = k == 1 ? TY_ACT_GELU : TY_ACT_SILU,
                        .f0 = 0.37f };
    if (k == 3) op.b.data = NULL;
    float *got = run_both(&op);
    expect(names[k], got, y, n * cols, k == 1 ? 2e-3 : 1e-5);
    free(got);
  }
  free(a); free(b); free(y);
}


static void test_rope(void) {
  const int64_t n = 4, heads = 6, hd = 64;
  int32_t pos[4] = { 0, 1, 517, 1023 };
  float ff[32];
  for (int i = 0; i < 32; i++) ff[i] = 1.0f + (float)i / 8.0f;
  for (int neox = 0; neox < 2; neox++)
    for (int with_ff = 0; with_ff < 2; with_ff++)
      for (int partial = 0; partial < 2; partial++) {
        float *x = malloc(n * heads * hd * sizeof *x);
        char what[64];
        fill(x, n * heads * hd, 2.0f);
        struct ty_op op = { .kind = TY_OP_ROPE, .dst = hv(x, TY_QTYPE_F32, n, heads * hd),
                            .pos = pos, .ff = with_ff ? ff : NULL, .i0 = (int)hd,
                            .i1 = partial ? 32 : (int)hd, .i2 = neox, .f0 = 10000.0f,
                            .f1 = with_ff ? 1.0f : 0.5f };
        op.a = op.dst;
        float *got = run_both(&op);
        snprintf(what, sizeof what, "rope neox=%d ff=%d dims=%d", neox, with_ff, op.i1);
        expect(what, got, x, n * heads * hd, 1e-4);
        free(got); free(x);
      }
}


/* ================================================================
   KV cache and attention
   ================================================================ */

static const int kv_types[] = { TY_QTYPE_F32, TY_QTYPE_F16, TY_QTYPE_Q8_0 };

static void test_kv_store(void) {
  const int64_t n_ctx = 64, n = 3, cols = 256;
  int32_t pos[3] = { 5, 6, 63 };
  for (size_t a = 0; a < 3; a++) {
    int type = kv_types[a];
    size_t rs = ty_qtype_row_size(type, cols);
    char *cache = calloc(n_ctx, rs);
    float *x = malloc(n * cols * sizeof *x), *got_f = malloc(n_ctx * cols * sizeof *got_f);
    float *want_f = malloc(n_ctx * cols * sizeof *want_f);
    char what[64];
    fill(x, n * cols, 2.0f);
    struct ty_op op = { .kind = TY_OP_KV_STORE, .dst = hv(cache, type, n_ctx, cols),
                        .a = hv(x, TY_QTYPE_F32, n, cols), .pos = pos };
    char *got = run_both(&op);
    for (int64_t r = 0; r < n_ctx; r++) {
      ty_qtype_get(type)->to_float(got + r * rs, got_f + r * cols, cols);
      ty_qtype_get(type)->to_float(cache + r * rs, want_f + r * cols, cols);
    }
    snprintf(what, sizeof what, "kv_store %s", ty_qtype_get(type)->name);
    expect(what, got_f, want_f, n_ctx * cols, type == TY_QTYPE_Q8_0 ? 1e-2 : 1e-7);
    free(got); free(cache); free(x); free(got_f); free(want_f);
  }
}


/* Attention over a cache filled at random: decode (one token) late in a
   long context, so the GPU splits the rows; a batch; a sliding window. */
static void test_attention(void) {
  static const int hds[] = { 64, 128, 256 };
  static const struct { int n_tok, last, window; } shapes[] = {
    { 1, 0, 0 }, { 1, 2999, 0 }, { 1, 2999, 512 }, { 7, 300, 0 }, { 7, 2999, 100 },
  };
  const int n_head = 8, n_head_kv = 2, n_ctx = 3000;
  for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
    for (size_t a = 0; a < 3; a++)
      for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int hd = hds[h], type = kv_types[a], n = shapes[s].n_tok;
        int64_t kd = (int64_t)n_head_kv * hd, qd = (int64_t)n_head * hd;
        size_t rs = ty_qtype_row_size(type, kd);
        char *kc = malloc(n_ctx * rs), *vc = malloc(n_ctx * rs);
        float *row = malloc(kd * sizeof *row), *q = malloc(n * qd * sizeof *q);
        float *out = calloc(n * qd, sizeof *out);
        int32_t pos[7];
        char what[80];
        for (int r = 0; r < n_ctx; r++) {
          fill(row, kd, 2.0f);
          ty_qtype_get(type)->from_float(row, kc + r * rs, kd);
          fill(row, kd, 1.0f);
          ty_qtype_get(type)->from_float(row, vc + r * rs, kd);
        }
        fill(q, n * qd, 2.0f);
        for (int t = 0; t < n; t++) pos[t] = shapes[s].last - (n - 1) + t;
        struct ty_op op = { .kind = TY_OP_ATTENTION, .dst = hv(out, TY_QTYPE_F32, n, qd),
                            .a = hv(q, TY_QTYPE_F32, n, qd), .b = hv(kc, type, n_ctx, kd),
                            .c = hv(vc, type, n_ctx, kd), .pos = pos, .i0 = n_head,
                            .i1 = n_head_kv, .i2 = hd, .i3 = shapes[s].window,
                            .f0 = 1.0f / sqrtf((float)hd) };
        float *got = run_both(&op);
        snprintf(what, sizeof what, "attention %s hd=%d tokens=%d last=%d window=%d",
                 ty_qtype_get(type)->name, hd, n, shapes[s].last, shapes[s].window);
        expect(what, got, out, n * qd,
               type == TY_QTYPE_F32 ? 1e-4 : type == TY_QTYPE_F16 ? 2e-3 : 2e-2);
        free(got); free(kc); free(vc); free(row); free(q); free(out);
      }
}


int main(void) {
  struct ty_gpu_scratch lay;
  void *scratch;
  if (ty_cuda_device_count() == 0) {
    printf("skip: no CUDA GPU (or tycho built without CUDA)\n");
    return TEST_SKIP;
  }
  OK(ty_backend_cpu_open(0, &cpu, &err));
  OK(ty_backend_cuda_open(0, &gpu, &err));
  /* scratch as a model holding these shapes would size it: 64 tokens,
     3000 rows of context, 8 heads of up to 256, weights up to 67 x 512
     through cuBLAS, activations up to 4352 wide */
  ty_gpu_scratch_size(64, 3000, 8, 256, 67 * 512, 4352, &lay);
  OK(ty_backend_alloc(gpu, lay.total, &scratch, &err));
  OK(gpu->i->scratch(gpu->ctx, scratch, &lay, &err));
  test_matmul();
  test_get_rows();
  test_norm();
  test_elementwise();
  test_rope();
  test_kv_store();
  test_attention();
  ty_backend_free(gpu, scratch);
  ty_backend_close(gpu);
  ty_backend_close(cpu);
  printf("%d cases, %d failures\n", cases, failures);
  return failures ? 1 : 0;
}
