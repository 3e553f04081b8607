/*
 * fuzz_tokenizer.c: libFuzzer target for the tokenizer. The input is split in
 * two at its last "\n--text--\n": the front is a GGUF file the vocabulary is
 * loaded from (or, when it does not parse, a vocabulary is built from its
 * bytes), the rest is text that is encoded with every flag combination,
 * decoded whole and piece by piece through the streaming decoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "text/tokenizer.h"

static volatile uint64_t sink;
static const char marker[] = "\n--text--\n";


/* Valid UTF-8 check for the decoder's output: it must always be valid. */
static int utf8_ok(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t k, need;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
    else return 0;
    for (k = 1; k <= need; k++) {
      if (i + k >= n || (p[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    i += need + 1;
  }
  return 1;
}


/* Builds a vocabulary through the GGUF writer from tokens cut out of the fuzz
   bytes (NUL-separated), so the loader also sees well-formed files with odd
   content; returns NULL when nothing loads. */
static ty_tok *vocab_from_bytes(const uint8_t *d, size_t n) {
  ty_gguf_writer *w;
  ty_gguf *g = NULL;
  ty_tok *t = NULL;
  ty_err err;
  char *toks[64], *merges[64];
  char path[64];
  size_t nt = 0, nm = 0, i, s = 0;
  int bpe = n > 0 && (d[0] & 1);
  if (n < 2)
    return NULL;
  for (i = 1; i <= n && nt < 64; i++) {
    if (i == n || d[i] == 0) {
      if (i > s + 1) {
        toks[nt] = malloc(i - s);
        memcpy(toks[nt], d + s + 1, i - s - 1);
        toks[nt][i - s - 1] = '\0';
        nt++;
      }
      s = i;
    }
  }
  for (i = 0; i + 1 < nt && nm < 64; i++) {
    size_t a = strlen(toks[i]), b = strlen(toks[i + 1]);
    merges[nm] = malloc(a + b + 2);
    memcpy(merges[nm], toks[i], a);
    merges[nm][a] = ' ';
    memcpy(merges[nm] + a + 1, toks[i + 1], b + 1);
    nm++;
  }
  w = ty_gguf_writer_new();
  if (w != NULL && nt > 0) {
    ty_gguf_writer_set_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    ty_gguf_writer_set_str(w, "tokenizer.ggml.pre", (d[0] & 2) ? "llama-bpe" : "gpt-2");
    ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, nt);
    if (bpe)
      ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, nm);
    ty_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    ty_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", d[0] % (nt + 1));
    snprintf(path, sizeof path, "/tmp/fuzz_tok_%d.gguf", (int)getpid());
    if (ty_gguf_writer_write(w, path, &err) == TY_OK && ty_gguf_open(path, &g, &err) == TY_OK) {
      if (ty_tok_from_gguf(g, &t, &err) != TY_OK &&
          (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL))
        abort();
      ty_gguf_close(g);
    }
    remove(path);
  }
  ty_gguf_writer_free(w);
  for (i = 0; i < nt; i++) free(toks[i]);
  for (i = 0; i < nm; i++) free(merges[i]);
  return t;
}


static void exercise(const ty_tok *t, const char *text, size_t len) {
  unsigned flags;
  for (flags = 0; flags < 4; flags++) {
    int32_t *ids = NULL;
    size_t n = 0, k, w = 0, cap = 64;
    char *out = NULL, *stream;
    size_t out_len;
    ty_detok d;
    ty_err err;
    if (ty_tok_encode(t, text, len, flags, &ids, &n, &err) != TY_OK)
      continue;
    for (k = 0; k < n; k++)
      if (ids[k] < 0 || ids[k] >= ty_tok_n_vocab(t))
        abort();
    if (ty_tok_decode(t, ids, n, flags & 1, flags & 2, &out, &out_len, &err) == TY_OK) {
      if (out[out_len] != '\0')
        abort();
      free(out);
    }
    memset(&d, 0, sizeof d);
    for (k = 0; k < n; k++) {
      char buf[256];
      size_t l = ty_tok_piece(t, ids[k], (int)(flags & 2), buf, sizeof buf);
      if (l > sizeof buf)
        continue;
      cap += TY_DETOK_OUT_MAX(l);
    }
    stream = malloc(cap + 8);
    for (k = 0; k < n; k++) {
      char buf[256];
      size_t l = ty_tok_piece(t, ids[k], (int)(flags & 2), buf, sizeof buf);
      if (l > sizeof buf)
        continue;
      w += ty_detok_push(&d, buf, l, stream + w);
    }
    w += ty_detok_flush(&d, stream + w);
    if (!utf8_ok((const unsigned char *)stream, w))
      abort();
    free(stream);
    free(ids);
    sink += n;
  }
  sink += (uint64_t)ty_tok_is_eog(t, ty_tok_eos(t)) + (uint64_t)ty_tok_bos(t);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *split = NULL, *p;
  size_t head, ml = sizeof marker - 1;
  ty_gguf *g = NULL;
  ty_tok *t = NULL;
  ty_err err;
  for (p = data; p + ml <= data + size; p++)
    if (memcmp(p, marker, ml) == 0)
      split = p;
  head = split ? (size_t)(split - data) : size;
  if (ty_gguf_open_mem(data, head, "fuzz.gguf", &g, &err) == TY_OK) {
    if (ty_tok_from_gguf(g, &t, &err) != TY_OK) {
      if (t != NULL || err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL)
        abort();
    }
    ty_gguf_close(g);            /* the tokenizer keeps copies */
  } else {
    t = vocab_from_bytes(data, head);
  }
  if (t != NULL) {
    const char *text = split ? (const char *)split + ml : "hello world <s> \xe2\x96\x81x";
    size_t len = split ? size - head - ml : 20;
    exercise(t, text, len);
    ty_tok_free(t);
  }
  return 0;
}
