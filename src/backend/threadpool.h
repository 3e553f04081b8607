/*
 * threadpool.h: a persistent pool of worker threads for the CPU backend.
 * The caller's thread takes part as thread 0, so a pool of n threads starts
 * n-1 workers. Workers spin briefly between jobs (a decode step issues
 * hundreds of small jobs per token), then sleep on a condition variable.
 */
#ifndef TY_THREADPOOL_H
#define TY_THREADPOOL_H

#include "../base/base.h"

#include <stdbool.h>

typedef struct ty_pool ty_pool;

/* Runs on every thread: ith in [0, nth). */
typedef void (*ty_pool_fn)(void *arg, int ith, int nth);

/* Starts a pool of n threads (n >= 1). Returns NULL on failure. */
ty_pool *ty_pool_new(int n, ty_err *err);
void ty_pool_free(ty_pool *p);        /* NULL is fine; joins the workers */
int ty_pool_size(const ty_pool *p);

/* Runs fn(arg, ith, nth) on all threads and returns when all are done.
   Not reentrant: one job at a time, from one calling thread. */
void ty_pool_run(ty_pool *p, ty_pool_fn fn, void *arg);

/* Deals [0, n) (n < 2^32) out for the next ty_pool_run: thread ith's share
   is part ith of ty_pool_range. Call before ty_pool_run, from its caller. */
void ty_pool_deal(ty_pool *p, long n);

/* The next piece [*lo, *hi) for thread ith, or false when all is taken. A
   thread takes its own share from the front, half of what is left each time
   (at least one), so most of its reads stay one long run; its share done, it
   takes halves of the others' from the back. A thread the machine delays
   (another guest on its core) hands its last pieces to the others instead
   of holding them all at the end of the job. */
bool ty_pool_take(ty_pool *p, int ith, long *lo, long *hi);

/* Byte ranges worker ith reads into its cache while it waits between jobs,
   in order, up to a budget: set before the ty_pool_run after which the
   worker will wait, they replace what it had left to read (the CPU backend
   hands each worker the front of its share of the next product). Thread 0
   is the caller and never waits: ith 0 is ignored. */
#define TY_POOL_WARM_MAX 4
struct ty_pool_warm { const char *ptr[TY_POOL_WARM_MAX]; size_t len[TY_POOL_WARM_MAX]; int n; };
void ty_pool_warm(ty_pool *p, int ith, const struct ty_pool_warm *w);

/* Splits [0, n) into nth nearly equal parts; sets [*lo, *hi) for part ith. */
static inline void ty_pool_range(long n, int ith, int nth, long *lo, long *hi) {
  long per = n / nth, rem = n % nth;
  *lo = ith * per + (ith < rem ? ith : rem);
  *hi = *lo + per + (ith < rem ? 1 : 0);
}

/* Thread ith's share of ty_pool_deal(n) as its ty_pool_take calls read it
   when no other thread takes from it: [lo, mid) first, then [mid, hi). */
static inline void ty_pool_first_take(long n, int ith, int nth, long *lo, long *mid, long *hi) {
  ty_pool_range(n, ith, nth, lo, hi);
  *mid = nth == 1 ? *hi : *lo + (*hi - *lo + 1) / 2;
}

#endif
