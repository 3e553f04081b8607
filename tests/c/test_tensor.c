/*
 * test_tensor.c: the tensor module against golden data and itself: fixtures
 * from gguf.quants / ggml (tests/fixtures/quants), round-trip error bounds,
 * every SIMD kernel against the scalar one, dots against float dots.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"
#include "tensor/tensor.h"
#include "check.h"


static const int all_types[] = {
  TY_QTYPE_F32, TY_QTYPE_F16, TY_QTYPE_BF16, TY_QTYPE_Q4_0, TY_QTYPE_Q4_1, TY_QTYPE_Q5_0,
  TY_QTYPE_Q5_1, TY_QTYPE_Q8_0, TY_QTYPE_Q8_1, TY_QTYPE_Q2_K, TY_QTYPE_Q3_K, TY_QTYPE_Q4_K,
  TY_QTYPE_Q5_K, TY_QTYPE_Q6_K, TY_QTYPE_Q8_K,
};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))


/* ==== deterministic random numbers ====================================== */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd_u32(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}


static float rnd_gauss(void) {
  const double u = (rnd_u32() + 1.0) / 4294967297.0, v = (rnd_u32() + 1.0) / 4294967297.0;
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}


/* ==== fp16 / bf16 edges ================================================= */

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }


static void test_half(void) {
  static const struct { uint16_t h; uint32_t f; } h2f[] = {
    { 0x0000, 0x00000000 }, { 0x8000, 0x80000000 }, { 0x3c00, 0x3f800000 }, { 0xc000, 0xc0000000 },
    { 0x7bff, 0x477fe000 },   /* 65504, the largest half */
    { 0x0400, 0x38800000 },   /* 2^-14, the smallest normal */
    { 0x0001, 0x33800000 },   /* 2^-24, the smallest subnormal */
    { 0x03ff, 0x387fc000 },   /* the largest subnormal */
    { 0x7c00, 0x7f800000 }, { 0xfc00, 0xff800000 },
  };
  for (size_t i = 0; i < sizeof h2f / sizeof h2f[0]; i++) {
    const float f = ty_fp16_to_fp32(h2f[i].h);
    CHECK(fbits(f) == h2f[i].f, "fp16 %04x -> %08x, want %08x", h2f[i].h, fbits(f), h2f[i].f);
    CHECK(ty_fp32_to_fp16(bitsf(h2f[i].f)) == h2f[i].h, "fp32 %08x -> fp16 %04x, want %04x",
          h2f[i].f, ty_fp32_to_fp16(bitsf(h2f[i].f)), h2f[i].h);
  }
  CHECK(isnan(ty_fp16_to_fp32(0x7e00)) && isnan(ty_fp16_to_fp32(0x7c01)) && isnan(ty_fp16_to_fp32(0xfe00)), "fp16 nan");
  CHECK((ty_fp32_to_fp16(NAN) & 0x7c00) == 0x7c00 && (ty_fp32_to_fp16(NAN) & 0x3ff) != 0, "fp32 nan -> fp16 nan");
  CHECK(ty_fp32_to_fp16(65520.0f) == 0x7c00, "65520 rounds to inf");
  CHECK(ty_fp32_to_fp16(65519.0f) == 0x7bff, "65519 rounds to 65504");
  CHECK(ty_fp32_to_fp16(1e10f) == 0x7c00 && ty_fp32_to_fp16(-INFINITY) == 0xfc00, "overflow to inf");
  CHECK(ty_fp32_to_fp16(bitsf(0x33000000)) == 0x0000, "2^-25 ties to even (0)");
  CHECK(ty_fp32_to_fp16(bitsf(0x33000001)) == 0x0001, "just above 2^-25 rounds up");
  CHECK(ty_fp32_to_fp16(bitsf(0x33c00000)) == 0x0002, "1.5 * 2^-24 ties to even (2)");
  CHECK(ty_fp32_to_fp16(1e-10f) == 0x0000 && ty_fp32_to_fp16(-1e-10f) == 0x8000, "underflow keeps sign");
  CHECK(ty_fp32_to_fp16(bitsf(0x3f801000)) == 0x3c00, "1 + 2^-11 ties to even (1)");
  CHECK(ty_fp32_to_fp16(bitsf(0x3f803000)) == 0x3c02, "1 + 3 * 2^-11 ties to even (up)");
  /* every half survives a round trip */
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (!nan && ty_fp32_to_fp16(ty_fp16_to_fp32((uint16_t)h)) != h) bad++;
  }
  CHECK(bad == 0, "%d halves do not round-trip", bad);

  CHECK(fbits(ty_bf16_to_fp32(0x3f80)) == 0x3f800000 && fbits(ty_bf16_to_fp32(0xff80)) == 0xff800000, "bf16 to fp32");
  CHECK(ty_fp32_to_bf16(1.0f) == 0x3f80 && ty_fp32_to_bf16(INFINITY) == 0x7f80, "fp32 to bf16");
  CHECK(ty_fp32_to_bf16(bitsf(0x3f808000)) == 0x3f80, "bf16 tie to even (down)");
  CHECK(ty_fp32_to_bf16(bitsf(0x3f818000)) == 0x3f82, "bf16 tie to even (up)");
  CHECK(ty_fp32_to_bf16(bitsf(0x3f808001)) == 0x3f81, "bf16 above tie");
  CHECK(ty_fp32_to_bf16(bitsf(0x7f7fffff)) == 0x7f80, "bf16 max float rounds to inf");
  CHECK(ty_fp32_to_bf16(bitsf(0x00000001)) == 0x0000 && ty_fp32_to_bf16(bitsf(0x00018000)) == 0x0002,
        "bf16 subnormals round, not flush");
  CHECK(ty_fp32_to_bf16(bitsf(0x7f800001)) == 0x7fc0, "bf16 signalling nan becomes quiet");
  CHECK(ty_fp32_to_bf16(bitsf(0xffc00000)) == 0xffc0, "bf16 negative quiet nan");
}


/* ==== the table ========================================================= */

static void test_table(void) {
  static const int unknown[] = { -1, 4, 5, 16, 29, 31, 1000 };
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    CHECK(ty_qtype_get(unknown[i]) == NULL && ty_qtype_get_ref(unknown[i]) == NULL, "type %d known", unknown[i]);
    CHECK(ty_qtype_row_size(unknown[i], 256) == 0, "row size of unknown type %d", unknown[i]);
  }
  static const struct { int type; int vdt; } pairs[] = {
    { TY_QTYPE_Q4_0, TY_QTYPE_Q8_0 }, { TY_QTYPE_Q4_1, TY_QTYPE_Q8_1 }, { TY_QTYPE_Q5_0, TY_QTYPE_Q8_0 },
    { TY_QTYPE_Q5_1, TY_QTYPE_Q8_1 }, { TY_QTYPE_Q8_0, TY_QTYPE_Q8_0 }, { TY_QTYPE_Q2_K, TY_QTYPE_Q8_K },
    { TY_QTYPE_Q3_K, TY_QTYPE_Q8_K }, { TY_QTYPE_Q4_K, TY_QTYPE_Q8_K }, { TY_QTYPE_Q5_K, TY_QTYPE_Q8_K },
    { TY_QTYPE_Q6_K, TY_QTYPE_Q8_K }, { TY_QTYPE_F16, TY_QTYPE_F16 }, { TY_QTYPE_BF16, TY_QTYPE_BF16 },
    { TY_QTYPE_F32, TY_QTYPE_F32 },
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const struct ty_qtype_traits *t = ty_qtype_get(pairs[i].type);
    CHECK(t && (int)t->vec_dot_type == pairs[i].vdt && t->vec_dot, "%s pairs with %d", t ? t->name : "?", pairs[i].vdt);
  }
  CHECK(ty_qtype_get(TY_QTYPE_Q8_1)->vec_dot == NULL && ty_qtype_get(TY_QTYPE_Q8_K)->vec_dot == NULL,
        "activation-only types have no vec_dot");
  for (int i = 0; i < N_TYPES; i++) {
    const struct ty_qtype_traits *t = ty_qtype_get(all_types[i]), *r = ty_qtype_get_ref(all_types[i]);
    CHECK(t && r && t->to_float && t->from_float && r->to_float && r->from_float, "type %d kernels", all_types[i]);
    CHECK(t->blck_size == r->blck_size && t->type_size == r->type_size && strcmp(t->name, r->name) == 0, "%s shapes", r->name);
  }
  CHECK(ty_qtype_row_size(TY_QTYPE_Q4_K, 512) == 288 && ty_qtype_row_size(TY_QTYPE_Q4_K, 100) == 0, "q4_K row size");
  CHECK(ty_qtype_row_size(TY_QTYPE_Q8_0, 64) == 68 && ty_qtype_row_size(TY_QTYPE_F16, 3) == 6, "row sizes");
  CHECK(ty_qtype_row_size(TY_QTYPE_F32, -32) == 0, "negative n");
  const char *simd = ty_qtype_simd();
  CHECK(simd && (!strcmp(simd, "scalar") || !strcmp(simd, "avx2") || !strcmp(simd, "avx512")), "simd name");
  printf("simd: %s (cpu max %d)\n", simd, (int)ty_simd_level_cpu());
}


/* ==== fixtures ========================================================== */

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


/* Decodes hex into out (cap bytes); returns the byte count or -1. */
static long unhex(const char *s, uint8_t *out, size_t cap) {
  const size_t len = strlen(s);
  if (len % 2 || len / 2 > cap) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    const int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
    if (a < 0 || b < 0) return -1;
    out[i] = (uint8_t)(a << 4 | b);
  }
  return (long)(len / 2);
}


/* Decodes concatenated 8-digit IEEE bit patterns; returns the count or -1. */
static long unhex_floats(const char *s, float *out, size_t cap) {
  const size_t len = strlen(s);
  if (len % 8 || len / 8 > cap) return -1;
  for (size_t i = 0; i < len / 8; i++) {
    uint32_t u = 0;
    for (int k = 0; k < 8; k++) {
      const int v = hexval(s[8 * i + k]);
      if (v < 0) return -1;
      u = u << 4 | (uint32_t)v;
    }
    out[i] = bitsf(u);
  }
  return (long)(len / 8);
}


/* Bit-equal floats (NaNs equal when their bits are). */
static long first_float_mismatch(const float *a, const float *b, long n) {
  for (long i = 0; i < n; i++)
    if (fbits(a[i]) != fbits(b[i])) return i;
  return -1;
}


/* Checks one fixture file against the ref and the fast kernels; returns
   the number of records checked. */
static int check_fixture_file(int type) {
  const struct ty_qtype_traits *ref = ty_qtype_get_ref(type), *fast = ty_qtype_get(type);
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fixtures/quants/%s.txt", TYCHO_SOURCE_DIR, ref->name);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f) return 0;
  enum { CAP = 4096 };
  static char line[1 << 16];
  static uint8_t bytes[CAP], got_bytes[CAP];
  static float floats[CAP], got[CAP];
  int records = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, "\n")] = 0;
    char *save = NULL;
    const char *kind = strtok_r(line, " ", &save), *src = strtok_r(NULL, " ", &save);
    const char *cnt = strtok_r(NULL, " ", &save), *a = strtok_r(NULL, " ", &save), *b = strtok_r(NULL, " ", &save);
    CHECK(kind && src && cnt && a && b, "%s:%d: malformed", path, lineno);
    if (!(kind && src && cnt && a && b)) continue;
    const long n = strtol(cnt, NULL, 10);
    const size_t rs = ty_qtype_row_size(type, n);
    const int is_deq = strcmp(kind, "dequant") == 0;
    const long nb = unhex(is_deq ? a : b, bytes, CAP), nf = unhex_floats(is_deq ? b : a, floats, CAP);
    CHECK(rs > 0 && nb == (long)rs && nf == n, "%s:%d: sizes (n %ld, %ld bytes, %ld floats)", path, lineno, n, nb, nf);
    if (!(rs > 0 && nb == (long)rs && nf == n)) continue;
    if (is_deq) {
      for (int k = 0; k < 2; k++) {
        const struct ty_qtype_traits *t = k ? fast : ref;
        if (k && t->to_float == ref->to_float) break;
        memset(got, 0xAB, sizeof got);
        t->to_float(bytes, got, n);
        const long bad = first_float_mismatch(got, floats, n);
        CHECK(bad < 0, "%s %s (%s): element %ld is %a (%08x), want %a (%08x)", ref->name, src,
              k ? "fast" : "ref", bad, got[bad < 0 ? 0 : bad], fbits(got[bad < 0 ? 0 : bad]),
              floats[bad < 0 ? 0 : bad], fbits(floats[bad < 0 ? 0 : bad]));
      }
    } else {
      for (int k = 0; k < 2; k++) {
        const struct ty_qtype_traits *t = k ? fast : ref;
        if (k && t->from_float == ref->from_float) break;
        memset(got_bytes, 0xAB, rs);
        t->from_float(floats, got_bytes, n);
        size_t bad = 0;
        while (bad < rs && got_bytes[bad] == bytes[bad]) bad++;
        CHECK(bad == rs, "%s %s (%s): byte %zu is %02x, want %02x", ref->name, src, k ? "fast" : "ref",
              bad, bad < rs ? got_bytes[bad] : 0, bad < rs ? bytes[bad] : 0);
      }
    }
    records++;
  }
  fclose(f);
  return records;
}


static void test_fixtures(void) {
  int total = 0;
  for (int i = 0; i < N_TYPES; i++) {
    const int r = check_fixture_file(all_types[i]);
    CHECK(r >= 4, "%s: only %d fixture records", ty_qtype_get_ref(all_types[i])->name, r);
    total += r;
  }
  printf("fixtures: %d records checked\n", total);
}


/* ==== round trips ======================================================= */

/* Relative RMS error of quantize -> dequantize on N(0,1) data, measured on
   these 8192 seeded values: f16 0.00024, bf16 0.0016, q8_0 0.0053, q8_1
   0.0053, q8_K 0.0068, q6_K 0.0177, q5_0 0.042, q5_1 0.0375, q5_K 0.0359,
   q4_0 0.0848, q4_1 0.0777, q4_K 0.0706, q3_K 0.152, q2_K 0.294. The bounds
   sit about 15% above, so a broken rounding rule or a shifted scale fails. */
static const struct { int type; double bound; } rms_bounds[] = {
  { TY_QTYPE_F32, 0.0 },     { TY_QTYPE_F16, 0.0003 },  { TY_QTYPE_BF16, 0.0019 },
  { TY_QTYPE_Q8_0, 0.0062 }, { TY_QTYPE_Q8_1, 0.0062 }, { TY_QTYPE_Q8_K, 0.0079 },
  { TY_QTYPE_Q6_K, 0.0205 }, { TY_QTYPE_Q5_0, 0.048 },  { TY_QTYPE_Q5_1, 0.043 },
  { TY_QTYPE_Q5_K, 0.041 },  { TY_QTYPE_Q4_0, 0.097 },  { TY_QTYPE_Q4_1, 0.089 },
  { TY_QTYPE_Q4_K, 0.081 },  { TY_QTYPE_Q3_K, 0.175 },  { TY_QTYPE_Q2_K, 0.34 },
};


static void test_roundtrip(void) {
  enum { N = 8192 };
  static float x[N], y[N];
  static uint8_t q[N * 4];
  for (int i = 0; i < N; i++) x[i] = rnd_gauss();
  printf("round-trip relative rms:");
  for (size_t k = 0; k < sizeof rms_bounds / sizeof rms_bounds[0]; k++) {
    const struct ty_qtype_traits *t = ty_qtype_get_ref(rms_bounds[k].type);
    t->from_float(x, q, N);
    t->to_float(q, y, N);
    double e2 = 0, x2 = 0;
    for (int i = 0; i < N; i++) { e2 += (double)(y[i] - x[i]) * (y[i] - x[i]); x2 += (double)x[i] * x[i]; }
    const double rel = sqrt(e2 / x2);
    printf(" %s %.4f", t->name, rel);
    fflush(stdout);
    CHECK(rel <= rms_bounds[k].bound, "%s round trip rel rms %.5f > %.5f", t->name, rel, rms_bounds[k].bound);
    /* scaled data must give the same relative error (no absolute epsilon) */
    if (rms_bounds[k].type != TY_QTYPE_F16) {
      static float xs[N];
      for (int i = 0; i < N; i++) xs[i] = x[i] * 1e-3f;
      t->from_float(xs, q, N);
      t->to_float(q, y, N);
      e2 = x2 = 0;
      for (int i = 0; i < N; i++) { e2 += (double)(y[i] - xs[i]) * (y[i] - xs[i]); x2 += (double)xs[i] * xs[i]; }
      CHECK(sqrt(e2 / x2) <= rms_bounds[k].bound * 1.5, "%s small-scale round trip %.5f", t->name, sqrt(e2 / x2));
    }
  }
  printf("\n");
  /* an all-zero row quantizes to zeros and back */
  memset(x, 0, sizeof x);
  for (int i = 0; i < N_TYPES; i++) {
    const struct ty_qtype_traits *t = ty_qtype_get(all_types[i]);
    t->from_float(x, q, 1024);
    t->to_float(q, y, 1024);
    int nz = 0;
    for (int j = 0; j < 1024; j++) nz += y[j] != 0;
    CHECK(nz == 0, "%s: zero row gives %d non-zeros", t->name, nz);
  }
}


/* ==== dots ============================================================== */

/* Fills a row of type t with n quantized N(0,1) values (scaled by amp). */
static void make_row(const struct ty_qtype_traits *t, float *tmp, void *out, int n, float amp) {
  for (int i = 0; i < n; i++) tmp[i] = amp * rnd_gauss();
  t->from_float(tmp, out, n);
}


/* SIMD kernels against scalar: every level this CPU runs, several n, rows
   misaligned by one byte. Dots agree within 1e-5 of sum |x_i y_i| (float
   accumulation order differs); activation quantizers agree bit for bit. */
static void test_simd_vs_scalar(void) {
  enum { NMAX = 256 * 17 + 64 };
  static float tmp[NMAX], xf[NMAX], yf[NMAX];
  static uint8_t xbuf[NMAX * 4 + 1], ybuf[NMAX * 4 + 1], q1[NMAX * 4], q2[NMAX * 4];
  static struct ty_qtype_traits table[TY_QTYPE_COUNT];
  static const char *levels[] = { "scalar", "avx2", "avx512" };
  for (int level = TY_SIMD_AVX2; level <= TY_SIMD_AVX512; level++) {
    if (ty_qtype_table_for((enum ty_simd_level)level, table) != 0) {
      printf("simd: %s not available on this cpu, skipped\n", levels[level]);
      continue;
    }
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < N_TYPES; i++) {
      const int type = all_types[i];
      const struct ty_qtype_traits *ref = ty_qtype_get_ref(type), *fast = &table[type];
      /* activation quantizers: same bytes as their scalar form (for q8_0 and
         q8_1 on x86, llama.cpp's x86 form rather than the reference) */
      ty_from_float_fn scalar_q = ref->from_float;
#if defined(__x86_64__) || defined(__i386__)
      if (type == TY_QTYPE_Q8_0) scalar_q = ty_quant_q8_0_x86;
      if (type == TY_QTYPE_Q8_1) scalar_q = ty_quant_q8_1_x86;
#endif
      if (fast->from_float != scalar_q) {
        for (int rep = 0; rep < 20; rep++) {
          const int n = ref->blck_size == 256 ? 256 * (1 + rep % 4) : 32 * (1 + rep % 7);
          const float amp = rep % 3 == 0 ? 1e-3f : rep % 3 == 1 ? 1.0f : 300.0f;
          for (int j = 0; j < n; j++) tmp[j] = amp * rnd_gauss();
          if (rep == 5) for (int j = 0; j < 40; j++) tmp[j] = (float)(j % 5) - 2.0f;   /* ties */
          if (rep == 6) for (int j = 0; j < n; j++) tmp[j] = (j % 9 == 0) ? -amp : (j % 2 ? amp : 0) * 0.5f;
          if (rep == 7) memset(tmp, 0, n * sizeof(float));
          if (rep == 8 && type == TY_QTYPE_F16)   /* past f16's range, its rounding edge, subnormals */
            for (int j = 0; j < n; j++)
              tmp[j] = (j % 2 ? -1 : 1) * (j % 4 < 2 ? 65504.0f + 16.0f * (float)(j % 7) : 0x1p-25f * (float)(j % 11)) +
                       (j % 13 == 0 ? INFINITY : 0.0f);
          const size_t rs = ty_qtype_row_size(type, n);
          scalar_q(tmp, q1, n);
          fast->from_float(tmp, q2, n);
          size_t bad = 0;
          while (bad < rs && q1[bad] == q2[bad]) bad++;
          CHECK(bad == rs, "%s %s from_float n=%d rep %d: byte %zu differs (%02x vs %02x)", levels[level],
                ref->name, n, rep, bad, bad < rs ? q2[bad] : 0, bad < rs ? q1[bad] : 0);
        }
      }
      if (fast->vec_dot == NULL) continue;
      const struct ty_qtype_traits *vt = ty_qtype_get_ref(ref->vec_dot_type);
      static const int counts[] = { 1, 2, 3, 4, 5, 7, 8, 12, 17 };
      for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        const int n = ref->blck_size == 256 ? 256 * counts[c] : ref->blck_size == 1 ? 32 * counts[c] + (int)c : 32 * counts[c];
        for (int rep = 0; rep < 4; rep++) {
          uint8_t *xq = xbuf + (rep & 1), *yq = ybuf + ((rep >> 1) & 1);   /* misaligned rows too */
          make_row(ref, tmp, xq, n, rep == 3 ? 50.0f : 1.0f);
          make_row(vt, tmp, yq, n, 1.0f);
          ref->to_float(xq, xf, n);
          vt->to_float(yq, yf, n);
          double mag = 0;
          for (int j = 0; j < n; j++) mag += fabs((double)xf[j] * yf[j]);
          float s_ref = 0, s_fast = 0;
          ref->vec_dot(n, &s_ref, xq, yq);
          fast->vec_dot(n, &s_fast, xq, yq);
          const double err = fabs((double)s_fast - s_ref) / (mag + 1e-30);
          if (err > worst) worst = err;
          CHECK(err <= 1e-5, "%s %s vec_dot n=%d: %.9g vs scalar %.9g (rel %.3g)", levels[level], ref->name, n,
                s_fast, s_ref, err);
          checked++;
        }
        /* the rows kernel must give vec_dot's floats exactly, row by row */
        if (fast->vec_dot_rows != NULL) {
          static uint8_t rows[TY_DOT_ROWS * 8192];
          const size_t rs = ty_qtype_row_size(type, n), bx = rs + 3;   /* odd stride */
          float got[TY_DOT_ROWS], want;
          for (int r = 0; r < TY_DOT_ROWS; r++) make_row(ref, tmp, rows + r * bx, n, 1.0f + r);
          make_row(vt, tmp, ybuf, n, 1.0f);
          fast->vec_dot_rows(n, got, rows, bx, ybuf);
          for (int r = 0; r < TY_DOT_ROWS; r++) {
            fast->vec_dot(n, &want, rows + r * bx, ybuf);
            CHECK(memcmp(&got[r], &want, sizeof want) == 0, "%s %s vec_dot_rows n=%d row %d: %.9g vs "
                  "vec_dot %.9g", levels[level], ref->name, n, r, got[r], want);
          }
        }
      }
    }
    printf("simd: %s: %d dots checked, worst relative difference %.3g\n", levels[level], checked, worst);
  }
}


/* The scalar dots against a double-precision dot of the dequantized rows.
   Only float rounding separates them, except that q4_1/q5_1 use q8_1's s,
   d*sum(qs) rounded to half: bound 1e-3 of sum |x_i y_i| for those, 1e-5
   otherwise. The fast kernels are tied to these by test_simd_vs_scalar. */
static void test_dot_vs_float(void) {
  enum { N = 256 * 8 };
  static float tmp[N], xf[N], yf[N];
  static uint8_t xq[N * 4], yq[N * 4];
  for (int i = 0; i < N_TYPES; i++) {
    const struct ty_qtype_traits *t = ty_qtype_get_ref(all_types[i]);
    if (!t->vec_dot) continue;
    const struct ty_qtype_traits *vt = ty_qtype_get_ref(t->vec_dot_type);
    const double bound = t->vec_dot_type == TY_QTYPE_Q8_1 ? 1e-3 : 1e-5;
    double worst = 0;
    for (int rep = 0; rep < 8; rep++) {
      const int n = rep < 4 ? N : N / 8;
      for (int j = 0; j < n; j++) tmp[j] = rnd_gauss() + (rep & 1 ? 0.7f : 0.0f);
      t->from_float(tmp, xq, n);
      make_row(vt, tmp, yq, n, 1.0f);
      t->to_float(xq, xf, n);
      vt->to_float(yq, yf, n);
      double dot = 0, mag = 0;
      for (int j = 0; j < n; j++) { dot += (double)xf[j] * yf[j]; mag += fabs((double)xf[j] * yf[j]); }
      float s = 0;
      t->vec_dot(n, &s, xq, yq);
      const double err = fabs(s - dot) / mag;
      if (err > worst) worst = err;
      CHECK(err <= bound, "%s vec_dot %.9g vs float dot %.9g (rel %.3g)", t->name, s, dot, err);
    }
    printf("dot vs float: %s worst %.3g\n", t->name, worst);
  }
}


int main(void) {
  test_half();
  test_table();
  test_fixtures();
  test_roundtrip();
  test_simd_vs_scalar();
  test_dot_vs_float();
  if (failures) {
    printf("test_tensor: %d failures\n", failures);
    return 1;
  }
  printf("test_tensor: ok\n");
  return 0;
}
