/*
 * quality.h: perplexity and KL divergence over a text, computed as
 * llama.cpp's perplexity tool computes them, and its log-probability file
 * (--kl-divergence-base) written and read in its own layout.
 */
#ifndef TY_QUALITY_H
#define TY_QUALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct ty_ppl_params {
  int n_ctx;                 /* tokens per chunk (llama.cpp's -c); 0 = 512. A KL base file sets its own */
  int max_chunks;            /* 0 = every whole chunk of the text */
  const char *save_logits;   /* write each scored token's log-probs here (a KL base), or NULL */
  const char *kl_base;       /* compare against this KL base, or NULL */
  /* Called after chunk i of n (1-based) with the perplexity so far; nonzero
     stops the run (TY_ERR_CANCELLED). */
  int (*progress)(void *ud, int i, int n, double ppl);
  void *progress_ud;
};

struct ty_kl_stats {
  double mean, median, p99, max;   /* KL(base || this) per token, nats */
  double same_top;                 /* fraction of tokens whose argmax agrees */
  double ppl_base;                 /* the base's perplexity over the same tokens */
};

struct ty_ppl_result {
  double ppl, ppl_err;       /* exp(mean NLL) and llama.cpp's +/- estimate */
  int n_tokens;              /* tokens scored: n_chunks * (n_ctx - 1 - n_ctx/2) */
  int n_chunks, n_ctx;
  bool has_kl;
  struct ty_kl_stats kl;
  double seconds;
};

/* Scores tokens (the whole text, tokenized with BOS as the vocabulary adds
   it) in chunks of n_ctx from an empty cache, each chunk's first token
   replaced by bos (-1: the model adds none), the second half of each chunk
   scored. With kl_base the chunks are the base file's tokens, which must
   begin the text's. Fails with one line: too few tokens, a base file that
   does not match the model or the text, I/O. */
ty_status ty_perplexity(ty_model *m, const int32_t *tokens, size_t n, int32_t bos,
                        const struct ty_ppl_params *p, struct ty_ppl_result *r, ty_err *err);

#endif
