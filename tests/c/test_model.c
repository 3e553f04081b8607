/*
 * test_model.c: the forward pass against llama.cpp. For each real model and
 * each committed reference case (scripts/llama_ref.py wrote them with
 * llama.cpp), the last prompt position's logits must agree closely, and the
 * 64 greedy tokens must equal llama.cpp's. The reference token is fed back at
 * every step (teacher forcing), so one divergence does not hide the rest; a
 * differing argmax passes only at a near-tie of llama.cpp's top two logits.
 *
 * How near is near: the fixtures also record llama.cpp against itself, the
 * same case with the prompt fed token by token instead of as one batch
 * (selfdiff, selfflips). That alone moves llama.cpp's logits by up to 1.47
 * and flips its greedy token at gaps up to 0.128: SmolLM2 carries an
 * activation outlier near 25000 in its residual stream and both engines
 * re-quantize activations to 8 bits before every matmul, so a last-bit
 * change anywhere moves whole quantization steps later. No engine that sums
 * in another order can agree to 0.01, so the bounds below sit at twice
 * llama.cpp's own disagreement.
 *
 * Except where tycho computes in llama.cpp's order: for SmolLM2 (q4_1 and
 * q8_0 weights, f16 cache) on x86 with AVX2 every kernel on the path does,
 * and the test then demands the very same logits and all 64 tokens.
 */
#include "model/model.h"
#include "tensor/tensor.h"
#include "testutil.h"

#include <math.h>

#define NEAR_TIE 0.25f        /* 2 x the largest gap at which llama.cpp flips against itself */
#define MAX_FLIPS 4           /* of 64 steps; llama.cpp flips against itself up to 3 times */
#define LOGIT_FLOOR 1.0f      /* logit bound when llama.cpp agreed with itself exactly */
#define MAX_IDS 4096

struct ref_case {
  int n_prompt, n_tokens;
  int32_t prompt[MAX_IDS], tokens[MAX_IDS];
  float gaps[MAX_IDS];
  char logits_file[256];
  float selfdiff;             /* llama.cpp against itself, see the top */
  int selfflips;
};


/* Reads "<word> <n> v v v ..." into ids or floats. */
static int read_list(FILE *f, int32_t *ids, float *fl, int max) {
  int n;
  if (fscanf(f, "%d", &n) != 1 || n < 0 || n > max) return -1;
  for (int i = 0; i < n; i++)
    if (ids ? fscanf(f, "%d", &ids[i]) != 1 : fscanf(f, "%f", &fl[i]) != 1) return -1;
  return n;
}


/* Parses the next case; 1 on success, 0 at end of file, -1 on a bad file. */
static int read_case(FILE *f, struct ref_case *c) {
  char word[64];
  int got = 0;
  memset(c, 0, sizeof *c);
  while (fscanf(f, "%63s", word) == 1) {
    if (word[0] == '#' || !strcmp(word, "model") || !strcmp(word, "text") ||
        !strcmp(word, "top1") || !strcmp(word, "case")) {
      int ch;
      while ((ch = fgetc(f)) != EOF && ch != '\n') {}
      got |= !strcmp(word, "case");
    } else if (!strcmp(word, "prompt")) {
      if ((c->n_prompt = read_list(f, c->prompt, NULL, MAX_IDS)) < 1) return -1;
    } else if (!strcmp(word, "tokens")) {
      if ((c->n_tokens = read_list(f, c->tokens, NULL, MAX_IDS)) < 1) return -1;
    } else if (!strcmp(word, "gaps")) {
      if (read_list(f, NULL, c->gaps, MAX_IDS) != c->n_tokens) return -1;
    } else if (!strcmp(word, "logits")) {
      if (fscanf(f, "%255s", c->logits_file) != 1) return -1;
    } else if (!strcmp(word, "selfdiff")) {
      if (fscanf(f, "%f", &c->selfdiff) != 1) return -1;
    } else if (!strcmp(word, "selfflips")) {
      int ch;
      if (fscanf(f, "%d", &c->selfflips) != 1) return -1;
      while ((ch = fgetc(f)) != EOF && ch != '\n') {}
    } else if (!strcmp(word, "end")) {
      return got && c->n_prompt > 0 && c->n_tokens > 0 ? 1 : -1;
    } else {
      return -1;
    }
  }
  return 0;
}


static int check_logits(const ty_model *m, const char *file, float selfdiff, int exact) {
  char path[512];
  int nv = ty_model_hparams(m)->n_vocab, worst = 0;
  float *ref = malloc((size_t)nv * sizeof *ref), maxd = 0.0f, tol = 2 * selfdiff;
  double sum = 0.0;
  const float *got = ty_model_logits(m);
  FILE *f;
  snprintf(path, sizeof path, "%s/tests/fixtures/ref/%s", TYCHO_SOURCE_DIR, file);
  f = fopen(path, "rb");
  if (f == NULL || ref == NULL || fread(ref, sizeof *ref, (size_t)nv, f) != (size_t)nv) {
    printf("  cannot read %s\n", path);
    if (f) fclose(f);
    free(ref);
    return 1;
  }
  fclose(f);
  for (int i = 0; i < nv; i++) {
    float d = fabsf(got[i] - ref[i]);
    sum += d;
    if (!(d <= maxd)) { maxd = d; worst = i; }
  }
  if (tol < LOGIT_FLOOR) tol = LOGIT_FLOOR;
  if (exact) tol = 0.0f;
  printf("  logits: max |tycho - llama.cpp| = %.4f at id %d (%.4f vs %.4f), mean %.4f; "
         "llama.cpp against itself %.4f; bound %.4f\n", maxd, worst, got[worst], ref[worst],
         sum / nv, selfdiff, tol);
  free(ref);
  return !(maxd <= tol);
}


/* exact: the model's weight types have llama.cpp-order kernels at this SIMD
   level (src/tensor/dot_ggml_x86.h, src/backend/cpu_kernels.h), so logits
   must be the same floats and every token the same. */
static int run_model(const char *file, const char *stem, int kv_type, int exact) {
  char buf[512], fix[512];
  const char *path = test_model_path(file, buf, sizeof buf);
  struct ty_model_params p;
  struct ref_case *c = malloc(sizeof *c);
  ty_model *m;
  ty_err err;
  FILE *f;
  int failures = 0, cases = 0, r;

  if (path == NULL) {
    printf("%s: not in the cache (run scripts/setup.sh)\n", file);
    free(c);
    return test_models_required() ? 1 : TEST_SKIP;
  }
  ty_model_params_default(&p);
  p.num_ctx = 512;
  p.num_thread = 2;
  p.kv_type = kv_type;
  if (ty_model_open(path, &p, &m, &err) != TY_OK) {
    printf("open failed: %s\n", err.msg);
    free(c);
    return 1;
  }
  snprintf(fix, sizeof fix, "%s/tests/fixtures/ref/%s.txt", TYCHO_SOURCE_DIR, stem);
  if ((f = fopen(fix, "r")) == NULL) {
    printf("cannot open %s\n", fix);
    ty_model_close(m);
    free(c);
    return 1;
  }
  while ((r = read_case(f, c)) == 1) {
    int mismatches = 0, ties = 0;
    ty_model_reset(m);
    printf("%s case %d: %d prompt tokens, kv %s\n", stem, cases, c->n_prompt,
           ty_qtype_get(kv_type)->name);
    if (ty_model_eval(m, c->prompt, c->n_prompt, &err) != TY_OK) {
      printf("  eval failed: %s\n", err.msg);
      failures++;
      break;
    }
    if (kv_type == TY_QTYPE_F16) failures += check_logits(m, c->logits_file, c->selfdiff, exact);
    for (int i = 0; i < c->n_tokens; i++) {
      int32_t got = ty_model_argmax(m);
      if (got != c->tokens[i]) {
        if (c->gaps[i] < NEAR_TIE) {
          ties++;
          printf("  step %d: %d vs llama.cpp %d at a near-tie (gap %.4f): accepted\n", i, got,
                 c->tokens[i], c->gaps[i]);
        } else {
          mismatches++;
          printf("  step %d: %d vs llama.cpp %d (llama.cpp gap %.4f)\n", i, got, c->tokens[i],
                 c->gaps[i]);
        }
      }
      if (i + 1 < c->n_tokens && ty_model_eval(m, &c->tokens[i], 1, &err) != TY_OK) {
        printf("  eval failed: %s\n", err.msg);
        mismatches++;
        break;
      }
    }
    /* with a quantized cache the model is no longer llama.cpp's f16 one:
       require most tokens, not all */
    if (kv_type != TY_QTYPE_F16 && mismatches <= c->n_tokens / 8) mismatches = 0;
    printf("  tokens: %d/%d equal, %d near-ties (llama.cpp against itself: %d), "
           "%d real mismatches\n", c->n_tokens - mismatches - ties, c->n_tokens, ties,
           c->selfflips, mismatches);
    failures += mismatches > 0 || ties > MAX_FLIPS || (exact && ties > 0);
    cases++;
  }
  fclose(f);
  if (r < 0) {
    printf("%s: malformed fixture after case %d\n", fix, cases);
    failures++;
  }
  if (cases < 3) {
    printf("%s: only %d cases\n", fix, cases);
    failures++;
  }
  ty_model_close(m);
  free(c);
  return failures ? 1 : 0;
}


int main(void) {
  /* SmolLM2's q4_1 and q8_0 weights have llama.cpp-order kernels on x86 with
     AVX2 (the fixtures come from llama.cpp's AVX-512 build on such a CPU);
     Gemma 3's q5_0 and K-quant kernels do not yet, so it gets the noise bounds */
  int simd = strcmp(ty_qtype_simd(), "scalar") != 0;
#if !(defined(__x86_64__) || defined(__i386__))
  simd = 0;
#endif
  int rs = run_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", TY_QTYPE_F16, simd);
  int rg = run_model("gemma-3-270m-q4_k_m.gguf", "gemma3", TY_QTYPE_F16, 0);
  int rq = rs == 0 ? run_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", TY_QTYPE_Q8_0, 0) : rs;
  int rf = rs == 0 ? run_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", TY_QTYPE_F32, 0) : rs;
  if (rs == 1 || rg == 1 || rq == 1 || rf == 1) return 1;
  if (rs == TEST_SKIP && rg == TEST_SKIP) return TEST_SKIP;
  printf("ok\n");
  return 0;
}
