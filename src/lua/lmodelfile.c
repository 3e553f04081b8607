/*
 * lmodelfile.c: tycho.modelfile, Ollama's Modelfiles from Lua.
 * tycho.modelfile.parse(text [, name]) and .read(path) give a plain table;
 * tycho.modelfile(table) gives a tycho.Modelfile that writes the text
 * (:write(path), tostring) and the JSON layers `tycho create` stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "ltycho.h"
#include "store/modelfile.h"

#define TY_LUA_MODELFILE "tycho.Modelfile"

void ty_lua_modelfile_open(lua_State *L);

typedef struct {
  ty_modelfile *mf;
} lmodelfile;


/* The table keys, in the order a Modelfile built from a table is written
   (the order `ollama show --modelfile` uses). */
static const char *const fields[] = {
  "from", "adapter", "template", "system", "renderer", "parser", "parameters", "license",
  "messages", "requires", "draft", "commands", NULL
};


/* {=====================================================================
   Modelfile -> table
   ====================================================================== */

/* Sets t[key] = the string on the top, or, when key repeats, a list of all
   of them (FROM and LICENSE may repeat). */
static void set_repeatable(lua_State *L, int t, const char *key, int many) {
  if (!many) {
    lua_setfield(L, t, key);                        /* [.., t] */
    return;
  }
  if (lua_getfield(L, t, key) == LUA_TNIL) {        /* [.., s, list] */
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, t, key);
  }
  lua_insert(L, -2);                                /* [.., list, s] */
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}


/* Pushes a parameter's value typed (integers, numbers, booleans, strings). */
static void push_param(lua_State *L, int type, const char *v) {
  int64_t i;
  double f;
  bool b;
  if (type == TY_MF_INT && ty_modelfile_parse_int(v, &i)) lua_pushinteger(L, (lua_Integer)i);
  else if (type == TY_MF_FLOAT && ty_modelfile_parse_float(v, &f)) lua_pushnumber(L, f);
  else if (type == TY_MF_BOOL && ty_modelfile_parse_bool(v, &b)) lua_pushboolean(L, b);
  else lua_pushstring(L, v);
}


/* Pushes the table form of mf: from, parameters (typed; stop a list),
   template, system, adapter, license, messages, requires, renderer, parser,
   draft, and commands (every {name, args} in order). */
static void push_fields(lua_State *L, const ty_modelfile *mf) {
  int t, params, msgs, cmds;
  size_t n_from = 0, n_license = 0;
  for (size_t i = 0; i < mf->n; i++) {
    n_from += strcmp(mf->cmds[i].name, "model") == 0;
    n_license += strcmp(mf->cmds[i].name, "license") == 0;
  }
  lua_newtable(L);                                  /* [t] */
  t = lua_gettop(L);
  lua_newtable(L);
  params = lua_gettop(L);                           /* [t, params] */
  lua_newtable(L);
  msgs = lua_gettop(L);                             /* [t, params, msgs] */
  lua_newtable(L);
  cmds = lua_gettop(L);                             /* [t, params, msgs, cmds] */
  for (size_t i = 0; i < mf->n; i++) {
    const char *name = mf->cmds[i].name, *args = mf->cmds[i].args;
    int type = ty_modelfile_param_type(name);
    lua_createtable(L, 0, 2);                       /* [.., cmd] */
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, args);
    lua_setfield(L, -2, "args");
    lua_rawseti(L, cmds, (lua_Integer)i + 1);
    if (strcmp(name, "model") == 0) {
      lua_pushstring(L, args);
      set_repeatable(L, t, "from", n_from > 1);
    } else if (strcmp(name, "license") == 0) {
      lua_pushstring(L, args);
      set_repeatable(L, t, "license", n_license > 1);
    } else if (strcmp(name, "message") == 0) {
      const char *colon = strstr(args, ": ");
      lua_createtable(L, 0, 2);                     /* [.., msg] */
      lua_pushlstring(L, args, colon ? (size_t)(colon - args) : strlen(args));
      lua_setfield(L, -2, "role");
      lua_pushstring(L, colon ? colon + 2 : "");
      lua_setfield(L, -2, "content");
      lua_rawseti(L, msgs, (lua_Integer)lua_rawlen(L, msgs) + 1);
    } else if (type == TY_MF_STOP) {
      if (lua_getfield(L, params, "stop") == LUA_TNIL) {   /* [.., list?] */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, params, "stop");
      }
      lua_pushstring(L, args);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
    } else if (type >= 0) {
      push_param(L, type, args);                    /* the last one wins, as in Ollama */
      lua_setfield(L, params, name);
    } else {                                        /* template, system, adapter, ...: the last wins */
      lua_pushstring(L, args);
      lua_setfield(L, t, name);
    }
  }
  lua_setfield(L, t, "commands");                   /* [t, params, msgs] */
  lua_setfield(L, t, "messages");                   /* [t, params] */
  lua_setfield(L, t, "parameters");                 /* [t] */
}


/* {=====================================================================
   table -> Modelfile
   ====================================================================== */

/* Adds (name, value) to mf or raises naming the field. */
static void add(lua_State *L, ty_modelfile *mf, const char *field, const char *name,
                const char *value, size_t len) {
  ty_err err;
  if (strlen(value) != len) luaL_error(L, "tycho.modelfile: field '%s' holds a NUL byte", field);
  if (ty_modelfile_add(mf, name, value, &err) != TY_OK)
    luaL_error(L, "tycho.modelfile: field '%s': %s", field, err.msg);
}


/* The string at index i, or a raise naming field. */
static const char *check_str(lua_State *L, int i, const char *field, size_t *len) {
  if (lua_type(L, i) != LUA_TSTRING) {
    luaL_error(L, "tycho.modelfile: field '%s' must be a string, not %s", field, luaL_typename(L, i));
  }
  return lua_tolstring(L, i, len);
}


/* Adds t[key] (a string, or with many a list of strings) as command name. */
static void add_strings(lua_State *L, ty_modelfile *mf, int t, const char *key, const char *name,
                        bool many) {
  size_t len;
  int type = lua_getfield(L, t, key);               /* [.., v] */
  if (type == LUA_TSTRING) {
    const char *v = lua_tolstring(L, -1, &len);
    add(L, mf, key, name, v, len);
  } else if (type == LUA_TTABLE && many) {
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
      char f[64];
      snprintf(f, sizeof f, "%s[%lld]", key, (long long)i);
      const char *v;
      lua_rawgeti(L, -1, i);                        /* [.., v, s] */
      v = check_str(L, -1, f, &len);
      add(L, mf, f, name, v, len);
      lua_pop(L, 1);
    }
  } else if (type != LUA_TNIL) {
    luaL_error(L, "tycho.modelfile: field '%s' must be a string%s, not %s", key,
               many ? " or a list of strings" : "", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}


/* Pushes number x as Modelfile text: an integer as one, a float as the
   shortest decimal that reads back (Lua's %.14g may not). */
static void push_number(lua_State *L, int i) {
  int isint;
  lua_Integer n = lua_tointegerx(L, i, &isint);
  if (lua_isinteger(L, i) || isint) {
    lua_pushfstring(L, "%I", (LUAI_UACINT)n);
  } else {
    char s[64];
    double x = (double)lua_tonumber(L, i);
    for (int p = 1; p <= 17; p++) {
      snprintf(s, sizeof s, "%.*g", p, x);
      if (strtod(s, NULL) == x) break;
    }
    lua_pushstring(L, s);
  }
}


/* Pushes the parameter on the stack top as Modelfile text: an integer for an
   int type, a number for a float type, a boolean for a bool one, a string
   as it is (the core checks it), a list joined with commas for devices and
   split. Raises naming field. */
static void param_text(lua_State *L, int type, const char *field) {
  static const char *const want[] = { "an integer", "a number", "a boolean",
                                      "a string or a list of strings", "a string", "a string" };
  int lt = lua_type(L, -1), v = lua_gettop(L);
  if (lt == LUA_TSTRING) {
    lua_pushvalue(L, v);
  } else if (lt == LUA_TNUMBER && type == TY_MF_INT) {
    int isint;
    lua_tointegerx(L, v, &isint);
    if (!isint) luaL_error(L, "tycho.modelfile: field '%s' must be an integer", field);
    push_number(L, v);
  } else if (lt == LUA_TNUMBER && (type == TY_MF_FLOAT || type == TY_MF_DEPRECATED)) {
    push_number(L, v);
  } else if (lt == LUA_TBOOLEAN && (type == TY_MF_BOOL || type == TY_MF_DEPRECATED)) {
    lua_pushstring(L, lua_toboolean(L, v) ? "true" : "false");
  } else if (lt == LUA_TTABLE && type == TY_MF_STRING) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, v);
    lua_pushliteral(L, "");
    for (lua_Integer i = 1; i <= n; i++) {
      luaL_checkstack(L, 3, "list too long");
      lua_rawgeti(L, v, i);                         /* [.., v, text, x] */
      if (lua_type(L, -1) == LUA_TNUMBER) push_number(L, -1);
      else if (lua_type(L, -1) == LUA_TSTRING) lua_pushvalue(L, -1);
      else luaL_error(L, "tycho.modelfile: field '%s' must list strings or numbers", field);
      lua_remove(L, -2);                            /* [.., v, text, x_text] */
      if (i > 1) {
        lua_pushliteral(L, ",");
        lua_insert(L, -2);
      }
      lua_concat(L, i > 1 ? 3 : 2);                 /* [.., v, text] */
    }
  } else {
    luaL_error(L, "tycho.modelfile: field '%s' must be %s, not %s", field, want[type],
               luaL_typename(L, v));
  }
}


static void add_parameters(lua_State *L, ty_modelfile *mf, int t) {
  int p;
  size_t len;
  if (lua_getfield(L, t, "parameters") == LUA_TNIL) {   /* [.., params] */
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "tycho.modelfile: field 'parameters' must be a table, not %s", luaL_typename(L, -1));
  p = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, p) != 0) {                     /* [.., params, k, v] */
    ty_err err;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "tycho.modelfile: field 'parameters' must have string keys");
    if (ty_modelfile_param_type(lua_tostring(L, -2)) < 0) {
      ty_modelfile_add(mf, lua_tostring(L, -2), "", &err);   /* fails: the message names it */
      luaL_error(L, "tycho.modelfile: field 'parameters': %s", err.msg);
    }
    lua_pop(L, 1);
  }
  /* a fixed order, so the same table always writes the same text */
  for (size_t i = 0; ty_modelfile_param_name(i) != NULL; i++) {
    const char *name = ty_modelfile_param_name(i);
    int type = ty_modelfile_param_type(name);
    char field[64];
    snprintf(field, sizeof field, "parameters.%s", name);
    if (lua_getfield(L, p, name) == LUA_TNIL) {     /* [.., params, v] */
      lua_pop(L, 1);
      continue;
    }
    if (type == TY_MF_STOP && lua_istable(L, -1)) {
      for (lua_Integer k = 1; k <= (lua_Integer)lua_rawlen(L, -1); k++) {
        char f[80];
        snprintf(f, sizeof f, "parameters.stop[%lld]", (long long)k);
        const char *v;
        lua_rawgeti(L, -1, k);                      /* [.., params, list, s] */
        v = check_str(L, -1, f, &len);
        add(L, mf, f, name, v, len);
        lua_pop(L, 1);
      }
    } else {
      const char *v;
      param_text(L, type, field);                   /* [.., params, v, text] */
      v = lua_tolstring(L, -1, &len);
      add(L, mf, field, name, v, len);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);                                  /* [.., params] */
  }
  lua_pop(L, 1);
}


static void add_messages(lua_State *L, ty_modelfile *mf, int t) {
  if (lua_getfield(L, t, "messages") == LUA_TNIL) {     /* [.., msgs] */
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "tycho.modelfile: field 'messages' must be a list, not %s", luaL_typename(L, -1));
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
    char f[64], fr[80], fc[80];
    const char *role, *content;
    size_t rl, cl;
    snprintf(f, sizeof f, "messages[%lld]", (long long)i);
    snprintf(fr, sizeof fr, "%s.role", f);
    snprintf(fc, sizeof fc, "%s.content", f);
    if (lua_rawgeti(L, -1, i) != LUA_TTABLE)         /* [.., msgs, m] */
      luaL_error(L, "tycho.modelfile: field '%s' must be a table {role=, content=}", f);
    lua_getfield(L, -1, "role");                     /* [.., msgs, m, role] */
    lua_getfield(L, -2, "content");                  /* [.., msgs, m, role, content] */
    role = check_str(L, -2, fr, &rl);
    content = check_str(L, -1, fc, &cl);
    if (strlen(role) != rl || strlen(content) != cl)
      luaL_error(L, "tycho.modelfile: field '%s' holds a NUL byte", f);
    lua_pushfstring(L, "%s: %s", role, content);     /* [.., msgs, m, role, content, args] */
    add(L, mf, f, "message", lua_tostring(L, -1), strlen(lua_tostring(L, -1)));
    lua_pop(L, 4);                                   /* [.., msgs] */
  }
  lua_pop(L, 1);
}


/* tycho.modelfile(t) -> Modelfile: raises naming the field on a bad value */
static int l_new(lua_State *L) {
  lmodelfile *b;
  int t = 2;                                         /* [modelfile table, t] (__call) */
  luaL_checktype(L, t, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {                      /* [.., k, v] */
    bool ok = false;
    if (lua_type(L, -2) == LUA_TSTRING)
      for (int i = 0; fields[i] != NULL && !ok; i++) ok = strcmp(lua_tostring(L, -2), fields[i]) == 0;
    if (!ok) {
      luaL_error(L, "tycho.modelfile: unknown field '%s'",
                 lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
  b = lua_newuserdatauv(L, sizeof *b, 1);            /* [.., ud] */
  b->mf = NULL;
  luaL_setmetatable(L, TY_LUA_MODELFILE);            /* consistent before we allocate */
  if ((b->mf = ty_modelfile_new()) == NULL) luaL_error(L, "tycho.modelfile: out of memory");
  if (lua_getfield(L, t, "from") == LUA_TNIL)
    luaL_error(L, "tycho.modelfile: field 'from' is missing (the model to start from)");
  lua_pop(L, 1);
  add_strings(L, b->mf, t, "from", "model", true);
  add_strings(L, b->mf, t, "adapter", "adapter", false);
  add_strings(L, b->mf, t, "template", "template", false);
  add_strings(L, b->mf, t, "system", "system", false);
  add_strings(L, b->mf, t, "renderer", "renderer", false);
  add_strings(L, b->mf, t, "parser", "parser", false);
  add_parameters(L, b->mf, t);
  add_strings(L, b->mf, t, "license", "license", true);
  add_messages(L, b->mf, t);
  add_strings(L, b->mf, t, "requires", "requires", false);
  add_strings(L, b->mf, t, "draft", "draft", false);
  push_fields(L, b->mf);                             /* [.., ud, fields] */
  lua_setiuservalue(L, -2, 1);                       /* [.., ud] */
  return 1;
}


/* {=====================================================================
   The tycho.Modelfile object
   ====================================================================== */

static ty_modelfile *mf_check(lua_State *L) {
  lmodelfile *b = luaL_checkudata(L, 1, TY_LUA_MODELFILE);
  if (b->mf == NULL) luaL_error(L, "attempt to use an empty Modelfile");
  return b->mf;
}


static int mf_gc(lua_State *L) {
  lmodelfile *b = luaL_checkudata(L, 1, TY_LUA_MODELFILE);
  ty_modelfile_free(b->mf);
  b->mf = NULL;
  return 0;
}


/* tostring(mf) -> the Modelfile text */
static int mf_tostring(lua_State *L) {
  char *text;
  size_t len;
  ty_err err;
  if (ty_modelfile_write(mf_check(L), &text, &len, &err) != TY_OK) luaL_error(L, "%s", err.msg);
  lua_pushlstring(L, text, len);
  free(text);
  return 1;
}


/* mf:write(path) -> true | fail, msg, code */
static int mf_write(lua_State *L) {
  ty_err err;
  if (ty_modelfile_save(mf_check(L), luaL_checkstring(L, 2), &err) != TY_OK) return ty_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}


/* Pushes a JSON layer or nil when it would be empty. */
static int push_json(lua_State *L, ty_status (*fn)(const ty_modelfile *, char **, size_t *, ty_err *)) {
  char *out;
  size_t len;
  ty_err err;
  if (fn(mf_check(L), &out, &len, &err) != TY_OK) luaL_error(L, "%s", err.msg);
  if (out == NULL) lua_pushnil(L);
  else lua_pushlstring(L, out, len);
  free(out);
  return 1;
}


/* mf:params_json() / mf:messages_json() -> the layer's JSON text | nil */
static int mf_params_json(lua_State *L) { return push_json(L, ty_modelfile_params_json); }
static int mf_messages_json(lua_State *L) { return push_json(L, ty_modelfile_messages_json); }


/* mf.KEY: a method, else the field of the table form (a copy; edit a table
   and build a new Modelfile to change one) */
static int mf_index(lua_State *L) {
  luaL_checkudata(L, 1, TY_LUA_MODELFILE);
  lua_pushvalue(L, 2);
  if (lua_gettable(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;   /* [ud, k, method] */
  lua_pop(L, 1);
  lua_getiuservalue(L, 1, 1);                        /* [ud, k, fields] */
  lua_pushvalue(L, 2);
  lua_gettable(L, -2);                               /* [ud, k, fields, v] */
  return 1;
}


static const luaL_Reg mf_methods[] = {
  { "write", mf_write }, { "params_json", mf_params_json }, { "messages_json", mf_messages_json },
  { NULL, NULL }
};


/* tycho.modelfile.parse(text [, name]) -> table; raises the one-line error */
static int l_parse(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, NULL);
  ty_modelfile *mf;
  ty_err err;
  if (ty_modelfile_parse(text, len, name, &mf, &err) != TY_OK) {
    lua_pushstring(L, err.msg);
    return lua_error(L);
  }
  push_fields(L, mf);                                /* Lua errors here are out of memory only */
  ty_modelfile_free(mf);
  return 1;
}


/* tycho.modelfile.read(path) -> table | fail, msg, code */
static int l_read(lua_State *L) {
  ty_modelfile *mf;
  ty_err err;
  if (ty_modelfile_read(luaL_checkstring(L, 1), &mf, &err) != TY_OK) return ty_lua_fail(L, &err);
  push_fields(L, mf);
  ty_modelfile_free(mf);
  return 1;
}


ty_modelfile *ty_lua_modelfile_arg(lua_State *L, int i, const char *label, ty_err *err) {
  lmodelfile *b;
  i = lua_absindex(L, i);
  if (lua_istable(L, i)) {                           /* built as tycho.modelfile(t) builds it */
    lua_pushcfunction(L, l_new);
    lua_pushnil(L);
    lua_pushvalue(L, i);
    lua_call(L, 2, 1);
    lua_replace(L, i);
  } else if (lua_type(L, i) == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, i, &len);
    b = lua_newuserdatauv(L, sizeof *b, 1);          /* [.., ud] */
    b->mf = NULL;
    luaL_setmetatable(L, TY_LUA_MODELFILE);
    if (ty_modelfile_parse(text, len, label, &b->mf, err) != TY_OK) {
      lua_pop(L, 1);
      return NULL;
    }
    push_fields(L, b->mf);
    lua_setiuservalue(L, -2, 1);
    lua_replace(L, i);
  }
  b = luaL_testudata(L, i, TY_LUA_MODELFILE);
  if (b == NULL || b->mf == NULL)
    luaL_typeerror(L, i, "Modelfile text, a table or a tycho.Modelfile");
  return b->mf;
}


static const luaL_Reg modelfile_funcs[] = {
  { "parse", l_parse }, { "read", l_read }, { NULL, NULL }
};


void ty_lua_modelfile_open(lua_State *L) {
  luaL_newmetatable(L, TY_LUA_MODELFILE);            /* [tycho, mt] */
  lua_pushcfunction(L, mf_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, mf_tostring);
  lua_setfield(L, -2, "__tostring");
  luaL_newlib(L, mf_methods);                        /* [tycho, mt, methods] */
  lua_pushcclosure(L, mf_index, 1);                  /* [tycho, mt, index] */
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);                                     /* [tycho] */
  luaL_newlib(L, modelfile_funcs);                   /* [tycho, modelfile] */
  lua_createtable(L, 0, 1);                          /* [tycho, modelfile, mt] */
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);                           /* [tycho, modelfile] */
  lua_setfield(L, -2, "modelfile");                  /* [tycho] */
}
