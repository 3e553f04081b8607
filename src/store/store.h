/*
 * store.h: where models live. A model reference is a path to a GGUF file,
 * the name of a plain file in the cache ($TYCHO_HOME/models, default
 * ~/.cache/tycho/models), or a registry name (model[:tag], user/model:tag,
 * hf.co/user/repo:quant, host/ns/model:tag, or an https URL of a .gguf,
 * named HOST/url/STEM:TAG) whose manifest is in the store.
 *
 * The store has Ollama's layout under the same folder:
 *   manifests/HOST/NAMESPACE/MODEL/TAG   a Docker v2 manifest (JSON)
 *   blobs/sha256-HEX                     content, named by its SHA-256
 * and tycho also reads Ollama's own store (OLLAMA_MODELS or
 * ~/.ollama/models), never writing there.
 *
 * Names and digests (name.c) are plain C and always built; the manifest
 * functions (manifest.c) need cJSON and libcrypto and exist only when the
 * build defines TYCHO_HAVE_STORE (CMake option TYCHO_CURL).
 */
#ifndef TY_STORE_H
#define TY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* ---- names (name.c) ----------------------------------------------------- */

#define TY_NAME_HOST_MAX 350
#define TY_NAME_PART_MAX 80
#define TY_DIGEST_LEN 71                /* "sha256:" + 64 hex digits */

/* A fully qualified model name; every part is validated so that
   HOST/NAMESPACE/MODEL/TAG is a relative path that stays inside the store. */
struct ty_name {
  char host[TY_NAME_HOST_MAX + 1];      /* registry.ollama.ai, hf.co, 127.0.0.1:5000 */
  char ns[TY_NAME_PART_MAX + 1];        /* library */
  char model[TY_NAME_PART_MAX + 1];
  char tag[TY_NAME_PART_MAX + 1];       /* latest */
};

/* Parses [scheme://][host/][namespace/]model[:tag] (or a URL, below), filling host
   registry.ollama.ai, namespace library and tag latest when absent (as
   Ollama's ParseName does). Parts: host [A-Za-z0-9._:-] (a port allowed),
   namespace [A-Za-z0-9_-], model and tag [A-Za-z0-9_.-]; each starts with a
   letter, digit or '_', none holds "..", a part is at most 80 bytes (a host
   350). Anything else fails with TY_ERR_ARG naming the bad part. */
ty_status ty_name_parse(const char *s, struct ty_name *n, ty_err *err);

#define TY_URL_MAX 2000

/* True when s is an http:// or https:// URL whose path ends in .gguf (any
   case; a ?query or #fragment may follow): a pull by URL. */
bool ty_url_is_gguf(const char *s);

/* ty_name_parse gives such a URL (with the store; without it, fails) the
   name HOST/url/STEM:TAG: HOST the URL's (lowercased, with its port, without
   user@), STEM the file name without .gguf, TAG the first 12 hex digits of the
   SHA-256 of the whole URL string, so two URLs with one file name do not
   collide and a second pull of one URL finds it; bytes the name grammar
   forbids become '-'. A URL longer than TY_URL_MAX bytes fails. */

/* "HOST/NAMESPACE/MODEL/TAG", the manifest's path under manifests/. */
void ty_name_path(const struct ty_name *n, char *out, size_t size);

/* The shortest display form, as ollama list prints it: model:tag for
   registry.ollama.ai/library, ns/model:tag for registry.ollama.ai. */
void ty_name_display(const struct ty_name *n, char *out, size_t size);

/* True when d is "sha256:" and 64 lowercase hex digits (the only digests
   the store accepts, so a blob path cannot escape blobs/). */
bool ty_digest_valid(const char *d);

/* ---- folders and resolving (store.c) ------------------------------------ */

/* The cache folder ($TYCHO_HOME/models) into out. */
void ty_store_dir(char *out, size_t size);

/* Ollama's model folder (OLLAMA_MODELS, else ~/.ollama/models) into out. */
void ty_store_ollama_dir(char *out, size_t size);

/* The path of blob digest under root: ROOT/blobs/sha256-HEX. digest must be
   valid (ty_digest_valid). */
void ty_store_blob_path(const char *root, const char *digest, char *out, size_t size);

/* Resolves ref to a readable GGUF file path in out: ref itself when it names a
   file; else ref.gguf or ref in the cache; else (with the store) the model
   layer's blob of the manifest for the name ref, from tycho's store first, then
   Ollama's. When nothing matches, fails with TY_ERR_IO and a message that lists
   the models the cache has. */
ty_status ty_store_resolve(const char *ref, char *out, size_t size, ty_err *err);

/* ---- manifests and blobs (manifest.c, TYCHO_HAVE_STORE) ----------------- */

#define TY_MEDIA_MODEL "application/vnd.ollama.image.model"
#define TY_MEDIA_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

struct ty_layer {
  char media_type[128];
  char digest[TY_DIGEST_LEN + 1];
  uint64_t size;
};

/* A parsed manifest: a config blob and the layers. */
struct ty_manifest {
  char digest[TY_DIGEST_LEN + 1];       /* SHA-256 of the manifest's own bytes */
  struct ty_layer config;
  struct ty_layer *layers;
  size_t n_layers;
};

/* Parses a Docker v2 manifest from untrusted bytes: schemaVersion 2, a config
   and layers, each with a mediaType, a valid sha256 digest and a size. where
   names the source in messages (a path or URL). Free with ty_manifest_free. */
ty_status ty_manifest_parse(const char *json, size_t len, const char *where,
                            struct ty_manifest *m, ty_err *err);
void ty_manifest_free(struct ty_manifest *m);   /* zeroes m; a zeroed m is fine */

/* The first layer of media type mt, or NULL. */
const struct ty_layer *ty_manifest_layer(const struct ty_manifest *m, const char *mt);

/* Looks name up in tycho's store, then Ollama's: fills *m, and the store root
   it came from in root (readonly true for Ollama's). Fails with TY_ERR_IO when
   neither has it, TY_ERR_ARG for a bad name, TY_ERR_FORMAT for a bad manifest. */
ty_status ty_store_manifest(const char *name, struct ty_manifest *m, char *root, size_t size,
                            bool *readonly, ty_err *err);

/* One model in a store, for tycho list. */
struct ty_store_entry {
  char name[640];                       /* display name (ty_name_display), or a file's stem */
  char id[13];                          /* first 12 hex digits of the manifest digest; "" for a file */
  uint64_t size;                        /* the layers' bytes (or the file's) */
  int64_t modified;                     /* the manifest's (or file's) mtime, Unix seconds */
  char source[8];                       /* "tycho", "ollama" or "file" */
};

/* Every model: manifests in tycho's store, then Ollama's (a name in both
   listed once), then plain .gguf files in the cache. *out is malloc'd. */
ty_status ty_store_list(struct ty_store_entry **out, size_t *n, ty_err *err);

/* Removes name's manifest from tycho's store and every blob it referenced that
   no other manifest references. A model only in Ollama's store is refused. */
ty_status ty_store_rm(const char *name, ty_err *err);

/* SHA-256 of a file as "sha256:HEX" into digest (TY_DIGEST_LEN + 1 bytes). */
ty_status ty_sha256_file(const char *path, char *digest, ty_err *err);

/* SHA-256 of len bytes, as above. */
void ty_sha256_bytes(const void *data, size_t len, char *digest);

/* Puts bytes or a file's content into tycho's store as a blob: written to a
   unique partial file, checked against its SHA-256, renamed into place. The
   digest comes back in digest (TY_DIGEST_LEN + 1 bytes). A blob already there
   is kept. */
ty_status ty_store_put_bytes(const void *data, size_t len, char *digest, ty_err *err);
ty_status ty_store_put_file(const char *path, char *digest, ty_err *err);

/* Writes a manifest's JSON for name, atomically (temporary file, rename),
   after checking it parses and that each blob it names is in the store. */
ty_status ty_store_put_manifest(const struct ty_name *name, const char *json, size_t len,
                                ty_err *err);

/* Reads blob digest of the store at root whole (at most max bytes, else
   TY_ERR_IO "too large"); *out is malloc'd and NUL-terminated, the caller's. */
ty_status ty_store_read_blob(const char *root, const char *digest, size_t max, char **out,
                             size_t *len, ty_err *err);

/* ---- creating models (create.c, TYCHO_HAVE_STORE) ----------------------- */

#define TY_MEDIA_TEMPLATE "application/vnd.ollama.image.template"
#define TY_MEDIA_SYSTEM "application/vnd.ollama.image.system"
#define TY_MEDIA_PARAMS "application/vnd.ollama.image.params"
#define TY_MEDIA_MESSAGES "application/vnd.ollama.image.messages"
#define TY_MEDIA_LICENSE "application/vnd.ollama.image.license"
#define TY_MEDIA_CONFIG "application/vnd.docker.container.image.v1+json"

struct ty_modelfile;

struct ty_create_opts {
  const char *dir;             /* the folder a relative FROM path is in; NULL: the current one */
  const char *where;           /* labels errors (the Modelfile's path); NULL: "Modelfile" */
  /* Called with each step, as ollama create prints them ("using existing
     layer sha256:...", "writing manifest"). May be NULL. */
  void (*progress)(void *ud, const char *status);
  void *ud;
};

/* Creates model name in tycho's store from a checked Modelfile, as `ollama
   create` does. FROM is a GGUF path (relative to o->dir), a model in tycho's
   or Ollama's store, or a cache name; a path's bytes, and a blob of Ollama's
   store, are copied into tycho's store (a blob already there is not). The
   layers: the FROM model's, then TEMPLATE, SYSTEM (each replacing an
   inherited one), LICENSE (appended), params (merged over the inherited ones
   key by key) and messages (replacing); the config blob is Ollama's ConfigV2
   from the GGUF header. ADAPTER and DRAFT are refused. Everything is checked
   before the first byte is written, and the manifest is written last. */
ty_status ty_store_create(const char *name, const struct ty_modelfile *mf,
                          const struct ty_create_opts *o, ty_err *err);

/* Writes the manifest of a model that is one GGUF blob, already in tycho's
   store, with the ConfigV2 config ty_store_create would write: what a pull
   by URL stores under name n. */
ty_status ty_store_create_gguf(const struct ty_name *n, const struct ty_layer *model, ty_err *err);

#endif
