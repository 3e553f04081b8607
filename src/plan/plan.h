/*
 * plan.h: the memory plan: pure functions of (model shape, devices, settings)
 * that say which layers each device holds and how many bytes of weights, KV
 * cache, compute scratch, output buffers and runtime overhead it needs, before
 * anything is allocated. docs/plan.md explains what is counted and why.
 */
#ifndef TY_PLAN_H
#define TY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../gguf/gguf.h"
#include "../model/model.h"

#define TY_PLAN_MAX_LAYERS 4096    /* ty_hparams_read's block_count limit */
#define TY_PLAN_MAX_DEV 16
#define TY_PLAN_AUTO (-1)          /* num_gpu = auto */

/* ---- model shape: what the plan needs of a model, from its header ---- */

struct ty_shape {
  struct ty_hparams hp;
  char name[64];                   /* general.name, else the file name */
  uint64_t file_size;              /* bytes of the file (0 for a hand-made shape) */
  uint64_t n_params;               /* elements of every tensor */
  uint64_t weights;                /* bytes of every tensor (the tensor table's sum) */
  uint64_t layer_bytes[TY_PLAN_MAX_LAYERS];   /* (n_layer) tensors blk.N.* */
  uint64_t layer_params[TY_PLAN_MAX_LAYERS];  /* (n_layer) */
  uint64_t token_embd;             /* token_embd.weight: the input lookup */
  uint64_t output;                 /* output.weight; 0 when tied to token_embd */
  uint64_t output_norm;            /* output_norm.weight */
  uint64_t other;                  /* any other tensor (rope_freqs, ...): kept with the input */
  uint64_t embd_params, output_params, other_params;  /* elements of the above */
};

/* Fills *s from a GGUF handle (a header-only one is enough: no tensor data
   is read). Fails when the architecture is unsupported or a blk.N tensor
   names a layer past block_count. */
ty_status ty_shape_from_gguf(const ty_gguf *g, struct ty_shape *s, ty_err *err);

/* Opens path header-only and fills *s. */
ty_status ty_shape_from_file(const char *path, struct ty_shape *s, ty_err *err);

/* ---- devices ---- */

enum ty_plan_dev_kind { TY_PLAN_DEV_CPU = 0, TY_PLAN_DEV_CUDA = 1 };

/* A device as the planner sees it: real (fed by the backend) or virtual
   (a string: cpu=2G). Several entries may name one physical device. */
struct ty_plan_device {
  enum ty_plan_dev_kind kind;
  int index;                       /* cuda:N; 0 for the CPU */
  char name[24];                   /* "cpu", "cuda:0" */
  uint64_t total;                  /* bytes it may hold: the cap, else what the device reports */
  uint64_t reserve;                /* runtime overhead held back (driver context, workspaces) */
  bool capped;                     /* total was given by the user */
};

/* Default reserves (docs/memory.md, "Reserves"). */
#define TY_PLAN_RESERVE_CPU 0ull
#define TY_PLAN_RESERVE_CUDA (600ull << 20)   /* 594 MiB measured: docs/memory.md */

/* Parses "12G", "1.5G", "512M", "4096": K, M, G, T are binary (GiB). A
   trailing "B" or "iB" is accepted. Returns false on anything else. */
bool ty_plan_parse_size(const char *s, uint64_t *out);

/* Bytes of physical RAM (sysconf), the CPU's size when no cap is given. */
uint64_t ty_plan_host_ram(void);

/* Parses a comma-separated device list ("cpu", "cpu=2G", "cuda:0=40G",
   "cuda:0=40G,cuda:0=40G") and appends to devs (cap entries; *n in/out).
   A GPU needs a size until the CUDA backend reports memory. Errors are one
   line naming the bad part. */
ty_status ty_plan_parse_devices(const char *list, struct ty_plan_device *devs, int cap, int *n,
                                ty_err *err);

/* "24G,24G": virtual GPUs cuda:0..n-1 of those sizes, appended. */
ty_status ty_plan_parse_gpus(const char *list, struct ty_plan_device *devs, int cap, int *n,
                             ty_err *err);

/* ---- settings and the plan ---- */

struct ty_plan_settings {
  int num_ctx;                     /* tokens per sequence; 0 = 2048 */
  int num_batch;                   /* tokens per forward chunk; 0 = 512 (capped at num_ctx) */
  int kv_type;                     /* enum ty_qtype; -1 = f16 */
  int num_gpu;                     /* layers on the offload devices (output counts as one); TY_PLAN_AUTO */
  int parallel;                    /* sequences; 0 = 1 */
  int n_split;                     /* 0, or one proportion per offload device */
  double split[TY_PLAN_MAX_DEV];   /* llama.cpp tensor_split: proportions of the offloaded layers */
};

void ty_plan_settings_default(struct ty_plan_settings *s);

/* One device's share. Blocks [layer_lo, layer_hi) are contiguous; the host
   device (the first CPU) holds the input embedding and the first layers,
   the offload devices (every other device, in list order) the last ones. */
struct ty_plan_dev {
  struct ty_plan_device dev;
  int layer_lo, layer_hi;          /* blocks held; lo == hi: none */
  bool input, output;              /* holds the token embedding / the output layer */
  uint64_t weights;                /* tensors held (a tied embedding counts twice when split from the output) */
  uint64_t kv;                     /* layers held x kv_layer x parallel */
  uint64_t compute;                /* activation scratch at num_batch this device needs */
  uint64_t logits;                 /* the output layer's (1, n_vocab) f32 buffer */
  uint64_t host;                   /* host-side buffers (positions, logits copy): the host device */
  uint64_t overhead;               /* the reserve */
  uint64_t used;                   /* sum of the above */
  int64_t free;                    /* total - used; negative: over by that much */
  bool fits;
};

struct ty_plan_alt {
  int num_ctx;                     /* largest num_ctx that fits with the rest unchanged; 0 = none */
  int kv_type;                     /* a lighter kv_type that fits at num_ctx; -1 = none */
  int num_gpu;                     /* the largest num_gpu that fits; -1 = none */
  const char *quant;               /* a lighter quantization of the same model that fits (an
                                      estimate from its parameter counts; NULL = none) */
  uint64_t quant_weights;          /* its estimated bytes of weights */
};

struct ty_plan {
  struct ty_plan_settings settings;  /* effective: defaults applied */
  int num_gpu;                     /* layers offloaded as llama.cpp counts (0..n_layer+1) */
  int n_layer;
  int n_dev;
  struct ty_plan_dev dev[TY_PLAN_MAX_DEV];
  struct ty_plan_dev total;        /* sums over devices (dev and layers unused) */
  struct ty_state_sizes sizes;     /* the model's buffer table at these settings */
  uint64_t unit_max;               /* the costliest layer (weights + kv), for "one layer's worth" */
  bool fits;
  struct ty_plan_alt alt;          /* filled when !fits */
};

/* Plans shape on devs (n entries; a CPU host is added in front when none is
   given) with settings s. TY_OK with plan->fits false means it does not fit
   and plan->alt says what would; an error is a bad setting. Deterministic. */
ty_status ty_plan_make(const struct ty_shape *shape, const struct ty_plan_device *devs, int n,
                       const struct ty_plan_settings *s, struct ty_plan *plan, ty_err *err);

/* Sets the split of params (n_devices, layer_end, output_device, device
   kinds and indices) to what plan places, leaving the other fields. */
void ty_plan_to_params(const struct ty_plan *plan, struct ty_model_params *params);

/* Renders the per-device table as text into buf (always NUL-terminated);
   returns the length it needed. */
size_t ty_plan_format(const struct ty_plan *p, const struct ty_shape *shape, char *buf,
                      size_t cap);

#endif
