/*
 * lreadline.c: line editing for the chat loop and the shell, over GNU
 * readline: tycho.readline(prompt), tycho.add_history(line) and
 * tycho.isatty(stream). Ctrl-C at the prompt ends the read with "interrupted"
 * instead of waiting for Enter, so the caller can exit or start over.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>
#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"

static volatile sig_atomic_t rl_interrupted = 0;


static void on_sigint(int sig) {
  (void)sig;
  rl_interrupted = 1;
}


/* readline's own getc, except that a Ctrl-C (a read interrupted by SIGINT)
   ends the line at once. */
static int getc_interruptible(FILE *f) {
  unsigned char c;
  for (;;) {
    ssize_t r = read(fileno(f), &c, 1);
    if (r == 1) return c;
    if (r == 0) return EOF;
    if (errno != EINTR) return EOF;
    if (rl_interrupted) return '\n';
  }
}


/* tycho.readline(prompt) -> line | nil at end of input | false, "interrupted" */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "");
  struct sigaction sa, old;
  char *line;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;                        /* no SA_RESTART: read() returns EINTR */
  sigemptyset(&sa.sa_mask);
  rl_catch_signals = 0;
  rl_getc_function = getc_interruptible;
  rl_interrupted = 0;
  sigaction(SIGINT, &sa, &old);
  line = readline(prompt);
  sigaction(SIGINT, &old, NULL);
  if (rl_interrupted) {
    free(line);
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "interrupted");
    return 2;
  }
  if (line == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, line);
  free(line);
  return 1;
}


/* tycho.add_history(line): makes line reachable with the up arrow */
static int l_add_history(lua_State *L) {
  add_history(luaL_checkstring(L, 1));
  return 0;
}


/* tycho.isatty(name) -> whether "stdin", "stdout" or "stderr" is a terminal */
static int l_isatty(lua_State *L) {
  static const char *const names[] = { "stdin", "stdout", "stderr", NULL };
  int fd = luaL_checkoption(L, 1, "stdin", names);
  lua_pushboolean(L, isatty(fd));
  return 1;
}


static const luaL_Reg readline_funcs[] = {
  { "readline", l_readline }, { "add_history", l_add_history }, { "isatty", l_isatty },
  { NULL, NULL }
};


void ty_lua_readline_open(lua_State *L) {
  luaL_setfuncs(L, readline_funcs, 0);              /* [tycho] */
}
