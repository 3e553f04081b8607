/*
 * manifest.c: the Ollama-layout store: manifests (Docker v2 JSON, parsed with
 * cJSON) and blobs named by their SHA-256 (libcrypto). Writers never leave a
 * file a reader could take as complete: bytes go to a unique temporary name
 * and are renamed into place once checked.
 */
#include "store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX (4u << 20)         /* a manifest is a few hundred bytes; refuse huge ones */


/* {======================================================================
** Parsing
** ====================================================================== */

static ty_status parse_layer(const cJSON *j, const char *where, const char *what,
                             struct ty_layer *l, ty_err *err) {
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "mediaType");
  const cJSON *dg = cJSON_GetObjectItemCaseSensitive(j, "digest");
  const cJSON *sz = cJSON_GetObjectItemCaseSensitive(j, "size");
  if (!cJSON_IsObject(j))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: manifest %s is not an object", where, what);
  if (!cJSON_IsString(mt) || strlen(mt->valuestring) >= sizeof l->media_type)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: manifest %s has no mediaType string", where, what);
  if (!cJSON_IsString(dg) || !ty_digest_valid(dg->valuestring))
    return ty_err_set(err, TY_ERR_FORMAT, "%s: manifest %s digest is not sha256: and 64 "
                      "lowercase hex digits", where, what);
  if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9007199254740992.0 ||
      sz->valuedouble != (double)(uint64_t)sz->valuedouble)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: manifest %s size is not a byte count", where, what);
  strcpy(l->media_type, mt->valuestring);
  strcpy(l->digest, dg->valuestring);
  l->size = (uint64_t)sz->valuedouble;
  return TY_OK;
}


static void sha256_hex(const unsigned char md[32], char *digest) {
  static const char hex[] = "0123456789abcdef";
  memcpy(digest, "sha256:", 7);
  for (int i = 0; i < 32; i++) {
    digest[7 + 2 * i] = hex[md[i] >> 4];
    digest[8 + 2 * i] = hex[md[i] & 15];
  }
  digest[TY_DIGEST_LEN] = '\0';
}


void ty_sha256_bytes(const void *data, size_t len, char *digest) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  sha256_hex(md, digest);
}


ty_status ty_manifest_parse(const char *json, size_t len, const char *where,
                            struct ty_manifest *m, ty_err *err) {
  cJSON *j;
  const cJSON *v, *layers, *l;
  ty_status s = TY_OK;
  size_t i = 0;
  memset(m, 0, sizeof *m);
  if (len > MANIFEST_MAX)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: a manifest of %zu bytes is too large", where, len);
  j = cJSON_ParseWithLength(json, len);
  if (j == NULL)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest is not valid JSON", where);
  v = cJSON_GetObjectItemCaseSensitive(j, "schemaVersion");
  layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
  if (!cJSON_IsObject(j))
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest is not a JSON object", where);
  else if (!cJSON_IsNumber(v) || v->valuedouble != 2)
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: manifest schemaVersion is not 2", where);
  else if (!cJSON_IsArray(layers))
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest has no layers array", where);
  else
    s = parse_layer(cJSON_GetObjectItemCaseSensitive(j, "config"), where, "config", &m->config, err);
  if (s == TY_OK) {
    m->n_layers = (size_t)cJSON_GetArraySize(layers);
    m->layers = calloc(m->n_layers ? m->n_layers : 1, sizeof *m->layers);
    if (m->layers == NULL)
      s = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for %zu layers", where, m->n_layers);
  }
  if (s == TY_OK) {
    cJSON_ArrayForEach(l, layers) {
      char what[32];
      snprintf(what, sizeof what, "layer %zu", i + 1);
      if ((s = parse_layer(l, where, what, &m->layers[i++], err)) != TY_OK) break;
    }
  }
  cJSON_Delete(j);
  if (s != TY_OK) {
    ty_manifest_free(m);
    return s;
  }
  ty_sha256_bytes(json, len, m->digest);
  return TY_OK;
}


void ty_manifest_free(struct ty_manifest *m) {
  free(m->layers);
  memset(m, 0, sizeof *m);
}


const struct ty_layer *ty_manifest_layer(const struct ty_manifest *m, const char *mt) {
  for (size_t i = 0; i < m->n_layers; i++)
    if (strcmp(m->layers[i].media_type, mt) == 0) return &m->layers[i];
  return NULL;
}


/* }====================================================================== */


/* Reads a whole small file (at most max bytes) into a malloc'd buffer. */
static ty_status read_small(const char *path, size_t max, char **out, size_t *len, ty_err *err) {
  FILE *f = fopen(path, "rb");
  char *buf;
  size_t n;
  if (f == NULL) return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  buf = malloc(max + 1);
  if (buf == NULL) {
    fclose(f);
    return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", path);
  }
  n = fread(buf, 1, max + 1, f);
  if (ferror(f) || n > max) {
    int e = ferror(f) ? errno : EFBIG;
    fclose(f);
    free(buf);
    return ty_err_set(err, TY_ERR_IO, "%s: %s", path, e == EFBIG ? "too large" : strerror(e));
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return TY_OK;
}


static ty_status load_manifest(const char *path, struct ty_manifest *m, ty_err *err) {
  char *buf = NULL;
  size_t len = 0;
  ty_status s = read_small(path, MANIFEST_MAX, &buf, &len, err);
  if (s != TY_OK) return s;
  s = ty_manifest_parse(buf, len, path, m, err);
  free(buf);
  return s;
}


ty_status ty_store_manifest(const char *name, struct ty_manifest *m, char *root, size_t size,
                            bool *readonly, ty_err *err) {
  struct ty_name n;
  char rel[1024], path[4096];
  ty_status s;
  memset(m, 0, sizeof *m);
  if ((s = ty_name_parse(name, &n, err)) != TY_OK) return s;
  ty_name_path(&n, rel, sizeof rel);
  for (int i = 0; i < 2; i++) {
    if (i == 0) ty_store_dir(root, size);
    else ty_store_ollama_dir(root, size);
    snprintf(path, sizeof path, "%s/manifests/%s", root, rel);
    if (access(path, F_OK) == 0) {
      *readonly = i == 1;
      return load_manifest(path, m, err);
    }
  }
  return ty_err_set(err, TY_ERR_IO, "%s: no such model in tycho's store nor Ollama's (tycho pull "
                    "%s fetches it)", name, name);
}


/* {======================================================================
** Listing
** ====================================================================== */

struct list {
  struct ty_store_entry *e;
  size_t n, cap;
};


static struct ty_store_entry *list_add(struct list *l) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    struct ty_store_entry *e = realloc(l->e, cap * sizeof *e);
    if (e == NULL) return NULL;
    l->e = e;
    l->cap = cap;
  }
  memset(&l->e[l->n], 0, sizeof l->e[0]);
  return &l->e[l->n++];
}


static bool list_has(const struct list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->e[i].name, name) == 0) return true;
  return false;
}


/* Adds the manifest at path, named by parts HOST NS MODEL TAG; one that does
   not parse is listed with id "?" and size 0, so the user sees it and can rm it. */
static ty_status list_one(struct list *l, const char *path, char parts[4][256], time_t mtime,
                          const char *source, ty_err *err) {
  struct ty_name n;
  struct ty_manifest m;
  struct ty_store_entry *en;
  char full[sizeof l->e[0].name];
  snprintf(full, sizeof full, "%s/%s/%s:%s", parts[0], parts[1], parts[2], parts[3]);
  if (ty_name_parse(full, &n, NULL) != TY_OK) return TY_OK;   /* not a name tycho writes */
  ty_name_display(&n, full, sizeof full);
  if (list_has(l, full)) return TY_OK;                         /* tycho's copy shadows Ollama's */
  if ((en = list_add(l)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "store: out of memory");
  snprintf(en->name, sizeof en->name, "%s", full);
  snprintf(en->source, sizeof en->source, "%s", source);
  en->modified = (int64_t)mtime;
  if (load_manifest(path, &m, NULL) != TY_OK) {
    strcpy(en->id, "?");
    return TY_OK;
  }
  memcpy(en->id, m.digest + 7, 12);
  en->id[12] = '\0';
  en->size = m.config.size;
  for (size_t i = 0; i < m.n_layers; i++) en->size += m.layers[i].size;
  ty_manifest_free(&m);
  return TY_OK;
}


/* Walks dir, at depth 0 ROOT/manifests, down to the TAG files at depth 3. */
static ty_status list_walk(struct list *l, const char *dir, char parts[4][256], int depth,
                           const char *source, ty_err *err) {
  DIR *d = opendir(dir);
  struct dirent *e;
  ty_status s = TY_OK;
  if (d == NULL) return TY_OK;
  while (s == TY_OK && (e = readdir(d)) != NULL) {
    char path[4096];
    struct stat st;
    if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof parts[0]) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    strcpy(parts[depth], e->d_name);
    if (depth < 3 && S_ISDIR(st.st_mode))
      s = list_walk(l, path, parts, depth + 1, source, err);
    else if (depth == 3 && S_ISREG(st.st_mode))
      s = list_one(l, path, parts, st.st_mtime, source, err);
  }
  closedir(d);
  return s;
}


static ty_status list_store(struct list *l, const char *root, const char *source, ty_err *err) {
  char dir[4096], parts[4][256];
  snprintf(dir, sizeof dir, "%s/manifests", root);
  return list_walk(l, dir, parts, 0, source, err);
}


static ty_status list_files(struct list *l, const char *dir, ty_err *err) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (d == NULL) return TY_OK;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    char path[4096];
    struct stat st;
    struct ty_store_entry *en;
    if (len <= 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((en = list_add(l)) == NULL) {
      closedir(d);
      return ty_err_set(err, TY_ERR_NOMEM, "store: out of memory listing %s", dir);
    }
    snprintf(en->name, sizeof en->name, "%.*s", (int)(len - 5), e->d_name);
    strcpy(en->source, "file");
    en->size = (uint64_t)st.st_size;
    en->modified = (int64_t)st.st_mtime;
  }
  closedir(d);
  return TY_OK;
}


static int cmp_entry(const void *a, const void *b) {
  const struct ty_store_entry *x = a, *y = b;
  return strcmp(x->name, y->name);
}


ty_status ty_store_list(struct ty_store_entry **out, size_t *n, ty_err *err) {
  struct list l = { 0 };
  char dir[2048];
  ty_status s;
  size_t managed;
  ty_store_dir(dir, sizeof dir);
  s = list_store(&l, dir, "tycho", err);
  if (s == TY_OK) {
    char odir[2048];
    ty_store_ollama_dir(odir, sizeof odir);
    s = list_store(&l, odir, "ollama", err);
  }
  managed = l.n;
  if (s == TY_OK) s = list_files(&l, dir, err);
  if (s != TY_OK) {
    free(l.e);
    return s;
  }
  if (l.n > 0) {                         /* an empty store has no array (qsort wants one) */
    qsort(l.e, managed, sizeof l.e[0], cmp_entry);
    qsort(l.e + managed, l.n - managed, sizeof l.e[0], cmp_entry);
  }
  *out = l.e;
  *n = l.n;
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** Removing
** ====================================================================== */

/* Adds every digest referenced by a manifest under dir (recursively) to refs:
   a blob is kept while any manifest names it. A manifest that does not parse
   stops the removal, since its references are unknown. */
static ty_status collect_refs(const char *dir, char ***refs, size_t *n, size_t *cap, int depth,
                              ty_err *err) {
  DIR *d = opendir(dir);
  struct dirent *e;
  ty_status s = TY_OK;
  if (d == NULL) return TY_OK;
  while (s == TY_OK && (e = readdir(d)) != NULL) {
    char path[4096];
    struct stat st;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode) && depth < 3) {
      s = collect_refs(path, refs, n, cap, depth + 1, err);
    } else if (S_ISREG(st.st_mode) && depth == 3) {
      struct ty_manifest m;
      if ((s = load_manifest(path, &m, err)) != TY_OK) break;
      for (size_t i = 0; i <= m.n_layers && s == TY_OK; i++) {
        const char *dg = i == m.n_layers ? m.config.digest : m.layers[i].digest;
        if (*n == *cap) {
          size_t c = *cap ? 2 * *cap : 32;
          char **r = realloc(*refs, c * sizeof *r);
          if (r == NULL) { s = ty_err_set(err, TY_ERR_NOMEM, "store: out of memory"); break; }
          *refs = r;
          *cap = c;
        }
        if (((*refs)[*n] = strdup(dg)) == NULL) s = ty_err_set(err, TY_ERR_NOMEM, "store: out of memory");
        else (*n)++;
      }
      ty_manifest_free(&m);
    }
  }
  closedir(d);
  return s;
}


ty_status ty_store_rm(const char *name, ty_err *err) {
  struct ty_name n;
  struct ty_manifest m;
  char root[2048], rel[1024], path[4096], mdir[4096];
  char **refs = NULL;
  size_t nrefs = 0, cap = 0;
  ty_status s;
  if ((s = ty_name_parse(name, &n, err)) != TY_OK) return s;
  ty_store_dir(root, sizeof root);
  ty_name_path(&n, rel, sizeof rel);
  snprintf(path, sizeof path, "%s/manifests/%s", root, rel);
  if (access(path, F_OK) != 0) {
    char odir[2048];
    ty_store_ollama_dir(odir, sizeof odir);
    snprintf(mdir, sizeof mdir, "%s/manifests/%s", odir, rel);
    if (access(mdir, F_OK) == 0)
      return ty_err_set(err, TY_ERR_ARG, "%s is in Ollama's store (%s), which tycho only reads; "
                        "ollama rm %s removes it", name, odir, name);
    return ty_err_set(err, TY_ERR_IO, "%s: no such model in %s", name, root);
  }
  /* a manifest that does not parse is still removed; its blobs then stay */
  if (load_manifest(path, &m, err) != TY_OK) memset(&m, 0, sizeof m);
  if (unlink(path) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    ty_manifest_free(&m);
    return s;
  }
  /* empty MODEL, NS and HOST folders go too (rmdir fails on a non-empty one) */
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(path, '/');
    if (slash == NULL) break;
    *slash = '\0';
    if (rmdir(path) != 0) break;
  }
  snprintf(mdir, sizeof mdir, "%s/manifests", root);
  if ((s = collect_refs(mdir, &refs, &nrefs, &cap, 0, err)) == TY_OK && m.digest[0] != '\0') {
    for (size_t i = 0; i <= m.n_layers; i++) {
      const char *dg = i == m.n_layers ? m.config.digest : m.layers[i].digest;
      bool used = false;
      for (size_t k = 0; k < nrefs && !used; k++) used = strcmp(refs[k], dg) == 0;
      if (!used) {
        ty_store_blob_path(root, dg, path, sizeof path);
        unlink(path);                          /* already gone (a shared layer) is fine */
      }
    }
  }
  for (size_t k = 0; k < nrefs; k++) free(refs[k]);
  free(refs);
  ty_manifest_free(&m);
  return s;
}


/* }====================================================================== */


/* {======================================================================
** Writing blobs and manifests
** ====================================================================== */

ty_status ty_sha256_file(const char *path, char *digest, ty_err *err) {
  unsigned char buf[1 << 16], md[32];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx;
  ty_status s = TY_OK;
  ssize_t r;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  ctx = EVP_MD_CTX_new();
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    s = ty_err_set(err, TY_ERR_NOMEM, "%s: cannot start SHA-256", path);
  } else {
    while ((r = read(fd, buf, sizeof buf)) > 0) EVP_DigestUpdate(ctx, buf, (size_t)r);
    if (r < 0) s = ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
    else if (!EVP_DigestFinal_ex(ctx, md, &mdlen)) s = ty_err_set(err, TY_ERR_IO, "%s: SHA-256 failed", path);
    else sha256_hex(md, digest);
  }
  EVP_MD_CTX_free(ctx);
  close(fd);
  return s;
}


/* mkdir -p for the folders of path (not its last component). */
static ty_status make_parents(const char *path, ty_err *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
    *p = '/';
  }
  return TY_OK;
}


/* Writes len bytes to a unique temporary file beside dest, then renames it to
   dest: a reader sees all of it or none. */
static ty_status write_atomic(const char *dest, const void *data, size_t len, ty_err *err) {
  char tmp[4200];
  const char *p = data;
  ty_status s = TY_OK;
  int fd;
  if ((s = make_parents(dest, err)) != TY_OK) return s;
  snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", dest);
  if ((fd = mkstemp(tmp)) < 0) return ty_err_set(err, TY_ERR_IO, "%s: %s", tmp, strerror(errno));
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", dest, w < 0 ? strerror(errno) : "no space");
      break;
    }
    p += w;
    len -= (size_t)w;
  }
  if (s == TY_OK && fsync(fd) != 0)
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", dest, strerror(errno));
  if (close(fd) != 0 && s == TY_OK)
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", dest, strerror(errno));
  if (s == TY_OK && rename(tmp, dest) != 0)
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", dest, strerror(errno));
  if (s != TY_OK) unlink(tmp);
  return s;
}


ty_status ty_store_put_bytes(const void *data, size_t len, char *digest, ty_err *err) {
  char root[2048], path[4096];
  ty_sha256_bytes(data, len, digest);
  ty_store_dir(root, sizeof root);
  ty_store_blob_path(root, digest, path, sizeof path);
  if (access(path, F_OK) == 0) return TY_OK;
  return write_atomic(path, data, len, err);
}


ty_status ty_store_put_file(const char *src, char *digest, ty_err *err) {
  char root[2048], path[4096], tmp[4200], check[TY_DIGEST_LEN + 1];
  unsigned char buf[1 << 16];
  ty_status s = TY_OK;
  ssize_t r;
  int in, out;
  if ((s = ty_sha256_file(src, digest, err)) != TY_OK) return s;
  ty_store_dir(root, sizeof root);
  ty_store_blob_path(root, digest, path, sizeof path);
  if (access(path, F_OK) == 0) return TY_OK;
  if ((s = make_parents(path, err)) != TY_OK) return s;
  if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
    return ty_err_set(err, TY_ERR_IO, "%s: %s", src, strerror(errno));
  snprintf(tmp, sizeof tmp, "%s-partial-XXXXXX", path);
  if ((out = mkstemp(tmp)) < 0) {
    close(in);
    return ty_err_set(err, TY_ERR_IO, "%s: %s", tmp, strerror(errno));
  }
  while (s == TY_OK && (r = read(in, buf, sizeof buf)) != 0) {
    if (r < 0) { s = ty_err_set(err, TY_ERR_IO, "%s: %s", src, strerror(errno)); break; }
    for (ssize_t done = 0; done < r && s == TY_OK; ) {
      ssize_t w = write(out, buf + done, (size_t)(r - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
      else done += w;
    }
  }
  close(in);
  if (s == TY_OK && fsync(out) != 0) s = ty_err_set(err, TY_ERR_IO, "%s: %s", tmp, strerror(errno));
  close(out);
  /* the file may have changed while it was copied: check what landed */
  if (s == TY_OK && (s = ty_sha256_file(tmp, check, err)) == TY_OK && strcmp(check, digest) != 0)
    s = ty_err_set(err, TY_ERR_IO, "%s changed while it was copied into the store; try again", src);
  if (s == TY_OK && rename(tmp, path) != 0)
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
  if (s != TY_OK) unlink(tmp);
  return s;
}


ty_status ty_store_read_blob(const char *root, const char *digest, size_t max, char **out,
                             size_t *len, ty_err *err) {
  char path[4096];
  ty_store_blob_path(root, digest, path, sizeof path);
  return read_small(path, max, out, len, err);
}


ty_status ty_store_put_manifest(const struct ty_name *name, const char *json, size_t len,
                                ty_err *err) {
  struct ty_manifest m;
  char root[2048], rel[1024], path[4096];
  ty_status s;
  ty_store_dir(root, sizeof root);
  ty_name_path(name, rel, sizeof rel);
  snprintf(path, sizeof path, "%s/manifests/%s", root, rel);
  if ((s = ty_manifest_parse(json, len, path, &m, err)) != TY_OK) return s;
  for (size_t i = 0; i <= m.n_layers && s == TY_OK; i++) {
    const char *dg = i == m.n_layers ? m.config.digest : m.layers[i].digest;
    char blob[4096];
    ty_store_blob_path(root, dg, blob, sizeof blob);
    if (access(blob, F_OK) != 0)
      s = ty_err_set(err, TY_ERR_IO, "%s: blob %s is not in the store", path, dg);
  }
  ty_manifest_free(&m);
  return s == TY_OK ? write_atomic(path, json, len, err) : s;
}


/* }====================================================================== */
