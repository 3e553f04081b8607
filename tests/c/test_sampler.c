/*
 * test_sampler.c: the sampler against llama.cpp's samplers (fixtures from
 * scripts/gen_sampler_fixtures.py), stage by stage and as a chain; the draw
 * against an independent Python xoshiro256** and by a chi-square test;
 * parameter checks; and the time per sample on large vocabularies.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/sampler.h"
#include "testutil.h"

#ifndef TYCHO_SOURCE_DIR
#define TYCHO_SOURCE_DIR "."
#endif

static int failures;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      failures++;                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)


/* {===== fixture reading ===== */

/* Next line of *p (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **p) {
  char *s = *p, *e;
  if (s == NULL || *s == '\0') return NULL;
  e = strchr(s, '\n');
  if (e != NULL) {
    *e = '\0';
    *p = e + 1;
  } else {
    *p = s + strlen(s);
  }
  return s;
}


struct vec {
  char name[32];
  int32_t n;
  float *v;
};

#define MAX_VECS 16
static struct vec vecs[MAX_VECS];
static int n_vecs;


/* The hash the generator uses for its large vocabulary, in the same uint32
   arithmetic and the same float32 division. */
static void hash_logits(uint64_t seed, int32_t n, float *out) {
  int32_t i;
  for (i = 0; i < n; i++) {
    uint64_t h = ((uint64_t)i * 2654435761ull + seed * 40503ull) & 0xFFFFFFFFull;
    h ^= h >> 15;
    h = (h * 2246822519ull) & 0xFFFFFFFFull;
    h ^= h >> 13;
    out[i] = (float)((int64_t)(h % 2000001ull) - 1000000) / 100000.0f;
  }
}


static const struct vec *find_vec(const char *name) {
  int i;
  for (i = 0; i < n_vecs; i++)
    if (strcmp(vecs[i].name, name) == 0)
      return &vecs[i];
  return NULL;
}


/* Parses "id logit p" triples after a "list" or "delta" word. A delta
   replaces entries of base (same order) by id; a list replaces everything. */
static int32_t parse_cands(char *line, const struct ty_sampler_cand *base, int32_t n_base,
                           struct ty_sampler_cand *out, int32_t cap) {
  char *tok, *save = NULL;
  int32_t n = 0;
  int delta;
  tok = strtok_r(line, " ", &save);
  delta = tok != NULL && strcmp(tok, "delta") == 0;
  if (delta) {
    memcpy(out, base, (size_t)n_base * sizeof *out);
    n = n_base;
  }
  while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
    struct ty_sampler_cand c;
    c.id = (int32_t)strtol(tok, NULL, 10);
    c.logit = strtof(strtok_r(NULL, " ", &save), NULL);
    c.p = strtof(strtok_r(NULL, " ", &save), NULL);
    if (delta) {
      int32_t i;
      for (i = 0; i < n && out[i].id != c.id; i++) {}
      if (i < n) out[i] = c;
    } else if (n < cap) {
      out[n++] = c;
    }
  }
  return n;
}

/* }===== */


/* {===== comparisons ===== */

static int close_to(float a, float b, float rel, float abs_tol) {
  if (isinf(a) || isinf(b)) return a == b;
  return fabsf(a - b) <= abs_tol + rel * fabsf(b);
}


static int by_id(const void *pa, const void *pb) {
  const struct ty_sampler_cand *a = pa, *b = pb;
  return (a->id > b->id) - (a->id < b->id);
}


static int by_logit(const void *pa, const void *pb) {
  const struct ty_sampler_cand *a = pa, *b = pb;
  return (a->logit < b->logit) - (a->logit > b->logit);
}


/* Compares got[0..ng) with want[0..nw) as sets. ids must match unless tie
   (llama.cpp's choice among equal logits at a cut is up to its sort), then
   the sorted logits must. p is compared when check_p. */
static int same_cands(const char *what, struct ty_sampler_cand *got, int32_t ng,
                      struct ty_sampler_cand *want, int32_t nw, int tie, int check_p) {
  int32_t i;
  if (ng != nw) {
    CHECK(0, "%s: %d candidates, llama.cpp has %d", what, ng, nw);
    return 0;
  }
  qsort(got, (size_t)ng, sizeof *got, tie ? by_logit : by_id);
  qsort(want, (size_t)nw, sizeof *want, tie ? by_logit : by_id);
  for (i = 0; i < ng; i++) {
    if (!tie && got[i].id != want[i].id) {
      CHECK(0, "%s: candidate %d is id %d, llama.cpp has id %d", what, i, got[i].id, want[i].id);
      return 0;
    }
    if (!close_to(got[i].logit, want[i].logit, 1e-6f, 1e-6f)) {
      CHECK(0, "%s: id %d logit %.9g, llama.cpp %.9g", what, got[i].id, got[i].logit, want[i].logit);
      return 0;
    }
    if (check_p && !close_to(got[i].p, want[i].p, 2e-5f, 1e-7f)) {
      CHECK(0, "%s: id %d p %.9g, llama.cpp %.9g", what, got[i].id, got[i].p, want[i].p);
      return 0;
    }
  }
  return 1;
}

/* }===== */


/* {===== llama.cpp fixtures ===== */

struct fx_case {
  char name[64];
  const struct vec *logits;
  int32_t hist[256];
  int32_t n_hist;
  struct ty_sampler_params prm;
  int32_t n_ctx;
};


static int32_t run_stage(const char *st, const ty_sampler *s, const struct ty_sampler_params *q,
                         struct ty_sampler_cand *c, int32_t n) {
  if (strcmp(st, "penalties") == 0) return ty_sampler_penalties(s, c, n);
  if (strcmp(st, "top_k") == 0) return ty_sampler_top_k(c, n, q->top_k);
  if (strcmp(st, "typical") == 0) return ty_sampler_typical(c, n, q->typical_p);
  if (strcmp(st, "top_p") == 0) return ty_sampler_top_p(c, n, q->top_p);
  if (strcmp(st, "min_p") == 0) return ty_sampler_min_p(c, n, q->min_p);
  if (strcmp(st, "temp") == 0) return ty_sampler_temp(c, n, q->temperature);
  CHECK(0, "unknown stage %s", st);
  return n;
}


static void test_fixtures(void) {
  char path[1024], *text, *p, *line;
  struct fx_case fc;
  struct ty_sampler_cand *prev = NULL, *want = NULL, *got = NULL;
  int32_t n_prev = 0, cap = 0;
  ty_sampler *s = NULL;
  ty_err err;
  int n_cases = 0, n_stages = 0, n_ties = 0;
  snprintf(path, sizeof path, "%s/tests/fixtures/sampler/chain.txt", TYCHO_SOURCE_DIR);
  text = test_read_file(path, NULL);
  if (text == NULL) {
    CHECK(0, "cannot read %s (run scripts/gen_sampler_fixtures.py)", path);
    return;
  }
  memset(&fc, 0, sizeof fc);
  p = text;
  while ((line = next_line(&p)) != NULL) {
    char word[32], a[64], b[64], flags[32];
    int32_t n;
    if (line[0] == '#' || line[0] == '\0') continue;
    if (sscanf(line, "%31s", word) != 1) continue;
    if (strcmp(word, "logits") == 0) {
      struct vec *v = &vecs[n_vecs];
      unsigned long long seed;
      int k = sscanf(line, "logits %31s %d hash %llu", v->name, &v->n, &seed);
      if (n_vecs == MAX_VECS || k < 2 || v->n < 1) {
        CHECK(0, "bad logits line");
        break;
      }
      v->v = malloc((size_t)v->n * sizeof *v->v);
      if (k == 3) {
        hash_logits(seed, v->n, v->v);
      } else {
        char *vals = next_line(&p), *save = NULL, *tok;
        int32_t i = 0;
        for (tok = strtok_r(vals, " ", &save); tok != NULL && i < v->n; tok = strtok_r(NULL, " ", &save))
          v->v[i++] = strtof(tok, NULL);
        CHECK(i == v->n, "logits %s: %d values, expected %d", v->name, i, v->n);
      }
      if (v->n > cap) {
        cap = v->n;
        prev = realloc(prev, (size_t)cap * sizeof *prev);
        want = realloc(want, (size_t)cap * sizeof *want);
        got = realloc(got, (size_t)cap * sizeof *got);
      }
      n_vecs++;
    } else if (strcmp(word, "case") == 0) {
      int32_t i;
      sscanf(line, "case %63s %63s", fc.name, a);
      fc.logits = find_vec(a);
      CHECK(fc.logits != NULL, "%s: unknown logits %s", fc.name, a);
      if (fc.logits == NULL) break;
      n_prev = fc.logits->n;
      for (i = 0; i < n_prev; i++) {
        prev[i].id = i;
        prev[i].logit = fc.logits->v[i];
        prev[i].p = 0.0f;
      }
      n_cases++;
    } else if (strcmp(word, "hist") == 0) {
      char *save = NULL, *tok = strtok_r(line + 5, " ", &save);
      fc.n_hist = 0;
      while ((tok = strtok_r(NULL, " ", &save)) != NULL && fc.n_hist < 256)
        fc.hist[fc.n_hist++] = (int32_t)strtol(tok, NULL, 10);
    } else if (strcmp(word, "params") == 0) {
      struct ty_sampler_params *q = &fc.prm;
      int32_t i;
      ty_sampler_params_default(q);
      sscanf(line, "params %f %d %f %f %f %f %d %f %f %d", &q->temperature, &q->top_k, &q->top_p,
             &q->min_p, &q->typical_p, &q->repeat_penalty, &q->repeat_last_n, &q->presence_penalty,
             &q->frequency_penalty, &fc.n_ctx);
      q->seed = 1;
      ty_sampler_free(s);
      s = NULL;
      if (ty_sampler_new(q, fc.logits->n, fc.n_ctx, &s, &err) != TY_OK) {
        CHECK(0, "%s: %s", fc.name, err.msg);
        break;
      }
      for (i = 0; i < fc.n_hist; i++)
        ty_sampler_accept(s, fc.hist[i]);
    } else if (strcmp(word, "stage") == 0) {
      char what[160];
      int32_t ng, nw;
      sscanf(line, "stage %63s %d %31s", a, &n, flags);
      nw = parse_cands(next_line(&p), prev, n_prev, want, cap);
      CHECK(nw == n, "%s: stage %s lists %d of %d", fc.name, a, nw, n);
      memcpy(got, prev, (size_t)n_prev * sizeof *got);
      ng = run_stage(a, s, &fc.prm, got, n_prev);
      snprintf(what, sizeof what, "%s after %s", fc.name, a);
      /* the reference order is what the next stage starts from */
      memcpy(prev, want, (size_t)nw * sizeof *prev);
      n_prev = nw;
      n_ties += strstr(flags, "tie") != NULL;
      same_cands(what, got, ng, want, nw, strstr(flags, "tie") != NULL, strstr(flags, "p") != NULL);
      n_stages++;
    } else if (strcmp(word, "final") == 0) {
      const struct ty_sampler_cand *out;
      char what[160];
      int32_t i, ng = 0, nw, nout;
      sscanf(line, "final %d %31s", &n, flags);
      nw = parse_cands(next_line(&p), NULL, 0, want, cap);
      nout = ty_sampler_probs(s, fc.logits->v, &out);
      for (i = 0; i < nout; i++)
        if (out[i].p > 0.0f)
          got[ng++] = out[i];
      snprintf(what, sizeof what, "%s chain", fc.name);
      same_cands(what, got, ng, want, nw, strstr(flags, "tie") != NULL, 1);
      (void)b;
    }
  }
  printf("llama.cpp fixtures: %d cases, %d stages (%d with ties at a cut)\n", n_cases, n_stages, n_ties);
  CHECK(n_cases >= 60, "only %d fixture cases", n_cases);
  ty_sampler_free(s);
  free(prev);
  free(want);
  free(got);
  free(text);
}

/* }===== */


/* {===== the draw ===== */

static ty_sampler *make(float temp, int top_k, float top_p, int64_t seed, int32_t n_vocab) {
  struct ty_sampler_params q;
  ty_sampler *s = NULL;
  ty_err err;
  ty_sampler_params_default(&q);
  q.temperature = temp;
  q.top_k = top_k;
  q.top_p = top_p;
  q.seed = seed;
  if (ty_sampler_new(&q, n_vocab, 4096, &s, &err) != TY_OK) {
    fprintf(stderr, "ty_sampler_new: %s\n", err.msg);
    exit(1);
  }
  return s;
}


/* Same draws as the generator's own xoshiro256** and softmax in Python. */
static void test_draws_fixture(void) {
  char path[1024], *text, *p, *line;
  int n_seq = 0;
  snprintf(path, sizeof path, "%s/tests/fixtures/sampler/draws.txt", TYCHO_SOURCE_DIR);
  text = test_read_file(path, NULL);
  if (text == NULL) {
    CHECK(0, "cannot read %s", path);
    return;
  }
  p = text;
  while ((line = next_line(&p)) != NULL) {
    unsigned long long seed;
    float logits[8];
    char *ids, *save = NULL, *tok;
    ty_sampler *s;
    int i = 0, bad = 0;
    if (strncmp(line, "draws ", 6) != 0) continue;
    sscanf(line, "draws %llu %f %f %f %f %f %f %f %f", &seed, &logits[0], &logits[1], &logits[2],
           &logits[3], &logits[4], &logits[5], &logits[6], &logits[7]);
    ids = next_line(&p);
    s = make(1.0f, 0, 1.0f, (int64_t)seed, 8);
    for (tok = strtok_r(ids, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save), i++) {
      int32_t got = ty_sampler_sample(s, logits);
      if (got != atoi(tok) && bad++ == 0)
        CHECK(0, "seed %llu draw %d: id %d, the Python reference has %s", seed, i, got, tok);
    }
    CHECK(i == 300, "seed %llu: %d draws in the fixture", seed, i);
    ty_sampler_free(s);
    n_seq++;
  }
  CHECK(n_seq == 4, "%d draw sequences", n_seq);
  free(text);
}


static uint64_t lcg(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}


/* Pearson chi-square of counts against n * p over k bins. */
static double chi_square(const int64_t *count, const struct ty_sampler_cand *c, int32_t k, int64_t n) {
  double x2 = 0.0;
  int32_t i;
  for (i = 0; i < k; i++) {
    double e = (double)n * c[i].p;
    x2 += ((double)count[i] - e) * ((double)count[i] - e) / e;
  }
  return x2;
}


/* The bound: mean df plus 8 standard deviations (sqrt(2 df)). A right draw
   exceeds it with probability far below 1e-9; the seed is fixed, so the
   result never changes from run to run. */
static double chi_bound(int32_t df) {
  return df + 8.0 * sqrt(2.0 * df);
}


static int32_t index_of(const struct ty_sampler_cand *c, int32_t n, int32_t id) {
  int32_t i;
  for (i = 0; i < n; i++)
    if (c[i].id == id)
      return i;
  return -1;
}


static void test_chi_square(void) {
  enum { NV = 1000, DRAWS = 400000 };
  static float logits[NV];
  static int64_t count[NV];
  static struct ty_sampler_cand probs[NV];
  static int32_t slot[NV];
  const struct ty_sampler_cand *out;
  uint64_t x = 99;
  int32_t i, k, d;
  /* the last runs the full-vocabulary path (top_k 0) on the first 300 ids */
  struct { float temp; int top_k; float top_p; int32_t nv; } cfg[] = {
    { 1.0f, 30, 0.95f, NV }, { 0.8f, 40, 0.9f, NV }, { 1.3f, 0, 1.0f, 300 } };
  int ci;
  for (i = 0; i < NV; i++)
    logits[i] = (float)((double)lcg(&x) / 2147483648.0 * 8.0 - 4.0);
  for (ci = 0; ci < 3; ci++) {
    ty_sampler *s = make(cfg[ci].temp, cfg[ci].top_k, cfg[ci].top_p, 2024, cfg[ci].nv);
    double x2, bound, x2_bad_u, x2_shift;
    int64_t *bad_u = calloc(NV, sizeof *bad_u), *shift = calloc(NV, sizeof *shift);
    uint64_t y = 7;
    for (i = 0; i < NV; i++) {
      ty_sampler_accept(s, (int32_t)(lcg(&x) % (uint64_t)cfg[ci].nv));
      count[i] = 0;
    }
    k = ty_sampler_probs(s, logits, &out);
    memcpy(probs, out, (size_t)k * sizeof *probs);
    /* chi-square wants every bin to expect >= 5; these settings give that */
    for (i = 0; i < k; i++)
      CHECK(probs[i].p * DRAWS >= 5.0, "config %d: bin %d expects %.1f draws", ci, i, probs[i].p * DRAWS);
    for (i = 0; i < cfg[ci].nv; i++)
      slot[i] = index_of(probs, k, i);
    for (d = 0; d < DRAWS; d++) {
      int32_t j = slot[ty_sampler_sample(s, logits)];
      double u = (double)lcg(&y) / 2147483648.0;
      CHECK(j >= 0, "drew a token outside the chain's candidates");
      if (j < 0) break;
      count[j]++;
      /* negative controls, the draw broken on purpose: a skewed uniform,
         and the right uniform mapped one candidate too far */
      bad_u[ty_sampler_pick(probs, k, u * u)]++;
      shift[(ty_sampler_pick(probs, k, u) + 1) % k]++;
    }
    x2 = chi_square(count, probs, k, DRAWS);
    x2_bad_u = chi_square(bad_u, probs, k, DRAWS);
    x2_shift = chi_square(shift, probs, k, DRAWS);
    bound = chi_bound(k - 1);
    printf("chi-square (%d candidates, %d draws): %.1f, bound %.1f; broken draws: %.0f and %.0f\n", k,
           (int)DRAWS, x2, bound, x2_bad_u, x2_shift);
    CHECK(k >= 10, "config %d: only %d candidates", ci, k);
    CHECK(x2 < bound, "config %d: chi-square %.1f over bound %.1f: the draw does not follow p", ci, x2, bound);
    CHECK(x2_bad_u > bound && x2_shift > bound, "config %d: the test cannot tell a broken draw", ci);
    free(bad_u);
    free(shift);
    ty_sampler_free(s);
  }
}


static void test_seeds(void) {
  enum { NV = 500, N = 2000 };
  static float logits[NV];
  uint64_t x = 5;
  int32_t i, diff = 0, same = 1;
  ty_sampler *a, *b, *c, *r1, *r2;
  for (i = 0; i < NV; i++)
    logits[i] = (float)((double)lcg(&x) / 2147483648.0 * 6.0);
  a = make(1.0f, 0, 1.0f, 7, NV);
  b = make(1.0f, 0, 1.0f, 7, NV);
  c = make(1.0f, 0, 1.0f, 8, NV);
  for (i = 0; i < N; i++) {
    int32_t ta = ty_sampler_sample(a, logits), tb = ty_sampler_sample(b, logits);
    int32_t tc = ty_sampler_sample(c, logits);
    same &= ta == tb;
    diff += ta != tc;
  }
  CHECK(same, "seed 7 twice gave different sequences");
  CHECK(diff > N / 2, "seeds 7 and 8 agree on %d of %d draws", N - diff, N);
  /* reseed restarts the sequence; reset keeps the random state */
  ty_sampler_reseed(a, 7);
  ty_sampler_reseed(b, 7);
  ty_sampler_reset(b);
  for (i = 0; i < 100; i++)
    same &= ty_sampler_sample(a, logits) == ty_sampler_sample(b, logits);
  CHECK(same, "reseed did not restart the sequence");
  /* seed -1: a fresh seed each time, reported so the run can be repeated */
  r1 = make(1.0f, 0, 1.0f, -1, NV);
  r2 = make(1.0f, 0, 1.0f, -1, NV);
  CHECK(ty_sampler_seed(r1) != ty_sampler_seed(r2), "two random seeds are equal");
  CHECK(ty_sampler_seed(r1) <= (uint64_t)INT64_MAX, "a random seed does not fit a seed parameter");
  ty_sampler_reseed(a, (int64_t)ty_sampler_seed(r1));
  for (i = 0; i < 100; i++)
    same &= ty_sampler_sample(a, logits) == ty_sampler_sample(r1, logits);
  CHECK(same, "the reported random seed does not repeat the run");
  ty_sampler_free(a);
  ty_sampler_free(b);
  ty_sampler_free(c);
  ty_sampler_free(r1);
  ty_sampler_free(r2);
}


/* Greedy: the highest logit, ties to the lowest id, penalties included. */
static void test_greedy(void) {
  float l[6] = { 1.0f, 3.0f, NAN, 3.0f, -INFINITY, 2.9f };
  ty_sampler *s = make(0.0f, 40, 0.9f, 1, 6);
  int i;
  for (i = 0; i < 10; i++)
    CHECK(ty_sampler_sample(s, l) == 1, "greedy picked %d, want 1", ty_sampler_sample(s, l));
  ty_sampler_accept(s, 1);        /* 3 / 1.1 = 2.727 < 3: id 3 wins */
  CHECK(ty_sampler_sample(s, l) == 3, "greedy after a penalty picked %d, want 3", ty_sampler_sample(s, l));
  ty_sampler_accept(s, 3);        /* both penalized: 2.9 wins */
  CHECK(ty_sampler_sample(s, l) == 5, "greedy picked %d, want 5", ty_sampler_sample(s, l));
  ty_sampler_reset(s);
  CHECK(ty_sampler_sample(s, l) == 1, "greedy after reset picked %d, want 1", ty_sampler_sample(s, l));
  ty_sampler_free(s);
}

/* }===== */


static void test_params(void) {
  static const struct { const char *field; float v; const char *msg; } bad[] = {
    { "top_p", 1.5f, "top_p must be in [0, 1], got 1.5" },
    { "min_p", -0.1f, "min_p must be in [0, 1], got -0.1" },
    { "typical_p", NAN, "typical_p must be in [0, 1], got nan" },
    { "temperature", INFINITY, "temperature must be a finite number (<= 0 for greedy), got inf" },
    { "repeat_penalty", 0.0f, "repeat_penalty must be a finite number > 0 (1 disables it), got 0" },
    { "presence_penalty", NAN, "presence_penalty must be a finite number, got nan" },
    { "frequency_penalty", -INFINITY, "frequency_penalty must be a finite number, got -inf" },
  };
  struct ty_sampler_params q;
  ty_sampler *s;
  ty_err err;
  size_t i;
  ty_sampler_params_default(&q);
  CHECK(q.temperature == 0.8f && q.top_k == 40 && q.top_p == 0.9f && q.min_p == 0.0f &&
        q.typical_p == 1.0f && q.repeat_penalty == 1.1f && q.repeat_last_n == 64 &&
        q.presence_penalty == 0.0f && q.frequency_penalty == 0.0f && q.seed == -1,
        "defaults differ from Ollama's api.DefaultOptions");
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ty_sampler_params_default(&q);
    if (strcmp(bad[i].field, "top_p") == 0) q.top_p = bad[i].v;
    if (strcmp(bad[i].field, "min_p") == 0) q.min_p = bad[i].v;
    if (strcmp(bad[i].field, "typical_p") == 0) q.typical_p = bad[i].v;
    if (strcmp(bad[i].field, "temperature") == 0) q.temperature = bad[i].v;
    if (strcmp(bad[i].field, "repeat_penalty") == 0) q.repeat_penalty = bad[i].v;
    if (strcmp(bad[i].field, "presence_penalty") == 0) q.presence_penalty = bad[i].v;
    if (strcmp(bad[i].field, "frequency_penalty") == 0) q.frequency_penalty = bad[i].v;
    s = (ty_sampler *)&q;
    CHECK(ty_sampler_new(&q, 100, 100, &s, &err) == TY_ERR_ARG && s == NULL, "%s accepted", bad[i].field);
    CHECK(strcmp(err.msg, bad[i].msg) == 0, "message \"%s\", want \"%s\"", err.msg, bad[i].msg);
  }
  ty_sampler_params_default(&q);
  q.repeat_last_n = -2;
  CHECK(ty_sampler_new(&q, 100, 100, &s, &err) == TY_ERR_ARG &&
        strcmp(err.msg, "repeat_last_n must be >= -1 (0 disables, -1 means num_ctx), got -2") == 0,
        "repeat_last_n: %s", err.msg);
  ty_sampler_params_default(&q);
  q.seed = -3;
  CHECK(ty_sampler_new(&q, 100, 100, &s, &err) == TY_ERR_ARG &&
        strcmp(err.msg, "seed must be -1 (random) or >= 0, got -3") == 0, "seed: %s", err.msg);
  ty_sampler_params_default(&q);
  CHECK(ty_sampler_new(&q, 0, 100, &s, &err) == TY_ERR_ARG &&
        strcmp(err.msg, "sampler: n_vocab must be >= 1, got 0") == 0, "n_vocab: %s", err.msg);
  CHECK(ty_sampler_new(&q, 10, -1, &s, &err) == TY_ERR_ARG, "num_ctx -1 accepted");
  /* edges that must work: a one-token vocabulary, a huge window */
  q.repeat_last_n = 2000000000;
  CHECK(ty_sampler_new(&q, 1, 0, &s, &err) == TY_OK, "%s", err.msg);
  if (s != NULL) {
    float l = -5.0f;
    for (i = 0; i < 1000; i++)
      ty_sampler_accept(s, 0);
    ty_sampler_accept(s, -1);
    ty_sampler_accept(s, 1);
    CHECK(ty_sampler_sample(s, &l) == 0, "a one-token vocabulary");
  }
  ty_sampler_free(s);
  ty_sampler_free(NULL);
}


static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* Time per sample with the defaults on a Gaussian-ish row of logits. */
static void bench(int32_t n_vocab) {
  float *l = malloc((size_t)n_vocab * sizeof *l);
  ty_sampler *s = make(0.8f, 40, 0.9f, 3, n_vocab);
  uint64_t x = 11;
  int32_t i, it = 0;
  volatile int32_t sink = 0;
  double t0, dt;
  for (i = 0; i < n_vocab; i++)
    l[i] = (float)(((double)lcg(&x) + lcg(&x) + lcg(&x) - 3 * 1073741824.0) / 1073741824.0 * 3.0);
  for (i = 0; i < 64; i++)
    ty_sampler_accept(s, (int32_t)(lcg(&x) % (uint64_t)n_vocab));
  t0 = now_s();
  do {
    sink += ty_sampler_sample(s, l);
    it++;
    dt = now_s() - t0;
  } while (dt < 0.3 && it < 100000);
  printf("sample, defaults, n_vocab %d: %.1f us\n", n_vocab, dt / it * 1e6);
  (void)sink;
  ty_sampler_free(s);
  free(l);
}


int main(void) {
  int i;
  test_params();
  test_fixtures();
  test_draws_fixture();
  test_greedy();
  test_seeds();
  test_chi_square();
  bench(49152);
  bench(262144);
  for (i = 0; i < n_vecs; i++)
    free(vecs[i].v);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
