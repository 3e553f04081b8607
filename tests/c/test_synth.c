/*
 * test_synth.c: synthetic models (src/model/synth.c) against the real files
 * they imitate: gemma3 270M Q4_K_M and SmolLM2 135M Q4_1 must have the real
 * tensor tables (names, order, shapes, types) and hyperparameters; a sparse
 * llama 70B Q4_K_M takes no disk, opens, and adds up to the published size;
 * random small models load and evaluate to finite logits.
 */
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "tensor/tensor.h"
#include "testutil.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static char dir[64];


static const char *tmp_path(const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", dir, name);
  return buf;
}


/* Unknown names fail with a message listing what is known. */
static void test_errors(void) {
  ty_err err;
  char path[128];
  uint64_t b = 0;
  tmp_path("x.gguf", path, sizeof path);
  CHECK(ty_synth_write("mistral", "7B", "Q4_K_M", path, 0, &err) == TY_ERR_ARG &&
        strstr(err.msg, "unknown architecture 'mistral'") && strstr(err.msg, "llama, gemma3"),
        "unknown arch: %s", err.msg);
  CHECK(ty_synth_write("llama", "13B", "Q4_K_M", path, 0, &err) == TY_ERR_ARG &&
        strstr(err.msg, "unknown size '13B'") && strstr(err.msg, "1B, 3B, 8B, 70B"),
        "unknown size: %s", err.msg);
  CHECK(ty_synth_write("gemma3", "1b", "IQ2_XS", path, 0, &err) == TY_ERR_ARG &&
        strstr(err.msg, "unknown quantization 'IQ2_XS'") && strstr(err.msg, "Q4_K_M"),
        "unknown quant: %s", err.msg);
  CHECK(ty_synth_size(NULL, "1B", "F16", &b, NULL, &err) == TY_ERR_ARG, "NULL arch: %s", err.msg);
  CHECK(access(path, F_OK) != 0, "nothing written on error");
  CHECK(ty_synth_write("llama", "1B", "F16", dir, 0, &err) == TY_ERR_IO,
        "a directory as the output fails: %s", err.msg);
  CHECK(ty_synth_find("LLAMA", "70b") != NULL && ty_synth_find("llama", "71B") == NULL,
        "find is case-insensitive");
}


/* A declared tensor (NULL data) is a hole that reads as zeros. */
static void test_writer_hole(void) {
  ty_gguf_writer *w = ty_gguf_writer_new();
  ty_gguf *g = NULL;
  ty_err err;
  char path[128];
  int64_t ne[2] = { 64, 1024 };
  float one[64];
  const struct ty_gguf_tensor *t;
  int i, zero = 1;
  for (i = 0; i < 64; i++) one[i] = 1.0f;
  tmp_path("hole.gguf", path, sizeof path);
  CHECK(ty_gguf_writer_add_tensor(w, "a", TY_QTYPE_F32, 1, ne, one, &err) == TY_OK, "%s", err.msg);
  CHECK(ty_gguf_writer_add_tensor(w, "b", TY_QTYPE_Q8_0, 2, ne, NULL, &err) == TY_OK, "%s",
        err.msg);
  CHECK(ty_gguf_writer_write(w, path, &err) == TY_OK, "%s", err.msg);
  ty_gguf_writer_free(w);
  if (ty_gguf_open(path, &g, &err) != TY_OK) {
    CHECK(0, "open: %s", err.msg);
    return;
  }
  t = ty_gguf_tensor_find(g, "b");
  CHECK(t != NULL && t->nbytes == 34 * 2 * 1024, "hole tensor size");
  for (i = 0; t != NULL && i < (int)t->nbytes; i++)
    zero &= ((const uint8_t *)t->data)[i] == 0;
  CHECK(zero, "a hole reads as zeros");
  t = ty_gguf_tensor_find(g, "a");
  CHECK(t != NULL && memcmp(t->data, one, sizeof one) == 0, "data beside a hole survives");
  CHECK(ty_gguf_file_size(g) == ty_gguf_data_offset(g) + 256 + 34 * 2 * 1024,
        "the file ends after the last (hole) tensor: %llu",
        (unsigned long long)ty_gguf_file_size(g));
  ty_gguf_close(g);
  unlink(path);
}


/* Compares the tensor tables and the given integer keys of a synthetic
   and a real file; returns 77 when the real file is absent. */
static int compare_real(const char *fam, const char *size, const char *quant, const char *real,
                        const char *const *keys) {
  char rbuf[512], path[128];
  const char *rpath = test_model_path(real, rbuf, sizeof rbuf);
  ty_gguf *r = NULL, *s = NULL;
  ty_err err;
  uint64_t i, bytes = 0, sum = 0;
  if (rpath == NULL) {
    printf("%s: not in the cache (run scripts/setup.sh)\n", real);
    if (test_models_required()) failures++;
    return TEST_SKIP;
  }
  tmp_path("real.gguf", path, sizeof path);
  CHECK(ty_synth_write(fam, size, quant, path, 0, &err) == TY_OK, "synth: %s", err.msg);
  if (ty_gguf_open(rpath, &r, &err) != TY_OK || ty_gguf_open(path, &s, &err) != TY_OK) {
    CHECK(0, "open: %s", err.msg);
    ty_gguf_close(r);
    return 0;
  }
  CHECK(ty_gguf_n_tensors(r) == ty_gguf_n_tensors(s), "%s: %llu tensors, synth %llu", real,
        (unsigned long long)ty_gguf_n_tensors(r), (unsigned long long)ty_gguf_n_tensors(s));
  for (i = 0; i < ty_gguf_n_tensors(r) && i < ty_gguf_n_tensors(s); i++) {
    const struct ty_gguf_tensor *a = ty_gguf_tensor_at(r, i), *b = ty_gguf_tensor_at(s, i);
    int d, same = strcmp(a->name, b->name) == 0 && a->n_dims == b->n_dims && a->type == b->type;
    for (d = 0; d < TY_GGUF_MAX_DIMS; d++) same &= a->ne[d] == b->ne[d];
    CHECK(same, "%s tensor %llu: real %s [%lld, %lld] %s, synth %s [%lld, %lld] %s", real,
          (unsigned long long)i, a->name, (long long)a->ne[0], (long long)a->ne[1],
          ty_qtype_get(a->type)->name, b->name, (long long)b->ne[0], (long long)b->ne[1],
          ty_qtype_get(b->type)->name);
    if (!same) break;
    sum += a->nbytes;
  }
  for (i = 0; keys[i] != NULL; i++) {
    uint32_t x = 0, y = 1;
    CHECK(ty_gguf_get_u32(r, keys[i], &x) && ty_gguf_get_u32(s, keys[i], &y) && x == y,
          "%s: %s real %u synth %u", real, keys[i], x, y);
  }
  {
    float x = 0, y = 1;
    char k[64];
    struct ty_gguf_str a, b;
    ty_gguf_get_str(r, "general.architecture", &a);
    CHECK(ty_gguf_get_str(s, "general.architecture", &b) && a.len == b.len &&
          memcmp(a.ptr, b.ptr, a.len) == 0, "architecture");
    snprintf(k, sizeof k, "%.*s.rope.freq_base", (int)a.len, a.ptr);
    CHECK(ty_gguf_get_f32(r, k, &x) && ty_gguf_get_f32(s, k, &y) && x == y, "%s", k);
    snprintf(k, sizeof k, "%.*s.attention.layer_norm_rms_epsilon", (int)a.len, a.ptr);
    CHECK(ty_gguf_get_f32(r, k, &x) && ty_gguf_get_f32(s, k, &y) && x == y, "%s", k);
    CHECK(ty_gguf_get_arr(r, "tokenizer.ggml.tokens")->v.arr.n ==
          ty_gguf_get_arr(s, "tokenizer.ggml.tokens")->v.arr.n, "vocabulary size");
  }
  CHECK(ty_synth_size(fam, size, quant, &bytes, NULL, &err) == TY_OK && bytes == sum,
        "%s: tensor bytes %llu, real %llu", real, (unsigned long long)bytes,
        (unsigned long long)sum);
  printf("%s %s %s: %llu tensors and %llu tensor bytes as %s\n", fam, size, quant,
         (unsigned long long)ty_gguf_n_tensors(s), (unsigned long long)bytes, real);
  ty_gguf_close(r);
  ty_gguf_close(s);
  unlink(path);
  return 0;
}


/* Llama 3.3 70B Q4_K_M, sparse. The expected tensor bytes are worked by
   hand from llama.cpp's Q4_K_M rules (llama-quant.cpp) and the block sizes
   (Q4_K 144, Q5_K 176, Q6_K 210 bytes per 256 values): per layer
   attn_q and attn_output 37748736 each, attn_k 4718592, ffn_gate and ffn_up
   132120576 each, norms 65536; the 40 use_more_bits layers add attn_v Q6_K
   6881280 and ffn_down Q6_K 192675840, the other 40 attn_v Q5_K 5767168
   (LLM_TYPE_70B) and ffn_down Q4_K 132120576; token_embd Q4_K 591003648,
   output Q6_K 861880320, output_norm 32768, rope_freqs 256:
   42512531712 bytes. Ollama's llama3.3:70b blob is 42520393920 bytes: the
   rest (7.9 MB) is its header (tokens, 280147 merges, chat template). */
static void test_70b(void) {
  char path[128];
  struct stat st;
  ty_gguf *g = NULL;
  ty_err err;
  uint64_t i, sum = 0, bytes = 0, params = 0;
  int q6v = 0, q5v = 0, q6d = 0;
  uint32_t u;
  tmp_path("l70.gguf", path, sizeof path);
  CHECK(ty_synth_write("llama", "70B", "Q4_K_M", path, 0, &err) == TY_OK, "%s", err.msg);
  CHECK(ty_synth_size("llama", "70B", "Q4_K_M", &bytes, &params, &err) == TY_OK, "%s", err.msg);
  CHECK(bytes == 42512531712ULL, "70B tensor bytes %llu", (unsigned long long)bytes);
  CHECK(params == 70553706560ULL, "70B parameters %llu (llama.cpp: 70.55 B)",
        (unsigned long long)params);
  CHECK(42520393920ULL - bytes < 16u << 20, "70B: within a header of Ollama's file");
  if (stat(path, &st) != 0) {
    CHECK(0, "no file");
    return;
  }
  CHECK((uint64_t)st.st_size > bytes && (uint64_t)st.st_size < bytes + (16u << 20),
        "apparent size %lld", (long long)st.st_size);
  CHECK((uint64_t)st.st_blocks * 512 < 64u << 20, "on disk %lld bytes",
        (long long)st.st_blocks * 512);
  printf("llama 70B Q4_K_M: %llu tensor bytes, file %lld bytes, %lld on disk\n",
         (unsigned long long)bytes, (long long)st.st_size, (long long)st.st_blocks * 512);
  if (ty_gguf_open(path, &g, &err) != TY_OK) {
    CHECK(0, "open 70B: %s", err.msg);
    unlink(path);
    return;
  }
  CHECK(ty_gguf_n_tensors(g) == 80 * 9 + 4, "70B tensor count %llu",
        (unsigned long long)ty_gguf_n_tensors(g));
  for (i = 0; i < ty_gguf_n_tensors(g); i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    uint64_t want = ty_qtype_row_size(t->type, t->ne[0]) *
                    (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    CHECK(t->nbytes == want, "%s: %llu bytes, type and shape say %llu", t->name,
          (unsigned long long)t->nbytes, (unsigned long long)want);
    sum += t->nbytes;
    if (strstr(t->name, "attn_v")) {
      q6v += t->type == TY_QTYPE_Q6_K;
      q5v += t->type == TY_QTYPE_Q5_K;
    }
    if (strstr(t->name, "ffn_down")) q6d += t->type == TY_QTYPE_Q6_K;
  }
  CHECK(sum == bytes, "sum of tensors %llu", (unsigned long long)sum);
  CHECK(q6v == 40 && q5v == 40 && q6d == 40, "attn_v Q6_K %d Q5_K %d, ffn_down Q6_K %d",
        q6v, q5v, q6d);
  CHECK(ty_gguf_tensor_find(g, "output.weight")->type == TY_QTYPE_Q6_K &&
        ty_gguf_tensor_find(g, "token_embd.weight")->type == TY_QTYPE_Q4_K &&
        ty_gguf_tensor_find(g, "rope_freqs.weight")->ne[0] == 64, "output, token_embd, rope_freqs");
  CHECK(ty_gguf_get_u32(g, "llama.block_count", &u) && u == 80, "block_count");
  CHECK(ty_gguf_get_u32(g, "llama.embedding_length", &u) && u == 8192, "embedding_length");
  CHECK(ty_gguf_get_u32(g, "llama.feed_forward_length", &u) && u == 28672, "feed_forward_length");
  CHECK(ty_gguf_get_u32(g, "llama.attention.head_count", &u) && u == 64, "head_count");
  CHECK(ty_gguf_get_u32(g, "llama.attention.head_count_kv", &u) && u == 8, "head_count_kv");
  CHECK(ty_gguf_get_u32(g, "llama.context_length", &u) && u == 131072, "context_length");
  CHECK(ty_gguf_get_u32(g, "general.file_type", &u) && u == 15, "file_type");
  CHECK(ty_gguf_get_arr(g, "tokenizer.ggml.tokens")->v.arr.n == 128256, "vocab");
  ty_gguf_close(g);
  unlink(path);
}


/* A random model loads in tycho and one eval gives finite logits. */
static void test_random(const char *fam, const char *size, const char *quant) {
  char path[128];
  struct ty_model_params p;
  ty_model *m = NULL;
  ty_err err;
  int32_t ids[4] = { 5, 60, 300, 7 };
  int i, bad = 0, nv;
  float lo = INFINITY, hi = -INFINITY;
  tmp_path("rnd.gguf", path, sizeof path);
  if (ty_synth_write(fam, size, quant, path, TY_SYNTH_RANDOM, &err) != TY_OK) {
    CHECK(0, "random %s %s: %s", fam, size, err.msg);
    return;
  }
  ty_model_params_default(&p);
  p.num_ctx = 64;
  p.num_thread = 2;
  if (ty_model_open(path, &p, &m, &err) != TY_OK) {
    CHECK(0, "open random %s %s %s: %s", fam, size, quant, err.msg);
    unlink(path);
    return;
  }
  CHECK(ty_model_eval(m, ids, 4, &err) == TY_OK, "eval: %s", err.msg);
  nv = ty_model_hparams(m)->n_vocab;
  for (i = 0; i < nv; i++) {
    float x = ty_model_logits(m)[i];
    if (!isfinite(x)) bad++;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  CHECK(bad == 0 && hi > lo, "%s %s %s: %d non-finite logits, range [%g, %g]", fam, size,
        quant, bad, lo, hi);
  printf("random %s %s %s: logits in [%g, %g]\n", fam, size, quant, lo, hi);
  ty_model_close(m);
  unlink(path);
}


int main(void) {
  static const char *const gemma_keys[] = {
    "gemma3.context_length", "gemma3.embedding_length", "gemma3.block_count",
    "gemma3.feed_forward_length", "gemma3.attention.head_count",
    "gemma3.attention.head_count_kv", "gemma3.attention.key_length",
    "gemma3.attention.value_length", "gemma3.attention.sliding_window", "general.file_type",
    NULL };
  static const char *const llama_keys[] = {
    "llama.context_length", "llama.embedding_length", "llama.block_count",
    "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
    "llama.rope.dimension_count", "llama.vocab_size", "general.file_type", NULL };
  int skipped = 0;
  snprintf(dir, sizeof dir, "/tmp/tycho_synth_XXXXXX");
  if (mkdtemp(dir) == NULL) {
    printf("cannot make a temporary directory\n");
    return 1;
  }
  test_errors();
  test_writer_hole();
  skipped |= compare_real("gemma3", "270M", "Q4_K_M", "gemma3.gguf", gemma_keys) == TEST_SKIP;
  skipped |= compare_real("smollm2", "135M", "Q4_1", "smollm2.gguf", llama_keys) == TEST_SKIP;
  test_70b();
  test_random("smollm2", "135M", "Q8_0");
  test_random("gemma3", "270M", "Q4_K_M");
  test_random("llama", "1B", "Q4_0");
  rmdir(dir);
  if (failures > 0) {
    printf("%d failed\n", failures);
    return 1;
  }
  if (skipped) {
    printf("skipped the comparisons with real models\n");
    return TEST_SKIP;
  }
  printf("ok\n");
  return 0;
}
