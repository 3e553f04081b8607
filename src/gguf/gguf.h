/*
 * gguf.h: reading and writing GGUF v2/v3 files.
 * The reader mmaps the file and never reads it whole; every count, length,
 * offset and dimension is checked against the file size before use, and
 * values point into the mapping (valid until ty_gguf_close).
 */
#ifndef TY_GGUF_H
#define TY_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

#define TY_GGUF_MAX_DIMS 4

enum ty_gguf_vtype {
  TY_GGUF_UINT8 = 0, TY_GGUF_INT8 = 1, TY_GGUF_UINT16 = 2, TY_GGUF_INT16 = 3,
  TY_GGUF_UINT32 = 4, TY_GGUF_INT32 = 5, TY_GGUF_FLOAT32 = 6, TY_GGUF_BOOL = 7,
  TY_GGUF_STRING = 8, TY_GGUF_ARRAY = 9, TY_GGUF_UINT64 = 10, TY_GGUF_INT64 = 11,
  TY_GGUF_FLOAT64 = 12
};

struct ty_gguf_str {
  uint64_t len;
  const char *ptr;               /* into the mapping; NOT NUL-terminated */
};

struct ty_gguf_value {
  enum ty_gguf_vtype type;
  union {
    uint64_t u;                  /* UINT8..UINT64, BOOL */
    int64_t i;                   /* INT8..INT64 */
    double f;                    /* FLOAT32, FLOAT64 */
    struct ty_gguf_str str;      /* STRING */
    struct {
      enum ty_gguf_vtype type;   /* element type */
      uint64_t n;                /* element count */
      const void *data;          /* fixed-size elements: raw little-endian, in the mapping */
      struct ty_gguf_value *items;  /* STRING or ARRAY elements: n parsed values; else NULL */
    } arr;
  } v;
};

struct ty_gguf_kv {
  struct ty_gguf_str key;
  struct ty_gguf_value value;
};

struct ty_gguf_tensor {
  char *name;                    /* NUL-terminated copy */
  uint32_t n_dims;
  int64_t ne[TY_GGUF_MAX_DIMS];  /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
  int type;                      /* enum ty_qtype */
  uint64_t offset;               /* relative to the data section */
  uint64_t nbytes;
  const void *data;              /* in the mapping */
};

typedef struct ty_gguf ty_gguf;

/* Opens and validates path. On success *out owns the mapping; free with
   ty_gguf_close. On failure *out is NULL and err names the file, the problem
   and where (offset or key). Checks: magic, version 2/3, every length against
   the file size, known value and tensor types, n_dims <= 4, dimensions > 0 and
   their product without overflow, duplicate keys and tensor names, alignment
   (general.alignment, a power of two), and every tensor's data inside the file. */
ty_status ty_gguf_open(const char *path, ty_gguf **out, ty_err *err);

/* Same, reading only the header (metadata and tensor table, a few MB even
   for a 40 GB file) into memory it owns: no mapping, tensor data = NULL.
   Offsets and sizes are checked for overflow and alignment but not against
   the file size, so header-only, sparse and partly downloaded files open
   (the planner and tycho.info). ty_gguf_file_size is the whole file's. */
ty_status ty_gguf_open_header(const char *path, ty_gguf **out, ty_err *err);
bool ty_gguf_header_only(const ty_gguf *g);

/* Same over the first size bytes of a file of file_size bytes, held in buf
   (copied: the handle owns its bytes). When the prefix ends before the tensor
   table does, fails with *more = true: fetch a longer prefix and call again
   (plan before pull reads a remote blob's header with HTTP ranges this way). */
ty_status ty_gguf_open_prefix(const void *buf, size_t size, uint64_t file_size, const char *name,
                              ty_gguf **out, bool *more, ty_err *err);

/* Same over a caller-owned buffer (fuzzing, tests); the buffer must outlive
   the handle. name is used in messages. */
ty_status ty_gguf_open_mem(const void *buf, size_t size, const char *name,
                           ty_gguf **out, ty_err *err);

void ty_gguf_close(ty_gguf *g);  /* NULL is fine */

const char *ty_gguf_path(const ty_gguf *g);
uint32_t ty_gguf_version(const ty_gguf *g);
size_t ty_gguf_alignment(const ty_gguf *g);
uint64_t ty_gguf_data_offset(const ty_gguf *g);   /* file offset of the data section */
uint64_t ty_gguf_file_size(const ty_gguf *g);
const void *ty_gguf_base(const ty_gguf *g);       /* start of the mapping */

uint64_t ty_gguf_n_kv(const ty_gguf *g);
const struct ty_gguf_kv *ty_gguf_kv_at(const ty_gguf *g, uint64_t i);
const struct ty_gguf_kv *ty_gguf_find(const ty_gguf *g, const char *key);  /* NULL if absent */

uint64_t ty_gguf_n_tensors(const ty_gguf *g);
const struct ty_gguf_tensor *ty_gguf_tensor_at(const ty_gguf *g, uint64_t i);
const struct ty_gguf_tensor *ty_gguf_tensor_find(const ty_gguf *g, const char *name);

/* Typed getters: true and *out set when the key is present with a compatible
   type and in range; false otherwise. Integer getters accept any integer
   type whose value fits. */
bool ty_gguf_get_u32(const ty_gguf *g, const char *key, uint32_t *out);
bool ty_gguf_get_i64(const ty_gguf *g, const char *key, int64_t *out);
bool ty_gguf_get_f32(const ty_gguf *g, const char *key, float *out);   /* any float or integer */
bool ty_gguf_get_bool(const ty_gguf *g, const char *key, bool *out);
bool ty_gguf_get_str(const ty_gguf *g, const char *key, struct ty_gguf_str *out);
/* Array value (any element type), or NULL if absent or not an array. */
const struct ty_gguf_value *ty_gguf_get_arr(const ty_gguf *g, const char *key);

/* Bytes of one value of a fixed-size type; 0 for string, array or unknown. */
size_t ty_gguf_vtype_size(int t);

/* Name of a value type ("uint32", "array", ...). */
const char *ty_gguf_vtype_name(int t);

/* ---- writer ----
   Collects key-values and tensors in memory (tensor data is copied), then
   writes a GGUF v3 file in one go. Keys keep insertion order. */
typedef struct ty_gguf_writer ty_gguf_writer;

ty_gguf_writer *ty_gguf_writer_new(void);          /* NULL on out of memory */
void ty_gguf_writer_free(ty_gguf_writer *w);       /* NULL is fine */
void ty_gguf_writer_set_alignment(ty_gguf_writer *w, size_t alignment);  /* default 32; also written as general.alignment when not 32 */
/* Each setter replaces an existing key of the same name. Return TY_OK or TY_ERR_NOMEM. */
ty_status ty_gguf_writer_set_u32(ty_gguf_writer *w, const char *key, uint32_t v);
ty_status ty_gguf_writer_set_i32(ty_gguf_writer *w, const char *key, int32_t v);
ty_status ty_gguf_writer_set_u64(ty_gguf_writer *w, const char *key, uint64_t v);
ty_status ty_gguf_writer_set_f32(ty_gguf_writer *w, const char *key, float v);
ty_status ty_gguf_writer_set_bool(ty_gguf_writer *w, const char *key, bool v);
ty_status ty_gguf_writer_set_str(ty_gguf_writer *w, const char *key, const char *v);
/* A whole value, including arrays and arrays of arrays (deep-copied). */
ty_status ty_gguf_writer_set_value(ty_gguf_writer *w, const char *key, const struct ty_gguf_value *v);
/* Arrays of fixed-size elements (raw little-endian data, n elements) and of strings. */
ty_status ty_gguf_writer_set_arr(ty_gguf_writer *w, const char *key, enum ty_gguf_vtype type,
                                 const void *data, uint64_t n);
ty_status ty_gguf_writer_set_arr_str(ty_gguf_writer *w, const char *key,
                                     const char *const *strs, uint64_t n);
/* Adds a tensor; data holds ty_qtype_row_size(type, ne[0]) * ne[1]*ne[2]*ne[3] bytes,
   or is NULL to declare the tensor only: its bytes are a hole in the file
   (zeros taking no disk), which a caller may fill after the write. */
ty_status ty_gguf_writer_add_tensor(ty_gguf_writer *w, const char *name, int type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    ty_err *err);
/* Writes the file (to path.tmp, then renamed into place). */
ty_status ty_gguf_writer_write(ty_gguf_writer *w, const char *path, ty_err *err);

#endif
