/*
 * linfo.c: tycho.info(path [, opts]), model facts from a GGUF header without
 * loading weights, and tycho.devices(), the machine's compute devices.
 */
#include <stdbool.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "backend/device.h"
#include "gguf/gguf.h"
#include "model/info.h"
#include "tensor/tensor.h"
#include "ltycho.h"
#include "store/store.h"

/* The open file lives in a userdata while the tables are built, so a Lua
   memory error (which longjmps) still closes it through __gc. */
#define TY_LUA_GGUF_BOX "tycho.info.gguf"
typedef struct { ty_gguf *g; } lgguf;           /* NULL once closed */

/* Arrays longer than this become { type = ..., n = ... } instead of a list:
   a vocabulary of 262144 strings is of no use in an info table. */
#define INFO_MAX_ARRAY 1024


static int gguf_box_close(lua_State *L) {
  lgguf *b = luaL_checkudata(L, 1, TY_LUA_GGUF_BOX);
  ty_gguf_close(b->g);
  b->g = NULL;
  return 0;
}


static uint64_t rd_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}


/* Pushes an unsigned value as an integer when it fits, else as a float. */
static void push_u64(lua_State *L, uint64_t u) {
  if (u <= (uint64_t)LUA_MAXINTEGER)
    lua_pushinteger(L, (lua_Integer)u);
  else
    lua_pushnumber(L, (lua_Number)u);
}


/* Pushes one fixed-size element of type t stored little-endian at p. */
static void push_raw(lua_State *L, enum ty_gguf_vtype t, const uint8_t *p) {
  uint64_t u = rd_le(p, ty_gguf_vtype_size(t));
  switch (t) {
  case TY_GGUF_INT8: lua_pushinteger(L, (int8_t)u); break;
  case TY_GGUF_INT16: lua_pushinteger(L, (int16_t)u); break;
  case TY_GGUF_INT32: lua_pushinteger(L, (int32_t)u); break;
  case TY_GGUF_INT64: lua_pushinteger(L, (lua_Integer)(int64_t)u); break;
  case TY_GGUF_BOOL: lua_pushboolean(L, u != 0); break;
  case TY_GGUF_FLOAT32: {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, sizeof f);
    lua_pushnumber(L, f);
    break;
  }
  case TY_GGUF_FLOAT64: {
    double d;
    memcpy(&d, &u, sizeof d);
    lua_pushnumber(L, d);
    break;
  }
  default: push_u64(L, u); break;             /* UINT8..UINT64 */
  }
}


/* Pushes a metadata value: numbers, booleans, strings, lists for arrays of
   up to INFO_MAX_ARRAY items and { type = "string", n = N } for longer. */
static void push_value(lua_State *L, const struct ty_gguf_value *v) {
  luaL_checkstack(L, 4, "metadata nested too deeply");
  switch (v->type) {
  case TY_GGUF_INT8: case TY_GGUF_INT16: case TY_GGUF_INT32: case TY_GGUF_INT64:
    lua_pushinteger(L, (lua_Integer)v->v.i);
    break;
  case TY_GGUF_BOOL:
    lua_pushboolean(L, v->v.u != 0);
    break;
  case TY_GGUF_FLOAT32: case TY_GGUF_FLOAT64:
    lua_pushnumber(L, v->v.f);
    break;
  case TY_GGUF_STRING:
    lua_pushlstring(L, v->v.str.ptr, (size_t)v->v.str.len);
    break;
  case TY_GGUF_ARRAY: {
    uint64_t n = v->v.arr.n;
    if (n > INFO_MAX_ARRAY) {
      lua_createtable(L, 0, 2);                     /* [.., t] */
      lua_pushstring(L, ty_gguf_vtype_name(v->v.arr.type));
      lua_setfield(L, -2, "type");
      push_u64(L, n);
      lua_setfield(L, -2, "n");
      break;
    }
    lua_createtable(L, (int)n, 0);                  /* [.., list] */
    for (uint64_t i = 0; i < n; i++) {
      if (v->v.arr.items != NULL)
        push_value(L, &v->v.arr.items[i]);          /* [.., list, item] */
      else
        push_raw(L, v->v.arr.type, (const uint8_t *)v->v.arr.data +
                 i * ty_gguf_vtype_size(v->v.arr.type));
      lua_rawseti(L, -2, (lua_Integer)i + 1);       /* [.., list] */
    }
    break;
  }
  default:                                          /* UINT8..UINT64 */
    push_u64(L, v->v.u);
    break;
  }
}


/* Sets t[k] = v for a fact known (>= 0) and leaves it nil otherwise. */
static void set_int(lua_State *L, const char *k, int64_t v) {
  if (v < 0)
    return;
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}


static void set_str(lua_State *L, const char *k, const struct ty_gguf_str *s) {
  if (s->ptr == NULL)
    return;
  lua_pushlstring(L, s->ptr, (size_t)s->len);
  lua_setfield(L, -2, k);
}


static void set_u64(lua_State *L, const char *k, uint64_t v) {
  push_u64(L, v);
  lua_setfield(L, -2, k);
}


/* Pushes the list of tensors: { name, type, shape = {...}, bytes, offset }. */
static void push_tensors(lua_State *L, const ty_gguf *g) {
  uint64_t n = ty_gguf_n_tensors(g);
  lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);  /* [.., list] */
  for (uint64_t i = 0; i < n; i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    lua_createtable(L, 0, 5);                       /* [.., list, t] */
    lua_pushstring(L, t->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, ty_qtype_get(t->type)->name);
    lua_setfield(L, -2, "type");
    lua_createtable(L, (int)t->n_dims, 0);          /* [.., list, t, shape] */
    for (uint32_t d = 0; d < t->n_dims; d++) {
      lua_pushinteger(L, (lua_Integer)t->ne[d]);
      lua_rawseti(L, -2, d + 1);
    }
    lua_setfield(L, -2, "shape");                   /* [.., list, t] */
    set_u64(L, "bytes", t->nbytes);
    set_u64(L, "offset", t->offset);
    lua_rawseti(L, -2, (lua_Integer)i + 1);         /* [.., list] */
  }
}


/* tycho.info(model [, { tensors = bool }]) -> table | fail, msg, code; model
   is a path or a cache name */
static int l_info(lua_State *L) {
  static const char *const known[] = { "tensors", NULL };
  const char *path = luaL_checkstring(L, 1);
  char file[4096];
  struct ty_model_info mi;
  bool tensors = false;
  ty_err err;
  lgguf *b;
  ty_gguf *g;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    ty_lua_check_options(L, 2, known);
    lua_getfield(L, 2, "tensors");                  /* [path, opts, v] */
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
      luaL_error(L, "bad option 'tensors': expected a boolean");
    tensors = lua_toboolean(L, -1);
    lua_pop(L, 1);                                  /* [path, opts] */
  }
  lua_settop(L, 1);                                 /* [path] */
  b = lua_newuserdatauv(L, sizeof *b, 0);           /* [path, box] */
  b->g = NULL;
  luaL_setmetatable(L, TY_LUA_GGUF_BOX);
  if (ty_store_resolve(path, file, sizeof file, &err) != TY_OK || ty_gguf_open_header(file, &b->g, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  g = b->g;
  if (ty_model_info(g, &mi, &err) != TY_OK) {
    ty_gguf_close(g);
    b->g = NULL;
    return ty_lua_fail(L, &err);
  }
  lua_createtable(L, 0, 24);                        /* [path, box, info] */
  lua_pushstring(L, file);                          /* the resolved file */
  lua_setfield(L, -2, "path");
  lua_pushinteger(L, mi.version);
  lua_setfield(L, -2, "version");
  set_str(L, "architecture", &mi.architecture);
  set_str(L, "name", &mi.name);
  set_int(L, "file_type", mi.file_type);
  if (mi.quant != NULL) {
    lua_pushstring(L, mi.quant);
    lua_setfield(L, -2, "quantization");
  }
  set_int(L, "context_length", mi.context_length);
  set_int(L, "embedding_length", mi.embedding_length);
  set_int(L, "feed_forward_length", mi.feed_forward_length);
  set_int(L, "block_count", mi.block_count);
  set_int(L, "head_count", mi.head_count);
  set_int(L, "head_count_kv", mi.head_count_kv);
  set_int(L, "vocab_size", mi.vocab_size);
  set_u64(L, "parameters", mi.parameters);
  set_u64(L, "size", mi.size);
  set_u64(L, "file_size", mi.file_size);
  set_u64(L, "tensor_count", mi.tensor_count);

  lua_newtable(L);                                  /* [path, box, info, by_type] */
  for (int t = 0; t < TY_QTYPE_COUNT; t++) {
    if (mi.by_type[t].count == 0)
      continue;
    lua_createtable(L, 0, 3);                       /* [.., by_type, e] */
    set_u64(L, "count", mi.by_type[t].count);
    set_u64(L, "bytes", mi.by_type[t].bytes);
    set_u64(L, "parameters", mi.by_type[t].params);
    lua_setfield(L, -2, ty_qtype_get(t)->name);     /* [.., by_type] */
  }
  lua_setfield(L, -2, "tensors_by_type");           /* [path, box, info] */

  lua_createtable(L, 0, (int)(ty_gguf_n_kv(g) > 256 ? 256 : ty_gguf_n_kv(g)));
  for (uint64_t i = 0; i < ty_gguf_n_kv(g); i++) {  /* [.., info, meta] */
    const struct ty_gguf_kv *kv = ty_gguf_kv_at(g, i);
    lua_pushlstring(L, kv->key.ptr, (size_t)kv->key.len);  /* [.., meta, key] */
    push_value(L, &kv->value);                      /* [.., meta, key, value] */
    lua_rawset(L, -3);                              /* [.., meta] */
  }
  lua_setfield(L, -2, "metadata");                  /* [path, box, info] */

  if (tensors) {
    push_tensors(L, g);                             /* [path, box, info, list] */
    lua_setfield(L, -2, "tensors");                 /* [path, box, info] */
  }
  ty_gguf_close(g);
  b->g = NULL;
  return 1;
}


/* tycho.devices() -> { { name, kind, index, total, free, threads[, simd] }, ... } */
static int l_devices(lua_State *L) {
  struct ty_device_info d[16];
  ty_err err;
  int n = 0;
  if (ty_device_list(d, (int)(sizeof d / sizeof d[0]), &n, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_createtable(L, n, 0);                         /* [list] */
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 7);                       /* [list, dev] */
    lua_pushstring(L, d[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, ty_dev_kind_name(d[i].kind));
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, d[i].index);
    lua_setfield(L, -2, "index");
    set_u64(L, "total", d[i].total);
    set_u64(L, "free", d[i].free);
    if (d[i].kind == TY_DEV_CPU) {
      lua_pushinteger(L, d[i].threads);
      lua_setfield(L, -2, "threads");
      lua_pushstring(L, ty_qtype_simd());
      lua_setfield(L, -2, "simd");
    }
    lua_rawseti(L, -2, i + 1);                      /* [list] */
  }
  return 1;
}


void ty_lua_info_open(lua_State *L) {
  static const luaL_Reg box_meta[] = { { "__gc", gguf_box_close }, { NULL, NULL } };
  static const luaL_Reg funcs[] = { { "info", l_info }, { "devices", l_devices },
                                    { NULL, NULL } };
  luaL_newmetatable(L, TY_LUA_GGUF_BOX);            /* [.., tycho, mt] */
  luaL_setfuncs(L, box_meta, 0);
  lua_pop(L, 1);                                    /* [.., tycho] */
  luaL_setfuncs(L, funcs, 0);
}
