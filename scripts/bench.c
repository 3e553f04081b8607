/*
 * bench.c: tycho-bench, the engine's speed benchmark (a benchmark, not a
 * test). Prompt processing: pp tokens in one batch into an empty context;
 * generation: after an untimed prompt of 8 tokens, tg tokens one at a time,
 * each the argmax of the previous logits. The prompt ids follow the rule
 * scripts/bench.py gives llama.cpp, so both engines do the same work. Prints
 * one JSON line per phase.
 *
 * --gpu N puts every layer and the output on GPU N (the input stays on the
 * CPU, as the plan places it) and adds a roofline line: the bytes a decode
 * step reads (the GPU's weights and the KV cache rows attended to) against
 * the device-to-device copy rate measured in the same run. MODEL may be
 * synth:FAMILY:SIZE:QUANT, a synthetic model with random weights written
 * once to $TMPDIR (the device machine has no models, and none travel there).
 *
 *   tycho-bench MODEL [--threads N] [--pp 128] [--tg 64] [--repeats 3] [--ctx N] [--gpu N]
 */
#include "backend/backend.h"
#include "backend/device.h"
#include "model/model.h"
#include "model/synth.h"
#include "plan/plan.h"
#include "tensor/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


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
  int pp = 128, tg = 64, repeats = 3, gpu = -1;
  char synth_path[512];
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
    else if (!strcmp(a, "--gpu") && has) gpu = atoi(argv[++i]);
    else if (a[0] != '-' && path == NULL) path = a;
    else {
      fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--repeats N] [--ctx N] [--gpu N]\n");
      return 2;
    }
  }
  if (path != NULL && strncmp(path, "synth:", 6) == 0) {
    char fam[32], size[32], quant[32];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (sscanf(path + 6, "%31[^:]:%31[^:]:%31s", fam, size, quant) != 3) {
      fprintf(stderr, "tycho-bench: synth:FAMILY:SIZE:QUANT, e.g. synth:llama:8B:Q4_K_M\n");
      return 2;
    }
    snprintf(synth_path, sizeof synth_path, "%s/tycho-synth-%s-%s-%s.gguf", tmp, fam, size, quant);
    if (access(synth_path, R_OK) != 0 &&
        ty_synth_write(fam, size, quant, synth_path, TY_SYNTH_RANDOM, &err) != TY_OK)
      return fail(&err);
    path = synth_path;
  }
  if (path == NULL || pp < 0 || tg < 0 || repeats < 1) {
    fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--repeats N] [--ctx N]\n");
    return 2;
  }
  if (p.num_ctx < pp + tg + 8) p.num_ctx = pp + tg + 8;
  if (p.num_batch < pp) p.num_batch = pp;
  if (gpu >= 0) {
    struct ty_shape *shape = malloc(sizeof *shape);
    if (shape == NULL || ty_shape_from_file(path, shape, &err) != TY_OK) return fail(&err);
    p.n_devices = 2;
    p.layer_end[0] = 0;
    p.layer_end[1] = shape->hp.n_layer;
    p.output_device = 1;
    p.device_kind[1] = TY_DEV_CUDA;
    p.device_index[1] = gpu;
    free(shape);
  }
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
    if (phase == 1 && gpu >= 0) {
      /* a decode step reads the GPU's weights and, per layer, the K and V
         rows of every position before it (on average 8 + tg/2 of them) */
      const struct ty_model_mem *g = ty_model_mem_device(m, 1);
      const struct ty_hparams *hp = ty_model_hparams(m);
      double kv_row = (double)hp->n_head_kv * hp->head_dim * 2 * 2 * hp->n_layer;
      double bytes = (double)g->weights + kv_row * (8 + tg / 2.0), rate;
      if (ty_cuda_copy_rate(gpu, (size_t)1 << 30, &rate, &err) != TY_OK) return fail(&err);
      printf("{\"phase\":\"roofline\",\"bytes_per_token\":%.0f,\"copy_gbps\":%.1f,"
             "\"roofline_tps\":%.2f,\"tg_fraction\":%.3f,\"load_overhead_mib\":%.1f,"
             "\"measured_mib\":%.1f}\n", bytes, rate / 1e9, rate / bytes,
             tps[repeats / 2] / (rate / bytes), g->overhead / 1048576.0, g->measured / 1048576.0);
    }
  }
  free(ids);
  free(tps);
  ty_model_close(m);
  return 0;
}
