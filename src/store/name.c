/*
 * name.c: model names and digests, validated so that a name becomes a path
 * under manifests/ and a digest a file under blobs/ that cannot escape the
 * store. The rules follow Ollama's types/model/name.go.
 */
#include "store.h"

#include <stdio.h>
#include <string.h>

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


ty_status ty_name_parse(const char *s, struct ty_name *n, ty_err *err) {
  const char *seg[4], *whole = s, *colon;
  size_t seglen[4], nseg = 0;
  ty_status st;
  memset(n, 0, sizeof *n);
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
