/*
 * lgen.c: generation from Lua: m:generate (streams through on_token and
 * returns a result table), m:stream (a tycho.Stream: an iterator that
 * advances one step per call, so a for loop or a coroutine drives it) and
 * m:render (the prompt text a conversation becomes).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "gen/gen.h"
#include "ltycho.h"

#define TY_LUA_STREAM "tycho.Stream"
#define MAX_STOPS 64


static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


struct ty_chat_msg *ty_lua_messages(lua_State *L, int i, const char *system, size_t *n) {
  lua_Integer len = luaL_len(L, i);
  size_t k = 0;
  struct ty_chat_msg *msgs;
  msgs = lua_newuserdatauv(L, ((size_t)len + 1) * sizeof *msgs, 0);    /* [.., msgs] */
  if (system != NULL) {
    msgs[k].role = "system";
    msgs[k++].content = system;
  }
  for (lua_Integer j = 1; j <= len; j++) {
    if (lua_geti(L, i, j) != LUA_TTABLE)                                  /* [.., msgs, msg] */
      luaL_error(L, "bad argument #%d: message %d is not a table {role = ..., content = ...}",
                 i, (int)j);
    lua_getfield(L, -1, "role");                                          /* [.., msgs, msg, role] */
    lua_getfield(L, -2, "content");                                       /* [.., msgs, msg, role, content] */
    if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
      luaL_error(L, "bad argument #%d: message %d needs string fields role and content", i, (int)j);
    msgs[k].role = lua_tostring(L, -2);
    msgs[k++].content = lua_tostring(L, -1);
    if (strcmp(msgs[k - 1].role, "system") != 0 && strcmp(msgs[k - 1].role, "user") != 0 &&
        strcmp(msgs[k - 1].role, "assistant") != 0 && strcmp(msgs[k - 1].role, "tool") != 0)
      luaL_error(L, "bad argument #%d: message %d has role '%s' (system, user, assistant or tool)",
                 i, (int)j, msgs[k - 1].role);
    lua_pop(L, 3);                                                        /* [.., msgs] */
  }
  *n = k;
  return msgs;
}


/* Renders argument i (a prompt string or a list of messages) to the text
   the model sees, pushed on the stack. raw sends a string as it is. */
static void prompt_push(lua_State *L, ty_gen *g, int i, bool raw, const char *system) {
  struct ty_chat_msg one[2], *msgs = one;
  size_t n = 0, len;
  char *text;
  ty_err err;
  if (lua_type(L, i) == LUA_TSTRING) {
    if (raw) {
      lua_pushvalue(L, i);
      return;
    }
    if (system != NULL) {
      one[n].role = "system";
      one[n++].content = system;
    }
    one[n].role = "user";
    one[n++].content = lua_tostring(L, i);
    lua_pushnil(L);                               /* keeps the stack shape of the table case */
  } else if (lua_type(L, i) == LUA_TTABLE) {
    if (raw) luaL_argerror(L, i, "raw needs a prompt string, not messages");
    msgs = ty_lua_messages(L, i, system, &n);      /* [.., msgs] */
  } else {
    luaL_typeerror(L, i, "string or list of messages");
  }
  if (ty_gen_render(g, msgs, n, &text, &len, &err) != TY_OK)
    luaL_error(L, "%s", err.msg);
  lua_pop(L, 1);
  lua_pushlstring(L, text, len);                  /* [.., prompt] */
  free(text);
}


/* m:render(prompt_or_messages, {system = ...}) -> the text the model would see */
static int model_render(lua_State *L) {
  static const char *const known[] = { "system", NULL };
  ty_gen *g = ty_lua_gen_check(L, 1);
  const char *system = NULL;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    ty_lua_check_options(L, 3, known);
    lua_getfield(L, 3, "system");
    system = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  }
  prompt_push(L, g, 2, false, system);
  return 1;
}


struct gen_call {
  lua_State *L;
  int fn;              /* stack index of on_token, or 0 */
  int err;             /* stack index of the slot that receives an error */
  bool failed;
};


static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) return 1;                      /* an error object stays as it is */
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/* ty_gen's on_text: calls on_token(text) under pcall; an error is kept and
   stops the generation, false stops it quietly. */
static int gen_on_text(void *ud, const char *text, size_t len) {
  struct gen_call *c = ud;
  lua_State *L = c->L;
  int stop;
  if (c->fn == 0) return 0;
  lua_pushcfunction(L, traceback);                /* [.., h] */
  lua_pushvalue(L, c->fn);
  lua_pushlstring(L, text, len);                  /* [.., h, fn, text] */
  if (lua_pcall(L, 1, 1, -3) != LUA_OK) {         /* [.., h, err] */
    lua_replace(L, c->err);
    lua_pop(L, 1);
    c->failed = true;
    return 1;
  }
  stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 2);
  return stop;
}


/* Reads generation options at index t (may be nil) into o, *raw, *system
   and stops; pushes the stop list (it owns the strings) or nil. With
   on_token non-NULL the on_token function is accepted and its stack index
   stored there (0 when absent). */
static void gen_opts(lua_State *L, int t, struct ty_gen_opts *o, bool *raw, const char **system,
                     const char **stops, int *on_token) {
  static const char *const known[] = {
    "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty", "repeat_last_n",
    "presence_penalty", "frequency_penalty", "seed", "num_predict", "stop", "raw", "system",
    "on_token", NULL
  };
  ty_err err;
  ty_gen_opts_default(o);
  *raw = false;
  *system = NULL;
  if (on_token != NULL) *on_token = 0;
  if (lua_isnil(L, t)) {
    lua_pushnil(L);
    return;
  }
  luaL_checktype(L, t, LUA_TTABLE);
  ty_lua_check_options(L, t, known);
  ty_lua_sampling_opts(L, t, &o->sampling);
  lua_getfield(L, t, "num_predict");
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1)) luaL_error(L, "bad option 'num_predict': expected an integer");
    o->num_predict = (int)lua_tointeger(L, -1);
  }
  lua_getfield(L, t, "raw");
  *raw = lua_toboolean(L, -1);
  lua_getfield(L, t, "system");
  if (!lua_isnil(L, -1)) *system = luaL_checkstring(L, -1);
  lua_pop(L, 3);                                  /* the system string stays in the table */
  if (lua_getfield(L, t, "on_token") != LUA_TNIL) {
    if (on_token == NULL) luaL_error(L, "bad option 'on_token': a stream hands out the text itself");
    luaL_checktype(L, -1, LUA_TFUNCTION);
    *on_token = lua_gettop(L);                    /* [.., fn] stays */
  } else {
    lua_pop(L, 1);
  }
  if (lua_getfield(L, t, "stop") != LUA_TNIL) {   /* [.., stop] stays: it owns the strings */
    o->stop = stops;
    if (lua_type(L, -1) == LUA_TSTRING) {
      stops[o->n_stop++] = lua_tostring(L, -1);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      lua_Integer n = luaL_len(L, -1);
      if (n > MAX_STOPS) luaL_error(L, "bad option 'stop': at most %d stop strings", MAX_STOPS);
      for (lua_Integer k = 1; k <= n; k++) {
        if (lua_geti(L, -1, k) != LUA_TSTRING) luaL_error(L, "bad option 'stop': expected strings");
        stops[o->n_stop++] = lua_tostring(L, -1);
        lua_pop(L, 1);
      }
    } else {
      luaL_error(L, "bad option 'stop': expected a string or a list of strings");
    }
  }
  /* bad settings are misuse: raise now rather than fail later */
  if (ty_sampler_params_check(&o->sampling, &err) != TY_OK) luaL_error(L, "%s", err.msg);
}


/* Pushes the result table of a run: text, done_reason and Ollama's counts,
   durations (seconds) and rates. */
static void result_push(lua_State *L, const struct ty_gen_result *r, double total) {
  lua_createtable(L, 0, 12);                      /* [.., result] */
  lua_pushlstring(L, r->text ? r->text : "", r->text_len);
  lua_setfield(L, -2, "text");
  lua_pushstring(L, ty_gen_done_name(r->done));
  lua_setfield(L, -2, "done_reason");
#define SETI(name, v) (lua_pushinteger(L, (v)), lua_setfield(L, -2, name))
#define SETN(name, v) (lua_pushnumber(L, (v)), lua_setfield(L, -2, name))
  SETI("prompt_tokens", r->prompt_tokens);
  SETI("prompt_eval_count", r->prompt_eval_count);
  SETN("prompt_eval_duration", r->prompt_eval_s);
  SETN("prompt_eval_rate", r->prompt_eval_s > 0 ? r->prompt_eval_count / r->prompt_eval_s : 0);
  SETI("eval_count", r->eval_count);
  SETN("eval_duration", r->eval_s);
  SETN("eval_rate", r->eval_s > 0 ? r->eval_count / r->eval_s : 0);
  SETN("total_duration", total);
#undef SETI
#undef SETN
}


/* m:generate(prompt_or_messages, opts) -> result | fail, msg, code.
   opts: the sampling PARAMETERs, num_predict, stop (a string or a list),
   raw, system, on_token(text) (return false to stop). */
static int model_generate(lua_State *L) {
  ty_gen *g = ty_lua_gen_check(L, 1);
  struct ty_gen_opts o;
  struct ty_gen_result r;
  struct gen_call c = { L, 0, 0, false };
  const char *stops[MAX_STOPS], *system, *prompt;
  size_t plen;
  bool raw;
  ty_status st;
  ty_err err;
  double t0 = now_s();

  lua_settop(L, 3);
  lua_pushnil(L);                                 /* [m, p, opts, errslot] */
  c.err = 4;
  gen_opts(L, 3, &o, &raw, &system, stops, &c.fn);   /* [.., fn?, stop] */
  prompt_push(L, g, 2, raw, system);              /* [.., prompt] */
  prompt = lua_tolstring(L, -1, &plen);
  o.on_text = gen_on_text;
  o.ud = &c;
  o.cancel = ty_lua_poll_interrupt;
  ty_lua_clear_interrupt();
  st = ty_gen_run(g, prompt, plen, &o, &r, &err);
  if (c.failed) {                                 /* on_token raised: propagate it */
    ty_gen_result_clear(&r);
    lua_pushvalue(L, c.err);
    return lua_error(L);
  }
  if (st != TY_OK) {
    ty_gen_result_clear(&r);
    return ty_lua_fail(L, &err);
  }
  result_push(L, &r, now_s() - t0);
  ty_gen_result_clear(&r);
  return 1;
}


/* ================================================================
   tycho.Stream
   ================================================================ */

/* A stream is a handle on its model's run: serial tells whether the run
   is still this stream's. User value 1 keeps the model alive. */
typedef struct {
  unsigned serial;
  bool over;                       /* ended, replaced or closed */
  double t0, total;
} lstream;


/* The stream at index i and its model's generation state, or NULL when
   the model is closed or another run replaced this one. */
static ty_gen *stream_gen(lua_State *L, int i, lstream **out) {
  lstream *s = luaL_checkudata(L, i, TY_LUA_STREAM);
  ty_gen *g;
  *out = s;
  lua_getiuservalue(L, i, 1);                     /* [.., m] */
  g = ty_lua_gen_test(L, -1);
  lua_pop(L, 1);                                  /* [..] */
  if (g != NULL && ty_gen_serial(g) != s->serial) g = NULL;
  return g;
}


/* stream() -> the next piece of text, or nil when the generation is over.
   Steps until some text is final (a step may hold text back for a stop
   string) or the run ends. */
static int stream_call(lua_State *L) {
  lstream *s;
  ty_gen *g = stream_gen(L, 1, &s);
  ty_err err;
  if (s->over || g == NULL) {
    s->over = true;
    lua_pushnil(L);
    return 1;
  }
  for (;;) {
    const char *text;
    size_t len;
    bool done;
    if (ty_gen_step(g, &text, &len, &done, &err) != TY_OK) {
      s->over = true;
      return luaL_error(L, "%s", err.msg);
    }
    if (done && !s->over) {
      s->over = true;
      s->total = now_s() - s->t0;
    }
    if (len > 0) {
      lua_pushlstring(L, text, len);
      return 1;
    }
    if (done) {
      lua_pushnil(L);
      return 1;
    }
  }
}


/* s:result() -> the result table (as m:generate's) of the run so far */
static int stream_result(lua_State *L) {
  lstream *s;
  ty_gen *g = stream_gen(L, 1, &s);
  const struct ty_gen_result *r = g != NULL ? ty_gen_result(g) : NULL;
  if (r == NULL) return luaL_error(L, "this stream's generation was replaced by another or closed");
  result_push(L, r, s->over ? s->total : now_s() - s->t0);
  return 1;
}


/* s:close(): ends the generation now (also __close and __gc) */
static int stream_close(lua_State *L) {
  lstream *s;
  ty_gen *g = stream_gen(L, 1, &s);
  if (g != NULL) ty_gen_end(g);
  s->over = true;
  return 0;
}


static int stream_tostring(lua_State *L) {
  lstream *s;
  ty_gen *g = stream_gen(L, 1, &s);
  const struct ty_gen_result *r = g != NULL ? ty_gen_result(g) : NULL;
  if (r == NULL) lua_pushliteral(L, "tycho.Stream (closed)");
  else lua_pushfstring(L, "tycho.Stream (%d tokens, %s)", r->eval_count,
                       s->over ? ty_gen_done_name(r->done) : "running");
  return 1;
}


/* m:stream(prompt_or_messages, opts) -> stream, nil, nil, stream.
   Evaluates the prompt, then hands out text one call at a time:
   `for text in m:stream(p) do ... end` (the loop closes the stream when it
   ends or breaks). opts as m:generate's, without on_token. Starting another
   generation on the model ends this one. */
static int model_stream(lua_State *L) {
  ty_gen *g = ty_lua_gen_check(L, 1);
  struct ty_gen_opts o;
  const char *stops[MAX_STOPS], *system, *prompt;
  size_t plen;
  bool raw;
  lstream *s;
  ty_err err;
  double t0 = now_s();
  lua_settop(L, 3);
  gen_opts(L, 3, &o, &raw, &system, stops, NULL);   /* [m, p, opts, stop] */
  prompt_push(L, g, 2, raw, system);              /* [m, p, opts, stop, prompt] */
  prompt = lua_tolstring(L, -1, &plen);
  o.cancel = ty_lua_poll_interrupt;
  ty_lua_clear_interrupt();
  s = lua_newuserdatauv(L, sizeof *s, 1);          /* [.., prompt, s] */
  memset(s, 0, sizeof *s);
  s->over = true;
  s->t0 = t0;
  luaL_setmetatable(L, TY_LUA_STREAM);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);                     /* the stream keeps its model alive */
  if (ty_gen_start(g, prompt, plen, &o, &err) != TY_OK) return ty_lua_fail(L, &err);
  s->serial = ty_gen_serial(g);
  s->over = false;
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, -3);                            /* [.., s, nil, nil, s] */
  return 4;
}


static const luaL_Reg gen_methods[] = {
  { "generate", model_generate }, { "stream", model_stream }, { "render", model_render },
  { NULL, NULL }
};

static const luaL_Reg stream_methods[] = {
  { "result", stream_result }, { "close", stream_close }, { NULL, NULL }
};

static const luaL_Reg stream_meta[] = {
  { "__call", stream_call }, { "__gc", stream_close }, { "__close", stream_close },
  { "__tostring", stream_tostring }, { "__index", NULL }, { NULL, NULL }
};


void ty_lua_gen_methods(lua_State *L) {
  luaL_getmetatable(L, TY_LUA_MODEL);              /* [.., mt] */
  lua_getfield(L, -1, "__index");                  /* [.., mt, methods] */
  luaL_setfuncs(L, gen_methods, 0);
  lua_pop(L, 2);                                   /* [..] */
  ty_lua_class(L, TY_LUA_STREAM, stream_meta, stream_methods);
}
