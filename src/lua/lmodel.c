/*
 * lmodel.c: the tycho.Model userdata. A box around a ty_model that is NULL
 * once closed; __gc, __close and m:close() share one close. Long C loops
 * poll an interrupt flag that the tycho program's SIGINT handler sets.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "backend/device.h"
#include "gen/gen.h"
#include "model/model.h"
#include "tensor/tensor.h"
#include "ltycho.h"
#include "store/store.h"

typedef struct { ty_model *m; ty_gen *g; } lmodel;    /* both NULL once closed */

static volatile sig_atomic_t interrupted = 0;


void ty_lua_interrupt(void) {
  interrupted = 1;
}


int ty_lua_poll_interrupt(void *ud) {
  (void)ud;
  return interrupted != 0;
}


void ty_lua_clear_interrupt(void) {
  interrupted = 0;
}


ty_model *ty_lua_model_check(lua_State *L, int i) {
  lmodel *b = luaL_checkudata(L, i, TY_LUA_MODEL);
  if (b->m == NULL) luaL_error(L, "attempt to use a closed model");
  return b->m;
}

#define model_check ty_lua_model_check


ty_gen *ty_lua_gen_check(lua_State *L, int i) {
  model_check(L, i);
  return ((lmodel *)lua_touserdata(L, i))->g;
}

#define gen_check ty_lua_gen_check


ty_gen *ty_lua_gen_test(lua_State *L, int i) {
  lmodel *b = luaL_testudata(L, i, TY_LUA_MODEL);
  return b != NULL ? b->g : NULL;
}


/* Reads an array of token ids at index i into a new userdata buffer pushed
   on the stack (so Lua frees it); returns the buffer and sets *n. */
static int32_t *ids_check(lua_State *L, int i, const ty_model *m, int *n) {
  lua_Integer len, nv = ty_model_hparams(m)->n_vocab;
  int32_t *ids;
  luaL_checktype(L, i, LUA_TTABLE);
  len = luaL_len(L, i);
  luaL_argcheck(L, len > 0 && len <= ty_model_n_ctx(m), i, "expected a non-empty list of token ids no longer than num_ctx");
  ids = lua_newuserdatauv(L, (size_t)len * sizeof *ids, 0);     /* [.., buf] */
  for (lua_Integer k = 1; k <= len; k++) {
    lua_Integer id;
    int isnum;
    lua_geti(L, i, k);
    id = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || id < 0 || id >= nv)
      luaL_error(L, "bad argument #%d: token %d is not an id in 0..%d", i, (int)k, (int)nv - 1);
    ids[k - 1] = (int32_t)id;
  }
  *n = (int)len;
  return ids;
}


/* m:eval(ids) -> true | fail, msg, code */
static int model_eval(lua_State *L) {
  ty_model *m = model_check(L, 1);
  int n;
  int32_t *ids = ids_check(L, 2, m, &n);
  ty_err err;
  interrupted = 0;
  if (ty_model_eval(m, ids, n, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}


/* m:argmax() -> id of the largest last-token logit */
static int model_argmax(lua_State *L) {
  lua_pushinteger(L, ty_model_argmax(model_check(L, 1)));
  return 1;
}


/* m:logits() -> a new table of n_vocab numbers (an explicit O(n) copy) */
static int model_logits(lua_State *L) {
  ty_model *m = model_check(L, 1);
  int nv = ty_model_hparams(m)->n_vocab;
  const float *l = ty_model_logits(m);
  lua_createtable(L, nv, 0);
  for (int i = 0; i < nv; i++) {
    lua_pushnumber(L, l[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


/* m:greedy(ids, {num_predict = 64, on_token = fn}) -> generated ids | fail, msg.
   Evaluates the prompt, then takes the argmax num_predict times. on_token(id)
   is called for each; returning false stops early. */
static int model_greedy(lua_State *L) {
  ty_model *m = model_check(L, 1);
  int n, want = 64;
  int32_t *ids = ids_check(L, 2, m, &n);                /* [m, ids, opts?, buf] */
  ty_err err;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "num_predict");
    if (!lua_isnil(L, -1)) want = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  interrupted = 0;
  if (ty_model_eval(m, ids, n, &err) != TY_OK) return ty_lua_fail(L, &err);
  lua_createtable(L, want > 0 ? want : 0, 0);           /* [.., out] */
  for (int i = 0; i < want; i++) {
    int32_t next = ty_model_argmax(m);
    lua_pushinteger(L, next);
    lua_rawseti(L, -2, i + 1);
    if (!lua_isnoneornil(L, 3)) {
      lua_getfield(L, 3, "on_token");                   /* [.., out, fn] */
      if (!lua_isnil(L, -1)) {
        lua_pushinteger(L, next);
        lua_call(L, 1, 1);                              /* errors propagate with their traceback */
        if (lua_toboolean(L, -1) == 0 && !lua_isnil(L, -1)) { lua_pop(L, 1); break; }
      }
      lua_pop(L, 1);                                    /* [.., out] */
    }
    if (i + 1 < want && ty_model_eval(m, &next, 1, &err) != TY_OK) return ty_lua_fail(L, &err);
  }
  return 1;
}


/* m:piece(id) -> the vocabulary entry for id, as stored in the file */
static int model_piece(lua_State *L) {
  ty_model *m = model_check(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  const struct ty_gguf_value *v = ty_gguf_get_arr(ty_model_gguf(m), "tokenizer.ggml.tokens");
  if (v == NULL || v->v.arr.type != TY_GGUF_STRING || id < 0 || (uint64_t)id >= v->v.arr.n) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushlstring(L, v->v.arr.items[id].v.str.ptr, v->v.arr.items[id].v.str.len);
  return 1;
}


/* Pushes a table of the bytes in mem: the categories the plan predicts,
   their total, and what the kv and compute arenas allocated. */
static void mem_push(lua_State *L, const struct ty_model_mem *mem) {
  lua_createtable(L, 0, 7);
#define SETM(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
  SETM("weights", mem->weights);
  SETM("kv", mem->kv);
  SETM("compute", mem->compute);
  SETM("host", mem->host);
  SETM("total", mem->weights + mem->kv + mem->compute + mem->host);
  SETM("kv_arena", mem->kv_arena);
  SETM("compute_arena", mem->compute_arena);
  SETM("weights_arena", mem->weights_arena);
  if (mem->measured > 0) {
    SETM("measured", mem->measured);
    SETM("overhead", mem->overhead);
  }
#undef SETM
}


/* m:info() -> table of hyperparameters and settings */
static int model_info(lua_State *L) {
  ty_model *m = model_check(L, 1);
  const struct ty_hparams *hp = ty_model_hparams(m);
  lua_createtable(L, 0, 16);
#define SETI(name, v) (lua_pushinteger(L, (v)), lua_setfield(L, -2, name))
#define SETN(name, v) (lua_pushnumber(L, (v)), lua_setfield(L, -2, name))
  lua_pushstring(L, hp->arch_name);
  lua_setfield(L, -2, "architecture");
  SETI("n_vocab", hp->n_vocab);
  SETI("n_embd", hp->n_embd);
  SETI("n_layer", hp->n_layer);
  SETI("n_head", hp->n_head);
  SETI("n_head_kv", hp->n_head_kv);
  SETI("head_dim", hp->head_dim);
  SETI("n_ff", hp->n_ff);
  SETI("context_length", hp->n_ctx_train);
  SETN("rope_base", hp->rope_base);
  SETI("num_ctx", ty_model_n_ctx(m));
  SETI("num_thread", ty_model_n_threads(m));
  SETI("pos", ty_model_pos(m));
  {
    /* special tokens, where the file names them */
    static const char *const ids[][2] = {
      { "tokenizer.ggml.bos_token_id", "bos_token_id" },
      { "tokenizer.ggml.eos_token_id", "eos_token_id" },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
      uint32_t id;
      if (ty_gguf_get_u32(ty_model_gguf(m), ids[i][0], &id) && id < (uint32_t)hp->n_vocab)
        SETI(ids[i][1], id);
    }
  }
  {
    mem_push(L, ty_model_mem(m));                   /* [info, memory] */
    lua_setfield(L, -2, "memory");                  /* [info] */
    lua_createtable(L, ty_model_n_devices(m), 0);   /* [info, devices] */
    for (int d = 0; d < ty_model_n_devices(m); d++) {
      int index, kind = ty_model_device_kind(m, d, &index);
      mem_push(L, ty_model_mem_device(m, d));
      if (kind == TY_DEV_CUDA)
        lua_pushfstring(L, "cuda:%d", index);
      else
        lua_pushstring(L, "cpu");
      lua_setfield(L, -2, "device");
      lua_rawseti(L, -2, d + 1);
    }
    lua_setfield(L, -2, "devices");                 /* [info] */
  }
  {
    const struct ty_chat_format *f = ty_gen_format(((lmodel *)lua_touserdata(L, 1))->g);
    lua_pushstring(L, f != NULL ? f->family : "none");
    lua_setfield(L, -2, "chat_format");
  }
#undef SETI
#undef SETN
  return 1;
}


/* m:warning() -> a line to show the user once (an unrecognised chat
   template), or nil */
static int model_warning(lua_State *L) {
  const char *w = ty_gen_warning(gen_check(L, 1));
  if (w[0] == '\0') lua_pushnil(L);
  else lua_pushstring(L, w);
  return 1;
}


/* m:set_template(text) -> m: chats render with this Go template (a
   Modelfile TEMPLATE, a model's template layer) instead of the GGUF's;
   raises on a template that does not parse */
static int model_set_template(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  ty_err err;
  if (ty_gen_set_template(gen_check(L, 1), text, len, &err) != TY_OK) luaL_error(L, "%s", err.msg);
  lua_settop(L, 1);
  return 1;
}


static int model_reset(lua_State *L) {
  ty_model_reset(model_check(L, 1));
  return 0;
}


static int model_close(lua_State *L) {
  lmodel *b = luaL_checkudata(L, 1, TY_LUA_MODEL);
  ty_gen_free(b->g);
  ty_model_close(b->m);
  b->g = NULL;
  b->m = NULL;
  return 0;
}


static int model_tostring(lua_State *L) {
  lmodel *b = luaL_checkudata(L, 1, TY_LUA_MODEL);
  if (b->m == NULL) {
    lua_pushliteral(L, "tycho.Model (closed)");
  } else {
    const struct ty_hparams *hp = ty_model_hparams(b->m);
    lua_pushfstring(L, "tycho.Model (%s, %d layers, num_ctx %d, %s)", hp->arch_name, hp->n_layer,
                    ty_model_n_ctx(b->m), ty_gguf_path(ty_model_gguf(b->m)));
  }
  return 1;
}


/* ================================================================
   text: tokenize, detokenize (generation is in lgen.c)
   ================================================================ */

/* m:tokenize(text, {add_special = true, parse_special = false}) -> ids */
static int model_tokenize(lua_State *L) {
  return ty_lua_tokenize(L, ty_gen_tok(gen_check(L, 1)), 2, 3);
}


/* m:detokenize(ids, {special = false}) -> string */
static int model_detokenize(lua_State *L) {
  return ty_lua_detokenize(L, ty_gen_tok(gen_check(L, 1)), 2, 3);
}


static const luaL_Reg model_methods[] = {
  { "eval", model_eval }, { "argmax", model_argmax }, { "logits", model_logits },
  { "greedy", model_greedy }, { "piece", model_piece }, { "info", model_info },
  { "reset", model_reset }, { "close", model_close }, { "tokenize", model_tokenize },
  { "detokenize", model_detokenize }, { "warning", model_warning },
  { "set_template", model_set_template }, { NULL, NULL }
};

static const luaL_Reg model_meta[] = {
  { "__gc", model_close }, { "__close", model_close }, { "__tostring", model_tostring },
  { "__index", NULL }, { NULL, NULL }
};


static int opt_int(lua_State *L, int t, const char *name, int def) {
  int r = def;
  lua_getfield(L, t, name);
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1)) luaL_error(L, "bad option '%s': expected an integer", name);
    r = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return r;
}


/* Reads the layer split from options at t: layer_split = {end, ...} (the
   layer each device's share ends before) with output_device (0-based), or
   plan = a tycho.plan result, whose devices (CPU or CUDA) and shares it takes. */
static void split_opts(lua_State *L, int t, struct ty_model_params *p) {
  int n = 0;
  if (lua_getfield(L, t, "plan") != LUA_TNIL) {                   /* [.., plan] */
    int end = 0;
    luaL_checktype(L, -1, LUA_TTABLE);
    if (lua_getfield(L, -1, "devices") != LUA_TTABLE)              /* [.., plan, devs] */
      luaL_error(L, "bad option 'plan': expected a tycho.plan result");
    p->output_device = -1;
    for (lua_Integer i = 1; lua_geti(L, -1, i) == LUA_TTABLE; i++) {   /* [.., devs, d] */
      if (n == TY_MODEL_MAX_DEVICES)
        luaL_error(L, "bad option 'plan': at most %d devices", TY_MODEL_MAX_DEVICES);
      lua_getfield(L, -1, "kind");
      const char *kind = luaL_optstring(L, -1, "?");
      if (strcmp(kind, "cpu") != 0 && strcmp(kind, "cuda") != 0)
        luaL_error(L, "bad option 'plan': device %d has kind '%s' (cpu or cuda)", (int)i, kind);
      p->device_kind[n] = strcmp(kind, "cuda") == 0 ? TY_DEV_CUDA : TY_DEV_CPU;
      lua_getfield(L, -2, "index");
      p->device_index[n] = (int)luaL_optinteger(L, -1, 0);
      lua_pop(L, 1);
      lua_getfield(L, -2, "n_layers");
      lua_getfield(L, -3, "last_layer");
      lua_getfield(L, -4, "output_layer");                       /* [.., d, kind, nl, last, out] */
      if (lua_tointeger(L, -3) > 0) end = (int)lua_tointeger(L, -2) + 1;
      if (lua_toboolean(L, -1)) p->output_device = n;
      p->layer_end[n++] = end;
      lua_pop(L, 5);                                               /* [.., devs] */
    }
    lua_pop(L, 3);                                                 /* [..] */
    p->n_devices = n;                  /* the last share ends at n_layer: offloads hold the last layers */
    return;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "layer_split") != LUA_TNIL) {           /* [.., split] */
    luaL_checktype(L, -1, LUA_TTABLE);
    n = (int)luaL_len(L, -1);
    if (n < 1 || n > TY_MODEL_MAX_DEVICES)
      luaL_error(L, "bad option 'layer_split': 1 to %d devices", TY_MODEL_MAX_DEVICES);
    for (int i = 0; i < n; i++) {
      lua_geti(L, -1, i + 1);
      if (!lua_isinteger(L, -1)) luaL_error(L, "bad option 'layer_split': expected integers");
      p->layer_end[i] = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    p->n_devices = n;
  }
  lua_pop(L, 1);
  p->output_device = opt_int(L, t, "output_device", -1);
}


/* tycho.load(model, opts) -> model | fail, msg, code; model is a path or
   a name in the cache (tycho.find) */
static int l_load(lua_State *L) {
  static const char *const known[] = { "num_ctx", "num_batch", "num_thread", "kv_type",
                                       "layer_split", "output_device", "plan", NULL };
  const char *path = luaL_checkstring(L, 1);
  char file[4096];
  struct ty_model_params p;
  lmodel *b;
  ty_err err;
  ty_model_params_default(&p);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    ty_lua_check_options(L, 2, known);
    p.num_ctx = opt_int(L, 2, "num_ctx", p.num_ctx);
    p.num_batch = opt_int(L, 2, "num_batch", p.num_batch);
    p.num_thread = opt_int(L, 2, "num_thread", p.num_thread);
    lua_getfield(L, 2, "kv_type");
    if (!lua_isnil(L, -1)) {
      static const char *const kv[] = { "f16", "f32", "q8_0", NULL };
      static const int kvt[] = { TY_QTYPE_F16, TY_QTYPE_F32, TY_QTYPE_Q8_0 };
      p.kv_type = kvt[luaL_checkoption(L, -1, NULL, kv)];
    }
    lua_pop(L, 1);
    split_opts(L, 2, &p);
  }
  p.cancel = ty_lua_poll_interrupt;
  interrupted = 0;
  b = lua_newuserdatauv(L, sizeof *b, 0);          /* [.., ud] */
  b->m = NULL;
  b->g = NULL;
  luaL_setmetatable(L, TY_LUA_MODEL);               /* closed but consistent */
  if (ty_store_resolve(path, file, sizeof file, &err) != TY_OK) return ty_lua_fail(L, &err);
  if (ty_model_open(file, &p, &b->m, &err) != TY_OK || ty_gen_new(b->m, &b->g, &err) != TY_OK) {
    ty_model_close(b->m);
    b->m = NULL;
    return ty_lua_fail(L, &err);
  }
  return 1;
}


void ty_lua_model_open(lua_State *L) {
  ty_lua_class(L, TY_LUA_MODEL, model_meta, model_methods);
  ty_lua_gen_methods(L);                            /* generate, stream, render; [tycho] */
  lua_pushcfunction(L, l_load);
  lua_setfield(L, -2, "load");
}
