/*
 * model.h: transformer models read from GGUF (llama family and gemma3),
 * their hyperparameters, and the forward pass over the backend interface.
 */
#ifndef TY_MODEL_H
#define TY_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/base.h"
#include "../gguf/gguf.h"

enum ty_arch { TY_ARCH_LLAMA = 0, TY_ARCH_GEMMA3 = 1 };

/* Returns nonzero to stop a long computation (checked once per layer). */
typedef int (*ty_cancel_fn)(void *ud);

struct ty_hparams {
  enum ty_arch arch;
  char arch_name[32];        /* general.architecture */
  int n_vocab;
  int n_ctx_train;           /* ARCH.context_length */
  int n_embd;                /* ARCH.embedding_length */
  int n_layer;               /* ARCH.block_count */
  int n_ff;                  /* ARCH.feed_forward_length */
  int n_head, n_head_kv;     /* ARCH.attention.head_count(_kv) */
  int head_dim;              /* ARCH.attention.key_length, else n_embd / n_head */
  int v_head_dim;            /* ARCH.attention.value_length, else head_dim */
  float eps;                 /* ARCH.attention.layer_norm_rms_epsilon */
  int rope_dims;             /* ARCH.rope.dimension_count, else head_dim */
  bool rope_neox;            /* pairs (i, i + d/2) instead of (2i, 2i + 1) */
  float rope_base;           /* ARCH.rope.freq_base */
  float rope_scale;          /* 1 / ARCH.rope.scaling.factor for linear scaling */
  float rope_base_swa;       /* gemma3 sliding-window layers: 10000 */
  int sliding_window;        /* ARCH.attention.sliding_window; 0 = none */
  int swa_pattern;           /* every swa_pattern-th layer is global; 0 = all global */
  float embd_scale;          /* gemma: sqrt(n_embd); else 1 */
  float attn_scale;          /* 1 / sqrt(head_dim) */
  bool tied_output;          /* the output layer reuses token_embd */
};

#define TY_MODEL_MAX_DEVICES 8

struct ty_model_params {
  int num_ctx;               /* context length in tokens; 0 = 2048 (capped at training length) */
  int num_batch;             /* tokens per forward chunk; 0 = 512 */
  int num_thread;            /* 0 = all cores (each device's thread pool) */
  int kv_type;               /* enum ty_qtype: F16 (default), F32 or Q8_0; -1 = default */
  ty_cancel_fn cancel;
  void *cancel_ud;
  /* The layer split over CPU devices, as a plan gives it: device d holds
     layers [layer_end[d - 1], layer_end[d]) (layer_end[-1] = 0, the last
     entry n_layer); device 0 also holds the token embedding and
     output_device the output layer (-1: the last layer's device). 0 or 1
     devices: one. Activations hand over at layer boundaries; each layer's
     KV cache lives with the layer. */
  int n_devices;
  int layer_end[TY_MODEL_MAX_DEVICES];
  int output_device;
  /* The backend of each device: TY_DEV_CPU (default) or TY_DEV_CUDA with
     the GPU's index. Device 0 holds the input and must be the CPU. */
  int device_kind[TY_MODEL_MAX_DEVICES];
  int device_index[TY_MODEL_MAX_DEVICES];
};

typedef struct ty_model ty_model;

/* Bytes a loaded model holds, by category. Weights are the tensors the
   forward pass reads (mapped from the file on the CPU); compute is the
   activation scratch at num_batch; host is the small host-side buffers.
   kv and compute are the buffers' exact bytes, which the plan predicts;
   kv_arena and compute_arena are what the device allocated for them: one
   arena per category, each buffer at a 64-byte boundary, so an arena
   exceeds its buffers by under 64 bytes a buffer. */
struct ty_model_mem {
  size_t weights, kv, compute, host;
  size_t kv_arena, compute_arena;
  size_t weights_arena;      /* a GPU's copy of its weights: one arena, tensors at 256 bytes */
  /* A GPU's own view: how far its free memory fell from before its backend
     opened to after the model loaded (cudaMemGetInfo), and that less what
     tycho allocated: the driver context and library overhead the plan's
     reserve stands for. 0 on the CPU. */
  uint64_t measured, overhead;
};

/* Reads hyperparameters from GGUF metadata and the tensor table alone (no
   tensor data), so a header-only handle works. Fails with one line on an
   unsupported architecture or a missing or out-of-range key. */
ty_status ty_hparams_read(const ty_gguf *g, struct ty_hparams *hp, ty_err *err);

/* The activation buffers, in the order ty_model_state_sizes lists them. */
enum ty_state_buf {
  TY_STATE_X, TY_STATE_XB, TY_STATE_XB2, TY_STATE_Q, TY_STATE_K, TY_STATE_V, TY_STATE_ATT,
  TY_STATE_HB, TY_STATE_HB2, TY_STATE_LOGITS, TY_STATE_N_ACT
};

struct ty_state_size {
  const char *name;          /* "x", "xb", ..., "logits", "k_cache", "v_cache" */
  int type;                  /* enum ty_qtype of the elements */
  int64_t rows, cols;        /* rows x cols elements */
  size_t bytes;              /* rows x ty_qtype_row_size(type, cols) */
};

/* Every run-state buffer a model allocates, by the code that allocates them
   (model.c's alloc_state points into exactly this table). */
struct ty_state_sizes {
  int n_ctx, n_batch, kv_type;          /* effective settings (defaults applied, batch <= ctx) */
  struct ty_state_size act[TY_STATE_N_ACT];  /* f32 activations: (n_batch, width); logits (1, n_vocab) */
  struct ty_state_size k_cache, v_cache;     /* one layer's: (n_ctx, n_head_kv*head_dim) in kv_type */
  size_t compute;            /* sum of act[] (logits included) */
  size_t logits;             /* act[TY_STATE_LOGITS].bytes: the output layer's share */
  size_t kv_layer;           /* k_cache + v_cache: one layer, one sequence */
  size_t kv;                 /* n_layer x kv_layer */
  size_t host;               /* host side: positions (n_batch int32) and logits (n_vocab f32) */
  size_t gpu_scratch;        /* a GPU holding layers: its backend's work memory (ty_gpu_scratch_size) */
};

/* Fills *out for hp at n_ctx, n_batch (0 = defaults 2048, 512; n_batch is
   capped at n_ctx) and kv_type (enum ty_qtype; -1 = f16). Pure: no memory
   is allocated. Fails when a setting is out of range or a cache row of
   n_head_kv*head_dim values does not fit kv_type's blocks. */
ty_status ty_model_state_sizes(const struct ty_hparams *hp, int n_ctx, int n_batch, int kv_type,
                               struct ty_state_sizes *out, ty_err *err);

/* Fills params with the defaults. */
void ty_model_params_default(struct ty_model_params *p);

/* Opens a GGUF model and prepares it to run on the CPU backend. On success
   *out owns the mapping, the backend and the KV cache; close with
   ty_model_close. Fails with one line naming the file and the problem: an
   unsupported architecture, a missing or misshapen tensor, a bad setting. */
ty_status ty_model_open(const char *path, const struct ty_model_params *p,
                        ty_model **out, ty_err *err);
void ty_model_close(ty_model *m);   /* NULL is fine */

const struct ty_hparams *ty_model_hparams(const ty_model *m);
const ty_gguf *ty_model_gguf(const ty_model *m);
int ty_model_n_ctx(const ty_model *m);
int ty_model_n_threads(const ty_model *m);
int ty_model_pos(const ty_model *m);       /* tokens in the KV cache */
void ty_model_reset(ty_model *m);          /* forget the context */
/* Keeps the first n tokens of the context and forgets the rest, so a
   conversation that shares a prefix with the cache evaluates only what is
   new. n outside 0..pos changes nothing. */
void ty_model_rewind(ty_model *m, int n);
const struct ty_model_mem *ty_model_mem(const ty_model *m);          /* all devices */
int ty_model_n_devices(const ty_model *m);
const struct ty_model_mem *ty_model_mem_device(const ty_model *m, int d);  /* NULL out of range */
/* Device d's kind (enum ty_dev_kind; -1 out of range) and GPU index. */
int ty_model_device_kind(const ty_model *m, int d, int *index);

/* Runs tokens through the model at the current position and appends them to
   the KV cache. Afterwards ty_model_logits holds the logits of the last
   token. Fails if the context would overflow or an id is out of range. */
ty_status ty_model_eval(ty_model *m, const int32_t *tokens, int n, ty_err *err);
const float *ty_model_logits(const ty_model *m);   /* n_vocab floats */

/* Receives the logits (n_vocab floats, valid during the call) of token i of
   an evaluation; returns nonzero to stop it (TY_ERR_CANCELLED). */
typedef int (*ty_logits_fn)(void *ud, int i, const float *logits);

/* Same as ty_model_eval, but computes the logits of every token i >= from
   (in order) and hands each to fn: what perplexity needs. The rows go one
   at a time through the one-row logits buffer, so memory is what the plan
   says; the output layer costs n - from matrix-vector products. */
ty_status ty_model_eval_all(ty_model *m, const int32_t *tokens, int n, int from,
                            ty_logits_fn fn, void *ud, ty_err *err);

/* Index of the largest logit (lowest index on ties). */
int32_t ty_model_argmax(const ty_model *m);

#endif
