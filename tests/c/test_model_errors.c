/*
 * test_model_errors.c: models built with tycho's GGUF writer, small enough
 * to make in a test: a well-formed tiny llama runs, and each broken variant
 * (a missing tensor, a wrong shape, an unsupported architecture, missing
 * metadata, a bad setting) is refused with one line naming the file and the
 * problem. Also: the three KV cache types give nearly the same logits.
 */
#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/tensor.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum { VOCAB = 64, EMBD = 128, FF = 128, HEADS = 4, KV_HEADS = 2, LAYERS = 2 };


static unsigned rng = 1;

static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return ((rng >> 8) / 16777216.0f - 0.5f) * 0.5f;
}


/* Adds a (rows, cols) tensor of random values, quantized to type. */
static void add(ty_gguf_writer *w, const char *name, int type, int64_t cols, int64_t rows,
                float fill) {
  int64_t ne[4] = { cols, rows, 1, 1 };
  size_t rs = ty_qtype_row_size(type, cols);
  float *f = malloc((size_t)(cols * rows) * sizeof *f);
  char *q = malloc(rs * (size_t)rows);
  ty_err err;
  for (int64_t i = 0; i < cols * rows; i++) f[i] = fill != 0.0f ? fill : frand();
  if (type == TY_QTYPE_F32)
    memcpy(q, f, rs * (size_t)rows);
  else
    for (int64_t r = 0; r < rows; r++) ty_qtype_get(type)->from_float(f + r * cols, q + r * rs, cols);
  if (ty_gguf_writer_add_tensor(w, name, type, rows == 1 ? 1 : 2, ne, q, &err) != TY_OK)
    printf("add_tensor %s: %s\n", name, err.msg);
  free(f);
  free(q);
}


enum { BREAK_NONE, BREAK_MISSING, BREAK_SHAPE, BREAK_ARCH, BREAK_HEADS };

/* Writes a tiny llama to path, broken as asked. */
static void write_model(const char *path, int how) {
  ty_gguf_writer *w = ty_gguf_writer_new();
  char n[64];
  ty_err err;
  rng = 7;
  ty_gguf_writer_set_str(w, "general.architecture", how == BREAK_ARCH ? "mamba" : "llama");
  ty_gguf_writer_set_u32(w, "llama.embedding_length", EMBD);
  ty_gguf_writer_set_u32(w, "llama.block_count", LAYERS);
  ty_gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
  if (how != BREAK_HEADS) ty_gguf_writer_set_u32(w, "llama.attention.head_count", HEADS);
  ty_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KV_HEADS);
  ty_gguf_writer_set_u32(w, "llama.context_length", 256);
  ty_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  ty_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
  add(w, "token_embd.weight", TY_QTYPE_Q8_0, EMBD, VOCAB, 0);
  add(w, "output_norm.weight", TY_QTYPE_F32, EMBD, 1, 1.0f);
  add(w, "output.weight", TY_QTYPE_Q4_0, EMBD, VOCAB, 0);
  for (int l = 0; l < LAYERS; l++) {
#define T(suffix, type, cols, rows, fill) \
    (snprintf(n, sizeof n, "blk.%d." suffix ".weight", l), add(w, n, type, cols, rows, fill))
    T("attn_norm", TY_QTYPE_F32, EMBD, 1, 1.0f);
    if (!(how == BREAK_MISSING && l == 1)) T("attn_q", TY_QTYPE_Q8_0, EMBD, EMBD, 0);
    T("attn_k", TY_QTYPE_Q4_1, EMBD, EMBD / HEADS * KV_HEADS, 0);
    T("attn_v", TY_QTYPE_F16, EMBD, EMBD / HEADS * KV_HEADS, 0);
    T("attn_output", TY_QTYPE_F32, EMBD, EMBD, 0);
    T("ffn_norm", TY_QTYPE_F32, EMBD, 1, 1.0f);
    T("ffn_gate", TY_QTYPE_Q5_0, EMBD, how == BREAK_SHAPE && l == 0 ? FF / 2 : FF, 0);
    T("ffn_up", TY_QTYPE_Q8_0, EMBD, FF, 0);
    T("ffn_down", TY_QTYPE_Q4_0, FF, EMBD, 0);
#undef T
  }
  if (ty_gguf_writer_write(w, path, &err) != TY_OK) printf("write %s: %s\n", path, err.msg);
  ty_gguf_writer_free(w);
}


static void expect_refused(const char *dir, int how, const char *needle) {
  char path[512];
  ty_model *m = NULL;
  ty_err err;
  snprintf(path, sizeof path, "%s/broken-%d.gguf", dir, how);
  write_model(path, how);
  CHECK(ty_model_open(path, NULL, &m, &err) != TY_OK && m == NULL, "broken model %d opened", how);
  CHECK(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
  CHECK(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
  CHECK(strchr(err.msg, '\n') == NULL, "message is one line: %s", err.msg);
  printf("refused as expected: %s\n", err.msg);
  unlink(path);
}


/* Runs a prompt with each KV type; returns logits in out[kv] */
static void run_kv(const char *path, int kv, float *out) {
  struct ty_model_params p;
  ty_model *m;
  ty_err err;
  int32_t ids[40];
  ty_model_params_default(&p);
  p.num_ctx = 64;
  p.num_batch = 16;     /* 40 tokens: three chunks */
  p.num_thread = 2;
  p.kv_type = kv;
  for (int i = 0; i < 40; i++) ids[i] = (i * 7 + 3) % VOCAB;
  if (ty_model_open(path, &p, &m, &err) != TY_OK) {
    CHECK(0, "open %s: %s", path, err.msg);
    return;
  }
  CHECK(ty_model_eval(m, ids, 40, &err) == TY_OK, "eval: %s", err.msg);
  CHECK(ty_model_eval(m, ids, 30, &err) != TY_OK && strstr(err.msg, "num_ctx") != NULL,
        "context overflow is refused: %s", err.msg);
  int32_t bad = VOCAB;
  CHECK(ty_model_eval(m, &bad, 1, &err) != TY_OK && strstr(err.msg, "vocabulary") != NULL,
        "an out-of-range id is refused: %s", err.msg);
  memcpy(out, ty_model_logits(m), VOCAB * sizeof *out);
  for (int i = 0; i < VOCAB; i++) CHECK(isfinite(out[i]), "logit %d is %f", i, out[i]);
  /* one token at a time must give what one batch gave */
  float batch[VOCAB];
  memcpy(batch, out, sizeof batch);
  ty_model_reset(m);
  for (int i = 0; i < 40; i++) ty_model_eval(m, &ids[i], 1, &err);
  float d = 0;
  for (int i = 0; i < VOCAB; i++) d = fmaxf(d, fabsf(batch[i] - ty_model_logits(m)[i]));
  CHECK(d < 1e-3f, "batched vs token-by-token logits differ by %g (kv %d)", d, kv);
  ty_model_close(m);
}


int main(void) {
  char dir[] = "/tmp/tycho-test-XXXXXX", path[512];
  float lf16[VOCAB], lf32[VOCAB], lq8[VOCAB];
  if (mkdtemp(dir) == NULL) return 1;
  snprintf(path, sizeof path, "%s/tiny.gguf", dir);
  write_model(path, BREAK_NONE);
  run_kv(path, TY_QTYPE_F16, lf16);
  run_kv(path, TY_QTYPE_F32, lf32);
  run_kv(path, TY_QTYPE_Q8_0, lq8);
  /* relative to the largest logit. Random weights make a sharp, chaotic
     model (activations re-quantized to 8 bits at every matmul amplify small
     differences), so these bounds only catch a broken cache path; the exact
     check is test_model against llama.cpp on real models. */
  float d16 = 0, d8 = 0, span = 0;
  for (int i = 0; i < VOCAB; i++) {
    d16 = fmaxf(d16, fabsf(lf16[i] - lf32[i]));
    d8 = fmaxf(d8, fabsf(lq8[i] - lf32[i]));
    span = fmaxf(span, fabsf(lf32[i]));
  }
  printf("kv cache: max |logit| = %g, max |f16 - f32| = %g, max |q8_0 - f32| = %g\n", span, d16, d8);
  CHECK(d16 < 0.05f * span && d8 < 0.1f * span, "kv types disagree");
  unlink(path);

  expect_refused(dir, BREAK_MISSING, "missing tensor 'blk.1.attn_q.weight'");
  expect_refused(dir, BREAK_SHAPE, "'blk.0.ffn_gate.weight' has shape");
  expect_refused(dir, BREAK_ARCH, "architecture 'mamba' is not supported");
  expect_refused(dir, BREAK_HEADS, "llama.attention.head_count");
  {
    struct ty_model_params p;
    ty_model *m;
    ty_err err;
    ty_model_params_default(&p);
    p.kv_type = TY_QTYPE_Q4_K;
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    write_model(path, BREAK_NONE);
    CHECK(ty_model_open(path, &p, &m, &err) != TY_OK && strstr(err.msg, "kv_type"),
          "bad kv_type refused: %s", err.msg);
    unlink(path);
  }
  rmdir(dir);
  if (failures) return 1;
  printf("ok\n");
  return 0;
}
