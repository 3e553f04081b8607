/*
 * model_impl.h: what model.c (loading) and forward.c (running) share:
 * hyperparameters, weights and run state in three separate structs.
 */
#ifndef TY_MODEL_IMPL_H
#define TY_MODEL_IMPL_H

#include "model.h"
#include "../backend/backend.h"
#include "../backend/device.h"

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
/* The activations live per device, indexed by enum ty_state_buf:
     x, xb, xb2   (n_batch, n_embd)   residual stream, normed input, block output
     q, att       (n_batch, n_head*head_dim)
     k, v         (n_batch, n_head_kv*head_dim)
     hb, hb2      (n_batch, n_ff)
     logits       (1, n_vocab)        on the output layer's device
   A device holds what its share needs (data NULL otherwise). */
/* One allocation that buffers of a category are carved from: sized in a
   first pass (base NULL), then allocated and handed out in a second. */
struct ty_arena {
  char *base;
  size_t size, used;
};

struct ty_device {
  ty_backend_t be;
  int kind, index;          /* enum ty_dev_kind and the GPU's number */
  struct ty_view act[TY_STATE_N_ACT];
  struct ty_view scratch;   /* a GPU holding layers: its backend's work memory */
  struct ty_arena kv, compute;
  struct ty_arena wts;      /* a GPU: its copy of the weights it holds */
  uint64_t free_before;     /* a GPU: free bytes before its backend opened */
  struct ty_model_mem mem;
};

struct ty_state {
  struct ty_view *kc, *vc;  /* per layer, on its device: (n_ctx, n_head_kv*head_dim) in kv_type */
  int32_t *pos;           /* (n_batch) host: position of each token */
  float *logits_host;     /* (n_vocab) */
  int n_past;
};

struct ty_alloc { ty_backend_t be; void *ptr; };

struct ty_model {
  ty_gguf *gguf;
  ty_backend_t be;          /* dev[0].be: the embedding's device */
  int n_dev;
  struct ty_device dev[TY_MODEL_MAX_DEVICES];
  int *layer_dev;           /* (n_layer) the device of each layer */
  int out_dev;              /* the device of output_norm and output */
  struct ty_hparams hp;
  struct ty_weights w;
  struct ty_state s;
  int n_ctx, n_batch, kv_type;
  bool sizing;              /* bind_weights' first pass: count a GPU's weight bytes */
  ty_cancel_fn cancel;
  void *cancel_ud;
  struct ty_alloc *allocs;  /* device allocations to free at close */
  int n_allocs;
  struct ty_model_mem mem;  /* bytes by category over all devices, counted as they are bound or allocated */
};

/* Runs n tokens; with fn, hands fn the logits of every token from `from` on,
   else keeps the last token's in logits_host. */
ty_status ty_forward(ty_model *m, const int32_t *tokens, int n, int from, ty_logits_fn fn,
                     void *ud, ty_err *err);

#endif
