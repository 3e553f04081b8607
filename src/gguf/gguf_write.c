/*
 * gguf_write.c: the GGUF v3 writer. Key-values are serialized as they are
 * set (so deep values need no deep copy), tensors are copied (or declared
 * without data, which leaves a hole in the file), and the file is written to
 * path.tmp and renamed into place.
 */
#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/tensor.h"

#define WRITER_MAX_DEPTH 8         /* same nesting limit as the reader */

struct wbuf {
  uint8_t *p;
  size_t n, cap;
  int oom;                         /* set once an append failed */
};

struct wkv {
  char *key;
  struct wbuf val;                 /* u32 type + value bytes */
};

struct wtensor {
  char *name;
  int type;
  uint32_t n_dims;
  int64_t ne[TY_GGUF_MAX_DIMS];
  uint64_t nbytes;
  void *data;                      /* NULL: no data, a hole in the file */
};

struct ty_gguf_writer {
  size_t alignment;
  struct wkv *kv;
  size_t n_kv, cap_kv;
  struct wtensor *t;
  size_t n_t, cap_t;
};


/* {======================================================================
** Byte buffer
** ====================================================================== */

static void wb_put(struct wbuf *b, const void *p, size_t n) {
  if (b->oom)
    return;
  if (n > b->cap - b->n) {
    size_t c = b->cap ? b->cap : 64;
    uint8_t *np;
    while (c - b->n < n) {
      if (c > SIZE_MAX / 2) {
        b->oom = 1;
        return;
      }
      c *= 2;
    }
    np = realloc(b->p, c);
    if (np == NULL) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = c;
  }
  if (n > 0)
    memcpy(b->p + b->n, p, n);
  b->n += n;
}


static void wb_le(struct wbuf *b, uint64_t v, int n) {
  uint8_t tmp[8];
  int i;
  for (i = 0; i < n; i++)
    tmp[i] = (uint8_t)(v >> (8 * i));
  wb_put(b, tmp, (size_t)n);
}


static void wb_str(struct wbuf *b, const char *p, uint64_t len) {
  wb_le(b, len, 8);
  wb_put(b, p, (size_t)len);
}


/* }====================================================================== */


/* {======================================================================
** Values
** ====================================================================== */

/* Appends the body of v (without its type tag) to b. Returns TY_ERR_ARG for
   an ill-formed value (unknown type, missing data, nesting too deep). */
static ty_status put_value(struct wbuf *b, const struct ty_gguf_value *v, int depth) {
  size_t sz = ty_gguf_vtype_size(v->type);
  uint64_t i;
  if (sz != 0) {
    uint64_t raw;
    if (v->type == TY_GGUF_FLOAT32) {
      float f = (float)v->v.f;
      uint32_t u;
      memcpy(&u, &f, 4);
      raw = u;
    } else if (v->type == TY_GGUF_FLOAT64) {
      memcpy(&raw, &v->v.f, 8);
    } else if (v->type == TY_GGUF_INT8 || v->type == TY_GGUF_INT16 ||
               v->type == TY_GGUF_INT32 || v->type == TY_GGUF_INT64) {
      memcpy(&raw, &v->v.i, 8);
    } else {
      raw = v->v.u;
    }
    wb_le(b, raw, (int)sz);
    return TY_OK;
  }
  if (v->type == TY_GGUF_STRING) {
    if (v->v.str.ptr == NULL && v->v.str.len != 0)
      return TY_ERR_ARG;
    wb_str(b, v->v.str.ptr, v->v.str.len);
    return TY_OK;
  }
  if (v->type != TY_GGUF_ARRAY || depth >= WRITER_MAX_DEPTH)
    return TY_ERR_ARG;
  if ((int)v->v.arr.type < 0 || v->v.arr.type > TY_GGUF_FLOAT64)
    return TY_ERR_ARG;
  wb_le(b, (uint64_t)v->v.arr.type, 4);
  wb_le(b, v->v.arr.n, 8);
  sz = ty_gguf_vtype_size(v->v.arr.type);
  if (sz != 0) {
    if (v->v.arr.n > SIZE_MAX / sz || (v->v.arr.data == NULL && v->v.arr.n != 0))
      return TY_ERR_ARG;
    wb_put(b, v->v.arr.data, (size_t)v->v.arr.n * sz);   /* already little-endian */
    return TY_OK;
  }
  if (v->v.arr.items == NULL && v->v.arr.n != 0)
    return TY_ERR_ARG;
  for (i = 0; i < v->v.arr.n; i++) {
    ty_status s;
    if (v->v.arr.items[i].type != v->v.arr.type)
      return TY_ERR_ARG;
    s = put_value(b, &v->v.arr.items[i], depth + 1);
    if (s != TY_OK)
      return s;
  }
  return TY_OK;
}


/* Stores a serialized value under key, replacing an existing one in place.
   Takes ownership of val's bytes on success and on failure. */
static ty_status kv_put(ty_gguf_writer *w, const char *key, struct wbuf *val) {
  size_t i;
  if (val->oom) {
    free(val->p);
    return TY_ERR_NOMEM;
  }
  for (i = 0; i < w->n_kv; i++)
    if (strcmp(w->kv[i].key, key) == 0) {
      free(w->kv[i].val.p);
      w->kv[i].val = *val;
      return TY_OK;
    }
  if (w->n_kv == w->cap_kv) {
    size_t c = w->cap_kv ? 2 * w->cap_kv : 16;
    struct wkv *nk = realloc(w->kv, c * sizeof *nk);
    if (nk == NULL) {
      free(val->p);
      return TY_ERR_NOMEM;
    }
    w->kv = nk;
    w->cap_kv = c;
  }
  w->kv[w->n_kv].key = strdup(key);
  if (w->kv[w->n_kv].key == NULL) {
    free(val->p);
    return TY_ERR_NOMEM;
  }
  w->kv[w->n_kv].val = *val;
  w->n_kv++;
  return TY_OK;
}


/* }====================================================================== */


ty_gguf_writer *ty_gguf_writer_new(void) {
  ty_gguf_writer *w = calloc(1, sizeof *w);
  if (w != NULL)
    w->alignment = 32;
  return w;
}


void ty_gguf_writer_free(ty_gguf_writer *w) {
  size_t i;
  if (w == NULL)
    return;
  for (i = 0; i < w->n_kv; i++) {
    free(w->kv[i].key);
    free(w->kv[i].val.p);
  }
  for (i = 0; i < w->n_t; i++) {
    free(w->t[i].name);
    free(w->t[i].data);
  }
  free(w->kv);
  free(w->t);
  free(w);
}


void ty_gguf_writer_set_alignment(ty_gguf_writer *w, size_t alignment) {
  w->alignment = alignment;
}


ty_status ty_gguf_writer_set_value(ty_gguf_writer *w, const char *key,
                                   const struct ty_gguf_value *v) {
  struct wbuf b = {0};
  ty_status s;
  if (key == NULL || v == NULL)
    return TY_ERR_ARG;
  wb_le(&b, (uint64_t)v->type, 4);
  s = put_value(&b, v, 0);
  if (s != TY_OK) {
    free(b.p);
    return s;
  }
  return kv_put(w, key, &b);
}


ty_status ty_gguf_writer_set_u32(ty_gguf_writer *w, const char *key, uint32_t v) {
  struct ty_gguf_value x = { .type = TY_GGUF_UINT32, .v.u = v };
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_i32(ty_gguf_writer *w, const char *key, int32_t v) {
  struct ty_gguf_value x = { .type = TY_GGUF_INT32, .v.i = v };
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_u64(ty_gguf_writer *w, const char *key, uint64_t v) {
  struct ty_gguf_value x = { .type = TY_GGUF_UINT64, .v.u = v };
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_f32(ty_gguf_writer *w, const char *key, float v) {
  struct ty_gguf_value x = { .type = TY_GGUF_FLOAT32, .v.f = v };
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_bool(ty_gguf_writer *w, const char *key, bool v) {
  struct ty_gguf_value x = { .type = TY_GGUF_BOOL, .v.u = v ? 1 : 0 };
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_str(ty_gguf_writer *w, const char *key, const char *v) {
  struct ty_gguf_value x = { .type = TY_GGUF_STRING };
  if (v == NULL)
    return TY_ERR_ARG;
  x.v.str.ptr = v;
  x.v.str.len = strlen(v);
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_arr(ty_gguf_writer *w, const char *key, enum ty_gguf_vtype type,
                                 const void *data, uint64_t n) {
  struct ty_gguf_value x = { .type = TY_GGUF_ARRAY };
  if (ty_gguf_vtype_size(type) == 0)
    return TY_ERR_ARG;
  x.v.arr.type = type;
  x.v.arr.n = n;
  x.v.arr.data = data;
  return ty_gguf_writer_set_value(w, key, &x);
}


ty_status ty_gguf_writer_set_arr_str(ty_gguf_writer *w, const char *key,
                                     const char *const *strs, uint64_t n) {
  struct wbuf b = {0};
  uint64_t i;
  if (key == NULL || (strs == NULL && n != 0))
    return TY_ERR_ARG;
  wb_le(&b, TY_GGUF_ARRAY, 4);
  wb_le(&b, TY_GGUF_STRING, 4);
  wb_le(&b, n, 8);
  for (i = 0; i < n; i++) {
    if (strs[i] == NULL) {
      free(b.p);
      return TY_ERR_ARG;
    }
    wb_str(&b, strs[i], strlen(strs[i]));
  }
  return kv_put(w, key, &b);
}


/* Copies a tensor in (or, with data NULL, only declares it); checks the
   name, shape and type and fills err. */
ty_status ty_gguf_writer_add_tensor(ty_gguf_writer *w, const char *name, int type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    ty_err *err) {
  struct wtensor t;
  uint64_t rows = 1, row;
  uint32_t d;
  size_t i;
  if (name == NULL || ne == NULL)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: NULL tensor name or shape");
  if (n_dims < 1 || n_dims > TY_GGUF_MAX_DIMS)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' has %u dimensions (1 to %d "
                      "allowed)", name, n_dims, TY_GGUF_MAX_DIMS);
  for (i = 0; i < w->n_t; i++)
    if (strcmp(w->t[i].name, name) == 0)
      return ty_err_set(err, TY_ERR_ARG, "gguf writer: duplicate tensor name '%s'", name);
  memset(&t, 0, sizeof t);
  for (d = 0; d < TY_GGUF_MAX_DIMS; d++)
    t.ne[d] = 1;
  for (d = 0; d < n_dims; d++) {
    if (ne[d] <= 0)
      return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' dimension %u is %lld", name,
                        d, (long long)ne[d]);
    t.ne[d] = ne[d];
    if (d > 0 && !ty_mul_ok(rows, (uint64_t)ne[d], &rows))
      return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' is too large", name);
  }
  if (ty_qtype_row_size(type, 256) == 0)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' has unknown tensor type id %d",
                      name, type);
  if ((uint64_t)ne[0] / 256 > SIZE_MAX / 4096)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' is too large", name);
  row = ty_qtype_row_size(type, ne[0]);
  if (row == 0)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' row size not a multiple of "
                      "the block size (ne[0] = %lld)", name, (long long)ne[0]);
  /* a declared tensor is never held in memory, so only the file offset
     (int64 for fseeko) bounds it */
  if (!ty_mul_ok(row, rows, &t.nbytes) || t.nbytes > (data != NULL ? SIZE_MAX : INT64_MAX / 4))
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: tensor '%s' is too large", name);
  if (w->n_t == w->cap_t) {
    size_t c = w->cap_t ? 2 * w->cap_t : 16;
    struct wtensor *nt = realloc(w->t, c * sizeof *nt);
    if (nt == NULL)
      return ty_err_set(err, TY_ERR_NOMEM, "gguf writer: out of memory");
    w->t = nt;
    w->cap_t = c;
  }
  t.name = strdup(name);
  t.data = data != NULL ? malloc(t.nbytes ? (size_t)t.nbytes : 1) : NULL;
  if (t.name == NULL || (data != NULL && t.data == NULL)) {
    free(t.name);
    free(t.data);
    return ty_err_set(err, TY_ERR_NOMEM, "gguf writer: out of memory for tensor '%s' "
                      "(%llu bytes)", name, (unsigned long long)t.nbytes);
  }
  if (data != NULL)
    memcpy(t.data, data, (size_t)t.nbytes);
  t.type = type;
  t.n_dims = n_dims;
  w->t[w->n_t++] = t;
  return TY_OK;
}


static int has_key(const ty_gguf_writer *w, const char *key) {
  size_t i;
  for (i = 0; i < w->n_kv; i++)
    if (strcmp(w->kv[i].key, key) == 0)
      return 1;
  return 0;
}


static uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}


/* Serializes the header, key-values and tensor infos; returns 0 on OOM. */
static int build_header(const ty_gguf_writer *w, struct wbuf *b) {
  uint64_t off = 0;
  size_t i;
  uint32_t d;
  wb_put(b, "GGUF", 4);
  wb_le(b, 3, 4);
  wb_le(b, w->n_t, 8);
  wb_le(b, w->n_kv, 8);
  for (i = 0; i < w->n_kv; i++) {
    wb_str(b, w->kv[i].key, strlen(w->kv[i].key));
    wb_put(b, w->kv[i].val.p, w->kv[i].val.n);
  }
  for (i = 0; i < w->n_t; i++) {
    const struct wtensor *t = &w->t[i];
    wb_str(b, t->name, strlen(t->name));
    wb_le(b, t->n_dims, 4);
    for (d = 0; d < t->n_dims; d++)
      wb_le(b, (uint64_t)t->ne[d], 8);
    wb_le(b, (uint64_t)t->type, 4);
    wb_le(b, off, 8);
    off = align_up(off + t->nbytes, w->alignment);
  }
  while (b->n % w->alignment != 0 && !b->oom)
    wb_put(b, "", 1);
  return !b->oom;
}


/* Writes the file; on failure removes path.tmp and fills err. */
ty_status ty_gguf_writer_write(ty_gguf_writer *w, const char *path, ty_err *err) {
  static const uint8_t zeros[256];
  struct wbuf b = {0};
  char *tmp;
  FILE *f;
  size_t i;
  uint64_t end;
  ty_status s;
  if (path == NULL)
    return ty_err_set(err, TY_ERR_ARG, "gguf writer: NULL path");
  if (w->alignment == 0 || (w->alignment & (w->alignment - 1)) != 0 ||
      w->alignment > UINT32_MAX)
    return ty_err_set(err, TY_ERR_ARG, "%s: bad alignment %zu (must be a nonzero power of two)",
                      path, w->alignment);
  /* the key must agree with the padding we write; the default needs no key */
  if (w->alignment != 32 || has_key(w, "general.alignment")) {
    s = ty_gguf_writer_set_u32(w, "general.alignment", (uint32_t)w->alignment);
    if (s != TY_OK)
      return ty_err_set(err, s, "%s: out of memory", path);
  }
  if (!build_header(w, &b)) {
    free(b.p);
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory building the header", path);
  }
  tmp = malloc(strlen(path) + 5);
  if (tmp == NULL) {
    free(b.p);
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", path);
  }
  sprintf(tmp, "%s.tmp", path);
  f = fopen(tmp, "wb");
  if (f == NULL) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    free(tmp);
    free(b.p);
    return s;
  }
  s = TY_OK;
  if (fwrite(b.p, 1, b.n, f) != b.n)
    s = TY_ERR_IO;
  end = b.n;
  for (i = 0; i < w->n_t && s == TY_OK; i++) {
    uint64_t pad = align_up(w->t[i].nbytes, w->alignment) - w->t[i].nbytes;
    if (w->t[i].data == NULL) {
      /* seek over the tensor and its padding: the file system keeps a hole,
         which reads as zeros and takes no disk */
      end += w->t[i].nbytes + pad;
      if (end > INT64_MAX || fseeko(f, (off_t)end, SEEK_SET) != 0)
        s = TY_ERR_IO;
      continue;
    }
    if (fwrite(w->t[i].data, 1, (size_t)w->t[i].nbytes, f) != w->t[i].nbytes)
      s = TY_ERR_IO;
    end += w->t[i].nbytes + pad;
    while (pad > 0 && s == TY_OK) {
      size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
      if (fwrite(zeros, 1, k, f) != k)
        s = TY_ERR_IO;
      pad -= k;
    }
  }
  free(b.p);
  /* a hole at the end is only a seek: give the file its full length */
  if (s == TY_OK && (fflush(f) != 0 || ftruncate(fileno(f), (off_t)end) != 0))
    s = TY_ERR_IO;
  if (fclose(f) != 0)
    s = TY_ERR_IO;
  if (s == TY_OK && rename(tmp, path) != 0)
    s = TY_ERR_IO;
  if (s != TY_OK) {
    s = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  if (s == TY_OK)
    ty_err_clear(err);
  return s;
}
