/*
 * registry.c: pulls over libcurl (registry.h says what and why). One request
 * function does retries with backoff (transport errors, 429, 5xx), the 401
 * Bearer challenge and Range; blobs download in part threads that write with
 * pwrite into one partial file while the calling thread reports progress (so a
 * Lua progress callback only ever runs on the caller's thread).
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
  const struct ty_layer *l;
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
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) r->challenge[0] = '\0';  /* a new response */
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
      r->to = r->part->end - 1;
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
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
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
      if (r->part != NULL && atomic_load(&r->part->done) < r->part->end - r->part->start)
        retry = true;                   /* the connection ended early but cleanly */
      else
        return TY_OK;
    }
    if (cc == CURLE_OK && r->status == 401)
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP 401 unauthorized even with a token; is the "
                        "model private?", r->url);
    if (cc == CURLE_OK && r->status == 404)
      return ty_err_set(err, TY_ERR_IO, "%s: HTTP 404 not found (check the name and tag)", r->url);
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
  if (n == 0 || at != b->l->size || fstat(b->fd, &st) != 0) return false;
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


/* Downloads one blob into root/blobs (see the file comment). */
static ty_status pull_blob(struct pull *p, const char *root, const struct ty_layer *l, ty_err *err) {
  const struct ty_pull_opts *o = p->o;
  char final[4096], digest[TY_DIGEST_LEN + 1], dir[4096];
  unsigned char md[32];
  unsigned int mdlen = 0;
  struct blob *b;
  ty_status s = TY_OK;
  int lockfd, started = 0;
  ty_store_blob_path(root, l->digest, final, sizeof final);
  if (access(final, F_OK) == 0) return TY_OK;
  snprintf(dir, sizeof dir, "%s/blobs", root);
  if (mkdir(root, 0755) != 0 && errno != EEXIST)
    return ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", root, strerror(errno));
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return ty_err_set(err, TY_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
  if ((b = calloc(1, sizeof *b)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  b->p = p;
  b->l = l;
  b->fd = -1;
  snprintf(b->url, sizeof b->url, "%s/v2/%s/%s/blobs/%s", p->base, p->n.ns, p->n.model, l->digest);
  snprintf(b->path, sizeof b->path, "%s-partial", final);
  if ((lockfd = lock_blob(b->path, err)) < 0) {
    free(b);
    return TY_ERR_IO;
  }
  if (access(final, F_OK) == 0) goto done;    /* another pull finished it while we waited */
  if ((b->fd = open(b->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: %s", b->path, strerror(errno));
    goto done;
  }
  if (!state_load(b)) {
    int n = l->size >= o->part_min && o->parts > 1 ? o->parts : 1;
    if (n > MAX_PARTS) n = MAX_PARTS;
    if ((uint64_t)n > l->size) n = l->size ? (int)l->size : 1;
    if (ftruncate(b->fd, 0) != 0) {
      s = ty_err_set(err, TY_ERR_IO, "%s: %s", b->path, strerror(errno));
      goto done;
    }
    b->nparts = n;
    for (int i = 0; i < n; i++) {
      b->parts[i].start = l->size / (uint64_t)n * (uint64_t)i;
      b->parts[i].end = i == n - 1 ? l->size : l->size / (uint64_t)n * (uint64_t)(i + 1);
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
          o->progress(o->ud, l->digest, blob_done(b), l->size) != 0) {
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
  if (b->sha == NULL) {                         /* parts: hash the file now */
    if ((b->sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL)) {
      s = ty_err_set(err, TY_ERR_NOMEM, "cannot start SHA-256");
      goto done;
    }
    if ((s = hash_prefix(b->fd, b->sha, l->size, b->path, err)) != TY_OK) goto done;
  }
  EVP_DigestFinal_ex(b->sha, md, &mdlen);
  snprintf(digest, sizeof digest, "sha256:");
  for (int i = 0; i < 32; i++) snprintf(digest + 7 + 2 * i, 3, "%02x", md[i]);
  if (strcmp(digest, l->digest) != 0) {
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the download's digest is %.19s..., not %.19s...: the "
                   "bytes were corrupted on the way; nothing was kept, run the pull again",
                   b->url, digest, l->digest);
    unlink(b->path);
  } else if (fsync(b->fd) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot write: %s", b->path, strerror(errno));
  } else if (rename(b->path, final) != 0) {
    s = ty_err_set(err, TY_ERR_IO, "%s: cannot rename into place: %s", final, strerror(errno));
  }
  if (s == TY_OK || s == TY_ERR_FORMAT) {
    char state[4300];
    state_path(b, state, sizeof state);
    unlink(state);
  }
done:
  if (b->fd >= 0) close(b->fd);
  EVP_MD_CTX_free(b->sha);
  unlock_blob(b->path, lockfd);
  free(b);
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
  uint64_t want;
  ty_status s;
  *out = NULL;
  if (fetched) *fetched = 0;
  pthread_once(&curl_once, curl_init);
  if ((s = pull_init(&p, name, o, err)) != TY_OK) return s;
  if ((s = fetch_manifest(&p, &json, &have, &m, err)) != TY_OK) goto out;
  free(json);
  have = 0;
  if ((l = ty_manifest_layer(&m, TY_MEDIA_MODEL)) == NULL) {
    s = ty_err_set(err, TY_ERR_FORMAT, "%s: the manifest has no model layer", name);
    goto out_m;
  }
  snprintf(url, sizeof url, "%s/v2/%s/%s/blobs/%s", p.base, p.n.ns, p.n.model, l->digest);
  want = l->size < HEADER_FIRST ? l->size : HEADER_FIRST;
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
    s = ty_gguf_open_prefix(buf, have, l->size, name, out, &again, err);
    if (s == TY_OK || !again) break;
    if (have >= HEADER_MAX) {
      s = ty_err_set(err, TY_ERR_FORMAT, "%s: no complete GGUF header in the first %u bytes", name,
                     HEADER_MAX);
      break;
    }
    want = 2 * (uint64_t)have < l->size ? 2 * (uint64_t)have : l->size;
  }
  free(buf);
out_m:
  ty_manifest_free(&m);
out:
  pthread_mutex_destroy(&p.auth);
  return s;
}
