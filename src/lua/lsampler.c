/*
 * lsampler.c: the tycho.Sampler userdata: Ollama's sampling settings over
 * logits from a model or from a Lua table, usable on its own.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "model/model.h"
#include "text/sampler.h"
#include "ltycho.h"

#define TY_LUA_SAMPLER "tycho.Sampler"

/* The C sampler is made at the first sample, when n_vocab is known, and
   again if a later row has another length. */
typedef struct {
  struct ty_sampler_params p;
  ty_sampler *s;
  int32_t n_vocab;
  int32_t *hist;                 /* accepted ids before the sampler existed */
  int n_hist, cap_hist;
} lsampler;


void ty_lua_sampling_opts(lua_State *L, int t, struct ty_sampler_params *p) {
  static const struct { const char *name; int is_int; size_t off; } f[] = {
    { "temperature", 0, offsetof(struct ty_sampler_params, temperature) },
    { "top_k", 1, offsetof(struct ty_sampler_params, top_k) },
    { "top_p", 0, offsetof(struct ty_sampler_params, top_p) },
    { "min_p", 0, offsetof(struct ty_sampler_params, min_p) },
    { "typical_p", 0, offsetof(struct ty_sampler_params, typical_p) },
    { "repeat_penalty", 0, offsetof(struct ty_sampler_params, repeat_penalty) },
    { "repeat_last_n", 1, offsetof(struct ty_sampler_params, repeat_last_n) },
    { "presence_penalty", 0, offsetof(struct ty_sampler_params, presence_penalty) },
    { "frequency_penalty", 0, offsetof(struct ty_sampler_params, frequency_penalty) },
  };
  t = lua_absindex(L, t);
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    lua_getfield(L, t, f[i].name);
    if (!lua_isnil(L, -1)) {
      if (f[i].is_int) {
        if (!lua_isinteger(L, -1)) luaL_error(L, "bad option '%s': expected an integer", f[i].name);
        *(int *)((char *)p + f[i].off) = (int)lua_tointeger(L, -1);
      } else {
        if (!lua_isnumber(L, -1)) luaL_error(L, "bad option '%s': expected a number", f[i].name);
        *(float *)((char *)p + f[i].off) = (float)lua_tonumber(L, -1);
      }
    }
    lua_pop(L, 1);
  }
  lua_getfield(L, t, "seed");
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1)) luaL_error(L, "bad option 'seed': expected an integer");
    p->seed = (int64_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
}


static lsampler *sampler_check(lua_State *L, int i) {
  return luaL_checkudata(L, i, TY_LUA_SAMPLER);
}


/* Makes the C sampler for rows of n values, replaying the accepted ids. */
static void sampler_ready(lua_State *L, lsampler *b, int32_t n) {
  ty_err err;
  if (b->s != NULL && b->n_vocab == n) return;
  ty_sampler_free(b->s);
  b->s = NULL;
  if (ty_sampler_new(&b->p, n, 0, &b->s, &err) != TY_OK) luaL_error(L, "%s", err.msg);
  b->n_vocab = n;
  for (int i = 0; i < b->n_hist; i++) ty_sampler_accept(b->s, b->hist[i]);
}


/* s:sample(logits) -> id. logits is a Model (its last token's logits) or
   a list of numbers. */
static int sampler_sample(lua_State *L) {
  lsampler *b = sampler_check(L, 1);
  int32_t id;
  if (lua_type(L, 2) == LUA_TUSERDATA) {
    ty_model *m = ty_lua_model_check(L, 2);
    sampler_ready(L, b, ty_model_hparams(m)->n_vocab);
    id = ty_sampler_sample(b->s, ty_model_logits(m));
  } else {
    lua_Integer n;
    float *row;
    luaL_checktype(L, 2, LUA_TTABLE);
    n = luaL_len(L, 2);
    luaL_argcheck(L, n > 0 && n <= (1 << 24), 2, "expected a non-empty list of logits");
    row = lua_newuserdatauv(L, (size_t)n * sizeof *row, 0);   /* [s, t, row] */
    for (lua_Integer k = 1; k <= n; k++) {
      int isnum;
      lua_geti(L, 2, k);
      row[k - 1] = (float)lua_tonumberx(L, -1, &isnum);
      if (!isnum) luaL_error(L, "bad argument #2: logit %d is not a number", (int)k);
      lua_pop(L, 1);
    }
    sampler_ready(L, b, (int32_t)n);
    id = ty_sampler_sample(b->s, row);
  }
  lua_pushinteger(L, id);
  return 1;
}


/* s:accept(id): remembers a token for the repeat penalties */
static int sampler_accept(lua_State *L) {
  lsampler *b = sampler_check(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  luaL_argcheck(L, id >= 0 && id < (1 << 30), 2, "not a token id");
  if (b->n_hist == b->cap_hist) {
    int cap = b->cap_hist ? 2 * b->cap_hist : 64;
    int32_t *p = realloc(b->hist, (size_t)cap * sizeof *p);
    if (p == NULL) return luaL_error(L, "out of memory");
    b->hist = p;
    b->cap_hist = cap;
  }
  b->hist[b->n_hist++] = (int32_t)id;
  if (b->s != NULL) ty_sampler_accept(b->s, (int32_t)id);
  return 0;
}


/* s:reset(): forgets the accepted tokens */
static int sampler_reset(lua_State *L) {
  lsampler *b = sampler_check(L, 1);
  b->n_hist = 0;
  if (b->s != NULL) ty_sampler_reset(b->s);
  return 0;
}


static int sampler_gc(lua_State *L) {
  lsampler *b = sampler_check(L, 1);
  ty_sampler_free(b->s);
  free(b->hist);
  b->s = NULL;
  b->hist = NULL;
  b->n_hist = b->cap_hist = 0;
  return 0;
}


static int sampler_tostring(lua_State *L) {
  lsampler *b = sampler_check(L, 1);
  lua_pushfstring(L, "tycho.Sampler (temperature %f, top_k %d, top_p %f, min_p %f, "
                  "repeat_penalty %f, seed %I)", (double)b->p.temperature, b->p.top_k,
                  (double)b->p.top_p, (double)b->p.min_p, (double)b->p.repeat_penalty,
                  (lua_Integer)b->p.seed);
  return 1;
}


/* tycho.sampler(opts) -> sampler; opts are the sampling PARAMETERs */
static int l_sampler(lua_State *L) {
  static const char *const known[] = {
    "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty", "repeat_last_n",
    "presence_penalty", "frequency_penalty", "seed", NULL
  };
  lsampler *b;
  struct ty_sampler_params p;
  ty_err err;
  ty_sampler_params_default(&p);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    ty_lua_check_options(L, 1, known);
    ty_lua_sampling_opts(L, 1, &p);
  }
  /* settings are checked now, not at the first sample */
  if (ty_sampler_params_check(&p, &err) != TY_OK) return luaL_error(L, "%s", err.msg);
  b = lua_newuserdatauv(L, sizeof *b, 0);           /* [opts, ud] */
  memset(b, 0, sizeof *b);
  b->p = p;
  luaL_setmetatable(L, TY_LUA_SAMPLER);
  return 1;
}


static const luaL_Reg sampler_methods[] = {
  { "sample", sampler_sample }, { "accept", sampler_accept }, { "reset", sampler_reset },
  { NULL, NULL }
};

static const luaL_Reg sampler_meta[] = {
  { "__gc", sampler_gc }, { "__close", sampler_gc }, { "__tostring", sampler_tostring },
  { "__index", NULL }, { NULL, NULL }
};


void ty_lua_sampler_open(lua_State *L) {
  ty_lua_class(L, TY_LUA_SAMPLER, sampler_meta, sampler_methods);            /* [tycho] */
  lua_pushcfunction(L, l_sampler);
  lua_setfield(L, -2, "sampler");
}
