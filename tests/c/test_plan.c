/*
 * test_plan.c: the memory plan. Hand-computed plans of a 4-layer shape on
 * virtual devices, the real models' plans against what ty_model_open
 * allocates (predicted == allocated), header-only and sparse GGUFs written by
 * tycho's writer, property tests over random shapes, and bad device strings.
 */
#include "backend/backend.h"
#include "plan/plan.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/tensor.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

static int failures;

#define CHECK(c) do { if (!(c)) { failures++; \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
#define CHECK_EQ(a, b) do { unsigned long long a_ = (unsigned long long)(a), \
  b_ = (unsigned long long)(b); if (a_ != b_) { failures++; \
  fprintf(stderr, "%s:%d: %s = %llu, expected %llu\n", __FILE__, __LINE__, #a, a_, b_); } } while (0)

static struct ty_shape shape;      /* 560 KB of layer tables: static, not on the stack */
static struct ty_shape shape2;


/* ================================================================
   a 4-layer shape by hand
   ================================================================ */

/* n_layer 4, n_embd 64, 4 heads of 16, 2 kv heads, n_ff 128, vocab 256;
   each block 1 MiB, token_embd 256 KiB, output 256 KiB, output_norm 256 B. */
static void hand_shape(struct ty_shape *s, bool tied) {
  memset(s, 0, sizeof *s);
  s->hp.arch = TY_ARCH_LLAMA;
  snprintf(s->hp.arch_name, sizeof s->hp.arch_name, "llama");
  snprintf(s->name, sizeof s->name, "hand4");
  s->hp.n_layer = 4;
  s->hp.n_embd = 64;
  s->hp.n_head = 4;
  s->hp.n_head_kv = 2;
  s->hp.head_dim = s->hp.v_head_dim = 16;
  s->hp.n_ff = 128;
  s->hp.n_vocab = 256;
  for (int l = 0; l < 4; l++) s->layer_bytes[l] = 1048576;
  s->token_embd = 262144;
  s->output = tied ? 0 : 262144;
  s->output_norm = 256;
  s->weights = 4 * 1048576ull + s->token_embd + s->output + s->output_norm;
}


static void devs_parse(const char *list, struct ty_plan_device *d, int *n) {
  ty_err e;
  *n = 0;
  if (ty_plan_parse_devices(list, d, TY_PLAN_MAX_DEV, n, &e) != TY_OK) {
    fprintf(stderr, "devices '%s': %s\n", list, e.msg);
    failures++;
  }
}


static void test_hand(void) {
  struct ty_plan_device d[TY_PLAN_MAX_DEV];
  struct ty_plan_settings set;
  struct ty_plan p;
  ty_err e;
  int n;

  /* Size table at num_ctx 128, num_batch 32, f16 cache:
       x, xb, xb2: 32 x 64 x 4 = 8192 each        24576
       q, att:     32 x 64 x 4 = 8192 each        16384
       k, v:       32 x 32 x 4 = 4096 each         8192
       hb, hb2:    32 x 128 x 4 = 16384 each      32768
       logits:     256 x 4                          1024
     compute 82944, of it blocks 81920; host 32 x 4 + 256 x 4 = 1152;
     kv per layer: k and v, 128 x 32 x 2 bytes = 8192 each: 16384. */
  hand_shape(&shape, false);
  ty_plan_settings_default(&set);
  set.num_ctx = 128;
  set.num_batch = 32;
  devs_parse("cpu=8M,cpu=3M", d, &n);
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK_EQ(p.sizes.compute, 82944);
  CHECK_EQ(p.sizes.kv_layer, 16384);
  CHECK_EQ(p.sizes.host, 1152);
  /* auto: the second cpu (3 MiB = 3145728) takes blocks from the end: one
     block + compute = 1146880, two = 2211840, three = 3276800 > 3145728;
     so num_gpu 2: blocks 2-3 there, 0-1 and the output on the host. */
  CHECK_EQ(p.n_dev, 2);
  CHECK_EQ(p.num_gpu, 2);
  CHECK(p.fits);
  CHECK(p.dev[0].input && p.dev[0].output && !p.dev[1].input && !p.dev[1].output);
  CHECK_EQ(p.dev[0].layer_lo, 0); CHECK_EQ(p.dev[0].layer_hi, 2);
  CHECK_EQ(p.dev[1].layer_lo, 2); CHECK_EQ(p.dev[1].layer_hi, 4);
  CHECK_EQ(p.dev[1].weights, 2097152);
  CHECK_EQ(p.dev[1].kv, 32768);
  CHECK_EQ(p.dev[1].compute, 81920);
  CHECK_EQ(p.dev[1].used, 2211840);
  CHECK_EQ(p.dev[1].free, 933888);       /* less than one layer (1064960) */
  /* host: 2 blocks + embd + output + norm = 2621696; kv 32768; compute
     81920; logits 1024; host 1152: 2738560 of 8388608 */
  CHECK_EQ(p.dev[0].weights, 2621696);
  CHECK_EQ(p.dev[0].logits, 1024);
  CHECK_EQ(p.dev[0].used, 2738560);
  CHECK_EQ(p.dev[0].free, 8388608 - 2738560);
  CHECK_EQ(p.total.used, 2211840 + 2738560);
  CHECK_EQ(p.total.weights, shape.weights);

  /* num_gpu 5 = all 4 blocks and the output on the 3 MiB device: weights
     4194304 + 262400, kv 65536, compute 81920, logits 1024 = 4605184: does
     not fit. The host keeps the input: embd 262144 + x 8192 + host 1152.
     Alternatives: no num_ctx (the weights alone overflow), no kv type,
     num_gpu 2. */
  set.num_gpu = 5;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(!p.fits);
  CHECK(!p.dev[0].output && p.dev[1].output);
  CHECK_EQ(p.dev[1].used, 4605184);
  CHECK_EQ(p.dev[0].used, 262144 + 8192 + 1152);
  CHECK_EQ(p.alt.num_ctx, 0);
  CHECK_EQ(p.alt.kv_type, -1);
  CHECK_EQ(p.alt.num_gpu, 2);

  /* tied output off the host: token_embd is copied to the output device */
  hand_shape(&shape, true);
  devs_parse("cpu=8M,cpu=8M", d, &n);
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(p.fits);
  CHECK_EQ(p.dev[1].weights, 4194304 + 262144 + 256);
  CHECK_EQ(p.total.weights, shape.weights + 262144);

  /* one 5 MiB cpu (5242880): weights 4718848 + compute 82944 + host 1152
     leave 439936 for the cache, 512 bytes per token (4 layers x 128): at
     num_ctx 1024 it needs 524288, so it does not fit; 859 tokens do; q8_0
     rows are 34 bytes: 4 x 2 x 1024 x 34 = 278528 fits. */
  hand_shape(&shape, false);
  devs_parse("cpu=5M", d, &n);
  set.num_gpu = TY_PLAN_AUTO;
  set.num_ctx = 1024;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(!p.fits);
  CHECK_EQ(p.dev[0].kv, 524288);
  CHECK_EQ(p.alt.num_ctx, 859);
  CHECK_EQ(p.alt.kv_type, TY_QTYPE_Q8_0);
  CHECK_EQ(p.alt.num_gpu, -1);
  set.num_ctx = 859;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK && p.fits);
  set.num_ctx = 860;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK && !p.fits);
  /* parallel 4 at num_ctx 128: 4 x 4 x 16384 */
  set.num_ctx = 128;
  set.parallel = 4;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK_EQ(p.dev[0].kv, 262144);
  set.parallel = 1;

  /* split 1:3 of num_gpu 5 over two offload devices (llama.cpp's rule):
     unit u of 5 goes to the first device whose cumulative share (0.25,
     1.0) exceeds u/5: blocks 0-1 to the first, 2-3 and the output to the
     second; the host keeps only the input. */
  devs_parse("cpu=64M,cpu=64M,cpu=64M", d, &n);
  set.num_gpu = 5;
  set.n_split = 2;
  set.split[0] = 1;
  set.split[1] = 3;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(p.fits && p.n_dev == 3);
  CHECK(p.dev[0].layer_lo == p.dev[0].layer_hi && p.dev[0].input && !p.dev[0].output);
  CHECK(p.dev[1].layer_lo == 0 && p.dev[1].layer_hi == 2 && !p.dev[1].output);
  CHECK(p.dev[2].layer_lo == 2 && p.dev[2].layer_hi == 4 && p.dev[2].output);
  /* num_gpu 2, default proportions (equal sizes): block 2 and block 3 */
  set.n_split = 0;
  set.num_gpu = 2;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(p.dev[0].layer_hi == 2 && p.dev[0].output);
  CHECK(p.dev[1].layer_lo == 2 && p.dev[1].layer_hi == 3);
  CHECK(p.dev[2].layer_lo == 3 && p.dev[2].layer_hi == 4);
  /* num_gpu 0: everything on the host */
  set.num_gpu = 0;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(p.dev[0].layer_hi == 4 && p.dev[1].used == 0 && p.dev[2].used == 0);
  /* a split that does not match the devices */
  set.n_split = 3;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_ERR_ARG);
  CHECK(strstr(e.msg, "split") != NULL);
  set.n_split = 0;

  /* a gpu reserve: cuda:0=4G holds everything, 600 MiB overhead */
  devs_parse("cuda:0=4G", d, &n);
  set.num_gpu = TY_PLAN_AUTO;
  CHECK(ty_plan_make(&shape, d, n, &set, &p, &e) == TY_OK);
  CHECK(p.fits && p.n_dev == 2 && p.num_gpu == 5);     /* host cpu added in front */
  CHECK_EQ(p.dev[1].overhead, 600ull << 20);
  CHECK(p.dev[1].dev.kind == TY_PLAN_DEV_CUDA && p.dev[0].dev.kind == TY_PLAN_DEV_CPU);
  {
    char buf[4096];
    size_t len = ty_plan_format(&p, &shape, buf, sizeof buf);
    CHECK(len < sizeof buf && strstr(buf, "cuda:0=4G") != NULL && strstr(buf, "fits") != NULL);
    CHECK(ty_plan_format(&p, &shape, buf, 10) == len && strlen(buf) == 9);
  }
}


/* ================================================================
   devices and sizes
   ================================================================ */

static void test_devices(void) {
  static const char *const bad[][2] = {
    { "gpu=4G", "unknown device 'gpu'" }, { "cuda:9", "a size (cuda:9=24G)" },
    { "cpu=4X", "bad size '4X'" }, { "cpu=", "bad size ''" }, { "cpu,,cuda:0=1G", "empty entry" },
    { "cuda:x=1G", "unknown device 'cuda:x'" }, { "cpu=0", "must be more than 0" }, { "", "empty" },
    { "cuda:0=1.G", "bad size" },
  };
  struct ty_plan_device d[TY_PLAN_MAX_DEV];
  uint64_t v;
  ty_err e;
  int n = 0;

  CHECK(ty_plan_parse_size("24G", &v) && v == 24ull << 30);
  CHECK(ty_plan_parse_size("1.5GiB", &v) && v == 3ull << 29);
  CHECK(ty_plan_parse_size("512m", &v) && v == 512ull << 20);
  CHECK(ty_plan_parse_size("4096", &v) && v == 4096);
  CHECK(ty_plan_parse_size("2T", &v) && v == 2ull << 40);
  CHECK(!ty_plan_parse_size("-1G", &v) && !ty_plan_parse_size("1GG", &v));
  CHECK(ty_plan_parse_devices("cpu=2G, cuda:0=40G,cuda:0=40G", d, TY_PLAN_MAX_DEV, &n, &e) == TY_OK);
  CHECK(n == 3 && d[0].kind == TY_PLAN_DEV_CPU && d[0].total == 2ull << 30 && d[0].capped);
  CHECK(d[1].kind == TY_PLAN_DEV_CUDA && d[1].index == 0 && d[2].index == 0);
  CHECK(d[1].reserve == TY_PLAN_RESERVE_CUDA && d[0].reserve == TY_PLAN_RESERVE_CPU);
  n = 0;
  CHECK(ty_plan_parse_devices("cpu", d, TY_PLAN_MAX_DEV, &n, &e) == TY_OK && n == 1);
  CHECK(!d[0].capped && d[0].total == ty_plan_host_ram());
  n = 0;
  CHECK(ty_plan_parse_gpus("24G,24G", d, TY_PLAN_MAX_DEV, &n, &e) == TY_OK && n == 2);
  CHECK(strcmp(d[0].name, "cuda:0") == 0 && strcmp(d[1].name, "cuda:1") == 0);
  CHECK(d[1].total == 24ull << 30);
  n = 0;
  CHECK(ty_plan_parse_gpus("24G,lots", d, TY_PLAN_MAX_DEV, &n, &e) == TY_ERR_ARG);
  CHECK(strstr(e.msg, "gpus: bad size 'lots'") != NULL);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    n = 0;
    CHECK(ty_plan_parse_devices(bad[i][0], d, TY_PLAN_MAX_DEV, &n, &e) == TY_ERR_ARG);
    if (strstr(e.msg, bad[i][1]) == NULL) {
      fprintf(stderr, "devices '%s': got '%s', expected '%s'\n", bad[i][0], e.msg, bad[i][1]);
      failures++;
    }
    CHECK(strchr(e.msg, '\n') == NULL);
  }
  n = 0;
  CHECK(ty_plan_parse_devices("cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu",
                              d, TY_PLAN_MAX_DEV, &n, &e) == TY_ERR_ARG);
  CHECK(strstr(e.msg, "more than 16") != NULL);
  /* a real GPU with no size: its free memory, read from the device */
  n = 0;
  if (ty_cuda_device_count() > 0) {
    CHECK(ty_plan_parse_devices("cuda:0", d, TY_PLAN_MAX_DEV, &n, &e) == TY_OK && n == 1);
    CHECK(d[0].total > 0 && !d[0].capped);
  } else {
    CHECK(ty_plan_parse_devices("cuda:0", d, TY_PLAN_MAX_DEV, &n, &e) == TY_ERR_ARG);
  }
}


/* ================================================================
   real models: predicted == allocated
   ================================================================ */

static void test_real(const char *file) {
  static const struct { int ctx, batch, kv; } cases[] = {
    { 0, 0, -1 }, { 512, 64, TY_QTYPE_Q8_0 }, { 100, 512, TY_QTYPE_F32 },
  };
  struct ty_plan_device cpu[1];
  char path[1024];
  ty_err e;
  int n = 0;
  if (test_model_path(file, path, sizeof path) == NULL) {
    printf("skip %s: not in the cache\n", file);
    return;
  }
  CHECK(ty_shape_from_file(path, &shape, &e) == TY_OK);
  {
    ty_gguf *g;
    uint64_t sum = 0;
    CHECK(ty_gguf_open(path, &g, &e) == TY_OK);
    for (uint64_t i = 0; i < ty_gguf_n_tensors(g); i++) sum += ty_gguf_tensor_at(g, i)->nbytes;
    CHECK_EQ(shape.weights, sum);
    ty_gguf_close(g);
  }
  CHECK(ty_plan_parse_devices("cpu", cpu, 1, &n, &e) == TY_OK);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct ty_model_params mp;
    struct ty_plan_settings set;
    struct ty_plan p;
    ty_model *m;
    const struct ty_model_mem *mem;
    ty_model_params_default(&mp);
    ty_plan_settings_default(&set);
    mp.num_ctx = set.num_ctx = cases[i].ctx;
    mp.num_batch = set.num_batch = cases[i].batch;
    mp.kv_type = set.kv_type = cases[i].kv;
    mp.num_thread = 1;
    CHECK(ty_plan_make(&shape, cpu, 1, &set, &p, &e) == TY_OK);
    if (ty_model_open(path, &mp, &m, &e) != TY_OK) {
      fprintf(stderr, "%s: %s\n", file, e.msg);
      failures++;
      continue;
    }
    mem = ty_model_mem(m);
    CHECK_EQ(p.n_dev, 1);
    CHECK_EQ(p.dev[0].weights, mem->weights);
    CHECK_EQ(p.dev[0].kv, mem->kv);
    CHECK_EQ(p.dev[0].compute + p.dev[0].logits, mem->compute);
    CHECK_EQ(p.dev[0].host, mem->host);
    CHECK_EQ(p.dev[0].used, mem->weights + mem->kv + mem->compute + mem->host);
    printf("%s ctx %d batch %d kv %s: predicted weights %llu kv %llu compute %llu host %llu; "
           "allocated %zu %zu %zu %zu\n", file, p.settings.num_ctx, p.settings.num_batch,
           ty_qtype_get(p.settings.kv_type)->name, (unsigned long long)p.dev[0].weights,
           (unsigned long long)p.dev[0].kv,
           (unsigned long long)(p.dev[0].compute + p.dev[0].logits),
           (unsigned long long)p.dev[0].host, mem->weights, mem->kv, mem->compute, mem->host);
    ty_model_close(m);
  }
}


/* ================================================================
   header-only and sparse files from tycho's writer
   ================================================================ */

static void add(ty_gguf_writer *w, const char *name, int64_t c, int64_t r) {
  static float zeros[64 * 64];
  int64_t ne[2] = { c, r };
  ty_err e;
  CHECK(ty_gguf_writer_add_tensor(w, name, TY_QTYPE_F32, r > 1 ? 2 : 1, ne, zeros, &e) == TY_OK);
}


static void test_header_only(void) {
  char path[] = "/tmp/tycho_test_plan_XXXXXX";
  ty_gguf_writer *w = ty_gguf_writer_new();
  ty_gguf *g;
  ty_err e;
  struct stat st;
  uint64_t data_off, sum = 0;
  int fd = mkstemp(path);
  static char words[200000][12];
  static const char *toks[200000];

  CHECK(fd >= 0 && w != NULL);
  close(fd);
  ty_gguf_writer_set_str(w, "general.architecture", "llama");
  ty_gguf_writer_set_str(w, "general.name", "tiny header");
  ty_gguf_writer_set_u32(w, "llama.embedding_length", 64);
  ty_gguf_writer_set_u32(w, "llama.block_count", 2);
  ty_gguf_writer_set_u32(w, "llama.attention.head_count", 4);
  ty_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 2);
  ty_gguf_writer_set_u32(w, "llama.feed_forward_length", 64);
  /* a 2.6 MB vocabulary: the header outgrows the first 1 MiB read */
  for (int i = 0; i < 200000; i++) {
    snprintf(words[i], sizeof words[i], "tok%d", i);
    toks[i] = words[i];
  }
  CHECK(ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 200000) == TY_OK);
  add(w, "token_embd.weight", 64, 64);   /* 64 x 64 f32: vocab 64 < 200000 tokens: */
  add(w, "output_norm.weight", 64, 1);
  for (int l = 0; l < 2; l++) {
    char n[64];
    snprintf(n, sizeof n, "blk.%d.attn_q.weight", l); add(w, n, 64, 64);
    snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l); add(w, n, 64, 64);
    snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l); add(w, n, 64, 1);
  }
  CHECK(ty_gguf_writer_write(w, path, &e) == TY_OK);
  ty_gguf_writer_free(w);

  /* the vocabulary is larger than token_embd: a format error, found in the
     header alone (the reader grew its buffer past 1 MiB to get there) */
  CHECK(ty_shape_from_file(path, &shape, &e) == TY_ERR_FORMAT);
  CHECK(strstr(e.msg, "200000 tokens") != NULL);
  unlink(path);

  w = ty_gguf_writer_new();
  ty_gguf_writer_set_str(w, "general.architecture", "llama");
  ty_gguf_writer_set_u32(w, "llama.embedding_length", 64);
  ty_gguf_writer_set_u32(w, "llama.block_count", 2);
  ty_gguf_writer_set_u32(w, "llama.attention.head_count", 4);
  ty_gguf_writer_set_u32(w, "llama.feed_forward_length", 64);
  CHECK(ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 64) == TY_OK);
  CHECK(ty_gguf_writer_set_arr_str(w, "test.big", toks, 200000) == TY_OK);
  add(w, "token_embd.weight", 64, 64);
  add(w, "output_norm.weight", 64, 1);
  for (int l = 0; l < 2; l++) {
    char n[64];
    snprintf(n, sizeof n, "blk.%d.attn_q.weight", l); add(w, n, 64, 64);
    snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l); add(w, n, 64, 64);
    snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l); add(w, n, 64, 1);
  }
  CHECK(ty_gguf_writer_write(w, path, &e) == TY_OK);
  ty_gguf_writer_free(w);
  CHECK(ty_gguf_open(path, &g, &e) == TY_OK);
  data_off = ty_gguf_data_offset(g);
  CHECK(data_off > (1u << 20));
  CHECK(ty_shape_from_gguf(g, &shape2, &e) == TY_OK);
  ty_gguf_close(g);
  for (int i = 0; i < 2; i++) sum += shape2.layer_bytes[i];
  CHECK_EQ(sum, 2 * (64 * 64 * 4 * 2 + 64 * 4));
  CHECK_EQ(shape2.token_embd, 64 * 64 * 4);
  CHECK(shape2.output == 0 && shape2.hp.tied_output && shape2.output_norm == 256);

  /* cut the data section off: the full open refuses, the header open works */
  CHECK(truncate(path, (off_t)data_off) == 0);
  CHECK(ty_gguf_open(path, &g, &e) == TY_ERR_FORMAT);
  CHECK(strstr(e.msg, "past the end") != NULL);
  CHECK(ty_gguf_open_header(path, &g, &e) == TY_OK);
  CHECK(ty_gguf_header_only(g) && ty_gguf_tensor_at(g, 0)->data == NULL);
  CHECK(ty_shape_from_gguf(g, &shape, &e) == TY_OK);
  ty_gguf_close(g);
  CHECK_EQ(shape.weights, shape2.weights);
  CHECK(memcmp(shape.layer_bytes, shape2.layer_bytes, sizeof shape.layer_bytes) == 0);
  /* sparse: 40 GiB of holes after the header; the header open reads MBs */
  CHECK(truncate(path, (off_t)(40ull << 30)) == 0);
  CHECK(ty_gguf_open_header(path, &g, &e) == TY_OK);
  CHECK_EQ(ty_gguf_file_size(g), 40ull << 30);
  ty_gguf_close(g);
  CHECK(ty_shape_from_file(path, &shape, &e) == TY_OK && shape.file_size == 40ull << 30);
  /* a header cut in the middle: truncated, named as such */
  CHECK(truncate(path, (off_t)(data_off / 2)) == 0);
  CHECK(ty_gguf_open_header(path, &g, &e) == TY_ERR_FORMAT && g == NULL);
  CHECK(strstr(e.msg, "truncated") != NULL || strstr(e.msg, "past the end") != NULL);
  CHECK(stat(path, &st) == 0);
  unlink(path);
  CHECK(ty_gguf_open_header(path, &g, &e) == TY_ERR_IO && g == NULL);
}


/* Every corpus file and every prefix of it: the header open never crashes,
   and where the full open succeeds it agrees on the tensor table. */
static void test_header_corpus(void) {
  static const char *const files[] = { "align64", "arrays", "empty", "scalars", "tensors" };
  char path[1024], cut[] = "/tmp/tycho_test_plan_cut_XXXXXX";
  int fd = mkstemp(cut);
  CHECK(fd >= 0);
  close(fd);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    size_t len;
    char *buf;
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus_gguf/%s", TYCHO_SOURCE_DIR, files[i]);
    if ((buf = test_read_file(path, &len)) == NULL) continue;
    for (size_t n = 0; n <= len; n++) {
      FILE *f = fopen(cut, "wb");
      ty_gguf *a = NULL, *b = NULL;
      ty_err e;
      ty_status sa, sb;
      fwrite(buf, 1, n, f);
      fclose(f);
      sa = ty_gguf_open(cut, &a, &e);
      sb = ty_gguf_open_header(cut, &b, &e);
      if (sa == TY_OK) {
        CHECK(sb == TY_OK);
        if (sb == TY_OK) {
          CHECK_EQ(ty_gguf_n_tensors(a), ty_gguf_n_tensors(b));
          CHECK_EQ(ty_gguf_n_kv(a), ty_gguf_n_kv(b));
          CHECK_EQ(ty_gguf_data_offset(a), ty_gguf_data_offset(b));
        }
      }
      ty_gguf_close(a);
      ty_gguf_close(b);
    }
    free(buf);
  }
  unlink(cut);
}


/* ================================================================
   properties over random shapes, devices and settings
   ================================================================ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;


static uint64_t rnd(uint64_t n) {          /* splitmix64, 0..n-1 */
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) % n;
}


static void test_properties(void) {
  static char t1[8192], t2[8192];
  int checked_auto = 0;
  for (int it = 0; it < 3000; it++) {
    struct ty_plan_device d[6];
    struct ty_plan_settings set;
    struct ty_plan p, q;
    ty_err e;
    int n = (int)rnd(5), hd = 32 << rnd(3), nh = 1 << rnd(4), kvh = nh >> rnd(2);
    bool uniform = rnd(2);
    uint64_t lb = 1024 + rnd(64ull << 20);

    memset(&shape, 0, sizeof shape);
    snprintf(shape.hp.arch_name, sizeof shape.hp.arch_name, "llama");
    shape.hp.n_layer = 1 + (int)rnd(80);
    shape.hp.n_head = nh;
    shape.hp.n_head_kv = kvh > 0 ? kvh : 1;
    shape.hp.head_dim = shape.hp.v_head_dim = hd;
    shape.hp.n_embd = nh * hd;
    shape.hp.n_ff = 64 * (1 + (int)rnd(64));
    shape.hp.n_vocab = 1000 + (int)rnd(150000);
    for (int l = 0; l < shape.hp.n_layer; l++)
      shape.layer_bytes[l] = uniform ? lb : 1024 + rnd(64ull << 20);
    shape.token_embd = 1 + rnd(1ull << 30);
    shape.output = rnd(2) ? 0 : 1 + rnd(1ull << 30);
    shape.output_norm = 4ull * (uint64_t)shape.hp.n_embd;
    d[0].kind = TY_PLAN_DEV_CPU;
    for (int i = 0; i <= n; i++) {
      memset(&d[i], 0, sizeof d[i]);
      d[i].kind = i == 0 || rnd(3) == 0 ? TY_PLAN_DEV_CPU : TY_PLAN_DEV_CUDA;
      d[i].reserve = d[i].kind == TY_PLAN_DEV_CUDA ? TY_PLAN_RESERVE_CUDA : 0;
      d[i].total = (1ull << 20) + rnd(48ull << 30);
      d[i].capped = true;
      snprintf(d[i].name, sizeof d[i].name, d[i].kind == TY_PLAN_DEV_CPU ? "cpu" : "cuda:%d", i);
    }
    ty_plan_settings_default(&set);
    set.num_ctx = 1 + (int)rnd(65536);
    set.num_batch = 1 + (int)rnd(1024);
    set.parallel = 1 + (int)rnd(4);
    set.kv_type = (int[]){ TY_QTYPE_F16, TY_QTYPE_Q8_0, TY_QTYPE_Q4_0, TY_QTYPE_F32 }[rnd(4)];
    set.num_gpu = rnd(2) ? TY_PLAN_AUTO : (int)rnd((uint64_t)shape.hp.n_layer + 3);
    if (n > 0 && rnd(4) == 0) {
      set.n_split = n;
      for (int i = 0; i < n; i++) set.split[i] = (double)(1 + rnd(10));
    }
    if (ty_plan_make(&shape, d, n + 1, &set, &p, &e) != TY_OK) {
      fprintf(stderr, "property %d: %s\n", it, e.msg);
      failures++;
      continue;
    }
    /* deterministic */
    CHECK(ty_plan_make(&shape, d, n + 1, &set, &q, &e) == TY_OK);
    ty_plan_format(&p, &shape, t1, sizeof t1);
    ty_plan_format(&q, &shape, t2, sizeof t2);
    CHECK(strcmp(t1, t2) == 0);
    /* layers are covered once, in order; the sums add up */
    {
      int next = 0, outs = 0;
      uint64_t used = 0;
      for (int i = 0; i < p.n_dev; i++) {
        const struct ty_plan_dev *v = &p.dev[i];
        if (v->layer_hi > v->layer_lo) {
          CHECK(v->layer_lo == next);
          next = v->layer_hi;
        }
        outs += v->output;
        used += v->used;
        CHECK(v->used == v->weights + v->kv + v->compute + v->logits + v->host + v->overhead);
        CHECK(p.fits ? v->fits : 1);
        CHECK(v->fits == (v->used <= v->dev.total));
      }
      CHECK(next == shape.hp.n_layer && outs == 1 && used == p.total.used);
    }
    /* a fitting plan exceeds no device; auto never overfills an offload
       device, and leaves less than one layer's worth on each while layers
       remain on the host */
    if (set.num_gpu == TY_PLAN_AUTO) {
      for (int i = 1; i < p.n_dev; i++) CHECK(p.dev[i].fits);
      if (set.n_split == 0 && p.num_gpu < shape.hp.n_layer + 1) {
        for (int i = 1; i < p.n_dev; i++) {
          const struct ty_plan_dev *v = &p.dev[i];
          uint64_t slack = p.unit_max;
          if (v->used == 0)   /* an empty device: the first layer brings scratch and reserve */
            slack += p.sizes.compute + v->dev.reserve;
          if (!(v->free >= 0 && (uint64_t)v->free < slack)) {
            fprintf(stderr, "property %d: %s has %lld free with layers on the host (one "
                    "layer: %llu)\n%s", it, v->dev.name, (long long)v->free,
                    (unsigned long long)slack, t1);
            failures++;
          }
        }
        checked_auto++;
      }
    }
    if (!p.fits) {
      struct ty_plan_settings t = p.settings;
      if (p.alt.num_ctx > 0) {
        t.num_ctx = p.alt.num_ctx;
        CHECK(ty_plan_make(&shape, d, n + 1, &t, &q, &e) == TY_OK && q.fits);
        t.num_ctx = p.alt.num_ctx + 1;
        CHECK(ty_plan_make(&shape, d, n + 1, &t, &q, &e) == TY_OK && !q.fits);
        t.num_ctx = p.settings.num_ctx;
      }
      if (p.alt.kv_type >= 0) {
        t.kv_type = p.alt.kv_type;
        CHECK(ty_plan_make(&shape, d, n + 1, &t, &q, &e) == TY_OK && q.fits);
        t.kv_type = p.settings.kv_type;
      }
      if (p.alt.num_gpu >= 0) {
        t.num_gpu = p.alt.num_gpu;
        CHECK(ty_plan_make(&shape, d, n + 1, &t, &q, &e) == TY_OK && q.fits);
      }
    }
  }
  printf("properties: 3000 plans, %d auto plans with layers left on the host checked\n",
         checked_auto);
}


/* A lighter quantization is offered when the model's weights alone do not
   fit: its estimate is lighter than the file, and a shape of that size fits
   where the file does not. SmolLM2 Q4_1 with its Q8_0 embedding averages
   about 5.7 bits per weight; on 80 MiB only a lighter file can fit. */
static void test_alt_quant(void) {
  char buf[4096];
  const char *path = test_model_path("smollm2.gguf", buf, sizeof buf);
  struct ty_shape *sh = calloc(1, sizeof *sh);
  struct ty_plan *p = calloc(1, sizeof *p);
  struct ty_plan_device dev[1];
  struct ty_plan_settings set;
  ty_err err;
  int n = 0;
  if (path == NULL || sh == NULL || p == NULL) {
    CHECK(path != NULL || !test_models_required());
    free(sh);
    free(p);
    return;
  }
  CHECK(ty_shape_from_file(path, sh, &err) == TY_OK);
  CHECK(ty_plan_parse_devices("cpu=80M", dev, 1, &n, &err) == TY_OK);
  ty_plan_settings_default(&set);
  set.num_ctx = 256;
  CHECK(ty_plan_make(sh, dev, n, &set, p, &err) == TY_OK);
  CHECK(!p->fits);
  CHECK(p->alt.quant != NULL);
  if (p->alt.quant != NULL) {
    CHECK(p->alt.quant_weights < sh->weights);
    CHECK(p->alt.quant_weights + p->total.kv + p->total.compute + p->total.logits + p->total.host
          <= (80ull << 20));
  }
  /* with room for the file itself nothing lighter is offered */
  n = 0;
  CHECK(ty_plan_parse_devices("cpu=4G", dev, 1, &n, &err) == TY_OK);
  CHECK(ty_plan_make(sh, dev, n, &set, p, &err) == TY_OK && p->fits && p->alt.quant == NULL);
  free(sh);
  free(p);
}


int main(void) {
  test_hand();
  test_alt_quant();
  test_devices();
  test_header_only();
  test_header_corpus();
  test_properties();
  test_real("smollm2.gguf");
  test_real("gemma3.gguf");
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
