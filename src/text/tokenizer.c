/*
 * tokenizer.c: building a tokenizer from GGUF metadata (with llama.cpp's
 * defaults and per-pre-tokenizer flags), special-token partitioning, the
 * encode driver, token pieces, detokenizing and the streaming UTF-8 decoder.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"
#include "unicode.h"

#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"


/* {======================================================================
** Lookups
** ====================================================================== */

int32_t tok_lookup(const ty_tok *t, const char *p, size_t n) {
  uint64_t i = tok_hash(p, n) & t->map_mask;
  for (;;) {
    uint32_t v = t->map[i];
    if (v == 0)
      return -1;
    v--;
    if (t->len[v] == n && memcmp(t->blob + t->off[v], p, n) == 0)
      return (int32_t)v;
    i = (i + 1) & t->map_mask;
  }
}


static uint64_t pair_hash(const char *a, size_t na, const char *b, size_t nb) {
  return tok_hash(a, na) * 0x9e3779b97f4a7c15ull + tok_hash(b, nb);
}


int32_t tok_merge_rank(const ty_tok *t, const char *a, size_t na, const char *b, size_t nb) {
  uint64_t i;
  if (t->mmap == NULL)
    return -1;
  i = pair_hash(a, na, b, nb) & t->mmap_mask;
  for (;;) {
    uint32_t v = t->mmap[i];
    const char *m;
    if (v == 0)
      return -1;
    v--;
    m = t->mblob + t->moff[v];
    if (t->mlen1[v] == na && t->mlen2[v] == nb && memcmp(m, a, na) == 0 &&
        memcmp(m + na + 1, b, nb) == 0)
      return (int32_t)v;
    i = (i + 1) & t->mmap_mask;
  }
}


int32_t ty_tok_find(const ty_tok *t, const char *text, size_t len) {
  return tok_lookup(t, text, len);
}


/* }====================================================================== */


/* {======================================================================
** Metadata
** ====================================================================== */

/* Pre-tokenizer names llama.cpp knows, with the flags it sets for each. */
#define PF_IGNORE_MERGES 1u
#define PF_ADD_BOS 2u
#define PF_KEEP_SPACES 4u        /* clean_spaces = false */
#define PF_RAW_UTF8 8u           /* escape whitespace, no GPT-2 byte encoding */
#define PF_NO_BOS 16u            /* the default BOS id is dropped */

static const struct { const char *name; unsigned flags; } pre_flags[] = {
  { "default", 0 },
  { "llama3", PF_IGNORE_MERGES | PF_ADD_BOS }, { "llama-v3", PF_IGNORE_MERGES | PF_ADD_BOS },
  { "llama-bpe", PF_IGNORE_MERGES | PF_ADD_BOS }, { "falcon3", PF_IGNORE_MERGES | PF_ADD_BOS },
  { "falcon-h1", PF_IGNORE_MERGES | PF_ADD_BOS }, { "pixtral", PF_IGNORE_MERGES | PF_ADD_BOS },
  { "midm-2.0", PF_IGNORE_MERGES | PF_ADD_BOS }, { "lfm2", PF_IGNORE_MERGES | PF_ADD_BOS },
  { "jina-v5-nano", PF_IGNORE_MERGES | PF_ADD_BOS },
  { "minicpm5", PF_IGNORE_MERGES },
  { "deepseek-llm", PF_KEEP_SPACES }, { "deepseek-coder", PF_KEEP_SPACES },
  { "deepseek-v3", PF_KEEP_SPACES }, { "spark2_5", PF_KEEP_SPACES },
  { "youtu", PF_KEEP_SPACES | PF_IGNORE_MERGES },
  { "falcon", 0 }, { "mpt", 0 }, { "starcoder", 0 },
  { "gpt-2", 0 }, { "phi-2", 0 }, { "jina-es", 0 }, { "jina-de", 0 }, { "gigachat", 0 },
  { "jina-v2-es", 0 }, { "jina-v2-de", 0 }, { "a.x-4.0", 0 }, { "mellum", 0 },
  { "modern-bert", 0 }, { "jais-2", 0 },
  { "gemma4", PF_RAW_UTF8 | PF_ADD_BOS }, { "granite-embed-multi-311m", PF_RAW_UTF8 | PF_ADD_BOS },
  { "sarvam-moe", PF_RAW_UTF8 | PF_KEEP_SPACES },
  { "jina-v1-en", 0 }, { "jina-v2-code", 0 }, { "roberta-bpe", 0 },
  { "refact", 0 }, { "command-r", PF_KEEP_SPACES },
  { "qwen2", PF_KEEP_SPACES }, { "deepseek-r1-qwen", PF_KEEP_SPACES }, { "kormo", PF_KEEP_SPACES },
  { "f2llmv2", PF_KEEP_SPACES }, { "qwen35", PF_KEEP_SPACES },
  { "stablelm2", 0 }, { "olmo", 0 }, { "dbrx", 0 }, { "smaug-bpe", 0 },
  { "poro-chat", PF_KEEP_SPACES }, { "glm4", PF_NO_BOS }, { "chatglm-bpe", PF_NO_BOS },
  { "viking", PF_KEEP_SPACES }, { "jais", 0 },
  { "tekken", PF_KEEP_SPACES | PF_IGNORE_MERGES | PF_ADD_BOS },
  { "smollm", PF_KEEP_SPACES }, { "codeshell", 0 }, { "bloom", 0 }, { "gpt3-finnish", 0 },
  { "exaone", 0 }, { "exaone4", 0 }, { "exaone-moe", 0 },
  { "chameleon", PF_ADD_BOS | PF_KEEP_SPACES }, { "minerva-7b", 0 }, { "megrez", 0 },
  { "gpt-4o", PF_KEEP_SPACES }, { "llama4", PF_KEEP_SPACES }, { "kanana2", PF_KEEP_SPACES },
  { "talkie", PF_KEEP_SPACES },
  { "granite-embed-multi-97m", PF_KEEP_SPACES | PF_IGNORE_MERGES },
  { "tiny_aya", PF_KEEP_SPACES }, { "cohere2moe", PF_KEEP_SPACES }, { "superbpe", PF_KEEP_SPACES },
  { "trillion", PF_KEEP_SPACES }, { "granite-docling", PF_KEEP_SPACES },
  { "bailingmoe", PF_KEEP_SPACES }, { "bailingmoe2", PF_KEEP_SPACES },
  { "llada-moe", PF_KEEP_SPACES }, { "seed-coder", PF_KEEP_SPACES }, { "hunyuan", PF_KEEP_SPACES },
  { "hunyuan-dense", PF_KEEP_SPACES }, { "hy_v4", PF_KEEP_SPACES }, { "joyai-llm", PF_KEEP_SPACES },
  { "kimi-k2", PF_KEEP_SPACES }, { "ufakzeka", PF_KEEP_SPACES }, { "grok-2", PF_KEEP_SPACES },
  { "afmoe", PF_KEEP_SPACES }, { "laguna", PF_KEEP_SPACES }, { "minimax-m2", PF_KEEP_SPACES },
  { "solar-open", PF_KEEP_SPACES }, { "mellum2", 0 },
};


/* Printable, shortened copy of p[0..n) for messages. */
static const char *show(char *out, size_t cap, const char *p, size_t n) {
  size_t o = 0, i;
  for (i = 0; i < n && o + 6 < cap; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '\'') {
      out[o++] = (char)c;
    } else {
      snprintf(out + o, cap - o, "\\x%02x", c);
      o += 4;
    }
  }
  if (i < n && o + 3 < cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}


/* Reads an optional token id key into *id. Present with a non-integer type is
   an error; out of range keeps the default, as llama.cpp does. */
static ty_status meta_id(const ty_gguf *g, const char *key, int32_t n, int32_t *id, ty_err *err) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  int64_t v;
  if (kv == NULL)
    return TY_OK;
  if (!ty_gguf_get_i64(g, key, &v)) {
    if (kv->value.type > TY_GGUF_INT32 && kv->value.type != TY_GGUF_UINT64 &&
        kv->value.type != TY_GGUF_INT64)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: %s is a %s, not an integer token id",
                        ty_gguf_path(g), key, ty_gguf_vtype_name(kv->value.type));
    return TY_OK;                /* a negative or huge value: out of range */
  }
  if (v >= 0 && v < n)
    *id = (int32_t)v;
  return TY_OK;
}


/* Reads an optional bool key into *out (left alone when absent). */
static ty_status meta_bool(const ty_gguf *g, const char *key, bool *out, ty_err *err) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL)
    return TY_OK;
  if (!ty_gguf_get_bool(g, key, out))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: %s is a %s, not a bool", ty_gguf_path(g), key,
                      ty_gguf_vtype_name(kv->value.type));
  return TY_OK;
}


/* Array key with the wanted element type and at least n_min elements, or an
   error naming the key. Absent: *out = NULL and TY_OK unless required. */
static ty_status meta_arr(const ty_gguf *g, const char *key, int required, int type1, int type2,
                          uint64_t n_min, const struct ty_gguf_value **out, ty_err *err) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  *out = NULL;
  if (kv == NULL) {
    if (required)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: %s is missing; not a usable vocabulary",
                        ty_gguf_path(g), key);
    return TY_OK;
  }
  if (kv->value.type != TY_GGUF_ARRAY ||
      ((int)kv->value.v.arr.type != type1 && (int)kv->value.v.arr.type != type2))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: %s has type %s%s%s, expected an array of %s",
                      ty_gguf_path(g), key, ty_gguf_vtype_name(kv->value.type),
                      kv->value.type == TY_GGUF_ARRAY ? " of " : "",
                      kv->value.type == TY_GGUF_ARRAY
                        ? ty_gguf_vtype_name(kv->value.v.arr.type) : "",
                      ty_gguf_vtype_name(type1));
  if (kv->value.v.arr.n < n_min)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: %s has %llu entries, fewer than the %llu tokens",
                      ty_gguf_path(g), key, (unsigned long long)kv->value.v.arr.n,
                      (unsigned long long)n_min);
  *out = &kv->value;
  return TY_OK;
}


static uint64_t pow2_at_least(uint64_t n) {
  uint64_t c = 16;
  while (c < n)
    c <<= 1;
  return c;
}


/* Copies the token strings and builds the text -> id table. Empty entries
   become "[EMPTY_<i>]" as in llama.cpp; a duplicate is an error. */
static ty_status load_tokens(ty_tok *t, const ty_gguf *g, const struct ty_gguf_value *toks,
                             ty_err *err) {
  uint64_t total = 0, pos = 0, cap;
  int32_t i;
  char tmp[40];
  for (i = 0; i < t->n; i++) {
    uint64_t l = toks->v.arr.items[i].v.str.len;
    if (l == 0)
      l = 32;
    if (l > UINT32_MAX / 2)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: " KEY_TOKENS "[%d] is %llu bytes long",
                        ty_gguf_path(g), i, (unsigned long long)l);
    total += l;
  }
  cap = pow2_at_least((uint64_t)t->n * 2);
  t->blob = malloc(total ? total : 1);
  t->off = malloc((size_t)t->n * sizeof *t->off);
  t->len = malloc((size_t)t->n * sizeof *t->len);
  t->map = calloc(cap, sizeof *t->map);
  if (t->blob == NULL || t->off == NULL || t->len == NULL || t->map == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %d tokens", ty_gguf_path(g), t->n);
  t->map_mask = cap - 1;
  for (i = 0; i < t->n; i++) {
    const struct ty_gguf_str *s = &toks->v.arr.items[i].v.str;
    const char *p = s->ptr;
    size_t l = (size_t)s->len;
    int32_t dup;
    uint64_t h;
    if (l == 0) {
      l = (size_t)snprintf(tmp, sizeof tmp, "[EMPTY_%d]", i);
      p = tmp;
    }
    dup = tok_lookup(t, p, l);
    if (dup >= 0) {
      char b[64];
      return ty_err_set(err, TY_ERR_FORMAT,
                        "%s: duplicate token in " KEY_TOKENS ": '%s' has ids %d and %d",
                        ty_gguf_path(g), show(b, sizeof b, p, l), dup, i);
    }
    memcpy(t->blob + pos, p, l);
    t->off[i] = pos;
    t->len[i] = (uint32_t)l;
    pos += l;
    h = tok_hash(p, l) & t->map_mask;
    while (t->map[h] != 0)
      h = (h + 1) & t->map_mask;
    t->map[h] = (uint32_t)i + 1;
  }
  return TY_OK;
}


/* Copies tokenizer.ggml.merges ("first second", split at the first space
   after the first byte) and builds the pair -> rank table; the first of
   duplicate pairs keeps its rank. */
static ty_status load_merges(ty_tok *t, const ty_gguf *g, const struct ty_gguf_value *m,
                             ty_err *err) {
  uint64_t total = 0, pos = 0, cap, i;
  if (m->v.arr.n >= INT32_MAX)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: " KEY_MERGES " has too many entries (%llu)",
                      ty_gguf_path(g), (unsigned long long)m->v.arr.n);
  t->n_merges = (uint32_t)m->v.arr.n;
  for (i = 0; i < m->v.arr.n; i++) {
    const struct ty_gguf_str *s = &m->v.arr.items[i].v.str;
    const char *sp = s->len > 1 ? memchr(s->ptr + 1, ' ', (size_t)s->len - 1) : NULL;
    if (s->len > UINT32_MAX / 2 || sp == NULL || (uint64_t)(sp - s->ptr) + 1 >= s->len) {
      char b[64];
      return ty_err_set(err, TY_ERR_FORMAT,
                        "%s: " KEY_MERGES "[%llu] '%s' is not two parts split by a space",
                        ty_gguf_path(g), (unsigned long long)i,
                        show(b, sizeof b, s->ptr, (size_t)(s->len < 64 ? s->len : 64)));
    }
    total += s->len;
  }
  cap = pow2_at_least((uint64_t)t->n_merges * 2);
  t->mblob = malloc(total ? total : 1);
  t->moff = malloc((t->n_merges ? t->n_merges : 1) * sizeof *t->moff);
  t->mlen1 = malloc((t->n_merges ? t->n_merges : 1) * sizeof *t->mlen1);
  t->mlen2 = malloc((t->n_merges ? t->n_merges : 1) * sizeof *t->mlen2);
  t->mmap = calloc(cap, sizeof *t->mmap);
  if (t->mblob == NULL || t->moff == NULL || t->mlen1 == NULL || t->mlen2 == NULL ||
      t->mmap == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %u merges", ty_gguf_path(g),
                      t->n_merges);
  t->mmap_mask = cap - 1;
  for (i = 0; i < t->n_merges; i++) {
    const struct ty_gguf_str *s = &m->v.arr.items[i].v.str;
    const char *sp = memchr(s->ptr + 1, ' ', (size_t)s->len - 1);
    uint32_t l1 = (uint32_t)(sp - s->ptr), l2 = (uint32_t)(s->len - l1 - 1);
    uint64_t h;
    memcpy(t->mblob + pos, s->ptr, (size_t)s->len);
    if (tok_merge_rank(t, s->ptr, l1, sp + 1, l2) >= 0) {
      pos += s->len;             /* keep the slot consistent; never found */
      t->moff[i] = 0;
      t->mlen1[i] = t->mlen2[i] = UINT32_MAX;
      continue;
    }
    t->moff[i] = pos;
    t->mlen1[i] = l1;
    t->mlen2[i] = l2;
    pos += s->len;
    h = pair_hash(s->ptr, l1, sp + 1, l2) & t->mmap_mask;
    while (t->mmap[h] != 0)
      h = (h + 1) & t->mmap_mask;
    t->mmap[h] = (uint32_t)i + 1;
  }
  return TY_OK;
}


static int text_is(const ty_tok *t, int32_t id, const char *s) {
  size_t n = strlen(s);
  return t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0;
}


static int text_in(const ty_tok *t, int32_t id, const char *const *list) {
  for (; *list != NULL; list++)
    if (text_is(t, id, *list))
      return 1;
  return 0;
}


static int has_unused(const char *p, size_t n) {
  size_t i;
  for (i = 0; i + 6 <= n; i++)
    if (memcmp(p + i, "unused", 6) == 0)
      return 1;
  return 0;
}


static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}


/* Finds the special tokens llama.cpp recognises by their text (EOT, EOM,
   FIM), marks them control, and builds the sorted end-of-generation list. */
static ty_status detect_special(ty_tok *t, ty_err *err) {
  static const char *const eot_names[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",  /* DeepSeek */
    "<end_of_utterance>", NULL };
  static const char *const eom_names[] = { "<|eom_id|>", NULL };
  static const char *const pre_names[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL };
  static const char *const suf_names[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL };
  static const char *const mid_names[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL };
  static const char *const pad_names[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL };
  static const char *const rep_names[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL };
  static const char *const sep_names[] = { "<|file_sep|>", NULL };
  static const char *const eog_names[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL };
  struct { int32_t *id; const char *const *names; } det[] = {
    { &t->eot, eot_names }, { &t->eom, eom_names }, { &t->fim_pre, pre_names },
    { &t->fim_suf, suf_names }, { &t->fim_mid, mid_names }, { &t->fim_pad, pad_names },
    { &t->fim_rep, rep_names }, { &t->fim_sep, sep_names } };
  int32_t *eog, end_id = -1, s_id = -1;
  uint32_t n = 0, k;
  int32_t i;
  int has_return = 0, has_call = 0, has_flush = 0, has_tool = 0;
  size_t d;
  /* llama.cpp walks a hash map here; we walk ids in order, so where two texts
     could claim one role the lower id wins */
  for (d = 0; d < sizeof det / sizeof det[0]; d++) {
    if (*det[d].id >= 0)
      continue;
    for (i = 0; i < t->n; i++) {
      if (text_in(t, i, det[d].names)) {
        *det[d].id = i;
        t->attr[i] |= TY_TOK_ATTR_CONTROL;
        break;
      }
    }
  }
  for (i = 0; i < t->n; i++)
    if ((t->attr[i] & TY_TOK_ATTR_CONTROL) && !(t->attr[i] & TY_TOK_ATTR_UNUSED) &&
        has_unused(t->blob + t->off[i], t->len[i]))
      t->attr[i] |= TY_TOK_ATTR_UNUSED;
  eog = malloc(((size_t)t->n + 8) * sizeof *eog);
  if (eog == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  if (t->fim_pad >= 0) eog[n++] = t->fim_pad;
  if (t->fim_rep >= 0) eog[n++] = t->fim_rep;
  if (t->fim_sep >= 0) eog[n++] = t->fim_sep;
  for (i = 0; i < t->n; i++) {
    if (text_in(t, i, eog_names)) {
      eog[n++] = i;
      t->attr[i] |= TY_TOK_ATTR_CONTROL;
    }
  }
  /* gpt-oss: these always render */
  for (i = 0; i < t->n; i++)
    if (text_is(t, i, "<|channel|>") || text_is(t, i, "<|message|>") ||
        text_is(t, i, "<|start|>") || text_is(t, i, "<|constrain|>"))
      t->attr[i] = TY_TOK_ATTR_USER_DEFINED;
  if (t->eos >= 0) eog[n++] = t->eos;
  if (t->eot >= 0) eog[n++] = t->eot;
  if (t->eom >= 0) eog[n++] = t->eom;
  qsort(eog, n, sizeof *eog, cmp_i32);
  for (k = 0, d = 0; k < n; k++)
    if (d == 0 || eog[d - 1] != eog[k])
      eog[d++] = eog[k];
  n = (uint32_t)d;
  for (k = 0; k < n; k++) {
    if (text_is(t, eog[k], "<|return|>")) has_return = 1;
    else if (text_is(t, eog[k], "<|call|>") || text_is(t, eog[k], "<|calls|>")) has_call = 1;
    else if (text_is(t, eog[k], "<|flush|>")) has_flush = 1;
    else if (text_is(t, eog[k], "<|end|>")) end_id = eog[k];
    if (text_is(t, eog[k], "<|tool_response>")) has_tool = 1;
    else if (text_is(t, eog[k], "</s>")) s_id = eog[k];
  }
  /* o200k_harmony / solar-open: <|end|> is not an end of generation there;
     gemma4 / paddleocr: nor is </s> */
  for (k = 0, d = 0; k < n; k++) {
    if (end_id >= 0 && eog[k] == end_id && ((has_return && has_call) || (has_call && has_flush))) {
      t->attr[end_id] = TY_TOK_ATTR_USER_DEFINED;
      continue;
    }
    if (s_id >= 0 && eog[k] == s_id && has_tool) {
      t->attr[s_id] = TY_TOK_ATTR_NORMAL;
      continue;
    }
    eog[d++] = eog[k];
  }
  t->eog = eog;
  t->n_eog = (uint32_t)d;
  return TY_OK;
}


/* Sort records for the special-token tables: qsort has no context
   argument, so each record carries what its comparison needs. */
struct spec_key {
  const char *text;
  uint32_t len;
  int32_t id;
};


static int cmp_len_desc(const void *a, const void *b) {
  const struct spec_key *x = a, *y = b;
  if (x->len != y->len)
    return x->len > y->len ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}


static int cmp_text(const void *a, const void *b) {
  const struct spec_key *x = a, *y = b;
  int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);
  if (c != 0)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}


/* The special-token cache: control, user-defined and unknown tokens, longest
   first (ties by id), plus the byte-sorted index the partitioner searches. */
static ty_status build_special(ty_tok *t, ty_err *err) {
  uint32_t n = 0, i;
  int32_t id;
  struct spec_key *keys;
  int32_t *pos;
  for (id = 0; id < t->n; id++)
    if (t->attr[id] & (TY_TOK_ATTR_CONTROL | TY_TOK_ATTR_USER_DEFINED | TY_TOK_ATTR_UNKNOWN))
      n++;
  t->special = malloc((n ? n : 1) * sizeof *t->special);
  t->spec_lex = malloc((n ? n : 1) * sizeof *t->spec_lex);
  t->spec_rank = malloc((n ? n : 1) * sizeof *t->spec_rank);
  keys = malloc((n ? n : 1) * sizeof *keys);
  pos = malloc((size_t)t->n * sizeof *pos);
  if (t->special == NULL || t->spec_lex == NULL || t->spec_rank == NULL || keys == NULL ||
      pos == NULL) {
    free(keys);
    free(pos);
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  }
  n = 0;
  for (id = 0; id < t->n; id++) {
    if (t->attr[id] & (TY_TOK_ATTR_CONTROL | TY_TOK_ATTR_USER_DEFINED | TY_TOK_ATTR_UNKNOWN)) {
      keys[n].text = t->blob + t->off[id];
      keys[n].len = t->len[id];
      keys[n].id = id;
      n++;
    }
  }
  t->n_special = n;
  qsort(keys, n, sizeof *keys, cmp_len_desc);
  for (i = 0; i < n; i++) {
    t->special[i] = keys[i].id;
    pos[keys[i].id] = (int32_t)i;
  }
  qsort(keys, n, sizeof *keys, cmp_text);
  for (i = 0; i < n; i++) {
    t->spec_lex[i] = keys[i].id;
    t->spec_rank[i] = (uint32_t)pos[keys[i].id];   /* its place in special[] */
  }
  free(keys);
  free(pos);
  memset(t->spec_first, 0, sizeof t->spec_first);
  for (i = 0; i < n; i++) {
    unsigned char c;
    id = t->special[i];
    c = (unsigned char)t->blob[t->off[id]];
    t->spec_first[1][c >> 3] |= (uint8_t)(1u << (c & 7));
    if (!(t->attr[id] & (TY_TOK_ATTR_CONTROL | TY_TOK_ATTR_UNKNOWN)))
      t->spec_first[0][c >> 3] |= (uint8_t)(1u << (c & 7));
  }
  return TY_OK;
}


/* Per-model attribute fixes llama.cpp applies by name. */
static void name_attrs(ty_tok *t, const ty_gguf *g) {
  struct ty_gguf_str s;
  char name[256];
  size_t i, l;
  int32_t id;
  if (!ty_gguf_get_str(g, "general.name", &s))
    return;
  l = s.len < sizeof name - 1 ? (size_t)s.len : sizeof name - 1;
  for (i = 0; i < l; i++)
    name[i] = (char)tolower((unsigned char)s.ptr[i]);
  name[l] = '\0';
  if (strstr(name, "phi-3") != NULL || strstr(name, "phi3") != NULL) {
    for (i = 0; i < t->n_special; i++)
      t->attr[t->special[i]] |= TY_TOK_ATTR_RSTRIP;
    if ((id = tok_lookup(t, "</s>", 4)) >= 0)
      t->attr[id] |= TY_TOK_ATTR_RSTRIP;
    if ((id = tok_lookup(t, "<unk>", 5)) >= 0)
      t->attr[id] &= ~(uint32_t)TY_TOK_ATTR_RSTRIP;
    if ((id = tok_lookup(t, "<s>", 3)) >= 0)
      t->attr[id] &= ~(uint32_t)TY_TOK_ATTR_RSTRIP;
    if ((id = tok_lookup(t, "<|endoftext|>", 13)) >= 0)
      t->attr[id] &= ~(uint32_t)TY_TOK_ATTR_RSTRIP;
  }
}


/* Fills t from g in llama.cpp's order: model type and its defaults, the
   pre-tokenizer and its flags, tokens, merges, scores and types, special ids
   and add_* flags from the keys, byte tokens, then the text-detected special
   tokens. On failure t holds what was allocated so far (ty_tok_free frees it). */
static ty_status load(ty_tok *t, const ty_gguf *g, const char *pre_over, size_t pre_over_len,
                      ty_err *err) {
  struct ty_gguf_str model, pre = { 0, "" };
  const struct ty_gguf_value *toks, *scores, *types, *merges = NULL;
  const char *path = ty_gguf_path(g);
  unsigned pf = 0;
  ty_status st;
  int32_t i;
  bool b;
  char shown[80];

  if (!ty_gguf_get_str(g, "tokenizer.ggml.model", &model))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tokenizer.ggml.model is missing or not a string; "
                      "the file has no vocabulary", path);
  if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
    t->kind = TY_TOK_SPM;
  } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
    t->kind = TY_TOK_BPE;
  } else {
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported "
                      "(tycho reads 'llama' and 'gpt2')", path,
                      show(shown, sizeof shown, model.ptr, (size_t)model.len));
  }
  if (ty_gguf_find(g, "tokenizer.ggml.pre") != NULL &&
      !ty_gguf_get_str(g, "tokenizer.ggml.pre", &pre))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tokenizer.ggml.pre is not a string", path);
  if (pre_over != NULL) {
    pre.ptr = pre_over;
    pre.len = pre_over_len;
  }

  st = meta_arr(g, KEY_TOKENS, 1, TY_GGUF_STRING, TY_GGUF_STRING, 1, &toks, err);
  if (st != TY_OK)
    return st;
  if (toks->v.arr.n >= INT32_MAX)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: " KEY_TOKENS " has %llu entries, too many",
                      path, (unsigned long long)toks->v.arr.n);
  t->n = (int32_t)toks->v.arr.n;
  st = meta_arr(g, KEY_SCORES, 0, TY_GGUF_FLOAT32, TY_GGUF_INT32, (uint64_t)t->n, &scores, err);
  if (st == TY_OK)
    st = meta_arr(g, KEY_TYPES, 0, TY_GGUF_INT32, TY_GGUF_INT32, (uint64_t)t->n, &types, err);
  if (st != TY_OK)
    return st;
  if (t->kind == TY_TOK_BPE &&
      (st = meta_arr(g, KEY_MERGES, 1, TY_GGUF_STRING, TY_GGUF_STRING, 0, &merges, err)) != TY_OK)
    return st;

  /* llama.cpp's defaults per model type */
  t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = t->mask = -1;
  t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = -1;
  t->byte_encode = true;
  if (t->kind == TY_TOK_SPM) {
    t->bos = 1;
    t->eos = 2;
    t->unk = 0;
    t->add_space_prefix = true;
    t->add_bos = true;
  } else {
    size_t k;
    t->bos = 11;
    t->eos = 11;
    t->clean_spaces = true;
    if (pre.len == 0) {
      pre.ptr = "default";
      pre.len = 7;
    }
    for (k = 0; k < sizeof pre_flags / sizeof pre_flags[0]; k++)
      if (strlen(pre_flags[k].name) == pre.len &&
          memcmp(pre_flags[k].name, pre.ptr, (size_t)pre.len) == 0)
        break;
    if (k == sizeof pre_flags / sizeof pre_flags[0])
      return ty_err_set(err, TY_ERR_UNSUPPORTED,
                        "%s: unknown pre-tokenizer type '%s' in tokenizer.ggml.pre",
                        path, show(shown, sizeof shown, pre.ptr, (size_t)pre.len));
    pf = pre_flags[k].flags;
    t->ignore_merges = (pf & PF_IGNORE_MERGES) != 0;
    t->add_bos = (pf & PF_ADD_BOS) != 0;
    if (pf & PF_KEEP_SPACES)
      t->clean_spaces = false;
    if (pf & PF_RAW_UTF8) {
      t->escape_ws = true;
      t->byte_encode = false;
    }
    if (pf & PF_NO_BOS)
      t->bos = -1;
    snprintf(t->pre, sizeof t->pre, "%.*s", (int)pre.len, pre.ptr);
    st = ty_pretok_new(pre.ptr, (size_t)pre.len, &t->pretok, err);
    if (st != TY_OK)
      return st;
  }
  if ((st = meta_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err)) != TY_OK)
    return st;

  if ((st = load_tokens(t, g, toks, err)) != TY_OK)
    return st;
  if (merges != NULL && (st = load_merges(t, g, merges, err)) != TY_OK)
    return st;
  t->score = malloc((size_t)t->n * sizeof *t->score);
  t->attr = malloc((size_t)t->n * sizeof *t->attr);
  if (t->score == NULL || t->attr == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %d tokens", path, t->n);
  for (i = 0; i < t->n; i++) {
    t->score[i] = 0.0f;
    if (scores != NULL) {
      const unsigned char *p = (const unsigned char *)scores->v.arr.data + (size_t)i * 4;
      if (scores->v.arr.type == TY_GGUF_FLOAT32) {
        memcpy(&t->score[i], p, 4);
      } else {
        int32_t v;
        memcpy(&v, p, 4);
        t->score[i] = (float)v;
      }
    }
    t->attr[i] = TY_TOK_ATTR_NORMAL;
    if (types != NULL) {
      int32_t v;
      memcpy(&v, (const unsigned char *)types->v.arr.data + (size_t)i * 4, 4);
      switch (v) {
        case 1: t->attr[i] = TY_TOK_ATTR_NORMAL; break;
        case 2: t->attr[i] = TY_TOK_ATTR_UNKNOWN; break;
        case 3: t->attr[i] = TY_TOK_ATTR_CONTROL; break;
        case 4: t->attr[i] = TY_TOK_ATTR_USER_DEFINED; break;
        case 5: t->attr[i] = TY_TOK_ATTR_UNUSED; break;
        case 6: t->attr[i] = TY_TOK_ATTR_BYTE; break;
        default: t->attr[i] = TY_TOK_ATTR_UNDEFINED; break;
      }
    }
  }

  /* default ids outside the vocabulary are dropped, as in llama.cpp */
  {
    int32_t *ids[] = { &t->bos, &t->eos, &t->unk };
    size_t k;
    for (k = 0; k < 3; k++)
      if (*ids[k] >= t->n)
        *ids[k] = -1;
  }
  {
    static const struct { const char *key; size_t field; } keys[] = {
      { "tokenizer.ggml.bos_token_id", offsetof(ty_tok, bos) },
      { "tokenizer.ggml.eos_token_id", offsetof(ty_tok, eos) },
      { "tokenizer.ggml.eot_token_id", offsetof(ty_tok, eot) },
      { "tokenizer.ggml.eom_token_id", offsetof(ty_tok, eom) },
      { "tokenizer.ggml.unknown_token_id", offsetof(ty_tok, unk) },
      { "tokenizer.ggml.seperator_token_id", offsetof(ty_tok, sep) },
      { "tokenizer.ggml.padding_token_id", offsetof(ty_tok, pad) },
      { "tokenizer.ggml.mask_token_id", offsetof(ty_tok, mask) },
      { "tokenizer.ggml.fim_pre_token_id", offsetof(ty_tok, fim_pre) },
      { "tokenizer.ggml.fim_suf_token_id", offsetof(ty_tok, fim_suf) },
      { "tokenizer.ggml.fim_mid_token_id", offsetof(ty_tok, fim_mid) },
      { "tokenizer.ggml.fim_pad_token_id", offsetof(ty_tok, fim_pad) },
      { "tokenizer.ggml.fim_rep_token_id", offsetof(ty_tok, fim_rep) },
      { "tokenizer.ggml.fim_sep_token_id", offsetof(ty_tok, fim_sep) },
      { "tokenizer.ggml.prefix_token_id", offsetof(ty_tok, fim_pre) },
      { "tokenizer.ggml.suffix_token_id", offsetof(ty_tok, fim_suf) },
      { "tokenizer.ggml.middle_token_id", offsetof(ty_tok, fim_mid) },
    };
    size_t k;
    for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
      if ((st = meta_id(g, keys[k].key, t->n, (int32_t *)((char *)t + keys[k].field), err))
          != TY_OK)
        return st;
  }
  b = t->add_bos;
  if ((st = meta_bool(g, "tokenizer.ggml.add_bos_token", &b, err)) != TY_OK)
    return st;
  t->add_bos = b;
  b = t->add_eos;
  if ((st = meta_bool(g, "tokenizer.ggml.add_eos_token", &b, err)) != TY_OK)
    return st;
  t->add_eos = b;
  if ((pf & PF_RAW_UTF8) && (pf & PF_ADD_BOS))
    t->add_bos = true;           /* llama.cpp forces it for gemma4 */
  if (t->add_bos && t->bos < 0)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tokenizer.ggml.add_bos_token is true, but "
                      "tokenizer.ggml.bos_token_id is not set", path);
  if (t->add_eos && t->eos < 0)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tokenizer.ggml.add_eos_token is true, but "
                      "tokenizer.ggml.eos_token_id is not set", path);

  for (i = 0; i < 256; i++) {
    static const char hex[] = "0123456789ABCDEF";
    char bt[6] = { '<', '0', 'x', hex[i >> 4], hex[i & 15], '>' };
    char c = (char)i;
    t->byte_tok[i] = tok_lookup(t, bt, 6);
    if (t->byte_tok[i] < 0)
      t->byte_tok[i] = tok_lookup(t, &c, 1);
  }
  if ((st = detect_special(t, err)) != TY_OK)
    return st;
  if ((st = build_special(t, err)) != TY_OK)
    return st;
  name_attrs(t, g);
  return TY_OK;
}


ty_status ty_tok_from_gguf_pre(const ty_gguf *g, const char *pre, size_t pre_len,
                               ty_tok **out, ty_err *err) {
  ty_tok *t;
  ty_status st;
  *out = NULL;
  if (g == NULL)
    return ty_err_set(err, TY_ERR_ARG, "tokenizer: no gguf reader given");
  t = calloc(1, sizeof *t);
  if (t == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  st = load(t, g, pre, pre_len, err);
  if (st != TY_OK) {
    ty_tok_free(t);
    return st;
  }
  ty_err_clear(err);
  *out = t;
  return TY_OK;
}


ty_status ty_tok_from_gguf(const ty_gguf *g, ty_tok **out, ty_err *err) {
  return ty_tok_from_gguf_pre(g, NULL, 0, out, err);
}


ty_status ty_tok_open(const char *path, ty_tok **out, ty_err *err) {
  ty_gguf *g = NULL;
  ty_status st;
  *out = NULL;
  st = ty_gguf_open(path, &g, err);
  if (st != TY_OK)
    return st;
  st = ty_tok_from_gguf(g, out, err);
  ty_gguf_close(g);
  return st;
}


void ty_tok_free(ty_tok *t) {
  if (t == NULL)
    return;
  free(t->blob);
  free(t->off);
  free(t->len);
  free(t->score);
  free(t->attr);
  free(t->map);
  free(t->mblob);
  free(t->moff);
  free(t->mlen1);
  free(t->mlen2);
  free(t->mmap);
  free(t->special);
  free(t->spec_lex);
  free(t->spec_rank);
  free(t->eog);
  ty_pretok_free(t->pretok);
  free(t);
}


/* }====================================================================== */


/* {======================================================================
** Special-token partitioning and encoding
** ====================================================================== */

/* A match of special token spec_lex[lex] at byte pos. */
struct occ {
  uint32_t rank;                 /* priority: place in t->special (longest first) */
  uint32_t pos;
};


static int cmp_occ(const void *a, const void *b) {
  const struct occ *x = a, *y = b;
  if (x->rank != y->rank)
    return x->rank < y->rank ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}


/* Narrows [*lo, *hi) of spec_lex (all sharing the first d bytes) to those
   whose byte d is c. */
static void narrow(const ty_tok *t, uint32_t *lo, uint32_t *hi, uint32_t d, unsigned char c) {
  uint32_t a = *lo, b = *hi;
  /* key(e) = -1 when e has only d bytes, else byte d: non-decreasing here */
  while (a < b) {
    uint32_t m = a + (b - a) / 2;
    int32_t id = t->spec_lex[m];
    int k = t->len[id] <= d ? -1 : (unsigned char)t->blob[t->off[id] + d];
    if (k < (int)c) a = m + 1; else b = m;
  }
  *lo = a;
  b = *hi;
  while (a < b) {
    uint32_t m = a + (b - a) / 2;
    int32_t id = t->spec_lex[m];
    int k = t->len[id] <= d ? -1 : (unsigned char)t->blob[t->off[id] + d];
    if (k <= (int)c) a = m + 1; else b = m;
  }
  *hi = a;
}


struct frag {
  uint32_t pos, len;
  int32_t id;                    /* >= 0: a special token; -1: raw text */
};


static int cmp_frag(const void *a, const void *b) {
  const struct frag *x = a, *y = b;
  return (x->pos > y->pos) - (x->pos < y->pos);
}


/* Splits text into raw fragments and special tokens the way llama.cpp's
   tokenizer_st_partition does: tokens are taken longest first, each one at
   every non-overlapping place it occurs inside text not yet taken. Control
   and unknown tokens count only with parse_special. *out is malloc'd. */
static ty_status partition(const ty_tok *t, const char *text, size_t len, int parse_special,
                           struct frag **out, size_t *n_out) {
  const uint8_t *first = t->spec_first[parse_special ? 1 : 0];
  struct occ *occ = NULL;
  size_t n_occ = 0, cap_occ = 0, i, n_fr = 0, cap_fr = 0;
  uint8_t *state = NULL;         /* 0 raw, 1 taken by a token, 2 stripped */
  struct frag *fr = NULL;
  ty_status st = TY_ERR_NOMEM;

  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    uint32_t lo = 0, hi = t->n_special, d;
    if (!(first[c >> 3] & (1u << (c & 7))))
      continue;
    for (d = 0; i + d < len; d++) {
      narrow(t, &lo, &hi, d, (unsigned char)text[i + d]);
      if (lo >= hi)
        break;
      if (t->len[t->spec_lex[lo]] == d + 1) {
        int32_t id = t->spec_lex[lo];
        if (parse_special || !(t->attr[id] & (TY_TOK_ATTR_CONTROL | TY_TOK_ATTR_UNKNOWN))) {
          if (n_occ == cap_occ) {
            size_t nc = cap_occ ? cap_occ * 2 : 64;
            struct occ *p = realloc(occ, nc * sizeof *p);
            if (p == NULL)
              goto done;
            occ = p;
            cap_occ = nc;
          }
          occ[n_occ].rank = t->spec_rank[lo];
          occ[n_occ].pos = (uint32_t)i;
          n_occ++;
        }
      }
    }
  }
  if (n_occ > 0) {
    uint32_t rank = UINT32_MAX;
    size_t last_end = 0;
    qsort(occ, n_occ, sizeof *occ, cmp_occ);
    state = calloc(len, 1);
    fr = malloc((n_occ + 1) * sizeof *fr);
    if (state == NULL || fr == NULL)
      goto done;
    cap_fr = n_occ + 1;
    for (i = 0; i < n_occ; i++) {
      int32_t id = t->special[occ[i].rank];
      size_t p = occ[i].pos, l = t->len[id], j;
      if (occ[i].rank != rank) {
        rank = occ[i].rank;
        last_end = 0;
      }
      if (p < last_end)
        continue;
      for (j = 0; j < l && state[p + j] == 0; j++)
        ;
      if (j < l)
        continue;
      memset(state + p, 1, l);
      last_end = p + l;
      if (t->attr[id] & TY_TOK_ATTR_LSTRIP)
        for (j = p; j > 0 && state[j - 1] == 0 && isspace((unsigned char)text[j - 1]); j--)
          state[j - 1] = 2;
      if (t->attr[id] & TY_TOK_ATTR_RSTRIP)
        for (j = p + l; j < len && state[j] == 0 && isspace((unsigned char)text[j]); j++)
          state[j] = 2;
      fr[n_fr].pos = (uint32_t)p;
      fr[n_fr].len = (uint32_t)l;
      fr[n_fr].id = id;
      n_fr++;
    }
  }
  /* add the raw runs between the taken tokens */
  {
    size_t n_tok = n_fr, start;
    cap_fr = 2 * n_tok + 1;
    {
      struct frag *p = realloc(fr, cap_fr * sizeof *p);
      if (p == NULL)
        goto done;
      fr = p;
    }
    i = 0;
    while (i < len) {
      if (state != NULL && state[i] != 0) {
        i++;
        continue;
      }
      start = i;
      while (i < len && (state == NULL || state[i] == 0))
        i++;
      fr[n_fr].pos = (uint32_t)start;
      fr[n_fr].len = (uint32_t)(i - start);
      fr[n_fr].id = -1;
      n_fr++;
    }
    qsort(fr, n_fr, sizeof *fr, cmp_frag);
  }
  *out = fr;
  *n_out = n_fr;
  fr = NULL;
  st = TY_OK;
done:
  free(occ);
  free(state);
  free(fr);
  return st;
}


ty_status ty_tok_encode(const ty_tok *t, const char *text, size_t len, unsigned flags,
                        int32_t **ids, size_t *n, ty_err *err) {
  struct tok_out o = { NULL, 0, 0 };
  struct frag *fr = NULL;
  size_t n_fr = 0, k;
  ty_status st = TY_OK;
  int add = (flags & TY_TOK_ADD_SPECIAL) != 0;
  int prev_special = 1;          /* SPM: a space prefix goes on the first fragment */
  char *buf = NULL;
  size_t buf_cap = 0;

  *ids = NULL;
  *n = 0;
  if (len > (size_t)INT32_MAX / 4)
    return ty_err_set(err, TY_ERR_ARG, "tokenizer: text of %zu bytes is too long to encode", len);
  if (text == NULL && len > 0)
    return ty_err_set(err, TY_ERR_ARG, "tokenizer: NULL text");
  if (len > 0 && partition(t, text, len, (flags & TY_TOK_PARSE_SPECIAL) != 0, &fr, &n_fr) != TY_OK)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  if (add && t->add_bos && t->bos >= 0)
    st = tok_out_push(&o, t->bos);
  for (k = 0; k < n_fr && st == TY_OK; k++) {
    const char *p = text + fr[k].pos;
    size_t l = fr[k].len, need, j, w = 0;
    if (fr[k].id >= 0) {
      st = tok_out_push(&o, fr[k].id);
      prev_special = 1;
      continue;
    }
    if (t->kind == TY_TOK_SPM || t->escape_ws) {
      /* spaces become U+2581 (3 bytes); SPM may add one in front */
      need = 3 * l + 3;
      if (need > buf_cap) {
        char *nb = realloc(buf, need);
        if (nb == NULL) {
          st = TY_ERR_NOMEM;
          break;
        }
        buf = nb;
        buf_cap = need;
      }
      if (t->kind == TY_TOK_SPM && t->add_space_prefix && prev_special) {
        memcpy(buf, "\xe2\x96\x81", 3);
        w = 3;
      }
      for (j = 0; j < l; j++) {
        if (p[j] == ' ') {
          memcpy(buf + w, "\xe2\x96\x81", 3);
          w += 3;
        } else {
          buf[w++] = p[j];
        }
      }
      p = buf;
      l = w;
    }
    if (t->kind == TY_TOK_SPM)
      st = tok_spm_encode(t, p, l, &o, err);
    else
      st = tok_bpe_encode(t, p, l, &o, err);
    prev_special = 0;
  }
  if (st == TY_OK && add && t->add_eos && t->eos >= 0)
    st = tok_out_push(&o, t->eos);
  free(fr);
  free(buf);
  if (st != TY_OK) {
    free(o.ids);
    if (st == TY_ERR_NOMEM)
      return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
    return st;
  }
  *ids = o.ids;
  *n = o.n;
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** Pieces and decoding
** ====================================================================== */

/* Writes p[0..n) at buf+*w, as far as size allows; *w always advances. */
static void put(char *buf, size_t size, size_t *w, const char *p, size_t n) {
  if (*w < size)
    memcpy(buf + *w, p, n < size - *w ? n : size - *w);
  *w += n;
}


/* Decodes the UTF-8 character at p (n bytes left) leniently, as llama.cpp's
   unicode_cpts_from_utf8: returns its length and sets *cp (U+FFFD and 1 for
   a malformed byte). */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp) {
  size_t adv = 1;
  *cp = ty_utf8_decode((const char *)p, n, &adv);
  return adv ? adv : 1;
}


size_t ty_tok_piece(const ty_tok *t, int32_t id, int special, char *buf, size_t size) {
  const char *txt;
  size_t n, w = 0;
  uint32_t a;
  if (t == NULL || id < 0 || id >= t->n)
    return 0;
  a = t->attr[id];
  txt = t->blob + t->off[id];
  n = t->len[id];
  if (!special && (a & (TY_TOK_ATTR_UNKNOWN | TY_TOK_ATTR_CONTROL)))
    return 0;
  if (a & (TY_TOK_ATTR_UNKNOWN | TY_TOK_ATTR_CONTROL | TY_TOK_ATTR_USER_DEFINED)) {
    put(buf, size, &w, txt, n);
    return w;
  }
  if (a & TY_TOK_ATTR_NORMAL) {
    size_t i = 0;
    if (t->kind == TY_TOK_SPM || t->escape_ws) {
      while (i < n) {
        if (i + 3 <= n && memcmp(txt + i, "\xe2\x96\x81", 3) == 0) {
          put(buf, size, &w, " ", 1);
          i += 3;
        } else {
          put(buf, size, &w, txt + i, 1);
          i++;
        }
      }
      return w;
    }
    /* GPT-2 byte decoding of each code point */
    while (i < n) {
      uint32_t cp;
      size_t l = utf8_next((const unsigned char *)txt + i, n - i, &cp);
      int b = tok_cp_to_byte(cp);
      if (b >= 0) {
        char c = (char)b;
        put(buf, size, &w, &c, 1);
      } else {
        /* llama.cpp's marker for a code point that stands for no byte */
        char hx[8], u[4];
        size_t k, ul = ty_utf8_encode(cp, u);
        put(buf, size, &w, "[UNK_BYTE_0x", 12);
        for (k = 0; k < ul; k++) {
          snprintf(hx, sizeof hx, "%02x", (unsigned char)u[k]);
          put(buf, size, &w, hx, 2);
        }
        put(buf, size, &w, txt, n);
        put(buf, size, &w, "]", 1);
      }
      i += l;
    }
    return w;
  }
  if (a & TY_TOK_ATTR_BYTE) {
    /* "<0xXX>": the byte is the two hex digits */
    if (n >= 5) {
      char hx[3] = { txt[3], txt[4], 0 };
      char c = (char)strtol(hx, NULL, 16);
      put(buf, size, &w, &c, 1);
    }
    return w;
  }
  return 0;                      /* undefined or unused: nothing, as llama.cpp */
}


/* llama.cpp's clean_up_tokenization_spaces passes over s[0..n); returns the
   new length. */
static size_t clean_spaces(char *s, size_t n) {
  size_t i, o, n2, n3;
  if (n == 0)
    return 0;
  for (i = 1, o = 1; i < n; i++) {            /* " ?", " !", " .", " ," */
    char x = s[i];
    if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
      o--;
    s[o++] = x;
  }
  n2 = o;
  for (i = 1, o = 1; i < n2; i++) {           /* " ' " -> "'" */
    char x = s[i];
    if (x == '\'' && i + 1 < n2 && s[i - 1] == ' ' && s[i + 1] == ' ') {
      o--;
      s[++i] = '\0';
    }
    s[o++] = x;
  }
  n3 = o;
  for (i = 1, o = 1; i < n3; i++) {           /* " 's", " 'm", " 're", " 've" */
    char x = s[i];
    if (s[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
      char x1 = s[i + 1];
      if (x1 == 's' || x1 == 'm')
        o--;
      else if (i + 2 < n3 && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e')))
        o--;
    }
    s[o++] = x;
  }
  return o;
}


ty_status ty_tok_decode(const ty_tok *t, const int32_t *ids, size_t n, int remove_special,
                        int unparse_special, char **out, size_t *out_len, ty_err *err) {
  size_t total = 0, k, w;
  int remove_space = t->add_space_prefix;
  char *s;
  *out = NULL;
  *out_len = 0;
  if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
    remove_space = 0;
    ids++;
    n--;
  }
  if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos)
    n--;
  for (k = 0; k < n; k++)
    total += ty_tok_piece(t, ids[k], unparse_special, NULL, 0);
  s = malloc(total + 1);
  if (s == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory decoding %zu tokens", n);
  for (k = 0, w = 0; k < n; k++) {
    size_t l = ty_tok_piece(t, ids[k], unparse_special, s + w, total - w);
    if (remove_space && l > 0 && s[w] == ' ') {
      memmove(s + w, s + w + 1, l - 1);
      l--;
    }
    remove_space = 0;
    w += l;
  }
  if (t->clean_spaces)
    w = clean_spaces(s, w);
  s[w] = '\0';
  *out = s;
  *out_len = w;
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** Streaming decoder
** ====================================================================== */

/* How many bytes the character led by b needs in all (0: b cannot lead), and
   the allowed range of its second byte. */
static int utf8_need(unsigned char b, unsigned char *lo, unsigned char *hi) {
  *lo = 0x80;
  *hi = 0xbf;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b == 0xe0) { *lo = 0xa0; return 3; }
  if (b >= 0xe1 && b <= 0xec) return 3;
  if (b == 0xed) { *hi = 0x9f; return 3; }
  if (b >= 0xee && b <= 0xef) return 3;
  if (b == 0xf0) { *lo = 0x90; return 4; }
  if (b >= 0xf1 && b <= 0xf3) return 4;
  if (b == 0xf4) { *hi = 0x8f; return 4; }
  return 0;
}


/* Feeds one byte to the decoder: whole characters go to out, a byte that
   cannot continue the pending character ends it as U+FFFD (the maximal
   invalid part) and is then tried as a start. Returns bytes written. */
static size_t detok_byte(ty_detok *d, unsigned char b, char *out) {
  unsigned char lo, hi;
  size_t w = 0;
  int need;
  if (d->n > 0) {
    int n0 = utf8_need(d->pend[0], &lo, &hi);
    int ok = d->n == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xbf);
    if (ok) {
      d->pend[d->n++] = b;
      if (d->n == n0) {
        memcpy(out, d->pend, (size_t)n0);
        d->n = 0;
        return (size_t)n0;
      }
      return 0;
    }
    memcpy(out, "\xef\xbf\xbd", 3);
    w = 3;
    d->n = 0;
  }
  need = utf8_need(b, &lo, &hi);
  if (need == 1) {
    out[w++] = (char)b;
  } else if (need == 0) {
    memcpy(out + w, "\xef\xbf\xbd", 3);
    w += 3;
  } else {
    d->pend[0] = b;
    d->n = 1;
  }
  return w;
}


size_t ty_detok_push(ty_detok *d, const char *piece, size_t len, char *out) {
  size_t w = 0, i;
  if (d->n < 0 || d->n > 3)
    d->n = 0;
  for (i = 0; i < len; i++) {
    unsigned char b = (unsigned char)piece[i];
    if (d->n == 0 && b < 0x80) {
      out[w++] = (char)b;        /* the common case */
      continue;
    }
    w += detok_byte(d, b, out + w);
  }
  return w;
}


size_t ty_detok_flush(ty_detok *d, char *out) {
  size_t w = 0;
  if (d->n > 0) {
    memcpy(out, "\xef\xbf\xbd", 3);
    w = 3;
  }
  d->n = 0;
  return w;
}


/* }====================================================================== */


/* {======================================================================
** Accessors
** ====================================================================== */

enum ty_tok_kind ty_tok_kind(const ty_tok *t) { return t->kind; }
int32_t ty_tok_n_vocab(const ty_tok *t) { return t->n; }
int32_t ty_tok_bos(const ty_tok *t) { return t->bos; }
int32_t ty_tok_eos(const ty_tok *t) { return t->eos; }
int32_t ty_tok_eot(const ty_tok *t) { return t->eot; }
int32_t ty_tok_unk(const ty_tok *t) { return t->unk; }
int32_t ty_tok_pad(const ty_tok *t) { return t->pad; }
int ty_tok_add_bos(const ty_tok *t) { return t->add_bos; }
int ty_tok_add_eos(const ty_tok *t) { return t->add_eos; }
const char *ty_tok_pre(const ty_tok *t) { return t->pre; }


int ty_tok_is_eog(const ty_tok *t, int32_t id) {
  return id >= 0 && bsearch(&id, t->eog, t->n_eog, sizeof *t->eog, cmp_i32) != NULL;
}


size_t ty_tok_eog_ids(const ty_tok *t, const int32_t **ids) {
  *ids = t->eog;
  return t->n_eog;
}


unsigned ty_tok_attr(const ty_tok *t, int32_t id) {
  return id >= 0 && id < t->n ? t->attr[id] : 0;
}


float ty_tok_score(const ty_tok *t, int32_t id) {
  return id >= 0 && id < t->n ? t->score[id] : 0.0f;
}


const char *ty_tok_text(const ty_tok *t, int32_t id, size_t *len) {
  if (id < 0 || id >= t->n) {
    *len = 0;
    return NULL;
  }
  *len = t->len[id];
  return t->blob + t->off[id];
}


/* }====================================================================== */
