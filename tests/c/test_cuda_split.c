/*
 * test_cuda_split.c: the layer split on GPUs, placed by the plan.
 *  - every GPU-only split (one GPU; two and three virtual GPUs on GPU 0, each
 *    its own backend and stream, activations handed over between them)
 *    generates exactly the single-GPU run's greedy tokens: the same kernels
 *    on the same numbers;
 *  - a CPU-and-GPU split (num_gpu below the layer count) gives the same
 *    greedy tokens on the real SmolLM2 when the cache has it, and logits
 *    within 2e-2 (norm-wise) of the GPU run on a synthetic model, whose
 *    random weights leave near ties the CPU's q8 activations may flip;
 *  - on every device, the bytes the model holds are the plan's prediction,
 *    category by category, and the driver's own count is reported beside it;
 *  - decode steps replayed from one CUDA graph (positions 248..263, across
 *    the point where attention splits its rows in two) give exactly the
 *    logits of the same steps launched without graphs, and two virtual GPUs
 *    exactly those of one.
 * Skips (77) without CUDA or a GPU.
 */
#include "backend/backend.h"
#include "backend/device.h"
#include "model/model.h"
#include "model/synth.h"
#include "plan/plan.h"
#include "testutil.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define N_GEN 24
#define N_DEPTH 248         /* the decode check's prompt */
#define N_DEC 16            /* and its steps */

static ty_err err;


struct run {
  int32_t tokens[N_GEN];
  float *logits;            /* after the prompt */
  float *dec;               /* after each decode step of the decode check */
};


/* Plans path on devs with num_gpu, loads it as placed, checks the plan
   against what each device holds, and generates N_GEN greedy tokens. */
static int run_split(const char *path, const char *devs, int num_gpu, struct run *out) {
  struct ty_plan_device d[TY_PLAN_MAX_DEV];
  struct ty_plan_settings s;
  struct ty_shape *shape = malloc(sizeof *shape);
  struct ty_plan *plan = malloc(sizeof *plan);
  struct ty_model_params p;
  static const int32_t prompt[] = { 1, 504, 3458, 314, 253, 1345, 2391, 30 };
  ty_model *m = NULL;
  int n = 0, ok = 0;

  ty_plan_settings_default(&s);
  s.num_ctx = 512;
  s.num_batch = 64;
  s.num_gpu = num_gpu;
  if (ty_shape_from_file(path, shape, &err) != TY_OK ||
      ty_plan_parse_devices(devs, d, TY_PLAN_MAX_DEV, &n, &err) != TY_OK ||
      ty_plan_make(shape, d, n, &s, plan, &err) != TY_OK) {
    CHECK(0, "%s: %s", devs, err.msg);
    goto done;
  }
  CHECK(plan->fits, "%s: the plan does not fit", devs);
  ty_model_params_default(&p);
  p.num_ctx = s.num_ctx;
  p.num_batch = s.num_batch;
  ty_plan_to_params(plan, &p);
  if (ty_model_open(path, &p, &m, &err) != TY_OK) {
    CHECK(0, "%s: %s", devs, err.msg);
    goto done;
  }
  printf("%-36s num_gpu %3d:", devs, num_gpu);
  for (int i = 0; i < plan->n_dev; i++) {
    const struct ty_plan_dev *pd = &plan->dev[i];
    const struct ty_model_mem *mm = ty_model_mem_device(m, i);
    uint64_t planned = pd->used - pd->overhead, held = mm->weights + mm->kv + mm->compute + mm->host;
    CHECK(pd->weights == mm->weights && pd->kv == mm->kv &&
          pd->compute + pd->logits == mm->compute && planned == held,
          "%s device %d (%s): planned %llu (w %llu kv %llu c %llu), holds %llu (w %zu kv %zu c %zu)",
          devs, i, pd->dev.name, (unsigned long long)planned, (unsigned long long)pd->weights,
          (unsigned long long)pd->kv, (unsigned long long)(pd->compute + pd->logits),
          (unsigned long long)held, mm->weights, mm->kv, mm->compute);
    printf("  %s layers %d..%d %.1f MiB", pd->dev.name, pd->layer_lo, pd->layer_hi,
           planned / 1048576.0);
    if (mm->measured > 0)
      printf(" (the driver's free memory fell %.1f MiB: %.1f MiB outside tycho)",
             mm->measured / 1048576.0, mm->overhead / 1048576.0);
  }
  printf("\n");
  if (ty_model_eval(m, prompt, (int)(sizeof prompt / sizeof *prompt), &err) != TY_OK) {
    CHECK(0, "%s: %s", devs, err.msg);
    goto done;
  }
  int nv = ty_model_hparams(m)->n_vocab;
  out->logits = malloc((size_t)nv * sizeof(float));
  memcpy(out->logits, ty_model_logits(m), (size_t)nv * sizeof(float));
  for (int i = 0; i < N_GEN; i++) {
    out->tokens[i] = ty_model_argmax(m);
    if (ty_model_eval(m, &out->tokens[i], 1, &err) != TY_OK) {
      CHECK(0, "%s: step %d: %s", devs, i, err.msg);
      goto done;
    }
  }
  /* the decode check: a long prompt, then fixed tokens one at a time */
  int32_t ids[N_DEPTH + N_DEC];
  for (int i = 0; i < N_DEPTH + N_DEC; i++) ids[i] = (int32_t)((1000 + 7 * i) % nv);
  out->dec = malloc((size_t)N_DEC * nv * sizeof(float));
  ty_model_reset(m);
  if (ty_model_eval(m, ids, N_DEPTH, &err) != TY_OK) {
    CHECK(0, "%s: the decode check's prompt: %s", devs, err.msg);
    goto done;
  }
  for (int i = 0; i < N_DEC; i++) {
    if (ty_model_eval(m, ids + N_DEPTH + i, 1, &err) != TY_OK) {
      CHECK(0, "%s: decode step %d: %s", devs, i, err.msg);
      goto done;
    }
    memcpy(out->dec + (size_t)i * nv, ty_model_logits(m), (size_t)nv * sizeof(float));
  }
  ok = nv;
done:
  ty_model_close(m);
  free(shape);
  free(plan);
  return ok;
}


static double rel(const float *a, const float *b, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) {
    num += (double)(a[i] - b[i]) * (a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}


int main(void) {
  char buf[1024], synth[512];
  const char *path = test_model_path("smollm2.gguf", buf, sizeof buf);
  int real = path != NULL, nv;
  struct run one, two, three, mixed, cpu, eager;
  if (ty_cuda_device_count() == 0) {
    printf("skip: no CUDA GPU (or tycho built without CUDA)\n");
    return TEST_SKIP;
  }
  if (!real) {
    snprintf(synth, sizeof synth, "%s/tycho-test-smollm2-135m.gguf",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (ty_synth_write("smollm2", "135M", "Q4_1", synth, TY_SYNTH_RANDOM, &err) != TY_OK) {
      printf("FAIL synth: %s\n", err.msg);
      return 1;
    }
    path = synth;
  }
  printf("model: %s (%s)\n", path, real ? "real" : "synthetic, random weights");
  /* smollm2 has 30 blocks: num_gpu 31 puts them all and the output on GPUs */
  if (!(nv = run_split(path, "cpu,cuda:0", 31, &one))) return 1;
  if (!run_split(path, "cpu,cuda:0=1G,cuda:0=1G", 31, &two) ||
      !run_split(path, "cpu,cuda:0=1G,cuda:0=1G,cuda:0=1G", 31, &three) ||
      !run_split(path, "cpu,cuda:0", 12, &mixed) || !run_split(path, "cpu", 0, &cpu))
    return 1;
  setenv("TYCHO_CUDA_GRAPHS", "0", 1);   /* read when a backend opens */
  if (!run_split(path, "cpu,cuda:0", 31, &eager)) return 1;
  unsetenv("TYCHO_CUDA_GRAPHS");
  for (int i = 0; i < N_DEC; i++) {
    const float *a = one.dec + (size_t)i * nv;
    CHECK(rel(eager.dec + (size_t)i * nv, a, nv) == 0,
          "decode step %d (position %d): graphs against none: logits differ (%.3g)", i,
          N_DEPTH + i, rel(eager.dec + (size_t)i * nv, a, nv));
    CHECK(rel(two.dec + (size_t)i * nv, a, nv) == 0,
          "decode step %d: two virtual GPUs: logits differ (%.3g)", i,
          rel(two.dec + (size_t)i * nv, a, nv));
  }
  printf("decode steps against the CPU: %.3g (first), %.3g (last)\n", rel(cpu.dec, one.dec, nv),
         rel(cpu.dec + (size_t)(N_DEC - 1) * nv, one.dec + (size_t)(N_DEC - 1) * nv, nv));
  CHECK(memcmp(one.tokens, two.tokens, sizeof one.tokens) == 0, "two virtual GPUs differ");
  CHECK(memcmp(one.tokens, three.tokens, sizeof one.tokens) == 0, "three virtual GPUs differ");
  CHECK(rel(two.logits, one.logits, nv) == 0, "two virtual GPUs: logits differ (%.3g)",
        rel(two.logits, one.logits, nv));
  printf("logits against one GPU: cpu+gpu %.3g, cpu %.3g\n", rel(mixed.logits, one.logits, nv),
         rel(cpu.logits, one.logits, nv));
  if (real) {
    CHECK(memcmp(one.tokens, mixed.tokens, sizeof one.tokens) == 0, "cpu+gpu greedy differs");
    CHECK(memcmp(one.tokens, cpu.tokens, sizeof one.tokens) == 0, "cpu greedy differs from gpu");
  } else {
    CHECK(rel(mixed.logits, one.logits, nv) < 2e-2, "cpu+gpu logits too far from the GPU's");
  }
  if (!real) remove(synth);
  printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
