/*
 * test_cpu_fused.c: the CPU backend's fused ops give exactly the floats of
 * the ops they stand for. MATMUL3 against three MATMULs and MATMUL_GLU
 * against MATMUL, MATMUL, GLU, for one token (the fused dispatch) and a
 * batch (the parts run as they are), 1 to 3 threads, weight types whose dot
 * types agree and differ, row counts off the 16-row tiles, both activations;
 * supports turns down mismatched shapes. RMSNORM gives ggml's floats (its
 * squares summed in order in double), also where another order's rounding
 * would move the mean.
 */
#include "backend/backend.h"
#include "tensor/tensor.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static unsigned rng = 777;

static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

enum { COLS = 256, MAXROWS = 520, MAXTOK = 9 };

/* A weight matrix of random values in type t (rows x COLS). */
static struct ty_view weights(int t, int64_t rows) {
  size_t stride = ty_qtype_row_size(t, COLS);
  char *w = malloc((size_t)rows * stride);
  float x[COLS];
  for (int64_t r = 0; r < rows; r++) {
    for (int i = 0; i < COLS; i++) x[i] = frand();
    ty_qtype_get(t)->from_float(x, w + (size_t)r * stride, COLS);
  }
  return ty_view_make(w, t, rows, COLS, stride);
}


static struct ty_view floats(int64_t rows, int64_t cols) {
  float *p = calloc((size_t)(rows * cols), sizeof *p);
  return ty_view_make(p, TY_QTYPE_F32, rows, cols, (size_t)cols * sizeof *p);
}


static int same(struct ty_view a, struct ty_view b, int64_t rows) {
  return memcmp(a.data, b.data, (size_t)rows * a.stride) == 0;
}


static void run(ty_backend_t be, const struct ty_op *op, const char *what) {
  ty_err err;
  ty_status st = ty_backend_run(be, op, &err);
  CHECK(st == TY_OK, "%s: %s", what, st == TY_OK ? "" : err.msg);
}


static void test_qkv(ty_backend_t be, int nth, const int types[3], const int64_t rows[3],
                     int ntok) {
  struct ty_view w[3], y[3], ref[3], x = floats(ntok, COLS);
  char what[96];
  snprintf(what, sizeof what, "matmul3 %s/%s/%s rows %lld/%lld/%lld, %d tokens, %d threads",
           ty_qtype_get(types[0])->name, ty_qtype_get(types[1])->name,
           ty_qtype_get(types[2])->name, (long long)rows[0], (long long)rows[1],
           (long long)rows[2], ntok, nth);
  for (int i = 0; i < ntok * COLS; i++) ((float *)x.data)[i] = frand() * 2.0f;
  for (int i = 0; i < 3; i++) {
    w[i] = weights(types[i], rows[i]);
    y[i] = floats(ntok, rows[i]);
    ref[i] = floats(ntok, rows[i]);
    struct ty_op mm = { .kind = TY_OP_MATMUL, .dst = ref[i], .a = w[i], .b = x };
    run(be, &mm, what);
  }
  struct ty_op op = { .kind = TY_OP_MATMUL3, .dst = y[0], .a = w[0], .b = x, .dst2 = y[1],
                      .c = w[1], .dst3 = y[2], .d = w[2] };
  CHECK(ty_backend_supports(be, &op), "%s: not supported", what);
  run(be, &op, what);
  for (int i = 0; i < 3; i++) {
    CHECK(same(y[i], ref[i], ntok), "%s: part %d differs from its MATMUL", what, i);
    free(w[i].data);
    free(y[i].data);
    free(ref[i].data);
  }
  free(x.data);
}


static void test_glu(ty_backend_t be, int nth, int tg, int tu, int64_t rows, int act, int ntok) {
  struct ty_view g = weights(tg, rows), u = weights(tu, rows), x = floats(ntok, COLS);
  struct ty_view hb = floats(ntok, rows), hb2 = floats(ntok, rows);
  struct ty_view rb = floats(ntok, rows), rb2 = floats(ntok, rows);
  char what[96];
  snprintf(what, sizeof what, "matmul_glu %s/%s rows %lld act %d, %d tokens, %d threads",
           ty_qtype_get(tg)->name, ty_qtype_get(tu)->name, (long long)rows, act, ntok, nth);
  for (int i = 0; i < ntok * COLS; i++) ((float *)x.data)[i] = frand() * 3.0f;
  struct ty_op mg = { .kind = TY_OP_MATMUL, .dst = rb, .a = g, .b = x };
  struct ty_op mu = { .kind = TY_OP_MATMUL, .dst = rb2, .a = u, .b = x };
  struct ty_op gl = { .kind = TY_OP_GLU, .dst = rb, .a = rb, .b = rb2, .i0 = act };
  run(be, &mg, what);
  run(be, &mu, what);
  run(be, &gl, what);
  struct ty_op op = { .kind = TY_OP_MATMUL_GLU, .dst = hb, .a = g, .b = x, .dst2 = hb2, .c = u,
                      .i0 = act };
  CHECK(ty_backend_supports(be, &op), "%s: not supported", what);
  run(be, &op, what);
  CHECK(same(hb, rb, ntok), "%s: output differs from MATMUL, MATMUL, GLU", what);
  CHECK(same(hb2, rb2, ntok), "%s: up product differs", what);
  /* shapes that do not fit are turned down, not run */
  op.c.rows = rows - 1;
  CHECK(!ty_backend_supports(be, &op), "%s: gate and up of different sizes accepted", what);
  op.c = u;
  op.b.cols = COLS / 2;
  CHECK(!ty_backend_supports(be, &op), "%s: activations of the wrong width accepted", what);
  op.b = x;
  op.i0 = 7;
  CHECK(!ty_backend_supports(be, &op), "%s: unknown activation accepted", what);
  free(g.data);
  free(u.data);
  free(x.data);
  free(hb.data);
  free(hb2.data);
  free(rb.data);
  free(rb2.data);
}


/* ggml_compute_forward_rms_norm_f32, then its multiply by the weight. */
static void rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps) {
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
  const float mean = (float)(sum / n);
  const float scale = 1.0f / sqrtf(mean + eps);
  for (int i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void test_rmsnorm(ty_backend_t be, int nth) {
  enum { N = 1000 };
  static float x[N], w[N], y[N], ref[N];
  static const int ns[] = { 8, 13, 64, 576, N };
  for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
    for (int kind = 0; kind < 3; kind++) {
      const int n = ns[k];
      char what[64];
      snprintf(what, sizeof what, "rmsnorm n %d kind %d, %d threads", n, kind, nth);
      for (int i = 0; i < n; i++) {
        x[i] = frand() * (kind == 1 ? (i % 3 ? 1e-6f : 1e6f) : 3.0f);
        w[i] = frand();
      }
      if (kind == 2)        /* summed in order: 1 + 2^-24, a float tie after / 8; summed
                               8 ways the 2^-54s come to 2^-52 more, and the mean rounds up */
        for (int i = 0; i < n; i++) x[i] = i == 0 ? 1.0f : i == 1 ? 0x1p-12f : i < 8 ? 0x1p-27f : 0.0f;
      struct ty_view xv = ty_view_make(x, TY_QTYPE_F32, 1, n, (size_t)n * sizeof *x);
      struct ty_op op = { .kind = TY_OP_RMSNORM, .dst = ty_view_make(y, TY_QTYPE_F32, 1, n, (size_t)n * sizeof *y),
                          .a = xv, .b = ty_view_make(w, TY_QTYPE_F32, 1, n, (size_t)n * sizeof *w),
                          .eps = 0.0f };
      run(be, &op, what);
      rmsnorm_ref(ref, x, w, n, 0.0f);
      CHECK(memcmp(y, ref, (size_t)n * sizeof *y) == 0, "%s: differs from ggml's order", what);
    }
}


int main(void) {
  static const int qkv_types[][3] = {
    { TY_QTYPE_Q4_1, TY_QTYPE_Q4_1, TY_QTYPE_Q4_1 },   /* SmolLM2: one dot type */
    { TY_QTYPE_Q4_1, TY_QTYPE_Q8_0, TY_QTYPE_Q4_K },   /* three dot types */
    { TY_QTYPE_Q8_0, TY_QTYPE_Q4_K, TY_QTYPE_Q8_0 },   /* the first and last share */
    { TY_QTYPE_F32, TY_QTYPE_F16, TY_QTYPE_Q4_0 },
  };
  static const int64_t qkv_rows[][3] = { { 64, 32, 32 }, { 100, 36, 20 }, { 4, 1, 517 } };
  static const int glu_types[][2] = {
    { TY_QTYPE_Q4_1, TY_QTYPE_Q4_1 }, { TY_QTYPE_Q4_K, TY_QTYPE_Q6_K }, { TY_QTYPE_Q8_0, TY_QTYPE_F16 },
  };
  static const int64_t glu_rows[] = { 16, 200, 520, 3 };
  static const int toks[] = { 1, 3, MAXTOK };
  for (int nth = 1; nth <= 3; nth++) {
    ty_backend_t be;
    ty_err err;
    if (ty_backend_cpu_open(nth, &be, &err) != TY_OK) {
      printf("FAIL cpu backend: %s\n", err.msg);
      return 1;
    }
    for (size_t t = 0; t < sizeof toks / sizeof *toks; t++) {
      for (size_t a = 0; a < sizeof qkv_types / sizeof *qkv_types; a++)
        for (size_t b = 0; b < sizeof qkv_rows / sizeof *qkv_rows; b++)
          test_qkv(be, nth, qkv_types[a], qkv_rows[b], toks[t]);
      for (size_t a = 0; a < sizeof glu_types / sizeof *glu_types; a++)
        for (size_t b = 0; b < sizeof glu_rows / sizeof *glu_rows; b++)
          for (int act = 0; act < 2; act++)
            test_glu(be, nth, glu_types[a][0], glu_types[a][1], glu_rows[b], act, toks[t]);
    }
    test_rmsnorm(be, nth);
    struct ty_op bad = { .kind = TY_OP_COUNT };
    CHECK(!ty_backend_supports(be, &bad), "an unknown op kind is supported");
    ty_backend_close(be);
  }
  if (failures == 0) printf("ok: fused ops match their parts (simd %s)\n", ty_qtype_simd());
  return failures ? 1 : 0;
}
