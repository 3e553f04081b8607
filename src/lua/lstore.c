/*
 * lstore.c: the model store from Lua: tycho.pull, tycho.list, tycho.show,
 * tycho.rm. Without the store (built with TYCHO_CURL=OFF) each returns fail
 * and a message saying so.
 */
#include <stdbool.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "store/store.h"

#ifdef TYCHO_HAVE_STORE

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "gguf/gguf.h"
#include "model/info.h"
#include "store/modelfile.h"
#include "store/registry.h"

#define TEXT_LAYER_MAX (1u << 20)       /* template, system, license: text, shown whole */

/* The manifest and an open header live in a userdata while tables are built,
   so a Lua memory error (a longjmp) still frees them through __gc. */
#define SHOW_BOX "tycho.store.show"
typedef struct { struct ty_manifest m; ty_gguf *g; } lshow;


static int show_box_gc(lua_State *L) {
  lshow *b = luaL_checkudata(L, 1, SHOW_BOX);
  ty_manifest_free(&b->m);
  ty_gguf_close(b->g);
  b->g = NULL;
  return 0;
}


/* tycho.list() -> { {name, id, size, modified, source}, ... } | fail, msg, code */
static int l_list(lua_State *L) {
  struct ty_store_entry *e;
  size_t n;
  ty_err err;
  if (ty_store_list(&e, &n, &err) != TY_OK) return ty_lua_fail(L, &err);
  lua_createtable(L, (int)n, 0);                    /* [list] (a memory error leaks e) */
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 5);
    lua_pushstring(L, e[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, e[i].id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, (lua_Integer)e[i].size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)e[i].modified);
    lua_setfield(L, -2, "modified");
    lua_pushstring(L, e[i].source);
    lua_setfield(L, -2, "source");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(e);
  return 1;
}


/* Reads a text layer (at most TEXT_LAYER_MAX bytes) and pushes it, or nil. */
static void push_text_layer(lua_State *L, const char *root, const struct ty_layer *l) {
  char path[4096];
  FILE *f;
  luaL_Buffer b;
  size_t n;
  if (l == NULL) { lua_pushnil(L); return; }
  ty_store_blob_path(root, l->digest, path, sizeof path);
  if ((f = fopen(path, "rb")) == NULL) { lua_pushnil(L); return; }
  n = fread(luaL_buffinitsize(L, &b, TEXT_LAYER_MAX), 1, TEXT_LAYER_MAX, f);
  fclose(f);
  luaL_pushresultsize(&b, n);
}


/* Pushes a JSON value (the params layer) as Lua values. */
static void push_cjson(lua_State *L, const cJSON *j, int depth) {
  const cJSON *c;
  lua_Integer k = 0;
  luaL_checkstack(L, 4, "params: nesting too deep");
  if (cJSON_IsBool(j)) lua_pushboolean(L, cJSON_IsTrue(j));
  else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == (double)(lua_Integer)d && d >= -9007199254740992.0 && d <= 9007199254740992.0)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
  else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    lua_newtable(L);
    cJSON_ArrayForEach(c, j) {
      if (depth > 16) break;
      push_cjson(L, c, depth + 1);
      if (cJSON_IsArray(j)) lua_rawseti(L, -2, ++k);
      else lua_setfield(L, -2, c->string);
    }
  } else lua_pushnil(L);
}


/* Sets t[key] (t on the top) to a JSON layer's value: the params object,
   the messages list; nothing when the layer is absent or not JSON. */
static void set_json_layer(lua_State *L, const char *root, const struct ty_layer *l, const char *key) {
  push_text_layer(L, root, l);
  if (lua_isstring(L, -1)) {                        /* [.., t, text] */
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
      push_cjson(L, j, 0);                          /* a memory error here leaks j */
      lua_setfield(L, -3, key);
    }
    cJSON_Delete(j);
  }
  lua_pop(L, 1);
}


static void set_int(lua_State *L, const char *k, int64_t v) {
  if (v < 0) return;
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}


/* tycho.show(name) -> table | fail, msg, code: the manifest, facts from the
   model's GGUF header and the text layers */
static int l_show(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  char root[2048], path[4096];
  const struct ty_layer *model;
  struct ty_model_info mi;
  bool ro;
  ty_err err;
  lshow *b;
  lua_settop(L, 1);
  b = lua_newuserdatauv(L, sizeof *b, 0);           /* [name, box] */
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, SHOW_BOX);
  if (ty_store_manifest(name, &b->m, root, sizeof root, &ro, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  model = ty_manifest_layer(&b->m, TY_MEDIA_MODEL);
  if (model == NULL) {
    ty_err_set(&err, TY_ERR_FORMAT, "%s: the manifest has no model layer", name);
    return ty_lua_fail(L, &err);
  }
  ty_store_blob_path(root, model->digest, path, sizeof path);
  if (ty_gguf_open_header(path, &b->g, &err) != TY_OK || ty_model_info(b->g, &mi, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_createtable(L, 0, 16);                        /* [name, box, t] */
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, b->m.digest);
  lua_setfield(L, -2, "digest");
  lua_pushstring(L, ro ? "ollama" : "tycho");
  lua_setfield(L, -2, "source");
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  lua_pushlstring(L, mi.architecture.ptr ? mi.architecture.ptr : "", mi.architecture.len);
  lua_setfield(L, -2, "architecture");
  lua_pushinteger(L, (lua_Integer)mi.parameters);
  lua_setfield(L, -2, "parameters");
  if (mi.quant != NULL) {
    lua_pushstring(L, mi.quant);
    lua_setfield(L, -2, "quantization");
  }
  set_int(L, "context_length", mi.context_length);
  set_int(L, "embedding_length", mi.embedding_length);
  lua_pushinteger(L, (lua_Integer)model->size);
  lua_setfield(L, -2, "size");
  push_text_layer(L, root, ty_manifest_layer(&b->m, TY_MEDIA_TEMPLATE));
  lua_setfield(L, -2, "template");
  push_text_layer(L, root, ty_manifest_layer(&b->m, TY_MEDIA_SYSTEM));
  lua_setfield(L, -2, "system");
  push_text_layer(L, root, ty_manifest_layer(&b->m, TY_MEDIA_LICENSE));
  lua_setfield(L, -2, "license");
  set_json_layer(L, root, ty_manifest_layer(&b->m, TY_MEDIA_PARAMS), "params");
  set_json_layer(L, root, ty_manifest_layer(&b->m, TY_MEDIA_MESSAGES), "messages");
  lua_createtable(L, (int)b->m.n_layers, 0);
  for (size_t i = 0; i < b->m.n_layers; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, b->m.layers[i].media_type);
    lua_setfield(L, -2, "media_type");
    lua_pushstring(L, b->m.layers[i].digest);
    lua_setfield(L, -2, "digest");
    lua_pushinteger(L, (lua_Integer)b->m.layers[i].size);
    lua_setfield(L, -2, "size");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "layers");
  ty_manifest_free(&b->m);
  ty_gguf_close(b->g);
  b->g = NULL;
  return 1;
}


/* Reads tycho.pull's options into o; the progress function stays at index 3. */
static void pull_opts(lua_State *L, int t, struct ty_pull_opts *o) {
  static const char *const known[] = { "registry", "ca_bundle", "parts", "part_size", "retries",
    "backoff", "timeout", "stall", "progress", NULL };
  ty_pull_opts_init(o);
  lua_pushnil(L);                                   /* [name, opts, progress] */
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  ty_lua_check_options(L, t, known);
  if (lua_getfield(L, t, "registry") != LUA_TNIL) o->registry = luaL_checkstring(L, -1);
  if (lua_getfield(L, t, "ca_bundle") != LUA_TNIL) o->ca_bundle = luaL_checkstring(L, -1);
  lua_pop(L, 2);                                    /* the strings stay alive in opts */
  if (lua_getfield(L, t, "parts") != LUA_TNIL) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 1 && n <= 16, t, "parts must be 1 to 16");
    o->parts = (int)n;
  }
  if (lua_getfield(L, t, "part_size") != LUA_TNIL) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 1, t, "part_size must be positive");
    o->part_min = (uint64_t)n;
  }
  if (lua_getfield(L, t, "retries") != LUA_TNIL) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 0 && n <= 100, t, "retries must be 0 to 100");
    o->retries = (int)n;
  }
  if (lua_getfield(L, t, "backoff") != LUA_TNIL) {
    lua_Number x = luaL_checknumber(L, -1);
    luaL_argcheck(L, x >= 0 && x <= 60, t, "backoff must be 0 to 60 seconds");
    o->backoff = x;
  }
  if (lua_getfield(L, t, "timeout") != LUA_TNIL) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 1, t, "timeout must be a positive number of seconds");
    o->connect_timeout = (long)n;
  }
  if (lua_getfield(L, t, "stall") != LUA_TNIL) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 1, t, "stall must be a positive number of seconds");
    o->stall = (long)n;
  }
  lua_pop(L, 6);
  lua_getfield(L, t, "progress");
  if (!lua_isnil(L, -1)) luaL_checktype(L, -1, LUA_TFUNCTION);
  lua_replace(L, 3);                                /* [name, opts, progress] */
}


struct pull_cb {
  lua_State *L;
  bool failed;                                      /* progress raised: its error is on the stack */
};


/* Calls progress(done, total, digest) on the caller's thread; an error in it
   (or Ctrl-C) cancels the pull. */
static int pull_progress(void *ud, const char *digest, uint64_t done, uint64_t total) {
  struct pull_cb *c = ud;
  lua_State *L = c->L;
  if (ty_lua_poll_interrupt(NULL)) return 1;
  if (lua_isnil(L, 3)) return 0;
  lua_pushvalue(L, 3);
  lua_pushinteger(L, (lua_Integer)done);
  lua_pushinteger(L, (lua_Integer)total);
  lua_pushstring(L, digest);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    c->failed = true;                               /* [name, opts, progress, msg] */
    return 1;
  }
  return 0;
}


/* tycho.pull(name, opts) -> true | fail, msg, code */
static int l_pull(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  struct ty_pull_opts o;
  struct pull_cb c = { L, false };
  ty_err err;
  ty_status s;
  lua_settop(L, 2);
  pull_opts(L, 2, &o);
  lua_settop(L, 3);
  o.progress = pull_progress;
  o.ud = &c;
  ty_lua_clear_interrupt();
  s = ty_registry_pull(name, &o, &err);
  if (c.failed) return lua_error(L);                /* the progress function's error */
  if (s != TY_OK) return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}


/* Calls the progress function at index 4 with a create step; its errors are
   raised after the C side returns (a create cannot be cancelled midway). */
static void create_progress(void *ud, const char *status) {
  struct pull_cb *c = ud;
  if (c->failed || lua_isnil(c->L, 4)) return;
  lua_pushvalue(c->L, 4);
  lua_pushstring(c->L, status);
  if (lua_pcall(c->L, 1, 0, 0) != LUA_OK) c->failed = true;   /* the message stays on the stack */
}


/* tycho.create(name, modelfile, {dir =, label =, progress =}) -> true | fail, msg, code */
static int l_create(lua_State *L) {
  static const char *const known[] = { "dir", "label", "progress", NULL };
  const char *name = luaL_checkstring(L, 1), *label = NULL;
  struct ty_create_opts o = { 0 };
  struct pull_cb c = { L, false };
  ty_modelfile *mf;
  ty_err err;
  ty_status s;
  lua_settop(L, 3);
  lua_pushnil(L);                                   /* [name, mf, opts, progress] */
  if (!lua_isnil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    ty_lua_check_options(L, 3, known);
    if (lua_getfield(L, 3, "dir") != LUA_TNIL) o.dir = luaL_checkstring(L, -1);
    if (lua_getfield(L, 3, "label") != LUA_TNIL) label = luaL_checkstring(L, -1);
    lua_pop(L, 2);                                  /* the strings stay alive in opts */
    if (lua_getfield(L, 3, "progress") != LUA_TNIL) luaL_checktype(L, -1, LUA_TFUNCTION);
    lua_replace(L, 4);
  }
  o.where = label;
  if ((mf = ty_lua_modelfile_arg(L, 2, label, &err)) == NULL) return ty_lua_fail(L, &err);
  o.progress = create_progress;
  o.ud = &c;
  s = ty_store_create(name, mf, &o, &err);
  if (c.failed) return lua_error(L);
  if (s != TY_OK) return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}


/* tycho.rm(name) -> true | fail, msg, code */
static int l_rm(lua_State *L) {
  ty_err err;
  if (ty_store_rm(luaL_checkstring(L, 1), &err) != TY_OK) return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

#else

static int no_store(lua_State *L) {
  ty_err err;
  ty_err_set(&err, TY_ERR_UNSUPPORTED, "this tycho was built without the model store and "
             "registry pulls (cmake -DTYCHO_CURL=ON with libcurl, libcrypto and cJSON)");
  return ty_lua_fail(L, &err);
}

#define l_list no_store
#define l_show no_store
#define l_rm no_store
#define l_pull no_store
#define l_create no_store

#endif


static const luaL_Reg store_funcs[] = {
  { "pull", l_pull }, { "list", l_list }, { "show", l_show }, { "rm", l_rm }, { "create", l_create },
  { NULL, NULL }
};


/* Adds tycho.list, show, rm (and pull) to the table on the stack top. */
void ty_lua_store_open(lua_State *L) {
#ifdef TYCHO_HAVE_STORE
  static const luaL_Reg meta[] = { { "__gc", show_box_gc }, { NULL, NULL } };
  luaL_newmetatable(L, SHOW_BOX);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
#endif
  luaL_setfuncs(L, store_funcs, 0);
}
