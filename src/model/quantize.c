/*
 * quantize.c: llama-quantize for the architectures tycho runs. The type of
 * each tensor follows llama.cpp's src/llama-quant.cpp (llama_tensor_get_type
 * and its helpers) for the file types tycho can write: which tensors may be
 * quantized at all, the output and tied embedding at Q6_K (Q8_0 when a row
 * is not whole blocks), attn_v and ffn_down raised by layer position, and
 * the fallbacks when a row is not a multiple of the K formats' 256. No
 * importance matrix: each quantizer is GGML's reference one
 * (quantize_row_*_ref), as llama-quantize uses without --imatrix.
 */
#include "quantize.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "model.h"
#include "../gguf/gguf.h"
#include "../tensor/tensor.h"

/* enum llama_ftype values, as llama.h numbers them */
struct ftype { const char *name; int ftype, type; };

static const struct ftype ftypes[] = {
  { "Q4_0", 2, TY_QTYPE_Q4_0 },     { "Q4_1", 3, TY_QTYPE_Q4_1 },
  { "Q5_0", 8, TY_QTYPE_Q5_0 },     { "Q5_1", 9, TY_QTYPE_Q5_1 },
  { "Q2_K", 10, TY_QTYPE_Q2_K },    { "Q3_K_S", 11, TY_QTYPE_Q3_K },
  { "Q3_K_M", 12, TY_QTYPE_Q3_K },  { "Q3_K_L", 13, TY_QTYPE_Q3_K },
  { "Q4_K_S", 14, TY_QTYPE_Q4_K },  { "Q4_K_M", 15, TY_QTYPE_Q4_K },
  { "Q5_K_S", 16, TY_QTYPE_Q5_K },  { "Q5_K_M", 17, TY_QTYPE_Q5_K },
  { "Q6_K", 18, TY_QTYPE_Q6_K },    { "Q8_0", 7, TY_QTYPE_Q8_0 },
  { "F16", 1, TY_QTYPE_F16 },       { "BF16", 32, TY_QTYPE_BF16 },
  { "F32", 0, TY_QTYPE_F32 },
};
#define N_FTYPES (int)(sizeof ftypes / sizeof ftypes[0])

enum { FT_Q2_K = 10, FT_Q3_K_S, FT_Q3_K_M, FT_Q3_K_L, FT_Q4_K_S, FT_Q4_K_M, FT_Q5_K_S, FT_Q5_K_M };

enum category { CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV, CAT_ATTN_KV_B,
                CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OUTPUT, CAT_OTHER };


static const struct ftype *ftype_find(const char *name) {
  static const char *const alias[][2] = { { "Q3_K", "Q3_K_M" }, { "Q4_K", "Q4_K_M" },
                                          { "Q5_K", "Q5_K_M" } };
  for (int i = 0; i < 3; i++)
    if (strcasecmp(name, alias[i][0]) == 0) name = alias[i][1];
  for (int i = 0; i < N_FTYPES; i++)
    if (strcasecmp(name, ftypes[i].name) == 0) return &ftypes[i];
  return NULL;
}


int ty_quant_ftype(const char *name) {
  const struct ftype *f = ftype_find(name);
  return f != NULL ? f->ftype : -1;
}


const char *const *ty_quant_ftype_names(void) {
  static const char *names[N_FTYPES + 1];
  for (int i = 0; i < N_FTYPES; i++) names[i] = ftypes[i].name;
  return names;
}


/* {======================================================================
** The type mix (llama-quant.cpp)
** ====================================================================== */

struct mix {
  int ftype, default_type;
  int n_gqa, n_expert;
  bool is_70b, tied;
  int n_attention_wv, i_attention_wv;
  int n_layer, i_ffn_down, i_ffn_gate, i_ffn_up;
};


static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }


static enum category category(const char *name) {
  if (strcmp(name, "output.weight") == 0) return CAT_OUTPUT;
  if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
    return CAT_TOKEN_EMBD;
  if (has(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
  if (has(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
  if (has(name, "attn_v.weight")) return CAT_ATTN_V;
  if (has(name, "attn_k.weight")) return CAT_ATTN_K;
  if (has(name, "attn_q.weight")) return CAT_ATTN_Q;
  if (has(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
  if (has(name, "ffn_up")) return CAT_FFN_UP;
  if (has(name, "ffn_gate")) return CAT_FFN_GATE;
  if (has(name, "ffn_down")) return CAT_FFN_DOWN;
  return CAT_OTHER;
}


static bool is_attn_v(enum category c) {
  return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}


/* ggml_n_dims: dimensions up to the last one above 1. */
static int n_dims(const struct ty_gguf_tensor *t) {
  for (int d = TY_GGUF_MAX_DIMS - 1; d >= 1; d--)
    if (t->ne[d] > 1) return d + 1;
  return 1;
}


/* tensor_allows_quantization: 2-D and up weights, not norms and not the
   small special tensors llama.cpp leaves alone. */
static bool allows_quantization(const struct ty_gguf_tensor *t) {
  static const char *const keep[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight",
    "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
    "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd", NULL
  };
  size_t len = strlen(t->name);
  if (n_dims(t) < 2 || len < 6 || strcmp(t->name + len - 6, "weight") != 0) return false;
  if (strcmp(t->name, "position_embd.weight") == 0 || strcmp(t->name, "token_types.weight") == 0)
    return false;
  for (int i = 0; keep[i] != NULL; i++)
    if (has(t->name, keep[i])) return false;
  return true;
}


static bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}


/* The layer of an ffn tensor: its position among its kind, or (mixtures of
   experts, whose tensors are not in layer order) the number in its name. */
static int layer_of(const struct mix *q, int counter, const char *name) {
  int l = counter;
  if (q->n_expert > 1 && sscanf(name, "blk.%d.", &l) != 1) l = counter;
  return l;
}


/* llama_tensor_get_type_impl, for the file types tycho writes. */
static int type_by_rules(struct mix *q, int t, const struct ty_gguf_tensor *tn, enum category c) {
  const int ft = q->ftype;
  if (c == CAT_OUTPUT || (q->tied && c == CAT_TOKEN_EMBD)) {
    const struct ty_qtype_traits *tr = ty_qtype_get(t);
    if (tn->ne[0] % tr->blck_size != 0) t = TY_QTYPE_Q8_0;
    else if (t != TY_QTYPE_Q8_0) t = TY_QTYPE_Q6_K;
  } else if (c == CAT_TOKEN_EMBD) {
    /* only the i-quant and ternary file types change it */
  } else if (is_attn_v(c)) {
    if (ft == FT_Q2_K) t = q->n_gqa >= 4 ? TY_QTYPE_Q4_K : TY_QTYPE_Q3_K;
    else if (ft == FT_Q3_K_M) t = q->i_attention_wv < 2 ? TY_QTYPE_Q5_K : TY_QTYPE_Q4_K;
    else if (ft == FT_Q3_K_L) t = TY_QTYPE_Q5_K;
    else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(q->i_attention_wv, q->n_attention_wv))
      t = TY_QTYPE_Q6_K;
    else if (ft == FT_Q4_K_S && q->i_attention_wv < 4) t = TY_QTYPE_Q5_K;
    if (q->is_70b && (t == TY_QTYPE_Q3_K || t == TY_QTYPE_Q4_K)) t = TY_QTYPE_Q5_K;
    if (q->n_expert == 8) t = TY_QTYPE_Q8_0;
    q->i_attention_wv++;
  } else if (c == CAT_ATTN_K) {
    if (q->n_expert == 8) t = TY_QTYPE_Q8_0;
  } else if (c == CAT_FFN_DOWN) {
    int il = layer_of(q, q->i_ffn_down, tn->name), nl = q->n_layer;
    if (ft == FT_Q2_K) t = TY_QTYPE_Q3_K;
    else if (ft == FT_Q3_K_M) t = il < nl / 16 ? TY_QTYPE_Q5_K : TY_QTYPE_Q4_K;  /* not falcon */
    else if (ft == FT_Q3_K_L) t = TY_QTYPE_Q5_K;
    else if (ft == FT_Q4_K_M) { if (use_more_bits(il, nl)) t = TY_QTYPE_Q6_K; }
    else if (ft == FT_Q5_K_M && use_more_bits(il, nl)) t = TY_QTYPE_Q6_K;
    else if (ft == FT_Q4_K_S && il < nl / 8) t = TY_QTYPE_Q5_K;
    q->i_ffn_down++;
  } else if (c == CAT_ATTN_OUTPUT) {
    if (q->n_expert == 8) {
      if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_Q4_K_S || ft == FT_Q4_K_M)
        t = TY_QTYPE_Q5_K;
    } else if (ft == FT_Q2_K) t = TY_QTYPE_Q3_K;
    else if (ft == FT_Q3_K_M) t = TY_QTYPE_Q4_K;
    else if (ft == FT_Q3_K_L) t = TY_QTYPE_Q5_K;
  } else if (c == CAT_ATTN_QKV) {
    if (ft == FT_Q3_K_M || ft == FT_Q3_K_L) t = TY_QTYPE_Q4_K;
    else if (ft == FT_Q4_K_M) t = TY_QTYPE_Q5_K;
    else if (ft == FT_Q5_K_M) t = TY_QTYPE_Q6_K;
  } else if (c == CAT_FFN_GATE) {
    q->i_ffn_gate++;
  } else if (c == CAT_FFN_UP) {
    q->i_ffn_up++;
  }
  return t;
}


/* tensor_type_fallback: a row that is not whole blocks of the chosen type
   takes the nearest 32-block type, and F16 when even that does not fit. */
static ty_status fallback(const struct ty_gguf_tensor *tn, int t, int *out, ty_err *err) {
  int64_t nx = tn->ne[0];
  if (nx % ty_qtype_get(t)->blck_size == 0) {
    *out = t;
    return TY_OK;
  }
  switch (t) {
  case TY_QTYPE_Q2_K: case TY_QTYPE_Q3_K: t = TY_QTYPE_Q4_0; break;
  case TY_QTYPE_Q4_K: t = TY_QTYPE_Q5_0; break;
  case TY_QTYPE_Q5_K: t = TY_QTYPE_Q5_1; break;
  case TY_QTYPE_Q6_K: t = TY_QTYPE_Q8_0; break;
  default:
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "tensor '%s': rows of %lld values are not whole "
                      "%s blocks and llama.cpp defines no fallback", tn->name, (long long)nx,
                      ty_qtype_get(t)->name);
  }
  *out = nx % ty_qtype_get(t)->blck_size == 0 ? t : TY_QTYPE_F16;
  return TY_OK;
}


/* llama_tensor_get_type. */
static ty_status target_type(struct mix *q, const struct ty_gguf_tensor *tn, int *out, ty_err *err) {
  int t = q->default_type;
  if (!allows_quantization(tn)) {
    *out = tn->type;
    return TY_OK;
  }
  if (q->default_type == TY_QTYPE_F32 || q->default_type == TY_QTYPE_F16 ||
      q->default_type == TY_QTYPE_BF16) {
    *out = t;
    return TY_OK;
  }
  t = type_by_rules(q, t, tn, category(tn->name));
  return fallback(tn, t, out, err);
}


/* }====================================================================== */


/* llama.cpp's tensor order (llama_model_loader's weight_name_comparer):
   tensors outside blocks first, then by block number, each group by name. */
static int block_of(const char *name) {
  int l = -1;
  if (sscanf(name, "blk.%d.", &l) != 1) l = -1;
  return l;
}


static int cmp_tensor(const void *a, const void *b) {
  const struct ty_gguf_tensor *x = *(const struct ty_gguf_tensor *const *)a;
  const struct ty_gguf_tensor *y = *(const struct ty_gguf_tensor *const *)b;
  int lx = block_of(x->name), ly = block_of(y->name);
  if (lx != ly) return lx < ly ? -1 : 1;
  return strcmp(x->name, y->name);
}


/* One thread's share of a tensor: rows [r0, r1) from src to dst. */
struct job {
  const struct ty_gguf_tensor *t;
  int to;
  int64_t r0, r1;
  void *dst;
  float *row;
};


static void *convert_rows(void *arg) {
  struct job *j = arg;
  const struct ty_qtype_traits *from = ty_qtype_get_ref(j->t->type), *to = ty_qtype_get_ref(j->to);
  int64_t nx = j->t->ne[0];
  size_t in_row = ty_qtype_row_size(j->t->type, nx), out_row = ty_qtype_row_size(j->to, nx);
  for (int64_t r = j->r0; r < j->r1; r++) {
    from->to_float((const char *)j->t->data + (size_t)r * in_row, j->row, nx);
    to->from_float(j->row, (char *)j->dst + (size_t)r * out_row, nx);
  }
  return NULL;
}


/* Converts all rows of t to type `to` into dst over nthread threads (the
   calling one included; a share no thread could be started for runs here). */
static ty_status convert(const struct ty_gguf_tensor *t, int to, void *dst, int nthread,
                         ty_err *err) {
  struct job jobs[16];
  pthread_t th[16];
  int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
  int n = rows < nthread ? (int)rows : nthread, made = 1;
  ty_status st = TY_OK;
  if (ty_qtype_get_ref(to)->from_float == NULL)
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "tensor '%s': tycho cannot quantize to %s",
                      t->name, ty_qtype_get(to)->name);
  for (int i = 0; i < n; i++) {
    jobs[i] = (struct job){ .t = t, .to = to, .r0 = rows * i / n, .r1 = rows * (i + 1) / n,
                            .dst = dst, .row = malloc((size_t)t->ne[0] * sizeof(float)) };
    if (jobs[i].row == NULL) st = ty_err_set(err, TY_ERR_NOMEM, "tensor '%s': out of memory", t->name);
  }
  if (st == TY_OK) {
    for (; made < n; made++)
      if (pthread_create(&th[made], NULL, convert_rows, &jobs[made]) != 0) break;
    for (int i = made; i < n; i++) convert_rows(&jobs[i]);
    convert_rows(&jobs[0]);
    for (int i = 1; i < made; i++) pthread_join(th[i], NULL);
  }
  for (int i = 0; i < n; i++) free(jobs[i].row);
  return st;
}


/* Copies every key of g except the split ones into w. */
static ty_status copy_metadata(const ty_gguf *g, ty_gguf_writer *w, ty_err *err) {
  for (uint64_t i = 0; i < ty_gguf_n_kv(g); i++) {
    const struct ty_gguf_kv *kv = ty_gguf_kv_at(g, i);
    char key[256];
    if (kv->key.len >= sizeof key)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: a key of %llu bytes", ty_gguf_path(g),
                        (unsigned long long)kv->key.len);
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = '\0';
    if (strcmp(key, "split.no") == 0 || strcmp(key, "split.count") == 0 ||
        strcmp(key, "split.tensors.count") == 0)
      continue;
    if (ty_gguf_writer_set_value(w, key, &kv->value) != TY_OK)
      return ty_err_set(err, TY_ERR_NOMEM, "%s: cannot copy key '%s'", ty_gguf_path(g), key);
  }
  return TY_OK;
}


ty_status ty_quantize(const char *in_path, const char *out_path, const char *ftype_name,
                      int nthread, ty_quant_progress_fn progress, void *ud, ty_err *err) {
  const struct ftype *ft = ftype_find(ftype_name);
  struct ty_hparams hp;
  struct mix q = { 0 };
  ty_gguf *g = NULL, *hdr = NULL;
  ty_gguf_writer *w = NULL;
  const struct ty_gguf_tensor **order = NULL;
  int *types = NULL, fd = -1;
  void *buf = NULL;
  size_t buf_size = 0;
  char part[4096], key[96];
  uint64_t n;
  uint32_t n_expert = 0;
  ty_status st;

  if (ft == NULL)
    return ty_err_set(err, TY_ERR_ARG, "quantize: unknown type '%s' (F16, Q8_0, Q4_0, Q4_1, Q5_0, "
                      "Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K)",
                      ftype_name);
  if (nthread <= 0) nthread = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (nthread < 1) nthread = 1;
  if (nthread > 16) nthread = 16;
  /* a name of its own, so two runs writing one output never share a file */
  if (out_path != NULL &&
      snprintf(part, sizeof part, "%s.%d.part", out_path, (int)getpid()) >= (int)sizeof part)
    return ty_err_set(err, TY_ERR_ARG, "quantize: output path too long");
  if ((st = ty_gguf_open(in_path, &g, err)) != TY_OK) return st;
  if ((st = ty_hparams_read(g, &hp, err)) != TY_OK) goto done;
  snprintf(key, sizeof key, "%s.expert_count", hp.arch_name);
  ty_gguf_get_u32(g, key, &n_expert);

  n = ty_gguf_n_tensors(g);
  order = malloc((size_t)(n ? n : 1) * sizeof *order);
  types = malloc((size_t)(n ? n : 1) * sizeof *types);
  if (order == NULL || types == NULL || (w = ty_gguf_writer_new()) == NULL) {
    st = ty_err_set(err, TY_ERR_NOMEM, "quantize: out of memory");
    goto done;
  }
  for (uint64_t i = 0; i < n; i++) order[i] = ty_gguf_tensor_at(g, i);
  qsort(order, (size_t)n, sizeof *order, cmp_tensor);

  q.ftype = ft->ftype;
  q.default_type = ft->type;
  q.n_gqa = hp.n_head_kv > 0 ? hp.n_head / hp.n_head_kv : 0;
  q.n_expert = (int)n_expert;
  q.is_70b = hp.arch == TY_ARCH_LLAMA && hp.n_layer == 80 && hp.n_head != hp.n_head_kv;
  q.n_layer = hp.n_layer;
  q.tied = true;
  for (uint64_t i = 0; i < n; i++) {
    enum category c = category(order[i]->name);
    if (is_attn_v(c)) q.n_attention_wv++;
    if (c == CAT_OUTPUT) q.tied = false;
  }

  /* the header first: metadata, then each tensor declared at its new type */
  ty_gguf_writer_set_alignment(w, ty_gguf_alignment(g));
  if ((st = copy_metadata(g, w, err)) != TY_OK) goto done;
  if (ty_gguf_writer_set_u32(w, "general.quantization_version", 2) != TY_OK ||
      ty_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ft->ftype) != TY_OK) {
    st = ty_err_set(err, TY_ERR_NOMEM, "quantize: out of memory");
    goto done;
  }
  for (uint64_t i = 0; i < n; i++) {
    const struct ty_gguf_tensor *t = order[i];
    if ((st = target_type(&q, t, &types[i], err)) != TY_OK ||
        (st = ty_gguf_writer_add_tensor(w, t->name, types[i], t->n_dims, t->ne, NULL, err)))
      goto done;
    if (out_path == NULL && progress != NULL &&
        progress(ud, (int)i + 1, (int)n, t->name, t->type, types[i]) != 0) {
      st = ty_err_set(err, TY_ERR_CANCELLED, "interrupted");
      goto done;
    }
  }
  if (out_path == NULL) goto done;
  if ((st = ty_gguf_writer_write(w, part, err)) != TY_OK) goto done;

  /* then the data, at the offsets the written header gives */
  if ((st = ty_gguf_open_header(part, &hdr, err)) != TY_OK) goto done;
  if ((fd = open(part, O_WRONLY | O_CLOEXEC)) < 0) {
    st = ty_err_set(err, TY_ERR_IO, "%s: %s", part, strerror(errno));
    goto done;
  }
  for (uint64_t i = 0; i < n; i++) {
    const struct ty_gguf_tensor *t = order[i], *o = ty_gguf_tensor_find(hdr, t->name);
    const void *data = t->data;
    if (o == NULL) {
      st = ty_err_set(err, TY_ERR_FORMAT, "%s: tensor '%s' missing after writing", part, t->name);
      goto done;
    }
    if (progress != NULL && progress(ud, (int)i + 1, (int)n, t->name, t->type, types[i]) != 0) {
      st = ty_err_set(err, TY_ERR_CANCELLED, "interrupted");
      goto done;
    }
    if (types[i] != t->type) {
      if (o->nbytes > buf_size) {
        free(buf);
        buf_size = (size_t)o->nbytes;
        if ((buf = malloc(buf_size)) == NULL) {
          st = ty_err_set(err, TY_ERR_NOMEM, "quantize: out of memory for tensor '%s' (%zu "
                          "bytes)", t->name, buf_size);
          goto done;
        }
      }
      if ((st = convert(t, types[i], buf, nthread, err)) != TY_OK) goto done;
      data = buf;
    }
    for (uint64_t off = 0; off < o->nbytes;) {
      ssize_t k = pwrite(fd, (const char *)data + off, (size_t)(o->nbytes - off),
                         (off_t)(ty_gguf_data_offset(hdr) + o->offset + off));
      if (k <= 0) {
        st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", part, strerror(errno));
        goto done;
      }
      off += (uint64_t)k;
    }
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    fd = -1;
    st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", part, strerror(errno));
    goto done;
  }
  fd = -1;
  if (rename(part, out_path) != 0)
    st = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", out_path, strerror(errno));

done:
  if (fd >= 0) close(fd);
  if (st != TY_OK && out_path != NULL) remove(part);
  free(buf);
  free(order);
  free(types);
  ty_gguf_writer_free(w);
  ty_gguf_close(hdr);
  ty_gguf_close(g);
  return st;
}
