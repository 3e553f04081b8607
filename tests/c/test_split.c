/*
 * test_split.c: a model split over several virtual CPU devices gives exactly
 * the single-device run's logits and tokens (1, 2 and 3 devices, uneven
 * splits, a device with no layers, the output layer apart from the last
 * block), and each device holds what the memory plan (src/plan) predicts
 * for it, byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "plan/plan.h"
#include "testutil.h"
#include "check.h"


enum { N_PROMPT = 12, N_GEN = 6 };

struct run {
  float *logits[N_GEN + 1];        /* after the prompt, then after each generated token */
  int32_t tokens[N_GEN];
};


/* Loads path with params p, evaluates a fixed prompt and N_GEN greedy
   tokens, keeping every step's logits. Returns false when it cannot load. */
static bool run_model(const char *path, const struct ty_model_params *p, struct run *r,
                      ty_model **keep) {
  int32_t prompt[N_PROMPT];
  ty_model *m;
  ty_err err;
  int nv;
  for (int i = 0; i < N_PROMPT; i++) prompt[i] = 100 + 37 * i;   /* any ids of the vocabulary */
  if (ty_model_open(path, p, &m, &err) != TY_OK) {
    CHECK(0, "open: %s", err.msg);
    return false;
  }
  nv = ty_model_hparams(m)->n_vocab;
  CHECK(ty_model_eval(m, prompt, N_PROMPT, &err) == TY_OK, "eval: %s", err.msg);
  for (int s = 0; s <= N_GEN; s++) {
    r->logits[s] = malloc((size_t)nv * sizeof(float));
    memcpy(r->logits[s], ty_model_logits(m), (size_t)nv * sizeof(float));
    if (s == N_GEN) break;
    r->tokens[s] = ty_model_argmax(m);
    CHECK(ty_model_eval(m, &r->tokens[s], 1, &err) == TY_OK, "eval: %s", err.msg);
  }
  if (keep != NULL) *keep = m;
  else ty_model_close(m);
  return true;
}


static void run_free(struct run *r) {
  for (int s = 0; s <= N_GEN; s++) free(r->logits[s]);
}


/* A split: n devices ending at ends[], the output on device out (-1: the
   last layer's). */
static void check_split(const char *path, const struct run *ref, int nv, int n, const int *ends,
                        int out, const char *what) {
  struct ty_model_params p;
  struct run r;
  ty_model_params_default(&p);
  p.num_ctx = 64;
  p.num_thread = 2;
  p.n_devices = n;
  memcpy(p.layer_end, ends, (size_t)n * sizeof *ends);
  p.output_device = out;
  memset(&r, 0, sizeof r);
  if (!run_model(path, &p, &r, NULL)) return;
  for (int s = 0; s <= N_GEN; s++)
    CHECK(memcmp(r.logits[s], ref->logits[s], (size_t)nv * sizeof(float)) == 0,
          "%s: logits at step %d differ from one device's", what, s);
  CHECK(memcmp(r.tokens, ref->tokens, sizeof r.tokens) == 0, "%s: tokens differ", what);
  run_free(&r);
}


/* The plan for num_gpu N over a host and one offload CPU, then the model
   loaded with the plan's split: each device's bytes equal the plan's. */
static void check_plan(const char *path, int num_gpu) {
  struct ty_plan_device devs[2];
  struct ty_plan_settings s;
  struct ty_plan *plan = calloc(1, sizeof *plan);
  struct ty_shape *shape = calloc(1, sizeof *shape);
  struct ty_model_params p;
  ty_model *m;
  ty_err err;
  int n = 0;
  if (plan == NULL || shape == NULL) { free(plan); free(shape); return; }
  CHECK(ty_plan_parse_devices("cpu=64G,cpu=64G", devs, 2, &n, &err) == TY_OK && n == 2, "devices: %s", err.msg);
  CHECK(ty_shape_from_file(path, shape, &err) == TY_OK, "shape: %s", err.msg);
  ty_plan_settings_default(&s);
  s.num_ctx = 64;
  s.num_gpu = num_gpu;
  CHECK(ty_plan_make(shape, devs, n, &s, plan, &err) == TY_OK && plan->fits && plan->n_dev == 2,
        "plan num_gpu %d: %s", num_gpu, err.msg);
  ty_model_params_default(&p);
  p.num_ctx = 64;
  p.num_thread = 2;
  p.n_devices = 2;
  p.layer_end[0] = plan->dev[0].layer_hi;
  p.layer_end[1] = plan->n_layer;
  p.output_device = plan->dev[1].output ? 1 : 0;
  if (ty_model_open(path, &p, &m, &err) != TY_OK) {
    CHECK(0, "open with the plan's split (num_gpu %d): %s", num_gpu, err.msg);
  } else {
    for (int d = 0; d < 2; d++) {
      const struct ty_model_mem *mm = ty_model_mem_device(m, d);
      const struct ty_plan_dev *pd = &plan->dev[d];
      /* each arena holds its buffers at 64-byte boundaries: at most 63 bytes
         of padding a buffer (2 per layer held for the cache, 10 activations) */
      CHECK(mm->kv_arena >= mm->kv && mm->kv_arena - mm->kv < 64u * 2u * 30u &&
            mm->compute_arena >= mm->compute && mm->compute_arena - mm->compute < 64u * 10u,
            "num_gpu %d device %d: arenas kv %zu for %zu, compute %zu for %zu", num_gpu, d,
            mm->kv_arena, mm->kv, mm->compute_arena, mm->compute);
      CHECK(mm->weights == pd->weights && mm->kv == pd->kv &&
            mm->compute == pd->compute + pd->logits && mm->host == pd->host,
            "num_gpu %d device %d: allocated weights %zu kv %zu compute %zu host %zu, planned "
            "%llu %llu %llu+%llu %llu", num_gpu, d, mm->weights, mm->kv, mm->compute, mm->host,
            (unsigned long long)pd->weights, (unsigned long long)pd->kv,
            (unsigned long long)pd->compute, (unsigned long long)pd->logits,
            (unsigned long long)pd->host);
    }
    ty_model_close(m);
  }
  free(plan);
  free(shape);
}


int main(void) {
  char buf[4096];
  const char *path = test_model_path("smollm2.gguf", buf, sizeof buf);
  struct ty_model_params p;
  struct run ref;
  ty_model *m = NULL;
  int nv, nl;
  if (path == NULL) {
    printf("skip: smollm2.gguf is not in the model cache\n");
    return test_models_required() ? 1 : TEST_SKIP;
  }
  ty_model_params_default(&p);
  p.num_ctx = 64;
  p.num_thread = 2;
  memset(&ref, 0, sizeof ref);
  if (!run_model(path, &p, &ref, &m)) return 1;
  nv = ty_model_hparams(m)->n_vocab;
  nl = ty_model_hparams(m)->n_layer;
  CHECK(ty_model_n_devices(m) == 1, "one device by default");
  ty_model_close(m);

  {
    int two[] = { 15, nl }, three[] = { 5, 20, nl }, uneven[] = { 1, nl }, late[] = { nl - 1, nl };
    int empty_mid[] = { 10, 10, nl }, embed_only[] = { 0, nl };
    check_split(path, &ref, nv, 2, two, -1, "2 devices, 15 + 15 layers");
    check_split(path, &ref, nv, 3, three, -1, "3 devices, 5 + 15 + 10 layers");
    check_split(path, &ref, nv, 2, uneven, -1, "2 devices, 1 + 29 layers");
    check_split(path, &ref, nv, 2, late, 0, "the output on device 0, apart from the last block");
    check_split(path, &ref, nv, 3, empty_mid, 1, "3 devices, the middle one with no layers but the output");
    check_split(path, &ref, nv, 2, embed_only, -1, "device 0 holds only the embedding");
  }
  {
    /* a bad split is refused with one line */
    struct ty_model_params bad;
    ty_err err;
    ty_model_params_default(&bad);
    bad.n_devices = 2;
    bad.layer_end[0] = 20;
    bad.layer_end[1] = 10;
    CHECK(ty_model_open(path, &bad, &m, &err) != TY_OK && strstr(err.msg, "layer split") != NULL,
          "a falling split: %s", err.msg);
    bad.layer_end[1] = nl;
    bad.output_device = 5;
    CHECK(ty_model_open(path, &bad, &m, &err) != TY_OK && strstr(err.msg, "output_device") != NULL,
          "output on a missing device: %s", err.msg);
  }
  check_plan(path, 10);              /* the last 10 blocks offloaded, the output on the host */
  check_plan(path, nl + 1);          /* everything offloaded: the tied output copied there */
  run_free(&ref);
  if (failures) {
    printf("%d failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
