/*
 * bench.c: tycho-bench, the engine's speed benchmark (a benchmark, not a
 * test). Prompt processing: pp tokens in one batch into an empty context;
 * generation: after an untimed prompt of --depth tokens (8 unless told), tg
 * tokens one at a time, each the argmax of the previous logits. The prompt
 * ids follow the rule scripts/bench.py gives llama.cpp, so both engines do
 * the same work. Prints one JSON line per phase.
 *
 * --gpu N puts every layer and the output on GPU N (the input stays on the
 * CPU, as the plan places it) and adds a roofline line: the bytes a decode
 * step reads (the GPU's weights and the KV cache rows attended to) against
 * the device-to-device copy rate measured in the same run. MODEL may be
 * synth:FAMILY:SIZE:QUANT, a synthetic model with random weights written
 * once to $TMPDIR (the device machine has no models, and none travel there).
 *
 * --roofline (CPU) adds the same roofline line for the CPU: the bytes a
 * decode step reads (every layer's weights, the output layer, one embedding
 * row, the K and V rows attended) against the read bandwidth measured by as
 * many threads as the model runs (read_bandwidth, over a buffer of those
 * bytes; over 1 GiB it is printed as DRAM's) right after each tg repeat: the
 * fraction is the median of the repeats' own, each tg against the bandwidth
 * of its moment, since on a shared host both drift by 10-20% within a run.
 *
 *   tycho-bench MODEL [--threads N] [--pp 128] [--tg 64] [--depth 8] [--repeats 3] [--ctx N]
 *               [--gpu N] [--roofline]
 */
#include "backend/backend.h"
#include "backend/device.h"
#include "model/model.h"
#include "model/synth.h"
#include "plan/plan.h"
#include "tensor/tensor.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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


/* The median of n sorted values. */
static double median(const double *v, int n) {
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}


static void report(const char *phase, int tokens, int depth, double *tps, int n, int threads) {
  qsort(tps, (size_t)n, sizeof *tps, cmp_double);
  printf("{\"phase\":\"%s\",\"tokens\":%d,\"depth\":%d,\"threads\":%d,\"repeats\":%d,"
         "\"tps_median\":%.3f,\"tps_min\":%.3f,\"tps_max\":%.3f,\"simd\":\"%s\"}\n", phase,
         tokens, depth, threads, n, median(tps, n), tps[0], tps[n - 1],
         ty_qtype_simd());
  fflush(stdout);
}


/* The read bandwidth of n threads over a buffer of `size` bytes: each sums
   its share (4 independent 64-byte sums, so the loads are what limits it); the best
   of 10 passes, in bytes per second, half of them asking for the lines 2 KiB
   ahead as tycho's kernels do (one core's plain loads keep too few misses in
   flight: without that pass tycho's 1-thread decode read faster than this
   "roofline"). Over the bytes a decode step reads, it is the rate those very
   bytes can be streamed at, from the cache levels they fit in (a 98 MB model
   sits in a 300 MB L3); over 1 GiB, DRAM's. The buffer is on 2 MiB pages
   where the kernel gives them, as the CPU backend's weights are (a 4 KiB
   page's TLB miss every 4 KiB would lower the bar). */
struct bw_share { const uint64_t *p; size_t n; uint64_t sum; int ahead; };

/* 64-byte vectors, built for the widest loads the CPU has (target_clones
   picks at run time): with 16-byte SSE2 loads this VM streams a third of
   what AVX-512 loads get, and the roofline would be the reader's, not the
   memory's. */
typedef uint64_t bw_vec __attribute__((vector_size(64)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void bw_sum(struct bw_share *s) {
  const bw_vec *p = (const bw_vec *)s->p;
  bw_vec a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
  size_t n = s->n / 8;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    if (s->ahead)
      for (int k = 32; k < 36; k++) __builtin_prefetch(p + i + k);
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  a0 += a1 + a2 + a3;
  s->sum = a0[0] + a0[1] + a0[2] + a0[3] + a0[4] + a0[5] + a0[6] + a0[7];
}


static void *bw_read(void *arg) {
  bw_sum(arg);
  return NULL;
}


static double read_bandwidth(int threads, size_t size) {
  const size_t huge = (size_t)2 << 20;
  const size_t words = (size = (size + huge - 1) & ~(huge - 1)) / sizeof(uint64_t);
  uint64_t *buf = aligned_alloc(huge, size), sink = 0;
  size_t each;
  struct bw_share share[64];
  pthread_t tid[64];
  double best = 0.0;
  if (buf == NULL) return 0.0;
#ifdef MADV_HUGEPAGE
  madvise(buf, size, MADV_HUGEPAGE);
#endif
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  each = words / (size_t)threads & ~(size_t)31;    /* whole 4-vector steps */
  for (size_t i = 0; i < words; i++) buf[i] = i;   /* touch every page */
  for (int pass = 0; pass < 10; pass++) {
    double t0 = now();
    for (int t = 0; t < threads; t++) {
      share[t].p = buf + each * (size_t)t;
      share[t].n = each;
      share[t].ahead = pass % 2;
      if (t > 0 && pthread_create(&tid[t], NULL, bw_read, &share[t]) != 0) share[t].n = 0, tid[t] = 0;
    }
    bw_read(&share[0]);
    for (int t = 1; t < threads; t++)
      if (share[t].n > 0) pthread_join(tid[t], NULL);
    double dt = now() - t0;
    for (int t = 0; t < threads; t++) sink += share[t].sum;
    double bytes = (double)(each * (size_t)threads * sizeof(uint64_t));
    if (bytes / dt > best) best = bytes / dt;
  }
  free(buf);
  return sink == 1 ? 0.0 : best;   /* keeps the sums alive */
}


/* Bytes one decode step reads at an average of `ctx` cached positions:
   every layer's tensors, the output norm and layer, one row of the token
   embedding (or all of it when it doubles as the output layer), other
   tensors (rope factors), and per layer the f16 K and V rows attended. */
static double decode_bytes(const struct ty_shape *sh, double ctx) {
  const struct ty_hparams *hp = &sh->hp;
  double bytes = (double)sh->output_norm + (double)sh->other;
  for (int l = 0; l < hp->n_layer; l++) {
    bool swa = hp->swa_pattern > 0 && hp->sliding_window > 0 &&
               l % hp->swa_pattern < hp->swa_pattern - 1;
    double seen = swa && ctx > hp->sliding_window ? hp->sliding_window : ctx;
    bytes += (double)sh->layer_bytes[l] +
             seen * hp->n_head_kv * (hp->head_dim + hp->v_head_dim) * 2.0;
  }
  if (sh->output == 0) return bytes + (double)sh->token_embd;
  return bytes + (double)sh->output + (double)sh->token_embd / hp->n_vocab;
}


static int fail(const ty_err *err) {
  fprintf(stderr, "tycho-bench: %s\n", err->msg);
  return 1;
}


int main(int argc, char **argv) {
  struct ty_model_params p;
  const char *path = NULL;
  int pp = 128, tg = 64, depth = 8, repeats = 3, gpu = -1, roofline = 0;
  char synth_path[512];
  ty_model *m;
  ty_err err;
  int32_t *ids;
  double *tps, *rates, *fracs, step_bytes = 0.0;   /* --roofline on the CPU */

  ty_model_params_default(&p);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(a, "--threads") && has) p.num_thread = atoi(argv[++i]);
    else if (!strcmp(a, "--pp") && has) pp = atoi(argv[++i]);
    else if (!strcmp(a, "--tg") && has) tg = atoi(argv[++i]);
    else if (!strcmp(a, "--depth") && has) depth = atoi(argv[++i]);
    else if (!strcmp(a, "--repeats") && has) repeats = atoi(argv[++i]);
    else if (!strcmp(a, "--ctx") && has) p.num_ctx = atoi(argv[++i]);
    else if (!strcmp(a, "--gpu") && has) gpu = atoi(argv[++i]);
    else if (!strcmp(a, "--roofline")) roofline = 1;
    else if (a[0] != '-' && path == NULL) path = a;
    else {
      fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--depth N] [--repeats N] [--ctx N] [--gpu N] [--roofline]\n");
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
  if (path == NULL || pp < 0 || tg < 0 || depth < 1 || repeats < 1) {
    fprintf(stderr, "usage: tycho-bench MODEL [--threads N] [--pp N] [--tg N] [--depth N] [--repeats N] [--ctx N]\n");
    return 2;
  }
  const int n_ids = pp > depth ? pp : depth;   /* prompt ids: pp's, and tg's first depth */
  if (p.num_ctx < n_ids + tg + 8) p.num_ctx = n_ids + tg + 8;
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
     test vocabularies) */
  ids = malloc((size_t)n_ids * sizeof *ids);
  tps = malloc((size_t)repeats * sizeof *tps);
  rates = malloc((size_t)repeats * sizeof *rates);
  fracs = malloc((size_t)repeats * sizeof *fracs);
  if (ids == NULL || tps == NULL || rates == NULL || fracs == NULL) return 1;
  if (roofline && gpu < 0) {
    struct ty_shape *sh = malloc(sizeof *sh);
    if (sh == NULL || ty_shape_from_file(path, sh, &err) != TY_OK) return fail(&err);
    step_bytes = decode_bytes(sh, depth + tg / 2.0);
    free(sh);
  }
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
        if (ty_model_eval(m, ids, depth, &err) != TY_OK) return fail(&err);
        t0 = now();
        for (int i = 0; i < tg; i++) {
          int32_t next = ty_model_argmax(m);
          if (ty_model_eval(m, &next, 1, &err) != TY_OK) return fail(&err);
        }
      }
      if (r < 0) continue;
      tps[r] = n / (now() - t0);
      if (phase == 1 && step_bytes > 0.0) {
        rates[r] = read_bandwidth(ty_model_n_threads(m), (size_t)step_bytes);
        fracs[r] = tps[r] / (rates[r] / step_bytes);
      }
    }
    report(phase == 0 ? "pp" : "tg", n, phase == 0 ? 0 : depth, tps, repeats, ty_model_n_threads(m));
    if (phase == 1 && gpu >= 0) {
      /* a decode step reads the GPU's weights and, per layer, the K and V
         rows of every position before it (on average depth + tg/2 of them) */
      const struct ty_model_mem *g = ty_model_mem_device(m, 1);
      const struct ty_hparams *hp = ty_model_hparams(m);
      double kv_row = (double)hp->n_head_kv * hp->head_dim * 2 * 2 * hp->n_layer;
      double bytes = (double)g->weights + kv_row * (depth + tg / 2.0), rate;
      if (ty_cuda_copy_rate(gpu, (size_t)1 << 30, &rate, &err) != TY_OK) return fail(&err);
      printf("{\"phase\":\"roofline\",\"bytes_per_token\":%.0f,\"copy_gbps\":%.1f,"
             "\"roofline_tps\":%.2f,\"tg_fraction\":%.3f,\"load_overhead_mib\":%.1f,"
             "\"measured_mib\":%.1f}\n", bytes, rate / 1e9, rate / bytes,
             tps[repeats / 2] / (rate / bytes), g->overhead / 1048576.0, g->measured / 1048576.0);
    } else if (phase == 1 && step_bytes > 0.0) {
      int nth = ty_model_n_threads(m);
      double dram = read_bandwidth(nth, (size_t)1 << 30), rate, frac;
      qsort(rates, (size_t)repeats, sizeof *rates, cmp_double);
      qsort(fracs, (size_t)repeats, sizeof *fracs, cmp_double);
      rate = median(rates, repeats);
      frac = median(fracs, repeats);
      printf("{\"phase\":\"roofline\",\"threads\":%d,\"bytes_per_token\":%.0f,\"read_gbps\":%.2f,"
             "\"read_gbps_min\":%.2f,\"read_gbps_max\":%.2f,\"dram_gbps\":%.2f,"
             "\"roofline_tps\":%.2f,\"tg_fraction\":%.3f,\"tg_fraction_min\":%.3f,"
             "\"tg_fraction_max\":%.3f}\n", nth, step_bytes, rate / 1e9, rates[0] / 1e9,
             rates[repeats - 1] / 1e9, dram / 1e9, rate / step_bytes, frac, fracs[0],
             fracs[repeats - 1]);
    }
  }
  free(ids);
  free(tps);
  free(rates);
  free(fracs);
  ty_model_close(m);
  return 0;
}
