/*
 * lsynth.c: tycho.synth(arch, size, quant, path [, opts]) writes a synthetic
 * model (src/model/synth.h); tycho.synth_shapes() lists the known shapes
 * with their tensor bytes per quantization.
 */
#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "model/synth.h"


/* tycho.synth(arch, size, quant, path [, {random = false}]) -> true | fail, msg, code.
   Unknown names are expected failures (the message lists what is known). */
static int l_synth(lua_State *L) {
  static const char *const known[] = { "random", NULL };
  const char *arch = luaL_checkstring(L, 1);
  const char *size = luaL_checkstring(L, 2);
  const char *quant = luaL_checkstring(L, 3);
  const char *path = luaL_checkstring(L, 4);
  unsigned flags = 0;
  ty_err err;
  if (!lua_isnoneornil(L, 5)) {
    luaL_checktype(L, 5, LUA_TTABLE);
    ty_lua_check_options(L, 5, known);
    if (lua_getfield(L, 5, "random") != LUA_TNIL) {      /* [.., random] */
      luaL_argcheck(L, lua_isboolean(L, -1), 5, "option 'random' must be a boolean");
      if (lua_toboolean(L, -1)) flags |= TY_SYNTH_RANDOM;
    }
    lua_pop(L, 1);
  }
  if (ty_synth_write(arch, size, quant, path, flags, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}


static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}


static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}


/* tycho.synth_shapes() -> { {family, size, arch, model, source, n_layer,
   n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx, tied, params,
   bytes = {Q4_K_M = n, ...}}, ... } in the order tycho synth --list shows. */
static int l_synth_shapes(lua_State *L) {
  int i, n = ty_synth_n_shapes();
  lua_createtable(L, n, 0);                                /* [list] */
  for (i = 0; i < n; i++) {
    const struct ty_synth_shape *s = ty_synth_shape_at(i);
    const char *const *q;
    uint64_t params = 0;
    ty_err err;
    lua_createtable(L, 0, 16);                             /* [list, shape] */
    set_str(L, "family", s->family);
    set_str(L, "size", s->size);
    set_str(L, "arch", s->arch);
    set_str(L, "model", s->model);
    set_str(L, "source", s->source);
    set_int(L, "n_layer", s->n_layer);
    set_int(L, "n_embd", s->n_embd);
    set_int(L, "n_ff", s->n_ff);
    set_int(L, "n_head", s->n_head);
    set_int(L, "n_head_kv", s->n_head_kv);
    set_int(L, "head_dim", s->head_dim);
    set_int(L, "n_vocab", s->n_vocab);
    set_int(L, "n_ctx", s->n_ctx);
    lua_pushboolean(L, s->tied);
    lua_setfield(L, -2, "tied");
    lua_newtable(L);                                       /* [list, shape, bytes] */
    for (q = ty_synth_quants(); *q != NULL; q++) {
      uint64_t b = 0;
      if (ty_synth_size(s->family, s->size, *q, &b, &params, &err) != TY_OK)
        return luaL_error(L, "%s", err.msg);
      set_int(L, *q, (lua_Integer)b);
    }
    lua_setfield(L, -2, "bytes");                          /* [list, shape] */
    set_int(L, "params", (lua_Integer)params);
    lua_rawseti(L, -2, i + 1);                             /* [list] */
  }
  return 1;
}


static const luaL_Reg synth_funcs[] = {
  { "synth", l_synth },
  { "synth_shapes", l_synth_shapes },
  { NULL, NULL }
};


/* Registers tycho.synth and tycho.synth_shapes into the table on the stack top. */
void ty_lua_synth_open(lua_State *L) {
  luaL_setfuncs(L, synth_funcs, 0);
}
