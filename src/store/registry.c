/*
 * registry.c: pulls over libcurl (registry.h says what and why). One request
 * function does retries with backoff (transport errors, 429, 5xx), the 401
 * Bearer challenge and Range; blobs download in part threads that write with
 * pwrite into one partial file while the calling thread reports progress (so a
 * Lua progress callback only ever runs on the caller's thread). A pull by URL
 * goes through the same download, its digest computed rather than checked.
 */
#include "registry.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define MAX_PARTS 16
#define BODY_MAX (4u << 20)             /* manifests, tokens, error bodies kept in memory */
#define HEADER_FIRST (1u << 20)         /* plan before pull reads 1 MiB first, then doubles */
#define HEADER_MAX (1u << 30)           /* and gives up on a "header" past 1 GiB */


void ty_pull_opts_init(struct ty_pull_opts *o) {
  memset(o, 0, sizeof *o);
  o->parts = 4;
  o->part_min = 64u << 20;
  o->retries = 5;
  o->backoff = 1.0;
  o->connect_timeout = 30;
  o->stall = 30;
}


/* One pull: the name, where to reach it, and the token once there is one. */
struct pull {
  const struct ty_pull_opts *o;
  struct ty_name n;
  char base[1024];                      /* https://HOST or the override, no trailing '/' */
  char token[8192];
  bool tried_token;
  bool by_url;                          /* a pull by URL: the URL is the blob, no digest */
  pthread_mutex_t auth;
};


static ty_status pull_init(struct pull *p, const char *name, const struct ty_pull_opts *o,
                           ty_err *err) {
  const char *base = o->registry != NULL ? o->registry : getenv("TYCHO_REGISTRY");
  ty_status s;
  memset(p, 0, sizeof *p);
  p->o = o;
  if ((s = ty_name_parse(name, &p->n, err)) != TY_OK) return s;
  if (base != NULL && base[0] != '\0') {
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0)
      return ty_err_set(err, TY_ERR_ARG, "registry '%s' is not an http:// or https:// URL", base);
    snprintf(p->base, sizeof p->base, "%s", base);
  } else {
    snprintf(p->base, sizeof p->base, "https://%s", p->n.host);
  }
  for (size_t l = strlen(p->base); l > 0 && p->base[l - 1] == '/'; l--) p->base[l - 1] = '\0';
  pthread_mutex_init(&p->auth, NULL);
  return TY_OK;
}


/* {======================================================================
** One request
** ====================================================================== */

/* Where a response body goes: a memory buffer, or a blob part. */
struct part;
struct req {
  struct pull *p;
  const char *url;
  const char *accept;
  uint64_t from, to;                    /* Range bytes=from-to (inclusive); to = UINT64_MAX: open */
  bool ranged;
  bool anonymous;                       /* the token request itself */
  struct part *part;                    /* NULL: keep the body in mem */
  CURL *curl;                           /* the transfer in progress */
  char *mem;
  size_t mem_len, mem_max;
  long status;                          /* of the final response */
  char challenge[1024];                 /* WWW-Authenticate of the final response */
  int write_errno;                      /* pwrite failed */
  bool overflow;                        /* more bytes than asked for */
  bool restarted;                       /* a 200 to a Range request: the part began again */
  bool probe;                           /* only the headers matter: stop at the body */
  uint64_t total;                       /* the N of a Content-Range "bytes A-B/N"; 0: none */
};

struct blob;
struct part {
  struct blob *b;
  uint64_t start, end;                  /* its bytes [start, end) of the blob */
  _Atomic uint64_t done;                /* written from start */
  ty_status st;                         /* st and err: read once finished */
  ty_err err;
  atomic_int finished;
  pthread_t th;
};

struct blob {
  struct pull *p;
  uint64_t size;                        /* UINT64_MAX: the server did not say */
  char url[2048];
  char path[4200];                      /* the partial file */
  int fd;
  EVP_MD_CTX *sha;                      /* one part: hashed as the bytes arrive */
  struct part parts[MAX_PARTS];
  int nparts;
  atomic_int cancel;
};


static bool is_success(long st) { return st >= 200 && st < 300; }


static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  struct req *r = ud;
  size_t len = size * n;
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {      /* a new response */
    r->challenge[0] = '\0';
    r->total = 0;
  }
  if (len > 14 && strncasecmp(data, "content-range:", 14) == 0) {
    const char *slash = memchr(data, '/', len);
    char num[24];
    size_t k = 0;
    while (slash != NULL && k + 1 < sizeof num && slash + 1 + k < data + len &&
           slash[1 + k] >= '0' && slash[1 + k] <= '9')
      num[k] = slash[1 + k], k++;
    num[k] = '\0';
    r->total = k > 0 && k < 20 ? strtoull(num, NULL, 10) : 0;
  }
  if (len > 17 && strncasecmp(data, "www-authenticate:", 17) == 0) {
    size_t k = len - 17;
    const char *v = data + 17;
    while (k > 0 && (*v == ' ' || *v == '\t')) v++, k--;
    while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n')) k--;
    if (k >= sizeof r->challenge) k = sizeof r->challenge - 1;
    memcpy(r->challenge, v, k);
    r->challenge[k] = '\0';
  }
  return len;
}


static size_t write_part(struct req *r, const char *data, size_t len);

/* A success body goes to the part or the buffer; any other (an error page)
   keeps what fits in the buffer, for nothing but a message. */
static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  struct req *r = ud;
  size_t len = size * n, keep;
  curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
  if (r->probe && is_success(r->status)) return 0;
  if (r->part != NULL && is_success(r->status)) return write_part(r, data, len);
  if (is_success(r->status) && r->mem_len + len > r->mem_max) {
    r->overflow = true;
    return 0;
  }
  keep = r->mem_max - r->mem_len < len ? r->mem_max - r->mem_len : len;
  memcpy(r->mem + r->mem_len, data, keep);
  r->mem_len += keep;
  r->mem[r->mem_len] = '\0';
  return len;
}


static int on_xfer(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  struct req *r = ud;
  return r->part != NULL && atomic_load(&r->part->b->cancel) ? 1 : 0;
}


static void sleep_s(double s) {
  struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}


/* Value of key="..." in a Bearer challenge, or "". */
static void challenge_param(const char *ch, const char *key, char *out, size_t size) {
  const char *p = ch;
  size_t kl = strlen(key);
  out[0] = '\0';
  while ((p = strstr(p, key)) != NULL) {
    if ((p == ch || p[-1] == ' ' || p[-1] == ',') && p[kl] == '=' && p[kl + 1] == '"') {
      const char *v = p + kl + 2, *e = strchr(v, '"');
      size_t len = e ? (size_t)(e - v) : 0;
      if (len >= size) len = size - 1;
      memcpy(out, v, len);
      out[len] = '\0';
      return;
    }
    p += kl;
  }
}


static ty_status do_request(struct req *r, ty_err *err);

/* Answers a Bearer challenge: GET realm?service=..&scope=.., keep the token. */
static ty_status fetch_token(struct pull *p, const char *challenge, ty_err *err) {
  char realm[1024], service[512], scope[512], url[4096];
  char *es, *esc;
  struct req r;
  cJSON *j, *t;
  ty_status s;
  if (strncasecmp(challenge, "Bearer ", 7) != 0)
    return ty_err_set(err, TY_ERR_IO, "%s: the registry wants '%.60s' authentication, which tycho "
                      "does not speak (only Bearer tokens)", p->base, challenge);
  challenge_param(challenge + 7, "realm", realm, sizeof realm);
  challenge_param(challenge + 7, "service", service, sizeof service);
  challenge_param(challenge + 7, "scope", scope, sizeof scope);
  if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
    return ty_err_set(err, TY_ERR_IO, "%s: the registry's Bearer challenge has no http(s) realm",
                      p->base);
  es = curl_easy_escape(NULL, service, 0);
  esc = curl_easy_escape(NULL, scope, 0);
  snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
           es ? es : "", esc ? esc : "");
  curl_free(es);
  curl_free(esc);
  memset(&r, 0, sizeof r);
  r.p = p;
  r.url = url;
  r.accept = "application/json";
  r.anonymous = true;
  r.mem_max = 1u << 16;
  if ((r.mem = malloc(r.mem_max + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  r.mem[0] = '\0';
  s = do_request(&r, err);
  if (s == TY_OK) {
    j = cJSON_Parse(r.mem);
    t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    if (cJSON_IsString(t) && strlen(t->valuestring) < sizeof p->token &&
        strpbrk(t->valuestring, "\r\n") == NULL) {
      pthread_mutex_lock(&p->auth);
      snprintf(p->token, sizeof p->token, "%s", t->valuestring);
      pthread_mutex_unlock(&p->auth);
    } else
      s = ty_err_set(err, TY_ERR_IO, "%s: the token endpoint %s answered without a token", p->base,
                     realm);
    cJSON_Delete(j);
  }
  free(r.mem);
  return s;
}


/* Transient failures. A host name that does not resolve is not one: the
   name is wrong or there is no network, and waiting will not change it. */
static bool retriable(CURLcode c) {
  switch (c) {
  case CURLE_COULDNT_CONNECT: case CURLE_PARTIAL_FILE:
  case CURLE_OPERATION_TIMEDOUT: case CURLE_GOT_NOTHING: case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}


/* Performs r with retries and backoff. A part resumes where it stopped. */
static ty_status do_request(struct req *r, ty_err *err) {
  const struct ty_pull_opts *o = r->p->o;
  int attempt = 0;
  double delay = o->backoff;
  for (;;) {
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[8300], cerr[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    bool retry = false;
    if (c == NULL) return ty_err_set(err, TY_ERR_NOMEM, "%s: cannot start libcurl", r->url);
    if (r->part != NULL) {                 /* resume: ask for what is still missing */
      r->from = r->part->start + atomic_load(&r->part->done);
      r->to = r->part->end == UINT64_MAX ? UINT64_MAX : r->part->end - 1;
      r->ranged = r->from > 0 || r->part->b->nparts > 1;
      if (r->from > r->to) { curl_easy_cleanup(c); return TY_OK; }
    }
    r->status = 0;
    r->mem_len = 0;
    r->overflow = false;
    r->write_errno = 0;
    r->challenge[0] = '\0';
    snprintf(line, sizeof line, "Accept: %s", r->accept);
    h = curl_slist_append(h, line);
    pthread_mutex_lock(&r->p->auth);
    if (r->p->token[0] != '\0' && !r->anonymous) {
      snprintf(line, sizeof line, "Authorization: Bearer %s", r->p->token);
      h = curl_slist_append(h, line);
    }
    pthread_mutex_unlock(&r->p->auth);
    if (r->ranged) {
      if (r->to == UINT64_MAX) snprintf(line, sizeof line, "%" PRIu64 "-", r->from);
      else snprintf(line, sizeof line, "%" PRIu64 "-%" PRIu64, r->from, r->to);
      curl_easy_setopt(c, CURLOPT_RANGE, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tycho/0.1");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* nothing checks a URL's bytes, so an https URL is not redirected to http */
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
                     r->p->by_url && strncasecmp(r->url, "https://", 8) == 0 ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_bundle != NULL) curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_bundle);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    r->curl = c;
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->probe && is_success(r->status)) {     /* stopped at the body on purpose */
      curl_off_t cl = -1;
      curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (r->status != 206) r->total = cl >= 0 ? (uint64_t)cl : UINT64_MAX;
      curl_easy_cleanup(c);
      curl_slist_free_all(h);
      return TY_OK;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);

    if (r->part != NULL && atomic_load(&r->part->b->cancel))
      return ty_err_set(err, TY_ERR_CANCELLED, "%s: cancelled", r->url);
    if (r->write_errno != 0)
      return ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", r->part->b->path,
                        strerror(r->write_errno));
    if (r->overflow && r->ranged && r->status == 200)
      return ty_err_set(err, TY_ERR_IO, "%s: the server does not honour Range requests", r->url);
    if (r->overflow && r->part != NULL)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: the server sent more bytes than the blob's size "
                        "in the manifest", r->url);
    if (r->overflow)
      return ty_err_set(err, TY_ERR_FORMAT, "%s: the answer is larger than %zu bytes", r->url,
                        r->mem_max);
    if (cc == CURLE_OK && r->status == 401 && !r->p->tried_token) {
      bool mine;
      pthread_mutex_lock(&r->p->auth);
      mine = !r->p->tried_token;        /* another part may be answering it already */
      r->p->tried_token = true;
      pthread_mutex_unlock(&r->p->auth);
      if (mine) {
        ty_status s = fetch_token(r->p, r->challenge, err);
        if (s != TY_OK) return s;
      }
      continue;
    }
    if (cc == CURLE_OK && is_success(r->status)) {
      if (r->part != NULL && r->part->end != UINT64_MAX &&
          atomic_load(&r->part->done) < r->part->end - r->part->start)
        retry = true;                   /* the connection ended early but cleanly */
      else
        return TY_OK;
    }
    if (cc == CURLE_OK && r->status == 401)
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP 401 unauthorized even with a token; is the "
                        "model private?", r->url);
    if (cc == CURLE_OK && r->status == 404)
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP 404 not found (check the %s)", r->url,
                        r->p->by_url ? "URL" : "name and tag");
    if (cc == CURLE_OK && r->status == 416)
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP 416: the server has fewer bytes than the "
                        "manifest says", r->url);
    if (cc != CURLE_OK) retry = retry || retriable(cc);
    if (cc == CURLE_OK && (r->status == 429 || r->status >= 500)) retry = true;
    if (!retry || attempt >= o->retries) {
      if (cc != CURLE_OK)
        return ty_err_set(err, TY_ERR_IO, "%s: %s%s", r->url, cerr[0] ? cerr : curl_easy_strerror(cc),
                          retry ? " (gave up after retries; run the pull again to resume)" : "");
      if (cc == CURLE_OK && is_success(r->status))
        return ty_err_set(err, TY_ERR_IO, "%s: the connection kept closing early (run the pull "
                          "again to resume)", r->url);
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP %ld%s", r->url, r->status,
                        retry ? " (gave up after retries)" : "");
    }
    attempt++;
    sleep_s(delay);
    delay *= 2;
  }
}


/* GETs url into a malloc'd, NUL-terminated buffer of at most max bytes. */
static ty_status get_mem(struct pull *p, const char *url, const char *accept, uint64_t from,
                         uint64_t to, size_t max, char **out, size_t *len, ty_err *err) {
  struct req r;
  ty_status s;
  memset(&r, 0, sizeof r);
  r.p = p;
  r.url = url;
  r.accept = accept;
  r.from = from;
  r.to = to;
  r.ranged = from > 0 || to != UINT64_MAX;
  r.mem_max = max;
  if ((r.mem = malloc(max + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", url);
  r.mem[0] = '\0';
  s = do_request(&r, err);
  if (s != TY_OK) {
    free(r.mem);
    return s;
  }
  *out = r.mem;
  *len = r.mem_len;
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** Blobs
** ====================================================================== */

static size_t write_part(struct req *r, const char *data, size_t len) {
  struct part *pt = r->part;
  uint64_t done = atomic_load(&pt->done);
  if (atomic_load(&pt->b->cancel)) return 0;
  if (r->ranged && r->status == 200 && !r->restarted) {
    /* the server ignored Range and sends the whole blob: a single part
       starts over, parallel parts cannot work with this server */
    if (pt->b->nparts > 1 || ftruncate(pt->b->fd, 0) != 0) {
      r->write_errno = pt->b->nparts > 1 ? ENOTSUP : errno;
      return 0;
    }
    r->restarted = true;
    atomic_store(&pt->done, 0);
    done = 0;
    if (pt->b->sha != NULL) EVP_DigestInit_ex(pt->b->sha, EVP_sha256(), NULL);
  }
  if (len > pt->end - pt->start - done) {
    r->overflow = true;
    return 0;
  }
  for (size_t w = 0; w < len; ) {
    ssize_t k = pwrite(pt->b->fd, data + w, len - w, (off_t)(pt->start + done + w));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      r->write_errno = k < 0 ? errno : ENOSPC;
      return 0;
    }
    w += (size_t)k;
  }
  if (pt->b->sha != NULL) EVP_DigestUpdate(pt->b->sha, data, len);
  atomic_store(&pt->done, done + len);
  return len;
}


static void *part_main(void *arg) {
  struct part *pt = arg;
  struct req r;
  memset(&r, 0, sizeof r);
  r.p = pt->b->p;
  r.url = pt->b->url;
  r.accept = "application/octet-stream";
  r.part = pt;
  r.mem_max = 4096;
  r.mem = malloc(r.mem_max + 1);
  if (r.mem == NULL)
    pt->st = ty_err_set(&pt->err, TY_ERR_NOMEM, "out of memory");
  else
    pt->st = do_request(&r, &pt->err);
  if (pt->st != TY_OK) atomic_store(&pt->b->cancel, 1);   /* one part failing stops the rest */
  free(r.mem);
  atomic_store(&pt->finished, 1);
  return NULL;
}


/* The .parts file beside the partial one: "start end done" per part, so a
   resumed pull continues each part where it stopped. */
static void state_path(const struct blob *b, char *out, size_t size) {
  snprintf(out, size, "%s.parts", b->path);
}


static void state_save(const struct blob *b) {
  char path[4300], tmp[4400];
  FILE *f;
  state_path(b, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if ((f = fopen(tmp, "w")) == NULL) return;
  for (int i = 0; i < b->nparts; i++)
    fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", b->parts[i].start, b->parts[i].end,
            (uint64_t)atomic_load(&b->parts[i].done));
  if (fclose(f) == 0) rename(tmp, path);
  else unlink(tmp);
}


/* Loads the .parts file if it describes this blob (parts tile [0, size) and
   the partial file holds at least what they say is done). */
static bool state_load(struct blob *b) {
  char path[4300];
  uint64_t s, e, d, at = 0;
  struct stat st;
  int n = 0;
  FILE *f;
  state_path(b, path, sizeof path);
  if ((f = fopen(path, "r")) == NULL) return false;
  while (n < MAX_PARTS && fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &s, &e, &d) == 3) {
    if (s != at || e <= s || d > e - s) { n = 0; break; }
    b->parts[n].start = s;
    b->parts[n].end = e;
    atomic_store(&b->parts[n].done, d);
    at = e;
    n++;
  }
  fclose(f);
  if (n == 0 || at != b->size || fstat(b->fd, &st) != 0) return false;
  for (int i = 0; i < n; i++)
    if (b->parts[i].start + atomic_load(&b->parts[i].done) > (uint64_t)st.st_size) return false;
  b->nparts = n;
  return true;
}


/* Hashes the first n bytes of fd into ctx. */
static ty_status hash_prefix(int fd, EVP_MD_CTX *ctx, uint64_t n, const char *path, ty_err *err) {
  unsigned char buf[1 << 16];
  uint64_t at = 0;
  while (at < n) {
    ssize_t k = pread(fd, buf, n - at < sizeof buf ? (size_t)(n - at) : sizeof buf, (off_t)at);
    if (k <= 0) return ty_err_set(err, TY_ERR_IO, "%s: cannot read: %s", path, k < 0 ? strerror(errno) : "short file");
    EVP_DigestUpdate(ctx, buf, (size_t)k);
    at += (uint64_t)k;
  }
  return TY_OK;
}


static uint64_t blob_done(struct blob *b) {
  uint64_t d = 0;
  for (int i = 0; i < b->nparts; i++) d += atomic_load(&b->parts[i].done);
  return d;
}


/* Takes the lock file for a blob: a second pull of the same blob waits here.
   The holder unlinks the lock file before closing it, so a waiter that then
   gets a lock on the unlinked file opens the path again. Returns the fd. */
static int lock_blob(const char *path, ty_err *err) {
  char lock[4300];
  snprintf(lock, sizeof lock, "%s.lock", path);
  for (;;) {
    struct stat a, b;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      ty_err_set(err, TY_ERR_IO, "%s: %s", lock, strerror(errno));
      return -1;
    }
    if (flock(fd, LOCK_EX) != 0) {
      ty_err_set(err, TY_ERR_IO, "%s: cannot lock: %s", lock, strerror(errno));
      close(fd);
      return -1;
    }
    if (fstat(fd, &a) == 0 && stat(lock, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
      return fd;
    close(fd);
  }
}


static void unlock_blob(const char *path, int fd) {
  char lock[4300];
  snprintf(lock, sizeof lock, "%s.lock", path);
  unlink(lock);
  close(fd);
}


/* Downloads url into the partial file path (size bytes, UINT64_MAX when the
   server did not say; ranges: it answers Range requests, so a large file
   comes in parts), resuming what a failed try left there. On success the
   file is complete and synced, and its SHA-256 is in digest and its length in
   *got; the caller decides whether it goes into place. label names it to the
   progress callback. The caller holds the lock (lock_blob). */
static ty_status download(struct pull *p, const char *url, const char *path, const char *label,
                          uint64_t size, bool ranges, char *digest, uint64_t *got, ty_err *err) {
  const struct ty_pull_opts *o = p->o;
  unsigned char md[32];
  unsigned int mdlen = 0;
  struct blob *b;
  ty_status s = TY_OK;
  int started = 0;
  if ((b = calloc(1, sizeof *b)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  b->p = p;
  b->size = size;
  b->fd = -1;
  snprintf(b->url, sizeof b->url, "%s", url);
  snprintf(b->path, sizeof b->path, "%s", path);
  if ((b->fd = open(b->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: %s", b->path, strerror(errno));
    goto done;
  }
  if (!state_load(b)) {
    int n = ranges && size != UINT64_MAX && size >= o->part_min && o->parts > 1 ? o->parts : 1;
    if (n > MAX_PARTS) n = MAX_PARTS;
    if ((uint64_t)n > size) n = size ? (int)size : 1;
    if (ftruncate(b->fd, 0) != 0) {
      s = ty_err_set(err, TY_ERR_IO, "%s: %s", b->path, strerror(errno));
      goto done;
    }
    b->nparts = n;
    for (int i = 0; i < n; i++) {
      b->parts[i].start = size / (uint64_t)n * (uint64_t)i;
      b->parts[i].end = i == n - 1 ? size : size / (uint64_t)n * (uint64_t)(i + 1);
      atomic_store(&b->parts[i].done, 0);
    }
  }
  if (b->nparts == 1) {                         /* one stream: hash as it arrives */
    if ((b->sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL)) {
      s = ty_err_set(err, TY_ERR_NOMEM, "cannot start SHA-256");
      goto done;
    }
    if ((s = hash_prefix(b->fd, b->sha, atomic_load(&b->parts[0].done), b->path, err)) != TY_OK)
      goto done;
  }
  for (started = 0; started < b->nparts; started++) {
    b->parts[started].b = b;
    if (pthread_create(&b->parts[started].th, NULL, part_main, &b->parts[started]) != 0) {
      atomic_store(&b->cancel, 1);
      s = ty_err_set(err, TY_ERR_NOMEM, "cannot start a download thread");
      break;
    }
  }
  /* the caller's thread reports progress and saves the part state */
  {
    double last_save = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      bool running = false;
      struct timespec now;
      double el;
      for (int i = 0; i < started; i++) running = running || !atomic_load(&b->parts[i].finished);
      if (o->progress != NULL && !atomic_load(&b->cancel) &&
          o->progress(o->ud, label, blob_done(b), size == UINT64_MAX ? 0 : size) != 0) {
        atomic_store(&b->cancel, 1);
        if (s == TY_OK) s = ty_err_set(err, TY_ERR_CANCELLED, "pull cancelled");
      }
      clock_gettime(CLOCK_MONOTONIC, &now);
      el = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) * 1e-9;
      if (el - last_save >= 1.0) {
        state_save(b);
        last_save = el;
      }
      if (!running) break;
      sleep_s(0.05);
    }
  }
  for (int i = 0; i < started; i++) pthread_join(b->parts[i].th, NULL);
  for (int i = 0; i < started && s == TY_OK; i++)
    if (b->parts[i].st != TY_OK && b->parts[i].st != TY_ERR_CANCELLED) {
      s = b->parts[i].st;
      *err = b->parts[i].err;
    }
  for (int i = 0; i < started && s == TY_OK; i++)
    if (b->parts[i].st != TY_OK) {
      s = b->parts[i].st;
      *err = b->parts[i].err;
    }
  if (s != TY_OK) {
    state_save(b);                              /* resumable */
    goto done;
  }
  *got = blob_done(b);
  if (b->sha == NULL) {                         /* parts: hash the file now */
    if ((b->sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL)) {
      s = ty_err_set(err, TY_ERR_NOMEM, "cannot start SHA-256");
      goto done;
    }
    if ((s = hash_prefix(b->fd, b->sha, *got, b->path, err)) != TY_OK) goto done;
  }
  EVP_DigestFinal_ex(b->sha, md, &mdlen);
  snprintf(digest, TY_DIGEST_LEN + 1, "sha256:");
  for (int i = 0; i < 32; i++) snprintf(digest + 7 + 2 * i, 3, "%02x", md[i]);
  if (fsync(b->fd) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", b->path, strerror(errno));
  } else {
    char state[4300];
    state_path(b, state, sizeof state);
    unlink(state);
  }
done:
  if (b->fd >= 0) close(b->fd);
  EVP_MD_CTX_free(b->sha);
  free(b);
  return s;
}


/* Makes root and root/blobs. */
static ty_status make_blobs_dir(const char *root, ty_err *err) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/blobs", root);
  if (mkdir(root, 0755) != 0 && errno != EEXIST)
    return ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", root, strerror(errno));
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
  return TY_OK;
}


/* Pulls one registry blob into root/blobs: kept only when its SHA-256 is the
   digest the manifest gives (see the file comment). */
static ty_status pull_blob(struct pull *p, const char *root, const struct ty_layer *l, ty_err *err) {
  char final[4096], partial[4200], url[2048], digest[TY_DIGEST_LEN + 1];
  uint64_t got;
  ty_status s;
  int lockfd;
  ty_store_blob_path(root, l->digest, final, sizeof final);
  if (access(final, F_OK) == 0) return TY_OK;
  if ((s = make_blobs_dir(root, err)) != TY_OK) return s;
  snprintf(url, sizeof url, "%s/v2/%s/%s/blobs/%s", p->base, p->n.ns, p->n.model, l->digest);
  snprintf(partial, sizeof partial, "%s-partial", final);
  if ((lockfd = lock_blob(partial, err)) < 0) return TY_ERR_IO;
  if (access(final, F_OK) == 0) {               /* another pull finished it while we waited */
    unlock_blob(partial, lockfd);
    return TY_OK;
  }
  s = download(p, url, partial, l->digest, l->size, true, digest, &got, err);
  if (s == TY_OK && strcmp(digest, l->digest) != 0) {
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the download's digest is %.19s..., not %.19s...: the "
                   "bytes were corrupted on the way; nothing was kept, run the pull again",
                   url, digest, l->digest);
    unlink(partial);
  } else if (s == TY_OK && rename(partial, final) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", final, strerror(errno));
  }
  unlock_blob(partial, lockfd);
  return s;
}


/* }====================================================================== */


/* {======================================================================
** Pulls by URL
** ====================================================================== */

/* Plain http carries bytes that nothing checks (a URL has no digest), so it
   may only reach this machine (the tests' server). */
static ty_status url_allowed(const char *url, ty_err *err) {
  static const char *const local[] = { "127.0.0.1", "localhost", "[::1]", NULL };
  const char *h = url + 7, *at;
  size_t n = strcspn(h, "/?#");
  if (strncasecmp(url, "https://", 8) == 0) return TY_OK;
  if ((at = memchr(h, '@', n)) != NULL) n -= (size_t)(at + 1 - h), h = at + 1;
  for (int i = 0; local[i] != NULL; i++) {
    size_t k = strlen(local[i]);
    if (n >= k && strncasecmp(h, local[i], k) == 0 && (n == k || h[k] == ':')) return TY_OK;
  }
  return ty_err_set(err, TY_ERR_ARG, "%.200s: plain http is refused (nothing could check the bytes: "
                    "a URL has no digest); use https://, or http only for 127.0.0.1 or localhost", url);
}


static ty_status url_init(struct pull *p, const char *url, const struct ty_pull_opts *o, ty_err *err) {
  ty_status s;
  memset(p, 0, sizeof *p);
  p->o = o;
  p->by_url = true;
  if ((s = url_allowed(url, err)) != TY_OK || (s = ty_name_parse(url, &p->n, err)) != TY_OK) return s;
  pthread_mutex_init(&p->auth, NULL);
  return TY_OK;
}


/* Asks for the first byte: a 206 says the server takes Range requests, and
   its Content-Range gives the size; a 200, stopped at the body, gives the
   size from Content-Length. *size is UINT64_MAX when the server does not say. */
static ty_status probe(struct pull *p, const char *url, uint64_t *size, bool *ranges, ty_err *err) {
  struct req r;
  ty_status s;
  memset(&r, 0, sizeof r);
  r.p = p;
  r.url = url;
  r.accept = "application/octet-stream";
  r.ranged = true;                              /* bytes=0-0 */
  r.probe = true;
  r.mem_max = 4096;                             /* an error page, for nothing but a message */
  if ((r.mem = malloc(r.mem_max + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  s = do_request(&r, err);
  free(r.mem);
  if (s != TY_OK) return s;
  *ranges = r.status == 206;
  *size = r.status == 206 && r.total == 0 ? UINT64_MAX : r.total;
  if (*size == 0) return ty_err_set(err, TY_ERR_FORMAT, "%s: the server says the file is empty", url);
  return TY_OK;
}


/* True when url's model is in a store with its model blob. */
static bool url_pulled(const char *url) {
  struct ty_manifest m;
  const struct ty_layer *l;
  char root[2048], path[4096];
  bool ro, have = false;
  if (ty_store_manifest(url, &m, root, sizeof root, &ro, NULL) != TY_OK) return false;
  if ((l = ty_manifest_layer(&m, TY_MEDIA_MODEL)) != NULL) {
    ty_store_blob_path(root, l->digest, path, sizeof path);
    have = access(path, R_OK) == 0;
  }
  ty_manifest_free(&m);
  return have;
}


/* Pulls the .gguf at url into the store (registry.h). Its partial file is
   blobs/url-HEX-partial, HEX the URL's SHA-256, since the blob's own digest
   is known only at the end; its lock also makes a second pull of the URL
   wait and then find the model. */
static ty_status pull_url(const char *url, const struct ty_pull_opts *o, ty_err *err) {
  struct pull p;
  struct ty_layer model = { TY_MEDIA_MODEL, "", 0 };
  char root[2048], partial[4200], final[4096], key[TY_DIGEST_LEN + 1];
  uint64_t size = 0;
  bool ranges = false;
  ty_status s;
  int lockfd;
  if ((s = url_init(&p, url, o, err)) != TY_OK) return s;
  ty_store_dir(root, sizeof root);
  if (url_pulled(url) || (s = probe(&p, url, &size, &ranges, err)) != TY_OK ||
      (s = make_blobs_dir(root, err)) != TY_OK)
    goto out;
  ty_sha256_bytes(url, strlen(url), key);
  snprintf(partial, sizeof partial, "%s/blobs/url-%s-partial", root, key + 7);
  if ((lockfd = lock_blob(partial, err)) < 0) {
    s = TY_ERR_IO;
    goto out;
  }
  if (!url_pulled(url)) {                       /* else another pull finished it while we waited */
    s = download(&p, url, partial, url, size, ranges, model.digest, &model.size, err);
    if (s == TY_OK) {
      ty_gguf *g;
      ty_err e;
      if (ty_gguf_open_header(partial, &g, &e) == TY_OK) {
        ty_gguf_close(g);
      } else {
        s = ty_err_set(err, TY_ERR_FORMAT, "%.200s: the download is not a GGUF model (%s); nothing "
                       "was kept", url, e.msg);
        unlink(partial);
      }
    }
    if (s == TY_OK) {
      ty_store_blob_path(root, model.digest, final, sizeof final);
      if (access(final, F_OK) == 0) unlink(partial);  /* the same bytes came by another way */
      else if (rename(partial, final) != 0)
        s = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", final, strerror(errno));
    }
    if (s == TY_OK) s = ty_store_create_gguf(&p.n, &model, err);
  }
  unlock_blob(partial, lockfd);
out:
  pthread_mutex_destroy(&p.auth);
  return s;
}


/* }====================================================================== */


static ty_status fetch_manifest(struct pull *p, char **json, size_t *len, struct ty_manifest *m,
                                ty_err *err) {
  char url[2048];
  ty_status s;
  snprintf(url, sizeof url, "%s/v2/%s/%s/manifests/%s", p->base, p->n.ns, p->n.model, p->n.tag);
  if ((s = get_mem(p, url, TY_MEDIA_MANIFEST, 0, UINT64_MAX, BODY_MAX, json, len, err)) != TY_OK)
    return s;
  if ((s = ty_manifest_parse(*json, *len, url, m, err)) != TY_OK) {
    free(*json);
    *json = NULL;
  }
  return s;
}


static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }


ty_status ty_registry_pull(const char *name, const struct ty_pull_opts *o, ty_err *err) {
  struct pull p;
  struct ty_manifest m;
  char root[2048], *json = NULL;
  size_t len = 0;
  ty_status s;
  pthread_once(&curl_once, curl_init);
  if (ty_url_is_gguf(name)) return pull_url(name, o, err);
  if ((s = pull_init(&p, name, o, err)) != TY_OK) return s;
  if ((s = fetch_manifest(&p, &json, &len, &m, err)) != TY_OK) goto out;
  ty_store_dir(root, sizeof root);
  s = pull_blob(&p, root, &m.config, err);
  for (size_t i = 0; i < m.n_layers && s == TY_OK; i++) s = pull_blob(&p, root, &m.layers[i], err);
  if (s == TY_OK) s = ty_store_put_manifest(&p.n, json, len, err);
  ty_manifest_free(&m);
  free(json);
out:
  pthread_mutex_destroy(&p.auth);
  return s;
}


ty_status ty_registry_open_header(const char *name, const struct ty_pull_opts *o, ty_gguf **out,
                                  uint64_t *fetched, ty_err *err) {
  struct pull p;
  struct ty_manifest m;
  const struct ty_layer *l;
  char *json = NULL, *buf = NULL, url[2048];
  size_t have = 0;
  uint64_t want, size;
  bool ranges;
  ty_status s;
  *out = NULL;
  if (fetched) *fetched = 0;
  memset(&m, 0, sizeof m);
  pthread_once(&curl_once, curl_init);
  if (ty_url_is_gguf(name)) {                   /* the URL is the model blob */
    if ((s = url_init(&p, name, o, err)) != TY_OK) return s;
    snprintf(url, sizeof url, "%s", name);
    if ((s = probe(&p, url, &size, &ranges, err)) != TY_OK) goto out;
    if (!ranges || size == UINT64_MAX) {
      s = ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: the server does not answer Range requests with "
                     "a size, so the header cannot be read alone (tycho pull fetches the whole "
                     "file)", url);
      goto out;
    }
  } else {
    if ((s = pull_init(&p, name, o, err)) != TY_OK) return s;
    if ((s = fetch_manifest(&p, &json, &have, &m, err)) != TY_OK) goto out;
    free(json);
    have = 0;
    if ((l = ty_manifest_layer(&m, TY_MEDIA_MODEL)) == NULL) {
      s = ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest has no model layer", name);
      goto out_m;
    }
    snprintf(url, sizeof url, "%s/v2/%s/%s/blobs/%s", p.base, p.n.ns, p.n.model, l->digest);
    size = l->size;
  }
  want = size < HEADER_FIRST ? size : HEADER_FIRST;
  for (;;) {
    char *more;
    size_t got;
    bool again;
    char *grown = realloc(buf, want ? (size_t)want : 1);
    if (grown == NULL) { s = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", url); break; }
    buf = grown;
    if (want > have) {
      if ((s = get_mem(&p, url, "application/octet-stream", have, want - 1, (size_t)(want - have),
                       &more, &got, err)) != TY_OK)
        break;
      memcpy(buf + have, more, got);
      free(more);
      if (fetched) *fetched += got;
      if (got < want - have) {
        s = ty_err_set(err, TY_ERR_IO, "%s: the server sent %zu of %" PRIu64 " header bytes",
                       url, got, want - have);
        break;
      }
      have = (size_t)want;
    }
    s = ty_gguf_open_prefix(buf, have, size, name, out, &again, err);
    if (s == TY_OK || !again) break;
    if (have >= HEADER_MAX) {
      s = ty_err_set(err, TY_ERR_FORMAT, "%s: no complete GGUF header in the first %u bytes", name,
                     HEADER_MAX);
      break;
    }
    want = 2 * (uint64_t)have < size ? 2 * (uint64_t)have : size;
  }
  free(buf);
out_m:
  ty_manifest_free(&m);
out:
  pthread_mutex_destroy(&p.auth);
  return s;
}
