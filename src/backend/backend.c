/*
 * backend.c: the checked wrappers over a backend's function table.
 */
#include "backend.h"

#include <stdlib.h>


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


ty_status ty_backend_weights(ty_backend_t b, const void *src, size_t size, void **out,
                             ty_err *err) {
  *out = NULL;
  return b->i->weights(b->ctx, src, size, out, err);
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


ty_status ty_backend_run(ty_backend_t b, const struct ty_op *op, ty_err *err) {
  if (op->kind < 0 || op->kind >= TY_OP_COUNT)
    return ty_err_set(err, TY_ERR_ARG, "%s backend: unknown op %d", b->i->name, (int)op->kind);
  if (b->i->supports != NULL && !b->i->supports(b->ctx, op))
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s backend: op %d not supported for these types",
                      b->i->name, (int)op->kind);
  return b->i->run(b->ctx, op, err);
}
