/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader. Opens the input with
 * ty_gguf_open_mem and, when it parses, touches every key, array item and
 * tensor byte range it returned, so a bad pointer or length shows up here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;


/* Reads the bytes behind a value, recursing into arrays. */
static void walk_value(const struct ty_gguf_value *v, int depth) {
  static const size_t sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
  uint64_t i;
  if (depth > 16)
    abort();                       /* the reader caps nesting at 8 */
  switch (v->type) {
    case TY_GGUF_STRING:
      for (i = 0; i < v->v.str.len; i++)
        sink += (unsigned char)v->v.str.ptr[i];
      break;
    case TY_GGUF_ARRAY:
      if (v->v.arr.type > TY_GGUF_FLOAT64)
        abort();
      if (v->v.arr.type == TY_GGUF_STRING || v->v.arr.type == TY_GGUF_ARRAY) {
        if (v->v.arr.n != 0 && v->v.arr.items == NULL)
          abort();
        for (i = 0; i < v->v.arr.n; i++) {
          if (v->v.arr.items[i].type != v->v.arr.type)
            abort();
          walk_value(&v->v.arr.items[i], depth + 1);
        }
      } else {
        const unsigned char *p = v->v.arr.data;
        uint64_t nb = v->v.arr.n * sizes[v->v.arr.type];
        if (nb > 0)
          sink += p[0] + p[nb - 1];
      }
      break;
    default:
      sink += v->v.u;
      break;
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ty_gguf *g = NULL;
  ty_err err;
  uint64_t i;
  if (ty_gguf_open_mem(data, size, "fuzz.gguf", &g, &err) != TY_OK) {
    if (g != NULL || err.msg[0] == '\0' || strncmp(err.msg, "fuzz.gguf: ", 11) != 0)
      abort();
    return 0;
  }
  for (i = 0; i < ty_gguf_n_kv(g); i++) {
    const struct ty_gguf_kv *kv = ty_gguf_kv_at(g, i);
    char key[256];
    walk_value(&kv->value, 0);
    if (kv->key.len < sizeof key && memchr(kv->key.ptr, '\0', kv->key.len) == NULL) {
      memcpy(key, kv->key.ptr, kv->key.len);
      key[kv->key.len] = '\0';
      if (ty_gguf_find(g, key) != kv)
        abort();
      {
        uint32_t u; int64_t s; float f; bool b; struct ty_gguf_str st;
        sink += ty_gguf_get_u32(g, key, &u) + ty_gguf_get_i64(g, key, &s) +
                ty_gguf_get_f32(g, key, &f) + ty_gguf_get_bool(g, key, &b) +
                ty_gguf_get_str(g, key, &st) + (ty_gguf_get_arr(g, key) != NULL);
      }
    }
  }
  for (i = 0; i < ty_gguf_n_tensors(g); i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    const unsigned char *p = t->data;
    if (ty_gguf_tensor_find(g, t->name) != t || t->nbytes == 0 ||
        t->offset % ty_gguf_alignment(g) != 0 ||
        p < (const unsigned char *)data || p + t->nbytes > data + size)
      abort();
    sink += p[0] + p[t->nbytes - 1];
  }
  ty_gguf_close(g);
  return 0;
}
