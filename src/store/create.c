/*
 * create.c: `tycho create`, as Ollama's server/create.go does it: the FROM
 * model's layers, the Modelfile's TEMPLATE, SYSTEM, LICENSE, params and
 * messages laid over them (create.ApplyModelfileLayers), a ConfigV2 config
 * blob, and the manifest written last so the model appears only complete.
 */
#include "store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gguf/gguf.h"
#include "../model/info.h"
#include "../text/template.h"
#include "modelfile.h"

#define PARAMS_MAX (1u << 20)           /* an inherited params layer is a few hundred bytes */
#define MAX_LAYERS 64                   /* far more than any model has */

struct build {
  const struct ty_create_opts *o;
  const char *where;
  struct ty_layer layers[MAX_LAYERS];
  size_t n;
};


static void say(const struct build *b, const char *fmt, const char *arg) {
  char line[256];
  if (b->o == NULL || b->o->progress == NULL) return;
  snprintf(line, sizeof line, fmt, arg);
  b->o->progress(b->o->ud, line);
}


/* The line of the first command called name, for messages. */
static size_t line_of(const ty_modelfile *mf, const char *name) {
  for (size_t i = 0; i < mf->n; i++)
    if (strcmp(mf->cmds[i].name, name) == 0) return mf->cmds[i].line;
  return 0;
}


static void drop_layers(struct build *b, const char *mt) {
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->layers[i].media_type, mt) != 0) b->layers[k++] = b->layers[i];
  b->n = k;
}


/* Appends a layer, saying whether its blob is new, as ollama create does. */
static ty_status add_layer(struct build *b, const char *mt, const char *digest, uint64_t size,
                           bool fresh, ty_err *err) {
  say(b, fresh ? "creating new layer %s" : "using existing layer %s", digest);
  if (b->n == MAX_LAYERS)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: more than %d layers", b->where, MAX_LAYERS);
  snprintf(b->layers[b->n].media_type, sizeof b->layers[b->n].media_type, "%s", mt);
  snprintf(b->layers[b->n].digest, sizeof b->layers[b->n].digest, "%s", digest);
  b->layers[b->n++].size = size;
  return TY_OK;
}


/* Stores bytes as a new blob and appends it as a layer of type mt. */
static ty_status add_bytes(struct build *b, const char *mt, const char *data, size_t len,
                           ty_err *err) {
  char digest[TY_DIGEST_LEN + 1], root[2048], path[4096];
  bool fresh;
  ty_status s;
  ty_sha256_bytes(data, len, digest);
  ty_store_dir(root, sizeof root);
  ty_store_blob_path(root, digest, path, sizeof path);
  fresh = access(path, F_OK) != 0;
  if ((s = ty_store_put_bytes(data, len, digest, err)) != TY_OK) return s;
  return add_layer(b, mt, digest, len, fresh, err);
}


/* {======================================================================
** FROM
** ====================================================================== */

/* Copies the file at path into the store as the model layer. */
static ty_status from_file(struct build *b, const char *path, ty_err *err) {
  char digest[TY_DIGEST_LEN + 1];
  struct stat st;
  ty_gguf *g;
  ty_status s;
  /* a GGUF header first, so a wrong file is refused before it is copied */
  if ((s = ty_gguf_open_header(path, &g, err)) != TY_OK) return s;
  ty_gguf_close(g);
  if (stat(path, &st) != 0) return ty_err_set(err, TY_ERR_IO, "%s: cannot stat", path);
  say(b, "copying file %s", path);
  if ((s = ty_store_put_file(path, digest, err)) != TY_OK) return s;
  return add_layer(b, TY_MEDIA_MODEL, digest, (uint64_t)st.st_size, false, err);
}


/* Takes a stored model's layers; the blobs of Ollama's store are copied into
   tycho's (tycho never writes there), tycho's own are shared as they are. */
static ty_status from_store(struct build *b, const struct ty_manifest *m, const char *root,
                            bool readonly, ty_err *err) {
  char mine[2048];
  ty_status s = TY_OK;
  if (ty_manifest_layer(m, TY_MEDIA_MODEL) == NULL)
    return ty_err_set(err, TY_ERR_FORMAT, "%s: the FROM model's manifest has no model layer",
                      b->where);
  ty_store_dir(mine, sizeof mine);
  for (size_t i = 0; i < m->n_layers && s == TY_OK; i++) {
    const struct ty_layer *l = &m->layers[i];
    char src[4096], dst[4096], copied[TY_DIGEST_LEN + 1];
    ty_store_blob_path(root, l->digest, src, sizeof src);
    ty_store_blob_path(mine, l->digest, dst, sizeof dst);
    if (access(src, R_OK) != 0)
      s = ty_err_set(err, TY_ERR_IO, "%s: the FROM model's blob %s is missing", b->where, src);
    else if (readonly && access(dst, F_OK) != 0) {
      say(b, "copying %s from Ollama's store", l->digest);
      if ((s = ty_store_put_file(src, copied, err)) == TY_OK && strcmp(copied, l->digest) != 0)
        s = ty_err_set(err, TY_ERR_FORMAT, "%s: Ollama's blob does not match its digest %s", src,
                       l->digest);
    }
    if (s == TY_OK) s = add_layer(b, l->media_type, l->digest, l->size, false, err);
  }
  return s;
}


/* FROM: a path (relative to the Modelfile's folder), a stored model, or a
   cache name, in that order, as Ollama tries a path before a name. */
static ty_status add_from(struct build *b, const ty_modelfile *mf, ty_err *err) {
  const char *from = ty_modelfile_get(mf, "model");
  const char *dir = b->o && b->o->dir ? b->o->dir : ".";
  char path[4096], root[2048];
  struct ty_manifest m;
  struct stat st;
  bool ro;
  ty_status s;
  if (from == NULL || from[0] == '\0')
    return ty_err_set(err, TY_ERR_FORMAT, "%s: no FROM line", b->where);
  if (from[0] == '/') snprintf(path, sizeof path, "%s", from);
  else if (from[0] == '~' && from[1] == '/' && getenv("HOME"))
    snprintf(path, sizeof path, "%s%s", getenv("HOME"), from + 1);
  else snprintf(path, sizeof path, "%s/%s", dir, from);
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return from_file(b, path, err);
  if (ty_name_parse(from, &(struct ty_name){ 0 }, NULL) == TY_OK) {
    s = ty_store_manifest(from, &m, root, sizeof root, &ro, err);
    if (s == TY_OK) {
      s = from_store(b, &m, root, ro, err);
      ty_manifest_free(&m);
      return s;
    }
    if (s != TY_ERR_IO) return s;                  /* a bad manifest: say so */
  }
  if (strchr(from, '/') == NULL && ty_store_resolve(from, path, sizeof path, NULL) == TY_OK)
    return from_file(b, path, err);
  return ty_err_set(err, TY_ERR_IO, "%s:%zu: FROM %s is neither a file (in %s), a model in the store "
                    "nor a cached model (tycho list shows them)", b->where, line_of(mf, "model"),
                    from, dir);
}


/* }====================================================================== */


/* {======================================================================
** The Modelfile's layers
** ====================================================================== */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}


/* The Modelfile's params over the inherited params layer, key by key, keys
   sorted as Go's encoder writes a map. */
static ty_status merge_params(struct build *b, const char *root, const char *mine, size_t len,
                              char **out, size_t *out_len, ty_err *err) {
  const struct ty_layer *old = NULL;
  char *text = NULL, *json = NULL;
  size_t tlen = 0, n = 0;
  cJSON *a, *base = NULL, *merged = NULL, *c;
  const char **keys = NULL;
  ty_status s = TY_OK;
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->layers[i].media_type, TY_MEDIA_PARAMS) == 0) old = &b->layers[i];
  *out = NULL;
  if (old == NULL || (s = ty_store_read_blob(root, old->digest, PARAMS_MAX, &text, &tlen, err)) != TY_OK) {
    if (s != TY_OK) return s;
    if ((*out = malloc(len + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
    memcpy(*out, mine, len + 1);
    *out_len = len;
    return TY_OK;
  }
  a = cJSON_ParseWithLength(mine, len);
  base = cJSON_ParseWithLength(text, tlen);
  free(text);
  if (!cJSON_IsObject(base)) {
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the FROM model's params layer %s is not a JSON object",
                   b->where, old->digest);
    goto done;
  }
  merged = cJSON_CreateObject();
  keys = calloc((size_t)cJSON_GetArraySize(a) + (size_t)cJSON_GetArraySize(base) + 1, sizeof *keys);
  if (a == NULL || merged == NULL || keys == NULL) {
    s = ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
    goto done;
  }
  cJSON_ArrayForEach(c, a) keys[n++] = c->string;
  cJSON_ArrayForEach(c, base)
    if (!cJSON_HasObjectItem(a, c->string)) keys[n++] = c->string;
  qsort(keys, n, sizeof *keys, cmp_str);
  for (size_t i = 0; i < n; i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
    if (v == NULL) v = cJSON_GetObjectItemCaseSensitive(base, keys[i]);
    cJSON_AddItemToObject(merged, keys[i], cJSON_Duplicate(v, 1));
  }
  if ((json = cJSON_PrintUnformatted(merged)) == NULL ||
      (*out = malloc(strlen(json) + 2)) == NULL) {
    s = ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
    goto done;
  }
  *out_len = (size_t)sprintf(*out, "%s\n", json);   /* Go's encoder ends with a newline */
done:
  free(json);
  free(keys);
  cJSON_Delete(a);
  cJSON_Delete(base);
  cJSON_Delete(merged);
  return s;
}


/* Lays the Modelfile over the FROM layers (create.ApplyModelfileLayers). */
static ty_status apply_modelfile(struct build *b, const ty_modelfile *mf, ty_err *err) {
  const char *tmpl = ty_modelfile_get(mf, "template"), *sys = ty_modelfile_get(mf, "system");
  char root[2048], *json = NULL, *merged = NULL;
  size_t len = 0, mlen = 0;
  ty_status s = TY_OK;
  ty_store_dir(root, sizeof root);
  if (tmpl != NULL && tmpl[0] != '\0') {
    drop_layers(b, "application/vnd.ollama.image.prompt");
    drop_layers(b, TY_MEDIA_TEMPLATE);
    if ((s = add_bytes(b, TY_MEDIA_TEMPLATE, tmpl, strlen(tmpl), err)) != TY_OK) return s;
  }
  if (sys != NULL && sys[0] != '\0') {
    drop_layers(b, TY_MEDIA_SYSTEM);
    if ((s = add_bytes(b, TY_MEDIA_SYSTEM, sys, strlen(sys), err)) != TY_OK) return s;
  }
  for (size_t i = 0; i < mf->n && s == TY_OK; i++)
    if (strcmp(mf->cmds[i].name, "license") == 0 && mf->cmds[i].args[0] != '\0')
      s = add_bytes(b, TY_MEDIA_LICENSE, mf->cmds[i].args, strlen(mf->cmds[i].args), err);
  if (s == TY_OK && (s = ty_modelfile_params_json(mf, &json, &len, err)) == TY_OK && json != NULL &&
      (s = merge_params(b, root, json, len, &merged, &mlen, err)) == TY_OK) {
    drop_layers(b, TY_MEDIA_PARAMS);
    s = add_bytes(b, TY_MEDIA_PARAMS, merged, mlen, err);
  }
  free(json);
  free(merged);
  json = NULL;
  if (s == TY_OK && (s = ty_modelfile_messages_json(mf, &json, &len, err)) == TY_OK && json != NULL) {
    drop_layers(b, TY_MEDIA_MESSAGES);
    s = add_bytes(b, TY_MEDIA_MESSAGES, json, len, err);
  }
  free(json);
  return s;
}


/* }====================================================================== */


/* Parameter counts as Ollama's format.HumanNumber writes them: 135M, 134.52M, 1.2B. */
static void human_number(uint64_t v, char *out, size_t size) {
  double x = (double)v;
  if (v >= 1000000000u) snprintf(out, size, x / 1e9 == (double)(v / 1000000000u) ? "%.0fB" : "%.1fB", x / 1e9);
  else if (v >= 1000000u) snprintf(out, size, x / 1e6 == (double)(v / 1000000u) ? "%.0fM" : "%.2fM", x / 1e6);
  else if (v >= 1000u) snprintf(out, size, "%.0fK", x / 1e3);
  else snprintf(out, size, "%llu", (unsigned long long)v);
}


/* The config blob: Ollama's model.ConfigV2 from the model's GGUF header (and
   the Modelfile's renderer, parser and requires; mf may be NULL). */
static ty_status add_config(struct build *b, const ty_modelfile *mf, struct ty_layer *config,
                            ty_err *err) {
  static const char *const strings[] = { "renderer", "parser", "requires", NULL };
  const struct ty_layer *model = NULL;
  char root[2048], path[4096], num[32], arch[128] = "";
  struct ty_model_info mi;
  cJSON *j, *fams, *rootfs, *ids;
  char *text;
  ty_gguf *g;
  ty_status s;
  for (size_t i = 0; i < b->n && model == NULL; i++)
    if (strcmp(b->layers[i].media_type, TY_MEDIA_MODEL) == 0) model = &b->layers[i];
  ty_store_dir(root, sizeof root);
  ty_store_blob_path(root, model->digest, path, sizeof path);
  if ((s = ty_gguf_open_header(path, &g, err)) != TY_OK) return s;
  if ((s = ty_model_info(g, &mi, err)) != TY_OK) {
    ty_gguf_close(g);
    return s;
  }
  if (mi.architecture.ptr != NULL)
    snprintf(arch, sizeof arch, "%.*s", (int)mi.architecture.len, mi.architecture.ptr);
  ty_gguf_close(g);
  human_number(mi.parameters, num, sizeof num);
  j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "model_format", "gguf");
  cJSON_AddStringToObject(j, "model_family", arch);
  fams = cJSON_AddArrayToObject(j, "model_families");
  cJSON_AddItemToArray(fams, cJSON_CreateString(arch));
  cJSON_AddStringToObject(j, "model_type", num);
  cJSON_AddStringToObject(j, "file_type", mi.quant ? mi.quant : "");
  for (int i = 0; mf != NULL && strings[i] != NULL; i++)
    if (ty_modelfile_get(mf, strings[i]) != NULL)
      cJSON_AddStringToObject(j, strings[i], ty_modelfile_get(mf, strings[i]));
  cJSON_AddStringToObject(j, "architecture", "amd64");
  cJSON_AddStringToObject(j, "os", "linux");
  rootfs = cJSON_AddObjectToObject(j, "rootfs");
  cJSON_AddStringToObject(rootfs, "type", "layers");
  ids = cJSON_AddArrayToObject(rootfs, "diff_ids");
  for (size_t i = 0; i < b->n; i++) cJSON_AddItemToArray(ids, cJSON_CreateString(b->layers[i].digest));
  text = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (text == NULL) return ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
  snprintf(config->media_type, sizeof config->media_type, "%s", TY_MEDIA_CONFIG);
  config->size = strlen(text);
  s = ty_store_put_bytes(text, config->size, config->digest, err);
  free(text);
  return s;
}


static cJSON *layer_json(const struct ty_layer *l) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "mediaType", l->media_type);
  cJSON_AddStringToObject(j, "digest", l->digest);
  cJSON_AddNumberToObject(j, "size", (double)l->size);
  return j;
}


/* Refuses what tycho cannot store or run, before anything is written. */
static ty_status precheck(const char *where, const ty_modelfile *mf, ty_err *err) {
  const char *tmpl = ty_modelfile_get(mf, "template");
  static const char *const unsupported[] = { "adapter", "draft", NULL };
  for (int i = 0; unsupported[i] != NULL; i++)
    if (ty_modelfile_get(mf, unsupported[i]) != NULL)
      return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s:%zu: %s is not supported yet (tycho has no %s)",
                        where, line_of(mf, unsupported[i]), unsupported[i][0] == 'a' ? "ADAPTER" : "DRAFT",
                        unsupported[i][0] == 'a' ? "LoRA adapters" : "draft models");
  if (tmpl != NULL) {
    ty_tmpl *t;
    ty_err e;
    if (ty_tmpl_parse(tmpl, strlen(tmpl), &t, &e) != TY_OK)
      return ty_err_set(err, TY_ERR_FORMAT, "%s:%zu: TEMPLATE: %s", where, line_of(mf, "template"), e.msg);
    ty_tmpl_free(t);
  }
  return TY_OK;
}


/* Writes the manifest of b's layers and config for name n, last. */
static ty_status write_manifest(const struct build *b, const struct ty_name *n,
                                const struct ty_layer *config, ty_err *err) {
  cJSON *j = cJSON_CreateObject(), *layers;
  char *text;
  ty_status s;
  cJSON_AddNumberToObject(j, "schemaVersion", 2);
  cJSON_AddStringToObject(j, "mediaType", TY_MEDIA_MANIFEST);
  cJSON_AddItemToObject(j, "config", layer_json(config));
  layers = cJSON_AddArrayToObject(j, "layers");
  for (size_t i = 0; i < b->n; i++) cJSON_AddItemToArray(layers, layer_json(&b->layers[i]));
  text = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  say(b, "%s", "writing manifest");
  if (text == NULL) return ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
  s = ty_store_put_manifest(n, text, strlen(text), err);
  free(text);
  return s;
}


ty_status ty_store_create(const char *name, const ty_modelfile *mf, const struct ty_create_opts *o,
                          ty_err *err) {
  struct build *b;
  struct ty_name n;
  struct ty_layer config;
  ty_status s;
  if ((s = ty_name_parse(name, &n, err)) != TY_OK) return s;
  if ((b = calloc(1, sizeof *b)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "create: out of memory");
  b->o = o;
  b->where = o && o->where ? o->where : "Modelfile";
  if ((s = precheck(b->where, mf, err)) == TY_OK) {
    say(b, "%s", "gathering model components");
    s = add_from(b, mf, err);
  }
  if (s == TY_OK) s = apply_modelfile(b, mf, err);
  if (s == TY_OK) s = add_config(b, mf, &config, err);
  if (s == TY_OK) s = write_manifest(b, &n, &config, err);
  free(b);
  return s;
}


ty_status ty_store_create_gguf(const struct ty_name *n, const struct ty_layer *model, ty_err *err) {
  struct build b = { 0 };
  struct ty_layer config;
  ty_status s;
  b.where = model->digest;
  b.layers[b.n++] = *model;
  if ((s = add_config(&b, NULL, &config, err)) != TY_OK) return s;
  return write_manifest(&b, n, &config, err);
}
