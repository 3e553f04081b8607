/*
 * quality.c: perplexity and KL divergence as llama.cpp's perplexity tool
 * (tools/perplexity/perplexity.cpp) computes them. The text is cut into
 * chunks of n_ctx tokens; each runs from an empty cache with its first token
 * replaced by BOS, and only its second half is scored (the first half gives
 * every scored token some context). A KL base file is llama.cpp's own:
 *   "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk * n_ctx],
 *   then for each scored token a record of nv = 2*((n_vocab+1)/2) + 4 uint16:
 *   float scale, float min_log_prob, n_vocab quantized log-probs (and a pad),
 *   log_prob[i] = scale * q[i] + min_log_prob, floored at 16 below the top.
 * The arithmetic of each record and of the KL sum follows llama.cpp's in
 * float, so files go both ways between the two programs.
 */
#include "quality.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KL_MAGIC "_logits_"

struct scorer {
  const int32_t *chunk;      /* the chunk's original tokens: chunk[i + 1] is the target of row i */
  int n_ctx, n_vocab, nv;
  double nll, nll2;
  int count;
  FILE *save, *base;         /* the KL files being written and read */
  const char *save_path, *base_path;
  uint16_t *rec;             /* one record (nv) */
  float *kld;                /* per scored token, for the percentiles */
  int n_same_top;
  double nll_base;
  ty_status st;
  ty_err *err;
};


/* GGML's round to nearest (half to even) for the record's quantization. */
static int nearest_int(float f) {
  float v = f + 12582912.f;
  int i;
  memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}


/* llama.cpp's log_softmax that writes a base record. */
static void save_record(const struct scorer *s, const float *logits, uint16_t *rec) {
  float max_logit = logits[0], min_logit = logits[0];
  double sum_exp = 0.0;
  for (int i = 1; i < s->n_vocab; i++) {
    if (logits[i] > max_logit) max_logit = logits[i];
    if (logits[i] < min_logit) min_logit = logits[i];
  }
  if (min_logit < max_logit - 16) min_logit = max_logit - 16;
  for (int i = 0; i < s->n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
  const float log_sum_exp = (float)log(sum_exp);
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  memset(rec, 0, (size_t)s->nv * sizeof *rec);
  memcpy(rec, &scale, sizeof scale);
  memcpy(rec + 2, &min_log_prob, sizeof min_log_prob);
  if (scale != 0) {
    const float inv_scale = 1 / scale;
    for (int i = 0; i < s->n_vocab; i++)
      rec[4 + i] = logits[i] > min_logit ? (uint16_t)nearest_int(inv_scale * (logits[i] - min_logit)) : 0;
  }
}


/* llama.cpp's KL divergence of one token against a base record: sets *kld,
   *same (the argmaxes agree) and the base's NLL of tok. */
static void kl_record(const struct scorer *s, const float *logits, const uint16_t *rec, int tok,
                      float *kld, int *same, float *nll_base) {
  float max_logit = logits[0], scale, min_log_prob, p_log_base_max = 0;
  int imax = 0, imax_base = -1;
  double sum_exp = 0.0, sum = 0.0;
  for (int i = 1; i < s->n_vocab; i++)
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      imax = i;
    }
  for (int i = 0; i < s->n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
  const float log_sum_exp = (float)log(sum_exp);
  memcpy(&scale, rec, sizeof scale);
  memcpy(&min_log_prob, rec + 2, sizeof min_log_prob);
  rec += 4;
  *nll_base = -(scale * rec[tok] + min_log_prob);
  max_logit += log_sum_exp;
  for (int i = 0; i < s->n_vocab; i++) {
    const float p_log_base = scale * rec[i] + min_log_prob;
    if (i == 0 || p_log_base > p_log_base_max) {
      p_log_base_max = p_log_base;
      imax_base = i;
    }
    if (p_log_base > -16.f) sum += expf(p_log_base) * (p_log_base - logits[i] + max_logit);
  }
  *kld = (float)sum;
  *same = imax == imax_base;
}


/* The logits of row i of a chunk: score its next token (row n_ctx - 1 has
   none), and write or compare its record. */
static int score_row(void *ud, int i, const float *logits) {
  struct scorer *s = ud;
  float max_logit = logits[0];
  double sum_exp = 0.0, nll;
  int tok;
  if (i + 1 >= s->n_ctx) return 0;
  tok = s->chunk[i + 1];
  for (int k = 1; k < s->n_vocab; k++)
    if (logits[k] > max_logit) max_logit = logits[k];
  for (int k = 0; k < s->n_vocab; k++) sum_exp += expf(logits[k] - max_logit);
  nll = (double)max_logit + log(sum_exp) - logits[tok];
  s->nll += nll;
  s->nll2 += nll * nll;
  if (s->save != NULL) {
    save_record(s, logits, s->rec);
    if (fwrite(s->rec, sizeof *s->rec, (size_t)s->nv, s->save) != (size_t)s->nv) {
      s->st = ty_err_set(s->err, TY_ERR_IO, "%s: write failed: %s", s->save_path, strerror(errno));
      return 1;
    }
  }
  if (s->base != NULL) {
    float nll_base;
    int same;
    if (fread(s->rec, sizeof *s->rec, (size_t)s->nv, s->base) != (size_t)s->nv) {
      s->st = ty_err_set(s->err, TY_ERR_FORMAT, "%s: ends early (a KL base file from "
                         "llama-perplexity --kl-divergence-base or tycho)", s->base_path);
      return 1;
    }
    kl_record(s, logits, s->rec, tok, &s->kld[s->count], &same, &nll_base);
    s->n_same_top += same;
    s->nll_base += nll_base;
  }
  s->count++;
  return 0;
}


static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}


/* llama.cpp's percentile: linear between the neighbours of fraction*(n-1). */
static double percentile(const float *v, int n, double fraction) {
  double p = fraction * (n - 1);
  int ip = (int)p;
  p -= ip;
  return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}


/* Reads and checks a KL base's header: its window, chunk count and tokens
   (malloc'd into *tokens); the file must be exactly as long as they say. */
static ty_status base_open(const char *path, int n_vocab, FILE **out, int *n_ctx, int *n_chunk,
                           int32_t **tokens, ty_err *err) {
  char magic[8];
  uint32_t ctx;
  int32_t nv, nc;
  long long size = -1, want;
  FILE *f = fopen(path, "rb");
  *tokens = NULL;
  if (f == NULL) return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, KL_MAGIC, 8) != 0 ||
      fread(&ctx, 4, 1, f) != 1 || fread(&nv, 4, 1, f) != 1 || fread(&nc, 4, 1, f) != 1) {
    fclose(f);
    return ty_err_set(err, TY_ERR_FORMAT, "%s: not a file of log-probabilities (llama-perplexity "
                      "--kl-divergence-base or tycho perplexity --save-logits writes them)", path);
  }
  if (nv != n_vocab || ctx < 8 || ctx > (1u << 24) || nc < 1 || nc > (1 << 20)) {
    fclose(f);
    return ty_err_set(err, TY_ERR_FORMAT, "%s: made for %d tokens of context, a vocabulary of %d "
                      "and %d chunks; this model's vocabulary has %d", path, (int)ctx, (int)nv,
                      (int)nc, n_vocab);
  }
  want = 20 + 4LL * ctx * nc + 2LL * nc * (ctx - 1 - ctx / 2) * (2 * ((nv + 1) / 2) + 4);
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) != want || fseek(f, 20, SEEK_SET) != 0) {
    fclose(f);
    return ty_err_set(err, TY_ERR_FORMAT, "%s: %lld bytes where its header says %lld (truncated?)",
                      path, size, want);
  }
  *tokens = malloc((size_t)ctx * (size_t)nc * sizeof **tokens);
  if (*tokens == NULL || fread(*tokens, 4, (size_t)ctx * nc, f) != (size_t)ctx * nc) {
    free(*tokens);
    *tokens = NULL;
    fclose(f);
    return ty_err_set(err, TY_ERR_IO, "%s: cannot read its tokens", path);
  }
  for (size_t i = 0; i < (size_t)ctx * nc; i++)
    if ((*tokens)[i] < 0 || (*tokens)[i] >= n_vocab) {
      free(*tokens);
      *tokens = NULL;
      fclose(f);
      return ty_err_set(err, TY_ERR_FORMAT, "%s: token %zu is %d, outside the vocabulary", path,
                        i, (int)(*tokens)[i]);
    }
  *out = f;
  *n_ctx = (int)ctx;
  *n_chunk = nc;
  return TY_OK;
}


static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


ty_status ty_perplexity(ty_model *m, const int32_t *tokens, size_t n, int32_t bos,
                        const struct ty_ppl_params *p, struct ty_ppl_result *r, ty_err *err) {
  const int n_vocab = ty_model_hparams(m)->n_vocab;
  struct scorer s = { .n_vocab = n_vocab, .nv = 2 * ((n_vocab + 1) / 2) + 4, .err = err,
                      .save_path = p->save_logits, .base_path = p->kl_base };
  int32_t *chunk = NULL, *base_tokens = NULL;
  char *tmp = NULL;
  int n_ctx = p->n_ctx > 0 ? p->n_ctx : 512, n_chunk = 0, first;
  double t0 = now_seconds();
  ty_status st = TY_OK;

  memset(r, 0, sizeof *r);
  if (p->kl_base != NULL) {
    if ((st = base_open(p->kl_base, n_vocab, &s.base, &n_ctx, &n_chunk, &base_tokens, err)))
      return st;
    if ((size_t)n_ctx * n_chunk > n ||
        memcmp(base_tokens, tokens, (size_t)n_ctx * n_chunk * sizeof *tokens) != 0) {
      st = ty_err_set(err, TY_ERR_ARG, "%s: computed over another text (its %d tokens do not "
                      "begin this text's %zu)", p->kl_base, n_ctx * n_chunk, n);
      goto done;
    }
  } else {
    if (n_ctx < 8)
      return ty_err_set(err, TY_ERR_ARG, "perplexity: a window of %d tokens is too small (8 or "
                        "more)", n_ctx);
    if (n < 2 * (size_t)n_ctx)
      return ty_err_set(err, TY_ERR_ARG, "perplexity: the text has %zu tokens; a window of %d "
                        "needs at least %d (as llama.cpp): give a longer text or a smaller "
                        "num_ctx", n, n_ctx, 2 * n_ctx);
    n_chunk = (int)(n / (size_t)n_ctx);
  }
  if (p->max_chunks > 0 && p->max_chunks < n_chunk) n_chunk = p->max_chunks;
  if (n_ctx > ty_model_n_ctx(m)) {
    st = ty_err_set(err, TY_ERR_ARG, "perplexity: a window of %d tokens does not fit the model's "
                    "context of %d; load it with num_ctx = %d", n_ctx, ty_model_n_ctx(m), n_ctx);
    goto done;
  }
  first = n_ctx / 2;
  s.n_ctx = n_ctx;
  chunk = malloc((size_t)n_ctx * sizeof *chunk);
  s.rec = malloc((size_t)s.nv * sizeof *s.rec);
  s.kld = s.base != NULL ? malloc((size_t)n_chunk * (n_ctx - 1 - first) * sizeof *s.kld) : NULL;
  if (chunk == NULL || s.rec == NULL || (s.base != NULL && s.kld == NULL)) {
    st = ty_err_set(err, TY_ERR_NOMEM, "perplexity: out of memory");
    goto done;
  }
  if (p->save_logits != NULL) {
    uint32_t hdr[3] = { (uint32_t)n_ctx, (uint32_t)n_vocab, (uint32_t)n_chunk };
    if ((tmp = malloc(strlen(p->save_logits) + 5)) == NULL) {
      st = ty_err_set(err, TY_ERR_NOMEM, "perplexity: out of memory");
      goto done;
    }
    sprintf(tmp, "%s.tmp", p->save_logits);
    if ((s.save = fopen(tmp, "wb")) == NULL) {
      st = ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
      goto done;
    }
    if (fwrite(KL_MAGIC, 1, 8, s.save) != 8 || fwrite(hdr, 4, 3, s.save) != 3 ||
        fwrite(tokens, 4, (size_t)n_chunk * n_ctx, s.save) != (size_t)n_chunk * n_ctx) {
      st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
      goto done;
    }
  }

  for (int c = 0; c < n_chunk; c++) {
    memcpy(chunk, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
    s.chunk = tokens + (size_t)c * n_ctx;
    if (bos >= 0) chunk[0] = bos;
    ty_model_reset(m);
    st = ty_model_eval_all(m, chunk, n_ctx, first, score_row, &s, err);
    if (s.st != TY_OK) st = s.st;
    if (st != TY_OK) goto done;
    if (p->progress != NULL && p->progress(p->progress_ud, c + 1, n_chunk, exp(s.nll / s.count)) != 0) {
      st = ty_err_set(err, TY_ERR_CANCELLED, "interrupted");
      goto done;
    }
  }
  ty_model_reset(m);

  double mean = s.nll / s.count, var = s.nll2 / s.count - mean * mean;
  r->ppl = exp(mean);
  r->ppl_err = var > 0 && s.count > 1 ? sqrt(var / (s.count - 1)) * r->ppl : 0;
  r->n_tokens = s.count;
  r->n_chunks = n_chunk;
  r->n_ctx = n_ctx;
  if (s.base != NULL) {
    double sum = 0;
    for (int i = 0; i < s.count; i++) sum += s.kld[i];
    qsort(s.kld, (size_t)s.count, sizeof *s.kld, cmp_float);
    r->has_kl = true;
    r->kl.mean = sum / s.count;
    r->kl.median = s.count % 2 == 0 ? 0.5f * (s.kld[s.count / 2] + s.kld[s.count / 2 - 1])
                                    : s.kld[s.count / 2];
    r->kl.p99 = percentile(s.kld, s.count, 0.99);
    r->kl.max = s.kld[s.count - 1];
    r->kl.same_top = (double)s.n_same_top / s.count;
    r->kl.ppl_base = exp(s.nll_base / s.count);
  }
  if (s.save != NULL) {
    int bad = fclose(s.save) != 0;
    s.save = NULL;
    if (bad || rename(tmp, p->save_logits) != 0) {
      st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", p->save_logits, strerror(errno));
      goto done;
    }
  }
  r->seconds = now_seconds() - t0;

done:
  if (s.save != NULL) {
    fclose(s.save);
    remove(tmp);
  }
  if (s.base != NULL) fclose(s.base);
  if (st != TY_OK) ty_model_reset(m);
  free(tmp);
  free(chunk);
  free(s.rec);
  free(s.kld);
  free(base_tokens);
  return st;
}
