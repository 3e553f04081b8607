/*
 * ljson.c: tycho.json, JSON for scripts and the command line over cJSON:
 * encode(value [, {indent = true}]) and decode(text). Object keys come out
 * sorted so that saved recipes and results are reproducible byte for byte.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"

#define MAX_DEPTH 200


/* ================================================================
   Lua -> JSON
   ================================================================ */

/* A table is an array when its keys are exactly 1..n with n > 0. */
static lua_Integer array_length(lua_State *L, int t) {
  lua_Integer n = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {                     /* [.., k, v] */
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    n++;
  }
  return n > 0 && max == n ? n : -1;
}


static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}


/* A number as the shortest text that reads back as the same double (cJSON's
   own printer accepts 15 digits that are off by an ulp), or an integer
   exactly; JSON has no infinity or NaN, so those become null. */
static cJSON *number(lua_State *L, int i) {
  char buf[40];
  double d = lua_tonumber(L, i);
  if (lua_isinteger(L, i)) {
    snprintf(buf, sizeof buf, LUA_INTEGER_FMT, lua_tointeger(L, i));
    return cJSON_CreateRaw(buf);
  }
  if (!isfinite(d)) return cJSON_CreateNull();
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, d);
    if (strtod(buf, NULL) == d) break;
  }
  return cJSON_CreateRaw(buf);
}


/* Converts the value at index i; on a value JSON cannot hold, raises
   (after the caller frees what was built: see json_encode). */
static cJSON *to_json(lua_State *L, int i, int depth, const char **bad) {
  i = lua_absindex(L, i);
  if (depth > MAX_DEPTH) { *bad = "nesting too deep (a table that contains itself?)"; return NULL; }
  switch (lua_type(L, i)) {
  case LUA_TNIL: return cJSON_CreateNull();
  case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, i));
  case LUA_TNUMBER: return number(L, i);
  case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, i));
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, i) == NULL) return cJSON_CreateNull();   /* tycho.json.null */
    break;
  case LUA_TTABLE: {
    lua_Integer n = array_length(L, i);
    cJSON *out;
    luaL_checkstack(L, 4, "json: nesting too deep");
    if (n > 0) {
      out = cJSON_CreateArray();
      for (lua_Integer k = 1; out != NULL && k <= n; k++) {
        cJSON *item;
        lua_geti(L, i, k);
        item = to_json(L, -1, depth + 1, bad);
        lua_pop(L, 1);
        if (item == NULL) { cJSON_Delete(out); return NULL; }
        cJSON_AddItemToArray(out, item);
      }
      return out;
    }
    {
      /* an object, with its keys sorted; an empty table is {} */
      size_t nk = 0, cap = 16;
      const char **keys = malloc(cap * sizeof *keys);
      out = cJSON_CreateObject();
      if (keys == NULL || out == NULL) { free(keys); cJSON_Delete(out); *bad = "out of memory"; return NULL; }
      lua_pushnil(L);
      while (lua_next(L, i) != 0) {                 /* [.., k, v] */
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
          lua_pop(L, 1);
          free(keys);
          cJSON_Delete(out);
          *bad = "a table mixes a list with other keys, or has keys that are not strings";
          return NULL;
        }
        if (nk == cap) {
          const char **p = realloc(keys, 2 * cap * sizeof *keys);
          if (p == NULL) { lua_pop(L, 1); free(keys); cJSON_Delete(out); *bad = "out of memory"; return NULL; }
          keys = p;
          cap *= 2;
        }
        keys[nk++] = lua_tostring(L, -1);           /* the table keeps its keys alive */
      }
      qsort(keys, nk, sizeof *keys, cmp_str);
      for (size_t k = 0; k < nk; k++) {
        cJSON *item;
        lua_getfield(L, i, keys[k]);
        item = to_json(L, -1, depth + 1, bad);
        lua_pop(L, 1);
        if (item == NULL) { free(keys); cJSON_Delete(out); return NULL; }
        cJSON_AddItemToObject(out, keys[k], item);
      }
      free(keys);
      return out;
    }
  }
  default:
    break;
  }
  *bad = lua_typename(L, lua_type(L, i));
  return NULL;
}


/* tycho.json.encode(value [, {indent = true}]) -> text */
static int json_encode(lua_State *L) {
  const char *bad = "out of memory";
  cJSON *j;
  char *text;
  bool indent = false;
  luaL_checkany(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    static const char *const known[] = { "indent", NULL };
    luaL_checktype(L, 2, LUA_TTABLE);
    ty_lua_check_options(L, 2, known);
    lua_getfield(L, 2, "indent");
    indent = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  j = to_json(L, 1, 0, &bad);
  if (j == NULL) return luaL_error(L, "json: cannot encode %s", bad);
  text = indent ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (text == NULL) return luaL_error(L, "json: out of memory");
  lua_pushstring(L, text);
  cJSON_free(text);
  return 1;
}


/* ================================================================
   JSON -> Lua
   ================================================================ */

static void push_json(lua_State *L, const cJSON *j, int depth) {
  luaL_checkstack(L, 4, "json: nesting too deep");
  if (cJSON_IsNull(j)) {
    lua_pushlightuserdata(L, NULL);                 /* tycho.json.null keeps list positions */
  } else if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == (double)(lua_Integer)d && d >= -9007199254740992.0 && d <= 9007199254740992.0)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    lua_Integer k = 0;
    const cJSON *c;
    lua_createtable(L, cJSON_GetArraySize(j), 0);
    cJSON_ArrayForEach(c, j) {
      push_json(L, c, depth + 1);
      lua_rawseti(L, -2, ++k);
    }
  } else {
    const cJSON *c;
    lua_createtable(L, 0, cJSON_GetArraySize(j));
    cJSON_ArrayForEach(c, j) {
      push_json(L, c, depth + 1);
      lua_setfield(L, -2, c->string);
    }
  }
}


/* tycho.json.decode(text) -> value | fail, msg */
static int json_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len), *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (j == NULL) {
    size_t at = end != NULL && end >= text ? (size_t)(end - text) : 0;
    const char *e = cJSON_GetErrorPtr();
    if (e != NULL && e >= text && e <= text + len) at = (size_t)(e - text);
    luaL_pushfail(L);
    lua_pushfstring(L, "json: invalid JSON at byte %d", (int)at + 1);
    return 2;
  }
  /* push_json can only fail by running out of memory; cJSON's tree is
     leaked then, as any allocation failure inside Lua would */
  push_json(L, j, 0);
  cJSON_Delete(j);
  return 1;
}


static const luaL_Reg json_funcs[] = {
  { "encode", json_encode }, { "decode", json_decode }, { NULL, NULL }
};


void ty_lua_json_open(lua_State *L) {
  luaL_newlib(L, json_funcs);                       /* [tycho, json] */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "json");                      /* [tycho] */
}
