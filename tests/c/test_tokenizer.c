/*
 * test_tokenizer.c: the tokenizers against llama.cpp. Every vector of every
 * file in tests/fixtures/tokenizer/ (llama.cpp's own), then the fixtures
 * scripts/gen_tok_fixtures.py recorded with llama-cpp-python in
 * tests/fixtures/tok/ (ids per add/parse-special flags, detokenize, pieces,
 * EOG sets, pre-tokenizer variants, UTF-8 stream cases), malformed
 * vocabularies, and a speed figure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "text/tokenizer.h"
#include "testutil.h"

static int fails;
static int skipped_models;

#define CHECK(c, ...)                                                   \
  do {                                                                  \
    if (!(c)) {                                                         \
      fails++;                                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);              \
      fprintf(stderr, __VA_ARGS__);                                     \
      fputc('\n', stderr);                                              \
    }                                                                   \
  } while (0)


/* Decodes hex (or "-" for empty) into a malloc'd buffer. */
static char *unhex(const char *h, size_t *len) {
  size_t n = 0, i;
  char *out;
  while (h[n] && h[n] != ' ' && h[n] != '\n')
    n++;
  out = malloc(n / 2 + 1);
  if (n == 1 && h[0] == '-')
    n = 0;
  for (i = 0; i + 1 < n; i += 2) {
    unsigned v;
    sscanf(h + i, "%2x", &v);
    out[i / 2] = (char)v;
  }
  *len = n / 2;
  out[*len] = '\0';
  return out;
}


/* Space-separated integers up to the end of the line into ids (cap). */
static size_t parse_ids(const char *s, int32_t *ids, size_t cap) {
  size_t n = 0;
  char *end;
  for (;;) {
    long v;
    while (*s == ' ')
      s++;
    if (*s == '\n' || *s == '\0')
      break;
    v = strtol(s, &end, 10);
    if (end == s)
      break;
    if (n < cap)
      ids[n] = (int32_t)v;
    n++;
    s = end;
  }
  return n;
}


static void show_ids(const char *what, const int32_t *ids, size_t n) {
  size_t i;
  fprintf(stderr, "  %s:", what);
  for (i = 0; i < n && i < 40; i++)
    fprintf(stderr, " %d", ids[i]);
  fprintf(stderr, n > 40 ? " ...\n" : "\n");
}


static void show_text(const char *s, size_t n) {
  size_t i;
  fprintf(stderr, "  text: '");
  for (i = 0; i < n && i < 80; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f) fputc(c, stderr);
    else fprintf(stderr, "\\x%02x", c);
  }
  fprintf(stderr, "'%s\n", n > 80 ? "..." : "");
}


/* Encodes text and compares with want; returns 1 when equal. */
static int check_encode(const ty_tok *t, const char *name, const char *text, size_t len,
                        unsigned flags, const int32_t *want, size_t n_want) {
  int32_t *ids = NULL;
  size_t n = 0;
  ty_err err;
  ty_status st = ty_tok_encode(t, text, len, flags, &ids, &n, &err);
  int ok = st == TY_OK && n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
  if (!ok) {
    fails++;
    fprintf(stderr, "FAIL %s: encode (flags %u) differs from llama.cpp%s%s\n", name, flags,
            st != TY_OK ? ": " : "", st != TY_OK ? err.msg : "");
    show_text(text, len);
    show_ids("want", want, n_want);
    show_ids("got ", ids, n);
  }
  free(ids);
  return ok;
}


/* {======================================================================
** llama.cpp's vocab files and vectors
** ====================================================================== */

#define SEP "\n__ggml_vocab_test__\n"

static void run_llama_vectors(const char *dir, const char *gguf_name) {
  char path[2100], inp_path[2200], out_path[2200];
  char *inp, *outs, *s, *o;
  size_t inp_len, out_len, n_vec = 0, n_ok = 0;
  int32_t *want = malloc(1 << 20);
  ty_tok *t = NULL;
  ty_err err;
  snprintf(path, sizeof path, "%s/%s", dir, gguf_name);
  snprintf(inp_path, sizeof inp_path, "%s.inp", path);
  snprintf(out_path, sizeof out_path, "%s.out", path);
  inp = test_read_file(inp_path, &inp_len);
  outs = test_read_file(out_path, &out_len);
  CHECK(inp != NULL && outs != NULL, "%s: missing .inp or .out", path);
  if (ty_tok_open(path, &t, &err) != TY_OK) {
    CHECK(0, "%s: %s", gguf_name, err.msg);
    goto done;
  }
  if (inp == NULL || outs == NULL)
    goto done;
  s = inp;
  o = outs;
  for (;;) {
    char *e = strstr(s, SEP), *ol;
    size_t n_want;
    if (e == NULL)
      break;
    ol = strchr(o, '\n');
    CHECK(ol != NULL, "%s: fewer .out lines than .inp strings", gguf_name);
    if (ol == NULL)
      break;
    n_want = parse_ids(o, want, (1 << 20) / sizeof *want);
    n_vec++;
    n_ok += (size_t)check_encode(t, gguf_name, s, (size_t)(e - s), 0, want, n_want);
    s = e + strlen(SEP);
    o = ol + 1;
  }
  CHECK(*o == '\0', "%s: more .out lines than .inp strings", gguf_name);
  printf("%s: %zu/%zu vectors match llama.cpp\n", gguf_name, n_ok, n_vec);
done:
  ty_tok_free(t);
  free(inp);
  free(outs);
  free(want);
}


static void test_llama_dir(void) {
  char dir[1024];
  DIR *d;
  struct dirent *de;
  int n = 0;
  snprintf(dir, sizeof dir, "%s/tests/fixtures/tokenizer", TYCHO_SOURCE_DIR);
  d = opendir(dir);
  CHECK(d != NULL, "cannot open %s", dir);
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l > 5 && strcmp(de->d_name + l - 5, ".gguf") == 0) {
      run_llama_vectors(dir, de->d_name);
      n++;
    }
  }
  closedir(d);
  CHECK(n >= 5, "only %d vocab files in %s", n, dir);
}


/* }====================================================================== */


/* {======================================================================
** Fixtures recorded with llama-cpp-python
** ====================================================================== */

/* Rewrites model through tycho's GGUF writer with tokenizer.ggml.merges cut
   to its first n_merges entries and tokenizer.ggml.pre set to pre (as the
   generator did with Python's writer), then opens the copy. */
static ty_status open_cut_variant(const char *model, const char *pre, uint64_t n_merges,
                                  ty_tok **out, ty_err *err) {
  char tmp[256];
  ty_gguf *g = NULL;
  ty_gguf_writer *w;
  ty_status st;
  uint64_t i;
  *out = NULL;
  if ((st = ty_gguf_open(model, &g, err)) != TY_OK)
    return st;
  w = ty_gguf_writer_new();
  for (i = 0; i < ty_gguf_n_kv(g); i++) {
    const struct ty_gguf_kv *kv = ty_gguf_kv_at(g, i);
    struct ty_gguf_value v = kv->value;
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
    if (strcmp(key, "tokenizer.ggml.merges") == 0 && v.v.arr.n > n_merges)
      v.v.arr.n = n_merges;
    if (strcmp(key, "tokenizer.ggml.pre") == 0)
      ty_gguf_writer_set_str(w, key, pre);
    else
      ty_gguf_writer_set_value(w, key, &v);
  }
  ty_gguf_close(g);
  snprintf(tmp, sizeof tmp, "/tmp/tycho_test_tok_variant_%d.gguf", (int)getpid());
  st = ty_gguf_writer_write(w, tmp, err);
  ty_gguf_writer_free(w);
  if (st == TY_OK)
    st = ty_tok_open(tmp, out, err);
  remove(tmp);
  return st;
}


static void run_fixture(const char *path, const char *fname) {
  size_t len, n_cases = 0, n_round = 0;
  char *data = test_read_file(path, &len), *line, *next;
  char model[1024] = "", pre[64] = "";
  int have_pre = 0;
  long cut_merges = -1;
  ty_tok *t = NULL;
  int32_t *want = malloc(1 << 22), *last = malloc(1 << 22);
  size_t n_last = 0;
  size_t cap = (1 << 22) / sizeof(int32_t);
  char *text = NULL;
  size_t text_len = 0;
  unsigned flags = 0;
  ty_err err;
  CHECK(data != NULL, "cannot read %s", path);
  if (data == NULL)
    goto done;
  for (line = data; *line; line = next) {
    next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    if (line[0] == 'V') {
      char name[512], buf[1024];
      sscanf(line + 2, "%511s", name);
      if (strncmp(name, "ggml-vocab-", 11) == 0) {
        snprintf(model, sizeof model, "%s/tests/fixtures/tokenizer/%s", TYCHO_SOURCE_DIR, name);
      } else if (test_model_path(name, buf, sizeof buf) != NULL) {
        snprintf(model, sizeof model, "%s", buf);
      } else {
        printf("%s: %s not in the model cache, skipped\n", fname, name);
        skipped_models++;
        goto done;
      }
    } else if (line[0] == 'P') {
      sscanf(line + 2, "%63s", pre);
      have_pre = 1;
    } else if (line[0] == 'M') {
      cut_merges = strtol(line + 2, NULL, 10);
    } else if (line[0] == 'N') {
      ty_gguf *g = NULL;
      long nv, bos, eos, ab, ae;
      if (cut_merges >= 0) {
        if (open_cut_variant(model, pre, (uint64_t)cut_merges, &t, &err) != TY_OK) {
          CHECK(0, "%s: %s", fname, err.msg);
          goto done;
        }
      } else if (ty_gguf_open(model, &g, &err) != TY_OK) {
        CHECK(0, "%s: %s", fname, err.msg);
        goto done;
      }
      if (g != NULL &&
          ty_tok_from_gguf_pre(g, have_pre ? pre : NULL, strlen(pre), &t, &err) != TY_OK) {
        CHECK(0, "%s: %s", fname, err.msg);
        ty_gguf_close(g);
        goto done;
      }
      ty_gguf_close(g);          /* the tokenizer must not need it any more */
      sscanf(line + 2, "%ld %ld %ld %ld %ld", &nv, &bos, &eos, &ab, &ae);
      CHECK(ty_tok_n_vocab(t) == nv, "%s: n_vocab %d, llama.cpp %ld", fname, ty_tok_n_vocab(t), nv);
      CHECK(ty_tok_bos(t) == bos, "%s: bos %d, llama.cpp %ld", fname, ty_tok_bos(t), bos);
      CHECK(ty_tok_eos(t) == eos, "%s: eos %d, llama.cpp %ld", fname, ty_tok_eos(t), eos);
      CHECK(ty_tok_add_bos(t) == ab, "%s: add_bos %d, llama.cpp %ld", fname, ty_tok_add_bos(t), ab);
      CHECK(ty_tok_add_eos(t) == ae, "%s: add_eos %d, llama.cpp %ld", fname, ty_tok_add_eos(t), ae);
    } else if (line[0] == 'E' && t != NULL) {
      const int32_t *eog;
      size_t n = parse_ids(line + 1, want, cap), m = ty_tok_eog_ids(t, &eog);
      int32_t id;
      CHECK(m == n && memcmp(eog, want, n * sizeof *want) == 0,
            "%s: EOG set differs from llama.cpp", fname);
      if (m != n || memcmp(eog, want, n * sizeof *want) != 0) {
        show_ids("want", want, n);
        show_ids("got ", eog, m);
      }
      for (id = -1; id <= ty_tok_n_vocab(t); id++) {
        size_t k;
        int in = 0;
        for (k = 0; k < n; k++)
          in |= want[k] == id;
        if (ty_tok_is_eog(t, id) != in) {
          CHECK(0, "%s: is_eog(%d) is %d, llama.cpp %d", fname, id, ty_tok_is_eog(t, id), in);
          break;
        }
      }
    } else if (line[0] == 'T' && t != NULL) {
      free(text);
      flags = (unsigned)strtoul(line + 2, NULL, 10);
      text = unhex(strchr(line + 2, ' ') + 1, &text_len);
    } else if (line[0] == 'I' && t != NULL) {
      size_t n = parse_ids(line + 1, want, cap);
      n_cases++;
      check_encode(t, fname, text, text_len, flags, want, n);
      memcpy(last, want, n * sizeof *want);
      n_last = n;
    } else if (line[0] == 'D' && t != NULL) {
      int rs = line[2] - '0', us = line[4] - '0';
      size_t wl, gl;
      char *w = unhex(line + 6, &wl), *got = NULL;
      ty_status st = ty_tok_decode(t, last, n_last, rs, us, &got, &gl, &err);
      CHECK(st == TY_OK && gl == wl && memcmp(got, w, wl) == 0,
            "%s: detokenize (remove_special %d, unparse_special %d) differs from llama.cpp",
            fname, rs, us);
      if (st != TY_OK || gl != wl || memcmp(got, w, wl) != 0) {
        show_text(w, wl);
        show_text(got ? got : "", got ? gl : 0);
      }
      /* a round trip wherever llama.cpp's own is one */
      if (rs == 0 && us == 0 && flags == 0 && wl == text_len && memcmp(w, text, wl) == 0)
        n_round += st == TY_OK && gl == text_len && memcmp(got, text, gl) == 0;
      free(w);
      free(got);
    } else if (line[0] == 'K' && t != NULL) {
      long id;
      int sp;
      char *h, *w, buf[1024];
      size_t wl, gl;
      id = strtol(line + 2, &h, 10);
      sp = (int)strtol(h, &h, 10);
      w = unhex(h + 1, &wl);
      gl = ty_tok_piece(t, (int32_t)id, sp, buf, sizeof buf);
      CHECK(gl == wl && memcmp(buf, w, wl) == 0,
            "%s: piece of %ld (special %d) differs from llama.cpp",
            fname, id, sp);
      free(w);
    }
  }
  printf("%s: %zu encode cases checked", fname, n_cases);
  printf(n_round > 0 ? ", %zu round trips as llama.cpp\n" : "\n", n_round);
done:
  ty_tok_free(t);
  free(text);
  free(data);
  free(want);
  free(last);
}


static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}


static void test_fixtures(void) {
  char dir[1024], path[1400];
  DIR *d;
  struct dirent *de;
  char *names[256];
  int n = 0, i;
  snprintf(dir, sizeof dir, "%s/tests/fixtures/tok", TYCHO_SOURCE_DIR);
  d = opendir(dir);
  CHECK(d != NULL, "cannot open %s", dir);
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL && n < 256) {
    size_t l = strlen(de->d_name);
    if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0 &&
        strcmp(de->d_name, "utf8_stream.txt") != 0)
      names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_name);
  CHECK(n >= 3, "only %d fixtures in %s", n, dir);
  for (i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    run_fixture(path, names[i]);
    free(names[i]);
  }
}


/* The streaming decoder against Python's bytes.decode(errors="replace"). */
static void test_utf8_stream(void) {
  char path[1024], *data, *line, *next, out[4096];
  size_t len, w = 0, n_cases = 0;
  ty_detok d;
  snprintf(path, sizeof path, "%s/tests/fixtures/tok/utf8_stream.txt", TYCHO_SOURCE_DIR);
  data = test_read_file(path, &len);
  CHECK(data != NULL, "cannot read %s", path);
  if (data == NULL)
    return;
  for (line = data; *line; line = next) {
    next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    if (line[0] == 'S') {
      const char *p = line + 2;
      memset(&d, 0, sizeof d);
      w = 0;
      while (*p && *p != '\n') {
        size_t cl;
        char *chunk = unhex(p, &cl);
        w += ty_detok_push(&d, chunk, cl, out + w);
        free(chunk);
        while (*p && *p != ' ' && *p != '\n') p++;
        while (*p == ' ') p++;
      }
      w += ty_detok_flush(&d, out + w);
    } else if (line[0] == 'O') {
      size_t wl;
      char *want = unhex(line + 2, &wl);
      n_cases++;
      CHECK(w == wl && memcmp(out, want, wl) == 0,
            "utf8 stream case %zu differs from Python", n_cases);
      if (w != wl || memcmp(out, want, wl) != 0) {
        show_text(want, wl);
        show_text(out, w);
      }
      free(want);
    }
  }
  printf("utf8_stream: %zu cases\n", n_cases);
  free(data);
}


/* }====================================================================== */


/* {======================================================================
** Malformed vocabularies and API edges
** ====================================================================== */

static char tmp_path[512];

/* Writes w to a temporary file and tries to build a tokenizer from it;
   returns the status, err filled. */
static ty_status try_vocab(ty_gguf_writer *w, ty_err *err) {
  ty_tok *t = NULL;
  ty_status st = ty_gguf_writer_write(w, tmp_path, err);
  ty_gguf_writer_free(w);
  if (st != TY_OK)
    return TY_ERR_IO;
  st = ty_tok_open(tmp_path, &t, err);
  if (st == TY_OK) {
    int32_t *ids = NULL;
    size_t n;
    ty_tok_encode(t, "hello world", 11, TY_TOK_ADD_SPECIAL | TY_TOK_PARSE_SPECIAL, &ids, &n, err);
    free(ids);
  }
  ty_tok_free(t);
  return st;
}


static ty_gguf_writer *base_vocab(const char *model, int n_tokens) {
  static const char *toks[] = { "<unk>", "<s>", "</s>", "\xe2\x96\x81h", "e", "l", "o",
                                "\xe2\x96\x81w",
                                "r", "d", "h", "w", "\xe2\x96\x81", "ll", "lo" };
  float scores[15];
  int32_t types[15];
  int i;
  ty_gguf_writer *w = ty_gguf_writer_new();
  for (i = 0; i < 15; i++) {
    scores[i] = (float)-i;
    types[i] = i < 3 ? 3 : 1;
  }
  if (model != NULL)
    ty_gguf_writer_set_str(w, "tokenizer.ggml.model", model);
  ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n_tokens);
  ty_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TY_GGUF_FLOAT32, scores, (uint64_t)n_tokens);
  ty_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TY_GGUF_INT32, types, (uint64_t)n_tokens);
  return w;
}


static void expect_fail(ty_gguf_writer *w, ty_status code, const char *what) {
  ty_err err;
  ty_status st = try_vocab(w, &err);
  CHECK(st == code, "%s: status %d, want %d (%s)", what, st, code, err.msg);
  if (st != TY_OK) {
    CHECK(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL, "%s: message '%s'", what, err.msg);
    CHECK(strstr(err.msg, tmp_path) != NULL, "%s: message '%s' does not name the file",
          what, err.msg);
  }
}


static void test_errors(void) {
  ty_gguf_writer *w;
  ty_err err;
  ty_tok *t = NULL;
  static const char *merges_bad[] = { "l l", "lo" };
  static const char *dup[] = { "<unk>", "a", "a" };
  snprintf(tmp_path, sizeof tmp_path, "/tmp/tycho_test_tok_%d.gguf", (int)getpid());

  expect_fail(base_vocab(NULL, 15), TY_ERR_FORMAT, "no tokenizer.ggml.model");
  expect_fail(base_vocab("bert", 15), TY_ERR_UNSUPPORTED, "bert model");
  expect_fail(base_vocab("t5", 15), TY_ERR_UNSUPPORTED, "t5 model");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TY_GGUF_INT32, (int32_t[]){ 1, 1 }, 2);
  expect_fail(w, TY_ERR_FORMAT, "short token_type");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TY_GGUF_UINT8, "abc", 3);
  expect_fail(w, TY_ERR_FORMAT, "scores of the wrong type");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", TY_GGUF_UINT32, (uint32_t[]){ 1, 2 }, 2);
  expect_fail(w, TY_ERR_FORMAT, "tokens not strings");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", NULL, 0);
  expect_fail(w, TY_ERR_FORMAT, "no tokens");
  w = base_vocab("llama", 3);
  ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", dup, 3);
  expect_fail(w, TY_ERR_FORMAT, "duplicate token");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_str(w, "tokenizer.ggml.bos_token_id", "1");
  expect_fail(w, TY_ERR_FORMAT, "string bos id");
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_u32(w, "tokenizer.ggml.add_bos_token", 1);
  expect_fail(w, TY_ERR_FORMAT, "integer add_bos_token");
  w = base_vocab("llama", 1);      /* default bos 1 is out of range, add_bos defaults true */
  expect_fail(w, TY_ERR_FORMAT, "add_bos without a bos");
  w = base_vocab("gpt2", 15);
  ty_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
  expect_fail(w, TY_ERR_FORMAT, "gpt2 without merges");
  w = base_vocab("gpt2", 15);
  ty_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
  ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges_bad, 2);
  expect_fail(w, TY_ERR_FORMAT, "merge without a space");
  w = base_vocab("gpt2", 15);
  ty_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
  ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges_bad, 1);
  expect_fail(w, TY_ERR_UNSUPPORTED, "unknown pre-tokenizer");
  /* a well-formed tiny SPM vocabulary loads; an out-of-range bos id keeps the default */
  w = base_vocab("llama", 15);
  ty_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 99);
  CHECK(try_vocab(w, &err) == TY_OK, "tiny vocab: %s", err.msg);
  CHECK(ty_tok_open(tmp_path, &t, &err) == TY_OK, "tiny vocab: %s", err.msg);
  if (t != NULL) {
    char buf[4] = { 'x', 'x', 'x', 'x' };
    CHECK(ty_tok_bos(t) == 1, "bos %d", ty_tok_bos(t));
    /* a short buffer: the full length back, nothing written past size */
    CHECK(ty_tok_piece(t, 3, 0, buf, 1) == 2 && buf[0] == ' ' && buf[1] == 'x',
          "short piece buffer");
    CHECK(ty_tok_piece(t, 0, 0, buf, 4) == 0 && ty_tok_piece(t, 0, 1, buf, 4) == 5,
          "unknown token piece");
    CHECK(ty_tok_piece(t, -1, 1, buf, 4) == 0 && ty_tok_piece(t, 15, 1, buf, 4) == 0,
          "piece out of range");
    CHECK(!ty_tok_is_eog(t, -1) && ty_tok_is_eog(t, 2), "eog of </s>");
  }
  ty_tok_free(t);
  ty_tok_free(NULL);
  CHECK(ty_tok_open("/nonexistent/x.gguf", &t, &err) != TY_OK && t == NULL, "missing file");
  remove(tmp_path);
}


/* }====================================================================== */


/* Tokens per second encoding the file TYCHO_TOK_BENCH names (reported, not
   judged: a speed figure to set beside llama-cpp-python's). */
static void bench(const char *file, const char *text_path) {
  char path[1024];
  ty_tok *t = NULL;
  ty_err err;
  size_t len = 0, n = 0;
  char *text;
  int32_t *ids = NULL;
  struct timespec a, b;
  double s;
  if (test_model_path(file, path, sizeof path) == NULL || ty_tok_open(path, &t, &err) != TY_OK)
    return;
  text = test_read_file(text_path, &len);
  if (text == NULL) {
    ty_tok_free(t);
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &a);
  CHECK(ty_tok_encode(t, text, len, 0, &ids, &n, &err) == TY_OK, "bench: %s", err.msg);
  clock_gettime(CLOCK_MONOTONIC, &b);
  s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
  printf("bench %s: %zu bytes -> %zu tokens in %.3f s (%.0f tokens/s)\n", file, len, n, s,
         (double)n / s);
  free(ids);
  free(text);
  ty_tok_free(t);
}


int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  test_llama_dir();
  test_fixtures();
  test_utf8_stream();
  test_errors();
  if (getenv("TYCHO_TOK_BENCH") != NULL) {
    bench("smollm2.gguf", getenv("TYCHO_TOK_BENCH"));
    bench("gemma3.gguf", getenv("TYCHO_TOK_BENCH"));
  }
  if (fails > 0) {
    fprintf(stderr, "%d failures\n", fails);
    return 1;
  }
  if (skipped_models > 0) {
    if (test_models_required()) {
      fprintf(stderr, "%d fixtures need models that are not in the cache\n", skipped_models);
      return 1;
    }
    return TEST_SKIP;
  }
  printf("ok\n");
  return 0;
}
