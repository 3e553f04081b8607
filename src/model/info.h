/*
 * info.h: facts about a model read from its GGUF header alone (metadata and
 * tensor table): parameter count, bytes per tensor type, the shape
 * hyperparameters. No weight byte is read, so it is cheap on any file.
 */
#ifndef TY_MODEL_INFO_H
#define TY_MODEL_INFO_H

#include <stdint.h>

#include "../base/base.h"
#include "../gguf/gguf.h"
#include "../tensor/tensor.h"

/* Totals for the tensors of one type (enum ty_qtype). */
struct ty_info_type {
  uint64_t count;                /* tensors of this type */
  uint64_t bytes;                /* their data bytes, exactly as stored */
  uint64_t params;               /* their elements */
};

/* Strings point into the ty_gguf (len 0, ptr NULL when absent) and are valid
   until ty_gguf_close. Integer facts are -1 when the key is absent or not an
   integer; a per-layer array (head_count on some architectures) gives its
   largest element. */
struct ty_model_info {
  uint32_t version;              /* GGUF version */
  uint64_t file_size;            /* bytes of the file */
  struct ty_gguf_str architecture;  /* general.architecture */
  struct ty_gguf_str name;       /* general.name */
  int64_t file_type;             /* general.file_type (llama_ftype), -1 if absent */
  const char *quant;             /* "Q4_K_M" from file_type, else the name of the
                                    tensor type holding the most bytes ("q8_0"),
                                    else NULL (no tensors); static storage */
  int64_t context_length;        /* ARCH.context_length */
  int64_t embedding_length;      /* ARCH.embedding_length */
  int64_t feed_forward_length;   /* ARCH.feed_forward_length */
  int64_t block_count;           /* ARCH.block_count */
  int64_t head_count;            /* ARCH.attention.head_count */
  int64_t head_count_kv;         /* ARCH.attention.head_count_kv */
  int64_t vocab_size;            /* tokenizer.ggml.tokens length, else ARCH.vocab_size */
  uint64_t tensor_count;
  uint64_t parameters;           /* sum of tensor element counts */
  uint64_t size;                 /* sum of tensor data bytes */
  struct ty_info_type by_type[TY_QTYPE_COUNT];  /* indexed by enum ty_qtype */
};

/* Fills *out from the open file g (a pure function of g: nothing is read
   beyond the header, nothing is allocated). Fails only when a total
   overflows 64 bits (TY_ERR_FORMAT) or an argument is NULL (TY_ERR_ARG). */
ty_status ty_model_info(const ty_gguf *g, struct ty_model_info *out, ty_err *err);

/* Short name of a llama_ftype value ("Q4_K_M", "F16"), or NULL if unknown. */
const char *ty_model_ftype_name(int64_t ftype);

#endif
