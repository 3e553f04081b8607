/*
 * base.c: the error record.
 */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>


ty_status ty_err_set(ty_err *err, ty_status code, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}


void ty_err_clear(ty_err *err) {
  if (err != NULL) {
    err->code = TY_OK;
    err->msg[0] = '\0';
  }
}


const char *ty_status_name(ty_status code) {
  switch (code) {
    case TY_OK: return "ok";
    case TY_ERR_IO: return "i/o error";
    case TY_ERR_FORMAT: return "format error";
    case TY_ERR_NOMEM: return "out of memory";
    case TY_ERR_DEVICE: return "device error";
    case TY_ERR_UNSUPPORTED: return "unsupported";
    case TY_ERR_CANCELLED: return "cancelled";
    case TY_ERR_ARG: return "bad argument";
  }
  return "unknown error";
}
