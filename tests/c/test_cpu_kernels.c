/*
 * test_cpu_kernels.c: the CPU backend's own kernels (cpu_kernels.h). The
 * AVX2 and AVX-512 forms must give exactly the floats of the portable forms, for both
 * attention orders (a batch, one token), 1 to 9 query heads a kv head (the
 * group kernel shares each cache row; the portable form runs the heads one
 * by one), head sizes with and without a
 * 64-wide tail, windows that start past zero, and lengths on and off the
 * 16-lane boundaries, and rope for both pair orders and head sizes on and
 * off the 8-lane boundary; ty_cpu_expf must stay within 2 ulp of expf.
 */
#include "backend/cpu_kernels.h"
#include "tensor/tensor.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static unsigned rng = 12345;

static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}


static void test_attention(void) {
  static const int hds[] = { 16, 48, 64, 80, 128, 256 };
  static const int lasts[] = { 0, 1, 15, 16, 17, 63, 64, 65, 200 };
  static const int groups[] = { 1, 3, 5, 9 };   /* 5: the group dots 4 + 1; 9: two calls */
  enum { MAXPOS = 256, MAXHD = 256, MAXQ = 9 };
  size_t stride = 2 * MAXHD, hs = TY_ATTN_HEAD_WORK(MAXPOS, MAXHD);
  char *k = malloc(MAXPOS * stride), *v = malloc(MAXPOS * stride);
  float *work1 = aligned_alloc(64, TY_ATTN_WORK(MAXPOS, MAXHD, MAXQ) * sizeof(float));
  float *work2 = aligned_alloc(64, TY_ATTN_WORK(MAXPOS, MAXHD, MAXQ) * sizeof(float));
  float *s1 = malloc(MAXQ * hs * sizeof(float)), *s2 = malloc(MAXQ * hs * sizeof(float));
  static float q[MAXQ * MAXHD], o1[MAXQ * MAXHD], o2[MAXQ * MAXHD];
  int checked = 0;
  for (int i = 0; i < MAXPOS * MAXHD; i++) {
    uint16_t a = ty_fp32_to_fp16(frand() * 3.0f), b = ty_fp32_to_fp16(frand());
    memcpy(k + 2 * (size_t)i, &a, 2);
    memcpy(v + 2 * (size_t)i, &b, 2);
  }
  for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
    for (size_t b = 0; b < sizeof lasts / sizeof *lasts; b++)
      for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
        for (int single = 0; single < 2; single++)
          for (int windowed = 0; windowed < 2; windowed++) {
            int hd = hds[a], last = lasts[b], first = windowed ? last / 3 : 0, n_q = groups[g];
            size_t out_size = (size_t)n_q * hd * sizeof *o1;
            for (int d = 0; d < n_q * hd; d++) q[d] = frand() * 2.0f;
            struct ty_attn_head h = { q, k, v, stride, hd, first, last, 0.125f, single, n_q, o1,
                                      work1 };
            ty_cpu_attn_f16(&h);
            for (int d = 0; d < n_q * hd; d++) CHECK(isfinite(o1[d]), "attention output not finite");
            if (strcmp(ty_qtype_simd(), "scalar") == 0) continue;
            h.out = o2;
            h.work = work2;
            for (int level = 0; level < 2; level++) {
              if (level == 1 && strcmp(ty_qtype_simd(), "avx512") != 0) break;
              memset(o2, 0, out_size);
              /* the work is scratch: whatever it held must not show (NaN here) */
              memset(work2, 0xff, TY_ATTN_WORK(MAXPOS, MAXHD, MAXQ) * sizeof(float));
              (level ? ty_cpu_attn_f16_avx512 : ty_cpu_attn_f16_avx2)(&h);
              CHECK(memcmp(o1, o2, out_size) == 0,
                    "attention hd %d last %d first %d single %d heads %d: %s differs from "
                    "portable (%.9g vs %.9g)", hd, last, first, single, n_q,
                    level ? "avx512" : "avx2", o2[0], o1[0]);
              checked++;
            }
            /* the scores alone: the weights' f16 rounding hides a reordered
               sum from the comparison above (a swapped pair in dots16's tree
               passed it) */
            float m1[MAXQ], m2[MAXQ];
            ty_cpu_attn_scores_f16(&h, work1, s1, hs, m1);
            for (int level = 0; level < 2; level++) {
              if (level == 1 && strcmp(ty_qtype_simd(), "avx512") != 0) break;
              (level ? ty_cpu_attn_scores_f16_avx512 : ty_cpu_attn_scores_f16_avx2)(&h, work2, s2, hs, m2);
              for (int j = 0; j < n_q; j++)
                CHECK(m1[j] == m2[j] && memcmp(s1 + j * hs + first, s2 + j * hs + first,
                                               (size_t)(last - first + 1) * 4) == 0,
                      "attention scores hd %d last %d first %d single %d head %d of %d: %s "
                      "differs from portable", hd, last, first, single, j, n_q,
                      level ? "avx512" : "avx2");
            }
          }
  printf("attention: %d simd/portable comparisons\n", checked);
  free(k);
  free(v);
  free(work1);
  free(work2);
  free(s1);
  free(s2);
}


/* GELU through a table: the SIMD forms give the portable one's floats,
   around and at the cut-offs (+-10), for tiny, signed-zero, infinite and
   NaN inputs, at every length mod 8. The table is arbitrary (random
   floats): the kernels only index it. */
static void test_geglu(void) {
  enum { N = 300 };
  static float table[65536], x[N], g[N], y1[N], y2[N];
  static const float special[] = { -10.0f, 10.0f, -10.000001f, 9.999999f, 0.0f, -0.0f, 1e-7f,
                                   -3e-6f, 65504.0f, -65504.0f, 1e30f, INFINITY, -INFINITY, NAN };
  int checked = 0;
  for (int i = 0; i < 65536; i++) table[i] = frand() * 4.0f;
  for (int i = 0; i < N; i++) {
    x[i] = i < (int)(sizeof special / sizeof *special) ? special[i] : frand() * 12.0f;
    g[i] = frand() * 2.0f;
  }
  for (int n = 0; n <= N; n += n < 20 ? 1 : 37) {
    ty_cpu_geglu(n, y1, x, g, table);
    for (int i = 0; i < n; i++)
      if (!isnan(x[i]) && x[i] > -10.0f && x[i] < 10.0f)
        CHECK(y1[i] == table[ty_fp32_to_fp16(x[i])] * g[i], "geglu n %d i %d: not the table's", n, i);
    if (strcmp(ty_qtype_simd(), "scalar") == 0) continue;
    memset(y2, 0, sizeof y2);
    ty_cpu_geglu_avx2(n, y2, x, g, table);   /* the one x86 form, for both levels */
    for (int i = 0; i < n; i++)
      CHECK(memcmp(&y1[i], &y2[i], 4) == 0 || (isnan(y1[i]) && isnan(y2[i])),
            "geglu n %d i %d (x %.9g): avx2 %.9g vs portable %.9g", n, i, x[i], y2[i], y1[i]);
    checked++;
  }
  printf("geglu: %d simd/portable comparisons\n", checked);
}


static void test_swiglu(void) {
  enum { N = 1000 };
  static float x[N], g[N], y1[N], y2[N];
  /* some lanes past exp's range (|n| > 192) among ordinary ones in a vector */
  static const float far[] = { 150.0f, -150.0f, 1e30f, -1e30f };
  for (int i = 0; i < N; i++) {
    x[i] = i % 7 == 3 ? far[i / 7 % 4] : frand() * 20.0f;
    g[i] = frand();
  }
  for (int n = 1; n <= N; n += 37) {
    ty_cpu_swiglu(n, y1, x, g);
    for (int i = 0; i < n; i++) {
      float want = x[i] / (1.0f + expf(-x[i])) * g[i];
      CHECK(fabsf(y1[i] - want) <= 1e-6f * (fabsf(want) + 1e-3f), "swiglu n %d i %d: %.9g vs %.9g",
            n, i, y1[i], want);
    }
    if (strcmp(ty_qtype_simd(), "scalar") == 0) continue;
    ty_cpu_swiglu_avx2(n, y2, x, g);
    CHECK(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0, "swiglu n %d: avx2 differs from portable", n);
    if (strcmp(ty_qtype_simd(), "avx512") != 0) continue;
    ty_cpu_swiglu_avx512(n, y2, x, g);
    CHECK(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0, "swiglu n %d: avx512 differs", n);
  }
}


static void test_rope(void) {
  enum { MAXD = 256 };
  static const int nds[] = { 2, 6, 16, 24, 64, 80, 128, 256 };
  float x[MAXD], cs[MAXD / 2], sn[MAXD / 2], y1[MAXD], y2[MAXD];
  int checked = 0;
  for (size_t k = 0; k < sizeof nds / sizeof nds[0]; k++)
    for (int neox = 0; neox < 2; neox++) {
      const int nd = nds[k];
      for (int i = 0; i < MAXD; i++) x[i] = frand() * 8.0f;
      for (int i = 0; i < nd / 2; i++) {
        cs[i] = cosf(frand() * 100.0f);
        sn[i] = sinf(frand() * 100.0f);
      }
      memcpy(y1, x, sizeof x);
      ty_cpu_rope(y1, cs, sn, nd, neox);
      for (int i = 0; i < nd / 2; i++) {    /* the rotation, within rounding */
        const int a = neox ? i : 2 * i, b = neox ? i + nd / 2 : 2 * i + 1;
        const double r0 = (double)x[a] * cs[i] - (double)x[b] * sn[i];
        const double r1 = (double)x[a] * sn[i] + (double)x[b] * cs[i];
        CHECK(fabs(y1[a] - r0) <= 1e-5 && fabs(y1[b] - r1) <= 1e-5, "rope nd %d neox %d pair %d", nd,
              neox, i);
      }
      CHECK(memcmp(y1 + nd, x + nd, (MAXD - nd) * sizeof *x) == 0, "rope nd %d: values past nd moved", nd);
      if (strcmp(ty_qtype_simd(), "scalar") == 0) continue;
      memcpy(y2, x, sizeof x);
      ty_cpu_rope_avx2(y2, cs, sn, nd, neox);
      CHECK(memcmp(y1, y2, sizeof y1) == 0, "rope nd %d neox %d: avx2 differs from portable", nd, neox);
      checked++;
      if (strcmp(ty_qtype_simd(), "avx512") != 0) continue;
      memcpy(y2, x, sizeof x);
      ty_cpu_rope_avx512(y2, cs, sn, nd, neox);
      CHECK(memcmp(y1, y2, sizeof y1) == 0, "rope nd %d neox %d: avx512 differs", nd, neox);
      checked++;
    }
  printf("rope: %d simd/portable comparisons\n", checked);
}


static void test_expf(void) {
  float worst = 0.0f;
  for (float x = -100.0f; x < 88.0f; x += 0.0137f) {
    float got = ty_cpu_expf(x), want = expf(x);
    float ulp = want > 0 ? nextafterf(want, INFINITY) - want : 1e-45f;
    float err = fabsf(got - want) / ulp;
    if (err > worst) worst = err;
  }
  printf("expf: worst %.2f ulp over [-100, 88)\n", worst);
  CHECK(worst <= 2.0f, "ty_cpu_expf is %.2f ulp from expf", worst);
  CHECK(ty_cpu_expf(-INFINITY) == 0.0f && ty_cpu_expf(-200.0f) == 0.0f, "underflow to 0");
  CHECK(isinf(ty_cpu_expf(200.0f)), "overflow to inf");
}


int main(void) {
  test_expf();
  test_swiglu();
  test_rope();
  test_attention();
  test_geglu();
  if (failures) return 1;
  printf("ok\n");
  return 0;
}
