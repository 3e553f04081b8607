/*
 * cuda.c: the CUDA backend's host side. One backend is one stream and one
 * cuBLAS handle on one GPU, so two backends on the same GPU act as two
 * devices (a split tested on a one-GPU machine). Ops launch the kernels of
 * kernels/ (*.cu); batches wider than the matrix-vector kernel take cuBLAS on
 * weights dequantized to f16. Device memory is only what the model hands
 * over from its arenas (weights, KV cache, activations, this scratch), so
 * the plan is the allocation; what the driver takes besides is measured.
 *
 * Decode: a one-token step is captured as a CUDA graph while its ops are
 * issued and launched as one graph at the next get (cudaGraphExecUpdate
 * keeps the instantiated graph when only arguments changed), so launch
 * overhead does not dominate small models. The next step that issues the
 * same ops (the same tensors, shapes and launch arguments: positions and
 * token ids are staged data, not arguments) captures nothing: its staged
 * data goes to the same pinned slots and the graph is launched again as it
 * is, so a token costs the host a comparison per op. TYCHO_CUDA_GRAPHS=0
 * turns graphs off.
 */
#include "backend.h"
#include "../tensor/tensor.h"
#include "../../kernels/kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cuda {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  struct ty_gpu_scratch lay;     /* the scratch's parts, once the model hands it over */
  void *wdq, *x16, *xq, *blas_ws;
  float *attn;
  char *stage_dev;               /* TY_GPU_STAGE_SLOTS slots of lay.stage_ints int32 */
  char *stage_host;              /* pinned mirror of stage_dev */
  const void *staged_src[TY_GPU_STAGE_SLOTS];
  size_t staged_len[TY_GPU_STAGE_SLOTS];
  int n_staged;                  /* slots filled since the last sync */
  bool graphs, capturing;
  bool int8;                     /* the int8 matrix-vector product (TYCHO_CUDA_MMVQ=0: off) */
  cudaGraphExec_t exec;
  /* the ops exec runs (rec), and those of the step being captured (cur) */
  struct step_op *rec, *cur;
  int n_rec, n_cur, cap_rec, cap_cur;
  bool replaying;                /* this step has matched rec[0..n_match) so far */
  int n_match;
  /* xq holds this activation view, quantized by the op just before (q, k
     and v read one x, as gate and up do) */
  struct ty_view xq_of;
  bool xq_valid;
};

/* An op as a graph holds it: the op and the arguments derived for it. */
struct step_op {
  struct ty_op op;
  int n_split, chunk;            /* attention's */
};


/* ================================================================
   errors
   ================================================================ */

static ty_status cuda_err(ty_err *err, int device, const char *what, cudaError_t e) {
  return ty_err_set(err, TY_ERR_DEVICE, "cuda:%d: %s: %s (%s)", device, what,
                    cudaGetErrorString(e), cudaGetErrorName(e));
}


static ty_status blas_err(ty_err *err, int device, const char *what, cublasStatus_t s) {
  return ty_err_set(err, TY_ERR_DEVICE, "cuda:%d: %s: cuBLAS %s", device, what,
                    cublasGetStatusString(s));
}

#define CK(c, what, call) do { cudaError_t e_ = (call); \
    if (e_ != cudaSuccess) return cuda_err(err, (c)->device, what, e_); } while (0)


/* ================================================================
   memory seen by the driver (NVML), with no CUDA context needed
   ================================================================ */

/* NVML comes with the driver, not the toolkit: it is opened at run time,
   so tycho starts where it is missing and then falls back on
   cudaMemGetInfo, which counts only after the context exists. */
struct nvml_memory { unsigned long long total, free, used; };
static struct {
  int ready;
  int (*by_bus)(const char *, void **);
  int (*memory)(void *, struct nvml_memory *);
} nvml;


static void nvml_open(void) {
  void *h;
  int (*init)(void);
  if (nvml.ready) return;
  nvml.ready = -1;
  if ((h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) == NULL) return;
  init = (int (*)(void))dlsym(h, "nvmlInit_v2");
  nvml.by_bus = (int (*)(const char *, void **))dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2");
  nvml.memory = (int (*)(void *, struct nvml_memory *))dlsym(h, "nvmlDeviceGetMemoryInfo");
  if (init != NULL && nvml.by_bus != NULL && nvml.memory != NULL && init() == 0) nvml.ready = 1;
}


static bool nvml_free(int device, uint64_t *free, uint64_t *total) {
  char bus[32];
  void *dev;
  struct nvml_memory mem;
  nvml_open();
  if (nvml.ready != 1 || cudaDeviceGetPCIBusId(bus, sizeof bus, device) != cudaSuccess ||
      nvml.by_bus(bus, &dev) != 0 || nvml.memory(dev, &mem) != 0)
    return false;
  *free = mem.free;
  if (total != NULL) *total = mem.total;
  return true;
}


int ty_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();            /* no driver or no GPU: not an error to keep */
    return 0;
  }
  return n;
}


ty_status ty_cuda_device_info(int device, char *name, size_t cap, uint64_t *free,
                              uint64_t *total, ty_err *err) {
  struct cudaDeviceProp prop;
  cudaError_t e;
  size_t f, t;
  if (device < 0 || device >= ty_cuda_device_count())
    return ty_err_set(err, TY_ERR_ARG, "cuda:%d: no such GPU (%d visible)", device,
                      ty_cuda_device_count());
  if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
    return cuda_err(err, device, "reading its properties", e);
  if (name != NULL) snprintf(name, cap, "%s", prop.name);
  if (free == NULL || nvml_free(device, free, total)) return TY_OK;
  if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaMemGetInfo(&f, &t)) != cudaSuccess)
    return cuda_err(err, device, "reading its memory", e);
  *free = f;
  if (total != NULL) *total = t;
  return TY_OK;
}


ty_status ty_cuda_copy_rate(int device, size_t size, double *rate, ty_err *err) {
  struct cuda probe = { .device = device };
  struct cuda *c = &probe;
  void *a = NULL, *b = NULL;
  cudaEvent_t t0 = NULL, t1 = NULL;
  float ms = 0;
  cudaError_t e;
  const int reps = 10;
  *rate = 0;
  CK(c, "selecting the GPU", cudaSetDevice(device));
  if ((e = cudaMalloc(&a, size)) == cudaSuccess && (e = cudaMalloc(&b, size)) == cudaSuccess &&
      (e = cudaEventCreate(&t0)) == cudaSuccess && (e = cudaEventCreate(&t1)) == cudaSuccess &&
      (e = cudaMemcpy(b, a, size, cudaMemcpyDeviceToDevice)) == cudaSuccess &&   /* warm up */
      (e = cudaEventRecord(t0, 0)) == cudaSuccess) {
    for (int i = 0; i < reps && e == cudaSuccess; i++)
      e = cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, size, cudaMemcpyDeviceToDevice, 0);
    if (e == cudaSuccess && (e = cudaEventRecord(t1, 0)) == cudaSuccess &&
        (e = cudaEventSynchronize(t1)) == cudaSuccess)
      e = cudaEventElapsedTime(&ms, t0, t1);
  }
  if (t0 != NULL) cudaEventDestroy(t0);
  if (t1 != NULL) cudaEventDestroy(t1);
  cudaFree(a);
  cudaFree(b);
  if (e != cudaSuccess) return cuda_err(err, device, "measuring the copy rate", e);
  *rate = ms > 0 ? 2.0 * (double)size * reps / (ms * 1e-3) : 0;
  return TY_OK;
}


/* ================================================================
   memory
   ================================================================ */

static ty_status cu_alloc(void *ctx, size_t size, void **out, ty_err *err) {
  struct cuda *c = ctx;
  cudaError_t e;
  CK(c, "selecting the GPU", cudaSetDevice(c->device));
  if ((e = cudaMalloc(out, size)) != cudaSuccess) {
    size_t f = 0, t = 0;
    cudaGetLastError();
    cudaMemGetInfo(&f, &t);
    *out = NULL;
    return ty_err_set(err, TY_ERR_NOMEM, "cuda:%d: cannot allocate %zu MiB (%zu MiB free of %zu): "
                      "%s; lower num_ctx or num_gpu", c->device, size >> 20, f >> 20, t >> 20,
                      cudaGetErrorString(e));
  }
  CK(c, "clearing new memory", cudaMemsetAsync(*out, 0, size, c->stream));
  CK(c, "clearing new memory", cudaStreamSynchronize(c->stream));
  return TY_OK;
}


static void cu_free(void *ctx, void *ptr) {
  cudaSetDevice(((struct cuda *)ctx)->device);
  cudaFree(ptr);
}


static ty_status launch(struct cuda *c, const struct step_op *so, ty_err *err);
static ty_status diverge(struct cuda *c, ty_err *err);


/* Ends the step in progress and launches its graph: as it is when the step
   replayed the last one's ops, else what was captured, with the
   instantiated graph updated in place when only arguments changed and made
   anew when the shape of the step changed. */
static ty_status flush(struct cuda *c, ty_err *err) {
  cudaGraph_t g = NULL;
  cudaGraphExecUpdateResultInfo info;
  cudaError_t e;
  ty_status st;
  if (c->replaying) {
    if (c->n_match == c->n_rec) {
      c->replaying = false;
      CK(c, "launching the decode graph", cudaGraphLaunch(c->exec, c->stream));
      return TY_OK;
    }
    if ((st = diverge(c, err)) != TY_OK) return st;   /* a shorter step: capture it */
  }
  if (!c->capturing) return TY_OK;
  c->capturing = false;
  c->n_rec = 0;
  if ((e = cudaStreamEndCapture(c->stream, &g)) != cudaSuccess)
    return cuda_err(err, c->device, "ending a graph capture", e);
  if (c->exec != NULL && cudaGraphExecUpdate(c->exec, g, &info) != cudaSuccess) {
    cudaGetLastError();
    cudaGraphExecDestroy(c->exec);
    c->exec = NULL;
  }
  if (c->exec == NULL && (e = cudaGraphInstantiate(&c->exec, g, 0)) != cudaSuccess) {
    c->exec = NULL;
    cudaGraphDestroy(g);
    return cuda_err(err, c->device, "instantiating the decode graph", e);
  }
  cudaGraphDestroy(g);
  CK(c, "launching the decode graph", cudaGraphLaunch(c->exec, c->stream));
  struct step_op *t = c->rec;        /* what exec now runs */
  int cap = c->cap_rec;
  c->rec = c->cur;
  c->cap_rec = c->cap_cur;
  c->n_rec = c->n_cur;
  c->cur = t;
  c->cap_cur = cap;
  c->n_cur = 0;
  return TY_OK;
}


/* Waits for everything issued so far; the staging slots are free again. */
static ty_status sync(struct cuda *c, ty_err *err) {
  ty_status st;
  if ((st = flush(c, err)) != TY_OK) return st;
  CK(c, "running kernels", cudaStreamSynchronize(c->stream));
  c->n_staged = 0;
  return TY_OK;
}


/* A copy on the stream, after everything issued before it; returns when it
   is done. */
static ty_status copy(struct cuda *c, void *dst, const void *src, size_t size,
                      enum cudaMemcpyKind kind, const char *what, ty_err *err) {
  ty_status st;
  CK(c, "selecting the GPU", cudaSetDevice(c->device));
  if ((st = flush(c, err)) != TY_OK) return st;   /* may launch ops: then the copy */
  c->xq_valid = false;                            /* may write what they quantized */
  CK(c, what, cudaMemcpyAsync(dst, src, size, kind, c->stream));
  return sync(c, err);
}


static ty_status cu_set(void *ctx, void *dst, const void *src, size_t size, ty_err *err) {
  return copy(ctx, dst, src, size, cudaMemcpyHostToDevice, "copying to the GPU", err);
}


/* dst may be host memory or another GPU's: unified addressing tells them apart */
static ty_status cu_get(void *ctx, void *dst, const void *src, size_t size, ty_err *err) {
  return copy(ctx, dst, src, size, cudaMemcpyDefault, "copying from the GPU", err);
}


static ty_status cu_mem_info(void *ctx, uint64_t *free, uint64_t *total, ty_err *err) {
  struct cuda *c = ctx;
  size_t f, t;
  if (nvml_free(c->device, free, total)) return TY_OK;
  CK(c, "selecting the GPU", cudaSetDevice(c->device));
  CK(c, "reading its memory", cudaMemGetInfo(&f, &t));
  *free = f;
  if (total != NULL) *total = t;
  return TY_OK;
}


static size_t round256(size_t n) { return (n + 255) & ~(size_t)255; }


static ty_status cu_scratch(void *ctx, void *ptr, const struct ty_gpu_scratch *lay, ty_err *err) {
  struct cuda *c = ctx;
  char *p = ptr;
  cublasStatus_t s;
  c->lay = *lay;
  c->wdq = lay->wdq ? p : NULL;
  p += round256(lay->wdq);
  c->x16 = lay->x16 ? p : NULL;
  p += round256(lay->x16);
  c->xq = lay->xq ? p : NULL;
  p += round256(lay->xq);
  c->attn = (float *)p;
  p += round256(lay->attn);
  c->blas_ws = lay->blas ? p : NULL;
  p += round256(lay->blas);
  c->stage_dev = p;
  free(c->stage_host);
  c->stage_host = NULL;
  CK(c, "allocating pinned staging memory",
     cudaMallocHost((void **)&c->stage_host, lay->stage ? lay->stage : 1));
  /* cuBLAS works in this workspace, never in memory of its own */
  if (c->blas_ws != NULL && (s = cublasSetWorkspace(c->blas, c->blas_ws, lay->blas)) !=
                                CUBLAS_STATUS_SUCCESS)
    return blas_err(err, c->device, "setting the workspace", s);
  return TY_OK;
}


/* Copies n bytes of host memory to the device through a pinned slot and
   returns the device copy. The same array staged twice between two syncs
   is copied once; the slots are reused after a sync. */
static ty_status stage(struct cuda *c, const void *src, size_t n, const void **out, ty_err *err) {
  size_t slot = (size_t)c->lay.stage_ints * sizeof(int32_t);
  ty_status st;
  int k;
  if (n > slot)
    return ty_err_set(err, TY_ERR_ARG, "cuda:%d: %zu bytes of per-token data; the staging holds "
                      "%zu", c->device, n, slot);
  for (k = 0; k < c->n_staged; k++)
    if (c->staged_src[k] == src && c->staged_len[k] == n &&
        memcmp(c->stage_host + k * slot, src, n) == 0) {
      *out = c->stage_dev + k * slot;
      return TY_OK;
    }
  if (c->n_staged == TY_GPU_STAGE_SLOTS &&
      ((c->replaying && (st = diverge(c, err)) != TY_OK) || (st = sync(c, err)) != TY_OK))
    return st;
  k = c->n_staged++;
  memcpy(c->stage_host + k * slot, src, n);
  c->staged_src[k] = src;
  c->staged_len[k] = n;
  if (!c->replaying)   /* a replayed graph copies the slot itself */
    CK(c, "staging per-token data", cudaMemcpyAsync(c->stage_dev + k * slot,
                                                    c->stage_host + k * slot, n,
                                                    cudaMemcpyHostToDevice, c->stream));
  *out = c->stage_dev + k * slot;
  return TY_OK;
}


/* ================================================================
   ops
   ================================================================ */

static bool kv_type_ok(int type) {
  return type == TY_QTYPE_F32 || type == TY_QTYPE_F16 || type == TY_QTYPE_Q8_0;
}


static bool cu_supports(void *ctx, const struct ty_op *op) {
  struct cuda *c = ctx;
  switch (op->kind) {
    case TY_OP_GET_ROWS:
      return tyk_weight_type_ok(op->a.type) && op->dst.type == TY_QTYPE_F32;
    case TY_OP_MATMUL:
      return tyk_weight_type_ok(op->a.type) && op->a.cols % TYK_CHUNK == 0 &&
             op->b.type == TY_QTYPE_F32 && op->dst.type == TY_QTYPE_F32 &&
             (op->b.rows <= TYK_MATVEC_MAX_TOK ||
              ((size_t)op->a.rows * (size_t)op->a.cols * 2 <= c->lay.wdq &&
               (size_t)op->b.rows * (size_t)op->b.cols * 2 <= c->lay.x16));
    case TY_OP_KV_STORE:
      return kv_type_ok(op->dst.type);
    case TY_OP_ATTENTION:
      return kv_type_ok(op->b.type) && op->c.type == op->b.type && op->i1 > 0 &&
             op->i0 % op->i1 == 0 && (int64_t)op->a.rows * op->i0 <= c->lay.attn_slots;
    case TY_OP_MATMUL3: case TY_OP_MATMUL_GLU:
      return false;     /* the model runs their parts */
    default:
      return op->kind >= 0 && op->kind < TY_OP_COUNT;
  }
}


/* cuBLAS for a batch: y (n x rows) = x (n x cols) w^T, with w and x in f16
   and f32 accumulation. cuBLAS is column-major: w's rows are its columns. */
static ty_status matmul_blas(struct cuda *c, const struct ty_op *op, ty_err *err) {
  const float one = 1.0f, zero = 0.0f;
  int rows = (int)op->a.rows, cols = (int)op->a.cols, n = (int)op->b.rows;
  cublasStatus_t s;
  CK(c, "dequantizing weights", (cudaError_t)tyk_dequant_f16(c->stream, op->a.type, op->a.data,
                                                             op->a.stride, rows, cols, c->wdq));
  CK(c, "converting activations", (cudaError_t)tyk_f32_to_f16(c->stream, op->b.data, op->b.stride,
                                                              n, cols, c->x16));
  s = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, c->wdq, CUDA_R_16F,
                   cols, c->x16, CUDA_R_16F, cols, &zero, op->dst.data, CUDA_R_32F,
                   (int)(op->dst.stride / sizeof(float)), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS) return blas_err(err, c->device, "matrix product", s);
  return TY_OK;
}


/* Attention's split of the visible cache rows: one token takes up to
   TY_GPU_ATTN_MAX_SPLIT pieces of TY_GPU_ATTN_CHUNK rows, so long contexts
   fill the GPU; a batch shares the partial slots among its tokens. One
   token's chunk is left to the kernel (0), so its launch changes only when
   its split count does, every 256 positions. */
static void attn_split(const struct cuda *c, const struct ty_op *op, int *n_split, int *chunk) {
  int64_t span = 1, n = op->a.rows, by_slots;
  for (int64_t t = 0; t < n; t++) {
    int64_t p = op->pos[t], first = op->i3 > 0 && p - op->i3 + 1 > 0 ? p - op->i3 + 1 : 0;
    if (p - first + 1 > span) span = p - first + 1;
  }
  int64_t s = (span + TY_GPU_ATTN_CHUNK - 1) / TY_GPU_ATTN_CHUNK;
  by_slots = c->lay.attn_slots / (n * op->i0);
  if (s > TY_GPU_ATTN_MAX_SPLIT) s = TY_GPU_ATTN_MAX_SPLIT;
  if (s > by_slots) s = by_slots;
  if (s < 1) s = 1;
  *n_split = (int)s;
  *chunk = n == 1 ? 0 : (int)((span + s - 1) / s);
}


static bool same_view(const struct ty_view *a, const struct ty_view *b) {
  return a->data == b->data && a->type == b->type && a->rows == b->rows && a->cols == b->cols &&
         a->stride == b->stride;
}


/* Staged data first (positions, then ids or rope factors: a replayed step
   stages in the order its graph was captured in); then the kernels, unless
   the step replays a graph. */
static ty_status launch(struct cuda *c, const struct step_op *so, ty_err *err) {
  const struct ty_op *op = &so->op;
  const void *pos = NULL, *ids = NULL, *ff = NULL;
  ty_status st;
  int r = 0;
  if (op->pos != NULL && (op->kind == TY_OP_ROPE || op->kind == TY_OP_KV_STORE ||
                          op->kind == TY_OP_ATTENTION)) {
    int64_t n = op->kind == TY_OP_ROPE ? op->dst.rows : op->a.rows;
    if ((st = stage(c, op->pos, (size_t)n * sizeof(int32_t), &pos, err)) != TY_OK) return st;
  }
  if (op->kind == TY_OP_GET_ROWS &&
      (st = stage(c, op->ids, (size_t)op->dst.rows * sizeof(int32_t), &ids, err)) != TY_OK)
    return st;
  if (op->kind == TY_OP_ROPE && op->ff != NULL &&
      (st = stage(c, op->ff, (size_t)op->i1 / 2 * sizeof(float), &ff, err)) != TY_OK)
    return st;
  if (c->replaying) return TY_OK;
  bool xq_was_valid = c->xq_valid;
  c->xq_valid = false;
  switch (op->kind) {
    case TY_OP_GET_ROWS:
      r = tyk_get_rows(c->stream, op->a.type, op->a.data, op->a.stride, op->a.cols, ids,
                       (int)op->dst.rows, op->dst.data, op->dst.stride, op->f0);
      break;
    case TY_OP_RMSNORM:
      r = tyk_rmsnorm(c->stream, op->a.data, op->a.stride, op->dst.data, op->dst.stride,
                      op->b.data, op->a.rows, op->a.cols, op->i0 > 0 ? op->i0 : op->a.cols,
                      op->eps);
      break;
    case TY_OP_MATMUL: {
      void *xq = NULL;
      bool ready = false;
      if (op->b.rows > TYK_MATVEC_MAX_TOK) return matmul_blas(c, op, err);
      if (c->int8 && c->xq != NULL && tyk_matvec_int8(op->a.type) &&
          tyk_q8_row_bytes(op->a.cols) * (size_t)op->b.rows <= c->lay.xq) {
        xq = c->xq;
        ready = xq_was_valid && same_view(&c->xq_of, &op->b);
        c->xq_of = op->b;
        c->xq_valid = op->b.data != op->dst.data;   /* a product into its own input spoils it */
      }
      r = tyk_matvec(c->stream, op->a.type, op->a.data, op->a.stride, op->a.rows, op->a.cols,
                     op->b.data, op->b.stride, xq, ready, op->dst.data, op->dst.stride,
                     (int)op->b.rows);
      break;
    }
    case TY_OP_ROPE:
      r = tyk_rope(c->stream, op->dst.data, op->dst.stride, op->dst.rows, op->dst.cols, op->i0,
                   op->i1, op->i2, op->f0, op->f1, ff, pos);
      break;
    case TY_OP_KV_STORE:
      r = tyk_kv_store(c->stream, op->dst.type, op->dst.data, op->dst.stride, op->a.data,
                       op->a.stride, op->a.rows, op->a.cols, pos);
      break;
    case TY_OP_ATTENTION:
      r = tyk_attention(c->stream, op->a.data, op->a.stride, (int)op->a.rows, op->b.type,
                        op->b.data, op->b.stride, op->c.data, op->c.stride, op->dst.data,
                        op->dst.stride, pos, op->i0, op->i1, op->i2, op->i3, op->f0, so->n_split,
                        so->chunk, c->attn);
      break;
    case TY_OP_GLU:
      r = tyk_glu(c->stream, op->i0, op->a.data, op->a.stride, op->b.data, op->b.stride,
                  op->dst.data, op->dst.stride, op->a.rows, op->a.cols);
      break;
    case TY_OP_ADD:
      r = tyk_add(c->stream, op->a.data, op->a.stride, op->b.data, op->b.stride, op->dst.data,
                  op->dst.stride, op->a.rows, op->a.cols);
      break;
    case TY_OP_SCALE:
      r = tyk_scale(c->stream, op->a.data, op->a.stride, op->f0, op->dst.data, op->dst.stride,
                    op->a.rows, op->a.cols);
      break;
    default:
      return ty_err_set(err, TY_ERR_UNSUPPORTED, "cuda:%d: no kernel for op %d", c->device,
                        (int)op->kind);
  }
  if (r != 0) {
    static const char *const names[TY_OP_COUNT] = { "get_rows", "rmsnorm", "matmul", "rope",
                                                    "kv_store", "attention", "glu", "add",
                                                    "scale", "matmul3", "matmul_glu" };
    char what[48];
    snprintf(what, sizeof what, "launching %s", names[op->kind]);
    return cuda_err(err, c->device, what, (cudaError_t)r);
  }
  return TY_OK;
}


/* Whether two ops launch the same kernels with the same arguments (staged
   data aside: pointers to it are compared, its contents are not). */
static bool same_step_op(const struct step_op *x, const struct step_op *y) {
  const struct ty_op *a = &x->op, *b = &y->op;
  return a->kind == b->kind && same_view(&a->dst, &b->dst) && same_view(&a->a, &b->a) &&
         same_view(&a->b, &b->b) && same_view(&a->c, &b->c) && same_view(&a->d, &b->d) &&
         same_view(&a->dst2, &b->dst2) && same_view(&a->dst3, &b->dst3) && a->ids == b->ids &&
         a->pos == b->pos && a->ff == b->ff && a->i0 == b->i0 && a->i1 == b->i1 &&
         a->i2 == b->i2 && a->i3 == b->i3 && memcmp(&a->f0, &b->f0, sizeof a->f0) == 0 &&
         memcmp(&a->f1, &b->f1, sizeof a->f1) == 0 && memcmp(&a->eps, &b->eps, sizeof a->eps) == 0 &&
         x->n_split == y->n_split && x->chunk == y->chunk;
}


/* A graph's products quantize their own activations: one launched before
   the capture is not in the graph. */
static ty_status begin_capture(struct cuda *c, ty_err *err) {
  CK(c, "starting a graph capture",
     cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
  c->capturing = true;
  c->n_cur = 0;
  c->xq_valid = false;
  return TY_OK;
}


static void abandon_capture(struct cuda *c) {
  cudaGraph_t g = NULL;
  c->capturing = false;
  c->n_cur = 0;
  if (cudaStreamEndCapture(c->stream, &g) == cudaSuccess && g != NULL) cudaGraphDestroy(g);
  cudaGetLastError();
}


/* Notes an op of the step being captured. */
static ty_status record(struct cuda *c, const struct step_op *so, ty_err *err) {
  if (c->n_cur == c->cap_cur) {
    int cap = c->cap_cur ? 2 * c->cap_cur : 256;
    struct step_op *p = realloc(c->cur, (size_t)cap * sizeof *p);
    if (p == NULL) return ty_err_set(err, TY_ERR_NOMEM, "cuda:%d: out of memory", c->device);
    c->cur = p;
    c->cap_cur = cap;
  }
  c->cur[c->n_cur++] = *so;
  return TY_OK;
}


/* A replayed step has issued an op its graph does not hold: capture it
   after all, from its first op (the ops matched so far are the graph's own
   first ops, and their host data is this step's). */
static ty_status diverge(struct cuda *c, ty_err *err) {
  ty_status st;
  c->replaying = false;
  c->n_staged = 0;
  if ((st = begin_capture(c, err)) != TY_OK) return st;
  for (int k = 0; k < c->n_match; k++)
    if ((st = record(c, &c->rec[k], err)) != TY_OK || (st = launch(c, &c->rec[k], err)) != TY_OK) {
      abandon_capture(c);
      return st;
    }
  return TY_OK;
}


/* One op. A one-token step that starts after a sync replays the last
   step's graph while its ops match that graph's, or else is captured as a
   graph; the next get or set launches it. A failed launch abandons the
   capture. */
static ty_status cu_run(void *ctx, const struct ty_op *op, ty_err *err) {
  struct cuda *c = ctx;
  struct step_op so = { .op = *op };
  ty_status st;
  CK(c, "selecting the GPU", cudaSetDevice(c->device));
  if (op->kind == TY_OP_ATTENTION) attn_split(c, op, &so.n_split, &so.chunk);
  if (c->graphs && !c->capturing && !c->replaying && c->n_staged == 0 && op->dst.rows == 1) {
    if (c->exec != NULL && c->n_rec > 0 && same_step_op(&so, &c->rec[0])) {
      c->replaying = true;
      c->n_match = 0;
    } else if ((st = begin_capture(c, err)) != TY_OK) {
      return st;
    }
  }
  if (c->replaying) {
    if (c->n_match < c->n_rec && same_step_op(&so, &c->rec[c->n_match])) {
      if ((st = launch(c, &so, err)) == TY_OK && c->replaying) c->n_match++;
      return st;
    }
    if ((st = diverge(c, err)) != TY_OK) return st;
  }
  if (c->capturing && (st = record(c, &so, err)) != TY_OK) {
    abandon_capture(c);
    return st;
  }
  if ((st = launch(c, &so, err)) != TY_OK && c->capturing) abandon_capture(c);
  return st;
}


static void cu_close(void *ctx) {
  struct cuda *c = ctx;
  cudaSetDevice(c->device);
  if (c->capturing) {
    cudaGraph_t g = NULL;
    if (cudaStreamEndCapture(c->stream, &g) == cudaSuccess && g != NULL) cudaGraphDestroy(g);
  }
  if (c->stream != NULL) cudaStreamSynchronize(c->stream);
  if (c->exec != NULL) cudaGraphExecDestroy(c->exec);
  if (c->blas != NULL) cublasDestroy(c->blas);
  if (c->stream != NULL) cudaStreamDestroy(c->stream);
  if (c->stage_host != NULL) cudaFreeHost(c->stage_host);
  free(c->rec);
  free(c->cur);
  free(c);
}


static const struct ty_backend_i cuda_i = {
  "cuda", cu_alloc, cu_free, NULL, NULL, cu_set, cu_get, cu_supports, cu_run, cu_close,
  cu_scratch, cu_mem_info
};


ty_status ty_backend_cuda_open(int device, ty_backend_t *out, ty_err *err) {
  struct cuda *c;
  ty_backend_t b;
  cublasStatus_t s;
  const char *g = getenv("TYCHO_CUDA_GRAPHS"), *q = getenv("TYCHO_CUDA_MMVQ");
  ty_status st;
  *out = NULL;
  if (device < 0 || device >= ty_cuda_device_count())
    return ty_err_set(err, TY_ERR_ARG, "cuda:%d: no such GPU (%d visible to CUDA)", device,
                      ty_cuda_device_count());
  c = calloc(1, sizeof *c);
  b = calloc(1, sizeof *b);
  if (c == NULL || b == NULL) {
    free(c);
    free(b);
    return ty_err_set(err, TY_ERR_NOMEM, "cuda backend: out of memory");
  }
  c->device = device;
  c->graphs = g == NULL || strcmp(g, "0") != 0;
  c->int8 = q == NULL || strcmp(q, "0") != 0;
  b->i = &cuda_i;
  b->ctx = c;
  cudaError_t e;
  if ((e = cudaSetDevice(device)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    st = cuda_err(err, device, "opening the GPU", e);
    goto fail;
  }
  if ((s = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS ||
      (s = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS) {
    st = blas_err(err, device, "opening cuBLAS", s);
    goto fail;
  }
  *out = b;
  return TY_OK;
fail:
  ty_backend_close(b);
  return st;
}


bool ty_backend_is_cuda(ty_backend_t b) {
  return b != NULL && b->i == &cuda_i;
}
