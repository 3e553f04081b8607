/*
 * backend.c: the checked wrappers over a backend's function table.
 */
#include "backend.h"
#include "../../kernels/kernels.h"   /* the kernels' sizes, plain C: no CUDA needed */

#include <stdlib.h>
#include <string.h>


void ty_backend_close(ty_backend_t b) {
  if (b == NULL) return;
  if (b->i->close != NULL) b->i->close(b->ctx);
  free(b);
}


ty_status ty_backend_alloc(ty_backend_t b, size_t size, void **out, ty_err *err) {
  *out = NULL;
  if (size == 0) size = 1;
  return b->i->alloc(b->ctx, size, out, err);
}


void ty_backend_free(ty_backend_t b, void *ptr) {
  if (ptr != NULL) b->i->free(b->ctx, ptr);
}


ty_status ty_backend_weights(ty_backend_t b, const struct ty_view *src, void **out, ty_err *err) {
  *out = NULL;
  return b->i->weights(b->ctx, src, out, err);
}


void ty_backend_release(ty_backend_t b, void *ptr) {
  if (ptr != NULL && b->i->release != NULL) b->i->release(b->ctx, ptr);
}


ty_status ty_backend_set(ty_backend_t b, void *dst, const void *src, size_t size, ty_err *err) {
  if (size == 0) return TY_OK;
  return b->i->set(b->ctx, dst, src, size, err);
}


ty_status ty_backend_get(ty_backend_t b, void *dst, const void *src, size_t size, ty_err *err) {
  if (size == 0) return TY_OK;
  return b->i->get(b->ctx, dst, src, size, err);
}


bool ty_backend_supports(ty_backend_t b, const struct ty_op *op) {
  return op->kind >= 0 && op->kind < TY_OP_COUNT &&
         (b->i->supports == NULL || b->i->supports(b->ctx, op));
}


ty_status ty_backend_run(ty_backend_t b, const struct ty_op *op, ty_err *err) {
  if (op->kind < 0 || op->kind >= TY_OP_COUNT)
    return ty_err_set(err, TY_ERR_ARG, "%s backend: unknown op %d", b->i->name, (int)op->kind);
  if (b->i->supports != NULL && !b->i->supports(b->ctx, op))
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s backend: op %d not supported for these types",
                      b->i->name, (int)op->kind);
  return b->i->run(b->ctx, op, err);
}



static size_t round256(size_t n) { return (n + 255) & ~(size_t)255; }


void ty_gpu_scratch_size(int n_batch, int n_ctx, int n_head, int head_dim, int64_t max_weight,
                         int64_t max_cols, struct ty_gpu_scratch *out) {
  int64_t splits = ((int64_t)n_ctx + TY_GPU_ATTN_CHUNK - 1) / TY_GPU_ATTN_CHUNK;
  bool blas = n_batch > TYK_MATVEC_MAX_TOK;   /* larger batches go through cuBLAS */
  if (splits > TY_GPU_ATTN_MAX_SPLIT) splits = TY_GPU_ATTN_MAX_SPLIT;
  memset(out, 0, sizeof *out);
  out->attn_slots = (int64_t)n_head * (splits > n_batch ? splits : n_batch);
  out->stage_ints = n_batch > 512 ? n_batch : 512;   /* positions, ids, rope factors */
  out->wdq = blas ? (size_t)max_weight * 2 : 0;
  out->x16 = blas ? (size_t)n_batch * (size_t)max_cols * 2 : 0;
  /* decode's activations in 8 bits, for each token the int8 product takes */
  out->xq = (size_t)(n_batch < TYK_MATVEC_MAX_TOK ? n_batch : TYK_MATVEC_MAX_TOK) *
            tyk_q8_row_bytes(max_cols);
  out->attn = (size_t)out->attn_slots * (size_t)(head_dim + 2) * sizeof(float);
  out->blas = blas ? TY_GPU_BLAS_WORKSPACE : 0;
  out->stage = (size_t)TY_GPU_STAGE_SLOTS * (size_t)out->stage_ints * sizeof(int32_t);
  out->total = round256(out->wdq) + round256(out->x16) + round256(out->xq) + round256(out->attn) +
               round256(out->blas) + round256(out->stage);
}
