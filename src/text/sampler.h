/*
 * sampler.h: picks the next token from a row of logits with Ollama's options
 * and llama.cpp's algorithms: penalties, top_k, typical_p, top_p, min_p,
 * temperature, then a seeded draw that is the same on every machine.
 */
#ifndef TY_SAMPLER_H
#define TY_SAMPLER_H

#include <stdint.h>

#include "base/base.h"

/* Ollama's option names and meanings. ty_sampler_params_default gives
   Ollama's defaults, checked against ollama/ollama api/types.go
   DefaultOptions (the 2025 tree with ThinkValue "high"/"medium"/"low",
   v0.11 or later; MinP is not set there, so it is 0):
     temperature 0.8   (<= 0: greedy, the highest logit, ties to the lowest id)
     top_k 40          (<= 0: all tokens)
     top_p 0.9         (>= 1: off)
     min_p 0.0         (<= 0: off)
     typical_p 1.0     (>= 1: off)
     repeat_penalty 1.1, repeat_last_n 64 (0: off, -1: num_ctx)
     presence_penalty 0, frequency_penalty 0
     seed -1           (-1: a random seed; >= 0: a reproducible sequence) */
struct ty_sampler_params {
  float temperature; int top_k; float top_p, min_p, typical_p;
  float repeat_penalty; int repeat_last_n; float presence_penalty, frequency_penalty;
  int64_t seed;           /* -1: random */
};

/* Fills p with Ollama's defaults (above). */
void ty_sampler_params_default(struct ty_sampler_params *p);

/* TY_OK when every setting is in range, else one line naming the first bad
   one (ty_sampler_new checks the same). */
ty_status ty_sampler_params_check(const struct ty_sampler_params *p, ty_err *err);

typedef struct ty_sampler ty_sampler;

/* Makes a sampler for a vocabulary of n_vocab tokens; n_ctx is num_ctx, the
   window repeat_last_n = -1 stands for. Checks every parameter's range and
   fails with TY_ERR_ARG and one line naming it ("top_p must be in [0, 1],
   got 1.5"). The caller owns *out and frees it with ty_sampler_free. */
ty_status ty_sampler_new(const struct ty_sampler_params *p, int32_t n_vocab, int32_t n_ctx,
                         ty_sampler **out, ty_err *err);

/* Frees s; NULL is a no-op. */
void ty_sampler_free(ty_sampler *s);

/* Remembers a token (prompt and generated alike) for the penalties; the last
   repeat_last_n are kept. An id outside [0, n_vocab) is ignored. */
void ty_sampler_accept(ty_sampler *s, int32_t id);

/* Runs the chain over logits (n_vocab floats, not modified; NaN counts as
   -inf) and returns the chosen id. Does not accept it: call
   ty_sampler_accept with the id if it is kept. */
int32_t ty_sampler_sample(ty_sampler *s, const float *logits);

/* Forgets the history; the random state is left where it is (see
   ty_sampler_reseed). */
void ty_sampler_reset(ty_sampler *s);

/* Restarts the random sequence from seed (-1: a fresh random seed). */
void ty_sampler_reseed(ty_sampler *s, int64_t seed);

/* The seed in use (the drawn one when the parameters said -1), so a run can
   be repeated. */
uint64_t ty_sampler_seed(const ty_sampler *s);

/* ---- the chain, one stage at a time ----------------------------------- */

/* A candidate token: its id, its (adjusted) logit, and a probability that
   only the stages that compute one fill in (typical, top_p, softmax). */
struct ty_sampler_cand {
  int32_t id;
  float logit;
  float p;
};

/* Runs every stage over logits and returns the number of candidates left;
   *out points at them (owned by s, valid until the next call on s), in the
   order the draw walks, with p the probability the draw uses. Greedy
   (temperature <= 0) leaves the one winner with p = 1. */
int32_t ty_sampler_probs(ty_sampler *s, const float *logits, const struct ty_sampler_cand **out);

/* Each stage works in place on c[0..n) (n >= 1) and returns how many
   candidates are left at the front (>= 1). Stages that sort order by logit,
   highest first, ties to the lowest id. */

/* repeat/presence/frequency penalties from s's history, llama.cpp's rule:
   a positive logit is divided by repeat_penalty, a negative one multiplied,
   then count * frequency_penalty + presence_penalty is subtracted. */
int32_t ty_sampler_penalties(const ty_sampler *s, struct ty_sampler_cand *c, int32_t n);
/* keeps the k highest (k <= 0 or k >= n: all), sorted */
int32_t ty_sampler_top_k(struct ty_sampler_cand *c, int32_t n, int32_t k);
/* locally typical sampling (p >= 1: off); leaves c sorted, p set */
int32_t ty_sampler_typical(struct ty_sampler_cand *c, int32_t n, float p);
/* nucleus: the fewest highest tokens whose probability reaches p (p >= 1:
   off); leaves c sorted, p set over the input */
int32_t ty_sampler_top_p(struct ty_sampler_cand *c, int32_t n, float p);
/* keeps tokens with probability >= p times the highest (p <= 0: off) */
int32_t ty_sampler_min_p(struct ty_sampler_cand *c, int32_t n, float p);
/* divides logits by t; t <= 0 leaves only the highest logit finite (ties to
   the lowest id) and every other at -inf, as llama.cpp does */
int32_t ty_sampler_temp(struct ty_sampler_cand *c, int32_t n, float t);
/* sets p to the softmax of the logits (the draw's distribution) */
void ty_sampler_softmax(struct ty_sampler_cand *c, int32_t n);

/* Picks an index in c[0..n) by p with a uniform u in [0, 1): the first i
   whose running sum of p exceeds u (the last with p > 0 if rounding leaves
   u above the total). Exposed so tests can check the mapping. */
int32_t ty_sampler_pick(const struct ty_sampler_cand *c, int32_t n, double u);

#endif
