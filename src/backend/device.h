/*
 * device.h: the machine's compute devices and their memory, the list the
 * planner splits a model over: the CPU, then every GPU CUDA sees (none in a
 * build without CUDA).
 */
#ifndef TY_DEVICE_H
#define TY_DEVICE_H

#include <stdint.h>

#include "../base/base.h"

enum ty_dev_kind { TY_DEV_CPU = 0, TY_DEV_CUDA = 1 };

struct ty_device_info {
  char name[128];                /* "AMD EPYC 7B13", NUL-terminated; "cpu" when unknown */
  int kind;                      /* enum ty_dev_kind */
  int index;                     /* position among devices of the same kind */
  uint64_t total, free;          /* memory bytes; free <= total; 0 when unknown */
  int threads;                   /* CPU: online cores; GPU: 0 */
};

/* Lists up to max devices into out (the CPU first) and sets *n to the
   number written. Never fails for lack of /proc or sysfs: what cannot be
   read stays at its fallback. TY_ERR_ARG when max < 0, or out or n is NULL. */
ty_status ty_device_list(struct ty_device_info *out, int max, int *n, ty_err *err);

/* "cpu", "cuda", or "unknown". */
const char *ty_dev_kind_name(int kind);

#endif
