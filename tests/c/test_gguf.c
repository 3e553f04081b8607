/*
 * test_gguf.c: the GGUF reader and writer. Round trips every value type
 * through the writer, feeds the reader malformed files (each must fail with
 * a message naming the file and the problem), and checks the real models
 * when they are in the cache.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tensor/tensor.h"

static int failures = 0;

#define CHECK(cond) do { \
    if (!(cond)) { \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++; \
    } \
  } while (0)


/* {======================================================================
** Byte builder for hand-made files
** ====================================================================== */

struct bb {
  unsigned char *p;
  size_t n, cap;
};


static void bb_put(struct bb *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n)
      c *= 2;
    b->p = realloc(b->p, c);
    if (b->p == NULL) {
      fprintf(stderr, "out of memory\n");
      exit(1);
    }
    b->cap = c;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}


static void bb_u32(struct bb *b, uint32_t v) {
  unsigned char t[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                         (unsigned char)(v >> 24) };
  bb_put(b, t, 4);
}


static void bb_u64(struct bb *b, uint64_t v) {
  bb_u32(b, (uint32_t)v);
  bb_u32(b, (uint32_t)(v >> 32));
}


static void bb_str(struct bb *b, const char *s) {
  bb_u64(b, strlen(s));
  bb_put(b, s, strlen(s));
}


static void bb_hdr(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  bb_put(b, "GGUF", 4);
  bb_u32(b, version);
  bb_u64(b, n_tensors);
  bb_u64(b, n_kv);
}


static void bb_kv_u32(struct bb *b, const char *key, uint32_t v) {
  bb_str(b, key);
  bb_u32(b, TY_GGUF_UINT32);
  bb_u32(b, v);
}


static void bb_tinfo(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                     uint32_t type, uint64_t offset) {
  uint32_t d;
  bb_str(b, name);
  bb_u32(b, n_dims);
  for (d = 0; d < n_dims; d++)
    bb_u64(b, ne[d]);
  bb_u32(b, type);
  bb_u64(b, offset);
}


static void bb_pad(struct bb *b, size_t align, size_t extra) {
  static const unsigned char z[4096];
  while (b->n % align != 0)
    bb_put(b, z, 1);
  while (extra > 0) {
    size_t k = extra < sizeof z ? extra : sizeof z;
    bb_put(b, z, k);
    extra -= k;
  }
}


/* Opens n bytes copied into an exact-size heap block (so ASan sees any
   over-read) and expects failure with "name" and want in the message. */
static void expect_fail_mem(const struct bb *b, size_t n, const char *want, int line) {
  unsigned char *copy = malloc(n ? n : 1);
  ty_gguf *g = (ty_gguf *)1;
  ty_err err;
  ty_status s;
  memcpy(copy, b->p, n);
  s = ty_gguf_open_mem(copy, n, "bad.gguf", &g, &err);
  if (s == TY_OK) {
    fprintf(stderr, "line %d: opening %zu bytes succeeded, expected '%s'\n", line, n, want);
    failures++;
    ty_gguf_close(g);
  } else {
    if (g != NULL) {
      fprintf(stderr, "line %d: *out not NULL on failure\n", line);
      failures++;
    }
    if (strstr(err.msg, "bad.gguf") == NULL || (want != NULL && strstr(err.msg, want) == NULL) ||
        err.code != s) {
      fprintf(stderr, "line %d: message '%s' lacks 'bad.gguf' or '%s'\n", line, err.msg,
              want ? want : "");
      failures++;
    }
  }
  free(copy);
}

#define EXPECT_FAIL(b, want) expect_fail_mem((b), (b)->n, (want), __LINE__)


/* Writes n bytes to a fresh temp file; path receives its name. */
static int write_temp(const void *p, size_t n, char *path) {
  int fd;
  strcpy(path, "/tmp/tycho_test_gguf_XXXXXX");
  fd = mkstemp(path);
  if (fd < 0)
    return 0;
  if (n > 0 && write(fd, p, n) != (ssize_t)n) {
    close(fd);
    unlink(path);
    return 0;
  }
  close(fd);
  return 1;
}


/* Same as expect_fail_mem, through a temp file and ty_gguf_open. */
static void expect_fail_file(const struct bb *b, size_t n, const char *want, int line) {
  char path[64];
  ty_gguf *g = NULL;
  ty_err err;
  if (!write_temp(b->p, n, path)) {
    fprintf(stderr, "line %d: cannot write a temp file\n", line);
    failures++;
    return;
  }
  if (ty_gguf_open(path, &g, &err) == TY_OK) {
    fprintf(stderr, "line %d: opening file of %zu bytes succeeded, expected '%s'\n", line, n,
            want ? want : "");
    failures++;
    ty_gguf_close(g);
  } else if (strstr(err.msg, path) == NULL || (want != NULL && strstr(err.msg, want) == NULL)) {
    fprintf(stderr, "line %d: message '%s' lacks '%s' or '%s'\n", line, err.msg, path,
            want ? want : "");
    failures++;
  }
  unlink(path);
}


/* }====================================================================== */


/* {======================================================================
** Round trip
** ====================================================================== */

static int str_eq(struct ty_gguf_str s, const char *c) {
  return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}


static void fill(unsigned char *p, size_t n, unsigned seed) {
  size_t i;
  for (i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (unsigned char)(seed >> 16);
  }
}


struct tspec { const char *name; int type; uint32_t n_dims; int64_t ne[4]; };

static const struct tspec tspecs[] = {
  { "tok.f32", TY_QTYPE_F32, 2, { 5, 3, 1, 1 } },
  { "blk.0.f16", TY_QTYPE_F16, 1, { 7, 1, 1, 1 } },
  { "blk.0.q4_0", TY_QTYPE_Q4_0, 2, { 64, 3, 1, 1 } },
  { "blk.0.q8_0", TY_QTYPE_Q8_0, 3, { 32, 2, 2, 1 } },
  { "blk.0.q4_k", TY_QTYPE_Q4_K, 4, { 256, 2, 1, 2 } },
  { "blk.0.q6_k", TY_QTYPE_Q6_K, 2, { 512, 1, 1, 1 } },
  { "out.bf16", TY_QTYPE_BF16, 1, { 3, 1, 1, 1 } },
};
#define N_TSPECS (sizeof tspecs / sizeof tspecs[0])


static size_t tspec_bytes(const struct tspec *t) {
  return ty_qtype_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}


static void test_round_trip(void) {
  ty_gguf_writer *w = ty_gguf_writer_new();
  const char *strs[] = { "alpha", "", "gamma with spaces", "\xe2\x96\x81tok" };
  const char *strs2[] = { "x", "yz" };
  uint32_t u32s[] = { 1, 2, 0xffffffffu };
  int8_t i8s[] = { -128, 0, 127 };
  uint16_t u16s[] = { 0, 65535 };
  int16_t i16s[] = { -32768, 32767 };
  int32_t i32s[] = { -5, 6 };
  float f32s[] = { 1.5f, -2.25f };
  uint64_t u64s[] = { 0, 0xffffffffffffffffull };
  int64_t i64s[] = { INT64_MIN, INT64_MAX };
  double f64s[] = { 3.141592653589793, -1e300 };
  unsigned char bools[] = { 1, 0, 1 };
  uint8_t u8s[] = { 9, 8, 7, 6 };
  struct ty_gguf_value v, inner[3], deep[2], sv[2];
  unsigned char *data[N_TSPECS];
  char path[64];
  ty_gguf *g = NULL;
  ty_err err;
  size_t i;

  CHECK(w != NULL);
  if (w == NULL)
    return;
  ty_gguf_writer_set_alignment(w, 64);
  CHECK(ty_gguf_writer_set_str(w, "general.architecture", "llama") == TY_OK);
  CHECK(ty_gguf_writer_set_u32(w, "llama.block_count", 30) == TY_OK);
  CHECK(ty_gguf_writer_set_i32(w, "test.i32", -7) == TY_OK);
  CHECK(ty_gguf_writer_set_u64(w, "test.u64", 1ull << 40) == TY_OK);
  CHECK(ty_gguf_writer_set_f32(w, "test.f32", 0.5f) == TY_OK);
  CHECK(ty_gguf_writer_set_bool(w, "test.bool", true) == TY_OK);
  memset(&v, 0, sizeof v);
  v.type = TY_GGUF_UINT8; v.v.u = 200;
  CHECK(ty_gguf_writer_set_value(w, "test.u8", &v) == TY_OK);
  v.type = TY_GGUF_INT8; v.v.i = -100;
  CHECK(ty_gguf_writer_set_value(w, "test.i8", &v) == TY_OK);
  v.type = TY_GGUF_UINT16; v.v.u = 60000;
  CHECK(ty_gguf_writer_set_value(w, "test.u16", &v) == TY_OK);
  v.type = TY_GGUF_INT16; v.v.i = -30000;
  CHECK(ty_gguf_writer_set_value(w, "test.i16", &v) == TY_OK);
  v.type = TY_GGUF_INT64; v.v.i = -(1ll << 50);
  CHECK(ty_gguf_writer_set_value(w, "test.i64", &v) == TY_OK);
  v.type = TY_GGUF_FLOAT64; v.v.f = 2.718281828459045;
  CHECK(ty_gguf_writer_set_value(w, "test.f64", &v) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.u8", TY_GGUF_UINT8, u8s, 4) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.i8", TY_GGUF_INT8, i8s, 3) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.u16", TY_GGUF_UINT16, u16s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.i16", TY_GGUF_INT16, i16s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.u32", TY_GGUF_UINT32, u32s, 3) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.i32", TY_GGUF_INT32, i32s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.f32", TY_GGUF_FLOAT32, f32s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.bool", TY_GGUF_BOOL, bools, 3) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.u64", TY_GGUF_UINT64, u64s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.i64", TY_GGUF_INT64, i64s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.f64", TY_GGUF_FLOAT64, f64s, 2) == TY_OK);
  CHECK(ty_gguf_writer_set_arr(w, "arr.empty", TY_GGUF_UINT32, NULL, 0) == TY_OK);
  CHECK(ty_gguf_writer_set_arr_str(w, "arr.str", strs, 4) == TY_OK);
  /* array of arrays: [[1,2,0xffffffff], ["x","yz"], [[ "x","yz" ], [ "x","yz" ]]] is
     not homogeneous, so build [[u32...], [u32...]] and [[[str]], [[str]]] */
  memset(inner, 0, sizeof inner);
  memset(sv, 0, sizeof sv);
  sv[0].type = TY_GGUF_STRING; sv[0].v.str.ptr = strs2[0]; sv[0].v.str.len = 1;
  sv[1].type = TY_GGUF_STRING; sv[1].v.str.ptr = strs2[1]; sv[1].v.str.len = 2;
  inner[0].type = TY_GGUF_ARRAY; inner[0].v.arr.type = TY_GGUF_UINT32;
  inner[0].v.arr.n = 3; inner[0].v.arr.data = u32s;
  inner[1].type = TY_GGUF_ARRAY; inner[1].v.arr.type = TY_GGUF_UINT32;
  inner[1].v.arr.n = 1; inner[1].v.arr.data = u32s + 2;
  memset(&v, 0, sizeof v);
  v.type = TY_GGUF_ARRAY; v.v.arr.type = TY_GGUF_ARRAY; v.v.arr.n = 2; v.v.arr.items = inner;
  CHECK(ty_gguf_writer_set_value(w, "arr.arr_u32", &v) == TY_OK);
  memset(deep, 0, sizeof deep);
  deep[0].type = TY_GGUF_ARRAY; deep[0].v.arr.type = TY_GGUF_STRING;
  deep[0].v.arr.n = 2; deep[0].v.arr.items = sv;
  deep[1] = deep[0];
  deep[1].v.arr.n = 1;
  inner[2].type = TY_GGUF_ARRAY; inner[2].v.arr.type = TY_GGUF_ARRAY;
  inner[2].v.arr.n = 2; inner[2].v.arr.items = deep;
  v.v.arr.n = 1; v.v.arr.items = inner + 2;
  CHECK(ty_gguf_writer_set_value(w, "arr.arr_arr_str", &v) == TY_OK);
  /* replacing keeps the position */
  CHECK(ty_gguf_writer_set_u32(w, "llama.block_count", 31) == TY_OK);
  CHECK(ty_gguf_writer_set_u32(w, "llama.block_count", 30) == TY_OK);
  /* a value with a mismatched item type is refused */
  inner[0].v.arr.type = TY_GGUF_UINT32;
  v.v.arr.type = TY_GGUF_STRING; v.v.arr.items = inner; v.v.arr.n = 1;
  CHECK(ty_gguf_writer_set_value(w, "bad", &v) == TY_ERR_ARG);

  for (i = 0; i < N_TSPECS; i++) {
    size_t nb = tspec_bytes(&tspecs[i]);
    data[i] = malloc(nb);
    fill(data[i], nb, (unsigned)i + 1);
    CHECK(ty_gguf_writer_add_tensor(w, tspecs[i].name, tspecs[i].type, tspecs[i].n_dims,
                                    tspecs[i].ne, data[i], &err) == TY_OK);
  }
  {
    int64_t ne[2] = { 33, 1 };
    CHECK(ty_gguf_writer_add_tensor(w, "tok.f32", TY_QTYPE_F32, 1, ne, data[0], &err)
          == TY_ERR_ARG && strstr(err.msg, "duplicate") != NULL);
    CHECK(ty_gguf_writer_add_tensor(w, "q", TY_QTYPE_Q4_0, 1, ne, data[0], &err)
          == TY_ERR_ARG && strstr(err.msg, "block size") != NULL);
    CHECK(ty_gguf_writer_add_tensor(w, "q", 4, 1, ne, data[0], &err) == TY_ERR_ARG &&
          strstr(err.msg, "unknown tensor type id 4") != NULL);
  }

  CHECK(write_temp("", 0, path));
  if (ty_gguf_writer_write(w, path, &err) != TY_OK) {
    fprintf(stderr, "write failed: %s\n", err.msg);
    failures++;
  }
  ty_gguf_writer_free(w);
  if (ty_gguf_open(path, &g, &err) != TY_OK) {
    fprintf(stderr, "open of written file failed: %s\n", err.msg);
    failures++;
    unlink(path);
    for (i = 0; i < N_TSPECS; i++)
      free(data[i]);
    return;
  }
  CHECK(strcmp(ty_gguf_path(g), path) == 0);
  CHECK(ty_gguf_version(g) == 3);
  CHECK(ty_gguf_alignment(g) == 64);
  CHECK(ty_gguf_data_offset(g) % 64 == 0);
  CHECK(ty_gguf_n_kv(g) == 28);
  CHECK(ty_gguf_n_tensors(g) == N_TSPECS);
  {
    const struct ty_gguf_kv *kv0 = ty_gguf_kv_at(g, 0), *kv1 = ty_gguf_kv_at(g, 1);
    const struct ty_gguf_kv *kvl = ty_gguf_kv_at(g, 27);
    CHECK(kv0 && str_eq(kv0->key, "general.architecture"));
    CHECK(kv1 && str_eq(kv1->key, "llama.block_count") && kv1->value.v.u == 30);
    CHECK(kvl && str_eq(kvl->key, "general.alignment"));
    CHECK(ty_gguf_kv_at(g, 28) == NULL);
  }
  {
    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    struct ty_gguf_str s;
    const struct ty_gguf_kv *kv;
    CHECK(ty_gguf_get_str(g, "general.architecture", &s) && str_eq(s, "llama"));
    CHECK(ty_gguf_get_u32(g, "llama.block_count", &u32) && u32 == 30);
    CHECK(ty_gguf_get_u32(g, "general.alignment", &u32) && u32 == 64);
    CHECK(!ty_gguf_get_u32(g, "test.i32", &u32));               /* negative */
    CHECK(ty_gguf_get_i64(g, "test.i32", &i64) && i64 == -7);
    CHECK(!ty_gguf_get_u32(g, "test.u64", &u32));               /* too large */
    CHECK(ty_gguf_get_i64(g, "test.u64", &i64) && i64 == (1ll << 40));
    CHECK(ty_gguf_get_f32(g, "test.f32", &f) && f == 0.5f);
    CHECK(ty_gguf_get_f32(g, "llama.block_count", &f) && f == 30.0f);
    CHECK(!ty_gguf_get_f32(g, "general.architecture", &f));
    CHECK(ty_gguf_get_bool(g, "test.bool", &b) && b);
    CHECK(!ty_gguf_get_bool(g, "llama.block_count", &b));
    CHECK(!ty_gguf_get_str(g, "llama.block_count", &s));
    CHECK(!ty_gguf_get_u32(g, "no.such.key", &u32));
    CHECK(ty_gguf_find(g, "no.such.key") == NULL);
    CHECK(ty_gguf_get_arr(g, "llama.block_count") == NULL);
    CHECK(ty_gguf_get_u32(g, "test.u8", &u32) && u32 == 200);
    CHECK(ty_gguf_get_i64(g, "test.i8", &i64) && i64 == -100);
    CHECK(ty_gguf_get_u32(g, "test.u16", &u32) && u32 == 60000);
    CHECK(ty_gguf_get_i64(g, "test.i16", &i64) && i64 == -30000);
    CHECK(ty_gguf_get_i64(g, "test.i64", &i64) && i64 == -(1ll << 50));
    kv = ty_gguf_find(g, "test.f64");
    CHECK(kv && kv->value.type == TY_GGUF_FLOAT64 && kv->value.v.f == 2.718281828459045);
    kv = ty_gguf_find(g, "test.i8");
    CHECK(kv && kv->value.type == TY_GGUF_INT8);
    CHECK(strcmp(ty_gguf_vtype_name(TY_GGUF_ARRAY), "array") == 0);
    CHECK(strcmp(ty_gguf_vtype_name(99), "unknown") == 0);
  }
  {
    const struct { const char *key; enum ty_gguf_vtype t; uint64_t n; const void *d;
                          size_t sz; } arrs[] = {
      { "arr.u8", TY_GGUF_UINT8, 4, u8s, 1 }, { "arr.i8", TY_GGUF_INT8, 3, i8s, 1 },
      { "arr.u16", TY_GGUF_UINT16, 2, u16s, 2 }, { "arr.i16", TY_GGUF_INT16, 2, i16s, 2 },
      { "arr.u32", TY_GGUF_UINT32, 3, u32s, 4 }, { "arr.i32", TY_GGUF_INT32, 2, i32s, 4 },
      { "arr.f32", TY_GGUF_FLOAT32, 2, f32s, 4 }, { "arr.bool", TY_GGUF_BOOL, 3, bools, 1 },
      { "arr.u64", TY_GGUF_UINT64, 2, u64s, 8 }, { "arr.i64", TY_GGUF_INT64, 2, i64s, 8 },
      { "arr.f64", TY_GGUF_FLOAT64, 2, f64s, 8 }, { "arr.empty", TY_GGUF_UINT32, 0, u32s, 4 },
    };
    const struct ty_gguf_value *a;
    size_t k;
    for (k = 0; k < sizeof arrs / sizeof arrs[0]; k++) {
      a = ty_gguf_get_arr(g, arrs[k].key);
      CHECK(a != NULL);
      if (a == NULL)
        continue;
      if (a->v.arr.type != arrs[k].t || a->v.arr.n != arrs[k].n || a->v.arr.items != NULL ||
          memcmp(a->v.arr.data, arrs[k].d, arrs[k].n * arrs[k].sz) != 0) {
        fprintf(stderr, "array %s does not round trip\n", arrs[k].key);
        failures++;
      }
    }
    a = ty_gguf_get_arr(g, "arr.str");
    CHECK(a && a->v.arr.type == TY_GGUF_STRING && a->v.arr.n == 4 && a->v.arr.items);
    if (a && a->v.arr.items)
      for (k = 0; k < 4; k++)
        CHECK(a->v.arr.items[k].type == TY_GGUF_STRING && str_eq(a->v.arr.items[k].v.str, strs[k]));
    a = ty_gguf_get_arr(g, "arr.arr_u32");
    CHECK(a && a->v.arr.type == TY_GGUF_ARRAY && a->v.arr.n == 2 && a->v.arr.items);
    if (a && a->v.arr.items) {
      const struct ty_gguf_value *x = &a->v.arr.items[0], *y = &a->v.arr.items[1];
      CHECK(x->type == TY_GGUF_ARRAY && x->v.arr.type == TY_GGUF_UINT32 && x->v.arr.n == 3 &&
            memcmp(x->v.arr.data, u32s, 12) == 0);
      CHECK(y->type == TY_GGUF_ARRAY && y->v.arr.n == 1 && memcmp(y->v.arr.data, u32s + 2, 4) == 0);
    }
    a = ty_gguf_get_arr(g, "arr.arr_arr_str");
    CHECK(a && a->v.arr.n == 1 && a->v.arr.items);
    if (a && a->v.arr.items) {
      const struct ty_gguf_value *x = &a->v.arr.items[0];
      CHECK(x->v.arr.type == TY_GGUF_ARRAY && x->v.arr.n == 2 && x->v.arr.items);
      if (x->v.arr.items) {
        const struct ty_gguf_value *s0 = &x->v.arr.items[0], *s1 = &x->v.arr.items[1];
        CHECK(s0->v.arr.type == TY_GGUF_STRING && s0->v.arr.n == 2 && s0->v.arr.items &&
              str_eq(s0->v.arr.items[1].v.str, "yz"));
        CHECK(s1->v.arr.n == 1 && s1->v.arr.items && str_eq(s1->v.arr.items[0].v.str, "x"));
      }
    }
  }
  for (i = 0; i < N_TSPECS; i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_find(g, tspecs[i].name);
    CHECK(t != NULL && t == ty_gguf_tensor_at(g, i));
    if (t == NULL)
      continue;
    CHECK(t->type == tspecs[i].type && t->n_dims == tspecs[i].n_dims);
    CHECK(memcmp(t->ne, tspecs[i].ne, sizeof t->ne) == 0);
    CHECK(t->nbytes == tspec_bytes(&tspecs[i]) && t->offset % 64 == 0);
    CHECK((const char *)t->data == (const char *)ty_gguf_base(g) + ty_gguf_data_offset(g) + t->offset);
    CHECK(memcmp(t->data, data[i], t->nbytes) == 0);
  }
  CHECK(ty_gguf_tensor_find(g, "nope") == NULL);
  CHECK(ty_gguf_tensor_at(g, N_TSPECS) == NULL);
  CHECK(ty_gguf_file_size(g) >= ty_gguf_data_offset(g));
  ty_gguf_close(g);
  ty_gguf_close(NULL);
  unlink(path);
  for (i = 0; i < N_TSPECS; i++)
    free(data[i]);
}


/* A written file with default alignment: general.alignment is not written,
   and the file ends exactly at the end of the last tensor. */
static void test_default_alignment(struct bb *out) {
  ty_gguf_writer *w = ty_gguf_writer_new();
  int64_t ne[2] = { 8, 2 };
  float d[16];
  const char *toks[] = { "a", "bc" };
  char path[64];
  ty_gguf *g = NULL;
  ty_err err;
  FILE *f;
  long n;
  int i;
  for (i = 0; i < 16; i++)
    d[i] = (float)i;
  CHECK(w != NULL);
  CHECK(ty_gguf_writer_set_str(w, "general.architecture", "x") == TY_OK);
  CHECK(ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2) == TY_OK);
  CHECK(ty_gguf_writer_add_tensor(w, "w", TY_QTYPE_F32, 2, ne, d, &err) == TY_OK);
  CHECK(ty_gguf_writer_add_tensor(w, "v", TY_QTYPE_F32, 1, ne, d, &err) == TY_OK);
  CHECK(write_temp("", 0, path));
  CHECK(ty_gguf_writer_write(w, path, &err) == TY_OK);
  ty_gguf_writer_free(w);
  CHECK(ty_gguf_open(path, &g, &err) == TY_OK);
  if (g != NULL) {
    CHECK(ty_gguf_n_kv(g) == 2 && ty_gguf_alignment(g) == 32);
    CHECK(ty_gguf_find(g, "general.alignment") == NULL);
    CHECK(ty_gguf_file_size(g) == ty_gguf_data_offset(g) + 96);
    ty_gguf_close(g);
  }
  f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f != NULL) {
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->n = 0;
    bb_pad(out, 1, (size_t)n);
    CHECK(fread(out->p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
  }
  unlink(path);
  /* a bad alignment is refused by the writer */
  w = ty_gguf_writer_new();
  ty_gguf_writer_set_alignment(w, 48);
  CHECK(ty_gguf_writer_write(w, path, &err) == TY_ERR_ARG && strstr(err.msg, "alignment"));
  ty_gguf_writer_free(w);
  CHECK(access(path, F_OK) != 0);
}


/* }====================================================================== */


/* {======================================================================
** Bad inputs
** ====================================================================== */

static void test_truncation(const struct bb *good) {
  size_t n;
  ty_gguf *g = NULL;
  ty_err err;
  CHECK(ty_gguf_open_mem(good->p, good->n, "good.gguf", &g, &err) == TY_OK);
  ty_gguf_close(g);
  for (n = 0; n < good->n; n++)
    expect_fail_mem(good, n, n < 4 ? "truncated at offset" : NULL, __LINE__);
  for (n = 0; n < good->n; n += 13)
    expect_fail_file(good, n, NULL, __LINE__);
  expect_fail_mem(good, 60, "file truncated at offset 60 while reading key 'general.architecture'",
                  __LINE__);
}


static void test_bad_inputs(void) {
  struct bb b = {0};
  uint64_t ne[5] = { 32, 2, 1, 1, 1 };
  ty_gguf *g = NULL;
  ty_err err;

  /* a valid reference file: one key, one tensor */
  bb_hdr(&b, 3, 1, 1);
  bb_kv_u32(&b, "a.b", 1);
  bb_tinfo(&b, "t", 2, ne, TY_QTYPE_F32, 0);
  bb_pad(&b, 32, 256);
  CHECK(ty_gguf_open_mem(b.p, b.n, "ok.gguf", &g, &err) == TY_OK);
  ty_gguf_close(g);
  CHECK(ty_gguf_open_mem(b.p, b.n, NULL, &g, &err) == TY_OK);   /* a NULL name is allowed */
  ty_gguf_close(g);

  b.n = 0;
  bb_put(&b, "PK\x03\x04", 4);
  bb_pad(&b, 1, 60);
  EXPECT_FAIL(&b, "bad magic 'GGUF' expected, found 'PK\\x03\\x04' at offset 0");
  expect_fail_file(&b, b.n, "bad magic", __LINE__);

  b.n = 0;
  bb_hdr(&b, 1, 0, 0);
  EXPECT_FAIL(&b, "version 1 is not supported");
  b.n = 0;
  bb_hdr(&b, 4, 0, 0);
  EXPECT_FAIL(&b, "version 4 is not supported");
  b.n = 0;
  bb_hdr(&b, 3u << 24, 0, 0);
  EXPECT_FAIL(&b, "big-endian");
  b.n = 0;
  bb_hdr(&b, 2, 0, 0);
  CHECK(ty_gguf_open_mem(b.p, b.n, "v2.gguf", &g, &err) == TY_OK && ty_gguf_version(g) == 2);
  ty_gguf_close(g);

  /* counts */
  b.n = 0;
  bb_hdr(&b, 3, 0, 1ull << 60);
  bb_pad(&b, 1, 100);
  EXPECT_FAIL(&b, "key count 1152921504606846976");
  b.n = 0;
  bb_hdr(&b, 3, 1ull << 62, 0);
  bb_pad(&b, 1, 100);
  EXPECT_FAIL(&b, "tensor count");

  /* tensor data past the end */
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "blk.3.ffn_up.weight", 2, ne, TY_QTYPE_F32, 0);
  bb_pad(&b, 32, 255);
  EXPECT_FAIL(&b, "tensor 'blk.3.ffn_up.weight' data runs past the end of the file (offset 96 + 256 bytes > size 351)");
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 2, ne, TY_QTYPE_F32, 0xffffffffffffffe0ull);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "data runs past the end");

  /* unknown type ids: past the table, in a gap, huge */
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 2, ne, 99, 0);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "tensor 't' has unknown tensor type id 99");
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 2, ne, 4, 0);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "unknown tensor type id 4");
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 2, ne, 0xfffffff0u, 0);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "unknown tensor type id 4294967280");

  /* absurd dimensions */
  {
    uint64_t big[2] = { 1ull << 62, 1ull << 62 }, zero[2] = { 32, 0 }, neg[1] = { 1ull << 63 };
    uint64_t huge_row[2] = { 1ull << 62, 1 }, odd[1] = { 33 };
    b.n = 0;
    bb_hdr(&b, 3, 1, 0);
    bb_tinfo(&b, "t", 2, big, TY_QTYPE_F32, 0);
    bb_pad(&b, 32, 256);
    EXPECT_FAIL(&b, "element count overflows");
    b.n = 0;
    bb_hdr(&b, 3, 1, 0);
    bb_tinfo(&b, "t", 2, huge_row, TY_QTYPE_F32, 0);
    bb_pad(&b, 32, 256);
    EXPECT_FAIL(&b, "data runs past the end");
    b.n = 0;
    bb_hdr(&b, 3, 1, 0);
    bb_tinfo(&b, "t", 2, zero, TY_QTYPE_F32, 0);
    bb_pad(&b, 32, 256);
    EXPECT_FAIL(&b, "dimension 1 is 0");
    b.n = 0;
    bb_hdr(&b, 3, 1, 0);
    bb_tinfo(&b, "t", 1, neg, TY_QTYPE_F32, 0);
    bb_pad(&b, 32, 256);
    EXPECT_FAIL(&b, "dimension 0 is 9223372036854775808");
    b.n = 0;
    bb_hdr(&b, 3, 1, 0);
    bb_tinfo(&b, "t", 1, odd, TY_QTYPE_Q4_0, 0);
    bb_pad(&b, 32, 256);
    EXPECT_FAIL(&b, "row size not a multiple of the block size");
  }
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 5, ne, TY_QTYPE_F32, 0);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "tensor 't' has 5 dimensions");
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 0, ne, TY_QTYPE_F32, 0);
  bb_pad(&b, 32, 256);
  EXPECT_FAIL(&b, "has 0 dimensions");

  /* duplicates */
  b.n = 0;
  bb_hdr(&b, 3, 2, 0);
  bb_tinfo(&b, "same", 2, ne, TY_QTYPE_F32, 0);
  bb_tinfo(&b, "same", 2, ne, TY_QTYPE_F32, 256);
  bb_pad(&b, 32, 512);
  EXPECT_FAIL(&b, "duplicate tensor name 'same'");
  b.n = 0;
  bb_hdr(&b, 3, 0, 2);
  bb_kv_u32(&b, "k.x", 1);
  bb_kv_u32(&b, "k.x", 2);
  EXPECT_FAIL(&b, "duplicate key 'k.x' at offset 43");

  /* alignment */
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_kv_u32(&b, "general.alignment", 48);
  EXPECT_FAIL(&b, "bad alignment 48");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_kv_u32(&b, "general.alignment", 0);
  EXPECT_FAIL(&b, "bad alignment 0");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "general.alignment");
  bb_u32(&b, TY_GGUF_STRING);
  bb_str(&b, "32");
  EXPECT_FAIL(&b, "has type string, expected uint32");
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_tinfo(&b, "t", 2, ne, TY_QTYPE_F32, 16);
  bb_pad(&b, 32, 512);
  EXPECT_FAIL(&b, "tensor 't' offset 16 is not a multiple of the alignment 32");
  b.n = 0;
  bb_hdr(&b, 3, 1, 1);
  bb_kv_u32(&b, "general.alignment", 16);
  bb_tinfo(&b, "t", 2, ne, TY_QTYPE_F32, 16);
  bb_pad(&b, 16, 512);
  CHECK(ty_gguf_open_mem(b.p, b.n, "a16.gguf", &g, &err) == TY_OK && ty_gguf_alignment(g) == 16);
  ty_gguf_close(g);

  /* huge string length, in a key and in a value */
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_u64(&b, 1ull << 63);
  bb_pad(&b, 1, 64);
  EXPECT_FAIL(&b, "string length 9223372036854775808 at offset 24");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "s");
  bb_u32(&b, TY_GGUF_STRING);
  bb_u64(&b, 0xffffffffffffffffull);
  bb_pad(&b, 1, 64);
  EXPECT_FAIL(&b, "while reading key 's'");

  /* huge array counts: fixed elements whose byte size overflows, strings, arrays */
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "tokenizer.ggml.scores");
  bb_u32(&b, TY_GGUF_ARRAY);
  bb_u32(&b, TY_GGUF_FLOAT32);
  bb_u64(&b, 1ull << 62);
  bb_pad(&b, 1, 64);
  EXPECT_FAIL(&b, "array count 4611686018427387904");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "tokenizer.ggml.tokens");
  bb_u32(&b, TY_GGUF_ARRAY);
  bb_u32(&b, TY_GGUF_STRING);
  bb_u64(&b, 1000000000000ull);
  bb_pad(&b, 1, 64);
  EXPECT_FAIL(&b, "too large for the file");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "a");
  bb_u32(&b, TY_GGUF_ARRAY);
  bb_u32(&b, TY_GGUF_ARRAY);
  bb_u64(&b, 1ull << 40);
  bb_pad(&b, 1, 64);
  EXPECT_FAIL(&b, "array count");

  /* nesting: 8 levels are fine, 9 are not */
  {
    int depth;
    for (depth = 8; depth <= 9; depth++) {
      int d;
      b.n = 0;
      bb_hdr(&b, 3, 0, 1);
      bb_str(&b, "nest");
      bb_u32(&b, TY_GGUF_ARRAY);
      for (d = 0; d < depth - 1; d++) {
        bb_u32(&b, TY_GGUF_ARRAY);
        bb_u64(&b, 1);
      }
      bb_u32(&b, TY_GGUF_UINT8);
      bb_u64(&b, 1);
      bb_u32(&b, 7);
      if (depth == 8) {
        CHECK(ty_gguf_open_mem(b.p, b.n, "nest.gguf", &g, &err) == TY_OK);
        ty_gguf_close(g);
      } else {
        EXPECT_FAIL(&b, "nested deeper than 8 levels");
      }
    }
  }

  /* unknown value types */
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "k");
  bb_u32(&b, 13);
  bb_u32(&b, 0);
  EXPECT_FAIL(&b, "unknown value type 13 at offset 33");
  b.n = 0;
  bb_hdr(&b, 3, 0, 1);
  bb_str(&b, "k");
  bb_u32(&b, TY_GGUF_ARRAY);
  bb_u32(&b, 77);
  bb_u64(&b, 0);
  EXPECT_FAIL(&b, "unknown array element type 77");

  /* a tensor name with a NUL byte */
  b.n = 0;
  bb_hdr(&b, 3, 1, 0);
  bb_u64(&b, 3);
  bb_put(&b, "a\0b", 3);
  bb_u32(&b, 1);
  bb_u64(&b, 32);
  bb_u32(&b, TY_QTYPE_F32);
  bb_u64(&b, 0);
  bb_pad(&b, 32, 128);
  EXPECT_FAIL(&b, "contains a NUL byte");

  /* missing files and directories */
  CHECK(ty_gguf_open("/nonexistent/x.gguf", &g, &err) == TY_ERR_IO && g == NULL &&
        strstr(err.msg, "/nonexistent/x.gguf") != NULL);
  CHECK(ty_gguf_open("/tmp", &g, &err) == TY_ERR_IO && strstr(err.msg, "not a regular file"));
  free(b.p);
}


/* }====================================================================== */


/* {======================================================================
** Real models
** ====================================================================== */

static int model_path(char *out, size_t cap, const char *file) {
  const char *home = getenv("TYCHO_HOME");
  if (home != NULL && home[0] != '\0')
    snprintf(out, cap, "%s/models/%s", home, file);
  else if ((home = getenv("HOME")) != NULL)
    snprintf(out, cap, "%s/.cache/tycho/models/%s", home, file);
  else
    return 0;
  return access(out, R_OK) == 0;
}


static void test_models(void) {
  char path[1024];
  ty_gguf *g = NULL;
  ty_err err;
  struct ty_gguf_str s;
  uint32_t u32;
  if (!model_path(path, sizeof path, "SmolLM2-135M-Instruct.Q4_1.gguf")) {
    printf("test_gguf: skipping SmolLM2 checks (%s not found)\n", path);
  } else if (ty_gguf_open(path, &g, &err) != TY_OK) {
    fprintf(stderr, "open %s failed: %s\n", path, err.msg);
    failures++;
  } else {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_find(g, "token_embd.weight");
    CHECK(ty_gguf_n_tensors(g) == 272);
    CHECK(ty_gguf_n_kv(g) == 33);
    CHECK(ty_gguf_get_str(g, "general.architecture", &s) && str_eq(s, "llama"));
    CHECK(ty_gguf_get_u32(g, "llama.block_count", &u32) && u32 == 30);
    CHECK(t != NULL && t->type == TY_QTYPE_Q8_0 && t->n_dims == 2 && t->ne[0] == 576 &&
          t->ne[1] == 49152);
    printf("test_gguf: %s: %llu tensors, %llu kv\n", path,
           (unsigned long long)ty_gguf_n_tensors(g), (unsigned long long)ty_gguf_n_kv(g));
    ty_gguf_close(g);
  }
  g = NULL;
  if (!model_path(path, sizeof path, "gemma-3-270m-q4_k_m.gguf")) {
    printf("test_gguf: skipping gemma checks (%s not found)\n", path);
  } else if (ty_gguf_open(path, &g, &err) != TY_OK) {
    fprintf(stderr, "open %s failed: %s\n", path, err.msg);
    failures++;
  } else {
    const struct ty_gguf_value *a = ty_gguf_get_arr(g, "tokenizer.ggml.tokens");
    CHECK(ty_gguf_n_tensors(g) == 236);
    CHECK(ty_gguf_get_str(g, "general.architecture", &s) && str_eq(s, "gemma3"));
    CHECK(ty_gguf_get_u32(g, "gemma3.attention.sliding_window", &u32) && u32 == 512);
    CHECK(a != NULL && a->v.arr.type == TY_GGUF_STRING && a->v.arr.n == 262144 &&
          a->v.arr.items != NULL);
    printf("test_gguf: %s: %llu tensors, %llu kv\n", path,
           (unsigned long long)ty_gguf_n_tensors(g), (unsigned long long)ty_gguf_n_kv(g));
    ty_gguf_close(g);
  }
}


/* }====================================================================== */


int main(void) {
  struct bb good = {0};
  test_round_trip();
  test_default_alignment(&good);
  test_truncation(&good);
  test_bad_inputs();
  test_models();
  free(good.p);
  if (failures != 0) {
    fprintf(stderr, "test_gguf: %d checks failed\n", failures);
    return 1;
  }
  printf("test_gguf: all checks passed\n");
  return 0;
}
