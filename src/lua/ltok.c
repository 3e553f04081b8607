/*
 * ltok.c: the tycho.Tokenizer userdata (a vocabulary loaded on its own, from
 * a vocab-only GGUF or a model file) and the tokenize/detokenize methods it
 * shares with tycho.Model.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "text/tokenizer.h"
#include "ltycho.h"
#include "store/store.h"

#define TY_LUA_TOKENIZER "tycho.Tokenizer"

typedef struct { ty_tok *t; char *path; } ltok;     /* NULL once closed */


static bool opt_bool(lua_State *L, int t, const char *name, bool def) {
  bool r = def;
  if (t == 0) return def;
  lua_getfield(L, t, name);
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) luaL_error(L, "bad option '%s': expected a boolean", name);
    r = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return r;
}


int ty_lua_tokenize(lua_State *L, const ty_tok *t, int i, int o) {
  static const char *const known[] = { "add_special", "parse_special", NULL };
  size_t len, n;
  const char *text = luaL_checklstring(L, i, &len);
  unsigned flags = 0;
  int32_t *ids;
  ty_err err;
  if (!lua_isnoneornil(L, o)) {
    luaL_checktype(L, o, LUA_TTABLE);
    ty_lua_check_options(L, o, known);
  } else {
    o = 0;
  }
  if (opt_bool(L, o, "add_special", true)) flags |= TY_TOK_ADD_SPECIAL;
  if (opt_bool(L, o, "parse_special", false)) flags |= TY_TOK_PARSE_SPECIAL;
  if (ty_tok_encode(t, text, len, flags, &ids, &n, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  lua_createtable(L, (int)n, 0);                    /* [.., ids] */
  for (size_t k = 0; k < n; k++) {
    lua_pushinteger(L, ids[k]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  free(ids);
  return 1;
}


int ty_lua_detokenize(lua_State *L, const ty_tok *t, int i, int o) {
  static const char *const known[] = { "special", NULL };
  int32_t nv = ty_tok_n_vocab(t);
  lua_Integer len;
  luaL_Buffer b;
  bool special;
  luaL_checktype(L, i, LUA_TTABLE);
  if (!lua_isnoneornil(L, o)) {
    luaL_checktype(L, o, LUA_TTABLE);
    ty_lua_check_options(L, o, known);
  } else {
    o = 0;
  }
  special = opt_bool(L, o, "special", false);
  len = luaL_len(L, i);
  luaL_buffinit(L, &b);
  for (lua_Integer k = 1; k <= len; k++) {
    int isnum;
    lua_Integer id;
    size_t n;
    char *p;
    lua_geti(L, i, k);
    id = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || id < 0 || id >= nv)
      luaL_error(L, "bad argument #%d: token %d is not an id in 0..%d", i, (int)k, (int)nv - 1);
    p = luaL_prepbuffsize(&b, 64);
    n = ty_tok_piece(t, (int32_t)id, special, p, 64);
    if (n > 64) {
      p = luaL_prepbuffsize(&b, n);
      ty_tok_piece(t, (int32_t)id, special, p, n);
    }
    luaL_addsize(&b, n);
  }
  luaL_pushresult(&b);
  return 1;
}


static ty_tok *tok_check(lua_State *L, int i) {
  ltok *b = luaL_checkudata(L, i, TY_LUA_TOKENIZER);
  if (b->t == NULL) luaL_error(L, "attempt to use a closed tokenizer");
  return b->t;
}


/* t:tokenize(text, {add_special = true, parse_special = false}) -> ids */
static int tok_tokenize(lua_State *L) {
  return ty_lua_tokenize(L, tok_check(L, 1), 2, 3);
}


/* t:detokenize(ids, {special = false}) -> string */
static int tok_detokenize(lua_State *L) {
  return ty_lua_detokenize(L, tok_check(L, 1), 2, 3);
}


/* t:piece(id) -> the vocabulary entry as stored in the file */
static int tok_piece(lua_State *L) {
  ty_tok *t = tok_check(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  size_t len;
  const char *s;
  luaL_argcheck(L, id >= 0 && id < ty_tok_n_vocab(t), 2, "not a token id");
  s = ty_tok_text(t, (int32_t)id, &len);
  lua_pushlstring(L, s, len);
  return 1;
}


/* t:info() -> { n_vocab, bos_token_id, eos_token_id } */
static int tok_info(lua_State *L) {
  ty_tok *t = tok_check(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, ty_tok_n_vocab(t));
  lua_setfield(L, -2, "n_vocab");
  if (ty_tok_bos(t) >= 0) {
    lua_pushinteger(L, ty_tok_bos(t));
    lua_setfield(L, -2, "bos_token_id");
  }
  if (ty_tok_eos(t) >= 0) {
    lua_pushinteger(L, ty_tok_eos(t));
    lua_setfield(L, -2, "eos_token_id");
  }
  return 1;
}


/* t:is_eog(id) -> whether id ends a generation */
static int tok_is_eog(lua_State *L) {
  ty_tok *t = tok_check(L, 1);
  lua_pushboolean(L, ty_tok_is_eog(t, (int32_t)luaL_checkinteger(L, 2)));
  return 1;
}


static int tok_close(lua_State *L) {
  ltok *b = luaL_checkudata(L, 1, TY_LUA_TOKENIZER);
  ty_tok_free(b->t);
  free(b->path);
  b->t = NULL;
  b->path = NULL;
  return 0;
}


static int tok_tostring(lua_State *L) {
  ltok *b = luaL_checkudata(L, 1, TY_LUA_TOKENIZER);
  if (b->t == NULL) lua_pushliteral(L, "tycho.Tokenizer (closed)");
  else lua_pushfstring(L, "tycho.Tokenizer (%d tokens, %s)", (int)ty_tok_n_vocab(b->t), b->path);
  return 1;
}


/* tycho.tokenizer(model) -> tokenizer | fail, msg, code; a vocab-only GGUF
   or a model, by path or cache name */
static int l_tokenizer(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char file[4096];
  ltok *b = lua_newuserdatauv(L, sizeof *b, 0);     /* [path, ud] */
  ty_err err;
  b->t = NULL;
  b->path = NULL;
  luaL_setmetatable(L, TY_LUA_TOKENIZER);           /* closed but consistent */
  if (ty_store_resolve(path, file, sizeof file, &err) != TY_OK) return ty_lua_fail(L, &err);
  if (ty_tok_open(file, &b->t, &err) != TY_OK) return ty_lua_fail(L, &err);
  b->path = strdup(file);
  if (b->path == NULL) return luaL_error(L, "out of memory");
  return 1;
}


static const luaL_Reg tok_methods[] = {
  { "tokenize", tok_tokenize }, { "detokenize", tok_detokenize }, { "piece", tok_piece },
  { "info", tok_info }, { "is_eog", tok_is_eog }, { "close", tok_close }, { NULL, NULL }
};

static const luaL_Reg tok_meta[] = {
  { "__gc", tok_close }, { "__close", tok_close }, { "__tostring", tok_tostring },
  { "__index", NULL }, { NULL, NULL }
};


void ty_lua_tok_open(lua_State *L) {
  ty_lua_class(L, TY_LUA_TOKENIZER, tok_meta, tok_methods);            /* [tycho] */
  lua_pushcfunction(L, l_tokenizer);
  lua_setfield(L, -2, "tokenizer");
}
