/*
 * info.c: ty_model_info, the model facts a GGUF header holds. Used by
 * tycho.info and meant for the memory planner: both need sizes and shapes
 * long before (or instead of) loading any weights.
 */
#include <stdio.h>
#include <string.h>

#include "info.h"


/* llama_ftype names, short forms of llama.cpp's llama_model_ftype_name. */
const char *ty_model_ftype_name(int64_t ftype) {
  static const struct { int id; const char *name; } names[] = {
    { 0, "F32" }, { 1, "F16" }, { 2, "Q4_0" }, { 3, "Q4_1" }, { 7, "Q8_0" },
    { 8, "Q5_0" }, { 9, "Q5_1" }, { 10, "Q2_K" }, { 11, "Q3_K_S" }, { 12, "Q3_K_M" },
    { 13, "Q3_K_L" }, { 14, "Q4_K_S" }, { 15, "Q4_K_M" }, { 16, "Q5_K_S" },
    { 17, "Q5_K_M" }, { 18, "Q6_K" }, { 19, "IQ2_XXS" }, { 20, "IQ2_XS" },
    { 21, "Q2_K_S" }, { 22, "IQ3_XS" }, { 23, "IQ3_XXS" }, { 24, "IQ1_S" },
    { 25, "IQ4_NL" }, { 26, "IQ3_S" }, { 27, "IQ3_M" }, { 28, "IQ2_S" },
    { 29, "IQ2_M" }, { 30, "IQ4_XS" }, { 31, "IQ1_M" }, { 32, "BF16" },
    { 36, "TQ1_0" }, { 37, "TQ2_0" }, { 38, "MXFP4_MOE" },
  };
  /* bit 10 (LLAMA_FTYPE_GUESSED) marks a type llama.cpp inferred */
  int64_t id = ftype & ~(int64_t)1024;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].id == id)
      return names[i].name;
  return NULL;
}


/* The integer value of key, or of the largest element of an integer array
   (per-layer hyperparameters); -1 when absent or of another type. */
static int64_t get_int(const ty_gguf *g, const char *key) {
  const struct ty_gguf_value *a;
  int64_t v, best = -1;
  if (ty_gguf_get_i64(g, key, &v))
    return v;
  a = ty_gguf_get_arr(g, key);
  if (a == NULL || a->v.arr.data == NULL)
    return -1;
  for (uint64_t i = 0; i < a->v.arr.n; i++) {
    const uint8_t *p = (const uint8_t *)a->v.arr.data + i * 4;
    if (a->v.arr.type == TY_GGUF_UINT32 || a->v.arr.type == TY_GGUF_INT32) {
      uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                   (uint32_t)p[3] << 24;
      v = a->v.arr.type == TY_GGUF_INT32 ? (int64_t)(int32_t)u : (int64_t)u;
      if (v > best)
        best = v;
    } else {
      return -1;   /* other element types do not occur for these keys */
    }
  }
  return best;
}


/* ARCH.suffix as an integer (see get_int); -1 without an architecture. */
static int64_t arch_int(const ty_gguf *g, const struct ty_gguf_str *arch, const char *suffix) {
  char key[160];
  int n;
  if (arch->len == 0 || arch->len > 64)
    return -1;
  n = snprintf(key, sizeof key, "%.*s.%s", (int)arch->len, arch->ptr, suffix);
  if (n < 0 || (size_t)n >= sizeof key)
    return -1;
  return get_int(g, key);
}


ty_status ty_model_info(const ty_gguf *g, struct ty_model_info *out, ty_err *err) {
  const struct ty_gguf_value *tokens;
  uint64_t n, i, best = 0;
  int best_type = -1;
  if (g == NULL || out == NULL)
    return ty_err_set(err, TY_ERR_ARG, "model info: NULL argument");
  memset(out, 0, sizeof *out);
  out->version = ty_gguf_version(g);
  out->file_size = ty_gguf_file_size(g);
  /* a key of the wrong type reads as absent: info describes, it does not judge */
  ty_gguf_get_str(g, "general.architecture", &out->architecture);
  ty_gguf_get_str(g, "general.name", &out->name);
  out->file_type = get_int(g, "general.file_type");
  out->context_length = arch_int(g, &out->architecture, "context_length");
  out->embedding_length = arch_int(g, &out->architecture, "embedding_length");
  out->feed_forward_length = arch_int(g, &out->architecture, "feed_forward_length");
  out->block_count = arch_int(g, &out->architecture, "block_count");
  out->head_count = arch_int(g, &out->architecture, "attention.head_count");
  out->head_count_kv = arch_int(g, &out->architecture, "attention.head_count_kv");
  tokens = ty_gguf_get_arr(g, "tokenizer.ggml.tokens");
  if (tokens != NULL && tokens->v.arr.n <= (uint64_t)INT64_MAX)
    out->vocab_size = (int64_t)tokens->v.arr.n;
  else
    out->vocab_size = arch_int(g, &out->architecture, "vocab_size");

  n = ty_gguf_n_tensors(g);
  out->tensor_count = n;
  for (i = 0; i < n; i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    struct ty_info_type *bt;
    uint64_t ne = 1;
    if (t->type < 0 || t->type >= TY_QTYPE_COUNT)   /* the reader rejects these */
      return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor '%s' has unknown type %d",
                        ty_gguf_path(g), t->name, t->type);
    for (int d = 0; d < TY_GGUF_MAX_DIMS; d++)
      if (!ty_mul_ok(ne, (uint64_t)t->ne[d], &ne))
        return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor '%s' element count overflows",
                          ty_gguf_path(g), t->name);
    bt = &out->by_type[t->type];
    bt->count++;
    if (!ty_add_ok(bt->bytes, t->nbytes, &bt->bytes) || !ty_add_ok(bt->params, ne, &bt->params) ||
        !ty_add_ok(out->size, t->nbytes, &out->size) ||
        !ty_add_ok(out->parameters, ne, &out->parameters))
      return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor sizes overflow 64 bits at tensor '%s'",
                        ty_gguf_path(g), t->name);
  }
  for (i = 0; i < TY_QTYPE_COUNT; i++)
    if (out->by_type[i].bytes > best || (best_type < 0 && out->by_type[i].count > 0)) {
      best = out->by_type[i].bytes;
      best_type = (int)i;
    }
  out->quant = ty_model_ftype_name(out->file_type);
  if (out->quant == NULL && best_type >= 0)
    out->quant = ty_qtype_get(best_type)->name;
  ty_err_clear(err);
  return TY_OK;
}
