/*
 * base.h: status codes and the error record every engine function fills.
 * Functions that can fail return a ty_status and take a ty_err * last; on
 * failure err->msg holds one lowercase line saying what, where and what to do.
 */
#ifndef TY_BASE_H
#define TY_BASE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  TY_OK = 0,
  TY_ERR_IO,           /* a file or device could not be read or written */
  TY_ERR_FORMAT,       /* input bytes are malformed */
  TY_ERR_NOMEM,        /* an allocation failed */
  TY_ERR_DEVICE,       /* a backend failed */
  TY_ERR_UNSUPPORTED,  /* well-formed but not something tycho runs */
  TY_ERR_CANCELLED,    /* a cancel callback asked to stop */
  TY_ERR_ARG           /* a caller passed a bad argument */
} ty_status;

typedef struct {
  ty_status code;
  char msg[256];       /* "" when code == TY_OK */
} ty_err;

/* Sets err (which may be NULL) and returns code, so callers write
   `return ty_err_set(err, TY_ERR_FORMAT, "%s: bad magic", path);` */
ty_status ty_err_set(ty_err *err, ty_status code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

/* Clears err to TY_OK. */
void ty_err_clear(ty_err *err);

/* Short name of a status code ("format error", ...). */
const char *ty_status_name(ty_status code);

/* Overflow-checked size arithmetic: return 0 on overflow, 1 on success. */
static inline int ty_add_ok(uint64_t a, uint64_t b, uint64_t *r) {
  return !__builtin_add_overflow(a, b, r);
}
static inline int ty_mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
  return !__builtin_mul_overflow(a, b, r);
}

#endif
