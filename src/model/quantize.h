/*
 * quantize.h: GGUF to GGUF quantization with llama.cpp's per-tensor type mix
 * (llama-quantize without an importance matrix, --allow-requantize).
 */
#ifndef TY_QUANTIZE_H
#define TY_QUANTIZE_H

#include "../base/base.h"

/* Called before tensor i of n (1-based) with its name and the source and
   target types (enum ty_qtype); nonzero stops (TY_ERR_CANCELLED). */
typedef int (*ty_quant_progress_fn)(void *ud, int i, int n, const char *name, int from, int to);

/* llama.cpp's file type (enum llama_ftype) for a name such as "Q4_K_M"
   (case-insensitive; Q3_K, Q4_K, Q5_K mean their _M), or -1. */
int ty_quant_ftype(const char *name);

/* The names tycho quantizes to, NULL-terminated, in llama-quantize's order. */
const char *const *ty_quant_ftype_names(void);

/* Writes in_path quantized to file type ftype_name into out_path: all
   metadata kept (split keys dropped), general.file_type and
   general.quantization_version set, tensors in llama.cpp's order with its
   type choices; a tensor already of its target type is copied, others are
   dequantized and quantized with the reference quantizers over nthread
   threads (0 = the CPUs, at most 16). The file appears whole or not at all
   (written as OUT.PID.part, then renamed). With out_path NULL nothing is
   written: progress sees each tensor's type choice (a dry run). */
ty_status ty_quantize(const char *in_path, const char *out_path, const char *ftype_name,
                      int nthread, ty_quant_progress_fn progress, void *ud, ty_err *err);

#endif
