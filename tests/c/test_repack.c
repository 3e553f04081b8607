/*
 * test_repack.c: weights repacked in groups of 16 rows (src/tensor/repack.c,
 * dot_x16_avx512.c, the CPU backend's weights hook).
 *
 * - A repacked row reads back as the very floats of the row it was, and a
 *   group converts to the batch product's i8 form as its rows would.
 * - The derived activation blocks hold each block's scales and lane sums.
 * - On a CPU with the 16-row products: over two groups, for 1 to 9 tokens
 *   (passes of 2 and the rest), each (row, token) result is bit for bit the
 *   float of llama.cpp's
 *   x86 order, written out here in scalar C (ggml_order), and for q4_1 and
 *   q8_0 also vec_dot's of the same level (which the SmolLM2 logits test
 *   relies on); AVX2's q5_0 product instead that of its row dot, written out
 *   as q32_order, and vec_dot's (by which Gemma 3's tokens are as they were);
 *   and within rounding of the scalar reference.
 * - The CPU backend's memory: buffers of 2 MiB or more on 2 MiB pages and
 *   zeroed, repacked weights carved from slabs that survive the freeing of
 *   buffers around them.
 * - Through the CPU backend: MATMUL for one token and for a batch, 1 to 3
 *   threads, an odd number of groups, and GET_ROWS, on weights the backend
 *   repacked give the floats of the same weights left in place
 *   (TYCHO_REPACK=0; q5_0, whose in-place dot sums in another order, within
 *   rounding).
 */
#include "backend/backend.h"
#include "tensor/quants.h"
#include "tensor/tensor.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static unsigned rng = 4242;

static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}


/* Element k of a block as the signed integer it stands for (q4_1: the
   unsigned nibble), and the block's scale (and min). */
static int elem(int type, const void *blk, int k, float *d, float *m) {
  if (type == TY_QTYPE_Q4_1) {
    const ty_block_q4_1 *b = blk;
    *d = ty_h2f(b->d), *m = ty_h2f(b->m);
    return k < 16 ? b->qs[k] & 15 : b->qs[k - 16] >> 4;
  }
  if (type == TY_QTYPE_Q5_0) {
    const ty_block_q5_0 *b = blk;
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    *d = ty_h2f(b->d);
    return (k < 16 ? b->qs[k] & 15 : b->qs[k - 16] >> 4) + (int)((qh >> k & 1) << 4) - 16;
  }
  const ty_block_q8_0 *b = blk;   /* q8_0, and the activations' q8_0 / q8_1 */
  *d = ty_h2f(b->d);
  return b->qs[k];
}


/* llama.cpp's x86 dot of one row and one token: per block, the integer sum
   of 4 products in each of 8 lanes, times dx * dy, fma'd into the lane; the
   lanes summed as ggml's hsum_float_8 does; q4_1 adds its min terms, fma'd
   block by block. */
static float ggml_order(int type, const char *x, const char *y, int n) {
  size_t xb = ty_qtype_row_size(type, TY_QK);
  bool q8_1 = type == TY_QTYPE_Q4_1;
  size_t yb = q8_1 ? sizeof(ty_block_q8_1) : sizeof(ty_block_q8_0);
  float lane[8] = { 0 }, summs = 0.0f, s4[4];
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const char *bx = x + ib * xb, *by = y + ib * yb;
    float dx, mx = 0.0f, dy, unused;
    int xs[32], ys[32];
    for (int k = 0; k < 32; k++) {
      xs[k] = elem(type, bx, k, &dx, &mx);
      ys[k] = q8_1 ? ((const ty_block_q8_1 *)by)->qs[k] : elem(TY_QTYPE_Q8_0, by, k, &dy, &unused);
    }
    dy = ty_h2f(*(const uint16_t *)by);
    const float d = dx * dy;
    for (int l = 0; l < 8; l++) {
      int sum = 0;
      for (int k = 4 * l; k < 4 * l + 4; k++) sum += xs[k] * ys[k];
      lane[l] = fmaf(d, (float)sum, lane[l]);
    }
    if (q8_1) summs = fmaf(mx, ty_h2f(((const ty_block_q8_1 *)by)->s), summs);
  }
  for (int i = 0; i < 4; i++) s4[i] = lane[4 + i] + lane[i];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]) + summs;
}


/* dot_q32_x86.h's order, the q5_0 row dot at both x86 levels, which the
   AVX2 16-row product keeps: per block the 4 integer sums S_j of elements
   4j..4j+3 and 16+4j..16+4j+3, times dx * dy, fma'd into lane j of one of
   4 chains (in the whole runs of 8 blocks chain b mod 4, in the pairs after
   them b's place in its pair); the lanes (chain 0 | chain 1) + (chain 2 |
   chain 3) summed as ggml's hsum_float_8. */
static float q32_order(int type, const char *x, const char *y, int n) {
  const size_t xb = ty_qtype_row_size(type, TY_QK);
  const int nb = n / TY_QK, runs = nb & ~7;
  float chain[4][4] = { { 0 } }, l[8];
  for (int ib = 0; ib < nb; ib++) {
    const char *bx = x + ib * xb, *by = y + ib * sizeof(ty_block_q8_0);
    float dx, dy, unused;
    int xs[32], ys[32];
    for (int k = 0; k < 32; k++) {
      xs[k] = elem(type, bx, k, &dx, &unused);
      ys[k] = elem(TY_QTYPE_Q8_0, by, k, &dy, &unused);
    }
    const int c = ib < runs ? ib % 4 : (ib - runs) % 2;
    for (int j = 0; j < 4; j++) {
      int sum = 0;
      for (int k = 4 * j; k < 4 * j + 4; k++) sum += xs[k] * ys[k] + xs[16 + k] * ys[16 + k];
      chain[c][j] = fmaf(dx * dy, (float)sum, chain[c][j]);
    }
  }
  for (int j = 0; j < 4; j++) {
    l[j] = chain[0][j] + chain[2][j];
    l[4 + j] = chain[1][j] + chain[3][j];
  }
  return ((l[4] + l[0]) + (l[6] + l[2])) + ((l[5] + l[1]) + (l[7] + l[3]));
}


/* rows x n random weights of type, with an outlier every 37 elements */
static char *random_rows(int type, int64_t rows, int64_t n) {
  size_t xs = ty_qtype_row_size(type, n);
  char *x = malloc((size_t)rows * xs);
  float *f = malloc((size_t)n * sizeof *f);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t i = 0; i < n; i++) f[i] = frand() * (1 + (i % 37 == 0) * 6);
    ty_qtype_get_ref(type)->from_float(f, x + r * xs, n);
  }
  free(f);
  return x;
}


/* The derived blocks of token row y against the row itself. */
static void check_act(int vt, const char *y, int n) {
  const size_t bs = ty_qtype_row_size(vt, TY_QK);
  const ty_x16_act_block *a =
      (const ty_x16_act_block *)(y + ty_x16_act_offset(ty_qtype_row_size(vt, n)));
  for (int ib = 0; ib < n / TY_QK; ib++) {
    const char *b = y + ib * bs;
    float d, unused;
    int lane[8] = { 0 };
    for (int k = 0; k < 32; k++)
      lane[k / 4] += vt == TY_QTYPE_Q8_1 ? ((const ty_block_q8_1 *)b)->qs[k]
                                         : elem(TY_QTYPE_Q8_0, b, k, &unused, &unused);
    d = ty_h2f(*(const uint16_t *)b);
    CHECK(a[ib].d == d && (vt != TY_QTYPE_Q8_1 || a[ib].s == ty_h2f(((const ty_block_q8_1 *)b)->s)),
          "block %d: derived scales", ib);
    for (int k = 0; k < 8; k++)
      CHECK(a[ib].m16[k] == -16 * lane[k] && a[ib].m128[k] == -128 * lane[k],
            "block %d lane %d: derived sums %d %d, lane sum %d", ib, k, a[ib].m16[k],
            a[ib].m128[k], lane[k]);
  }
}


static void test_layout(int type, int n) {
  enum { T = 9, G = 3, R = G * TY_X16 };   /* two streams and the odd group */
  const struct ty_qtype_traits *ref = ty_qtype_get_ref(type);
  const struct ty_qtype_traits *yt = ty_qtype_get_ref(ref->vec_dot_type);
  size_t xs = ty_qtype_row_size(type, n), ys = ty_x16_act_size(ref->vec_dot_type, n);
  char *x = random_rows(type, R, n), *g = malloc(R * xs), *y = malloc(T * ys);
  float *f = malloc(n * sizeof *f), *h = malloc(n * sizeof *h);

  for (int k = 0; k < G; k++)
    CHECK(ty_x16_pack(type, x + k * TY_X16 * xs, xs, g + k * TY_X16 * xs, n),
          "%s has a 16-row layout", ref->name);
  for (int r = 0; r < R; r++) {
    ref->to_float(x + r * xs, f, n);
    ty_x16_to_float(type, g + r / TY_X16 * TY_X16 * xs, r % TY_X16, h, n);
    CHECK(memcmp(f, h, n * sizeof *f) == 0, "%s n %d: row %d reads back differently",
          ref->name, n, r);
  }
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < n; i++) f[i] = frand() * 3.0f;
    ty_qtype_get(ref->vec_dot_type)->from_float(f, y + t * ys, n);
    ty_x16_act(ref->vec_dot_type, y + t * ys, n);
    check_act(ref->vec_dot_type, y + t * ys, n);
  }

  for (int level = TY_SIMD_AVX2; level <= TY_SIMD_AVX512; level++) {
    struct ty_qtype_traits table[TY_QTYPE_COUNT];
    if (ty_qtype_table_for((enum ty_simd_level)level, table) != 0 || table[type].dot_x16 == NULL)
      continue;
    if (table[ref->vec_dot_type].x16_act != NULL)   /* this level's derived blocks */
      for (int t = 0; t < T; t++) {
        memset(y + t * ys + ty_x16_act_offset(ty_qtype_row_size(ref->vec_dot_type, n)), 0x55,
               ys - ty_x16_act_offset(ty_qtype_row_size(ref->vec_dot_type, n)));
        table[ref->vec_dot_type].x16_act(y + t * ys, n);
        check_act(ref->vec_dot_type, y + t * ys, n);
      }
    for (int nt = 1; nt <= T; nt++) {
      float s[T][R];
      table[type].dot_x16(n, G, nt, g, y, ys, &s[0][0], R, nt == 1 ? g : NULL);
      for (int t = 0; t < nt; t++)
        for (int r = 0; r < R; r++) {
          const bool q32 = type == TY_QTYPE_Q5_0 && level == TY_SIMD_AVX2;
          float want = q32 ? q32_order(type, x + r * xs, y + t * ys, n)
                           : ggml_order(type, x + r * xs, y + t * ys, n), approx, scale = 0.0f, vd;
          table[type].vec_dot(n, &vd, x + r * xs, y + t * ys);
          CHECK((type == TY_QTYPE_Q5_0 && !q32) || vd == want, "%s n %d level %d [%d][%d]: "
                "vec_dot %.9g, the group product's order %.9g", ref->name, n, level, t, r, vd,
                want);
          ref->vec_dot(n, &approx, x + r * xs, y + t * ys);
          ref->to_float(x + r * xs, f, n);
          yt->to_float(y + t * ys, h, n);
          for (int i = 0; i < n; i++) scale += fabsf(f[i] * h[i]);
          CHECK(s[t][r] == want, "%s n %d level %d nt %d [%d][%d]: %.9g, its order's %.9g",
                ref->name, n, level, nt, t, r, s[t][r], want);
          CHECK(fabsf(s[t][r] - approx) <= 1e-5f * scale + 1e-6f, "%s n %d nt %d [%d][%d]: "
                "%.7g, scalar %.7g", ref->name, n, nt, t, r, s[t][r], approx);
        }
    }
  }
  /* straight to the batch product's i8 form: what each rebuilt row gives */
  for (int level = TY_SIMD_AVX2; level <= TY_SIMD_AVX512; level++) {
    struct ty_qtype_traits table[TY_QTYPE_COUNT];
    if (ty_qtype_table_for((enum ty_simd_level)level, table) != 0 ||
        table[type].x16_to_i8 == NULL || n % TY_I8_GROUP != 0)
      continue;
    size_t wsz = ty_i8_weight_size(n);
    char *got = malloc(R * wsz), *want = malloc(wsz);
    for (int k = 0; k < G; k++)
      table[type].x16_to_i8(g + k * TY_X16 * xs, got + k * TY_X16 * wsz, wsz, n);
    for (int r = 0; r < R; r++) {
      ty_i8_weight(ty_qtype_to_i8(type), x + r * xs, want, n);
      CHECK(memcmp(got + r * wsz, want, 3 * (size_t)n) == 0, "%s n %d: the i8 form of row %d "
            "differs from the rebuilt row's", ref->name, n, r);   /* quants, scales, sums */
    }
    free(got);
    free(want);
  }
  CHECK(!ty_x16_pack(TY_QTYPE_Q4_0, x, xs, g, n), "q4_0 has no 16-row layout");
  free(x); free(g); free(y); free(f); free(h);
}


static ty_backend_t open_cpu(int threads, const char *repack) {
  ty_backend_t be;
  ty_err err;
  setenv("TYCHO_REPACK", repack, 1);
  if (ty_backend_cpu_open(threads, &be, &err) != TY_OK) {
    printf("FAIL: cpu backend: %s\n", err.msg);
    exit(1);
  }
  return be;
}


static void test_backend(int type, int64_t rows, int n, int threads) {
  enum { T = 7 };
  size_t xs = ty_qtype_row_size(type, n);
  char *x = random_rows(type, rows, n);
  struct ty_view src = ty_view_make(x, type, rows, n, xs);
  float *b = malloc((size_t)T * n * sizeof *b);
  size_t most = (size_t)T * (size_t)(rows > n ? rows : n);   /* products, or rows read */
  float *want = malloc(most * sizeof *want), *got = malloc(most * sizeof *got);
  int32_t ids[T];
  ty_backend_t plain = open_cpu(threads, "0"), packed = open_cpu(threads, "1");
  void *wp = NULL, *wq = NULL;
  ty_err err;

  for (int i = 0; i < T * n; i++) b[i] = frand();
  for (int t = 0; t < T; t++) ids[t] = (int32_t)((t * 37 + 5) % rows);
  CHECK(ty_backend_weights(plain, &src, &wp, &err) == TY_OK && wp == x, "in place when off");
  CHECK(ty_backend_weights(packed, &src, &wq, &err) == TY_OK, "repack: %s", err.msg);
  bool repacked = wq != x;
  CHECK(repacked == (ty_qtype_get(type)->dot_x16 != NULL && rows % TY_X16 == 0),
        "%s: repacked %d", ty_qtype_get(type)->name, repacked);

  for (int nt = 1; nt <= T; nt += 5) {
    for (int k = 0; k < 2; k++) {
      void *w = k ? wq : wp;
      struct ty_op op = { .kind = TY_OP_MATMUL, .a = ty_view_make(w, type, rows, n, xs),
                          .b = ty_view_make(b, TY_QTYPE_F32, nt, n, n * sizeof *b),
                          .dst = ty_view_make(k ? got : want, TY_QTYPE_F32, nt, rows,
                                              rows * sizeof *got) };
      ty_backend_t be = k ? packed : plain;
      CHECK(ty_backend_supports(be, &op), "matmul supported");
      CHECK(ty_backend_run(be, &op, &err) == TY_OK, "matmul: %s", err.msg);
    }
    for (int64_t i = 0; i < nt * rows; i++)
      CHECK(type == TY_QTYPE_Q5_0 ? fabsf(want[i] - got[i]) <= 1e-5f * (fabsf(want[i]) + 1.0f)
                                  : want[i] == got[i],
            "%s %lldx%d, %d tokens, %d threads: repacked product [%lld] %.9g, in place %.9g",
            ty_qtype_get(type)->name, (long long)rows, n, nt, threads, (long long)i, got[i], want[i]);
  }
  for (int k = 0; k < 2; k++) {
    void *w = k ? wq : wp;
    struct ty_op op = { .kind = TY_OP_GET_ROWS, .a = ty_view_make(w, type, rows, n, xs),
                        .dst = ty_view_make(k ? got : want, TY_QTYPE_F32, T, n, n * sizeof *got),
                        .ids = ids, .f0 = 1.0f };
    CHECK(ty_backend_run(k ? packed : plain, &op, &err) == TY_OK, "get_rows: %s", err.msg);
  }
  CHECK(memcmp(want, got, (size_t)T * n * sizeof *got) == 0, "%s: repacked rows read back "
        "differently", ty_qtype_get(type)->name);
  if (repacked) {   /* a view that starts inside a group is turned down */
    struct ty_op op = { .kind = TY_OP_MATMUL,
                        .a = ty_view_make((char *)wq + xs, type, rows - TY_X16, n, xs),
                        .b = ty_view_make(b, TY_QTYPE_F32, 1, n, n * sizeof *b),
                        .dst = ty_view_make(got, TY_QTYPE_F32, 1, rows, rows * sizeof *got) };
    CHECK(!ty_backend_supports(packed, &op), "a view off the groups is not supported");
  }
  ty_backend_close(plain);
  ty_backend_close(packed);
  free(x); free(b); free(want); free(got);
}


/* Repacked weights read back through GET_ROWS as the rows they were. */
static void check_rows(ty_backend_t be, void *w, const char *x, int64_t rows, int n,
                       const char *what) {
  const int type = TY_QTYPE_Q4_1;
  const size_t xs = ty_qtype_row_size(type, n);
  float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
  ty_err err;
  for (int32_t r = 0; r < rows; r += 7) {
    struct ty_op op = { .kind = TY_OP_GET_ROWS, .a = ty_view_make(w, type, rows, n, xs),
                        .dst = ty_view_make(got, TY_QTYPE_F32, 1, n, n * sizeof *got),
                        .ids = &r, .f0 = 1.0f };
    ty_qtype_get(type)->to_float(x + (size_t)r * xs, want, n);
    CHECK(ty_backend_run(be, &op, &err) == TY_OK, "%s: get_rows: %s", what, err.msg);
    CHECK(memcmp(want, got, (size_t)n * sizeof *got) == 0, "%s: row %d reads back differently",
          what, (int)r);
  }
  free(want);
  free(got);
}


/* The backend's memory. Buffers of 2 MiB or more start on a 2 MiB boundary
   (so that transparent huge pages can back them) and come zeroed. Repacked
   weights are carved from slabs kept in the same table as those buffers:
   freeing a buffer that sits before the slab moves the slab's entry, and
   weights repacked after that must still come from the slab, not from the
   next buffer allocated (which is then overwritten here). */
static void test_memory(void) {
  enum { ROWS = 64, N = 256 };
  const size_t big = (size_t)3 << 20, xs = ty_qtype_row_size(TY_QTYPE_Q4_1, N);
  ty_backend_t be = open_cpu(2, "1");
  char *x1 = random_rows(TY_QTYPE_Q4_1, ROWS, N), *x2 = random_rows(TY_QTYPE_Q4_1, ROWS, N);
  struct ty_view s1 = ty_view_make(x1, TY_QTYPE_Q4_1, ROWS, N, xs);
  struct ty_view s2 = ty_view_make(x2, TY_QTYPE_Q4_1, ROWS, N, xs);
  void *a = NULL, *b = NULL, *w1 = NULL, *w2 = NULL;
  ty_err err;
  bool zero = true;

  CHECK(ty_backend_alloc(be, big, &a, &err) == TY_OK, "alloc: %s", err.msg);
#ifdef __linux__
  CHECK((uintptr_t)a % ((size_t)2 << 20) == 0, "a %zu-byte buffer at %p is off a 2 MiB page", big, a);
#endif
  for (size_t i = 0; i < big; i += 512) zero = zero && ((const char *)a)[i] == 0;
  CHECK(zero, "a new buffer is not zeroed");
  if (ty_qtype_get(TY_QTYPE_Q4_1)->dot_x16 == NULL) {   /* this CPU's kernels keep rows in place */
    printf("skip: slab placement (no 16-row q4_1 product at simd %s)\n", ty_qtype_simd());
    ty_backend_free(be, a);
    ty_backend_close(be);
    free(x1);
    free(x2);
    return;
  }
  CHECK(ty_backend_weights(be, &s1, &w1, &err) == TY_OK && w1 != x1, "repack: %s", err.msg);
  ty_backend_free(be, a);
  CHECK(ty_backend_alloc(be, big, &b, &err) == TY_OK, "alloc: %s", err.msg);
  CHECK(ty_backend_weights(be, &s2, &w2, &err) == TY_OK && w2 != x2, "repack: %s", err.msg);
  CHECK((char *)w2 + ROWS * xs <= (char *)b || (char *)w2 >= (char *)b + big,
        "weights repacked after a free landed in a buffer");
  CHECK((char *)w2 >= (char *)w1 + ROWS * xs || (char *)w2 + ROWS * xs <= (char *)w1,
        "two repacked weights overlap");
  memset(b, 0xA5, big);
  check_rows(be, w1, x1, ROWS, N, "first weights");
  check_rows(be, w2, x2, ROWS, N, "weights repacked after a free");
  ty_backend_free(be, b);
  ty_backend_close(be);
  free(x1);
  free(x2);
}


int main(void) {
  static const int types[] = { TY_QTYPE_Q4_1, TY_QTYPE_Q5_0, TY_QTYPE_Q8_0 };
  test_memory();
  for (size_t i = 0; i < 3; i++) {
    test_layout(types[i], 32);
    test_layout(types[i], 576);     /* SmolLM2's width */
    test_layout(types[i], 640);     /* Gemma 3 270M's */
    test_layout(types[i], 416);     /* a run of 8 blocks, two pairs, a lone block */
    test_layout(types[i], 2400);    /* q5_0's tables in two chunks (64 blocks, then 11) */
    test_layout(types[i], 1536);
    for (int threads = 1; threads <= 3; threads++) {
      test_backend(types[i], 16, 64, threads);
      test_backend(types[i], 208, 576, threads);   /* 13 groups */
      test_backend(types[i], 200, 576, threads);   /* not whole groups: in place */
    }
  }
  test_backend(TY_QTYPE_Q4_0, 64, 64, 2);   /* no 16-row layout: stays in place */
  if (failures) return 1;
  printf("ok: 16-row repacking (simd %s)\n", ty_qtype_simd());
  return 0;
}
