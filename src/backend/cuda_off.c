/*
 * cuda_off.c: the CUDA entry points of a build without the CUDA toolkit
 * (TYCHO_CUDA off): no GPUs, and a clear line for anyone who asks for one.
 */
#include "backend.h"

#include <stdio.h>


ty_status ty_backend_cuda_open(int device, ty_backend_t *out, ty_err *err) {
  *out = NULL;
  return ty_err_set(err, TY_ERR_UNSUPPORTED, "cuda:%d: this tycho was built without CUDA; "
                    "rebuild with the CUDA toolkit installed (cmake -DTYCHO_CUDA=ON)", device);
}


bool ty_backend_is_cuda(ty_backend_t b) { return false; }
int ty_cuda_device_count(void) { return 0; }


ty_status ty_cuda_device_info(int device, char *name, size_t cap, uint64_t *free,
                              uint64_t *total, ty_err *err) {
  return ty_backend_cuda_open(device, &(ty_backend_t){ NULL }, err);
}


ty_status ty_cuda_copy_rate(int device, size_t size, double *rate, ty_err *err) {
  *rate = 0;
  return ty_backend_cuda_open(device, &(ty_backend_t){ NULL }, err);
}
