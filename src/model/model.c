/*
 * model.c: opening a model: hyperparameters from GGUF metadata, weights
 * found and shape-checked in the tensor table, and run state (activations
 * and KV cache) allocated once on the backend.
 */
#include "model_impl.h"
#include "../tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>


void ty_model_params_default(struct ty_model_params *p) {
  memset(p, 0, sizeof *p);
  p->num_ctx = 2048;
  p->num_batch = 512;
  p->kv_type = TY_QTYPE_F16;
  p->output_device = -1;
}


/* ================================================================
   hyperparameters
   ================================================================ */

static bool get_arch_u32(const ty_gguf *g, const char *arch, const char *key, uint32_t *out) {
  char full[128];
  snprintf(full, sizeof full, "%s.%s", arch, key);
  return ty_gguf_get_u32(g, full, out);
}


static bool get_arch_f32(const ty_gguf *g, const char *arch, const char *key, float *out) {
  char full[128];
  snprintf(full, sizeof full, "%s.%s", arch, key);
  return ty_gguf_get_f32(g, full, out);
}


/* A required positive integer: ARCH.key, at most `max`. */
static ty_status need_u32(const ty_gguf *g, const char *arch, const char *key, uint32_t max,
                          int *out, ty_err *err) {
  uint32_t v;
  if (!get_arch_u32(g, arch, key, &v))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: missing or non-integer metadata key '%s.%s'",
                      ty_gguf_path(g), arch, key);
  if (v == 0 || v > max)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: metadata key '%s.%s' = %u is out of range (1..%u)",
                      ty_gguf_path(g), arch, key, v, max);
  *out = (int)v;
  return TY_OK;
}


ty_status ty_hparams_read(const ty_gguf *g, struct ty_hparams *hp, ty_err *err) {
  struct ty_gguf_str s;
  const char *path = ty_gguf_path(g), *a;
  const struct ty_gguf_value *arr;
  const struct ty_gguf_tensor *emb;
  uint32_t u;
  ty_status st;

  memset(hp, 0, sizeof *hp);
  if (!ty_gguf_get_str(g, "general.architecture", &s))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: missing metadata key 'general.architecture'", path);
  snprintf(hp->arch_name, sizeof hp->arch_name, "%.*s", (int)(s.len < 31 ? s.len : 31), s.ptr);
  if (s.len == 5 && memcmp(s.ptr, "llama", 5) == 0)
    hp->arch = TY_ARCH_LLAMA;
  else if (s.len == 6 && memcmp(s.ptr, "gemma3", 6) == 0)
    hp->arch = TY_ARCH_GEMMA3;
  else
    return ty_err_set(err, TY_ERR_UNSUPPORTED,
                      "%s: architecture '%s' is not supported (tycho runs llama and gemma3)",
                      path, hp->arch_name);
  a = hp->arch_name;

  if ((st = need_u32(g, a, "embedding_length", 1 << 20, &hp->n_embd, err)) != TY_OK ||
      (st = need_u32(g, a, "block_count", 4096, &hp->n_layer, err)) != TY_OK ||
      (st = need_u32(g, a, "attention.head_count", 4096, &hp->n_head, err)) != TY_OK ||
      (st = need_u32(g, a, "feed_forward_length", 1 << 22, &hp->n_ff, err)) != TY_OK)
    return st;
  hp->n_head_kv = hp->n_head;
  if (get_arch_u32(g, a, "attention.head_count_kv", &u)) {
    if (u == 0 || u > (uint32_t)hp->n_head || hp->n_head % u != 0)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: '%s.attention.head_count_kv' = %u does not divide "
                        "head_count %d", path, a, u, hp->n_head);
    hp->n_head_kv = (int)u;
  }
  hp->head_dim = hp->n_embd / hp->n_head;
  if (get_arch_u32(g, a, "attention.key_length", &u)) hp->head_dim = (int)u;
  hp->v_head_dim = hp->head_dim;
  if (get_arch_u32(g, a, "attention.value_length", &u)) hp->v_head_dim = (int)u;
  if (hp->head_dim <= 0 || hp->head_dim > 1024 || hp->head_dim % 2 != 0 ||
      hp->v_head_dim != hp->head_dim)
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: head dimensions %d/%d are not supported "
                      "(even, at most 1024, keys and values alike)", path, hp->head_dim, hp->v_head_dim);
  hp->n_ctx_train = 2048;
  if (get_arch_u32(g, a, "context_length", &u) && u > 0) hp->n_ctx_train = (int)u;
  hp->eps = 1e-5f;
  get_arch_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->eps);
  hp->rope_dims = hp->head_dim;
  if (get_arch_u32(g, a, "rope.dimension_count", &u)) {
    if (u == 0 || u > (uint32_t)hp->head_dim || u % 2 != 0)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: '%s.rope.dimension_count' = %u is not an even "
                        "number up to the head size %d", path, a, u, hp->head_dim);
    hp->rope_dims = (int)u;
  }
  hp->rope_base = 10000.0f;
  get_arch_f32(g, a, "rope.freq_base", &hp->rope_base);
  hp->rope_scale = 1.0f;
  {
    char key[96];
    struct ty_gguf_str type = { 0, "" };
    float factor = 0.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    ty_gguf_get_str(g, key, &type);
    if (get_arch_f32(g, a, "rope.scaling.factor", &factor) && factor > 0.0f &&
        !(type.len == 4 && memcmp(type.ptr, "none", 4) == 0)) {
      if (type.len != 0 && !(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0))
        return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported yet "
                          "(linear is)", path, (int)type.len, type.ptr);
      hp->rope_scale = 1.0f / factor;
    }
  }
  hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
  hp->embd_scale = 1.0f;
  if (hp->arch == TY_ARCH_GEMMA3) {
    /* As llama.cpp's gemma3: NeoX rope, sliding-window layers with base
       10000 and every 6th layer global, embeddings scaled by sqrt(n_embd). */
    hp->rope_neox = true;
    hp->rope_base_swa = 10000.0f;
    hp->swa_pattern = 6;
    if (get_arch_u32(g, a, "attention.sliding_window", &u)) hp->sliding_window = (int)u;
    if (get_arch_u32(g, a, "attention.sliding_window_pattern", &u)) hp->swa_pattern = (int)u;
    hp->embd_scale = sqrtf((float)hp->n_embd);
  }

  emb = ty_gguf_tensor_find(g, "token_embd.weight");
  if (emb == NULL)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
  if (emb->ne[1] <= 0 || emb->ne[1] > (1 << 24))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor 'token_embd.weight' has %lld rows, not a "
                      "vocabulary size", path, (long long)emb->ne[1]);
  hp->n_vocab = (int)emb->ne[1];
  arr = ty_gguf_get_arr(g, "tokenizer.ggml.tokens");
  if (arr != NULL && arr->v.arr.n > (uint64_t)hp->n_vocab)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: the vocabulary has %llu tokens but "
                      "'token_embd.weight' only %d rows", path,
                      (unsigned long long)arr->v.arr.n, hp->n_vocab);
  hp->tied_output = ty_gguf_tensor_find(g, "output.weight") == NULL;
  return TY_OK;
}


/* ================================================================
   weights
   ================================================================ */

/* Tensors in a GPU's weights arena start at this boundary. */
#define WEIGHT_ALIGN 256

/* Finds `name`, checks it is (rows, cols) of a type tycho can use for
   `matmul`, makes it resident on device d, and fills *v. Absent optional
   tensors leave v->data NULL. While m->sizing, it only checks and counts
   the bytes a GPU's weights arena needs. */
static ty_status bind(ty_model *m, int d, struct ty_view *v, const char *name, int64_t cols,
                      int64_t rows, bool required, bool matmul, ty_err *err) {
  const struct ty_gguf_tensor *t = ty_gguf_tensor_find(m->gguf, name);
  const struct ty_qtype_traits *tr;
  const char *path = ty_gguf_path(m->gguf);
  void *data;
  ty_status st;
  memset(v, 0, sizeof *v);
  if (t == NULL) {
    if (!required) return TY_OK;
    return ty_err_set(err, TY_ERR_FORMAT, "%s: missing tensor '%s'", path, name);
  }
  if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], "
                      "expected [%lld, %lld]", path, name, (long long)t->ne[0], (long long)t->ne[1],
                      (long long)t->ne[2], (long long)t->ne[3], (long long)cols, (long long)rows);
  tr = ty_qtype_get(t->type);
  if (tr == NULL || (matmul && tr->vec_dot == NULL) || (!matmul && t->type != TY_QTYPE_F32))
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which tycho cannot "
                      "use there", path, name, tr != NULL ? tr->name : "unknown");
  if (m->dev[d].be->i->weights == NULL) {
    /* a device with memory of its own: sized on the first pass, copied on the second */
    struct ty_arena *a = &m->dev[d].wts;
    size_t aligned = (t->nbytes + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1);
    if (a->base == NULL) {
      a->size += aligned;
      return TY_OK;
    }
    data = a->base + a->used;
    a->used += aligned;
    if ((st = ty_backend_set(m->dev[d].be, data, t->data, t->nbytes, err)) != TY_OK) return st;
  } else if (m->sizing) {
    return TY_OK;
  } else {
    struct ty_view src = ty_view_make((void *)t->data, t->type, rows, cols,
                                      ty_qtype_row_size(t->type, cols));
    if ((st = ty_backend_weights(m->dev[d].be, &src, &data, err)) != TY_OK) return st;
  }
  m->mem.weights += t->nbytes;
  m->dev[d].mem.weights += t->nbytes;
  *v = ty_view_make(data, t->type, rows, cols, ty_qtype_row_size(t->type, cols));
  return TY_OK;
}


static ty_status bind_weights(ty_model *m, ty_err *err) {
  const struct ty_hparams *hp = &m->hp;
  struct ty_weights *w = &m->w;
  bool gemma = hp->arch == TY_ARCH_GEMMA3;
  int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
  ty_status st;

  int od = m->out_dev;
  if ((st = bind(m, 0, &w->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true, true, err)) ||
      (st = bind(m, od, &w->output_norm, "output_norm.weight", hp->n_embd, 1, true, false, err)) ||
      (st = bind(m, 0, &w->rope_freqs, "rope_freqs.weight", hp->rope_dims / 2, 1, false, false, err)))
    return st;
  /* a tied output layer on another device than the embedding needs its own
     copy there, as llama.cpp makes one (the plan counts it the same way) */
  if (hp->tied_output && od == 0)
    w->output = w->tok_embd;
  else if ((st = bind(m, od, &w->output, hp->tied_output ? "token_embd.weight" : "output.weight",
                      hp->n_embd, hp->n_vocab, true, true, err)))
    return st;

  for (int l = 0; l < hp->n_layer; l++) {
    struct ty_layer_weights *L = &w->layers[l];
    char n[64];
#define B(field, suffix, cols, rows, req, mm) \
    (snprintf(n, sizeof n, "blk.%d." suffix ".weight", l), \
     bind(m, m->layer_dev[l], &L->field, n, cols, rows, req, mm, err))
    if ((st = B(attn_norm, "attn_norm", hp->n_embd, 1, true, false)) ||
        (st = B(wq, "attn_q", hp->n_embd, qd, true, true)) ||
        (st = B(wk, "attn_k", hp->n_embd, kd, true, true)) ||
        (st = B(wv, "attn_v", hp->n_embd, kd, true, true)) ||
        (st = B(wo, "attn_output", qd, hp->n_embd, true, true)) ||
        (st = B(ffn_norm, "ffn_norm", hp->n_embd, 1, true, false)) ||
        (st = B(gate, "ffn_gate", hp->n_embd, hp->n_ff, true, true)) ||
        (st = B(up, "ffn_up", hp->n_embd, hp->n_ff, true, true)) ||
        (st = B(down, "ffn_down", hp->n_ff, hp->n_embd, true, true)) ||
        (st = B(q_norm, "attn_q_norm", hp->head_dim, 1, gemma, false)) ||
        (st = B(k_norm, "attn_k_norm", hp->head_dim, 1, gemma, false)) ||
        (st = B(post_attn_norm, "post_attention_norm", hp->n_embd, 1, gemma, false)) ||
        (st = B(post_ffn_norm, "post_ffw_norm", hp->n_embd, 1, gemma, false)))
      return st;
#undef B
  }
  return TY_OK;
}


/* ================================================================
   run state
   ================================================================ */

/* One table entry: rows x cols of type, bytes from the row size. */
static int size_entry(struct ty_state_size *e, const char *name, int type, int64_t rows,
                      int64_t cols) {
  size_t stride = ty_qtype_row_size(type, cols);
  e->name = name;
  e->type = type;
  e->rows = rows;
  e->cols = cols;
  e->bytes = stride * (size_t)rows;
  return stride != 0;
}


/* The scratch of a GPU holding layers: the largest layer weight is
   n_embd x max(q width, n_ff) (wq, wo, gate, up, down); the output layer
   only ever multiplies one token, without cuBLAS. */
static void gpu_scratch(const struct ty_hparams *hp, int n_batch, int n_ctx,
                        struct ty_gpu_scratch *g) {
  int64_t qd = (int64_t)hp->n_head * hp->head_dim, wide = qd > hp->n_ff ? qd : hp->n_ff;
  ty_gpu_scratch_size(n_batch, n_ctx, hp->n_head, hp->head_dim, (int64_t)hp->n_embd * wide,
                      wide > hp->n_embd ? wide : hp->n_embd, g);
}


ty_status ty_model_state_sizes(const struct ty_hparams *hp, int n_ctx, int n_batch, int kv_type,
                               struct ty_state_sizes *out, ty_err *err) {
  static const char *const names[TY_STATE_N_ACT] = {
    "x", "xb", "xb2", "q", "k", "v", "att", "hb", "hb2", "logits"
  };
  int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
  int64_t width[TY_STATE_N_ACT];
  int f32 = TY_QTYPE_F32;

  memset(out, 0, sizeof *out);
  out->n_ctx = n_ctx > 0 ? n_ctx : 2048;
  out->n_batch = n_batch > 0 ? n_batch : 512;
  out->kv_type = kv_type < 0 ? TY_QTYPE_F16 : kv_type;
  if (out->n_ctx > (1 << 24) || out->n_batch > (1 << 16))
    return ty_err_set(err, TY_ERR_ARG, "num_ctx %d or num_batch %d is too large", out->n_ctx,
                      out->n_batch);
  if (ty_qtype_get(out->kv_type) == NULL)
    return ty_err_set(err, TY_ERR_ARG, "kv_type %d is not a tensor type", out->kv_type);
  if (out->n_batch > out->n_ctx) out->n_batch = out->n_ctx;
  width[TY_STATE_X] = width[TY_STATE_XB] = width[TY_STATE_XB2] = hp->n_embd;
  width[TY_STATE_Q] = width[TY_STATE_ATT] = qd;
  width[TY_STATE_K] = width[TY_STATE_V] = kd;
  width[TY_STATE_HB] = width[TY_STATE_HB2] = hp->n_ff;
  width[TY_STATE_LOGITS] = hp->n_vocab;
  for (int i = 0; i < TY_STATE_N_ACT; i++) {
    size_entry(&out->act[i], names[i], f32, i == TY_STATE_LOGITS ? 1 : out->n_batch, width[i]);
    out->compute += out->act[i].bytes;
  }
  out->logits = out->act[TY_STATE_LOGITS].bytes;
  if (!size_entry(&out->k_cache, "k_cache", out->kv_type, out->n_ctx, kd) ||
      !size_entry(&out->v_cache, "v_cache", out->kv_type, out->n_ctx, kd))
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "kv_type %s needs rows that are a multiple of %d "
                      "values (this model's are %lld)", ty_qtype_get(out->kv_type)->name,
                      ty_qtype_get(out->kv_type)->blck_size, (long long)kd);
  out->kv_layer = out->k_cache.bytes + out->v_cache.bytes;
  out->kv = out->kv_layer * (size_t)hp->n_layer;
  out->host = (size_t)out->n_batch * sizeof(int32_t) + (size_t)hp->n_vocab * sizeof(float);
  {
    struct ty_gpu_scratch g;
    gpu_scratch(hp, out->n_batch, out->n_ctx, &g);
    out->gpu_scratch = g.total;
  }
  return TY_OK;
}


/* Allocates one buffer of the size table and points *v at it. */
#define ARENA_ALIGN 64

/* Places the buffer e describes in arena a of device d: while sizing (no
   base yet) it only counts the aligned bytes; afterwards it points *v into
   the arena and counts e's exact bytes in the category at offset `cat` of
   struct ty_model_mem, for the device and for the model. */
static void state_view(ty_model *m, int d, struct ty_arena *a, struct ty_view *v,
                       const struct ty_state_size *e, size_t cat) {
  size_t aligned = (e->bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (a->base == NULL) {
    a->size += aligned;
    return;
  }
  *v = ty_view_make(a->base + a->used, e->type, e->rows, e->cols, e->bytes / (size_t)e->rows);
  a->used += aligned;
  *(size_t *)((char *)&m->mem + cat) += e->bytes;
  *(size_t *)((char *)&m->dev[d].mem + cat) += e->bytes;
}


/* Allocates arena a on device d (nothing when it is empty). */
static ty_status arena_alloc(ty_model *m, int d, struct ty_arena *a, ty_err *err) {
  struct ty_alloc *grown;
  void *data;
  ty_status st;
  if (a->size == 0) return TY_OK;
  grown = realloc(m->allocs, (size_t)(m->n_allocs + 1) * sizeof *grown);
  if (grown == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  m->allocs = grown;
  if ((st = ty_backend_alloc(m->dev[d].be, a->size, &data, err)) != TY_OK) return st;
  m->allocs[m->n_allocs].be = m->dev[d].be;
  m->allocs[m->n_allocs++].ptr = data;
  a->base = data;
  return TY_OK;
}


/* Places the run state on the devices: sizes the arenas on the first call,
   points the buffers into them on the second. A device holding blocks needs
   every activation but the logits; one that only receives the embedding or
   computes the output needs x (and xb for the output norm); the logits live
   with the output layer; each layer's KV cache lives with the layer. The
   plan (src/plan) counts exactly these. */
static void place_state(ty_model *m, const struct ty_state_sizes *sz, const int *held) {
  size_t compute = offsetof(struct ty_model_mem, compute), kv = offsetof(struct ty_model_mem, kv);
  for (int d = 0; d < m->n_dev; d++)
    for (int i = 0; i < TY_STATE_N_ACT; i++) {
      bool out = d == m->out_dev, need;
      if (i == TY_STATE_LOGITS) need = out;
      else if (held[d] > 0) need = true;
      else need = (i == TY_STATE_X && (d == 0 || out)) || (i == TY_STATE_XB && out);
      if (need) state_view(m, d, &m->dev[d].compute, &m->dev[d].act[i], &sz->act[i], compute);
    }
  for (int l = 0; l < m->hp.n_layer; l++) {
    struct ty_device *dv = &m->dev[m->layer_dev[l]];
    state_view(m, m->layer_dev[l], &dv->kv, &m->s.kc[l], &sz->k_cache, kv);
    state_view(m, m->layer_dev[l], &dv->kv, &m->s.vc[l], &sz->v_cache, kv);
  }
  /* a GPU holding layers: its backend's work memory, after the activations */
  for (int d = 0; d < m->n_dev; d++)
    if (held[d] > 0 && m->dev[d].be->i->scratch != NULL) {
      struct ty_state_size e = { "gpu_scratch", TY_QTYPE_F32, 1, 0, sz->gpu_scratch };
      e.cols = (int64_t)(sz->gpu_scratch / sizeof(float));
      state_view(m, d, &m->dev[d].compute, &m->dev[d].scratch, &e, compute);
    }
}


/* Fills the size table, then allocates exactly what it lists. */
static ty_status alloc_state(ty_model *m, ty_err *err) {
  const struct ty_hparams *hp = &m->hp;
  struct ty_state *s = &m->s;
  struct ty_state_sizes sz;
  int held[TY_MODEL_MAX_DEVICES] = { 0 };
  ty_err e;
  ty_status st;

  if ((st = ty_model_state_sizes(hp, m->n_ctx, m->n_batch, m->kv_type, &sz, &e)) != TY_OK)
    return ty_err_set(err, st, "%s: %s", ty_gguf_path(m->gguf), e.msg);
  s->kc = calloc((size_t)hp->n_layer, sizeof *s->kc);
  s->vc = calloc((size_t)hp->n_layer, sizeof *s->vc);
  s->pos = calloc((size_t)sz.n_batch, sizeof *s->pos);
  s->logits_host = calloc((size_t)hp->n_vocab, sizeof *s->logits_host);
  if (s->kc == NULL || s->vc == NULL || s->pos == NULL || s->logits_host == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  m->mem.host = m->dev[0].mem.host = sz.host;
  for (int l = 0; l < hp->n_layer; l++) held[m->layer_dev[l]]++;
  /* size every device's arenas, allocate them, then carve the buffers */
  place_state(m, &sz, held);
  for (int d = 0; d < m->n_dev; d++) {
    if ((st = arena_alloc(m, d, &m->dev[d].compute, err)) != TY_OK ||
        (st = arena_alloc(m, d, &m->dev[d].kv, err)) != TY_OK)
      return st;
    m->dev[d].mem.compute_arena = m->dev[d].compute.size;
    m->dev[d].mem.kv_arena = m->dev[d].kv.size;
    m->mem.compute_arena += m->dev[d].compute.size;
    m->mem.kv_arena += m->dev[d].kv.size;
  }
  place_state(m, &sz, held);
  for (int d = 0; d < m->n_dev; d++)
    if (m->dev[d].scratch.data != NULL) {
      struct ty_gpu_scratch g;
      gpu_scratch(hp, sz.n_batch, sz.n_ctx, &g);
      if ((st = m->dev[d].be->i->scratch(m->dev[d].be->ctx, m->dev[d].scratch.data, &g, err)))
        return st;
    }
  return TY_OK;
}


/* Reads the layer split of p into m: n_dev, layer_dev, out_dev. */
static ty_status read_split(ty_model *m, const struct ty_model_params *p, const char *path,
                            ty_err *err) {
  int n = p->n_devices > 1 ? p->n_devices : 1, nl = m->hp.n_layer, lo = 0;
  if (n > TY_MODEL_MAX_DEVICES)
    return ty_err_set(err, TY_ERR_ARG, "%s: %d devices; at most %d", path, n, TY_MODEL_MAX_DEVICES);
  m->layer_dev = calloc((size_t)(nl > 0 ? nl : 1), sizeof *m->layer_dev);
  if (m->layer_dev == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  m->n_dev = n;
  if (n > 1) {
    for (int d = 0; d < n; d++) {
      int hi = p->layer_end[d];
      if (hi < lo || hi > nl || (d == n - 1 && hi != nl))
        return ty_err_set(err, TY_ERR_ARG, "%s: the layer split must rise to n_layer %d; device %d "
                          "ends at %d", path, nl, d, hi);
      for (int l = lo; l < hi; l++) m->layer_dev[l] = d;
      lo = hi;
    }
  }
  m->out_dev = p->n_devices > 1 && p->output_device >= 0 ? p->output_device
             : nl > 0 ? m->layer_dev[nl - 1] : 0;
  if (m->out_dev >= n)
    return ty_err_set(err, TY_ERR_ARG, "%s: output_device %d, but there are %d devices", path,
                      m->out_dev, n);
  return TY_OK;
}


/* Opens each device's backend. A GPU's free memory is read before the
   first backend on it opens, so measure() sees what the whole load took. */
static ty_status open_devices(ty_model *m, const struct ty_model_params *p, const char *path,
                              ty_err *err) {
  ty_status st;
  for (int d = 0; d < m->n_dev; d++) {
    struct ty_device *dv = &m->dev[d];
    dv->kind = p->device_kind[d];
    dv->index = p->device_index[d];
    if (dv->kind == TY_DEV_CPU) {
      st = ty_backend_cpu_open(p->num_thread, &dv->be, err);
    } else if (dv->kind == TY_DEV_CUDA) {
      if (d == 0)
        return ty_err_set(err, TY_ERR_ARG, "%s: device 0 holds the input and must be the CPU; "
                          "list the GPUs after it", path);
      bool seen = false;
      for (int e = 1; e < d; e++) seen |= m->dev[e].kind == TY_DEV_CUDA && m->dev[e].index == dv->index;
      if (!seen &&
          (st = ty_cuda_device_info(dv->index, NULL, 0, &dv->free_before, NULL, err)) != TY_OK)
        return st;
      st = ty_backend_cuda_open(dv->index, &dv->be, err);
    } else {
      return ty_err_set(err, TY_ERR_ARG, "%s: device %d has unknown kind %d", path, d, dv->kind);
    }
    if (st != TY_OK) return st;
  }
  m->be = m->dev[0].be;
  return TY_OK;
}


/* Binds the weights in two passes: the first sizes each GPU's weights
   arena, the second copies into it (the CPU reads the mapping in place). */
static ty_status load_weights(ty_model *m, ty_err *err) {
  ty_status st;
  m->w.layers = calloc((size_t)m->hp.n_layer, sizeof *m->w.layers);
  if (m->w.layers == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  m->sizing = true;
  if ((st = bind_weights(m, err)) != TY_OK) return st;
  m->sizing = false;
  for (int d = 0; d < m->n_dev; d++) {
    if ((st = arena_alloc(m, d, &m->dev[d].wts, err)) != TY_OK) return st;
    m->dev[d].mem.weights_arena = m->dev[d].wts.size;
    m->mem.weights_arena += m->dev[d].wts.size;
  }
  memset(m->w.layers, 0, (size_t)m->hp.n_layer * sizeof *m->w.layers);
  return bind_weights(m, err);
}


/* For each GPU, the fall of its free memory since before its first backend
   opened, credited to its first device with the overhead: what tycho did
   not allocate itself (driver context, cuBLAS, kernels' modules). */
static void measure(ty_model *m) {
  for (int d = 1; d < m->n_dev; d++) {
    struct ty_device *dv = &m->dev[d];
    uint64_t free_now, allocated = 0;
    ty_err e;
    if (dv->kind != TY_DEV_CUDA || dv->free_before == 0 || dv->be->i->mem_info == NULL ||
        dv->be->i->mem_info(dv->be->ctx, &free_now, NULL, &e) != TY_OK)
      continue;
    for (int o = d; o < m->n_dev; o++)
      if (m->dev[o].kind == TY_DEV_CUDA && m->dev[o].index == dv->index)
        allocated += m->dev[o].mem.weights_arena + m->dev[o].mem.kv_arena +
                     m->dev[o].mem.compute_arena;
    dv->mem.measured = dv->free_before > free_now ? dv->free_before - free_now : 0;
    dv->mem.overhead = dv->mem.measured > allocated ? dv->mem.measured - allocated : 0;
    m->mem.measured += dv->mem.measured;
    m->mem.overhead += dv->mem.overhead;
  }
}


/* ================================================================
   open and close
   ================================================================ */

ty_status ty_model_open(const char *path, const struct ty_model_params *p, ty_model **out,
                        ty_err *err) {
  struct ty_model_params def;
  ty_model *m;
  ty_status st;

  *out = NULL;
  if (p == NULL) {
    ty_model_params_default(&def);
    p = &def;
  }
  m = calloc(1, sizeof *m);
  if (m == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  m->cancel = p->cancel;
  m->cancel_ud = p->cancel_ud;
  m->kv_type = p->kv_type < 0 ? TY_QTYPE_F16 : p->kv_type;
  if (m->kv_type != TY_QTYPE_F16 && m->kv_type != TY_QTYPE_F32 && m->kv_type != TY_QTYPE_Q8_0) {
    st = ty_err_set(err, TY_ERR_ARG, "%s: kv_type must be f16, f32 or q8_0", path);
    goto fail;
  }
  if ((st = ty_gguf_open(path, &m->gguf, err)) != TY_OK) goto fail;
  if (ty_gguf_n_tensors(m->gguf) == 0) {
    st = ty_err_set(err, TY_ERR_FORMAT, "%s: no tensors: a vocabulary-only file has no model to "
                    "run (tycho tokenize reads it)", path);
    goto fail;
  }
  if ((st = ty_hparams_read(m->gguf, &m->hp, err)) != TY_OK) goto fail;
  m->n_ctx = p->num_ctx > 0 ? p->num_ctx : 2048;
  m->n_batch = p->num_batch > 0 ? p->num_batch : 512;
  if (m->n_ctx > (1 << 24) || m->n_batch > (1 << 16)) {
    st = ty_err_set(err, TY_ERR_ARG, "%s: num_ctx %d or num_batch %d is too large", path,
                    m->n_ctx, m->n_batch);
    goto fail;
  }
  if (m->n_batch > m->n_ctx) m->n_batch = m->n_ctx;
  if (ty_qtype_row_size(m->kv_type, m->hp.head_dim) == 0) {
    st = ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: kv_type %s needs a head size that is a multiple "
                    "of %d (this model's is %d); use f16", path, ty_qtype_get(m->kv_type)->name,
                    ty_qtype_get(m->kv_type)->blck_size, m->hp.head_dim);
    goto fail;
  }
  if ((st = read_split(m, p, path, err)) != TY_OK) goto fail;
  if ((st = open_devices(m, p, path, err)) != TY_OK) goto fail;
  if ((st = load_weights(m, err)) != TY_OK) goto fail;
  if ((st = alloc_state(m, err)) != TY_OK) goto fail;
  measure(m);
  *out = m;
  return TY_OK;
fail:
  ty_model_close(m);
  return st;
}


void ty_model_close(ty_model *m) {
  if (m == NULL) return;
  for (int i = 0; i < m->n_allocs; i++)
    ty_backend_free(m->allocs[i].be, m->allocs[i].ptr);
  free(m->allocs);
  free(m->layer_dev);
  free(m->w.layers);
  free(m->s.kc);
  free(m->s.vc);
  free(m->s.pos);
  free(m->s.logits_host);
  for (int d = 0; d < TY_MODEL_MAX_DEVICES; d++) ty_backend_close(m->dev[d].be);
  ty_gguf_close(m->gguf);
  free(m);
}


const struct ty_hparams *ty_model_hparams(const ty_model *m) { return &m->hp; }
const ty_gguf *ty_model_gguf(const ty_model *m) { return m->gguf; }
int ty_model_n_ctx(const ty_model *m) { return m->n_ctx; }
int ty_model_n_threads(const ty_model *m) { return ty_backend_cpu_threads(m->be); }
int ty_model_pos(const ty_model *m) { return m->s.n_past; }
void ty_model_reset(ty_model *m) { m->s.n_past = 0; }
const struct ty_model_mem *ty_model_mem(const ty_model *m) { return &m->mem; }
int ty_model_n_devices(const ty_model *m) { return m->n_dev; }


const struct ty_model_mem *ty_model_mem_device(const ty_model *m, int d) {
  return d >= 0 && d < m->n_dev ? &m->dev[d].mem : NULL;
}


int ty_model_device_kind(const ty_model *m, int d, int *index) {
  if (d < 0 || d >= m->n_dev) return -1;
  if (index != NULL) *index = m->dev[d].index;
  return m->dev[d].kind;
}


void ty_model_rewind(ty_model *m, int n) {
  if (n >= 0 && n < m->s.n_past) m->s.n_past = n;
}
const float *ty_model_logits(const ty_model *m) { return m->s.logits_host; }


static ty_status eval_check(const ty_model *m, const int32_t *tokens, int n, ty_err *err) {
  const char *path = ty_gguf_path(m->gguf);
  if (n <= 0)
    return ty_err_set(err, TY_ERR_ARG, "%s: nothing to evaluate (0 tokens)", path);
  if (n > m->n_ctx - m->s.n_past)
    return ty_err_set(err, TY_ERR_ARG, "%s: %d tokens do not fit the context (%d of %d used); "
                      "raise num_ctx", path, n, m->s.n_past, m->n_ctx);
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
      return ty_err_set(err, TY_ERR_ARG, "%s: token id %d at index %d is outside the vocabulary "
                        "(0..%d)", path, tokens[i], i, m->hp.n_vocab - 1);
  return TY_OK;
}


ty_status ty_model_eval(ty_model *m, const int32_t *tokens, int n, ty_err *err) {
  ty_status st = eval_check(m, tokens, n, err);
  return st != TY_OK ? st : ty_forward(m, tokens, n, 0, NULL, NULL, err);
}


ty_status ty_model_eval_all(ty_model *m, const int32_t *tokens, int n, int from,
                            ty_logits_fn fn, void *ud, ty_err *err) {
  ty_status st = eval_check(m, tokens, n, err);
  if (st != TY_OK) return st;
  if (fn == NULL || from < 0 || from >= n)
    return ty_err_set(err, TY_ERR_ARG, "%s: eval_all needs a logits callback and a first "
                      "token in 0..%d (got %d)", ty_gguf_path(m->gguf), n - 1, from);
  return ty_forward(m, tokens, n, from, fn, ud, err);
}


/* The first index of the largest logit (NaNs never win over l[0]). Two
   passes that vectorize: the maximum in 16 lanes (x > m ? x : m is exactly
   a vector max), then the first block of 16 that holds it. A plain scan
   compares against l[best] and runs one element per load's latency. */
int32_t ty_model_argmax(const ty_model *m) {
  const float *l = m->s.logits_host;
  int32_t n = m->hp.n_vocab, i, full = n / 16 * 16;
  float lane[16], mx = l[0];
  for (int k = 0; k < 16; k++) lane[k] = l[0];
  for (i = 0; i < full; i += 16)
    for (int k = 0; k < 16; k++) lane[k] = l[i + k] > lane[k] ? l[i + k] : lane[k];
  for (int k = 0; k < 16; k++) mx = lane[k] > mx ? lane[k] : mx;
  for (; i < n; i++) mx = l[i] > mx ? l[i] : mx;
  for (i = 0; i < full; i += 16) {
    int hit = 0;
    for (int k = 0; k < 16; k++) hit |= l[i + k] == mx;
    if (hit) break;
  }
  for (; i < n; i++)
    if (l[i] == mx) return i;
  return 0;
}
