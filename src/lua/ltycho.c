/*
 * ltycho.c: luaopen_tycho, the entry point `require "tycho"` looks for, and
 * the helpers every binding file shares.
 */
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
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


static const luaL_Reg tycho_funcs[] = {
  { "simd", l_simd }, { "now", l_now }, { NULL, NULL }
};


int luaopen_tycho(lua_State *L) {
  luaL_newlib(L, tycho_funcs);                      /* [tycho] */
  lua_pushliteral(L, TYCHO_VERSION);
  lua_setfield(L, -2, "version");
  ty_lua_model_open(L);
  return 1;
}
