/*
 * synth.h: synthetic GGUF models with the exact tensor tables of real model
 * families (names, shapes, per-tensor types of a quantization mix), their
 * hyperparameters and a loadable stand-in vocabulary, so that planning and
 * speed work at sizes no test machine downloads. Data is a hole by default.
 */
#ifndef TY_SYNTH_H
#define TY_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/base.h"

/* Fill tensor data with random values (finite scales) instead of a hole:
   the file then loads and runs (garbage text), and takes its full size. */
#define TY_SYNTH_RANDOM 1u

/* One known model shape. Numbers come from the model's Hugging Face
   config.json (source says which); docs/synth.md lists them. */
struct ty_synth_shape {
  const char *family;        /* name on the command line: "llama", "gemma3", "smollm2" */
  const char *size;          /* "70B", "270M" */
  const char *arch;          /* general.architecture: "llama" or "gemma3" */
  const char *model;         /* "Llama 3.3 70B" */
  const char *source;        /* where the hyperparameters come from */
  int n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx;
  float eps, rope_base;
  float rope_linear;         /* gemma3 4B+: rope.scaling.factor (linear); 0 = none */
  int sliding_window;        /* gemma3 */
  float rope_factor;         /* llama 3.1+: rope_freqs.weight from these; 0 = no rope_freqs */
  int rope_orig_ctx;
  bool tied;                 /* no output.weight: the output reuses token_embd */
  bool lex_blocks;           /* blocks in name order (blk.0, blk.1, blk.10, ...) as the real file */
  bool is_70b;               /* llama.cpp's LLM_TYPE_70B (attn_v gets Q5_K in Q4_K_M) */
};

/* The known shapes: i in [0, ty_synth_n_shapes()). */
int ty_synth_n_shapes(void);
const struct ty_synth_shape *ty_synth_shape_at(int i);
/* The shape for family and size (case-insensitive), or NULL. */
const struct ty_synth_shape *ty_synth_find(const char *family, const char *size);

/* The quantization mixes ("Q4_K_M", "Q8_0", "F16", "Q4_0", "Q4_1"), NULL-terminated. */
const char *const *ty_synth_quants(void);

/* Totals of the tensor table family/size/quant would have: *bytes of tensor
   data (without the header), *params elements; either may be NULL. Fails
   with a message listing what is known for an unknown name. */
ty_status ty_synth_size(const char *family, const char *size, const char *quant,
                        uint64_t *bytes, uint64_t *params, ty_err *err);

/* Writes the synthetic model to path (GGUF v3, through path.tmp). flags:
   TY_SYNTH_RANDOM or 0 (sparse: the data section is a hole). */
ty_status ty_synth_write(const char *family, const char *size, const char *quant,
                         const char *path, unsigned flags, ty_err *err);

#endif
