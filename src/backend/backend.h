/*
 * backend.h: the device interface the forward pass is written against.
 * A backend allocates memory on its device, copies to and from it, makes
 * model weights resident, and runs one op at a time. Model code sees only
 * this interface, so the CUDA backend and a multi-device split slot in
 * without touching it: activations cross devices through ty_backend_get/set.
 */
#ifndef TY_BACKEND_H
#define TY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* A 2-D view of device memory: `rows` rows of `cols` elements of `type`,
   row r at data + r * stride bytes. Vectors are one row. */
struct ty_view {
  void *data;
  int type;            /* enum ty_qtype */
  int64_t rows, cols;
  size_t stride;       /* bytes between rows */
};

enum ty_op_kind {
  TY_OP_GET_ROWS,   /* dst[t] = a[ids[t]] (any type) -> f32, times f0 */
  TY_OP_RMSNORM,    /* dst[t] = a[t] / rms(a[t]) * b; with i0 = group size, norms each
                       group of i0 elements (per-head norm) with b of length i0 */
  TY_OP_MATMUL,     /* dst[t][r] = dot(a[r], b[t]): a weights (rows = out), b f32 activations */
  TY_OP_ROPE,       /* rotate dst in place: rows = tokens, cols = heads*head_dim;
                       i0 = head_dim, i1 = rope dims, i2 = neox order, f0 = base,
                       f1 = freq scale; pos[t] per token; ff = freq factors or NULL */
  TY_OP_KV_STORE,   /* dst row pos[t] = a[t], converted to dst's type */
  TY_OP_ATTENTION,  /* dst[t] = softmax(q k^T * f0) v per head, causal at pos[t];
                       a = q (f32), b = k cache, c = v cache; i0 = n_head, i1 = n_head_kv,
                       i2 = head_dim, i3 = sliding window (0 = none) */
  TY_OP_GLU,        /* dst = act(a) * b elementwise; i0 = TY_ACT_* */
  TY_OP_ADD,        /* dst = a + b */
  TY_OP_SCALE,      /* dst = a * f0 */
  /* Fused ops: the same floats as the ops they stand for, in one step. A
     backend may lack them (supports says); the model then runs the parts. */
  TY_OP_MATMUL3,    /* three MATMULs of one b: dst = a b, dst2 = c b, dst3 = d b (q, k, v) */
  TY_OP_MATMUL_GLU, /* dst2 = c b, then dst = act(a b) * dst2 as GLU; i0 = TY_ACT_*
                       (gate = a, up = c) */
  TY_OP_COUNT
};

enum { TY_ACT_SILU = 0, TY_ACT_GELU = 1 };

/* Views point into the running device's memory; ids, pos and ff are host
   memory (small per-token arrays, and the rope factors, which live with the
   input on the host device), which a GPU backend stages to the device. */
struct ty_op {
  enum ty_op_kind kind;
  struct ty_view dst, a, b, c;
  struct ty_view d, dst2, dst3;   /* the fused ops' other weight and outputs */
  const int32_t *ids;      /* GET_ROWS: token ids (host memory) */
  const int32_t *pos;      /* ROPE, KV_STORE, ATTENTION: position per token (host) */
  const float *ff;         /* ROPE: per-dimension frequency factors (host), or NULL */
  int32_t i0, i1, i2, i3;
  float f0, f1, eps;
};

struct ty_gpu_scratch;

struct ty_backend_i {
  const char *name;
  /* Allocates size bytes of device memory (zeroed). */
  ty_status (*alloc)(void *ctx, size_t size, void **out, ty_err *err);
  void (*free)(void *ctx, void *ptr);
  /* Makes a host weight tensor (rows x stride bytes at src->data) usable on
     the device. A backend that reads host memory returns src->data itself,
     or a copy of the same size in a layout of its own that only its ops read
     (the CPU's repacked rows); release undoes it. NULL for a device with
     memory of its own: the model then copies the weights with set into one
     arena it allocates (the plan's "weights"). */
  ty_status (*weights)(void *ctx, const struct ty_view *src, void **out, ty_err *err);
  void (*release)(void *ctx, void *ptr);
  /* set: host to device. get: device to host, or to any other device's
     memory (a GPU backend copies through unified addressing); get returns
     when the copy is done, after every op run before it. */
  ty_status (*set)(void *ctx, void *dst, const void *src, size_t size, ty_err *err);
  ty_status (*get)(void *ctx, void *dst, const void *src, size_t size, ty_err *err);
  bool (*supports)(void *ctx, const struct ty_op *op);
  /* Runs (or enqueues) one op; a GPU backend may report a failed launch at
     the next get. */
  ty_status (*run)(void *ctx, const struct ty_op *op, ty_err *err);
  void (*close)(void *ctx);
  /* Optional (NULL on the CPU). scratch hands the backend its work memory,
     size bytes at ptr carved from the model's compute arena, as laid out by
     struct ty_gpu_scratch; mem_info reports the physical device's free and
     total bytes as its driver sees them. */
  ty_status (*scratch)(void *ctx, void *ptr, const struct ty_gpu_scratch *layout, ty_err *err);
  ty_status (*mem_info)(void *ctx, uint64_t *free, uint64_t *total, ty_err *err);
};

typedef struct ty_backend {
  const struct ty_backend_i *i;
  void *ctx;
} *ty_backend_t;

/* The CPU backend with a pool of n_threads (0 = all cores). */
ty_status ty_backend_cpu_open(int n_threads, ty_backend_t *out, ty_err *err);
int ty_backend_cpu_threads(ty_backend_t b);

/* The CUDA backend on GPU `device` (its own stream and cuBLAS handle, so two
   backends on one GPU act as two devices). TY_ERR_UNSUPPORTED when tycho was
   built without CUDA, TY_ERR_DEVICE with the CUDA message when the GPU
   cannot be used. */
ty_status ty_backend_cuda_open(int device, ty_backend_t *out, ty_err *err);
bool ty_backend_is_cuda(ty_backend_t b);

/* GPUs CUDA sees (0 without CUDA or a driver), and one's name and memory. */
int ty_cuda_device_count(void);
ty_status ty_cuda_device_info(int device, char *name, size_t cap, uint64_t *free,
                              uint64_t *total, ty_err *err);

/* Device-to-device copy rate of GPU `device` in bytes per second moved
   through its memory (each copied byte is read once and written once, so
   2 x size per copy), over copies of `size` bytes: the bandwidth roofline
   the benchmark measures decode against. Allocates 2 x size for the test. */
ty_status ty_cuda_copy_rate(int device, size_t size, double *rate, ty_err *err);

/* The CUDA backend's work memory, one block per device that holds layers,
   in this order: the largest layer weight dequantized to f16 and a batch of
   activations in f16 (for cuBLAS prefill), the attention partial results,
   the cuBLAS workspace, and device copies of the per-token arrays. */
struct ty_gpu_scratch {
  size_t wdq, x16, xq, attn, blas, stage;   /* bytes of each part */
  size_t total;            /* the sum, each part rounded up to 256 bytes */
  int64_t attn_slots;      /* (token, head, split) partial results attn holds */
  int64_t stage_ints;      /* int32 values in each of TY_GPU_STAGE_SLOTS slots */
};

#define TY_GPU_STAGE_SLOTS 4     /* per-token arrays staged between two syncs */
#define TY_GPU_ATTN_CHUNK 256    /* cache rows per attention split in decode */
#define TY_GPU_ATTN_MAX_SPLIT 256
#define TY_GPU_BLAS_WORKSPACE (32u << 20)   /* cuBLAS's advice for Hopper */

/* The scratch a GPU device holding layers needs at these settings: a pure
   function, so the plan counts exactly what the backend uses. max_weight is
   the elements of the largest layer weight, max_cols the widest activation
   row a matrix product reads. */
void ty_gpu_scratch_size(int n_batch, int n_ctx, int n_head, int head_dim, int64_t max_weight,
                         int64_t max_cols, struct ty_gpu_scratch *out);

void ty_backend_close(ty_backend_t b);   /* NULL is fine */

/* Wrappers: check arguments once, then call the backend. */
ty_status ty_backend_alloc(ty_backend_t b, size_t size, void **out, ty_err *err);
void ty_backend_free(ty_backend_t b, void *ptr);
ty_status ty_backend_weights(ty_backend_t b, const struct ty_view *src, void **out, ty_err *err);
void ty_backend_release(ty_backend_t b, void *ptr);
ty_status ty_backend_set(ty_backend_t b, void *dst, const void *src, size_t size, ty_err *err);
ty_status ty_backend_get(ty_backend_t b, void *dst, const void *src, size_t size, ty_err *err);
ty_status ty_backend_run(ty_backend_t b, const struct ty_op *op, ty_err *err);
/* Whether b can run op (a known kind, and the backend takes its types). */
bool ty_backend_supports(ty_backend_t b, const struct ty_op *op);

/* A view over contiguous rows. */
static inline struct ty_view ty_view_make(void *data, int type, int64_t rows, int64_t cols,
                                          size_t stride) {
  struct ty_view v = { data, type, rows, cols, stride };
  return v;
}

#endif
