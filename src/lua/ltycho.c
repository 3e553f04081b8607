/*
 * ltycho.c: luaopen_tycho, the entry point `require "tycho"` looks for, and
 * the helpers every binding file shares.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "store/store.h"
#include "tensor/tensor.h"

#define TYCHO_VERSION "0.1.0"


int ty_lua_fail(lua_State *L, const ty_err *err) {
  luaL_pushfail(L);
  lua_pushstring(L, err->msg);
  lua_pushinteger(L, err->code);
  return 3;
}


void ty_lua_check_options(lua_State *L, int t, const char *const *known) {
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {                     /* [.., key, value] */
    int ok = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      for (int i = 0; known[i] != NULL && !ok; i++) ok = strcmp(k, known[i]) == 0;
      if (!ok) luaL_error(L, "unknown option '%s'", k);
    } else {
      luaL_error(L, "options must be a table with string keys");
    }
    lua_pop(L, 1);                                  /* [.., key] */
  }
}


void ty_lua_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);                       /* [.., mt] */
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);                                  /* [.., mt, methods] */
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");                   /* [.., mt] */
  lua_pop(L, 1);                                    /* [..] */
}


/* tycho.find(model) -> path | fail, msg, code: a path, a file in the model
   cache, or a store name's model blob, as tycho.load resolves it */
static int l_find(lua_State *L) {
  char path[4096];
  ty_err err;
  if (ty_store_resolve(luaL_checkstring(L, 1), path, sizeof path, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_pushstring(L, path);
  return 1;
}


/* tycho.simd() -> the CPU kernel level in use ("avx512", "avx2", "scalar") */
static int l_simd(lua_State *L) {
  lua_pushstring(L, ty_qtype_simd());
  return 1;
}


/* tycho.now() -> seconds on a monotonic clock, for timing in scripts */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec * 1e-9);
  return 1;
}


/* tycho.dir(path) -> sorted list of names in a directory | fail, msg */
static int l_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  struct dirent *e;
  lua_Integer n = 0;
  if (d == NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_newtable(L);                                  /* [path, list] */
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  lua_getglobal(L, "table");                        /* [path, list, table] */
  lua_getfield(L, -1, "sort");
  lua_remove(L, -2);                                /* [path, list, sort] */
  if (lua_isfunction(L, -1)) {
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);                              /* [path, list] */
  } else {
    lua_pop(L, 1);
  }
  return 1;
}


static const luaL_Reg tycho_funcs[] = {
  { "simd", l_simd }, { "now", l_now }, { "dir", l_dir }, { "find", l_find },
  { NULL, NULL }
};


int luaopen_tycho(lua_State *L) {
  luaL_newlib(L, tycho_funcs);                      /* [tycho] */
  lua_pushliteral(L, TYCHO_VERSION);
  lua_setfield(L, -2, "version");
  ty_lua_model_open(L);
  ty_lua_tok_open(L);
  ty_lua_sampler_open(L);
  ty_lua_template_open(L);
  ty_lua_json_open(L);
  ty_lua_readline_open(L);
  ty_lua_info_open(L);
  ty_lua_plan_open(L);
  ty_lua_synth_open(L);
  ty_lua_modelfile_open(L);
  ty_lua_store_open(L);
  ty_lua_sha_open(L);
  ty_lua_quality_open(L);
  return 1;
}
