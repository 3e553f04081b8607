/*
 * cpu.c: the CPU backend. Weights are used in place from the file mapping,
 * but for the formats with a 16-row layout (tensor.h, TY_X16), which are
 * repacked at load into a copy of the same size while the mapping's pages
 * are let go; each op runs on a persistent thread pool. Work buffers
 * (quantized activations, attention scores) grow to the largest op seen and
 * are then reused, so a decode step allocates nothing.
 */
#include "backend.h"
#include "threadpool.h"
#include "cpu_kernels.h"
#include "../tensor/tensor.h"

#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Elementwise ops smaller than this run on the calling thread alone: waking
   the pool costs more than the work. */
#define SMALL_OP 16384

/* Attention over fewer cached values than this (tokens x heads x visible
   positions x head size) also runs on the caller: a decode step's first few
   positions. Past that, even one token's heads pay for the pool (SmolLM2
   decode, 2 threads, tg64: 260-359 t/s at 65536, 320-374 at 8192, 337-359 at
   1024). */
#define SMALL_ATTN 2048

/* A weight repacked at load: the copy, and the product that reads it. */
struct packed {
  char *data;
  size_t size, group;       /* bytes in all, and of one group of TY_X16 rows */
  int type;
  ty_dot_x16_fn dot;
  bool own;                 /* data is its own allocation, not part of a slab */
};

/* A mapping of HUGE_PAGE-aligned memory (map_huge): an arena cpu_alloc gave
   out, or a slab that repacked weights are carved from (used bytes so far). */
struct region { char *base; size_t size, used; bool slab; };

/* The cosines and sines of one position's rope angles (rope). */
#define ROPE_MAX_PAIRS 512    /* head sizes up to 1024 (model.c checks) */

struct angles {
  int32_t pos;
  int nd;
  float base, scale;
  const float *ff;
  float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
};

/* A one-token product as the pool deals it out: the tiles of n weights
   end to end, or with glu the tiles of gate, each with up's same rows. Its
   key is its first weight. */
struct product { const void *key; int n; bool glu; struct ty_view w[3]; };

/* What came after the product keyed, last token (warm_next): the next
   product, and the norm weight read before it (NULL: none seen). */
struct after { const void *key; struct product next; const char *norm; size_t norm_len; };

#define AFTER_CAP 1024      /* products the table holds */

struct cpu {
  ty_pool *pool;
  struct after *after;      /* AFTER_CAP slots, open addressing by key */
  const void *prev;         /* the key of the last one-token product, or NULL */
  void (*attn_f16)(const struct ty_attn_head *h);            /* cpu_kernels.h */
  void (*swiglu)(int64_t n, float *y, const float *x, const float *g);
  void (*geglu)(int64_t n, float *y, const float *x, const float *g, const float *table);
  void (*rope)(float *x, const float *cs, const float *sn, int nd, int neox);
  struct angles angles[2];  /* a decode step's, kept: every layer rotates by them */
  int angles_next;          /* the entry replaced next */
  void *work;
  size_t work_size;
  bool repack;              /* TYCHO_REPACK=0 keeps every weight in place */
  struct packed *packed;    /* sorted by address */
  int n_packed, cap_packed;
  struct region *regions;
  int n_regions, cap_regions;
  int slab;                 /* the region repacked weights are carved from now, or -1 */
  struct packed recent[4];  /* the last found by lookup_packed (copies; size 0: none) */
  int recent_next;
};

struct job {
  struct cpu *cpu;
  const struct ty_op *op;
  const void *bq;           /* MATMUL: activations in the weight's vec_dot type */
  size_t bq_stride;
  ty_dot_x16_fn x16;        /* MATMUL: the weights are repacked, read by this */
  size_t per_thread;        /* ATTENTION: bytes of work buffer per thread; MATMUL in
                               i8 or sb form: bytes of each thread's weight tile */
  atomic_long next;         /* MATMUL: first row of the next unclaimed tile */
  char *ya;                 /* MATMUL in i8 form: the activations (ya_stride apart); */
  size_t ya_stride;         /* in sb form: their sums per sub-block of sb_unit (gemm_sb.c) */
  int sb_unit;
  char *wtile;              /* then one weight tile per thread */
  /* MATMUL3 and MATMUL_GLU for one token: each part's weights, output and
     activations in its dot type; GLU applies the activation of op->i0 */
  struct part { struct ty_view w; ty_dot_x16_fn x16; float *y; const void *bq; } part[3];
  int n_part;
  bool glu;
};


#define ROW(v, r) ((char *)(v).data + (size_t)(r) * (v).stride)


/* ================================================================
   memory
   ================================================================ */

/* Buffers of HUGE_PAGE bytes or more (the KV cache and activation arenas,
   and the slabs repacked weights are carved from) are anonymous mappings
   aligned to 2 MiB that the kernel is asked to back with 2 MiB pages
   (MADV_HUGEPAGE: transparent huge pages in their common "madvise" mode). A
   decode step streams every weight once, and with 4 KiB pages each 4 KiB
   costs a TLB miss: 24k of them a token for SmolLM2's 97 MB (decode, 2
   threads, alternating rounds: 240-390 -> 292-436 t/s, every round faster;
   1 thread 212-216 -> 230-234). Where the kernel has no huge page to give,
   the mapping is ordinary memory. A mapping's memory beyond the bytes asked
   for is the rest of its last 2 MiB page: what is never touched is never
   backed. */
#define HUGE_PAGE ((size_t)2 << 20)
#define SLAB_SIZE ((size_t)64 << 20)   /* the least a slab of repacked weights maps */

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* size bytes (a multiple of HUGE_PAGE) at a HUGE_PAGE boundary, or NULL. */
static char *map_huge(size_t size) {
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
  const size_t span = size + HUGE_PAGE;
  char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  char *p = (char *)round_up((uintptr_t)m, HUGE_PAGE);
  if (p > m) munmap(m, (size_t)(p - m));
  if (p + size < m + span) munmap(p + size, (size_t)(m + span - (p + size)));
  madvise(p, size, MADV_HUGEPAGE);
  return p;
#else
  (void)size;
  return NULL;
#endif
}

/* A new region of at least size bytes (index), or -1. */
static int add_region(struct cpu *c, size_t size, bool slab) {
  if (c->n_regions == c->cap_regions) {
    int cap = c->cap_regions > 0 ? 2 * c->cap_regions : 8;
    struct region *r = realloc(c->regions, (size_t)cap * sizeof *r);
    if (r == NULL) return -1;
    c->regions = r;
    c->cap_regions = cap;
  }
  size = round_up(size, HUGE_PAGE);
  char *p = map_huge(size);
  if (p == NULL) return -1;
  c->regions[c->n_regions] = (struct region){ p, size, 0, slab };
  return c->n_regions++;
}


static ty_status cpu_alloc(void *ctx, size_t size, void **out, ty_err *err) {
  struct cpu *c = ctx;
  /* 64-byte alignment: a cache line, and what AVX-512 loads like best */
  size_t rounded = round_up(size, 64);
  int r = rounded >= HUGE_PAGE ? add_region(c, rounded, false) : -1;
  void *p = r >= 0 ? c->regions[r].base : aligned_alloc(64, rounded);
  if (p == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "cpu: cannot allocate %zu bytes", size);
  memset(p, 0, rounded);    /* the plan's memory is taken now, not at first use */
  *out = p;
  return TY_OK;
}


static void cpu_free(void *ctx, void *ptr) {
  struct cpu *c = ctx;
  for (int i = 0; i < c->n_regions; i++)
    if (c->regions[i].base == ptr && !c->regions[i].slab) {
      munmap(ptr, c->regions[i].size);
      c->regions[i] = c->regions[--c->n_regions];
      if (c->slab == c->n_regions) c->slab = i;   /* the slab moved to i */
      return;
    }
  free(ptr);
}


/* size bytes for a repacked weight, 64-byte aligned: from the current slab,
   a new one, or (no huge mappings here) an allocation of its own. */
static char *weight_memory(struct cpu *c, size_t size, bool *own) {
  size = round_up(size, 64);
  *own = false;
  if (c->slab < 0 || c->regions[c->slab].size - c->regions[c->slab].used < size) {
    int r = add_region(c, size > SLAB_SIZE ? size : SLAB_SIZE, true);
    if (r < 0) {
      *own = true;
      return aligned_alloc(64, size);
    }
    c->slab = r;
  }
  struct region *s = &c->regions[c->slab];
  s->used += size;
  return s->base + s->used - size;
}


/* The repacked weight holding p, or NULL. */
static const struct packed *find_packed(const struct cpu *c, const void *p) {
  int lo = 0, hi = c->n_packed;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    const struct packed *k = &c->packed[mid];
    if ((const char *)p < k->data) hi = mid;
    else if ((const char *)p >= k->data + k->size) lo = mid + 1;
    else return k;
  }
  return NULL;
}


/* find_packed for the calling thread's own use (workers call find_packed):
   a look at the last few found first. A fused op's dispatch asks after
   each of its weights about five times (supports, twice, and run_fused),
   and each binary search over a model's hundred-odd entries mispredicts
   most of its branches. */
static const struct packed *lookup_packed(struct cpu *c, const void *p) {
  const struct packed *k;
  for (int i = 0; i < 4; i++) {
    k = &c->recent[i];
    if (k->size > 0 && (const char *)p >= k->data && (const char *)p < k->data + k->size)
      return k;
  }
  if (c->n_packed == 0 || (k = find_packed(c, p)) == NULL) return NULL;
  c->recent[c->recent_next] = *k;
  c->recent_next = (c->recent_next + 1) % 4;
  return k;
}

/* The product for w if it was repacked. A view of a repacked weight starts
   on a group and spans whole groups (supports checks). */
static ty_dot_x16_fn packed_dot(struct cpu *c, const struct ty_view *w) {
  const struct packed *k = lookup_packed(c, w->data);
  return k != NULL ? k->dot : NULL;
}


/* Asks the kernel to reclaim the pages wholly inside [p, p + size): those
   of a file mapping are clean and simply dropped (read again from the file
   if anyone looked), while other memory keeps its contents (MADV_PAGEOUT,
   unlike MADV_DONTNEED, never zeroes a page). A hint: ignored where the
   kernel lacks it. */
static void drop_pages(const void *p, size_t size) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + size) & ~(page - 1);
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_PAGEOUT);
#else
  (void)p, (void)size;
#endif
}


/* Weights are read in place from the mapping, except formats with a
   product over 16-row groups: those are repacked into a copy of the same
   size (so the plan's weight bytes hold) and the mapping's pages dropped. */
static ty_status cpu_weights(void *ctx, const struct ty_view *src, void **out, ty_err *err) {
  struct cpu *c = ctx;
  const struct ty_qtype_traits *tr = ty_qtype_get(src->type);
  size_t size = src->stride * (size_t)src->rows, group = src->stride * TY_X16;
  char *p;
  int i;
  *out = src->data;
  if (!c->repack || tr == NULL || tr->dot_x16 == NULL || src->rows % TY_X16 != 0 ||
      src->cols % tr->blck_size != 0 || size == 0)
    return TY_OK;
  if (c->n_packed == c->cap_packed) {
    int cap = c->cap_packed > 0 ? 2 * c->cap_packed : 64;
    struct packed *k = realloc(c->packed, (size_t)cap * sizeof *k);
    if (k == NULL) return ty_err_set(err, TY_ERR_NOMEM, "cpu: out of memory");
    c->packed = k;
    c->cap_packed = cap;
  }
  bool own;
  if ((p = weight_memory(c, size, &own)) == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "cpu: cannot allocate %zu bytes for weights", size);
  for (int64_t r = 0; r < src->rows; r += TY_X16)
    ty_x16_pack(src->type, ROW(*src, r), src->stride, p + (size_t)r * src->stride, src->cols);
  drop_pages(src->data, size);
  for (i = c->n_packed; i > 0 && c->packed[i - 1].data > p; i--) c->packed[i] = c->packed[i - 1];
  c->packed[i] = (struct packed){ p, size, group, src->type, tr->dot_x16, own };
  c->n_packed++;
  memset(c->recent, 0, sizeof c->recent);
  *out = p;
  return TY_OK;
}


static ty_status cpu_copy(void *ctx, void *dst, const void *src, size_t size, ty_err *err) {
  memmove(dst, src, size);
  return TY_OK;
}


static ty_status work_reserve(struct cpu *c, size_t size, ty_err *err) {
  void *p;
  if (size <= c->work_size) return TY_OK;
  size = (size + 4095) & ~(size_t)4095;
  p = aligned_alloc(64, size);
  if (p == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "cpu: cannot allocate %zu bytes of work memory", size);
  free(c->work);
  c->work = p;
  c->work_size = size;
  return TY_OK;
}


/* ================================================================
   ops
   ================================================================ */

static void get_rows(void *arg, int ith, int nth) {
  const struct job *j = arg;
  const struct ty_op *op = j->op;
  const struct ty_qtype_traits *tr = ty_qtype_get(op->a.type);
  const struct packed *k = find_packed(j->cpu, op->a.data);
  long lo, hi;
  ty_pool_range((long)op->dst.rows, ith, nth, &lo, &hi);
  for (long t = lo; t < hi; t++) {
    float *y = (float *)ROW(op->dst, t);
    if (k != NULL) {
      size_t at = (size_t)(ROW(op->a, op->ids[t]) - k->data);
      ty_x16_to_float(k->type, k->data + at / k->group * k->group,
                      (int)(at % k->group / op->a.stride), y, op->a.cols);
    } else {
      tr->to_float(ROW(op->a, op->ids[t]), y, op->a.cols);
    }
    if (op->f0 != 1.0f)
      for (int64_t i = 0; i < op->dst.cols; i++) y[i] *= op->f0;
  }
}


/* ggml's mean square: (float)(the sum of the n squares, added in order in
   double, / n). That order is a chain of n dependent adds (a decode step's
   longest serial wait after attention), so the squares go into 8 sums
   instead. Each order's sum of these non-negative terms is within
   (n - 1) 2^-53 of the exact one (Higham, Accuracy and Stability, 4.2), so
   the two are within n 2^-52 of each other: where the float mean is the same
   at both ends of twice that interval it is ggml's float, else (in about
   n 2^-29 of cases, and for inf or NaN) the chain runs as ggml's does. */
static float mean_square(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, sum;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float *v = x + i;
    s0 += (double)(v[0] * v[0]), s1 += (double)(v[1] * v[1]);
    s2 += (double)(v[2] * v[2]), s3 += (double)(v[3] * v[3]);
    s4 += (double)(v[4] * v[4]), s5 += (double)(v[5] * v[5]);
    s6 += (double)(v[6] * v[6]), s7 += (double)(v[7] * v[7]);
  }
  sum = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7));
  for (; i < n; i++) sum += (double)(x[i] * x[i]);
  const double d = sum * (double)n * 0x1p-51;
  const float mean = (float)(sum / n);
  if ((float)((sum - d) / n) == mean && (float)((sum + d) / n) == mean) return mean;
  sum = 0.0;
  for (i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
  return (float)(sum / n);
}


/* y = x / sqrt(mean(x^2) + eps) * w over n elements, rounded as ggml does:
   squares in float, summed in double, then (x * scale) * w. The q8
   activation quantizers downstream turn a last-bit difference here into a
   whole quantization step now and then, so the order matters. Blocks of 8
   go through a local copy: y may be x, and in blocks the compiler issues
   the loads as vectors, many of the weight's (cold: each is read once per
   token) cache misses at once. */
static void rmsnorm_row(float *y, const float *x, const float *w, int64_t n, float eps) {
  const float scale = 1.0f / sqrtf(mean_square(x, n) + eps);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float t[8];
    for (int k = 0; k < 8; k++) t[k] = x[i + k] * scale * w[i + k];
    memcpy(y + i, t, sizeof t);
  }
  for (; i < n; i++) y[i] = x[i] * scale * w[i];
}


static void rmsnorm(void *arg, int ith, int nth) {
  const struct ty_op *op = ((struct job *)arg)->op;
  int64_t group = op->i0 > 0 ? op->i0 : op->a.cols;
  int64_t per_row = op->a.cols / group;
  long lo, hi;
  ty_pool_range((long)(op->a.rows * per_row), ith, nth, &lo, &hi);
  for (long k = lo; k < hi; k++) {
    int64_t t = k / per_row, g = k % per_row;
    const float *x = (const float *)ROW(op->a, t) + g * group;
    float *y = (float *)ROW(op->dst, t) + g * group;
    rmsnorm_row(y, x, (const float *)op->b.data, group, op->eps);
  }
}


/* For a batch, threads claim tiles of output rows from a shared counter, so
   a thread that the machine delays (a busy host, a slower core) takes fewer
   tiles instead of holding everyone at the barrier; a tile of weights stays
   in cache while every token of the batch uses it. For one token a tile is
   too small to pay for a shared counter: each thread takes its own share in
   halves and then helps with the others' (ty_pool_take; SmolLM2 decode, 2
   threads, 4 alternating rounds: 300-361 -> 311-390 t/s, Gemma 3 80-101 ->
   97-113). A tile is one group of a repacked weight. */
#define MATMUL_TILE TY_X16

/* The tiles of weight w: one token's products are dealt out in these. */
static long tiles_of(const struct ty_view *w) {
  return (long)((w->rows + MATMUL_TILE - 1) / MATMUL_TILE);
}

/* A batch of at least this many tokens takes the byte-dot product (gemm.c)
   where the weight format has one: converting a tile of weight rows costs
   about what a few row-by-row dots do, and every token then reuses it. A
   repacked weight needs a conversion from its 16-row groups (x16_to_i8);
   without one its batches take the 16-row product, 2 tokens a pass. */
#define GEMM_MIN_TOKENS 8

static bool use_gemm(const struct ty_op *op, const struct ty_qtype_traits *tr, bool packed) {
  return tr->gemm_i8 != NULL && (packed ? tr->x16_to_i8 != NULL : tr->to_i8 != NULL) &&
         op->b.rows >= GEMM_MIN_TOKENS && op->a.cols % TY_I8_GROUP == 0;
}

/* The K formats' sb form (gemm_sb.c) goes before the i8 form: its product
   scales a sub-block's integer sum once, not every 4 weights. Converting a
   tile costs little beside reading its rows, so it already pays at 2 tokens
   (8B-shaped Q4_K_M, 2 threads: 2 tokens 3.5 -> 3.7 t/s, 3 tokens 3.6 -> 5.2). */
#define SB_MIN_TOKENS 2

static int sb_unit(const struct ty_op *op, const struct ty_qtype_traits *tr) {
  return tr->gemm_sb != NULL && op->b.rows >= SB_MIN_TOKENS &&
                 ty_sb_tile_size(op->a.type, op->a.cols) > 0
             ? ty_sb_unit(op->a.type) : 0;
}


static void matmul_gemm(struct job *j, int ith) {
  const struct ty_op *op = j->op;
  const struct ty_qtype_traits *tr = ty_qtype_get(op->a.type);
  const int64_t n = op->a.cols;
  const size_t wsize = ty_i8_weight_size(n);
  char *tile = j->wtile + (size_t)ith * j->per_thread;
  long rows = (long)op->a.rows;
  for (;;) {
    long r0 = atomic_fetch_add_explicit(&j->next, MATMUL_TILE, memory_order_relaxed);
    if (r0 >= rows) break;
    int nr = (int)(r0 + MATMUL_TILE < rows ? MATMUL_TILE : rows - r0);
    if (j->sb_unit > 0) {
      tr->sb_tile(ROW(op->a, r0), op->a.stride, nr, tile, n);
      tr->gemm_sb(n, nr, (int)op->b.rows, tile, j->bq, j->bq_stride, (const float *)j->ya,
                  j->ya_stride / sizeof(float), (float *)op->dst.data + r0,
                  op->dst.stride / sizeof(float));
      continue;
    }
    if (j->x16 != NULL)     /* repacked: the tile is one group */
      tr->x16_to_i8(ROW(op->a, r0), tile, wsize, n);
    else
      for (int r = 0; r < nr; r++)
        ty_i8_weight(tr->to_i8, ROW(op->a, r0 + r), tile + (size_t)r * wsize, n);
    tr->gemm_i8(n, nr, (int)op->b.rows, tile, wsize, j->ya, j->ya_stride,
                (float *)op->dst.data + r0, op->dst.stride / sizeof(float));
  }
}


/* y[r] = dot(row r of w, bq) for r in [r0, r1); with x16, w is repacked,
   r0 and r1 fall on its groups and bq carries the derived blocks. */
static void dot_rows(const struct ty_qtype_traits *tr, ty_dot_x16_fn x16, int n, float *y,
                     struct ty_view w, const void *bq, long r0, long r1, const void *after) {
  long r = r0;
  if (x16 != NULL) {
    x16(n, (int)((r1 - r0) / TY_X16), 1, ROW(w, r0), bq, 0, &y[r0], 0, after);
    return;
  }
  if (tr->vec_dot_rows != NULL)
    for (; r + TY_DOT_ROWS <= r1; r += TY_DOT_ROWS)
      tr->vec_dot_rows(n, &y[r], ROW(w, r), w.stride, bq);
  for (; r < r1; r++)
    tr->vec_dot(n, &y[r], ROW(w, r), bq);
}


static void matmul(void *arg, int ith, int nth) {
  struct job *j = arg;
  const struct ty_op *op = j->op;
  const struct ty_qtype_traits *tr = ty_qtype_get(op->a.type);
  int n = (int)op->a.cols;
  long rows = (long)op->a.rows, lo, hi;
  if (j->ya != NULL) {
    matmul_gemm(j, ith);
    return;
  }
  if (op->b.rows == 1) {    /* whole tiles, so repacked groups stay whole */
    while (ty_pool_take(j->cpu->pool, ith, &lo, &hi)) {
      const long r1 = hi * MATMUL_TILE < rows ? hi * MATMUL_TILE : rows;
      dot_rows(tr, j->x16, n, (float *)op->dst.data, op->a, j->bq, lo * MATMUL_TILE, r1,
               r1 < rows ? ROW(op->a, r1) : NULL);
    }
    return;
  }
  for (;;) {                /* a batch: tiles from the shared counter */
    long r0 = atomic_fetch_add_explicit(&j->next, MATMUL_TILE, memory_order_relaxed);
    if (r0 >= rows) break;
    long r1 = r0 + MATMUL_TILE < rows ? r0 + MATMUL_TILE : rows;
    if (j->x16 != NULL) {   /* every token over the tile's one group */
      j->x16(n, 1, (int)op->b.rows, ROW(op->a, r0), j->bq, j->bq_stride,
             (float *)op->dst.data + r0, op->dst.stride / sizeof(float), NULL);
      continue;
    }
    for (int64_t t = 0; t < op->b.rows; t++)
      dot_rows(tr, j->x16, n, (float *)ROW(op->dst, t), op->a,
               (const char *)j->bq + (size_t)t * j->bq_stride, r0, r1, NULL);
  }
}


static void quantize_rows(void *arg, int ith, int nth) {
  struct job *j = arg;
  const struct ty_op *op = j->op;
  const struct ty_qtype_traits *a = ty_qtype_get(op->a.type);
  ty_from_float_fn q = ty_qtype_get(a->vec_dot_type)->from_float;
  long lo, hi;
  ty_pool_range((long)op->b.rows, ith, nth, &lo, &hi);
  for (long t = lo; t < hi; t++) {
    char *row = (char *)j->bq + (size_t)t * j->bq_stride;
    q((const float *)ROW(op->b, t), row, op->b.cols);
    if (j->sb_unit > 0)
      ty_sb_act(j->sb_unit, row, (float *)(j->ya + (size_t)t * j->ya_stride), op->b.cols);
    else if (j->ya != NULL)
      ty_i8_act(row, j->ya + (size_t)t * j->ya_stride, op->b.cols);
    else if (j->x16 != NULL)
      ty_x16_act(a->vec_dot_type, row, op->b.cols);
  }
}


/* The bytes of product p that thread ith reads first, in order: its share
   of the tiles as ty_pool_take hands them out (ty_pool_first_take), each
   tile span as the weight rows it covers (with glu, gate's, then up's). */
static void share_ranges(const struct product *p, int ith, int nth, struct ty_pool_warm *w) {
  const int n_tiled = p->glu ? 1 : p->n;
  long tiles[3], total = 0, cut[3];
  for (int i = 0; i < n_tiled; i++)
    total += tiles[i] = tiles_of(&p->w[i]);
  ty_pool_first_take(total, ith, nth, &cut[0], &cut[1], &cut[2]);
  w->n = 0;
  for (int s = 0; s < 2; s++)
    for (long i = 0, base = 0; i < n_tiled; base += tiles[i], i++) {
      long t0 = cut[s] > base ? cut[s] - base : 0;
      long t1 = cut[s + 1] - base < tiles[i] ? cut[s + 1] - base : tiles[i];
      for (int k = p->glu ? 0 : (int)i; t0 < t1 && k < (p->glu ? p->n : i + 1); k++) {
        long r1 = t1 * MATMUL_TILE < p->w[k].rows ? t1 * MATMUL_TILE : (long)p->w[k].rows;
        if (w->n == TY_POOL_WARM_MAX) return;
        w->ptr[w->n] = ROW(p->w[k], t0 * MATMUL_TILE);
        w->len[w->n++] = (size_t)(r1 - t0 * MATMUL_TILE) * p->w[k].stride;
      }
    }
}


/* Where key's slot of c->after is, or where its search starts. */
static size_t after_hash(const void *key) {
  return (size_t)((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u >> 54);   /* 10 bits */
}

/* The slot of c->after for key: its own, or the empty one it would take
   (NULL when the table is full). */
static struct after *after_slot(struct cpu *c, const void *key) {
  size_t h = after_hash(key);
  for (int i = 0; i < AFTER_CAP; i++) {
    struct after *e = &c->after[(h + (size_t)i) % AFTER_CAP];
    if (e->key == key || e->key == NULL) return e;
  }
  return NULL;
}


/* Before a one-token product runs: records it as the one after the last,
   and hands each worker the front of its share of the product that came
   after this one last time, to read into its L2 while it waits for the
   caller's serial work (norm, quantization, rope, attention's last head).
   A decode step runs the same products in the same order every token.
   Warming is a hint: a wrong guess costs bandwidth, never a result. Decode,
   2 threads, the same build with and without, alternating rounds: SmolLM2
   +2.9% (faster in 16 of 20 rounds) and +1.4% (11 of 20), Gemma 3 270M
   +6.4% (10 of 12); on a quiet host the per-layer products went q/k/v
   19.0k -> 17.4k cycles, o 12.8k -> 11.4k, gate/up 47.1k -> 45.1k, down
   25.8k -> 24.0k. The caller itself asks for the norm weight it will read
   after this product (recorded by RMSNORM, note_norm), which arrives during
   the product: SmolLM2's two norms a layer 2.85-2.94k -> 2.20-2.24k cycles. */
static void warm_next(struct cpu *c, const struct product *p) {
  const int nth = ty_pool_size(c->pool);
  struct after *e;
  if (c->after == NULL) return;
  if (c->prev != NULL && (e = after_slot(c, c->prev)) != NULL) {
    e->key = c->prev;
    e->next = *p;
  }
  c->prev = p->key;
  if ((e = after_slot(c, p->key)) == NULL || e->key == NULL) return;
  /* the next product's slot, which its own warm_next reads: between tokens
     the weights push the table out of the caches, and the 160-byte slot
     read cold cost about 1k cycles before every product */
  const char *slot = (const char *)&c->after[after_hash(e->next.key)];
  for (size_t o = 0; o < sizeof *e; o += 64) __builtin_prefetch(slot + o, 1, 3);
  __builtin_prefetch(slot + sizeof *e - 1, 1, 3);
  for (size_t o = 0; o < e->norm_len; o += 64) __builtin_prefetch(e->norm + o, 0, 3);
  for (int i = 1; i < nth; i++) {
    struct ty_pool_warm w;
    share_ranges(&e->next, i, nth, &w);
    ty_pool_warm(c->pool, i, &w);
  }
}


/* An RMSNORM of one row after a product: its weight, for warm_next. */
static void note_norm(struct cpu *c, const struct ty_op *op) {
  struct after *e;
  if (op->a.rows == 1 && c->prev != NULL && c->after != NULL &&
      (e = after_slot(c, c->prev)) != NULL && e->key == c->prev) {
    e->norm = op->b.data;
    e->norm_len = (size_t)op->b.cols * sizeof(float);
  }
}


static ty_status run_matmul(struct cpu *c, const struct ty_op *op, ty_err *err) {
  const struct ty_qtype_traits *a = ty_qtype_get(op->a.type);
  struct job j = { .cpu = c, .op = op, .bq = op->b.data, .bq_stride = op->b.stride,
                   .x16 = packed_dot(c, &op->a) };
  ty_status st;
  if (a->vec_dot_type != TY_QTYPE_F32) {
    /* work: the quantized activations, then for the i8 form the activations
       again in that form (for the sb form their sums per sub-block) and a
       weight tile per thread, each 64-byte aligned */
    size_t bq_size, ya_size = 0;
    bool gemm = (j.sb_unit = sb_unit(op, a)) == 0 && use_gemm(op, a, j.x16 != NULL);
    j.bq_stride = j.x16 != NULL && !gemm ? ty_x16_act_size(a->vec_dot_type, op->b.cols)
                                         : ty_qtype_row_size(a->vec_dot_type, op->b.cols);
    bq_size = (j.bq_stride * (size_t)op->b.rows + 63) & ~(size_t)63;
    if (j.sb_unit > 0) {
      j.ya_stride = (ty_sb_act_count(j.sb_unit, op->b.cols) * sizeof(float) + 63) & ~(size_t)63;
      j.per_thread = (ty_sb_tile_size(op->a.type, op->a.cols) + 63) & ~(size_t)63;
      ya_size = j.ya_stride * (size_t)op->b.rows + j.per_thread * (size_t)ty_pool_size(c->pool);
    } else if (gemm) {
      j.ya_stride = (ty_i8_act_size(op->b.cols) + 63) & ~(size_t)63;
      j.per_thread = (ty_i8_weight_size(op->a.cols) * MATMUL_TILE + 63) & ~(size_t)63;
      ya_size = j.ya_stride * (size_t)op->b.rows + j.per_thread * (size_t)ty_pool_size(c->pool);
    }
    if ((st = work_reserve(c, bq_size + ya_size, err)) != TY_OK) return st;
    j.bq = c->work;
    if (ya_size > 0) {
      j.ya = (char *)c->work + bq_size;
      j.wtile = j.ya + j.ya_stride * (size_t)op->b.rows;
    }
    if (op->b.rows == 1)
      quantize_rows(&j, 0, 1);
    else
      ty_pool_run(c->pool, quantize_rows, &j);
  }
  atomic_store_explicit(&j.next, 0, memory_order_relaxed);
  if (op->b.rows == 1) {
    struct product p = { .key = op->a.data, .n = 1, .w = { op->a } };
    warm_next(c, &p);
    ty_pool_deal(c->pool, tiles_of(&op->a));
  }
  ty_pool_run(c->pool, matmul, &j);
  return TY_OK;
}


/* Rotates pairs (x[i], x[i + d/2]) in NeoX order or (x[2i], x[2i+1]) in the
   original order by theta = pos * base^(-2i/d) * scale / ff[i]. The angle is
   stepped and the rotation rounded as ggml does (its compiler fuses one
   product of each rotated value into an fma), so the results are its floats.
   As ggml's rope cache, the cosines and sines are taken once per token and
   serve all its heads; one token's also serve every later layer's q and k
   (two entries: Gemma 3 alternates two bases). With the rotation's fmaf
   inlined (ty_cpu_rope) this took a SmolLM2 decode step's rope from 3200 to
   1000 cycles a call. */
static void angles_of(struct angles *a, const struct ty_op *op, int32_t pos) {
  const int nd = op->i1;
  const float theta_scale = powf(op->f0, -2.0f / nd);
  float theta = (float)pos;
  for (int i = 0; i < nd / 2; i++) {
    float th = op->f1 * (op->ff != NULL ? theta / op->ff[i] : theta);
    a->cs[i] = cosf(th);
    a->sn[i] = sinf(th);
    theta *= theta_scale;
  }
  a->pos = pos;
  a->nd = nd;
  a->base = op->f0;
  a->scale = op->f1;
  a->ff = op->ff;
}

static const struct angles *kept_angles(struct cpu *c, const struct ty_op *op, int32_t pos) {
  for (int e = 0; e < 2; e++) {
    const struct angles *a = &c->angles[e];
    if (a->nd == op->i1 && a->pos == pos && a->base == op->f0 && a->scale == op->f1 && a->ff == op->ff)
      return a;
  }
  struct angles *a = &c->angles[c->angles_next];
  c->angles_next ^= 1;
  angles_of(a, op, pos);
  return a;
}

static void rope(void *arg, int ith, int nth) {
  struct cpu *c = ((struct job *)arg)->cpu;
  const struct ty_op *op = ((struct job *)arg)->op;
  int hd = op->i0, nd = op->i1, neox = op->i2;
  int64_t n_head = op->dst.cols / hd, cached = -1;
  struct angles mine;       /* a batch's, one thread's own */
  const struct angles *a = NULL;
  long lo, hi;
  ty_pool_range((long)(op->dst.rows * n_head), ith, nth, &lo, &hi);
  int64_t t = lo / n_head, h = lo % n_head;    /* item k's token and head, stepped along */
  for (long k = lo; k < hi; k++) {
    if (t != cached) {
      if (nth == 1)         /* the pool is idle: the kept entries are this thread's */
        a = kept_angles(c, op, op->pos[t]);
      else
        angles_of(&mine, op, op->pos[t]), a = &mine;
      cached = t;
    }
    c->rope((float *)ROW(op->dst, t) + h * hd, a->cs, a->sn, nd, neox);
    if (++h == n_head) h = 0, t++;
  }
}


static void kv_store(void *arg, int ith, int nth) {
  const struct ty_op *op = ((struct job *)arg)->op;
  ty_from_float_fn q = ty_qtype_get(op->dst.type)->from_float;
  long lo, hi;
  ty_pool_range((long)op->a.rows, ith, nth, &lo, &hi);
  for (long t = lo; t < hi; t++)
    q((const float *)ROW(op->a, t), ROW(op->dst, op->pos[t]), op->a.cols);
}


/* Scores against every visible key, softmax, then the weighted sum of
   values. As llama.cpp without flash attention, the query is rounded to the
   cache's dot type and, for an f16 cache, the probabilities to f16 before
   they weight the values. */
static void attention(void *arg, int ith, int nth) {
  struct job *j = arg;
  const struct ty_op *op = j->op;
  int n_head = op->i0, n_head_kv = op->i1, hd = op->i2, window = op->i3;
  int group = n_head / n_head_kv;
  const struct ty_qtype_traits *kt = ty_qtype_get(op->b.type);
  const struct ty_qtype_traits *kd = ty_qtype_get(kt->vec_dot_type);
  const struct ty_qtype_traits *vt = ty_qtype_get(op->c.type);
  size_t kv_row = ty_qtype_row_size(op->b.type, hd);   /* bytes of one head in a cache row */
  size_t vv_row = ty_qtype_row_size(op->c.type, hd);
  char *mine = (char *)j->cpu->work + (size_t)ith * j->per_thread;
  float *qf = (float *)mine;                 /* hd floats: rounded query */
  float *vf = qf + hd;                       /* hd floats: one value row */
  float *score = vf + hd;                    /* n_ctx floats */
  void *qq = score + op->b.rows;             /* query in the key dot type */
  /* an f16 cache takes llama.cpp's own order (cpu_kernels.h) */
  int exact = op->b.type == TY_QTYPE_F16 && op->c.type == TY_QTYPE_F16 && hd % 16 == 0 &&
              op->b.stride == op->c.stride;
  if (exact && op->a.rows == 1) {
    /* one token: a run of heads a thread, those of one kv head in one call,
       which reads and converts their cache rows once (GQA). SmolLM2 (3 query
       heads a kv head), decode after 1024 tokens, 2 threads: +13%, faster
       in 8 of 8 alternating rounds; Gemma 3 270M (4, head size 256): its
       attention 161-214k -> 129-143k cycles a layer */
    int32_t p = op->pos[0];
    int32_t first = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    long lo, hi;
    ty_pool_range(n_head, ith, nth, &lo, &hi);
    for (long h = lo, end; h < hi; h = end) {
      long hk = h / group;
      end = (hk + 1) * group < hi ? (hk + 1) * group : hi;
      struct ty_attn_head ah = { (const float *)op->a.data + (size_t)h * hd,
                                 (const char *)op->b.data + hk * kv_row,
                                 (const char *)op->c.data + hk * vv_row, op->b.stride, hd,
                                 first, p, op->f0, 1, (int)(end - h),
                                 (float *)op->dst.data + (size_t)h * hd, (float *)mine };
      j->cpu->attn_f16(&ah);
    }
    return;
  }
  /* (token, head) pairs dealt out in turn: a causal batch's later tokens see
     more positions, and contiguous shares left the last thread 3x the first's
     work in a 512-token prefill */
  for (long k = ith; k < (long)(op->a.rows * n_head); k += nth) {
    int64_t t = k / n_head;
    int h = (int)(k % n_head), hk = h / group;
    int32_t p = op->pos[t];
    int32_t first = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    const float *q = (const float *)ROW(op->a, t) + (size_t)h * hd;
    float *out = (float *)ROW(op->dst, t) + (size_t)h * hd;
    if (exact) {
      struct ty_attn_head ah = { q, (const char *)op->b.data + hk * kv_row,
                                 (const char *)op->c.data + hk * vv_row, op->b.stride, hd,
                                 first, p, op->f0, 0, 1, out, (float *)mine };
      j->cpu->attn_f16(&ah);
      continue;
    }
    float mx = -INFINITY;
    double sum = 0.0;
    if (kt->vec_dot_type == TY_QTYPE_F32)
      memcpy(qq, q, (size_t)hd * sizeof(float));
    else
      kd->from_float(q, qq, hd);
    for (int32_t i = first; i <= p; i++) {
      float s;
      kt->vec_dot(hd, &s, ROW(op->b, i) + hk * kv_row, qq);
      s *= op->f0;
      score[i] = s;
      if (s > mx) mx = s;
    }
    for (int32_t i = first; i <= p; i++) {
      float e = expf(score[i] - mx);
      score[i] = e;
      sum += e;
    }
    float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int32_t i = first; i <= p; i++) {
      float w = score[i] * inv;
      if (op->c.type == TY_QTYPE_F16) w = ty_fp16_to_fp32(ty_fp32_to_fp16(w));
      vt->to_float(ROW(op->c, i) + hk * vv_row, vf, hd);
      for (int d = 0; d < hd; d++) out[d] += w * vf[d];
    }
  }
}


/* Cached values an ATTENTION op reads: tokens x heads x positions x head size. */
static int64_t attention_size(const struct ty_op *op) {
  int64_t span = 0;
  for (int64_t t = 0; t < op->a.rows; t++) {
    int32_t p = op->pos[t];
    span += op->i3 > 0 && p + 1 > op->i3 ? op->i3 : p + 1;
  }
  return span * op->i0 * op->i2;
}


/* GELU (tanh form) through an f16 table, as ggml computes it on the CPU:
   the input is rounded to f16 and the result is an f16 value. */
static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_init(void) {
  const float c = 0.044715f, s = 0.79788456080286535587989211986876f;  /* sqrt(2/pi) */
  for (int i = 0; i < 65536; i++) {
    float x = ty_fp16_to_fp32((uint16_t)i);
    float g = 0.5f * x * (1.0f + tanhf(s * x * (1.0f + c * x * x)));
    gelu_table[i] = ty_fp16_to_fp32(ty_fp32_to_fp16(g));
  }
}


/* y = act(x) * g over n elements (cpu_kernels.h). SiLU takes llama.cpp's
   exp approximation 16 lanes at a time from the start, so a piece of a row
   that starts on a multiple of 16 gets the floats the whole row would; GELU
   is elementwise. */
static void act_mul(const struct cpu *c, int act, int64_t n, float *y, const float *x,
                    const float *g) {
  if (act == TY_ACT_SILU)
    c->swiglu(n, y, x, g);
  else
    c->geglu(n, y, x, g, gelu_table);
}


static void glu(void *arg, int ith, int nth) {
  const struct ty_op *op = ((struct job *)arg)->op;
  int64_t n = op->a.cols;
  long lo, hi;
  if (op->i0 == TY_ACT_SILU) {
    /* whole rows */
    ty_pool_range((long)op->a.rows, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
      act_mul(((struct job *)arg)->cpu, TY_ACT_SILU, n, (float *)ROW(op->dst, t),
              (const float *)ROW(op->a, t), (const float *)ROW(op->b, t));
    return;
  }
  ty_pool_range((long)(op->a.rows * n), ith, nth, &lo, &hi);
  for (long k = lo; k < hi;) {   /* the share's piece of each row it touches */
    int64_t t = k / n, i0 = k % n, i1 = hi - k < n - i0 ? i0 + (hi - k) : n;
    act_mul(((struct job *)arg)->cpu, TY_ACT_GELU, i1 - i0, (float *)ROW(op->dst, t) + i0,
            (const float *)ROW(op->a, t) + i0, (const float *)ROW(op->b, t) + i0);
    k += i1 - i0;
  }
}


/* ADD (dst = a + b) and SCALE (dst = a * f0), elementwise, a row at a time
   when a share holds whole rows (a decode step's one row is split). */
static void elementwise(void *arg, int ith, int nth) {
  const struct ty_op *op = ((struct job *)arg)->op;
  int64_t n = op->a.cols;
  long lo, hi;
  ty_pool_range((long)(op->a.rows * n), ith, nth, &lo, &hi);
  for (long k = lo; k < hi;) {
    int64_t t = k / n, i0 = k % n, i1 = hi - k < n - i0 ? i0 + (hi - k) : n;
    const float *a = (const float *)ROW(op->a, t);
    const float *b = op->kind == TY_OP_ADD ? (const float *)ROW(op->b, t) : NULL;
    float *y = (float *)ROW(op->dst, t);
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {   /* blocks of 8 as rmsnorm_row's: y may be a or b */
      float v[8];
      if (b != NULL)
        for (int l = 0; l < 8; l++) v[l] = a[i + l] + b[i + l];
      else
        for (int l = 0; l < 8; l++) v[l] = a[i + l] * op->f0;
      memcpy(y + i, v, sizeof v);
    }
    for (; i < i1; i++) y[i] = b != NULL ? a[i] + b[i] : a[i] * op->f0;
    k += i1 - i0;
  }
}


/* ================================================================
   fused products
   ================================================================ */

/* The MATMULs a fused op stands for: q, k, v, or gate then up. */
static int fused_parts(const struct ty_op *op, struct ty_op mm[3]) {
  const struct ty_view w[3] = { op->a, op->c, op->d }, y[3] = { op->dst, op->dst2, op->dst3 };
  int n = op->kind == TY_OP_MATMUL3 ? 3 : 2;
  for (int i = 0; i < n; i++) {
    struct ty_op m = { .kind = TY_OP_MATMUL, .dst = y[i], .a = w[i], .b = op->b };
    mm[i] = m;
  }
  return n;
}


/* Tiles of 16 output rows per part; with GLU, gate's (up has the same). */
static long part_tiles(const struct job *j, long tiles[3]) {
  long total = 0;
  for (int i = 0; i < (j->glu ? 1 : j->n_part); i++)
    total += tiles[i] = tiles_of(&j->part[i].w);
  return total;
}

/* Where a thread's reads most likely go on after part p's rows [r0, r1)
   (dot_x16's `after`): with GLU, up's same rows after gate's; then the
   rows after r1, where its next take begins while its own share lasts; at
   a part's end, the next part's first. */
static const void *after_rows(const struct job *j, int p, long r0, long r1) {
  if (j->glu && p == 0) return ROW(j->part[1].w, r0);
  if (j->glu) p = 0;
  if (r1 < (long)j->part[p].w.rows) return ROW(j->part[p].w, r1);
  return !j->glu && p + 1 < j->n_part ? j->part[p + 1].w.data : NULL;
}


/* One token through a fused op in one dispatch. Work is handed out in tiles
   of 16 output rows (ty_pool_take): MATMUL3 lays the parts' tiles end to
   end; MATMUL_GLU gives a thread the same rows of gate and up, then applies
   the activation to those rows (16-aligned, so SiLU's lanes fall as over
   the whole row). */
static void matmul_parts(void *arg, int ith, int nth) {
  struct job *j = arg;
  long tiles[3], lo, hi;
  int n_tiled = j->glu ? 1 : j->n_part;
  part_tiles(j, tiles);
  while (ty_pool_take(j->cpu->pool, ith, &lo, &hi))
    for (long i = 0, base = 0; i < n_tiled; base += tiles[i], i++) {
      long t0 = lo > base ? lo - base : 0, t1 = hi - base < tiles[i] ? hi - base : tiles[i];
      if (t0 >= t1) continue;
      long r0 = t0 * MATMUL_TILE, r1 = t1 * MATMUL_TILE;
      if (r1 > (long)j->part[i].w.rows) r1 = (long)j->part[i].w.rows;
      for (int p = j->glu ? 0 : (int)i; p < (j->glu ? j->n_part : i + 1); p++) {
        const struct part *pt = &j->part[p];
        dot_rows(ty_qtype_get(pt->w.type), pt->x16, (int)pt->w.cols, pt->y, pt->w, pt->bq, r0, r1,
                 after_rows(j, p, r0, r1));
      }
      if (j->glu)
        act_mul(j->cpu, j->op->i0, r1 - r0, j->part[0].y + r0, j->part[0].y + r0,
                j->part[1].y + r0);
    }
}


static ty_status cpu_run(void *ctx, const struct ty_op *op, ty_err *err);

static ty_status run_fused(struct cpu *c, const struct ty_op *op, ty_err *err) {
  struct ty_op mm[3];
  struct job j = { .cpu = c, .op = op };
  int n = fused_parts(op, mm);
  long tiles[3];
  size_t off[3], size = 0;
  bool fresh[3];            /* part i quantizes the activations into off[i] */
  bool derive[3];           /* and appends the derived blocks */
  ty_status st;
  if (op->b.rows > 1) {
    /* a batch gains nothing from fusing: the parts as they are */
    for (int i = 0; i < n; i++)
      if ((st = run_matmul(c, &mm[i], err)) != TY_OK) return st;
    if (op->kind == TY_OP_MATMUL_GLU) {
      struct ty_op g = { .kind = TY_OP_GLU, .dst = op->dst, .a = op->dst, .b = op->dst2,
                         .i0 = op->i0 };
      return cpu_run(c, &g, err);
    }
    return TY_OK;
  }
  /* the activations once per dot type among the parts, with the derived
     blocks (ty_x16_act) where a part of that type reads repacked weights */
  for (int i = 0; i < n; i++) {
    int vt = ty_qtype_get(mm[i].a.type)->vec_dot_type;
    off[i] = size;
    fresh[i] = vt != TY_QTYPE_F32;
    derive[i] = false;
    for (int k = 0; k < i && fresh[i]; k++)
      if (ty_qtype_get(mm[k].a.type)->vec_dot_type == vt) {
        off[i] = off[k];
        fresh[i] = false;
      }
    for (int k = i; k < n && fresh[i]; k++)
      if (ty_qtype_get(mm[k].a.type)->vec_dot_type == vt && packed_dot(c, &mm[k].a) != NULL)
        derive[i] = true;
    if (fresh[i])
      size += ((derive[i] ? ty_x16_act_size(vt, op->b.cols) : ty_qtype_row_size(vt, op->b.cols)) +
               63) & ~(size_t)63;
  }
  if ((st = work_reserve(c, size, err)) != TY_OK) return st;
  for (int i = 0; i < n; i++) {
    int vt = ty_qtype_get(mm[i].a.type)->vec_dot_type;
    struct part p = { mm[i].a, packed_dot(c, &mm[i].a), (float *)mm[i].dst.data, op->b.data };
    if (vt != TY_QTYPE_F32) {
      p.bq = (char *)c->work + off[i];
      if (fresh[i])
        ty_qtype_get(vt)->from_float((const float *)op->b.data, (char *)c->work + off[i],
                                     op->b.cols);
      if (derive[i]) ty_x16_act(vt, (char *)c->work + off[i], op->b.cols);
    }
    j.part[i] = p;
  }
  j.n_part = n;
  j.glu = op->kind == TY_OP_MATMUL_GLU;
  struct product pr = { .key = op->a.data, .n = n, .glu = j.glu, .w = { mm[0].a, mm[1].a, mm[2].a } };
  warm_next(c, &pr);
  ty_pool_deal(c->pool, part_tiles(&j, tiles));
  ty_pool_run(c->pool, matmul_parts, &j);
  return TY_OK;
}


/* ================================================================
   dispatch
   ================================================================ */

static bool is_f32(const struct ty_view *v) { return v->type == TY_QTYPE_F32; }


/* A view of a repacked weight must start on a group and span whole groups
   (the model's views are whole tensors). */
static bool whole_groups(struct cpu *c, const struct ty_view *w) {
  const struct packed *k = lookup_packed(c, w->data);
  return k == NULL || ((size_t)((const char *)w->data - k->data) % k->group == 0 &&
                       w->rows % TY_X16 == 0 && w->stride * TY_X16 == k->group);
}


static bool cpu_supports(void *ctx, const struct ty_op *op) {
  const struct ty_qtype_traits *t;
  switch (op->kind) {
    case TY_OP_GET_ROWS:
      return ty_qtype_get(op->a.type) != NULL && is_f32(&op->dst) && whole_groups(ctx, &op->a);
    case TY_OP_MATMUL:
      t = ty_qtype_get(op->a.type);
      return t != NULL && t->vec_dot != NULL && is_f32(&op->b) && is_f32(&op->dst) &&
             whole_groups(ctx, &op->a) &&
             (t->vec_dot_type == TY_QTYPE_F32 || ty_qtype_get(t->vec_dot_type)->from_float != NULL);
    case TY_OP_KV_STORE:
      t = ty_qtype_get(op->dst.type);
      return t != NULL && t->from_float != NULL;
    case TY_OP_ATTENTION:
      t = ty_qtype_get(op->b.type);
      return t != NULL && t->vec_dot != NULL && ty_qtype_get(op->c.type) != NULL &&
             op->i1 > 0 && op->i0 % op->i1 == 0;
    case TY_OP_MATMUL3: case TY_OP_MATMUL_GLU: {
      struct ty_op mm[3];
      int n = fused_parts(op, mm);
      for (int i = 0; i < n; i++)
        if (!cpu_supports(ctx, &mm[i]) || mm[i].dst.rows != op->b.rows ||
            mm[i].dst.cols != mm[i].a.rows || mm[i].a.cols != op->b.cols)
          return false;
      return op->kind == TY_OP_MATMUL3 ||
             (op->a.rows == op->c.rows && (op->i0 == TY_ACT_SILU || op->i0 == TY_ACT_GELU));
    }
    default:
      return true;
  }
}


static ty_status cpu_run(void *ctx, const struct ty_op *op, ty_err *err) {
  struct cpu *c = ctx;
  struct job j = { .cpu = c, .op = op };
  ty_pool_fn fn = NULL;
  int64_t size = op->a.rows * op->a.cols;
  switch (op->kind) {
    case TY_OP_MATMUL: return run_matmul(c, op, err);
    case TY_OP_MATMUL3: case TY_OP_MATMUL_GLU: return run_fused(c, op, err);
    case TY_OP_GET_ROWS: fn = get_rows; size = op->dst.rows * op->dst.cols; break;
    case TY_OP_RMSNORM: fn = rmsnorm; note_norm(c, op); break;
    case TY_OP_ROPE: fn = rope; size = op->dst.rows * op->dst.cols; break;
    case TY_OP_KV_STORE: fn = kv_store; break;
    case TY_OP_GLU: fn = glu; break;
    case TY_OP_ADD: case TY_OP_SCALE: fn = elementwise; break;
    case TY_OP_ATTENTION: {
      int hd = op->i2;
      ty_status st;
      size_t generic = (size_t)(2 * hd + op->b.rows) * sizeof(float) +
                       ty_qtype_row_size(ty_qtype_get(op->b.type)->vec_dot_type, hd);
      size_t exact = TY_ATTN_WORK(op->b.rows, hd, op->i0 / op->i1) * sizeof(float);
      j.per_thread = ((generic > exact ? generic : exact) + 63) & ~(size_t)63;
      if ((st = work_reserve(c, j.per_thread * (size_t)ty_pool_size(c->pool), err)) != TY_OK)
        return st;
      if (attention_size(op) < SMALL_ATTN)
        attention(&j, 0, 1);
      else
        ty_pool_run(c->pool, attention, &j);
      return TY_OK;
    }
    default:
      return ty_err_set(err, TY_ERR_UNSUPPORTED, "cpu: no kernel for op %d", (int)op->kind);
  }
  if (size < SMALL_OP)
    fn(&j, 0, 1);
  else
    ty_pool_run(c->pool, fn, &j);
  return TY_OK;
}


static void cpu_close(void *ctx) {
  struct cpu *c = ctx;
  ty_pool_free(c->pool);
  free(c->after);
  free(c->work);
  for (int i = 0; i < c->n_packed; i++)
    if (c->packed[i].own) free(c->packed[i].data);
  free(c->packed);
  for (int i = 0; i < c->n_regions; i++) munmap(c->regions[i].base, c->regions[i].size);
  free(c->regions);
  free(c);
}


static const struct ty_backend_i cpu_i = {
  "cpu", cpu_alloc, cpu_free, cpu_weights, NULL, cpu_copy, cpu_copy,
  cpu_supports, cpu_run, cpu_close, NULL, NULL
};


ty_status ty_backend_cpu_open(int n_threads, ty_backend_t *out, ty_err *err) {
  struct cpu *c;
  ty_backend_t b;
  *out = NULL;
  if (n_threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = n > 0 ? (int)n : 1;
  }
  pthread_once(&gelu_once, gelu_init);
  c = calloc(1, sizeof *c);
  b = calloc(1, sizeof *b);
  if (c == NULL || b == NULL) {
    free(c);
    free(b);
    return ty_err_set(err, TY_ERR_NOMEM, "cpu backend: out of memory");
  }
  c->slab = -1;
  if ((c->pool = ty_pool_new(n_threads, err)) == NULL) {
    free(c);
    free(b);
    return err != NULL ? err->code : TY_ERR_IO;
  }
  c->after = calloc(AFTER_CAP, sizeof *c->after);   /* none: no warming */
  c->attn_f16 = ty_cpu_attn_f16;
  c->swiglu = ty_cpu_swiglu;
  c->geglu = ty_cpu_geglu;
  c->rope = ty_cpu_rope;
  c->repack = getenv("TYCHO_REPACK") == NULL || strcmp(getenv("TYCHO_REPACK"), "0") != 0;
#if defined(__x86_64__) || defined(__i386__)
  if (strcmp(ty_qtype_simd(), "scalar") != 0) {   /* AVX2, FMA and F16C are there */
    c->attn_f16 = ty_cpu_attn_f16_avx2;
    c->swiglu = ty_cpu_swiglu_avx2;
    c->geglu = ty_cpu_geglu_avx2;
    c->rope = ty_cpu_rope_avx2;
  }
  if (strcmp(ty_qtype_simd(), "avx512") == 0) {
    c->attn_f16 = ty_cpu_attn_f16_avx512;
    c->swiglu = ty_cpu_swiglu_avx512;
    c->rope = ty_cpu_rope_avx512;
  }
#endif
  b->i = &cpu_i;
  b->ctx = c;
  *out = b;
  return TY_OK;
}


int ty_backend_cpu_threads(ty_backend_t b) {
  return ty_pool_size(((struct cpu *)b->ctx)->pool);
}
