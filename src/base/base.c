/*
 * base.c: the error record.
 */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


/* An error is one line: control characters that a quoted input brings in
   (a Modelfile value across lines, a name with a tab) are written as C
   escapes, \n or \x1b, cut short only between whole escapes. */
static void one_line(char *out, size_t size, const char *in) {
  size_t o = 0;
  for (; *in != '\0'; in++) {
    unsigned char c = (unsigned char)*in;
    char esc[5];
    size_t n = 1;
    esc[0] = (char)c;
    if (c == '\n' || c == '\r' || c == '\t') {
      esc[0] = '\\';
      esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      n = 2;
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      n = 4;
    }
    if (o + n >= size) break;
    memcpy(out + o, esc, n);
    o += n;
  }
  out[o] = '\0';
}


ty_status ty_err_set(ty_err *err, ty_status code, const char *fmt, ...) {
  if (err != NULL) {
    char raw[sizeof err->msg];
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    one_line(err->msg, sizeof err->msg, raw);
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
