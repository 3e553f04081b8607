/*
 * lsha.c: tycho.sha256(path), the digest recipes lock a model file by.
 * It calls the store's ty_sha256_file (libcrypto), so a build without the
 * store (TYCHO_CURL=OFF) answers with a failure that says so.
 */
#include "ltycho.h"

#ifdef TYCHO_HAVE_STORE
#include "store/store.h"
#endif


/* tycho.sha256(path) -> "sha256:HEX" | fail, msg, code */
static int l_sha256(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  ty_err err;
#ifdef TYCHO_HAVE_STORE
  char digest[TY_DIGEST_LEN + 1];
  if (ty_sha256_file(path, digest, &err) != TY_OK) return ty_lua_fail(L, &err);
  lua_pushstring(L, digest);
  return 1;
#else
  ty_err_set(&err, TY_ERR_UNSUPPORTED, "%s: no SHA-256 in this build (cmake -DTYCHO_CURL=ON with libcrypto)",
             path);
  return ty_lua_fail(L, &err);
#endif
}


void ty_lua_sha_open(lua_State *L) {
  lua_pushcfunction(L, l_sha256);                   /* [tycho, fn] */
  lua_setfield(L, -2, "sha256");                    /* [tycho] */
}
