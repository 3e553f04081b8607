/*
 * ltemplate.c: the tycho.Template userdata: a chat template in Ollama's Go
 * template language, or a GGUF's Jinja template recognised by family and
 * rendered with the matching Ollama template.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "text/template.h"
#include "ltycho.h"

#define TY_LUA_TEMPLATE "tycho.Template"

typedef struct {
  ty_tmpl *t;                      /* NULL once closed */
  struct ty_chat_format f;         /* family fields set for a Jinja source */
  bool jinja;
} ltemplate;


static ltemplate *template_check(lua_State *L, int i) {
  ltemplate *b = luaL_checkudata(L, i, TY_LUA_TEMPLATE);
  if (b->t == NULL) luaL_error(L, "attempt to use a closed template");
  return b;
}


/* t:render(messages) -> text. messages is a list of {role =, content =};
   Ollama's rules apply (merged turns, .System, the per-turn form), and a
   Jinja family's default system message when there is none. */
static int template_render(lua_State *L) {
  ltemplate *b = template_check(L, 1);
  struct ty_chat_msg *msgs;
  size_t n, len;
  char *out;
  ty_err err;
  ty_status st;
  luaL_checktype(L, 2, LUA_TTABLE);
  msgs = ty_lua_messages(L, 2, NULL, &n);                            /* [t, msgs, buf] */
  if (b->jinja) st = ty_chat_format_render(&b->f, msgs, n, &out, &len, &err);
  else st = ty_tmpl_chat(b->t, msgs, n, &out, &len, &err);
  if (st != TY_OK) return ty_lua_fail(L, &err);
  lua_pushlstring(L, out, len);
  free(out);
  return 1;
}


/* t:info() -> { kind = "go" | "jinja", family =, stop = {...}, default_system = } */
static int template_info(lua_State *L) {
  ltemplate *b = template_check(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, b->jinja ? "jinja" : "go");
  lua_setfield(L, -2, "kind");
  if (b->jinja) {
    lua_pushstring(L, b->f.family);
    lua_setfield(L, -2, "family");
    lua_newtable(L);
    for (int i = 0; b->f.stops != NULL && b->f.stops[i] != NULL; i++) {
      lua_pushstring(L, b->f.stops[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "stop");
    if (b->f.default_system != NULL) {
      lua_pushstring(L, b->f.default_system);
      lua_setfield(L, -2, "default_system");
    }
  }
  return 1;
}


static int template_close(lua_State *L) {
  ltemplate *b = luaL_checkudata(L, 1, TY_LUA_TEMPLATE);
  ty_tmpl_free(b->t);
  if (b->jinja) ty_chat_format_clear(&b->f);
  b->t = NULL;
  b->jinja = false;
  return 0;
}


static int template_tostring(lua_State *L) {
  ltemplate *b = luaL_checkudata(L, 1, TY_LUA_TEMPLATE);
  if (b->t == NULL) lua_pushliteral(L, "tycho.Template (closed)");
  else if (b->jinja) lua_pushfstring(L, "tycho.Template (jinja, %s family)", b->f.family);
  else lua_pushliteral(L, "tycho.Template (go)");
  return 1;
}


/* Whether src is Jinja rather than Go template text: Jinja has statement
   tags, Go templates never do. */
static bool is_jinja(const char *src, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (src[i] == '{' && (src[i + 1] == '%' || src[i + 1] == '#')) return true;
  return false;
}


/* tycho.template(src) -> template | fail, msg, code. src is Ollama Go
   template text, or a Jinja chat template (as in a GGUF), which must be of
   a family tycho recognises. */
static int l_template(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  ltemplate *b = lua_newuserdatauv(L, sizeof *b, 0);   /* [src, ud] */
  ty_err err;
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, TY_LUA_TEMPLATE);               /* closed but consistent */
  if (is_jinja(src, len)) {
    if (ty_chat_format_detect(src, len, NULL, &b->f, &err) != TY_OK) return ty_lua_fail(L, &err);
    b->jinja = true;
    src = b->f.tmpl;
    len = strlen(src);
  }
  if (ty_tmpl_parse(src, len, &b->t, &err) != TY_OK) return ty_lua_fail(L, &err);
  return 1;
}


static const luaL_Reg template_methods[] = {
  { "render", template_render }, { "info", template_info }, { "close", template_close },
  { NULL, NULL }
};

static const luaL_Reg template_meta[] = {
  { "__gc", template_close }, { "__close", template_close }, { "__tostring", template_tostring },
  { "__index", NULL }, { NULL, NULL }
};


void ty_lua_template_open(lua_State *L) {
  ty_lua_class(L, TY_LUA_TEMPLATE, template_meta, template_methods);            /* [tycho] */
  lua_pushcfunction(L, l_template);
  lua_setfield(L, -2, "template");
}
