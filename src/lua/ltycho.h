/*
 * ltycho.h: what the binding files share. Only src/lua/ includes lua.h.
 */
#ifndef TY_LTYCHO_H
#define TY_LTYCHO_H

#include <lua.h>
#include <lauxlib.h>

#include "base/base.h"

#define TY_LUA_MODEL "tycho.Model"

/* t[k] = v for the table on top of the stack. */
static inline void ty_lua_set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static inline void ty_lua_set_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static inline void ty_lua_set_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes fail, err->msg, err->code and returns 3 (an expected failure). */
int ty_lua_fail(lua_State *L, const ty_err *err);

/* Creates the metatable `name` with the metamethods `meta` and an
   __index table of `methods` (meta must hold an "__index" slot). */
void ty_lua_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* Raises an error naming the first key of table t not in known. */
void ty_lua_check_options(lua_State *L, int t, const char *const *known);

/* Registers tycho.Model and tycho.load into the table on the stack top. */
void ty_lua_model_open(lua_State *L);
/* tycho.pull, list, show, rm */
void ty_lua_store_open(lua_State *L);
/* tycho.tokenizer and tycho.Tokenizer */
void ty_lua_tok_open(lua_State *L);
/* tycho.sampler and tycho.Sampler */
void ty_lua_sampler_open(lua_State *L);
/* tycho.template and tycho.Template */
void ty_lua_template_open(lua_State *L);
/* tycho.json (encode, decode) */
void ty_lua_json_open(lua_State *L);
/* tycho.readline, tycho.add_history, tycho.isatty (lreadline.c) */
void ty_lua_readline_open(lua_State *L);
/* tycho.info and tycho.devices (linfo.c) */
void ty_lua_info_open(lua_State *L);
/* tycho.plan (lplan.c) */
void ty_lua_plan_open(lua_State *L);
/* tycho.synth and tycho.synth_shapes (lsynth.c) */
void ty_lua_synth_open(lua_State *L);
/* tycho.perplexity, tycho.quantize, tycho.quantized (lquality.c) */
void ty_lua_quality_open(lua_State *L);
/* tycho.modelfile and tycho.Modelfile (lmodelfile.c) */
void ty_lua_modelfile_open(lua_State *L);
/* tycho.sha256 (lsha.c) */
void ty_lua_sha_open(lua_State *L);

struct ty_modelfile;
/* The Modelfile at index i: a tycho.Modelfile, a table as tycho.modelfile
   takes (raises on a bad field), or Modelfile text (label names it in
   errors); a table or text is replaced at i by the object built. Text that
   does not parse gives NULL and err (a line-numbered message). */
struct ty_modelfile *ty_lua_modelfile_arg(lua_State *L, int i, const char *label, ty_err *err);

/* The interrupt flag the tycho program's SIGINT handler sets and long C
   loops poll (as a ty_cancel_fn). */
void ty_lua_interrupt(void);
int ty_lua_poll_interrupt(void *ud);
void ty_lua_clear_interrupt(void);

struct ty_tok;
struct ty_chat_msg;
/* Reads a list of {role = ..., content = ...} at index i into a new
   userdata array pushed on the stack (the strings stay owned by the
   table); with system non-NULL a system message comes first. Sets *n. */
struct ty_chat_msg *ty_lua_messages(lua_State *L, int i, const char *system, size_t *n);
struct ty_model;
struct ty_gen;
/* The open model at index i; raises for anything else or a closed one. */
struct ty_model *ty_lua_model_check(lua_State *L, int i);
/* The generation state of the open model at index i; _test gives NULL
   for a closed model or another value instead of raising. */
struct ty_gen *ty_lua_gen_check(lua_State *L, int i);
struct ty_gen *ty_lua_gen_test(lua_State *L, int i);
/* Adds generate, stream and render to tycho.Model's methods, and makes
   tycho.Stream (lgen.c). */
void ty_lua_gen_methods(lua_State *L);
struct ty_sampler_params;
/* tok:tokenize(text, opts) and tok:detokenize(ids, opts), shared by
   tycho.Tokenizer and tycho.Model: text/ids at index i, options at o. */
int ty_lua_tokenize(lua_State *L, const struct ty_tok *t, int i, int o);
int ty_lua_detokenize(lua_State *L, const struct ty_tok *t, int i, int o);
/* Reads the sampling PARAMETERs present in table t into p (others keep
   their values); raises on a wrong type. */
void ty_lua_sampling_opts(lua_State *L, int t, struct ty_sampler_params *p);

#endif
