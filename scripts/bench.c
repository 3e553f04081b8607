/*
 * bench.c: tycho-bench, the engine's speed benchmark (a benchmark, not a
 * test). Prompt processing: pp tokens in one batch into an empty context;
 * generation: after an untimed prompt of 8 tokens, tg tokens one at a time,
 * each the argmax of the previous logits. The prompt ids follow the rule
 * scripts/bench.py gives llama.cpp, so both engines do the same work. Prints
 * one JSON line per phase.
 *
 *   tycho-bench MODEL [--threads N] [--pp 128] [--tg 64] [--repeats 3] [--ctx N]
 */
#include "model/model.h"
#include "tensor/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}


static void report(const char *phase, int tokens, double *tps, int n, int threads) {
  qsort(tps, (size_t)n, sizeof *tps, cmp_double);
  printf("{\"phase\":\"%s\",\"tokens\":%d,\"threads\":%d,\"repeats\":%d,\"tps_median\":%.3f,"
         "\"tps_min\":%.3f,\"tps_max\":%.3f,\"simd\":\"%s\"}\n", phase, tokens, threads, n,
         n % 2 ? tps[n / 2] : 0.5 * (tps[n / 2 - 1] + tps[n / 2]), tps[0], tps[n - 1],
         ty_qtype_simd());
  fflush(stdout);
}


static int fail(const ty_err *err) {
  fprintf(stderr, "tycho-bench: %s\n", err->msg);
  return 1;
}


int main(int argc, char **argv) {
  struct ty_model_params p;
  const char *path = NULL;
  int pp = 128, tg = 64, repeats = 3;
  ty_model *m;
  ty_err err;
  int32_t *ids;
  double *tps;

  ty_model_params_default(&p);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(a, "--threads") && has) p.num_thread = atoi(argv[++i]);
    else if (!strcmp(a, "--pp") && has) pp = atoi(argv[++i]);
    else if (!strcmp(a, "--tg") && has) tg = atoi(argv[++i]);
    else if (!strcmp(a, "--repeats") && has) repeats = atoi(argv[++i]);
    else if (!strcmp(a, "--ctx") && has) p.num_ctx = atoi(argv[++i]);
    else if (a[0] != '-' && path == NULL) path = a;
    else {
      fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--repeats N] [--ctx N]\n");
      return 2;
    }
  }
  if (path == NULL || pp < 0 || tg < 0 || repeats < 1) {
    fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--repeats N] [--ctx N]\n");
    return 2;
  }
  if (p.num_ctx < pp + tg + 8) p.num_ctx = pp + tg + 8;
  if (p.num_batch < pp) p.num_batch = pp;
  if (ty_model_open(path, &p, &m, &err) != TY_OK) return fail(&err);

  /* bench.py's ids: a 64-bit LCG, ids 1000..20999 (plain tokens in both
     test vocabularies); at least 8 for the generation prompt */
  int n_ids = pp > 8 ? pp : 8;
  ids = malloc((size_t)n_ids * sizeof *ids);
  tps = malloc((size_t)repeats * sizeof *tps);
  if (ids == NULL || tps == NULL) return 1;
  uint64_t s = 0x853c49e6748fea9bULL;
  int nv = ty_model_hparams(m)->n_vocab;
  for (int i = 0; i < n_ids; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    ids[i] = (int32_t)((1000 + (s >> 33) % 20000) % (uint64_t)nv);
  }

  for (int phase = 0; phase < 2; phase++) {
    int n = phase == 0 ? pp : tg;
    if (n == 0) continue;
    for (int r = -1; r < repeats; r++) {   /* r = -1 warms up */
      double t0;
      ty_model_reset(m);
      if (phase == 0) {
        t0 = now();
        if (ty_model_eval(m, ids, pp, &err) != TY_OK) return fail(&err);
      } else {
        if (ty_model_eval(m, ids, 8, &err) != TY_OK) return fail(&err);
        t0 = now();
        for (int i = 0; i < tg; i++) {
          int32_t next = ty_model_argmax(m);
          if (ty_model_eval(m, &next, 1, &err) != TY_OK) return fail(&err);
        }
      }
      if (r >= 0) tps[r] = n / (now() - t0);
    }
    report(phase == 0 ? "pp" : "tg", n, tps, repeats, ty_model_n_threads(m));
  }
  free(ids);
  free(tps);
  ty_model_close(m);
  return 0;
}
