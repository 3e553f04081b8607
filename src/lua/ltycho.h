/*
 * ltycho.h: what the binding files share. Only src/lua/ includes lua.h.
 */
#ifndef TY_LTYCHO_H
#define TY_LTYCHO_H

#include <lua.h>

#include "base/base.h"

#define TY_LUA_MODEL "tycho.Model"

/* Pushes fail, err->msg, err->code and returns 3 (an expected failure). */
int ty_lua_fail(lua_State *L, const ty_err *err);

/* Raises an error naming the first key of table t not in known. */
void ty_lua_check_options(lua_State *L, int t, const char *const *known);

/* Registers tycho.Model and tycho.load into the table on the stack top. */
void ty_lua_model_open(lua_State *L);

#endif
