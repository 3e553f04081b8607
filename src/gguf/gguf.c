/*
 * gguf.c: the GGUF v2/v3 reader. Maps the file (or takes a caller buffer),
 * validates every count, length, offset and dimension against the size
 * before use, and indexes keys and tensor names in hash tables. The
 * header-only mode reads just the header bytes (metadata and tensor table).
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tensor/tensor.h"

#define GGUF_MAX_DEPTH 8           /* array nesting levels accepted */
#define GGUF_MIN_KV_BYTES 12       /* u64 key length + u32 type, at least */
#define GGUF_MIN_TENSOR_BYTES 32   /* name length, n_dims, one dim, type, offset */

struct ty_gguf {
  char *path;                      /* name used in messages */
  const uint8_t *base;
  uint64_t size;
  void *map;                       /* non-NULL when we own an mmap */
  size_t map_size;
  uint32_t version;
  uint64_t alignment;
  uint64_t data_offset;
  uint64_t n_kv;
  struct ty_gguf_kv *kv;
  uint64_t n_tensors;
  struct ty_gguf_tensor *tensors;
  uint64_t *kv_index;              /* hash slots: index + 1, 0 = empty */
  uint64_t kv_cap;                 /* power of two */
  uint64_t *t_index;
  uint64_t t_cap;
  uint64_t file_size;              /* the whole file; > size for a header-only open */
  int header_only;                 /* tensor data not checked against the file; data = NULL */
  void *owned;                     /* header-only: the header bytes read (base) */
};


/* {======================================================================
** Byte reader
** ====================================================================== */

struct rd {
  const uint8_t *p;
  uint64_t size;
  uint64_t pos;
  const char *name;                /* file name for messages */
  int starved;                     /* a check failed at the end of the buffer */
  ty_err *err;
  char ctx[128];                   /* "while reading ..." context */
};


/* Writes a printable, quoted-safe copy of p[0..len) into out (cap bytes),
   escaping non-printable bytes and shortening long strings. */
static const char *esc(char *out, size_t cap, const char *p, uint64_t len) {
  size_t o = 0;
  uint64_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (o + 8 >= cap) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out[o++] = (char)c;
    } else {
      snprintf(out + o, cap - o, "\\x%02x", c);
      o += 4;
    }
  }
  out[o] = '\0';
  return out;
}


static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  int i;
  for (i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}


/* Ensures n more bytes are available; otherwise sets a truncation error. */
static int need(struct rd *r, uint64_t n) {
  if (n <= r->size - r->pos)
    return 1;
  r->starved = 1;
  ty_err_set(r->err, TY_ERR_FORMAT, "%s: file truncated at offset %llu while reading %s",
             r->name, (unsigned long long)r->size, r->ctx);
  return 0;
}


static int rd_u32(struct rd *r, uint32_t *v) {
  if (!need(r, 4))
    return 0;
  *v = (uint32_t)le(r->p + r->pos, 4);
  r->pos += 4;
  return 1;
}


static int rd_u64(struct rd *r, uint64_t *v) {
  if (!need(r, 8))
    return 0;
  *v = le(r->p + r->pos, 8);
  r->pos += 8;
  return 1;
}


/* Reads a u64 length + bytes string; s points into the buffer. */
static int rd_str(struct rd *r, struct ty_gguf_str *s) {
  uint64_t at = r->pos, len;
  if (!rd_u64(r, &len))
    return 0;
  if (len > r->size - r->pos) {
    r->starved = 1;
    ty_err_set(r->err, TY_ERR_FORMAT,
               "%s: string length %llu at offset %llu runs past the end of the file "
               "(size %llu) while reading %s", r->name, (unsigned long long)len,
               (unsigned long long)at, (unsigned long long)r->size, r->ctx);
    return 0;
  }
  s->len = len;
  s->ptr = (const char *)(r->p + r->pos);
  r->pos += len;
  return 1;
}


/* }====================================================================== */


/* {======================================================================
** Values
** ====================================================================== */

size_t ty_gguf_vtype_size(int t) {
  switch (t) {
    case TY_GGUF_UINT8: case TY_GGUF_INT8: case TY_GGUF_BOOL: return 1;
    case TY_GGUF_UINT16: case TY_GGUF_INT16: return 2;
    case TY_GGUF_UINT32: case TY_GGUF_INT32: case TY_GGUF_FLOAT32: return 4;
    case TY_GGUF_UINT64: case TY_GGUF_INT64: case TY_GGUF_FLOAT64: return 8;
    default: return 0;
  }
}


const char *ty_gguf_vtype_name(int t) {
  static const char *const names[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
    "string", "array", "uint64", "int64", "float64"
  };
  if (t < 0 || t > TY_GGUF_FLOAT64)
    return "unknown";
  return names[t];
}


/* Frees the items a parsed value owns (not v itself). */
static void value_free(struct ty_gguf_value *v) {
  uint64_t i;
  if (v->type != TY_GGUF_ARRAY || v->v.arr.items == NULL)
    return;
  for (i = 0; i < v->v.arr.n; i++)
    value_free(&v->v.arr.items[i]);
  free(v->v.arr.items);
  v->v.arr.items = NULL;
}


/* Decodes a fixed-size scalar at p into v. */
static void scalar_decode(uint32_t t, const uint8_t *p, struct ty_gguf_value *v) {
  uint64_t raw = le(p, (int)ty_gguf_vtype_size((int)t));
  v->type = (enum ty_gguf_vtype)t;
  switch (t) {
    case TY_GGUF_INT8: v->v.i = (int8_t)(uint8_t)raw; break;
    case TY_GGUF_INT16: v->v.i = (int16_t)(uint16_t)raw; break;
    case TY_GGUF_INT32: v->v.i = (int32_t)(uint32_t)raw; break;
    case TY_GGUF_INT64: memcpy(&v->v.i, &raw, 8); break;
    case TY_GGUF_FLOAT32: {
      uint32_t b = (uint32_t)raw;
      float f;
      memcpy(&f, &b, 4);
      v->v.f = f;
      break;
    }
    case TY_GGUF_FLOAT64: memcpy(&v->v.f, &raw, 8); break;
    default: v->v.u = raw; break;
  }
}


/* Parses one value of type t at the cursor into v (zeroed by the caller).
   On failure the error is set; items already allocated stay in v for
   value_free. */
static int parse_value(struct rd *r, uint32_t t, struct ty_gguf_value *v, int depth) {
  size_t sz = ty_gguf_vtype_size((int)t);
  if (sz != 0) {
    if (!need(r, sz))
      return 0;
    scalar_decode(t, r->p + r->pos, v);
    r->pos += sz;
    return 1;
  }
  if (t == TY_GGUF_STRING) {
    v->type = TY_GGUF_STRING;
    return rd_str(r, &v->v.str);
  }
  if (t == TY_GGUF_ARRAY) {
    uint64_t at = r->pos, n, i, min;
    uint32_t et;
    if (depth >= GGUF_MAX_DEPTH) {
      ty_err_set(r->err, TY_ERR_FORMAT, "%s: arrays nested deeper than %d levels at offset %llu "
                 "while reading %s", r->name, GGUF_MAX_DEPTH, (unsigned long long)at, r->ctx);
      return 0;
    }
    if (!rd_u32(r, &et) || !rd_u64(r, &n))
      return 0;
    v->type = TY_GGUF_ARRAY;
    v->v.arr.type = (enum ty_gguf_vtype)et;
    if (et > TY_GGUF_FLOAT64) {
      ty_err_set(r->err, TY_ERR_FORMAT, "%s: unknown array element type %u at offset %llu "
                 "while reading %s", r->name, et, (unsigned long long)at, r->ctx);
      return 0;
    }
    sz = ty_gguf_vtype_size((int)et);
    min = sz != 0 ? sz : et == TY_GGUF_STRING ? 8 : 12;
    if (n > (r->size - r->pos) / min) {
      r->starved = 1;
      ty_err_set(r->err, TY_ERR_FORMAT, "%s: array count %llu at offset %llu too large for "
                 "the file (size %llu) while reading %s", r->name, (unsigned long long)n,
                 (unsigned long long)at, (unsigned long long)r->size, r->ctx);
      return 0;
    }
    v->v.arr.data = r->p + r->pos;
    if (sz != 0) {
      v->v.arr.n = n;
      r->pos += n * sz;
      return 1;
    }
    if (n == 0)
      return 1;
    v->v.arr.items = calloc((size_t)n, sizeof *v->v.arr.items);
    if (v->v.arr.items == NULL) {
      ty_err_set(r->err, TY_ERR_NOMEM, "%s: out of memory for %llu array items while reading %s",
                 r->name, (unsigned long long)n, r->ctx);
      return 0;
    }
    v->v.arr.n = n;
    for (i = 0; i < n; i++)
      if (!parse_value(r, et, &v->v.arr.items[i], depth + 1))
        return 0;
    return 1;
  }
  ty_err_set(r->err, TY_ERR_FORMAT, "%s: unknown value type %u at offset %llu while reading %s",
             r->name, t, (unsigned long long)(r->pos - 4), r->ctx);
  return 0;
}


/* }====================================================================== */


/* {======================================================================
** Hash index
** ====================================================================== */

static uint64_t hash_bytes(const char *p, uint64_t len) {
  uint64_t h = 1469598103934665603ull;
  uint64_t i;
  for (i = 0; i < len; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ull;
  }
  return h;
}


/* Allocates a slot table for n entries (load factor <= 1/2). */
static uint64_t *index_new(uint64_t n, uint64_t *cap) {
  uint64_t c = 16;
  while (c < 2 * n)
    c *= 2;
  *cap = c;
  return calloc((size_t)c, sizeof(uint64_t));
}


static const struct ty_gguf_kv *kv_lookup(const ty_gguf *g, const char *p, uint64_t len) {
  uint64_t m = g->kv_cap - 1, s;
  if (g->kv_index == NULL)
    return NULL;
  for (s = hash_bytes(p, len) & m; g->kv_index[s] != 0; s = (s + 1) & m) {
    const struct ty_gguf_kv *kv = &g->kv[g->kv_index[s] - 1];
    if (kv->key.len == len && memcmp(kv->key.ptr, p, len) == 0)
      return kv;
  }
  return NULL;
}


/* Inserts kv i; returns 0 if a key with the same bytes is already there. */
static int kv_insert(ty_gguf *g, uint64_t i) {
  const struct ty_gguf_str *k = &g->kv[i].key;
  uint64_t m = g->kv_cap - 1, s;
  for (s = hash_bytes(k->ptr, k->len) & m; g->kv_index[s] != 0; s = (s + 1) & m) {
    const struct ty_gguf_str *o = &g->kv[g->kv_index[s] - 1].key;
    if (o->len == k->len && memcmp(o->ptr, k->ptr, k->len) == 0)
      return 0;
  }
  g->kv_index[s] = i + 1;
  return 1;
}


static const struct ty_gguf_tensor *t_lookup(const ty_gguf *g, const char *name) {
  uint64_t m = g->t_cap - 1, s, len = strlen(name);
  if (g->t_index == NULL)
    return NULL;
  for (s = hash_bytes(name, len) & m; g->t_index[s] != 0; s = (s + 1) & m) {
    const struct ty_gguf_tensor *t = &g->tensors[g->t_index[s] - 1];
    if (strcmp(t->name, name) == 0)
      return t;
  }
  return NULL;
}


static int t_insert(ty_gguf *g, uint64_t i) {
  const char *name = g->tensors[i].name;
  uint64_t m = g->t_cap - 1, s;
  for (s = hash_bytes(name, strlen(name)) & m; g->t_index[s] != 0; s = (s + 1) & m)
    if (strcmp(g->tensors[g->t_index[s] - 1].name, name) == 0)
      return 0;
  g->t_index[s] = i + 1;
  return 1;
}


/* }====================================================================== */


/* {======================================================================
** Parsing
** ====================================================================== */

static ty_status parse_header(ty_gguf *g, struct rd *r) {
  uint32_t version;
  snprintf(r->ctx, sizeof r->ctx, "the magic");
  if (!need(r, 4))
    return r->err->code;
  if (memcmp(r->p, "GGUF", 4) != 0) {
    char found[40];
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: bad magic 'GGUF' expected, found '%s' at offset 0",
                      r->name, esc(found, sizeof found, (const char *)r->p, 4));
  }
  r->pos = 4;
  snprintf(r->ctx, sizeof r->ctx, "the version");
  if (!rd_u32(r, &version))
    return TY_ERR_FORMAT;
  if (version == 1)
    return ty_err_set(r->err, TY_ERR_UNSUPPORTED, "%s: gguf version 1 is not supported "
                      "(only 2 and 3; convert the file again) at offset 4", r->name);
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && version != 0)
      return ty_err_set(r->err, TY_ERR_UNSUPPORTED, "%s: gguf version %u at offset 4 looks "
                        "big-endian, which is not supported", r->name, version);
    return ty_err_set(r->err, TY_ERR_UNSUPPORTED, "%s: gguf version %u is not supported "
                      "(only 2 and 3) at offset 4", r->name, version);
  }
  g->version = version;
  snprintf(r->ctx, sizeof r->ctx, "the tensor count");
  if (!rd_u64(r, &g->n_tensors))
    return TY_ERR_FORMAT;
  snprintf(r->ctx, sizeof r->ctx, "the key count");
  if (!rd_u64(r, &g->n_kv))
    return TY_ERR_FORMAT;
  if (g->n_kv > (r->size - r->pos) / GGUF_MIN_KV_BYTES) {
    ty_status s;
    r->starved = 1;
    s = ty_err_set(r->err, TY_ERR_FORMAT, "%s: key count %llu at offset 16 too large "
                             "for a file of %llu bytes (corrupt or truncated)", r->name,
                             (unsigned long long)g->n_kv, (unsigned long long)r->size);
    g->n_kv = 0;
    return s;
  }
  /* the tensor count is checked against the bytes left after the keys */
  return TY_OK;
}


static ty_status parse_kvs(ty_gguf *g, struct rd *r) {
  uint64_t n = g->n_kv, i;
  char kb[80];
  g->n_kv = 0;                     /* counts parsed entries, for cleanup */
  g->kv = calloc(n ? (size_t)n : 1, sizeof *g->kv);
  g->kv_index = index_new(n, &g->kv_cap);
  if (g->kv == NULL || g->kv_index == NULL)
    return ty_err_set(r->err, TY_ERR_NOMEM, "%s: out of memory for %llu keys", r->name,
                      (unsigned long long)n);
  for (i = 0; i < n; i++) {
    struct ty_gguf_kv *kv = &g->kv[i];
    uint64_t at = r->pos;
    uint32_t t;
    snprintf(r->ctx, sizeof r->ctx, "key %llu of %llu", (unsigned long long)i,
             (unsigned long long)n);
    if (!rd_str(r, &kv->key))
      return r->err->code;
    snprintf(r->ctx, sizeof r->ctx, "key '%s'", esc(kb, sizeof kb, kv->key.ptr, kv->key.len));
    g->n_kv = i + 1;
    if (!kv_insert(g, i))
      return ty_err_set(r->err, TY_ERR_FORMAT, "%s: duplicate key '%s' at offset %llu", r->name,
                        kb, (unsigned long long)at);
    if (!rd_u32(r, &t))
      return TY_ERR_FORMAT;
    if (!parse_value(r, t, &kv->value, 0))
      return r->err->code;
  }
  return TY_OK;
}


static ty_status read_alignment(ty_gguf *g, struct rd *r) {
  const struct ty_gguf_kv *kv = kv_lookup(g, "general.alignment", 17);
  g->alignment = 32;
  if (kv == NULL)
    return TY_OK;
  if (kv->value.type != TY_GGUF_UINT32)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: key 'general.alignment' has type %s, "
                      "expected uint32", r->name, ty_gguf_vtype_name(kv->value.type));
  if (kv->value.v.u == 0 || (kv->value.v.u & (kv->value.v.u - 1)) != 0)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: bad alignment %llu in key 'general.alignment' "
                      "(must be a nonzero power of two)", r->name,
                      (unsigned long long)kv->value.v.u);
  g->alignment = kv->value.v.u;
  return TY_OK;
}


/* Reads one tensor info at the cursor into t (name copied). */
static ty_status parse_tensor_info(ty_gguf *g, struct rd *r, uint64_t i,
                                   struct ty_gguf_tensor *t) {
  struct ty_gguf_str name;
  uint64_t at = r->pos, d, raw;
  uint32_t n_dims, type;
  char nb[80];
  snprintf(r->ctx, sizeof r->ctx, "tensor %llu of %llu", (unsigned long long)i,
           (unsigned long long)g->n_tensors);
  if (!rd_str(r, &name))
    return r->err->code;
  esc(nb, sizeof nb, name.ptr, name.len);
  if (memchr(name.ptr, '\0', (size_t)name.len) != NULL)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor name '%s' at offset %llu contains a "
                      "NUL byte", r->name, nb, (unsigned long long)at);
  t->name = malloc((size_t)name.len + 1);
  if (t->name == NULL)
    return ty_err_set(r->err, TY_ERR_NOMEM, "%s: out of memory for tensor name at offset %llu",
                      r->name, (unsigned long long)at);
  memcpy(t->name, name.ptr, (size_t)name.len);
  t->name[name.len] = '\0';
  snprintf(r->ctx, sizeof r->ctx, "tensor '%s'", nb);
  if (!rd_u32(r, &n_dims))
    return TY_ERR_FORMAT;
  if (n_dims < 1 || n_dims > TY_GGUF_MAX_DIMS)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' has %u dimensions (1 to %d "
                      "allowed) at offset %llu", r->name, nb, n_dims, TY_GGUF_MAX_DIMS,
                      (unsigned long long)(r->pos - 4));
  t->n_dims = n_dims;
  for (d = 0; d < TY_GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (d = 0; d < n_dims; d++) {
    if (!rd_u64(r, &raw))
      return TY_ERR_FORMAT;
    if (raw == 0 || raw > (uint64_t)INT64_MAX)
      return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' dimension %llu is %llu "
                        "(must be 1 to 2^63-1) at offset %llu", r->name, nb,
                        (unsigned long long)d, (unsigned long long)raw,
                        (unsigned long long)(r->pos - 8));
    t->ne[d] = (int64_t)raw;
  }
  if (!rd_u32(r, &type))
    return TY_ERR_FORMAT;
  t->type = (int)(type & 0x7fffffff);
  if (type > 0x7fffffff || ty_qtype_row_size((int)type, 256) == 0)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' has unknown tensor type id %u "
                      "at offset %llu", r->name, nb, type, (unsigned long long)(r->pos - 4));
  if (!rd_u64(r, &t->offset))
    return TY_ERR_FORMAT;
  return TY_OK;
}


/* Checks a tensor's element count, byte size, alignment and data range. */
static ty_status check_tensor(ty_gguf *g, struct rd *r, struct ty_gguf_tensor *t) {
  uint64_t n = 1, rows = 1, nb256, row, start, end, d;
  char nb[80];
  esc(nb, sizeof nb, t->name, strlen(t->name));
  for (d = 0; d < TY_GGUF_MAX_DIMS; d++)
    if (!ty_mul_ok(n, (uint64_t)t->ne[d], &n) || n > (uint64_t)INT64_MAX)
      return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' element count overflows "
                        "(%lld x %lld x %lld x %lld)", r->name, nb, (long long)t->ne[0],
                        (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
  for (d = 1; d < TY_GGUF_MAX_DIMS; d++)
    rows *= (uint64_t)t->ne[d];    /* <= n, cannot overflow */
  /* row_size cannot overflow once a row is known to fit in the file */
  nb256 = ty_qtype_row_size(t->type, 256);
  if (!ty_mul_ok((uint64_t)t->ne[0] / 256, nb256, &row) ||
      row > (g->header_only ? (uint64_t)INT64_MAX : g->size))
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' data runs past the end of the "
                      "file (a row of %lld elements is larger than size %llu)", r->name, nb,
                      (long long)t->ne[0], (unsigned long long)g->size);
  row = ty_qtype_row_size(t->type, t->ne[0]);
  if (row == 0)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' row size not a multiple of the "
                      "block size (ne[0] = %lld, type %d)", r->name, nb, (long long)t->ne[0],
                      t->type);
  if (!ty_mul_ok(row, rows, &t->nbytes))
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' byte size overflows", r->name, nb);
  if (t->offset % g->alignment != 0)
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' offset %llu is not a multiple of "
                      "the alignment %llu", r->name, nb, (unsigned long long)t->offset,
                      (unsigned long long)g->alignment);
  if (!ty_add_ok(g->data_offset, t->offset, &start) || !ty_add_ok(start, t->nbytes, &end) ||
      (!g->header_only && end > g->size))
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor '%s' data runs past the end of the "
                      "file (offset %llu + %llu bytes > size %llu)", r->name, nb,
                      (unsigned long long)g->data_offset + t->offset,
                      (unsigned long long)t->nbytes, (unsigned long long)g->size);
  t->data = g->header_only ? NULL : g->base + start;
  return TY_OK;
}


static ty_status parse_tensors(ty_gguf *g, struct rd *r) {
  uint64_t n = g->n_tensors, i, pad;
  ty_status s;
  if (n > (r->size - r->pos) / GGUF_MIN_TENSOR_BYTES) {
    r->starved = 1;
    return ty_err_set(r->err, TY_ERR_FORMAT, "%s: tensor count %llu too large for the %llu bytes "
                      "left at offset %llu (corrupt or truncated)", r->name, (unsigned long long)n,
                      (unsigned long long)(r->size - r->pos), (unsigned long long)r->pos);
  }
  g->n_tensors = 0;                /* counts entries to free */
  g->tensors = calloc(n ? (size_t)n : 1, sizeof *g->tensors);
  g->t_index = index_new(n, &g->t_cap);
  if (g->tensors == NULL || g->t_index == NULL)
    return ty_err_set(r->err, TY_ERR_NOMEM, "%s: out of memory for %llu tensors", r->name,
                      (unsigned long long)n);
  for (i = 0; i < n; i++) {
    uint64_t at = r->pos;
    g->n_tensors = i + 1;
    s = parse_tensor_info(g, r, i, &g->tensors[i]);
    if (s != TY_OK)
      return s;
    if (!t_insert(g, i)) {
      char nb[80];
      return ty_err_set(r->err, TY_ERR_FORMAT, "%s: duplicate tensor name '%s' at offset %llu",
                        r->name, esc(nb, sizeof nb, g->tensors[i].name,
                                     strlen(g->tensors[i].name)), (unsigned long long)at);
    }
  }
  pad = (g->alignment - r->pos % g->alignment) % g->alignment;
  if (!ty_add_ok(r->pos, pad, &g->data_offset))
    g->data_offset = UINT64_MAX;
  for (i = 0; i < n; i++) {
    s = check_tensor(g, r, &g->tensors[i]);
    if (s != TY_OK)
      return s;
  }
  return TY_OK;
}


/* Parses the whole buffer into g (whose base, size and path are set).
   *starved is set when a check failed at the end of the buffer (a longer
   prefix of the file may parse). */
static ty_status parse(ty_gguf *g, int *starved, ty_err *err) {
  struct rd r;
  ty_err e;
  ty_status s;
  memset(&r, 0, sizeof r);
  ty_err_clear(&e);
  r.p = g->base;
  r.size = g->size;
  r.name = g->path;
  r.err = &e;                      /* never NULL inside the parser */
  s = parse_header(g, &r);
  if (s == TY_OK)
    s = parse_kvs(g, &r);
  if (s == TY_OK)
    s = read_alignment(g, &r);
  if (s == TY_OK)
    s = parse_tensors(g, &r);
  else
    g->n_tensors = 0;              /* nothing allocated yet */
  if (s != TY_OK && err != NULL)
    *err = e;
  *starved = r.starved;
  return s;
}


/* }====================================================================== */


void ty_gguf_close(ty_gguf *g) {
  uint64_t i;
  if (g == NULL)
    return;
  if (g->kv != NULL)
    for (i = 0; i < g->n_kv; i++)
      value_free(&g->kv[i].value);
  if (g->tensors != NULL)
    for (i = 0; i < g->n_tensors; i++)
      free(g->tensors[i].name);
  free(g->kv);
  free(g->tensors);
  free(g->kv_index);
  free(g->t_index);
  if (g->map != NULL)
    munmap(g->map, g->map_size);
  free(g->owned);
  free(g->path);
  free(g);
}


static ty_gguf *gguf_new(const char *name) {
  ty_gguf *g = calloc(1, sizeof *g);
  if (g == NULL)
    return NULL;
  g->path = strdup(name);
  if (g->path == NULL) {
    free(g);
    return NULL;
  }
  return g;
}


ty_status ty_gguf_open_mem(const void *buf, size_t size, const char *name,
                           ty_gguf **out, ty_err *err) {
  ty_gguf *g;
  ty_status s;
  int starved;
  static const uint8_t empty[1];
  *out = NULL;
  if (name == NULL)
    name = "<memory>";
  if (buf == NULL && size != 0)
    return ty_err_set(err, TY_ERR_ARG, "%s: NULL buffer of %zu bytes", name, size);
  g = gguf_new(name);
  if (g == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", name);
  g->base = buf != NULL ? buf : empty;
  g->size = g->file_size = size;
  s = parse(g, &starved, err);
  if (s != TY_OK) {
    ty_gguf_close(g);
    return s;
  }
  ty_err_clear(err);
  *out = g;
  return TY_OK;
}


ty_status ty_gguf_open_prefix(const void *buf, size_t size, uint64_t file_size, const char *name,
                              ty_gguf **out, bool *more, ty_err *err) {
  ty_gguf *g;
  ty_status s;
  int starved = 0;
  *out = NULL;
  *more = false;
  if (name == NULL)
    name = "<memory>";
  if ((buf == NULL && size != 0) || size > file_size)
    return ty_err_set(err, TY_ERR_ARG, "%s: bad prefix of %zu bytes of %llu", name, size,
                      (unsigned long long)file_size);
  g = gguf_new(name);
  if (g == NULL || (g->owned = malloc(size ? size : 1)) == NULL) {
    ty_gguf_close(g);
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %zu header bytes", name, size);
  }
  memcpy(g->owned, buf, size);
  g->base = g->owned;
  g->size = size;
  g->file_size = file_size;
  g->header_only = 1;
  s = parse(g, &starved, err);
  if (s != TY_OK) {
    *more = starved && size < file_size;
    ty_gguf_close(g);
    return s;
  }
  ty_err_clear(err);
  *out = g;
  return TY_OK;
}


/* Opens path read-only as a regular file: the descriptor in *fd and its
   stat in *st, or a one-line error. */
static ty_status open_regular(const char *path, int *fd, struct stat *st, ty_err *err) {
  ty_status s;
  if (path == NULL)
    return ty_err_set(err, TY_ERR_ARG, "gguf: NULL path");
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return ty_err_set(err, TY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(*fd, st) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    close(*fd);
    return s;
  }
  if (!S_ISREG(st->st_mode)) {
    close(*fd);
    return ty_err_set(err, TY_ERR_IO, "%s: not a regular file", path);
  }
  return TY_OK;
}


ty_status ty_gguf_open(const char *path, ty_gguf **out, ty_err *err) {
  static const uint8_t empty[1];
  struct stat st;
  ty_gguf *g;
  ty_status s;
  int fd, starved;
  *out = NULL;
  if ((s = open_regular(path, &fd, &st, err)) != TY_OK)
    return s;
  g = gguf_new(path);
  if (g == NULL) {
    close(fd);
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", path);
  }
  g->size = g->file_size = (uint64_t)st.st_size;
  g->base = empty;
  if (st.st_size > 0) {
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      s = ty_err_set(err, TY_ERR_IO, "%s: cannot map %llu bytes: %s", path,
                     (unsigned long long)st.st_size, strerror(errno));
      close(fd);
      ty_gguf_close(g);
      return s;
    }
    g->map = m;
    g->map_size = (size_t)st.st_size;
    g->base = m;
  }
  close(fd);
  s = parse(g, &starved, err);
  if (s != TY_OK) {
    ty_gguf_close(g);
    return s;
  }
  ty_err_clear(err);
  *out = g;
  return TY_OK;
}


/* Reads bytes [have, want) of fd into buf; returns 0 and sets err on failure. */
static int read_more(int fd, const char *path, uint8_t *buf, uint64_t have, uint64_t want,
                     ty_err *err) {
  while (have < want) {
    ssize_t n = pread(fd, buf + have, (size_t)(want - have), (off_t)have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ty_err_set(err, TY_ERR_IO, "%s: cannot read at offset %llu: %s", path,
                 (unsigned long long)have, n < 0 ? strerror(errno) : "unexpected end of file");
      return 0;
    }
    have += (uint64_t)n;
  }
  return 1;
}


/* Reads a growing prefix of the file (1 MiB, doubled while the parser runs
   out of bytes) so that a 40 GB file costs a few MB of reads; parses each
   prefix from the start. */
ty_status ty_gguf_open_header(const char *path, ty_gguf **out, ty_err *err) {
  struct stat st;
  uint8_t *buf = NULL;
  uint64_t have = 0, want, fsize;
  ty_status s;
  int fd, starved;
  *out = NULL;
  if ((s = open_regular(path, &fd, &st, err)) != TY_OK)
    return s;
  fsize = (uint64_t)st.st_size;
  want = fsize < (1u << 20) ? fsize : (1u << 20);
  for (;;) {
    ty_gguf *g;
    uint8_t *grown = realloc(buf, want ? (size_t)want : 1);
    if (grown == NULL) {
      s = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %llu header bytes", path,
                     (unsigned long long)want);
      break;
    }
    buf = grown;
    if (!read_more(fd, path, buf, have, want, err)) {
      s = TY_ERR_IO;
      break;
    }
    have = want;
    if ((g = gguf_new(path)) == NULL) {
      s = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", path);
      break;
    }
    g->base = buf;
    g->size = have;
    g->file_size = fsize;
    g->header_only = 1;
    s = parse(g, &starved, err);
    if (s == TY_OK) {
      g->owned = buf;
      close(fd);
      ty_err_clear(err);
      *out = g;
      return TY_OK;
    }
    ty_gguf_close(g);              /* buf is not its own yet */
    if (!starved || have >= fsize)
      break;
    want = have > fsize / 2 ? fsize : 2 * have;
  }
  free(buf);
  close(fd);
  return s;
}


/* {======================================================================
** Accessors
** ====================================================================== */

const char *ty_gguf_path(const ty_gguf *g) { return g->path; }
uint32_t ty_gguf_version(const ty_gguf *g) { return g->version; }
size_t ty_gguf_alignment(const ty_gguf *g) { return (size_t)g->alignment; }
uint64_t ty_gguf_data_offset(const ty_gguf *g) { return g->data_offset; }
uint64_t ty_gguf_file_size(const ty_gguf *g) { return g->file_size; }
bool ty_gguf_header_only(const ty_gguf *g) { return g->header_only != 0; }
const void *ty_gguf_base(const ty_gguf *g) { return g->base; }
uint64_t ty_gguf_n_kv(const ty_gguf *g) { return g->n_kv; }
uint64_t ty_gguf_n_tensors(const ty_gguf *g) { return g->n_tensors; }


const struct ty_gguf_kv *ty_gguf_kv_at(const ty_gguf *g, uint64_t i) {
  return i < g->n_kv ? &g->kv[i] : NULL;
}


const struct ty_gguf_kv *ty_gguf_find(const ty_gguf *g, const char *key) {
  return key != NULL ? kv_lookup(g, key, strlen(key)) : NULL;
}


const struct ty_gguf_tensor *ty_gguf_tensor_at(const ty_gguf *g, uint64_t i) {
  return i < g->n_tensors ? &g->tensors[i] : NULL;
}


const struct ty_gguf_tensor *ty_gguf_tensor_find(const ty_gguf *g, const char *name) {
  return name != NULL ? t_lookup(g, name) : NULL;
}


static int is_unsigned(enum ty_gguf_vtype t) {
  return t == TY_GGUF_UINT8 || t == TY_GGUF_UINT16 || t == TY_GGUF_UINT32 ||
         t == TY_GGUF_UINT64;
}


static int is_signed(enum ty_gguf_vtype t) {
  return t == TY_GGUF_INT8 || t == TY_GGUF_INT16 || t == TY_GGUF_INT32 || t == TY_GGUF_INT64;
}


bool ty_gguf_get_u32(const ty_gguf *g, const char *key, uint32_t *out) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL)
    return false;
  if (is_unsigned(kv->value.type) && kv->value.v.u <= UINT32_MAX) {
    *out = (uint32_t)kv->value.v.u;
    return true;
  }
  if (is_signed(kv->value.type) && kv->value.v.i >= 0 && kv->value.v.i <= (int64_t)UINT32_MAX) {
    *out = (uint32_t)kv->value.v.i;
    return true;
  }
  return false;
}


bool ty_gguf_get_i64(const ty_gguf *g, const char *key, int64_t *out) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL)
    return false;
  if (is_unsigned(kv->value.type) && kv->value.v.u <= (uint64_t)INT64_MAX) {
    *out = (int64_t)kv->value.v.u;
    return true;
  }
  if (is_signed(kv->value.type)) {
    *out = kv->value.v.i;
    return true;
  }
  return false;
}


bool ty_gguf_get_f32(const ty_gguf *g, const char *key, float *out) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL)
    return false;
  if (kv->value.type == TY_GGUF_FLOAT32 || kv->value.type == TY_GGUF_FLOAT64)
    *out = (float)kv->value.v.f;
  else if (is_unsigned(kv->value.type))
    *out = (float)kv->value.v.u;
  else if (is_signed(kv->value.type))
    *out = (float)kv->value.v.i;
  else
    return false;
  return true;
}


bool ty_gguf_get_bool(const ty_gguf *g, const char *key, bool *out) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL || kv->value.type != TY_GGUF_BOOL)
    return false;
  *out = kv->value.v.u != 0;
  return true;
}


bool ty_gguf_get_str(const ty_gguf *g, const char *key, struct ty_gguf_str *out) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL || kv->value.type != TY_GGUF_STRING)
    return false;
  *out = kv->value.v.str;
  return true;
}


const struct ty_gguf_value *ty_gguf_get_arr(const ty_gguf *g, const char *key) {
  const struct ty_gguf_kv *kv = ty_gguf_find(g, key);
  if (kv == NULL || kv->value.type != TY_GGUF_ARRAY)
    return NULL;
  return &kv->value;
}


/* }====================================================================== */
