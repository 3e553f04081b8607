/*
 * test_threadpool.c: the CPU backend's pool. Every job runs once on every
 * thread with the right (ith, nth); ty_pool_range splits [0, n) into
 * disjoint parts that cover it; thousands of back-to-back jobs (a decode
 * step's pattern) lose no work; pools of 1 to 8 threads start and stop,
 * also with more threads than cores. ty_pool_deal / ty_pool_take hand out
 * every index once, in non-empty pieces, and a thread that is late to start
 * has its share taken by the others; a thread alone at its share reads it
 * as ty_pool_first_take says (what the CPU backend warms ahead).
 */
#include "backend/threadpool.h"
#include "check.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


struct job {
  atomic_int calls[16];
  atomic_long sum;
  int nth_seen;
  long n;
};


static void fill(void *arg, int ith, int nth) {
  struct job *j = arg;
  long lo, hi;
  atomic_fetch_add(&j->calls[ith], 1);
  j->nth_seen = nth;
  ty_pool_range(j->n, ith, nth, &lo, &hi);
  for (long i = lo; i < hi; i++) atomic_fetch_add(&j->sum, i);
}


/* Each index taken counts once at seen[i], with the thread that took it. */
struct take_job {
  ty_pool *p;
  atomic_int seen[512];
  atomic_int by[512];
  atomic_int empty;         /* pieces with lo >= hi */
  int late;                 /* this thread sleeps first, or -1 */
};

static void take_all(void *arg, int ith, int nth) {
  struct take_job *j = arg;
  long lo, hi;
  if (ith == j->late) nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
  while (ty_pool_take(j->p, ith, &lo, &hi)) {
    if (lo >= hi) atomic_fetch_add(&j->empty, 1);
    for (long i = lo; i < hi; i++) {
      atomic_fetch_add(&j->seen[i], 1);
      atomic_store(&j->by[i], ith);
    }
  }
}


static void test_take(void) {
  static struct take_job j;
  for (int n = 1; n <= 5; n++) {
    ty_err err;
    ty_pool *p = ty_pool_new(n, &err);
    CHECK(p != NULL, "pool of %d: %s", n, p ? "" : err.msg);
    if (p == NULL) continue;
    for (int rep = 0; rep < 300 && !failures; rep++) {
      long count = rep % 3 == 0 ? rep % 7 : rep % 512;
      memset(&j, 0, sizeof j);
      j.p = p;
      j.late = -1;
      ty_pool_deal(p, count);
      ty_pool_run(p, take_all, &j);
      for (long i = 0; i < 512; i++)
        CHECK(atomic_load(&j.seen[i]) == (i < count), "pool of %d, %ld items: item %ld taken %d times",
              n, count, i, atomic_load(&j.seen[i]));
      CHECK(atomic_load(&j.empty) == 0, "pool of %d: %d empty pieces", n, atomic_load(&j.empty));
    }
    if (n > 1) {            /* the last thread starts 50 ms late: the others take its share */
      long lo, hi, stolen = 0;
      memset(&j, 0, sizeof j);
      j.p = p;
      j.late = n - 1;
      ty_pool_deal(p, 400);
      ty_pool_run(p, take_all, &j);
      ty_pool_range(400, n - 1, n, &lo, &hi);
      for (long i = lo; i < hi; i++) stolen += atomic_load(&j.by[i]) != n - 1;
      CHECK(stolen > 0, "pool of %d: a late thread kept all %ld of its share", n, hi - lo);
    }
    /* alone at its share, thread ith takes [lo, mid), then the rest in
       order to hi; the CPU backend warms the bytes of the first take */
    for (long count = 0; count < 70; count += 3)
      for (int ith = 0; ith < n; ith++) {
        long lo, mid, hi, a, b, at;
        ty_pool_first_take(count, ith, n, &lo, &mid, &hi);
        ty_pool_deal(p, count);
        if (lo == hi) continue;
        CHECK(ty_pool_take(p, ith, &a, &b) && a == lo && b == mid,
              "pool of %d, %ld items: thread %d's first take [%ld, %ld), said [%ld, %ld)", n,
              count, ith, a, b, lo, mid);
        for (at = b; at < hi && ty_pool_take(p, ith, &a, &b) && a == at; at = b) {}
        CHECK(at == hi, "pool of %d, %ld items: thread %d's share read in order to %ld, not %ld",
              n, count, ith, at, hi);
      }
    ty_pool_free(p);
  }
}


int main(void) {
  test_take();
  for (int n = 1; n <= 8; n++) {
    ty_err err;
    ty_pool *p = ty_pool_new(n, &err);
    struct job j;
    CHECK(p != NULL && ty_pool_size(p) == n, "pool of %d: %s", n, p ? "" : err.msg);
    if (p == NULL) continue;
    /* more threads than cores (this machine has 2) is the slow, rare case:
       fewer jobs there */
    int reps = n <= 2 ? 5000 : 500;
    memset(&j, 0, sizeof j);
    for (int rep = 0; rep < reps; rep++) {
      j.n = rep % 97;
      atomic_store(&j.sum, 0);
      ty_pool_run(p, fill, &j);
      CHECK(atomic_load(&j.sum) == j.n * (j.n - 1) / 2, "pool of %d, job %d: sum %ld", n, rep,
            atomic_load(&j.sum));
      if (failures) break;
    }
    for (int t = 0; t < n; t++)
      CHECK(atomic_load(&j.calls[t]) == reps, "pool of %d: thread %d ran %d jobs", n, t,
            atomic_load(&j.calls[t]));
    CHECK(j.nth_seen == n, "nth %d for a pool of %d", j.nth_seen, n);
    ty_pool_free(p);
  }
  /* ranges: disjoint, ordered, covering */
  for (long n = 0; n < 50; n++)
    for (int nth = 1; nth <= 9; nth++) {
      long expect = 0;
      for (int ith = 0; ith < nth; ith++) {
        long lo, hi;
        ty_pool_range(n, ith, nth, &lo, &hi);
        CHECK(lo == expect && hi >= lo && hi - lo <= n / nth + 1, "range(%ld, %d, %d) = [%ld, %ld)",
              n, ith, nth, lo, hi);
        expect = hi;
      }
      CHECK(expect == n, "ranges of %ld over %d threads end at %ld", n, nth, expect);
    }
  ty_pool_free(NULL);
  if (failures) return 1;
  printf("ok\n");
  return 0;
}
