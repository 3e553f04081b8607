/*
 * model_impl.h: what model.c (loading) and forward.c (running) share:
 * hyperparameters, weights and run state in three separate structs.
 */
#ifndef TY_MODEL_IMPL_H
#define TY_MODEL_IMPL_H

#include "model.h"
#include "../backend/backend.h"

/* A weight is a view whose data the backend made resident; absent = NULL data. */
struct ty_layer_weights {
  struct ty_view attn_norm;       /* (n_embd) */
  struct ty_view wq;              /* (n_head*head_dim, n_embd): rows = outputs */
  struct ty_view wk;              /* (n_head_kv*head_dim, n_embd) */
  struct ty_view wv;              /* (n_head_kv*v_head_dim, n_embd) */
  struct ty_view wo;              /* (n_embd, n_head*v_head_dim) */
  struct ty_view q_norm, k_norm;  /* (head_dim): gemma3 */
  struct ty_view post_attn_norm;  /* (n_embd): gemma3 */
  struct ty_view ffn_norm;        /* (n_embd) */
  struct ty_view gate, up;        /* (n_ff, n_embd) */
  struct ty_view down;            /* (n_embd, n_ff) */
  struct ty_view post_ffn_norm;   /* (n_embd): gemma3 */
};

struct ty_weights {
  struct ty_view tok_embd;        /* (n_vocab, n_embd) */
  struct ty_view output_norm;     /* (n_embd) */
  struct ty_view output;          /* (n_vocab, n_embd); tok_embd when tied */
  struct ty_view rope_freqs;      /* (rope_dims/2) or absent */
  struct ty_layer_weights *layers;  /* n_layer */
};

/* Activations for up to n_batch tokens, all f32, row per token; and the cache. */
struct ty_state {
  struct ty_view x;       /* (n_batch, n_embd) residual stream */
  struct ty_view xb;      /* (n_batch, n_embd) normed input */
  struct ty_view xb2;     /* (n_batch, n_embd) block output */
  struct ty_view q;       /* (n_batch, n_head*head_dim) */
  struct ty_view k;       /* (n_batch, n_head_kv*head_dim) */
  struct ty_view v;       /* (n_batch, n_head_kv*v_head_dim) */
  struct ty_view att;     /* (n_batch, n_head*v_head_dim) */
  struct ty_view hb, hb2; /* (n_batch, n_ff) */
  struct ty_view logits;  /* (1, n_vocab) */
  struct ty_view *kc, *vc;  /* per layer: (n_ctx, n_head_kv*head_dim) in kv_type */
  int32_t *pos;           /* (n_batch) host: position of each token */
  float *logits_host;     /* (n_vocab) */
  int n_past;
};

struct ty_model {
  ty_gguf *gguf;
  ty_backend_t be;
  struct ty_hparams hp;
  struct ty_weights w;
  struct ty_state s;
  int n_ctx, n_batch, kv_type;
  ty_cancel_fn cancel;
  void *cancel_ud;
  void **allocs;          /* device allocations to free at close */
  int n_allocs;
  struct ty_model_mem mem;  /* bytes by category, counted as they are bound or allocated */
};

ty_status ty_forward(ty_model *m, const int32_t *tokens, int n, ty_err *err);

#endif
