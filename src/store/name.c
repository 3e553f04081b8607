/*
 * name.c: model names and digests, validated so that a name becomes a path
 * under manifests/ and a digest a file under blobs/ that cannot escape the
 * store. The rules follow Ollama's types/model/name.go.
 */
#include "store.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { PART_HOST, PART_NS, PART_MODEL, PART_TAG };

static const char *const part_names[] = { "host", "namespace", "model", "tag" };


static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}


static bool byte_ok(int kind, char c) {
  if (is_alnum(c) || c == '-' || c == '_') return kind != PART_HOST || c != '_';
  if (c == '.') return kind != PART_NS;
  return c == ':' && kind == PART_HOST;        /* a port */
}


/* Copies s[0..len) into out after checking part kind's rules. */
static ty_status set_part(int kind, const char *s, size_t len, char *out, size_t max,
                          const char *whole, ty_err *err) {
  if (len == 0)
    return ty_err_set(err, TY_ERR_ARG, "model name '%s': the %s is empty", whole, part_names[kind]);
  if (len > max)
    return ty_err_set(err, TY_ERR_ARG, "model name '%.80s...': the %s is longer than %zu bytes",
                      whole, part_names[kind], max);
  if (!is_alnum(s[0]) && !(s[0] == '_' && kind != PART_HOST))
    return ty_err_set(err, TY_ERR_ARG, "model name '%s': the %s must start with a letter or digit",
                      whole, part_names[kind]);
  for (size_t i = 0; i < len; i++) {
    if (!byte_ok(kind, s[i]))
      return ty_err_set(err, TY_ERR_ARG, "model name '%s': the %s has a character that is not "
                        "allowed at byte %zu (letters, digits, '_', '-' and '.' are)", whole,
                        part_names[kind], i + 1);
    if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
      return ty_err_set(err, TY_ERR_ARG, "model name '%s': the %s holds '..'", whole,
                        part_names[kind]);
  }
  memcpy(out, s, len);
  out[len] = '\0';
  return TY_OK;
}


bool ty_url_is_gguf(const char *s) {
  size_t len;
  if (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0) return false;
  len = strcspn(s, "?#");
  return len > 5 && strncasecmp(s + len - 5, ".gguf", 5) == 0;
}


#ifdef TYCHO_HAVE_STORE
/* Copies s[0..len) into out (max bytes) with every byte that part kind does
   not allow turned into '-', a first byte that may not start it into '_' (a
   host's: dropped), a host lowercased and ".." broken up, so the result
   passes set_part. */
static void sanitize(int kind, const char *s, size_t len, char *out, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < len && k < max; i++) {
    char c = kind == PART_HOST && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    if (!byte_ok(kind, c)) c = '-';
    if (k == 0 && !is_alnum(c)) {
      if (kind == PART_HOST) continue;
      c = '_';
    }
    if (c == '.' && k > 0 && out[k - 1] == '.') c = kind == PART_HOST ? '-' : '_';
    out[k++] = c;
  }
  out[k] = '\0';
}


/* The name of a pulled URL: HOST/url/STEM:TAG, HOST with its port but
   without user@, STEM the file name less .gguf, TAG the first 12 hex digits
   of the URL's SHA-256 (so two URLs with one file name do not collide). */
static ty_status url_name(const char *url, struct ty_name *n, ty_err *err) {
  const char *host = strstr(url, "://") + 3, *path, *at, *file;
  size_t hlen, flen = strcspn(url, "?#");
  char digest[TY_DIGEST_LEN + 1];
  if (strlen(url) > TY_URL_MAX)
    return ty_err_set(err, TY_ERR_ARG, "URL '%.80s...' is longer than %d bytes", url, TY_URL_MAX);
  path = host + strcspn(host, "/?#");
  at = memchr(host, '@', (size_t)(path - host));   /* user:password@ is no part of the name */
  if (at != NULL) host = at + 1;
  hlen = (size_t)(path - host);
  for (file = url + flen; file > path && file[-1] != '/'; file--) {}
  if (url + flen - file < 5)                        /* the ".gguf" was the host's */
    return ty_err_set(err, TY_ERR_ARG, "URL '%s' names no .gguf file", url);
  sanitize(PART_HOST, host, hlen, n->host, TY_NAME_HOST_MAX);
  if (n->host[0] == '\0') return ty_err_set(err, TY_ERR_ARG, "URL '%s' has no host", url);
  strcpy(n->ns, "url");
  sanitize(PART_MODEL, file, (size_t)(url + flen - file) - 5, n->model, TY_NAME_PART_MAX);
  if (n->model[0] == '\0') strcpy(n->model, "model");   /* ".gguf" alone */
  ty_sha256_bytes(url, strlen(url), digest);
  snprintf(n->tag, sizeof n->tag, "%.12s", digest + 7);
  return TY_OK;
}
#endif


ty_status ty_name_parse(const char *s, struct ty_name *n, ty_err *err) {
  const char *seg[4], *whole = s, *colon;
  size_t seglen[4], nseg = 0;
  ty_status st;
  memset(n, 0, sizeof *n);
  if (ty_url_is_gguf(s)) {
#ifdef TYCHO_HAVE_STORE
    return url_name(s, n, err);
#else
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%.200s: pulls by URL need the model store (cmake "
                      "-DTYCHO_CURL=ON)", s);
#endif
  }
  if (strncmp(s, "https://", 8) == 0) s += 8;
  else if (strncmp(s, "http://", 7) == 0) s += 7;
  if (strlen(s) > TY_NAME_HOST_MAX + 3 * TY_NAME_PART_MAX + 4)
    return ty_err_set(err, TY_ERR_ARG, "model name '%.80s...' is too long", whole);
  for (const char *p = s;; ) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (nseg == 3)
      return ty_err_set(err, TY_ERR_ARG, "model name '%s' has too many '/' (at most "
                        "host/namespace/model:tag)", whole);
    seg[nseg] = p;
    seglen[nseg++] = len;
    if (slash == NULL) break;
    p = slash + 1;
  }
  /* the last segment is model[:tag] */
  {
    const char *m = seg[nseg - 1];
    size_t mlen = seglen[nseg - 1];
    colon = memchr(m, ':', mlen);
    if (colon != NULL) {
      if ((st = set_part(PART_TAG, colon + 1, mlen - (size_t)(colon - m) - 1, n->tag,
                         TY_NAME_PART_MAX, whole, err)) != TY_OK)
        return st;
      mlen = (size_t)(colon - m);
    } else {
      strcpy(n->tag, "latest");
    }
    if ((st = set_part(PART_MODEL, m, mlen, n->model, TY_NAME_PART_MAX, whole, err)) != TY_OK)
      return st;
  }
  if (nseg >= 2) {
    if ((st = set_part(PART_NS, seg[nseg - 2], seglen[nseg - 2], n->ns, TY_NAME_PART_MAX, whole,
                       err)) != TY_OK)
      return st;
  } else {
    strcpy(n->ns, "library");
  }
  if (nseg == 3) {
    if ((st = set_part(PART_HOST, seg[0], seglen[0], n->host, TY_NAME_HOST_MAX, whole, err)) != TY_OK)
      return st;
  } else {
    strcpy(n->host, "registry.ollama.ai");
  }
  return TY_OK;
}


void ty_name_path(const struct ty_name *n, char *out, size_t size) {
  snprintf(out, size, "%s/%s/%s/%s", n->host, n->ns, n->model, n->tag);
}


void ty_name_display(const struct ty_name *n, char *out, size_t size) {
  if (strcmp(n->host, "registry.ollama.ai") != 0)
    snprintf(out, size, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
  else if (strcmp(n->ns, "library") != 0)
    snprintf(out, size, "%s/%s:%s", n->ns, n->model, n->tag);
  else
    snprintf(out, size, "%s:%s", n->model, n->tag);
}


bool ty_digest_valid(const char *d) {
  if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != TY_DIGEST_LEN) return false;
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}
