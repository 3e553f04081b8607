/*
 * fuzz_sampler.c: libFuzzer target for the sampler. The input supplies the
 * parameters (any floats, NaN and inf included), a vocabulary of 1..512
 * raw float logits and a history; every answer must be a valid id and the
 * chain's probabilities finite and summing to 1.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/sampler.h"

static size_t take(const uint8_t **d, size_t *n, void *out, size_t k) {
  size_t m = *n < k ? *n : k;
  memset(out, 0, k);
  memcpy(out, *d, m);
  *d += m;
  *n -= m;
  return m;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ty_sampler_params q;
  const struct ty_sampler_cand *out;
  ty_sampler *s = NULL;
  ty_err err;
  uint16_t nv16, nh16;
  int32_t nv, nh, i, n, id;
  int32_t nctx;
  float *logits;
  double sum = 0.0;
  take(&data, &size, &q, sizeof q);
  take(&data, &size, &nv16, sizeof nv16);
  take(&data, &size, &nh16, sizeof nh16);
  take(&data, &size, &nctx, sizeof nctx);
  nv = 1 + nv16 % 512;
  nh = nh16 % 1024;
  if (q.seed < -1) q.seed = q.seed == INT64_MIN ? 0 : -q.seed;   /* reproducible draws */
  if (q.seed == -1) q.seed = 1;
  if (ty_sampler_new(&q, nv, nctx, &s, &err) != TY_OK) {
    if (s != NULL || err.msg[0] == '\0') abort();
    return 0;
  }
  logits = calloc((size_t)nv, sizeof *logits);
  take(&data, &size, logits, (size_t)nv * sizeof *logits);
  for (i = 0; i < nh; i++) {
    int16_t t = 0;
    take(&data, &size, &t, sizeof t);
    ty_sampler_accept(s, t);
  }
  for (i = 0; i < 3; i++) {
    id = ty_sampler_sample(s, logits);
    if (id < 0 || id >= nv) abort();
    ty_sampler_accept(s, id);
  }
  n = ty_sampler_probs(s, logits, &out);
  if (n < 1 || n > nv) abort();
  for (i = 0; i < n; i++) {
    if (out[i].id < 0 || out[i].id >= nv || !(out[i].p >= 0.0f && out[i].p <= 1.0f)) abort();
    sum += out[i].p;
  }
  if (fabs(sum - 1.0) > 1e-3) abort();
  ty_sampler_reset(s);
  ty_sampler_free(s);
  free(logits);
  return 0;
}
