/*
 * threadpool.c: workers wait for a new job generation, run their share,
 * and count down; the caller runs share 0 and spins until the count is 0.
 * A worker with ranges to warm (ty_pool_warm) reads them while it waits.
 */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spins before a worker sleeps: about 100 us on a current core, long enough
   to bridge the gap between the jobs of one forward pass. */
#define SPIN_LIMIT 20000

/* A worker warms at most WARM_BUDGET bytes after a job, WARM_STEP at a time
   between looks at the job counter. A SmolLM2 decode step's gaps are a few
   thousand cycles each (the caller's norm, quantization, rope): budgets of
   64 KiB to 1 MiB gave the same times. */
#define WARM_BUDGET ((size_t)256 << 10)
#define WARM_STEP 1024

/* What is left of a thread's share: [lo, hi) as hi << 32 | lo, on a cache
   line of its own, which only its owner writes until the others steal. */
struct share { _Alignas(64) atomic_ullong span; };

struct ty_pool {
  int n;
  struct share *shares;     /* n of them (ty_pool_deal) */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_uint gen;          /* bumped once per job */
  atomic_int pending;       /* workers still running the current job */
  atomic_int stop;
  atomic_int sleepers;      /* workers waiting on cv, or about to: changed under mu */
  ty_pool_fn fn;
  void *arg;
  struct slot *slots;       /* n of them: the ranges each worker warms next */
};

/* Written by the caller before a job (fresh), read by its worker when the
   job starts, cleared by the caller once the job is done. */
struct slot { _Alignas(64) struct ty_pool_warm w; bool fresh; };

struct worker { ty_pool *p; int ith; };

/* A worker's own copy of its ranges: range i, byte at, budget left. */
struct warming { struct ty_pool_warm w; int i; size_t at, left; };


/* Asks for the next WARM_STEP bytes into L2 (prefetch never faults); false
   when nothing is left to ask for. */
static bool warm_step(struct warming *m) {
  while (m->i < m->w.n && m->left > 0) {
    const size_t len = m->w.len[m->i];
    if (m->at >= len) {
      m->i++;
      m->at = 0;
      continue;
    }
    for (size_t o = 0; o < WARM_STEP && m->at + o < len; o += 64)
      __builtin_prefetch(m->w.ptr[m->i] + m->at + o, 0, 2);
    m->at += WARM_STEP;
    m->left = m->left > WARM_STEP ? m->left - WARM_STEP : 0;
    return true;
  }
  return false;
}


static void *worker_main(void *ud) {
  struct worker w = *(struct worker *)ud;
  ty_pool *p = w.p;
  unsigned seen = 0;
  struct warming warm = { .i = 0 };
  free(ud);
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
      if (warm_step(&warm)) continue;
      if (++spins < SPIN_LIMIT) { cpu_relax(); continue; }
      /* sleepers up, then gen read, both sequentially consistent: against
         wake's gen up, then sleepers read, one of the two sees the other */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while (atomic_load(&p->gen) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
      spins = 0;
    }
    seen = g;
    if (atomic_load(&p->stop))
      return NULL;
    if (p->slots[w.ith].fresh)
      warm = (struct warming){ p->slots[w.ith].w, 0, 0, WARM_BUDGET };
    p->fn(p->arg, w.ith, p->n);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
  }
}


ty_pool *ty_pool_new(int n, ty_err *err) {
  ty_pool *p;
  if (n < 1) n = 1;
  p = calloc(1, sizeof *p);
  if (p == NULL || (p->threads = calloc((size_t)n, sizeof *p->threads)) == NULL) {
    free(p);
    ty_err_set(err, TY_ERR_NOMEM, "thread pool: out of memory");
    return NULL;
  }
  p->n = 1;
  p->shares = aligned_alloc(64, (size_t)n * sizeof *p->shares);
  p->slots = aligned_alloc(64, (size_t)n * sizeof *p->slots);
  if (p->shares == NULL || p->slots == NULL) {
    free(p->shares);
    free(p->slots);
    free(p->threads);
    free(p);
    ty_err_set(err, TY_ERR_NOMEM, "thread pool: out of memory");
    return NULL;
  }
  memset(p->slots, 0, (size_t)n * sizeof *p->slots);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int i = 1; i < n; i++) {
    struct worker *w = malloc(sizeof *w);
    if (w == NULL) break;
    w->p = p;
    w->ith = i;
    if (pthread_create(&p->threads[i], NULL, worker_main, w) != 0) {
      free(w);
      break;
    }
    p->n++;
  }
  if (p->n != n) {
    ty_pool_free(p);
    ty_err_set(err, TY_ERR_IO, "thread pool: could not start %d threads", n);
    return NULL;
  }
  return p;
}


/* Publishes a new job generation (and with it fn and arg). The mutex is
   taken only when a worker sleeps or is going to: a worker that counted
   itself in holds mu until it waits, so the broadcast cannot come before. */
static void wake(ty_pool *p) {
  atomic_fetch_add(&p->gen, 1);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}


void ty_pool_free(ty_pool *p) {
  if (p == NULL) return;
  if (p->n > 1) {
    atomic_store(&p->stop, 1);
    wake(p);
    for (int i = 1; i < p->n; i++)
      pthread_join(p->threads[i], NULL);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->threads);
  free(p->shares);
  free(p->slots);
  free(p);
}


int ty_pool_size(const ty_pool *p) {
  return p->n;
}


void ty_pool_run(ty_pool *p, ty_pool_fn fn, void *arg) {
  if (p->n == 1) {
    fn(arg, 0, 1);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
  wake(p);
  fn(arg, 0, p->n);
  /* Spin for the workers; when they are late (the machine is busier than
     its cores), yield so a descheduled worker can have this core. */
  for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
    if (spins < 4096) cpu_relax();
    else sched_yield();
  }
  for (int i = 1; i < p->n; i++) p->slots[i].fresh = false;
}


void ty_pool_warm(ty_pool *p, int ith, const struct ty_pool_warm *w) {
  if (ith <= 0 || ith >= p->n) return;
  p->slots[ith].w = *w;
  p->slots[ith].fresh = true;
}


/* Published by ty_pool_run's generation bump, as fn and arg are. */
void ty_pool_deal(ty_pool *p, long n) {
  for (int i = 0; i < p->n; i++) {
    long lo, hi;
    ty_pool_range(n, i, p->n, &lo, &hi);
    atomic_store_explicit(&p->shares[i].span, (unsigned long long)hi << 32 | (unsigned long long)lo,
                          memory_order_relaxed);
  }
}


bool ty_pool_take(ty_pool *p, int ith, long *lo, long *hi) {
  for (int k = 0; k < p->n; k++) {
    const int v = (ith + k) % p->n;           /* its own share first */
    atomic_ullong *span = &p->shares[v].span;
    unsigned long long cur = atomic_load_explicit(span, memory_order_relaxed);
    for (;;) {
      const unsigned long long a = cur & 0xFFFFFFFFu, b = cur >> 32;
      if (a >= b) break;
      const unsigned long long take = p->n == 1 ? b - a : (b - a + 1) / 2;   /* alone: all */
      const unsigned long long next = k == 0 ? b << 32 | (a + take) : (b - take) << 32 | a;
      if (atomic_compare_exchange_weak_explicit(span, &cur, next, memory_order_relaxed,
                                                memory_order_relaxed)) {
        *lo = (long)(k == 0 ? a : b - take);
        *hi = (long)(k == 0 ? a + take : b);
        return true;
      }
    }
  }
  return false;
}
