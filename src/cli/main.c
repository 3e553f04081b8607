/*
 * main.c: the tycho program. As lua.c does, a protected pmain does all the
 * work: it preloads the tycho module, finds lua/tycho/cli.lua and hands it
 * the command line. Errors get a traceback; Ctrl-C raises "interrupted" in
 * Lua (through a hook) and cancels long C loops (through a flag the binding
 * polls), so a script stops without killing the process.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int luaopen_tycho(lua_State *L);
void ty_lua_interrupt(void);      /* lmodel.c: asks running C loops to stop */

static lua_State *globalL = NULL;
static volatile sig_atomic_t pending = 0;   /* a Ctrl-C that Lua has not seen yet */


static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  pending = 0;
  luaL_error(L, "interrupted");
}


/* The first Ctrl-C asks politely (a hook for Lua, a flag for C loops); a
   second one before Lua has noticed the first kills, as in lua.c. Unlike
   lua.c the handler stays, so a chat loop that caught "interrupted" can be
   interrupted again. */
static void on_sigint(int sig) {
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  if (pending) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  pending = 1;
  ty_lua_interrupt();
  if (globalL != NULL) lua_sethook(globalL, lstop, flag, 1);
}


static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/* Where cli.lua lives: $TYCHO_LUA_DIR, the source tree this binary was
   built from, or the install prefix. */
static const char *lua_dir(void) {
  static const char *dirs[] = { NULL, TYCHO_LUA_DIR, TYCHO_LUA_INSTALL_DIR };
  char path[4096];
  dirs[0] = getenv("TYCHO_LUA_DIR");
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    if (dirs[i] == NULL) continue;
    snprintf(path, sizeof path, "%s/tycho/cli.lua", dirs[i]);
    if (access(path, R_OK) == 0) return dirs[i];
  }
  return NULL;
}


static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  const char *dir = lua_dir();
  luaL_openlibs(L);
  luaL_requiref(L, "tycho", luaopen_tycho, 0);       /* [tycho] */
  lua_pop(L, 1);                                     /* [] */
  if (dir == NULL)
    return luaL_error(L, "cannot find tycho/cli.lua; set TYCHO_LUA_DIR to the lua/ folder");
  /* package.path = DIR/?.lua;DIR/?/init.lua;<default> */
  lua_getglobal(L, "package");                       /* [package] */
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield(L, -2, "path");                       /* [package, prefix, path] */
  lua_concat(L, 2);                                  /* [package, newpath] */
  lua_setfield(L, -2, "path");                       /* [package] */
  lua_pop(L, 1);                                     /* [] */
  lua_createtable(L, argc, 1);                       /* [arg] */
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");                           /* [] */
  lua_getglobal(L, "require");
  lua_pushstring(L, "tycho.cli");
  lua_call(L, 1, 1);                                 /* [cli] */
  lua_getfield(L, -1, "main");                       /* [cli, main] */
  lua_createtable(L, argc - 1, 0);                   /* [cli, main, args] */
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);                                 /* [cli, status] */
  return 1;
}


int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status, code = 1;
  if (L == NULL) {
    fprintf(stderr, "tycho: cannot create the Lua state: not enough memory\n");
    return 1;
  }
  globalL = L;
  signal(SIGINT, on_sigint);
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 1);
  if (status != LUA_OK) {
    fprintf(stderr, "tycho: %s\n", lua_tostring(L, -1));
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  globalL = NULL;
  lua_close(L);
  return code;
}
