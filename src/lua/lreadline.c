/*
 * lreadline.c: line editing for the chat loop and the shell, over GNU
 * readline: tycho.readline(prompt [, complete]), the history functions and
 * tycho.isatty(stream). Ctrl-C at the prompt ends the read with "interrupted"
 * instead of waiting for Enter, so the caller can exit or start over.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* The state and stack index of the Lua completion function, set only while
   a tycho.readline call with one is inside readline(). */
static lua_State *complete_L = NULL;
static int complete_idx = 0;

/* Everything but the characters of a Lua name path (a.b:c), so that the
   word readline completes is the one shell.complete sees. */
static const char word_breaks[] = " \t\n\"'`!#$%&()*+,-/;<=>?@[\\]^{|}~";


static void on_sigint(int sig) {
  (void)sig;
  rl_interrupted = 1;
}


/* readline's own getc, except that a Ctrl-C ends the line at once. It
   polls with a timeout rather than blocking in read(): a SIGINT that lands
   just before the read would otherwise be noticed only at the next key. */
static int getc_interruptible(FILE *f) {
  struct pollfd p;
  unsigned char c;
  p.fd = fileno(f);
  p.events = POLLIN;
  for (;;) {
    int r;
    if (rl_interrupted) return '\n';
    r = poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) return EOF;
    if (r > 0) {
      ssize_t n = read(p.fd, &c, 1);
      if (n == 1) return c;
      if (n == 0) return EOF;
      if (errno != EINTR && errno != EAGAIN) return EOF;
    }
  }
}


/* readline's rl_completion_word_break_hook: inside an unclosed string
   literal the word is a file name (io.open("/tmp/<TAB>), so '/' and '.' must
   not break it; elsewhere it is a Lua name path. */
static char *word_break_hook(void) {
  static char file_breaks[] = " \t\n\"'";
  char q = 0;
  for (int i = 0; i < rl_point && rl_line_buffer[i] != '\0'; i++) {
    char c = rl_line_buffer[i];
    if (q != 0 && c == '\\' && i + 1 < rl_point) i++;
    else if (q != 0 && c == q) q = 0;
    else if (q == 0 && (c == '"' || c == '\'')) q = c;
  }
  return q != 0 ? file_breaks : (char *)word_breaks;
}


/* Runs under lua_pcall: calls the completion function (index 1) with the
   line before the cursor (index 2) and converts its list of strings into
   readline's match array: [0] the common prefix, then the matches, NULL
   last; all malloc'd, readline frees them. Stores the array in *out (a light
   userdata at index 3); leaves it NULL when the function gave no table, so
   readline completes file names. */
static int complete_call(lua_State *L) {
  char ***out = lua_touserdata(L, 3);
  lua_Integer n;
  char **m;
  size_t common = 0;
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);                                /* [fn, line, out, list] */
  if (!lua_istable(L, 4)) return 0;
  n = (lua_Integer)lua_rawlen(L, 4);
  rl_attempted_completion_over = 1;                 /* a table, even empty: no file names */
  if (n <= 0) return 0;
  if (n > 100000) n = 100000;
  m = calloc((size_t)n + 2, sizeof *m);
  if (m == NULL) return luaL_error(L, "completion: not enough memory");
  for (lua_Integer i = 1; i <= n; i++) {      /* raw and strings only: nothing can raise */
    const char *s;
    lua_rawgeti(L, 4, i);                           /* [fn, line, out, list, s] */
    s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    m[i] = strdup(s);
    lua_pop(L, 1);                                  /* [fn, line, out, list] */
    if (m[i] == NULL) {
      for (lua_Integer j = 1; j < i; j++) free(m[j]);
      free(m);
      return luaL_error(L, "completion: not enough memory");
    }
    if (i == 1) {
      common = strlen(m[1]);
    } else {
      size_t k = 0;
      while (k < common && m[i][k] == m[1][k]) k++;
      common = k;
    }
  }
  m[0] = strndup(m[1], common);
  if (m[0] == NULL) {
    for (lua_Integer i = 1; i <= n; i++) free(m[i]);
    free(m);
    return luaL_error(L, "completion: not enough memory");
  }
  if (n == 1) {                                     /* one match: [0] is it, alone */
    free(m[1]);
    m[1] = NULL;
  }
  *out = m;
  return 0;
}


/* readline's rl_attempted_completion_function: asks the Lua function for
   the matches of the word text (line[start..end)). A Lua error is caught by
   lua_pcall and means no matches: nothing may longjmp through readline. */
static char **complete_hook(const char *text, int start, int end) {
  lua_State *L = complete_L;
  char **matches = NULL;
  int top;
  (void)text;
  (void)start;
  rl_completion_append_character = '\0';           /* a.b<TAB> may go on with .c or :d */
  if (L == NULL || !lua_checkstack(L, 8)) return NULL;
  top = lua_gettop(L);
  lua_pushcfunction(L, complete_call);              /* [.., call] */
  lua_pushvalue(L, complete_idx);                   /* [.., call, fn] */
  lua_pushlstring(L, rl_line_buffer, (size_t)end);  /* [.., call, fn, line] */
  lua_pushlightuserdata(L, &matches);               /* [.., call, fn, line, out] */
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    rl_attempted_completion_over = 1;
    matches = NULL;
  }
  lua_settop(L, top);                               /* [..] */
  return matches;
}


/* tycho.readline(prompt [, complete]) -> line | nil at end of input |
   false, "interrupted", partial line. complete(line_before_cursor) returns
   the list of words that may replace the Lua name ending at the cursor, or
   nil to complete file names. */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "");
  int has_complete = !lua_isnoneornil(L, 2);
  struct sigaction sa, old;
  rl_completion_func_t *old_complete = rl_attempted_completion_function;
  rl_cpvfunc_t *old_break_hook = rl_completion_word_break_hook;
  const char *old_breaks = rl_completer_word_break_characters;
  const char *old_quotes = rl_completer_quote_characters;
  char *line;
  if (has_complete) luaL_checktype(L, 2, LUA_TFUNCTION);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;                        /* no SA_RESTART: read() returns EINTR */
  sigemptyset(&sa.sa_mask);
  rl_readline_name = "tycho";
  rl_catch_signals = 0;
  rl_getc_function = getc_interruptible;
  rl_interrupted = 0;
  if (has_complete) {
    complete_L = L;
    complete_idx = 2;
    rl_attempted_completion_function = complete_hook;
    rl_completer_word_break_characters = word_breaks;
    rl_completion_word_break_hook = word_break_hook;
    rl_completer_quote_characters = "\"'";
  }
  sigaction(SIGINT, &sa, &old);
  line = readline(prompt);
  sigaction(SIGINT, &old, NULL);
  if (has_complete) {                               /* the chat loop keeps the defaults */
    complete_L = NULL;
    rl_attempted_completion_function = old_complete;
    rl_completer_word_break_characters = old_breaks;
    rl_completion_word_break_hook = old_break_hook;
    rl_completer_quote_characters = old_quotes;
  }
  if (rl_interrupted) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "interrupted");
    lua_pushstring(L, line != NULL ? line : "");
    free(line);
    return 3;
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


/* Pushes true when readline's history call returned 0, else fail and
   "path: reason" (they return an errno value). */
static int history_result(lua_State *L, const char *path, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", path, strerror(rc));
  return 2;
}


/* tycho.read_history(path) -> true | fail, msg: adds the lines of a
   history file to the in-memory history */
static int l_read_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  return history_result(L, path, read_history(path));
}


/* tycho.write_history(path [, max]) -> true | fail, msg: replaces the file
   with the in-memory history, then keeps only its last max lines */
static int l_write_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, -1);
  int rc = write_history(path);
  if (rc == 0 && max >= 0) rc = history_truncate_file(path, max > 1000000 ? 1000000 : (int)max);
  return history_result(L, path, rc);
}


/* tycho.append_history(path [, max]) -> true | fail, msg: appends the
   latest history entry to the file (created if missing), then keeps only
   its last max lines, so a session that dies still has its history */
static int l_append_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, -1);
  int fd, rc;
  if (history_length < 1) return history_result(L, path, 0);
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);  /* append_history wants the file */
  if (fd < 0) return history_result(L, path, errno);
  close(fd);
  rc = append_history(1, path);
  if (rc == 0 && max >= 0) rc = history_truncate_file(path, max > 1000000 ? 1000000 : (int)max);
  return history_result(L, path, rc);
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
  { "read_history", l_read_history }, { "write_history", l_write_history },
  { "append_history", l_append_history }, { NULL, NULL }
};


void ty_lua_readline_open(lua_State *L) {
  luaL_setfuncs(L, readline_funcs, 0);              /* [tycho] */
}
