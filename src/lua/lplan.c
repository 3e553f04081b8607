/*
 * lplan.c: tycho.plan(model, opts): the memory plan as a Lua table that
 * prints as the per-device table. Options use Ollama's PARAMETER names.
 * Register with ty_lua_plan_open (ltycho.c calls it beside the others).
 */
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "backend/backend.h"
#include "plan/plan.h"
#include "store/registry.h"
#include "store/store.h"
#include "tensor/tensor.h"

void ty_lua_plan_open(lua_State *L);


static const char *const plan_options[] = {
  "num_ctx", "num_batch", "num_gpu", "split", "devices", "gpus", "kv_type", "parallel", NULL
};


/* An optional non-negative integer option of table t; keeps *out when absent. */
static void opt_int(lua_State *L, int t, const char *key, int min, int *out) {
  int isnum;
  lua_Integer v;
  if (lua_getfield(L, t, key) != LUA_TNIL) {        /* [.., v] */
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < min || v > (1 << 24))
      luaL_error(L, "option '%s' must be an integer from %d to %d", key, min, 1 << 24);
    *out = (int)v;
  }
  lua_pop(L, 1);
}


/* A kv type name: f16, f32, q8_0, q4_0. */
static int kv_type_of(const char *s) {
  static const int types[] = { TY_QTYPE_F16, TY_QTYPE_F32, TY_QTYPE_Q8_0, TY_QTYPE_Q4_0 };
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    if (strcmp(ty_qtype_get(types[i])->name, s) == 0) return types[i];
  return -1;
}


/* Reads opts (index t, or none) into settings and devices; raises on misuse. */
static void read_opts(lua_State *L, int t, struct ty_plan_settings *s,
                      struct ty_plan_device *devs, int *n) {
  ty_err err;
  ty_plan_settings_default(s);
  *n = 0;
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  ty_lua_check_options(L, t, plan_options);
  opt_int(L, t, "num_ctx", 1, &s->num_ctx);
  opt_int(L, t, "num_batch", 1, &s->num_batch);
  opt_int(L, t, "parallel", 1, &s->parallel);
  switch (lua_getfield(L, t, "num_gpu")) {          /* [.., v] */
    case LUA_TNIL: break;
    case LUA_TSTRING:
      if (strcmp(lua_tostring(L, -1), "auto") != 0)
        luaL_error(L, "option 'num_gpu' must be an integer or \"auto\"");
      s->num_gpu = TY_PLAN_AUTO;
      break;
    default: {
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum || v < -1 || v > 1 << 24)
        luaL_error(L, "option 'num_gpu' must be an integer or \"auto\"");
      s->num_gpu = v < 0 ? TY_PLAN_AUTO : (int)v;
    }
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "kv_type") != LUA_TNIL) {
    const char *k = lua_tostring(L, -1);
    if (k == NULL || (s->kv_type = kv_type_of(k)) < 0)
      luaL_error(L, "option 'kv_type' must be f16, f32, q8_0 or q4_0");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "split") != LUA_TNIL) {
    lua_Integer len;
    if (!lua_istable(L, -1)) luaL_error(L, "option 'split' must be a list of numbers");
    len = luaL_len(L, -1);
    if (len < 1 || len > TY_PLAN_MAX_DEV) luaL_error(L, "option 'split' must list 1 to %d numbers",
                                                     TY_PLAN_MAX_DEV);
    for (lua_Integer i = 1; i <= len; i++) {
      int isnum;
      lua_geti(L, -1, i);                           /* [.., split, x] */
      s->split[i - 1] = lua_tonumberx(L, -1, &isnum);
      if (!isnum || s->split[i - 1] < 0) luaL_error(L, "option 'split' must be a list of numbers >= 0");
      lua_pop(L, 1);
    }
    s->n_split = (int)len;
  }
  lua_pop(L, 1);
  switch (lua_getfield(L, t, "devices")) {
    case LUA_TNIL: break;
    case LUA_TSTRING:
      if (ty_plan_parse_devices(lua_tostring(L, -1), devs, TY_PLAN_MAX_DEV, n, &err) != TY_OK)
        luaL_error(L, "%s", err.msg);
      break;
    case LUA_TTABLE:
      for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_geti(L, -1, i);                         /* [.., devices, d] */
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option 'devices' must list strings");
        if (ty_plan_parse_devices(lua_tostring(L, -1), devs, TY_PLAN_MAX_DEV, n, &err) != TY_OK)
          luaL_error(L, "%s", err.msg);
        lua_pop(L, 1);
      }
      break;
    default:
      luaL_error(L, "option 'devices' must be a string or a list of strings");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "gpus") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option 'gpus' must be a string (\"24G,24G\")");
    if (ty_plan_parse_gpus(lua_tostring(L, -1), devs, TY_PLAN_MAX_DEV, n, &err) != TY_OK)
      luaL_error(L, "%s", err.msg);
  }
  lua_pop(L, 1);
  /* none given: this machine's, the CPU and every GPU with what it has free */
  for (int g = 0, count = *n == 0 ? ty_cuda_device_count() : 0; g < count; g++) {
    char name[16];
    if (g == 0 && ty_plan_parse_devices("cpu", devs, TY_PLAN_MAX_DEV, n, &err) != TY_OK)
      luaL_error(L, "%s", err.msg);
    snprintf(name, sizeof name, "cuda:%d", g);
    if (ty_plan_parse_devices(name, devs, TY_PLAN_MAX_DEV, n, &err) != TY_OK)
      luaL_error(L, "%s", err.msg);
  }
}


/* Pushes the byte fields shared by a device and the totals. */
static void push_bytes(lua_State *L, const struct ty_plan_dev *d) {
  ty_lua_set_int(L, "weights", (lua_Integer)d->weights);
  ty_lua_set_int(L, "kv", (lua_Integer)d->kv);
  ty_lua_set_int(L, "compute", (lua_Integer)d->compute);
  ty_lua_set_int(L, "output", (lua_Integer)d->logits);
  ty_lua_set_int(L, "host", (lua_Integer)d->host);
  ty_lua_set_int(L, "overhead", (lua_Integer)d->overhead);
  ty_lua_set_int(L, "used", (lua_Integer)d->used);
  ty_lua_set_int(L, "total", (lua_Integer)d->dev.total);
  ty_lua_set_int(L, "free", (lua_Integer)d->free);
  ty_lua_set_bool(L, "fits", d->fits);
}


static int plan_tostring(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}


/* Pushes the plan table with its metatable (__tostring: the table text). */
static void push_plan(lua_State *L, const struct ty_plan *p, const struct ty_shape *s,
                      const char *path, const char *text) {
  lua_createtable(L, 0, 8);                         /* [plan] */
  lua_createtable(L, 0, 8);                         /* [plan, model] */
  lua_pushstring(L, s->name); lua_setfield(L, -2, "name");
  lua_pushstring(L, path); lua_setfield(L, -2, "path");
  lua_pushstring(L, s->hp.arch_name); lua_setfield(L, -2, "arch");
  ty_lua_set_int(L, "n_layer", s->hp.n_layer);
  ty_lua_set_int(L, "params", (lua_Integer)s->n_params);
  ty_lua_set_int(L, "weights", (lua_Integer)s->weights);
  ty_lua_set_int(L, "file_size", (lua_Integer)s->file_size);
  lua_setfield(L, -2, "model");                     /* [plan] */

  lua_createtable(L, 0, 8);                         /* [plan, settings] */
  ty_lua_set_int(L, "num_ctx", p->settings.num_ctx);
  ty_lua_set_int(L, "num_batch", p->settings.num_batch);
  lua_pushstring(L, ty_qtype_get(p->settings.kv_type)->name); lua_setfield(L, -2, "kv_type");
  ty_lua_set_int(L, "parallel", p->settings.parallel);
  if (p->settings.num_gpu == TY_PLAN_AUTO) {
    lua_pushliteral(L, "auto");
    lua_setfield(L, -2, "num_gpu");
  } else {
    ty_lua_set_int(L, "num_gpu", p->settings.num_gpu);
  }
  if (p->settings.n_split > 0) {
    lua_createtable(L, p->settings.n_split, 0);
    for (int i = 0; i < p->settings.n_split; i++) {
      lua_pushnumber(L, p->settings.split[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "split");
  }
  lua_setfield(L, -2, "settings");                  /* [plan] */
  ty_lua_set_int(L, "num_gpu", p->num_gpu);
  ty_lua_set_bool(L, "fits", p->fits);

  lua_createtable(L, p->n_dev, 0);                  /* [plan, devices] */
  for (int i = 0; i < p->n_dev; i++) {
    const struct ty_plan_dev *d = &p->dev[i];
    lua_createtable(L, 0, 20);                      /* [plan, devices, dev] */
    lua_pushstring(L, d->dev.name); lua_setfield(L, -2, "name");
    lua_pushstring(L, d->dev.kind == TY_PLAN_DEV_CUDA ? "cuda" : "cpu"); lua_setfield(L, -2, "kind");
    ty_lua_set_int(L, "index", d->dev.index);
    ty_lua_set_int(L, "reserve", (lua_Integer)d->dev.reserve);
    ty_lua_set_bool(L, "capped", d->dev.capped);
    ty_lua_set_int(L, "n_layers", d->layer_hi - d->layer_lo);
    if (d->layer_hi > d->layer_lo) {
      ty_lua_set_int(L, "first_layer", d->layer_lo);
      ty_lua_set_int(L, "last_layer", d->layer_hi - 1);
    }
    ty_lua_set_bool(L, "input", d->input);
    ty_lua_set_bool(L, "output_layer", d->output);
    push_bytes(L, d);
    lua_rawseti(L, -2, i + 1);                      /* [plan, devices] */
  }
  lua_setfield(L, -2, "devices");                   /* [plan] */
  lua_createtable(L, 0, 10);                        /* [plan, totals] */
  push_bytes(L, &p->total);
  lua_setfield(L, -2, "totals");                    /* [plan] */

  lua_createtable(L, 0, 3);                         /* [plan, alternatives] */
  if (!p->fits) {
    if (p->alt.num_ctx > 0) ty_lua_set_int(L, "num_ctx", p->alt.num_ctx);
    if (p->alt.kv_type >= 0) {
      lua_pushstring(L, ty_qtype_get(p->alt.kv_type)->name);
      lua_setfield(L, -2, "kv_type");
    }
    if (p->alt.num_gpu >= 0) ty_lua_set_int(L, "num_gpu", p->alt.num_gpu);
    if (p->alt.quant != NULL) {
      lua_pushstring(L, p->alt.quant);
      lua_setfield(L, -2, "quant");
      ty_lua_set_int(L, "quant_weights", (lua_Integer)p->alt.quant_weights);
    }
  }
  lua_setfield(L, -2, "alternatives");              /* [plan] */

  lua_createtable(L, 0, 2);                         /* [plan, mt] */
  lua_pushstring(L, text);
  lua_pushcclosure(L, plan_tostring, 1);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "tycho.Plan");
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);                          /* [plan] */
}


/* Plan before pull: a registry name (or a .gguf URL) that is not in the
   store is planned from its model blob's header, read with HTTP ranges. Without the store, or when
   ref is no registry name, the resolver's message (in err) stands. */
static ty_status remote_shape(const char *ref, struct ty_shape *shape, char *path, size_t size,
                              ty_err *err) {
#ifdef TYCHO_HAVE_STORE
  struct ty_name nm;
  struct ty_pull_opts o;
  ty_gguf *g;
  ty_status s;
  if (!ty_url_is_gguf(ref) && strstr(ref, ".gguf") != NULL) return err->code;  /* a missing file */
  if (ty_name_parse(ref, &nm, NULL) != TY_OK) return err->code;
  ty_pull_opts_init(&o);
  o.retries = 2;
  if ((s = ty_registry_open_header(ref, &o, &g, NULL, err)) != TY_OK) return s;
  s = ty_shape_from_gguf(g, shape, err);
  ty_gguf_close(g);
  snprintf(path, size, "%s", ref);
  return s;
#else
  (void)ref; (void)shape; (void)path; (void)size;
  return err->code;
#endif
}


/* tycho.plan(model, opts) -> plan | fail, msg, code. Bad options raise; a
   model that cannot be read or a plan that cannot be made returns fail. A
   plan that does not fit is a plan: fits = false, alternatives say what would.
   The shape and plan live in userdata, so nothing leaks if Lua raises. */
static int l_plan(lua_State *L) {
  const char *ref = luaL_checkstring(L, 1);
  struct ty_plan_device devs[TY_PLAN_MAX_DEV];
  struct ty_plan_settings set;
  struct ty_shape *shape;
  struct ty_plan *plan;
  char path[4096];
  luaL_Buffer b;
  size_t len;
  ty_err err;
  int n;

  read_opts(L, 2, &set, devs, &n);
  lua_settop(L, 2);
  shape = lua_newuserdatauv(L, sizeof *shape, 0);   /* [ref, opts, shape] */
  plan = lua_newuserdatauv(L, sizeof *plan, 0);     /* [ref, opts, shape, plan] */
  if (ty_store_resolve(ref, path, sizeof path, &err) == TY_OK) {
    if (ty_shape_from_file(path, shape, &err) != TY_OK) return ty_lua_fail(L, &err);
  } else if (remote_shape(ref, shape, path, sizeof path, &err) != TY_OK) {
    return ty_lua_fail(L, &err);
  }
  if (ty_plan_make(shape, devs, n, &set, plan, &err) != TY_OK) return ty_lua_fail(L, &err);
  len = ty_plan_format(plan, shape, NULL, 0);
  ty_plan_format(plan, shape, luaL_buffinitsize(L, &b, len + 1), len + 1);
  luaL_pushresultsize(&b, len);                     /* [ref, opts, shape, plan, text] */
  push_plan(L, plan, shape, path, lua_tostring(L, -1));  /* [.., text, result] */
  return 1;
}


static const luaL_Reg plan_funcs[] = {
  { "plan", l_plan }, { NULL, NULL }
};


/* Adds tycho.plan to the table on the stack top. */
void ty_lua_plan_open(lua_State *L) {
  luaL_setfuncs(L, plan_funcs, 0);
}
