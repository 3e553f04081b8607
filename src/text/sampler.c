/*
 * sampler.c: the token sampler. Each stage follows llama.cpp's sampler of the
 * same name (src/llama-sampling.cpp), in the order common_sampler chains them
 * for Ollama's llama runner; exp, log and the draw are tycho's own, so a seed
 * picks the same tokens on every machine.
 */
#include "text/sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

/* A fused multiply-add rounds once where a*b+c rounds twice, so letting the
   compiler contract (gnu11 does by default when FMA is enabled, e.g. by
   -march=native) would make probabilities, and so draws, differ by machine. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif


struct ty_sampler {
  struct ty_sampler_params prm;
  int32_t n_vocab;
  int32_t window;                 /* tokens the penalties look back over; 0: off */
  int32_t *ring;                  /* the last min(window, accepted) ids, oldest at head */
  int32_t ring_cap, ring_len, ring_head;
  int32_t *count;                 /* (n_vocab) occurrences in the ring; NULL: penalties off */
  int32_t *seen;                  /* the ids with count > 0, in no order */
  int32_t *seen_at;               /* (n_vocab) index of an id in seen, or -1 */
  int32_t n_seen;
  struct ty_sampler_cand *cand;   /* (n_vocab) the chain's working array */
  uint64_t seed;
  uint64_t rng[4];                /* xoshiro256** state */
};


/* {===== deterministic exp and log ===== */

/* exp(x) in double from +, -, *, / and ldexp only, so the bits are the same
   on every IEEE machine (libm's exp may differ by an ulp between libraries).
   Range reduction x = k ln2 + r, |r| <= ln2/2, then Taylor to r^13, whose
   truncation error (< 1e-17) is below double rounding. */
static double det_exp(double x) {
  static const double ln2_hi = 6.93147180369123816490e-01;  /* ln2's high bits, k*ln2_hi exact */
  static const double ln2_lo = 1.90821492927058770002e-10;
  static const double inv_fact[14] = {  /* 1/i!, the nearest doubles */
    1.0, 1.0, 0.5, 1.66666666666666666667e-01, 4.16666666666666666667e-02,
    8.33333333333333333333e-03, 1.38888888888888888889e-03, 1.98412698412698412698e-04,
    2.48015873015873015873e-05, 2.75573192239858906526e-06, 2.75573192239858906526e-07,
    2.50521083854417187751e-08, 2.08767569878680989792e-09, 1.60590438368216145994e-10 };
  double k, r, p;
  int i;
  if (x != x) return x;
  if (x < -746.0) return 0.0;
  if (x > 709.0) return INFINITY;
  k = floor(x * 1.44269504088896338700 + 0.5);
  r = (x - k * ln2_hi) - k * ln2_lo;
  p = inv_fact[13];
  for (i = 12; i >= 0; i--)       /* Horner on sum r^i / i! */
    p = p * r + inv_fact[i];
  return ldexp(p, (int)k);
}


/* log(x) for x > 0, deterministic like det_exp: x = m 2^e with m in
   [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) by its series. */
static double det_log(double x) {
  static const double ln2 = 6.93147180559945286227e-01;
  double m, s, s2, term, sum;
  int e, i;
  if (!(x > 0.0)) return x == 0.0 ? -INFINITY : NAN;
  if (isinf(x)) return x;
  m = frexp(x, &e);               /* m in [0.5, 1) */
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  s = (m - 1.0) / (m + 1.0);      /* |s| < 0.1716 */
  s2 = s * s;
  term = s;
  sum = 0.0;
  for (i = 1; i <= 41; i += 2) {  /* s^41/41 < 1e-33: far below an ulp */
    sum += term / (double)i;
    term *= s2;
  }
  return 2.0 * sum + (double)e * ln2;
}

/* }===== */


/* {===== random numbers: splitmix64 seeding xoshiro256** ===== */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}


static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}


static uint64_t rng_next(uint64_t *s) {
  uint64_t r = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}


/* A uniform double in [0, 1) from the top 53 bits: exact, so the same on
   every machine. */
static double rng_uniform(uint64_t *s) {
  return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}


/* A seed for seed = -1: the kernel's entropy, else the clock mixed with an
   address. Kept below 2^63 so it can be passed back as a seed. */
static uint64_t random_seed(const void *salt) {
  uint64_t v = 0;
  struct timespec ts;
#if defined(__linux__)
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
    return v & INT64_MAX;
#endif
  clock_gettime(CLOCK_REALTIME, &ts);
  v = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)salt;
  return splitmix64(&v) & INT64_MAX;
}


void ty_sampler_reseed(ty_sampler *s, int64_t seed) {
  uint64_t x;
  int i;
  s->seed = seed < 0 ? random_seed(s) : (uint64_t)seed;
  x = s->seed;
  for (i = 0; i < 4; i++)
    s->rng[i] = splitmix64(&x);
}


uint64_t ty_sampler_seed(const ty_sampler *s) {
  return s->seed;
}

/* }===== */


/* {===== ordering helpers ===== */

/* 1 when a ranks before b: the higher logit, ties to the lower id. */
static inline int better(const struct ty_sampler_cand *a, const struct ty_sampler_cand *b) {
  return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}


static int cand_cmp(const void *pa, const void *pb) {
  const struct ty_sampler_cand *a = pa, *b = pb;
  if (better(a, b)) return -1;
  if (better(b, a)) return 1;
  return 0;
}


/* NaN compares false both ways and would break every ordering: make it -inf. */
static void sanitize(struct ty_sampler_cand *c, int32_t n) {
  int32_t i;
  for (i = 0; i < n; i++)
    if (c[i].logit != c[i].logit)
      c[i].logit = -INFINITY;
}


static int is_sorted(const struct ty_sampler_cand *c, int32_t n) {
  int32_t i;
  for (i = 1; i < n; i++)
    if (better(&c[i], &c[i - 1]))
      return 0;
  return 1;
}


static void sort_all(struct ty_sampler_cand *c, int32_t n) {
  if (!is_sorted(c, n))
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
}


static void swap_cand(struct ty_sampler_cand *a, struct ty_sampler_cand *b) {
  struct ty_sampler_cand t = *a;
  *a = *b;
  *b = t;
}


/* Moves the best m of c[0..n) to the front, sorted (quickselect, then a sort
   of the m): O(n + m log m) instead of sorting all n. */
static void select_top(struct ty_sampler_cand *c, int32_t n, int32_t m) {
  int32_t lo = 0, hi = n - 1, target = m - 1;
  if (m >= n) {
    sort_all(c, n);
    return;
  }
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
    struct ty_sampler_cand piv;
    /* median of three, so sorted and reversed inputs stay linear */
    if (better(&c[mid], &c[lo])) swap_cand(&c[mid], &c[lo]);
    if (better(&c[hi], &c[lo])) swap_cand(&c[hi], &c[lo]);
    if (better(&c[hi], &c[mid])) swap_cand(&c[hi], &c[mid]);
    piv = c[mid];
    while (i <= j) {
      while (better(&c[i], &piv)) i++;
      while (better(&piv, &c[j])) j--;
      if (i <= j) {
        swap_cand(&c[i], &c[j]);
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  qsort(c, (size_t)m, sizeof *c, cand_cmp);
}


/* Index of the best candidate (the highest logit, ties to the lowest id). */
static int32_t argbest(const struct ty_sampler_cand *c, int32_t n) {
  int32_t i, b = 0;
  for (i = 1; i < n; i++)
    if (better(&c[i], &c[b]))
      b = i;
  return b;
}

/* }===== */


/* {===== the stages ===== */

/* Softmax with det_exp into p; returns the sum of the unnormalized weights
   and sets *max. An all -inf row is uniform; +inf logits share all the mass. */
static double softmax_impl(struct ty_sampler_cand *c, int32_t n, float *max_out) {
  float mx = c[argbest(c, n)].logit;
  double sum = 0.0;
  int32_t i;
  *max_out = mx;
  if (isinf(mx)) {
    for (i = 0; i < n; i++)
      c[i].p = (mx < 0 || c[i].logit == mx) ? 1.0f : 0.0f;
  } else {
    for (i = 0; i < n; i++)
      c[i].p = (float)det_exp((double)c[i].logit - (double)mx);
  }
  for (i = 0; i < n; i++)
    sum += c[i].p;
  for (i = 0; i < n; i++)
    c[i].p = (float)((double)c[i].p / sum);
  return sum;
}


void ty_sampler_softmax(struct ty_sampler_cand *c, int32_t n) {
  float mx;
  if (n <= 0) return;
  sanitize(c, n);
  softmax_impl(c, n, &mx);
}


static float penalize(const ty_sampler *s, float x, int32_t count) {
  float t;
  if (x <= 0.0f)
    x *= s->prm.repeat_penalty;
  else
    x /= s->prm.repeat_penalty;
  t = (float)count * s->prm.frequency_penalty + s->prm.presence_penalty;
  x -= t;
  return x == x ? x : -INFINITY;  /* inf - inf, from extreme penalties */
}


int32_t ty_sampler_penalties(const ty_sampler *s, struct ty_sampler_cand *c, int32_t n) {
  int32_t i;
  if (s->count == NULL || s->n_seen == 0)
    return n;
  for (i = 0; i < n; i++) {
    int32_t id = c[i].id;
    if (id >= 0 && id < s->n_vocab && s->count[id] > 0)
      c[i].logit = penalize(s, c[i].logit, s->count[id]);
  }
  return n;
}


int32_t ty_sampler_top_k(struct ty_sampler_cand *c, int32_t n, int32_t k) {
  if (k <= 0 || k >= n)
    return n;
  sanitize(c, n);
  select_top(c, n, k);
  return k;
}


/* Locally typical sampling (Meister et al.), as llama.cpp does it: keep the
   tokens whose surprise -log p is closest to the entropy until their mass
   exceeds p. Sorted by p, surprise grows along the array, so the distance
   to the entropy falls then rises: the kept tokens are one contiguous run
   around the crossing, found by merging outward from it (no second sort). */
int32_t ty_sampler_typical(struct ty_sampler_cand *c, int32_t n, float p) {
  double sum, log_sum, ent = 0.0, cum = 0.0;
  float mx;
  int32_t i, lo, hi, r;
  if (p >= 1.0f)
    return n;
  if (n == 1) {
    c[0].p = 1.0f;
    return 1;
  }
  sanitize(c, n);
  sort_all(c, n);
  sum = softmax_impl(c, n, &mx);
  if (isinf(mx))
    return n;                     /* no finite surprise to rank by */
  log_sum = det_log(sum);
  /* -log p_i = log_sum - (l_i - max); terms with p = 0 add 0 (0 log 0 = 0) */
  for (i = 0; i < n; i++)
    if (c[i].p > 0.0f)
      ent += (double)c[i].p * (log_sum - ((double)c[i].logit - (double)mx));
  for (r = 0; r < n; r++)
    if (log_sum - ((double)c[r].logit - (double)mx) >= ent)
      break;
  lo = r - 1;                     /* next candidate on the likely side */
  hi = r;                         /* next candidate on the unlikely side */
  while (lo >= 0 || hi < n) {
    int take_lo;
    if (lo < 0) take_lo = 0;
    else if (hi >= n) take_lo = 1;
    else {
      double dl = fabs(log_sum - ((double)c[lo].logit - (double)mx) - ent);
      double dh = fabs(log_sum - ((double)c[hi].logit - (double)mx) - ent);
      take_lo = dl <= dh;         /* ties to the more likely token */
    }
    cum += take_lo ? c[lo--].p : c[hi++].p;
    if (cum > (double)p)
      break;
  }
  if (lo + 1 > 0)
    memmove(c, c + lo + 1, (size_t)(hi - lo - 1) * sizeof *c);
  return hi - lo - 1;
}


int32_t ty_sampler_top_p(struct ty_sampler_cand *c, int32_t n, float p) {
  double cum = 0.0;
  float mx;
  int32_t i, m = n;
  if (p >= 1.0f)
    return n;
  sanitize(c, n);
  softmax_impl(c, n, &mx);        /* over the input order, as llama.cpp sums */
  /* most of the mass sits in a few tokens: sort 256 first, all only if needed */
  if (n > 1024 && !is_sorted(c, n)) {
    m = 256;
    select_top(c, n, m);
  } else {
    sort_all(c, n);
  }
  for (i = 0; i < n; i++) {
    if (i == m) {
      sort_all(c, n);             /* the best m stay in place */
      m = n;
    }
    cum += c[i].p;
    if (cum >= (double)p)
      return i + 1;
  }
  return n;
}


int32_t ty_sampler_min_p(struct ty_sampler_cand *c, int32_t n, float p) {
  double thr;
  int32_t i, k = 0, b;
  if (p <= 0.0f)
    return n;
  sanitize(c, n);
  b = argbest(c, n);
  /* p_i >= p * p_max  <=>  l_i >= l_max + log p */
  thr = (double)c[b].logit + det_log((double)p);
  for (i = 0; i < n; i++)
    if (i == b || (double)c[i].logit >= thr)
      c[k++] = c[i];
  return k;
}


int32_t ty_sampler_temp(struct ty_sampler_cand *c, int32_t n, float t) {
  int32_t i, b;
  sanitize(c, n);
  if (t <= 0.0f) {
    b = argbest(c, n);
    for (i = 0; i < n; i++)
      if (i != b)
        c[i].logit = -INFINITY;
    return n;
  }
  for (i = 0; i < n; i++)
    c[i].logit /= t;
  return n;
}


int32_t ty_sampler_pick(const struct ty_sampler_cand *c, int32_t n, double u) {
  double acc = 0.0;
  int32_t i, last = 0;
  for (i = 0; i < n; i++) {
    if (c[i].p > 0.0f)
      last = i;
    acc += c[i].p;
    if (u < acc)
      return i;
  }
  return last;
}

/* }===== */


/* {===== the chain ===== */

static inline int penalized(const ty_sampler *s, int32_t id) {
  return s->count != NULL && s->count[id] > 0;
}


/* Min-heap on "worse": the root is the candidate to evict. */
static void heap_down(struct ty_sampler_cand *h, int32_t n, int32_t i) {
  for (;;) {
    int32_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && better(&h[w], &h[l])) w = l;
    if (r < n && better(&h[w], &h[r])) w = r;
    if (w == i) return;
    swap_cand(&h[i], &h[w]);
    i = w;
  }
}


static void heap_up(struct ty_sampler_cand *h, int32_t i) {
  while (i > 0) {
    int32_t up = (i - 1) / 2;
    if (!better(&h[up], &h[i])) return;
    swap_cand(&h[up], &h[i]);
    i = up;
  }
}


/* 1 if any of x[0..n) > t; with n a constant it compiles to vector compares. */
static inline int any_above(const float *x, int32_t n, float t) {
  int32_t i, any = 0;
  for (i = 0; i < n; i++)
    any |= x[i] > t;
  return any;
}


/* Offers one candidate to a heap of capacity k holding *hn. */
static void heap_offer(struct ty_sampler_cand *h, int32_t *hn, int32_t k, int32_t id, float x) {
  struct ty_sampler_cand c = { id, x, 0.0f };
  if (*hn < k) {
    h[*hn] = c;
    heap_up(h, (*hn)++);
  } else if (better(&c, &h[0])) {
    h[0] = c;
    heap_down(h, k, 0);
  }
}


/* top_k straight from the logits with penalties folded in: one pass that
   mostly compares 16 logits at a time against the k-th best so far, then the
   few penalized ids; the k survivors land sorted in s->cand. */
static int32_t topk_from_logits(ty_sampler *s, const float *logits, int32_t k) {
  struct ty_sampler_cand *h = s->cand;
  int32_t n = s->n_vocab, hn = 0, i = 0, j;
  float thr;
  for (; i < n && hn < k; i++)
    if (!penalized(s, i))
      heap_offer(h, &hn, k, i, logits[i] == logits[i] ? logits[i] : -INFINITY);
  thr = hn == k ? h[0].logit : -INFINITY;
  /* a later id never wins a tie, so only strictly greater logits get in;
     blocks of 64 keep the common case (nothing beats the k-th best) a
     vectorizable compare, so the pass runs at memory speed */
  for (; i + 64 <= n; i += 64) {
    int32_t b;
    if (!any_above(logits + i, 64, thr))
      continue;
    for (b = i; b < i + 64; b += 8) {
      if (!any_above(logits + b, 8, thr))
        continue;
      for (j = b; j < b + 8; j++)
        if (logits[j] > thr && !penalized(s, j)) {
          heap_offer(h, &hn, k, j, logits[j]);
          thr = h[0].logit;
        }
    }
  }
  for (; i < n; i++)
    if (logits[i] > thr && !penalized(s, i)) {
      heap_offer(h, &hn, k, i, logits[i]);
      thr = h[0].logit;
    }
  for (j = 0; j < s->n_seen; j++) {
    int32_t id = s->seen[j];
    float x = logits[id] == logits[id] ? logits[id] : -INFINITY;
    heap_offer(h, &hn, k, id, penalize(s, x, s->count[id]));
  }
  for (j = hn - 1; j > 0; j--) {  /* heap sort: the worst goes to the back */
    swap_cand(&h[0], &h[j]);
    heap_down(h, j, 0);
  }
  return hn;
}


/* The greedy answer without building candidates: the best penalized logit. */
static struct ty_sampler_cand greedy_from_logits(const ty_sampler *s, const float *logits) {
  struct ty_sampler_cand best = { -1, -INFINITY, 0.0f }, c = { 0, 0.0f, 0.0f };
  int32_t i;
  for (i = 0; i < s->n_vocab; i++) {
    if (penalized(s, i)) continue;
    c.id = i;
    c.logit = logits[i] == logits[i] ? logits[i] : -INFINITY;
    if (best.id < 0 || better(&c, &best))
      best = c;
  }
  for (i = 0; i < s->n_seen; i++) {
    c.id = s->seen[i];
    c.logit = penalize(s, logits[c.id] == logits[c.id] ? logits[c.id] : -INFINITY, s->count[c.id]);
    if (best.id < 0 || better(&c, &best))
      best = c;
  }
  best.p = 1.0f;
  return best;
}


/* Runs the chain into s->cand and returns the number of candidates left,
   with p the draw's distribution; greedy leaves one with p = 1. */
static int32_t run_chain(ty_sampler *s, const float *logits) {
  const struct ty_sampler_params *q = &s->prm;
  struct ty_sampler_cand *c = s->cand;
  int32_t n, i;
  if (q->temperature <= 0.0f && q->typical_p >= 1.0f) {
    /* top_k, top_p and min_p always keep the best token, so greedy is the
       best penalized logit; only typical can drop it */
    c[0] = greedy_from_logits(s, logits);
    return 1;
  }
  if (q->top_k > 0 && q->top_k < s->n_vocab) {
    n = topk_from_logits(s, logits, q->top_k);
  } else {
    n = s->n_vocab;
    for (i = 0; i < n; i++) {
      c[i].id = i;
      c[i].logit = logits[i] == logits[i] ? logits[i] : -INFINITY;
      c[i].p = 0.0f;
    }
    for (i = 0; i < s->n_seen; i++)
      c[s->seen[i]].logit = penalize(s, c[s->seen[i]].logit, s->count[s->seen[i]]);
  }
  n = ty_sampler_typical(c, n, q->typical_p);
  n = ty_sampler_top_p(c, n, q->top_p);
  n = ty_sampler_min_p(c, n, q->min_p);
  if (q->temperature <= 0.0f) {
    c[0] = c[argbest(c, n)];
    c[0].p = 1.0f;
    return 1;
  }
  n = ty_sampler_temp(c, n, q->temperature);
  ty_sampler_softmax(c, n);
  return n;
}


int32_t ty_sampler_probs(ty_sampler *s, const float *logits, const struct ty_sampler_cand **out) {
  int32_t n = run_chain(s, logits);
  *out = s->cand;
  return n;
}


int32_t ty_sampler_sample(ty_sampler *s, const float *logits) {
  int32_t n = run_chain(s, logits);
  if (n == 1)
    return s->cand[0].id;
  return s->cand[ty_sampler_pick(s->cand, n, rng_uniform(s->rng))].id;
}

/* }===== */


/* {===== history ===== */

static void seen_add(ty_sampler *s, int32_t id) {
  if (s->count[id]++ == 0) {
    s->seen_at[id] = s->n_seen;
    s->seen[s->n_seen++] = id;
  }
}


static void seen_drop(ty_sampler *s, int32_t id) {
  if (--s->count[id] == 0) {
    int32_t at = s->seen_at[id], last = s->seen[--s->n_seen];
    s->seen[at] = last;
    s->seen_at[last] = at;
    s->seen_at[id] = -1;
  }
}


/* Doubles the ring up to the window, oldest first again; 0 if out of
   memory (the ring then acts as a shorter window). */
static int ring_grow(ty_sampler *s) {
  int64_t cap = (int64_t)s->ring_cap * 2;
  int32_t *r, i;
  if (cap > s->window) cap = s->window;
  r = malloc((size_t)cap * sizeof *r);
  if (r == NULL)
    return 0;
  for (i = 0; i < s->ring_len; i++)
    r[i] = s->ring[(s->ring_head + i) % s->ring_cap];
  free(s->ring);
  s->ring = r;
  s->ring_cap = (int32_t)cap;
  s->ring_head = 0;
  return 1;
}


void ty_sampler_accept(ty_sampler *s, int32_t id) {
  if (s->count == NULL || id < 0 || id >= s->n_vocab)
    return;
  if (s->ring_len == s->ring_cap && (s->ring_cap == s->window || !ring_grow(s))) {
    seen_drop(s, s->ring[s->ring_head]);
    s->ring[s->ring_head] = id;
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
  } else {
    s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = id;
    s->ring_len++;
  }
  seen_add(s, id);
}


void ty_sampler_reset(ty_sampler *s) {
  int32_t i;
  if (s->count == NULL)
    return;
  for (i = 0; i < s->n_seen; i++) {
    s->count[s->seen[i]] = 0;
    s->seen_at[s->seen[i]] = -1;
  }
  s->n_seen = 0;
  s->ring_len = 0;
  s->ring_head = 0;
}

/* }===== */


void ty_sampler_params_default(struct ty_sampler_params *p) {
  p->temperature = 0.8f;
  p->top_k = 40;
  p->top_p = 0.9f;
  p->min_p = 0.0f;
  p->typical_p = 1.0f;
  p->repeat_penalty = 1.1f;
  p->repeat_last_n = 64;
  p->presence_penalty = 0.0f;
  p->frequency_penalty = 0.0f;
  p->seed = -1;
}


/* One line per bad parameter, naming it and its allowed range. */
static ty_status check_params(const struct ty_sampler_params *p, int32_t n_vocab, int32_t n_ctx,
                              ty_err *err);


ty_status ty_sampler_params_check(const struct ty_sampler_params *p, ty_err *err) {
  return check_params(p, 1, 0, err);
}


static ty_status check_params(const struct ty_sampler_params *p, int32_t n_vocab, int32_t n_ctx,
                              ty_err *err) {
  if (!isfinite(p->temperature))
    return ty_err_set(err, TY_ERR_ARG, "temperature must be a finite number (<= 0 for greedy), got %g",
                      (double)p->temperature);
  if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
    return ty_err_set(err, TY_ERR_ARG, "top_p must be in [0, 1], got %g", (double)p->top_p);
  if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
    return ty_err_set(err, TY_ERR_ARG, "min_p must be in [0, 1], got %g", (double)p->min_p);
  if (!(p->typical_p >= 0.0f && p->typical_p <= 1.0f))
    return ty_err_set(err, TY_ERR_ARG, "typical_p must be in [0, 1], got %g", (double)p->typical_p);
  if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
    return ty_err_set(err, TY_ERR_ARG, "repeat_penalty must be a finite number > 0 (1 disables it), got %g",
                      (double)p->repeat_penalty);
  if (p->repeat_last_n < -1)
    return ty_err_set(err, TY_ERR_ARG, "repeat_last_n must be >= -1 (0 disables, -1 means num_ctx), got %d",
                      p->repeat_last_n);
  if (!isfinite(p->presence_penalty))
    return ty_err_set(err, TY_ERR_ARG, "presence_penalty must be a finite number, got %g",
                      (double)p->presence_penalty);
  if (!isfinite(p->frequency_penalty))
    return ty_err_set(err, TY_ERR_ARG, "frequency_penalty must be a finite number, got %g",
                      (double)p->frequency_penalty);
  if (p->seed < -1)
    return ty_err_set(err, TY_ERR_ARG, "seed must be -1 (random) or >= 0, got %lld", (long long)p->seed);
  if (n_vocab < 1)
    return ty_err_set(err, TY_ERR_ARG, "sampler: n_vocab must be >= 1, got %d", n_vocab);
  if (n_ctx < 0)
    return ty_err_set(err, TY_ERR_ARG, "sampler: num_ctx must be >= 0, got %d", n_ctx);
  return TY_OK;
}


ty_status ty_sampler_new(const struct ty_sampler_params *p, int32_t n_vocab, int32_t n_ctx,
                         ty_sampler **out, ty_err *err) {
  ty_sampler *s;
  ty_status st;
  int32_t i;
  *out = NULL;
  if ((st = check_params(p, n_vocab, n_ctx, err)) != TY_OK)
    return st;
  if ((uint64_t)n_vocab * sizeof *s->cand > SIZE_MAX)
    return ty_err_set(err, TY_ERR_NOMEM, "sampler: a vocabulary of %d tokens does not fit in memory", n_vocab);
  s = calloc(1, sizeof *s);
  if (s == NULL)
    goto nomem;
  s->prm = *p;
  s->n_vocab = n_vocab;
  s->window = p->repeat_last_n == -1 ? n_ctx : p->repeat_last_n;
  s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
  if (s->cand == NULL)
    goto nomem;
  /* llama.cpp skips penalties when they cannot change a logit; so do we,
     and then keep no history at all */
  if (s->window > 0 && !(p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
                         p->frequency_penalty == 0.0f)) {
    s->ring_cap = s->window < 256 ? s->window : 256;
    s->ring = malloc((size_t)s->ring_cap * sizeof *s->ring);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->seen = malloc((size_t)n_vocab * sizeof *s->seen);
    s->seen_at = malloc((size_t)n_vocab * sizeof *s->seen_at);
    if (s->ring == NULL || s->count == NULL || s->seen == NULL || s->seen_at == NULL)
      goto nomem;
    for (i = 0; i < n_vocab; i++)
      s->seen_at[i] = -1;
  }
  ty_sampler_reseed(s, p->seed);
  *out = s;
  return TY_OK;
nomem:
  ty_sampler_free(s);
  return ty_err_set(err, TY_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d tokens", n_vocab);
}


void ty_sampler_free(ty_sampler *s) {
  if (s == NULL)
    return;
  free(s->ring);
  free(s->count);
  free(s->seen);
  free(s->seen_at);
  free(s->cand);
  free(s);
}
