/*
 * linfo.c: tycho.info(model) and tycho.devices(). (placeholder: being written)
 */
#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"


void ty_lua_info_open(lua_State *L) {
  (void)L;
}
