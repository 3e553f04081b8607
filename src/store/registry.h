/*
 * registry.h: pulling models over HTTP(S) with libcurl, speaking Ollama's
 * registry protocol (Docker distribution v2): GET /v2/NS/MODEL/manifests/TAG,
 * then each blob from /v2/NS/MODEL/blobs/sha256:HEX, following the redirect to
 * a storage host; a 401 with a Bearer challenge is answered once with a token.
 * Built only with TYCHO_CURL (TYCHO_HAVE_STORE defined).
 *
 * Blobs stream into blobs/sha256-HEX-partial while SHA-256 runs and are
 * renamed into place only when the digest matches. An interrupted pull
 * resumes from the partial file with Range requests; a large blob comes in
 * parallel parts; a blob already present is not fetched again. A lock on the
 * partial file makes a second pull of the same blob wait for the first.
 *
 * A name that is an http(s) URL of a .gguf (ty_url_is_gguf) is pulled by URL
 * with the same download code: no digest to check, so the SHA-256 computed as
 * the bytes arrive names the blob; the partial file is blobs/url-HEX-partial
 * (HEX the URL's SHA-256); parts only when the server gives the size and takes
 * Range. Plain http only to 127.0.0.1/localhost, and no redirect from https
 * down to http. The manifest (the model layer and ConfigV2, as create.c
 * writes) goes under the URL's name (store.h), which a later pull finds.
 */
#ifndef TY_REGISTRY_H
#define TY_REGISTRY_H

#include <stdint.h>

#include "../base/base.h"
#include "../gguf/gguf.h"

struct ty_pull_opts {
  const char *registry;        /* base URL used instead of https://HOST; NULL: $TYCHO_REGISTRY */
  const char *ca_bundle;       /* CA certificates (PEM) for private registries; NULL: system's */
  int parts;                   /* parallel connections for one large blob (default 4) */
  uint64_t part_min;           /* blobs this large or larger are split (default 64 MiB) */
  int retries;                 /* retries of a failed request, 429, 5xx or drop (default 5) */
  double backoff;              /* seconds before the first retry, doubled each time (default 1) */
  long connect_timeout;        /* seconds (default 30) */
  long stall;                  /* seconds below 1 KiB/s before a transfer is retried (default 30) */
  /* Called as bytes arrive (done of total for blob digest); nonzero cancels. */
  int (*progress)(void *ud, const char *digest, uint64_t done, uint64_t total);
  void *ud;
};

/* Fills o with the defaults above. */
void ty_pull_opts_init(struct ty_pull_opts *o);

/* Pulls name (a registry name, see ty_name_parse) into tycho's store: the
   manifest, every blob not already present, then the manifest written
   atomically, last, so the model appears only once complete. A .gguf URL:
   the file, unless its name is in the store already (then nothing is
   fetched); o->registry does not apply. */
ty_status ty_registry_pull(const char *name, const struct ty_pull_opts *o, ty_err *err);

/* Plan before pull: fetches name's manifest and reads only the GGUF header and
   tensor table of its model blob with Range requests (1 MiB, doubled until the
   table is complete); a .gguf URL's header is read from the URL itself.
   *fetched counts the blob bytes received (may be NULL).
   The handle is header-only (ty_gguf_open_prefix). */
ty_status ty_registry_open_header(const char *name, const struct ty_pull_opts *o, ty_gguf **out,
                                  uint64_t *fetched, ty_err *err);

#endif
