/*
 * test_quantize.c: tycho's quantizer against llama.cpp's on SmolLM2
 * (tests/fixtures/quality/quant_ref.txt, from scripts/gen_quant_ref.py):
 * the F16 conversion of the cached Q4_1 file byte for byte, the per-tensor
 * type choice of every file type (dry runs), and Q8_0, Q4_K_M, Q3_K_S and
 * Q6_K byte for byte from that F16 file. Then metadata, and errors that
 * leave no file behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/quantize.h"
#include "tensor/tensor.h"
#include "testutil.h"

static int failures = 0;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c); } } while (0)

struct ref { char ft[16], name[96], type[16]; char digest[17]; };
static struct ref *refs;
static int n_refs;


/* wsum64, as scripts/gen_quant_ref.py defines it. */
static void wsum64(const uint8_t *p, uint64_t n, char out[17]) {
  uint64_t h = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    for (int k = 7; k >= 0; k--) w = w << 8 | p[i + k];
    h += w * (2 * (i / 8) + 1);
  }
  if (i < n) {
    uint64_t w = 0;
    for (uint64_t k = n; k > i; k--) w = w << 8 | p[k - 1];
    h += w * (2 * (i / 8) + 1);
  }
  snprintf(out, 17, "%016llx", (unsigned long long)(h ^ n));
}


static void load_refs(void) {
  char line[512];
  FILE *f = fopen(TYCHO_SOURCE_DIR "/tests/fixtures/quality/quant_ref.txt", "r");
  if (f == NULL) {
    fprintf(stderr, "cannot open quant_ref.txt\n");
    exit(1);
  }
  refs = calloc(8192, sizeof *refs);
  while (fgets(line, sizeof line, f) != NULL && n_refs < 8192) {
    struct ref *r = &refs[n_refs];
    int ft;
    if (sscanf(line, "tensor %15s %95s %15s %16s", r->ft, r->name, r->type, r->digest) == 4) n_refs++;
    else if (sscanf(line, "file_type %15s %d", r->ft, &ft) == 2) {
      snprintf(r->name, sizeof r->name, "general.file_type");
      snprintf(r->type, sizeof r->type, "%d", ft);
      n_refs++;
    }
  }
  fclose(f);
}


static const struct ref *find_ref(const char *ft, const char *name) {
  for (int i = 0; i < n_refs; i++)
    if (strcmp(refs[i].ft, ft) == 0 && strcmp(refs[i].name, name) == 0) return &refs[i];
  return NULL;
}


static int count_refs(const char *ft) {
  int n = 0;
  for (int i = 0; i < n_refs; i++) n += strcmp(refs[i].ft, ft) == 0 && strcmp(refs[i].name, "general.file_type") != 0;
  return n;
}


/* Every tensor of path has ft's type and bytes; the file type matches. */
static void check_file(const char *path, const char *ft) {
  ty_gguf *g = NULL;
  ty_err err;
  uint32_t file_type = 0;
  int bad_type = 0, bad_bytes = 0;
  if (ty_gguf_open(path, &g, &err) != TY_OK) {
    fprintf(stderr, "%s: %s\n", ft, err.msg);
    failures++;
    return;
  }
  CHECK(ty_gguf_n_tensors(g) == (uint64_t)count_refs(ft));
  CHECK(ty_gguf_get_u32(g, "general.file_type", &file_type));
  CHECK(find_ref(ft, "general.file_type") && (int)file_type == atoi(find_ref(ft, "general.file_type")->type));
  for (uint64_t i = 0; i < ty_gguf_n_tensors(g); i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    const struct ref *r = find_ref(ft, t->name);
    char d[17];
    if (r == NULL || strcmp(r->type, ty_qtype_get(t->type)->name) != 0) {
      if (bad_type++ < 5)
        fprintf(stderr, "%s: %s is %s, llama.cpp %s\n", ft, t->name, ty_qtype_get(t->type)->name,
                r ? r->type : "(absent)");
      continue;
    }
    wsum64(t->data, t->nbytes, d);
    if (strcmp(d, r->digest) != 0 && bad_bytes++ < 5)
      fprintf(stderr, "%s: %s (%s) bytes differ from llama.cpp's\n", ft, t->name, r->type);
  }
  if (bad_type || bad_bytes)
    fprintf(stderr, "%s: %d tensors of another type, %d with other bytes\n", ft, bad_type, bad_bytes);
  CHECK(bad_type == 0);
  CHECK(bad_bytes == 0);
  ty_gguf_close(g);
}


struct dry { const char *ft; int n, bad; };

static int dry_progress(void *ud, int i, int n, const char *name, int from, int to) {
  struct dry *d = ud;
  const struct ref *r = find_ref(d->ft, name);
  (void)i; (void)n; (void)from;
  d->n++;
  if (r == NULL || strcmp(r->type, ty_qtype_get(to)->name) != 0) {
    if (d->bad++ < 5)
      fprintf(stderr, "%s (dry run): %s -> %s, llama.cpp %s\n", d->ft, name, ty_qtype_get(to)->name,
              r ? r->type : "(absent)");
  }
  return 0;
}


int main(void) {
  char buf[4096], dir[] = "/tmp/tycho_test_quantize_XXXXXX", f16[4200], out[4200];
  const char *src = test_model_path("SmolLM2-135M-Instruct.Q4_1.gguf", buf, sizeof buf);
  const char *const *names = ty_quant_ftype_names();
  ty_err err;

  CHECK(ty_quant_ftype("q4_k_m") == 15 && ty_quant_ftype("Q4_K") == 15 && ty_quant_ftype("Q8_0") == 7);
  CHECK(ty_quant_ftype("IQ2_XS") == -1);
  CHECK(ty_quantize("/nonexistent.gguf", "/tmp/x.gguf", "Q2_K", 1, NULL, NULL, &err) == TY_ERR_IO);
  CHECK(ty_quantize("/nonexistent.gguf", "/tmp/x.gguf", "Q9", 1, NULL, NULL, &err) == TY_ERR_ARG &&
        strstr(err.msg, "unknown type 'Q9'") != NULL);
  if (src == NULL) {
    fprintf(stderr, "skip: SmolLM2 is not in the cache\n");
    return test_models_required() ? 1 : TEST_SKIP;
  }
  load_refs();
  CHECK(n_refs > 4000);
  if (mkdtemp(dir) == NULL) return 1;
  snprintf(f16, sizeof f16, "%s/f16.gguf", dir);

  /* Q4_1 -> F16: dequantized exactly, and every key kept */
  CHECK(ty_quantize(src, f16, "F16", 2, NULL, NULL, &err) == TY_OK);
  check_file(f16, "F16_FROM_Q4_1");
  {
    ty_gguf *a = NULL, *b = NULL;
    struct ty_gguf_str s1, s2;
    uint32_t qv = 0;
    CHECK(ty_gguf_open_header(src, &a, &err) == TY_OK && ty_gguf_open_header(f16, &b, &err) == TY_OK);
    if (a != NULL && b != NULL) {
      CHECK(ty_gguf_n_kv(b) >= ty_gguf_n_kv(a));
      CHECK(ty_gguf_get_str(a, "tokenizer.chat_template", &s1) && ty_gguf_get_str(b, "tokenizer.chat_template", &s2) &&
            s1.len == s2.len && memcmp(s1.ptr, s2.ptr, s1.len) == 0);
      CHECK(ty_gguf_get_arr(b, "tokenizer.ggml.tokens") != NULL &&
            ty_gguf_get_arr(b, "tokenizer.ggml.tokens")->v.arr.n == 49152);
      CHECK(ty_gguf_get_u32(b, "general.quantization_version", &qv) && qv == 2);
    }
    ty_gguf_close(a);
    ty_gguf_close(b);
  }

  /* every file type's choices, without writing */
  for (int i = 0; names[i] != NULL; i++) {
    struct dry d = { .ft = names[i] };
    if (count_refs(names[i]) == 0) continue;        /* BF16, F32: not in the fixture */
    CHECK(ty_quantize(f16, NULL, names[i], 1, dry_progress, &d, &err) == TY_OK);
    CHECK(d.n == count_refs(names[i]) && d.bad == 0);
  }

  /* and these byte for byte */
  static const char *const full[] = { "Q8_0", "Q4_K_M", "Q3_K_S", "Q6_K" };
  for (int i = 0; i < 4; i++) {
    snprintf(out, sizeof out, "%s/%s.gguf", dir, full[i]);
    CHECK(ty_quantize(f16, out, full[i], 2, NULL, NULL, &err) == TY_OK);
    check_file(out, full[i]);
    remove(out);
  }

  /* a failure leaves nothing: the output's folder does not exist */
  snprintf(out, sizeof out, "%s/no/such/dir/x.gguf", dir);
  CHECK(ty_quantize(f16, out, "Q8_0", 1, NULL, NULL, &err) == TY_ERR_IO);
  remove(f16);
  CHECK(rmdir(dir) == 0);                           /* empty: no .part left behind */
  free(refs);
  if (failures) fprintf(stderr, "%d failed\n", failures);
  return failures ? 1 : 0;
}
