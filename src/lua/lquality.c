/*
 * lquality.c: tycho.perplexity, tycho.quantize and tycho.quantized.
 * Register with ty_lua_quality_open (ltycho.c calls it beside the others).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "gen/gen.h"
#include "model/quality.h"
#include "model/quantize.h"
#include "store/store.h"
#include "tensor/tensor.h"
#include "text/tokenizer.h"

/* A Lua callback run from a C loop: its error is kept and raised after the
   loop has cleaned up. */
struct callback {
  lua_State *L;
  int fn;                    /* stack index of the function, 0 = none */
  int failed;                /* the function raised: its message is on the stack top */
};


static int opt_int(lua_State *L, int t, const char *name, int def) {
  int r = def;
  if (lua_getfield(L, t, name) != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > (1 << 24))
      luaL_error(L, "bad option '%s': expected an integer from 0 to %d", name, 1 << 24);
    r = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return r;
}


/* A string option kept on the stack (so it lives as long as the call), or NULL. */
static const char *opt_str(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  if (lua_isnil(L, -1)) return NULL;
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "bad option '%s': expected a string", name);
  return lua_tostring(L, -1);
}


static int opt_fn(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  if (lua_isnil(L, -1)) return 0;
  luaL_checktype(L, -1, LUA_TFUNCTION);
  return lua_gettop(L);
}


static int ppl_progress(void *ud, int i, int n, double ppl) {
  struct callback *cb = ud;
  if (ty_lua_poll_interrupt(NULL)) return 1;
  if (cb->fn == 0) return 0;
  lua_pushvalue(cb->L, cb->fn);
  lua_pushinteger(cb->L, i);
  lua_pushinteger(cb->L, n);
  lua_pushnumber(cb->L, ppl);
  if (lua_pcall(cb->L, 3, 0, 0) != LUA_OK) return cb->failed = 1;
  return 0;
}


/* tycho.perplexity(model, text, opts) -> result | fail, msg, code.
   model is a loaded model, or a name or path loaded here (num_ctx = the
   window, num_batch, num_thread, kv_type) and closed afterwards. */
static int l_perplexity(lua_State *L) {
  static const char *const known[] = { "num_ctx", "num_batch", "num_thread", "kv_type",
                                       "save_logits", "kl_base", "max_chunks", "progress", NULL };
  size_t len, n = 0;
  const char *text = luaL_checkstring(L, 2);
  struct ty_ppl_params p = { 0 };
  struct ty_ppl_result r;
  struct callback cb = { .L = L };
  int32_t *ids = NULL, *buf, bos;
  const ty_tok *tok;
  int mi = 1, owned = 0;
  ty_status st;
  ty_err err;

  (void)lua_tolstring(L, 2, &len);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    ty_lua_check_options(L, 3, known);
    p.n_ctx = opt_int(L, 3, "num_ctx", 0);
    p.max_chunks = opt_int(L, 3, "max_chunks", 0);
    p.save_logits = opt_str(L, 3, "save_logits");
    p.kl_base = opt_str(L, 3, "kl_base");
    cb.fn = opt_fn(L, 3, "progress");
  }
  if (lua_type(L, 1) == LUA_TSTRING) {                 /* load it: tycho.load(name, opts) */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_getfield(L, -1, "load");
    lua_pushvalue(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, p.n_ctx > 0 ? p.n_ctx : 512);
    lua_setfield(L, -2, "num_ctx");
    if (!lua_isnoneornil(L, 3)) {
      static const char *const pass[] = { "num_batch", "num_thread", "kv_type", NULL };
      for (int i = 0; pass[i] != NULL; i++) {
        lua_getfield(L, 3, pass[i]);
        lua_setfield(L, -2, pass[i]);
      }
    }
    lua_call(L, 2, 3);                                 /* [.., tycho, m|nil, msg, code] */
    if (lua_isnil(L, -3)) return 3;
    lua_pop(L, 2);
    mi = lua_gettop(L);
    owned = 1;
  }
  ty_model *m = ty_lua_model_check(L, mi);
  tok = ty_gen_tok(ty_lua_gen_check(L, mi));
  if (ty_tok_encode(tok, text, len, TY_TOK_ADD_SPECIAL, &ids, &n, &err) != TY_OK)
    return ty_lua_fail(L, &err);
  buf = lua_newuserdatauv(L, (n ? n : 1) * sizeof *buf, 0);   /* Lua owns the copy */
  if (n > 0) memcpy(buf, ids, n * sizeof *buf);
  free(ids);
  bos = ty_tok_add_bos(tok) ? ty_tok_bos(tok) : -1;
  p.progress = ppl_progress;                           /* also polls Ctrl-C */
  p.progress_ud = &cb;
  ty_lua_clear_interrupt();
  st = ty_perplexity(m, buf, n, bos, &p, &r, &err);
  if (owned) {                                         /* close what we loaded */
    lua_getfield(L, mi, "close");
    lua_pushvalue(L, mi);
    lua_call(L, 1, 0);
  }
  if (cb.failed) return lua_error(L);
  if (st != TY_OK) return ty_lua_fail(L, &err);
  lua_createtable(L, 0, 8);
  ty_lua_set_num(L, "ppl", r.ppl);
  ty_lua_set_num(L, "ppl_err", r.ppl_err);
  ty_lua_set_int(L, "n_tokens", r.n_tokens);
  ty_lua_set_int(L, "n_chunks", r.n_chunks);
  ty_lua_set_int(L, "n_ctx", r.n_ctx);
  ty_lua_set_num(L, "seconds", r.seconds);
  if (r.has_kl) {
    lua_createtable(L, 0, 6);
    ty_lua_set_num(L, "mean", r.kl.mean);
    ty_lua_set_num(L, "median", r.kl.median);
    ty_lua_set_num(L, "p99", r.kl.p99);
    ty_lua_set_num(L, "max", r.kl.max);
    ty_lua_set_num(L, "same_top", r.kl.same_top);
    ty_lua_set_num(L, "ppl_base", r.kl.ppl_base);
    lua_setfield(L, -2, "kl");
  }
  return 1;
}


static int quant_progress(void *ud, int i, int n, const char *name, int from, int to) {
  struct callback *cb = ud;
  if (ty_lua_poll_interrupt(NULL)) return 1;
  if (cb->fn == 0) return 0;
  lua_pushvalue(cb->L, cb->fn);
  lua_pushinteger(cb->L, i);
  lua_pushinteger(cb->L, n);
  lua_pushstring(cb->L, name);
  lua_pushstring(cb->L, ty_qtype_get(from)->name);
  lua_pushstring(cb->L, ty_qtype_get(to)->name);
  if (lua_pcall(cb->L, 5, 0, 0) != LUA_OK) return cb->failed = 1;
  return 0;
}


/* Reads quantize's options at t (or none): num_thread, progress, dry_run. */
static int quant_opts(lua_State *L, int t, struct callback *cb, int *dry) {
  static const char *const known[] = { "num_thread", "progress", "dry_run", NULL };
  int nthread = 0;
  cb->L = L;
  cb->fn = 0;
  cb->failed = 0;
  *dry = 0;
  if (lua_isnoneornil(L, t)) return 0;
  luaL_checktype(L, t, LUA_TTABLE);
  ty_lua_check_options(L, t, known);
  nthread = opt_int(L, t, "num_thread", 0);
  lua_getfield(L, t, "dry_run");
  *dry = lua_toboolean(L, -1);
  lua_pop(L, 1);
  cb->fn = opt_fn(L, t, "progress");
  return nthread;
}


static int quantize_checked(lua_State *L, const char *in, const char *out, const char *type,
                            int nthread, struct callback *cb) {
  ty_err err;
  ty_status st;
  ty_lua_clear_interrupt();
  st = ty_quantize(in, out, type, nthread, quant_progress, cb, &err);
  if (cb->failed) return lua_error(L);
  if (st != TY_OK) return ty_lua_fail(L, &err);
  return 0;
}


/* tycho.quantize(in, out, type, opts) -> true | fail, msg, code; with
   dry_run nothing is written (out may be nil) and progress sees the types */
static int l_quantize(lua_State *L) {
  const char *in = luaL_checkstring(L, 1), *type = luaL_checkstring(L, 3), *out;
  char file[4096];
  struct callback cb;
  int dry, nthread = quant_opts(L, 4, &cb, &dry), r;
  out = dry ? NULL : luaL_checkstring(L, 2);
  ty_err err;
  if (ty_quant_ftype(type) < 0) luaL_argerror(L, 3, "unknown quantization type");
  if (ty_store_resolve(in, file, sizeof file, &err) != TY_OK) return ty_lua_fail(L, &err);
  if ((r = quantize_checked(L, file, out, type, nthread, &cb)) != 0) return r;
  lua_pushboolean(L, 1);
  return 1;
}


#ifdef TYCHO_HAVE_STORE
/* mkdir -p dir. */
static int make_dirs(const char *dir) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
      if (c == '\0') return 0;
      *p = c;
    }
  }
}
#endif


/* tycho.quantized(model, type, opts) -> cached path | fail, msg, code.
   The variant is $TYCHO_HOME/quant/<16 hex of the source's SHA-256>-TYPE.gguf,
   built once and reused. */
static int l_quantized(lua_State *L) {
  const char *in = luaL_checkstring(L, 1), *type = luaL_checkstring(L, 2);
  const char *const *names = ty_quant_ftype_names();
  const char *home = getenv("TYCHO_HOME");
  char file[4096], dir[4096], out[4200];
  struct callback cb;
  int dry, nthread = quant_opts(L, 3, &cb, &dry), r, ft = ty_quant_ftype(type);
  ty_err err;
  if (ft < 0) luaL_argerror(L, 2, "unknown quantization type");
  if (dry) luaL_argerror(L, 3, "dry_run is tycho.quantize's");
  while (ty_quant_ftype(*names) != ft) names++;     /* the canonical spelling */
  if (ty_store_resolve(in, file, sizeof file, &err) != TY_OK) return ty_lua_fail(L, &err);
#ifdef TYCHO_HAVE_STORE
  char digest[TY_DIGEST_LEN + 1];
  if (ty_sha256_file(file, digest, &err) != TY_OK) return ty_lua_fail(L, &err);
  if (home != NULL && home[0] != '\0') snprintf(dir, sizeof dir, "%s/quant", home);
  else snprintf(dir, sizeof dir, "%s/.cache/tycho/quant", getenv("HOME") ? getenv("HOME") : ".");
  snprintf(out, sizeof out, "%s/%.16s-%s.gguf", dir, digest + 7, *names);
  if (access(out, R_OK) != 0) {
    if (make_dirs(dir) != 0) {
      ty_err_set(&err, TY_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
      return ty_lua_fail(L, &err);
    }
    if ((r = quantize_checked(L, file, out, *names, nthread, &cb)) != 0) return r;
  }
  lua_pushstring(L, out);
  return 1;
#else
  (void)home; (void)dir; (void)out; (void)nthread; (void)r;
  ty_err_set(&err, TY_ERR_UNSUPPORTED, "tycho.quantized: needs SHA-256, which this build lacks "
             "(configure with -DTYCHO_CURL=ON); tycho.quantize works");
  return ty_lua_fail(L, &err);
#endif
}


void ty_lua_quality_open(lua_State *L) {
  lua_pushvalue(L, -1);                               /* [tycho, tycho] */
  lua_pushcclosure(L, l_perplexity, 1);
  lua_setfield(L, -2, "perplexity");
  lua_pushcfunction(L, l_quantize);
  lua_setfield(L, -2, "quantize");
  lua_pushcfunction(L, l_quantized);
  lua_setfield(L, -2, "quantized");
}
