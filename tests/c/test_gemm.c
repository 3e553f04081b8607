/*
 * test_gemm.c: the batch products (src/tensor/gemm.c, gemm_sb.c). For every
 * format with an i8 form: the form read back (w * sc) is the scalar
 * dequantizer's floats; the reference product agrees with the scalar vec_dot of each row
 * and token to rounding; and every SIMD level's product agrees with the
 * reference, over row and token counts on and off the 4 x 4 micro-tile and
 * row lengths of one and several super-blocks.
 */
#include "tensor/quants.h"
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


/* |a - b| within tol of the scale of the products summed. */
static int close(float a, float b, float scale) {
  return fabsf(a - b) <= 1e-4f * scale + 1e-6f;
}


/* vec_dot of row x and token y (the wanted value), and the sum of the
   products' magnitudes (the scale its rounding is judged against). */
static void want_of(const struct ty_qtype_traits *ref, const struct ty_qtype_traits *yt,
                    const void *x, const void *y, int n, float *want, float *scale) {
  float *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
  ref->vec_dot(n, want, x, y);
  ref->to_float(x, f, n);
  yt->to_float(y, g, n);
  *scale = 0.0f;
  for (int i = 0; i < n; i++) *scale += fabsf(f[i] * g[i]);
  free(f);
  free(g);
}


static void test_type(int type, int n) {
  enum { R = 7, T = 6 };
  const struct ty_qtype_traits *ref = ty_qtype_get_ref(type);
  const struct ty_qtype_traits *yt = ty_qtype_get_ref(ref->vec_dot_type);
  ty_to_i8_fn to_i8 = ty_qtype_to_i8(type);
  size_t xs = ty_qtype_row_size(type, n), ys = ty_qtype_row_size(ref->vec_dot_type, n);
  size_t wsz = ty_i8_weight_size(n), asz = ty_i8_act_size(n);
  char *x = malloc(R * xs), *y = malloc(T * ys), *w = malloc(R * wsz), *a = malloc(T * asz);
  float *f = malloc(n * sizeof *f);
  float want[T][R], scale[T][R], got[T][R];

  for (int r = 0; r < R; r++) {
    for (int i = 0; i < n; i++) f[i] = frand() * (1 + (i % 37 == 0) * 4);
    ref->from_float(f, x + r * xs, n);
    ty_i8_weight(to_i8, x + r * xs, w + r * wsz, n);
    /* the i8 form reads back as the dequantizer's floats */
    ref->to_float(x + r * xs, f, n);
    const int8_t *wq = (const int8_t *)(w + r * wsz);
    const float *sc = (const float *)(wq + n);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += wq[i] * sc[i / 4] != f[i];
    CHECK(bad == 0, "%s n %d row %d: %d elements of the i8 form differ from to_float",
          ref->name, n, r, bad);
  }
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < n; i++) f[i] = frand() * 2.0f;
    yt->from_float(f, y + t * ys, n);
    ty_i8_act(y + t * ys, a + t * asz, n);
    for (int r = 0; r < R; r++) {
      want_of(ref, yt, x + r * xs, y + t * ys, n, &want[t][r], &scale[t][r]);
    }
  }
  ty_gemm_i8_ref(n, R, T, w, wsz, a, asz, &got[0][0], R);
  for (int t = 0; t < T; t++)
    for (int r = 0; r < R; r++)
      CHECK(close(got[t][r], want[t][r], scale[t][r]), "%s n %d: reference product [%d][%d] "
            "%.7g, vec_dot %.7g", ref->name, n, t, r, got[t][r], want[t][r]);

  /* every level's floats, to compare the levels with each other */
  float (*lv)[R * T][T][R] = malloc(sizeof *lv * (TY_SIMD_AVX512 + 1));
  int ran[TY_SIMD_AVX512 + 1] = { 0 };
  for (int level = TY_SIMD_AVX2; level <= TY_SIMD_AVX512; level++) {
    struct ty_qtype_traits table[TY_QTYPE_COUNT];
    if (ty_qtype_table_for((enum ty_simd_level)level, table) != 0) continue;
    if (table[type].gemm_i8 == NULL) continue;
    ran[level] = 1;
    if (table[type].to_i8 != to_i8) {   /* this level's conversion: the same bytes */
      char *wl = malloc(R * wsz);
      for (int r = 0; r < R; r++) ty_i8_weight(table[type].to_i8, x + r * xs, wl + r * wsz, n);
      CHECK(memcmp(wl, w, R * wsz) == 0, "%s n %d level %d: the i8 form differs from gemm.c's",
            ref->name, n, level);
      free(wl);
    }
    /* every shape up to R x T, so each edge path runs */
    for (int nr = 1; nr <= R; nr++)
      for (int nt = 1; nt <= T; nt++) {
        float (*s)[R] = lv[level][(nr - 1) * T + nt - 1];
        memset(s, 0, sizeof(float) * T * R);
        table[type].gemm_i8(n, nr, nt, w, wsz, a, asz, &s[0][0], R);
        for (int t = 0; t < nt; t++)
          for (int r = 0; r < nr; r++)
            CHECK(close(s[t][r], got[t][r], scale[t][r]), "%s n %d level %d %dx%d: [%d][%d] "
                  "%.7g, reference %.7g", ref->name, n, level, nr, nt, t, r, s[t][r], got[t][r]);
      }
  }
  /* AVX2 sums in AVX-512's order (gemm_avx2.c): a batch gives the same
     logits on either level */
  if (ran[TY_SIMD_AVX2] && ran[TY_SIMD_AVX512])
    CHECK(memcmp(lv[TY_SIMD_AVX2], lv[TY_SIMD_AVX512], sizeof lv[0]) == 0,
          "%s n %d: the AVX2 and AVX-512 batch products differ", ref->name, n);
  free(lv);
  free(x); free(y); free(w); free(a); free(f);
}


/* The K formats' sb form (gemm_sb.c): the tile reads back as the
   dequantizer's floats; the reference product agrees with vec_dot to
   rounding; every SIMD level's conversion is the reference's byte for byte
   and its product agrees with the reference, for a whole tile and a
   partial one, and token counts on and off its pass of 8. */
static void test_sb(int type, int n) {
  enum { R = 19, T = 11 };
  const struct ty_qtype_traits *ref = ty_qtype_get_ref(type), *yt = ty_qtype_get_ref(TY_QTYPE_Q8_K);
  const int unit = ty_sb_unit(type), nu = (int)ty_sb_act_count(unit, n);
  size_t xs = ty_qtype_row_size(type, n), ys = ty_qtype_row_size(TY_QTYPE_Q8_K, n);
  size_t tsz = ty_sb_tile_size(type, n);
  char *x = malloc(R * xs), *y = malloc(T * ys), *tile[2] = { malloc(tsz), malloc(tsz) };
  char *fast = malloc(tsz);
  float *ya = malloc((size_t)T * nu * sizeof *ya);
  float *f = malloc(n * sizeof *f);
  float want[T][R], scale[T][R], got[T][R];

  for (int r = 0; r < R; r++) {
    for (int i = 0; i < n; i++) f[i] = frand() * (1 + (i % 37 == 0) * 4);
    ref->from_float(f, x + r * xs, n);
  }
  for (int h = 0; h < 2; h++) {    /* rows 0..15, then 16..18 */
    int nr = h == 0 ? 16 : R - 16;
    ty_sb_tile_ref(type, x + h * 16 * xs, xs, nr, tile[h], n);
    const float *sw = (const float *)(tile[h] + (size_t)n * 16), *mw = sw + (size_t)nu * 16;
    for (int r = 0; r < nr; r++) {
      ref->to_float(x + (h * 16 + r) * xs, f, n);
      int bad = 0;
      for (int i = 0; i < n; i++) {
        uint8_t q = (uint8_t)tile[h][64 * (i / 4) + 4 * r + i % 4];
        bad += q * sw[(i / unit) * 16 + r] - mw[(i / unit) * 16 + r] != f[i];
      }
      CHECK(bad == 0, "%s n %d row %d: %d elements of the sb form differ from to_float",
            ref->name, n, h * 16 + r, bad);
    }
  }
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < n; i++) f[i] = frand() * 2.0f;
    yt->from_float(f, y + t * ys, n);
    ty_sb_act(unit, y + t * ys, ya + (size_t)t * nu, n);
    for (int r = 0; r < R; r++) {
      want_of(ref, yt, x + r * xs, y + t * ys, n, &want[t][r], &scale[t][r]);
    }
  }
  for (int h = 0; h < 2; h++)
    ty_gemm_sb_ref(n, unit, h == 0 ? 16 : R - 16, T, tile[h], y, ys, ya, nu, &got[0][16 * h], R);
  for (int t = 0; t < T; t++)
    for (int r = 0; r < R; r++)
      CHECK(close(got[t][r], want[t][r], scale[t][r]), "%s n %d: sb reference product [%d][%d] "
            "%.7g, vec_dot %.7g", ref->name, n, t, r, got[t][r], want[t][r]);

  for (int level = TY_SIMD_AVX2; level <= TY_SIMD_AVX512; level++) {
    struct ty_qtype_traits table[TY_QTYPE_COUNT];
    if (ty_qtype_table_for((enum ty_simd_level)level, table) != 0 || table[type].gemm_sb == NULL)
      continue;
    for (int h = 0; h < 2; h++) {
      int nr = h == 0 ? 16 : R - 16;
      memset(fast, 0x5A, tsz);
      table[type].sb_tile(x + h * 16 * xs, xs, nr, fast, n);
      CHECK(memcmp(fast, tile[h], tsz) == 0, "%s n %d level %d: the SIMD sb tile of %d rows "
            "differs from the reference's", ref->name, n, level, nr);
      for (int nt = 1; nt <= T; nt++) {
        float s[T][R];
        for (int t = 0; t < nt; t++)
          for (int r = 0; r < R; r++) s[t][r] = -7.0f;
        table[type].gemm_sb(n, nr, nt, tile[h], y, ys, ya, nu, &s[0][16 * h], R);
        for (int t = 0; t < nt; t++)
          for (int r = 0; r < R; r++) {
            bool mine = r >= 16 * h && r < 16 * h + nr;
            CHECK(mine ? close(s[t][r], got[t][r], scale[t][r]) : s[t][r] == -7.0f,
                  "%s n %d level %d %d rows x %d tokens: [%d][%d] %.7g, reference %.7g",
                  ref->name, n, level, nr, nt, t, r, s[t][r], got[t][r]);
          }
      }
    }
  }
  free(x); free(y); free(tile[0]); free(tile[1]); free(fast); free(ya); free(f);
}


int main(void) {
  static const int types[] = { TY_QTYPE_Q4_0, TY_QTYPE_Q5_0, TY_QTYPE_Q8_0 };
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    test_type(types[i], 64);
    test_type(types[i], 640);     /* Gemma 3 270M's width */
  }
  test_sb(TY_QTYPE_Q4_K, 256);
  test_sb(TY_QTYPE_Q4_K, 1536);
  test_sb(TY_QTYPE_Q5_K, 512);
  test_sb(TY_QTYPE_Q6_K, 256);
  test_sb(TY_QTYPE_Q6_K, 1536);
  CHECK(ty_qtype_to_i8(TY_QTYPE_Q4_1) == NULL, "q4_1 must keep llama.cpp's row-by-row order");
  if (failures) return 1;
  printf("ok: batch product (simd %s)\n", ty_qtype_simd());
  return 0;
}
