/*
 * modelfile.c: Ollama's Modelfile format (see modelfile.h). The parser is a
 * transcription of the state machine in Ollama's parser/parser.go, so that
 * every odd case (a quote that ends a line early, spaces kept inside quotes,
 * control characters dropped) reads the same; the JSON writers reproduce
 * what Ollama's create stores, byte for byte.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile.h"
#include "../plan/plan.h"

#define MAX_FILE (64u << 20)   /* a Modelfile is text; this bounds a mistaken path */


/* {=====================================================================
   A growable byte buffer. Out of memory is sticky: appends become no-ops and
   the owner checks b->oom once at the end.
   ====================================================================== */

struct buf {
  char *p;
  size_t n, cap;
  bool oom;
};


static void buf_add(struct buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    char *p;
    while (cap < b->n + n + 1) cap *= 2;
    if ((p = realloc(b->p, cap)) == NULL) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}


static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }


static void buf_ch(struct buf *b, char c) { buf_add(b, &c, 1); }


static void buf_rune(struct buf *b, uint32_t r) {
  char u[4];
  if (r < 0x80) {
    u[0] = (char)r;
    buf_add(b, u, 1);
  } else if (r < 0x800) {
    u[0] = (char)(0xC0 | r >> 6); u[1] = (char)(0x80 | (r & 0x3F));
    buf_add(b, u, 2);
  } else if (r < 0x10000) {
    u[0] = (char)(0xE0 | r >> 12); u[1] = (char)(0x80 | (r >> 6 & 0x3F));
    u[2] = (char)(0x80 | (r & 0x3F));
    buf_add(b, u, 3);
  } else {
    u[0] = (char)(0xF0 | r >> 18); u[1] = (char)(0x80 | (r >> 12 & 0x3F));
    u[2] = (char)(0x80 | (r >> 6 & 0x3F)); u[3] = (char)(0x80 | (r & 0x3F));
    buf_add(b, u, 4);
  }
}


/* {=====================================================================
   Runes. Ollama reads through a BOM-sniffing decoder: UTF-16 (either byte
   order) with its BOM, else UTF-8 with a UTF-8 BOM dropped; invalid bytes
   become U+FFFD, one per byte, as Go's utf8.DecodeRune counts them.
   ====================================================================== */

enum { ENC_UTF8, ENC_UTF16LE, ENC_UTF16BE };

struct src {
  const unsigned char *p;
  size_t n, i;
  int enc;
};


static void src_init(struct src *s, const char *text, size_t n) {
  s->p = (const unsigned char *)text;
  s->n = n;
  s->i = 0;
  s->enc = ENC_UTF8;
  if (n >= 2 && s->p[0] == 0xFF && s->p[1] == 0xFE) s->enc = ENC_UTF16LE, s->i = 2;
  else if (n >= 2 && s->p[0] == 0xFE && s->p[1] == 0xFF) s->enc = ENC_UTF16BE, s->i = 2;
  else if (n >= 3 && memcmp(s->p, "\xEF\xBB\xBF", 3) == 0) s->i = 3;
}


/* Decodes one UTF-8 rune of p[0..n) (n >= 1) as Go does: *w bytes, U+FFFD
   and width 1 for anything invalid (overlong, surrogate, past U+10FFFF). */
static uint32_t utf8_rune(const unsigned char *p, size_t n, size_t *w) {
  unsigned c = p[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t need;
  uint32_t r;
  *w = 1;
  if (c < 0x80) return c;
  if (c < 0xC2 || c > 0xF4) return 0xFFFD;
  if (c < 0xE0) need = 1, r = c & 0x1F;
  else if (c < 0xF0) need = 2, r = c & 0x0F;
  else need = 3, r = c & 0x07;
  if (c == 0xE0) lo = 0xA0;
  else if (c == 0xED) hi = 0x9F;
  else if (c == 0xF0) lo = 0x90;
  else if (c == 0xF4) hi = 0x8F;
  if (n < need + 1 || p[1] < lo || p[1] > hi) return 0xFFFD;
  for (size_t k = 1; k <= need; k++) {
    if (k > 1 && (p[k] < 0x80 || p[k] > 0xBF)) return 0xFFFD;
    r = r << 6 | (p[k] & 0x3F);
  }
  *w = need + 1;
  return r;
}


/* The next rune into *r; false at the end. */
static bool src_next(struct src *s, uint32_t *r) {
  if (s->i >= s->n) return false;
  if (s->enc == ENC_UTF8) {
    size_t w;
    *r = utf8_rune(s->p + s->i, s->n - s->i, &w);
    s->i += w;
    return true;
  }
  if (s->n - s->i < 2) {              /* an odd last byte */
    s->i = s->n;
    *r = 0xFFFD;
    return true;
  }
  uint32_t u = s->enc == ENC_UTF16LE ? (uint32_t)(s->p[s->i] | s->p[s->i + 1] << 8)
                                     : (uint32_t)(s->p[s->i] << 8 | s->p[s->i + 1]);
  s->i += 2;
  *r = u;
  if (u >= 0xDC00 && u < 0xE000) {
    *r = 0xFFFD;
  } else if (u >= 0xD800 && u < 0xDC00) {
    *r = 0xFFFD;
    if (s->n - s->i >= 2) {
      uint32_t v = s->enc == ENC_UTF16LE ? (uint32_t)(s->p[s->i] | s->p[s->i + 1] << 8)
                                         : (uint32_t)(s->p[s->i] << 8 | s->p[s->i + 1]);
      if (v >= 0xDC00 && v < 0xE000) {
        *r = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
        s->i += 2;
      }
    }
  }
  return true;
}


/* Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and
   the ASCII space. Controls, other spaces, format characters and private
   use are not; unassigned code points count as printable here (Go's tables
   know them; Modelfiles do not use them). */
static bool is_print(uint32_t r) {
  static const uint32_t no[][2] = {
    { 0x00, 0x1F }, { 0x7F, 0xA0 }, { 0xAD, 0xAD }, { 0x600, 0x605 }, { 0x61C, 0x61C },
    { 0x6DD, 0x6DD }, { 0x70F, 0x70F }, { 0x890, 0x891 }, { 0x8E2, 0x8E2 },
    { 0x1680, 0x1680 }, { 0x180E, 0x180E }, { 0x2000, 0x200F }, { 0x2028, 0x202F },
    { 0x205F, 0x206F }, { 0x3000, 0x3000 }, { 0xD800, 0xF8FF }, { 0xFEFF, 0xFEFF },
    { 0xFFF9, 0xFFFB }, { 0xFFFE, 0xFFFF }, { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD },
    { 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 },
    { 0xE0020, 0xE007F }, { 0xF0000, 0x10FFFF },
  };
  if (r == ' ') return true;
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (r >= no[i][0] && r <= no[i][1]) return false;
  return r <= 0x10FFFF;
}


static bool is_space(uint32_t r) { return r == ' ' || r == '\t'; }
static bool is_newline(uint32_t r) { return r == '\r' || r == '\n'; }
static bool is_alpha(uint32_t r) { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }


/* {=====================================================================
   The command list
   ====================================================================== */

ty_modelfile *ty_modelfile_new(void) { return calloc(1, sizeof(ty_modelfile)); }


void ty_modelfile_free(ty_modelfile *mf) {
  if (mf == NULL) return;
  for (size_t i = 0; i < mf->n; i++) {
    free(mf->cmds[i].name);
    free(mf->cmds[i].args);
  }
  free(mf->cmds);
  free(mf);
}


static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}


/* Appends (name, args) unchecked; false when out of memory. */
static bool push(ty_modelfile *mf, const char *name, const char *args, size_t alen, size_t line) {
  char *n, *a;
  if (mf->n == mf->cap) {
    size_t cap = mf->cap ? mf->cap * 2 : 8;
    struct ty_mf_cmd *c = realloc(mf->cmds, cap * sizeof *c);
    if (c == NULL) return false;
    mf->cmds = c;
    mf->cap = cap;
  }
  n = dup_n(name, strlen(name));
  a = dup_n(args, alen);
  if (n == NULL || a == NULL) {
    free(n);
    free(a);
    return false;
  }
  mf->cmds[mf->n++] = (struct ty_mf_cmd){ n, a, line };
  return true;
}


const char *ty_modelfile_get(const ty_modelfile *mf, const char *name) {
  for (size_t i = mf->n; i > 0; i--)
    if (strcmp(mf->cmds[i - 1].name, name) == 0) return mf->cmds[i - 1].args;
  return NULL;
}


/* {=====================================================================
   Parameters: Ollama's api.Options and api.Runner (their json names and Go
   types), tycho's own, and the names Ollama's create warns about and drops.
   ====================================================================== */

static const struct param {
  const char *name;
  int type;
} params[] = {
  { "num_ctx", TY_MF_INT }, { "num_batch", TY_MF_INT }, { "num_gpu", TY_MF_INT },
  { "main_gpu", TY_MF_INT }, { "use_mmap", TY_MF_BOOL }, { "num_thread", TY_MF_INT },
  { "num_keep", TY_MF_INT }, { "seed", TY_MF_INT }, { "num_predict", TY_MF_INT },
  { "top_k", TY_MF_INT }, { "top_p", TY_MF_FLOAT }, { "min_p", TY_MF_FLOAT },
  { "typical_p", TY_MF_FLOAT }, { "repeat_last_n", TY_MF_INT }, { "temperature", TY_MF_FLOAT },
  { "repeat_penalty", TY_MF_FLOAT }, { "presence_penalty", TY_MF_FLOAT },
  { "frequency_penalty", TY_MF_FLOAT }, { "stop", TY_MF_STOP },
  { "kv_type", TY_MF_STRING }, { "devices", TY_MF_STRING }, { "split", TY_MF_STRING },
  { "penalize_newline", TY_MF_DEPRECATED }, { "low_vram", TY_MF_DEPRECATED },
  { "f16_kv", TY_MF_DEPRECATED }, { "logits_all", TY_MF_DEPRECATED },
  { "vocab_only", TY_MF_DEPRECATED }, { "use_mlock", TY_MF_DEPRECATED },
  { "mirostat", TY_MF_DEPRECATED }, { "mirostat_tau", TY_MF_DEPRECATED },
  { "mirostat_eta", TY_MF_DEPRECATED },
};
#define N_PARAMS (sizeof params / sizeof params[0])


int ty_modelfile_param_type(const char *name) {
  for (size_t i = 0; i < N_PARAMS; i++)
    if (strcmp(params[i].name, name) == 0) return params[i].type;
  return -1;
}


const char *ty_modelfile_param_name(size_t i) { return i < N_PARAMS ? params[i].name : NULL; }


/* The instructions, as Ollama's isValidCommand lists them. */
static const char *const instructions[] = {
  "from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
  "parameter", "message", "requires", NULL
};


static bool is_instruction(const char *s) {
  for (int i = 0; instructions[i] != NULL; i++)
    if (strcasecmp(s, instructions[i]) == 0) return true;
  return false;
}


bool ty_modelfile_parse_int(const char *s, int64_t *v) {
  const char *p = s + (*s == '+' || *s == '-');
  char *end;
  long long x;
  if (!isdigit((unsigned char)*p)) return false;
  for (const char *q = p; *q; q++)
    if (!isdigit((unsigned char)*q)) return false;
  errno = 0;
  x = strtoll(s, &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *v = x;
  return true;
}


/* Whether s has Go's float syntax: decimal ([+-] digits [. digits] [e[+-]digits],
   a digit on one side of the point) or hexadecimal (0x mantissa p exponent).
   Go's inf/nan spellings are left out: JSON cannot hold them, so Ollama's
   create fails on them anyway. */
static bool float_syntax(const char *s) {
  bool hex = false, digits = false;
  if (*s == '+' || *s == '-') s++;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) hex = true, s += 2;
  for (; hex ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s); s++) digits = true;
  if (*s == '.')
    for (s++; hex ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s); s++) digits = true;
  if (!digits) return false;
  if (*s == (hex ? 'p' : 'e') || *s == (hex ? 'P' : 'E')) {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s)) s++;
  } else if (hex) {
    return false;                      /* Go needs the p exponent */
  }
  return *s == '\0';
}


bool ty_modelfile_parse_float(const char *s, double *v) {
  if (!float_syntax(s)) return false;
  float f = strtof(s, NULL);
  if (isinf(f)) return false;          /* out of float32 range: Go's ErrRange */
  *v = strtod(s, NULL);
  return true;
}


bool ty_modelfile_parse_bool(const char *s, bool *v) {
  static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };
  for (int i = 0; i < 6; i++) {
    if (strcmp(s, t[i]) == 0) return *v = true, true;
    if (strcmp(s, f[i]) == 0) return *v = false, true;
  }
  return false;
}


/* golang.org/x/mod/semver's IsValid for "v" + s (Ollama adds the v unless
   s has one): vMAJOR[.MINOR[.PATCH[-pre][+build]]], no leading zeros. */
static bool semver_num(const char **s) {
  const char *p = *s;
  if (!isdigit((unsigned char)*p)) return false;
  if (*p == '0' && isdigit((unsigned char)p[1])) return false;
  while (isdigit((unsigned char)*p)) p++;
  *s = p;
  return true;
}


/* Dot-separated identifiers of [0-9A-Za-z-], none empty; numeric ones of a
   prerelease without leading zeros. Stops at stop ('+' or NUL). */
static bool semver_idents(const char **s, char stop, bool prerelease) {
  const char *p = *s, *start = p;
  for (;; p++) {
    if (*p == '.' || *p == stop || *p == '\0') {
      bool num = p > start;
      if (p == start) return false;
      for (const char *q = start; q < p; q++) num = num && isdigit((unsigned char)*q);
      if (prerelease && num && p - start > 1 && *start == '0') return false;
      if (*p != '.') break;
      start = p + 1;
    } else if (!isalnum((unsigned char)*p) && *p != '-') {
      return false;
    }
  }
  *s = p;
  return true;
}


static bool semver_valid(const char *s) {
  if (*s == 'v') s++;
  if (!semver_num(&s)) return false;
  if (*s == '\0') return true;
  if (*s++ != '.' || !semver_num(&s)) return false;
  if (*s == '\0') return true;
  if (*s++ != '.' || !semver_num(&s)) return false;
  if (*s == '-' && (s++, !semver_idents(&s, '+', true))) return false;
  if (*s == '+' && (s++, !semver_idents(&s, '\0', false))) return false;
  return *s == '\0';
}


/* "3,1": llama.cpp's tensor_split, one non-negative proportion per device. */
static bool split_valid(const char *s) {
  int n = 0;
  for (;;) {
    char *end;
    double x;
    if (!isdigit((unsigned char)*s) && *s != '.') return false;
    x = strtod(s, &end);
    if (end == s || !(x >= 0) || isinf(x) || ++n > TY_PLAN_MAX_DEV) return false;
    s = end;
    if (*s == '\0') return true;
    if (*s++ != ',') return false;
  }
}


/* Edit distance of a and b, capped: used to suggest a parameter name. */
static int distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  int row[40];
  if (la >= 40 || lb >= 40) return 99;
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}


/* At most 40 bytes of s[0..n) for a one-line message: cut on a UTF-8
   boundary with "...", line breaks and tabs shown as \n, \r, \t. */
static const char *clip(const char *s, size_t n, char out[96]) {
  size_t o = 0, k = n > 40 ? 40 : n;
  while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  for (size_t i = 0; i < k; i++) {
    const char *e = s[i] == '\n' ? "\\n" : s[i] == '\r' ? "\\r" : s[i] == '\t' ? "\\t" : NULL;
    if (e != NULL) out[o++] = e[0], out[o++] = e[1];
    else out[o++] = s[i];
  }
  if (k < n) memcpy(out + o, "...", 3), o += 3;
  out[o] = '\0';
  return out;
}


static bool valid_role(const char *r, size_t n) {
  return (n == 6 && memcmp(r, "system", 6) == 0) || (n == 4 && memcmp(r, "user", 4) == 0) ||
         (n == 9 && memcmp(r, "assistant", 9) == 0);
}


static const char *const value_commands[] = {
  "model", "adapter", "license", "template", "system", "requires", "draft", "renderer",
  "parser", NULL
};


/* Checks one command's name and value as `ollama create` would (plus tycho's
   parameters). The message names no line; callers add one. */
static ty_status check_cmd(const char *name, const char *args, ty_err *err) {
  char c1[96];
  int type;
  for (int i = 0; value_commands[i] != NULL; i++) {
    if (strcmp(name, value_commands[i]) != 0) continue;
    if (strcmp(name, "requires") == 0 && !semver_valid(args))
      return ty_err_set(err, TY_ERR_FORMAT, "REQUIRES must be a version like 0.14.0, not '%s'",
                        clip(args, strlen(args), c1));
    return TY_OK;
  }
  if (strcmp(name, "message") == 0) {
    const char *colon = strstr(args, ": ");
    size_t n = colon ? (size_t)(colon - args) : strlen(args);
    if (!valid_role(args, n))
      return ty_err_set(err, TY_ERR_FORMAT, "message role must be system, user or assistant, not '%s'",
                        clip(args, n, c1));
    return TY_OK;
  }
  if ((type = ty_modelfile_param_type(name)) < 0) {
    const char *best = NULL;
    int bd = 3;
    for (size_t i = 0; i < N_PARAMS; i++) {
      int d = distance(name, params[i].name);
      if (d < bd) bd = d, best = params[i].name;
    }
    if (best != NULL)
      return ty_err_set(err, TY_ERR_FORMAT, "unknown parameter '%s' (did you mean '%s'?)",
                        clip(name, strlen(name), c1), best);
    return ty_err_set(err, TY_ERR_FORMAT, "unknown parameter '%s'", clip(name, strlen(name), c1));
  }
  switch (type) {
    case TY_MF_INT: {
      int64_t v;
      if (!ty_modelfile_parse_int(args, &v))
        return ty_err_set(err, TY_ERR_FORMAT, "parameter '%s' must be an integer, not '%s'",
                          name, clip(args, strlen(args), c1));
      break;
    }
    case TY_MF_FLOAT: {
      double v;
      if (!ty_modelfile_parse_float(args, &v))
        return ty_err_set(err, TY_ERR_FORMAT, "parameter '%s' must be a number, not '%s'",
                          name, clip(args, strlen(args), c1));
      break;
    }
    case TY_MF_BOOL: {
      bool v;
      if (!ty_modelfile_parse_bool(args, &v))
        return ty_err_set(err, TY_ERR_FORMAT, "parameter '%s' must be true or false, not '%s'",
                          name, clip(args, strlen(args), c1));
      break;
    }
    case TY_MF_STRING:
      if (strcmp(name, "kv_type") == 0 && strcmp(args, "f16") != 0 && strcmp(args, "f32") != 0 &&
          strcmp(args, "q8_0") != 0)
        return ty_err_set(err, TY_ERR_FORMAT, "parameter 'kv_type' must be f16, f32 or q8_0, not '%s'",
                          clip(args, strlen(args), c1));
      if (strcmp(name, "split") == 0 && !split_valid(args))
        return ty_err_set(err, TY_ERR_FORMAT,
                          "parameter 'split' must be proportions like 3,1 (up to %d), not '%s'",
                          TY_PLAN_MAX_DEV, clip(args, strlen(args), c1));
      if (strcmp(name, "devices") == 0) {
        struct ty_plan_device devs[TY_PLAN_MAX_DEV];
        int n = 0;
        ty_err e;
        if (ty_plan_parse_devices(args, devs, TY_PLAN_MAX_DEV, &n, &e) != TY_OK)
          return ty_err_set(err, TY_ERR_FORMAT, "parameter 'devices': %s", e.msg);
      }
      break;
    default:                           /* stop: any text; deprecated: ignored */
      break;
  }
  return TY_OK;
}


/* {=====================================================================
   The parser: Ollama's ParseFile and parseRuneForState
   ====================================================================== */

enum state { S_NIL, S_NAME, S_VALUE, S_PARAMETER, S_MESSAGE, S_COMMENT };

enum step_err { E_NONE, E_COMMAND, E_EOF };


/* parseRuneForState: the next state for rune *r in state cs; *r becomes 0
   where Ollama drops the rune. */
static enum state step(uint32_t *r, enum state cs, enum step_err *e) {
  uint32_t c = *r;
  *e = E_NONE;
  switch (cs) {
    case S_NIL:
      if (c == '#') return *r = 0, S_COMMENT;
      if (is_space(c) || is_newline(c)) return *r = 0, S_NIL;
      return S_NAME;
    case S_NAME:
      if (is_alpha(c)) return S_NAME;
      if (is_space(c)) return *r = 0, S_VALUE;
      *e = E_COMMAND;
      return S_NIL;
    case S_VALUE:
      if (is_newline(c) || is_space(c)) return S_NIL;
      return S_VALUE;
    case S_PARAMETER:
      if (is_alpha(c) || (c >= '0' && c <= '9') || c == '_') return S_PARAMETER;
      if (is_space(c)) return *r = 0, S_VALUE;
      *e = E_EOF;
      return S_NIL;
    case S_MESSAGE:
      if (is_alpha(c)) return S_MESSAGE;
      if (is_space(c)) return *r = 0, S_VALUE;
      *e = E_EOF;
      return S_NIL;
    case S_COMMENT:
      *r = 0;
      return is_newline(c) ? S_NIL : S_COMMENT;
  }
  return S_NIL;
}


/* The value buffer, with the bounds of strings.TrimSpace(b) kept as bytes
   arrive so that the "does the quote close here" test at each line end is
   O(1) (a long LICENSE would otherwise be quadratic). */
struct value {
  struct buf b;
  size_t first, end;         /* b.p[first..end) is the trimmed value; first == end: empty */
  bool any;
};


static void value_add(struct value *v, uint32_t r) {
  size_t at = v->b.n;
  buf_rune(&v->b, r);
  if (!is_ws((char)(r < 0x80 ? r : 'x'))) {
    if (!v->any) v->first = at, v->any = true;
    v->end = v->b.n;
  }
}


static void value_reset(struct value *v) {
  v->b.n = 0;
  v->b.p[0] = '\0';
  v->first = v->end = 0;
  v->any = false;
}


/* Ollama's unquote over s[0..n): true when the value is complete (plain, or
   its quote closed), with its content in *c (length *cn). */
static bool unquote(const char *s, size_t n, const char **c, size_t *cn) {
  if (n >= 3 && memcmp(s, "\"\"\"", 3) == 0) {
    if (n >= 6 && memcmp(s + n - 3, "\"\"\"", 3) == 0) return *c = s + 3, *cn = n - 6, true;
    return false;
  }
  if (n >= 1 && s[0] == '"') {
    if (n >= 2 && s[n - 1] == '"') return *c = s + 1, *cn = n - 2, true;
    return false;
  }
  return *c = s, *cn = n, true;
}


static bool value_done(const struct value *v, const char **c, size_t *cn) {
  return unquote(v->b.p + v->first, v->end - v->first, c, cn);
}


struct parser {
  const char *name;          /* for messages */
  ty_modelfile *mf;
  ty_err *err;
};


/* Sets a parse error "NAME:LINE: msg" (no line when line is 0). */
static ty_status perr(struct parser *p, size_t line, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;
static ty_status perr(struct parser *p, size_t line, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) return ty_err_set(p->err, TY_ERR_FORMAT, "%s:%zu: %s", p->name, line, msg);
  return ty_err_set(p->err, TY_ERR_FORMAT, "%s: %s", p->name, msg);
}


/* Ends a value: appends (cmd, [role + ": "] content). */
static ty_status finish(struct parser *p, const char *cmd, struct buf *role, const char *c,
                        size_t cn, size_t line) {
  struct buf a = { 0 };
  bool ok;
  if (role->n > 0) {
    buf_add(&a, role->p, role->n);
    buf_add(&a, ": ", 2);
  }
  buf_add(&a, c, cn);
  ok = !a.oom && push(p->mf, cmd, a.p ? a.p : "", a.n, line);
  free(a.p);
  role->n = 0;
  return ok ? TY_OK : ty_err_set(p->err, TY_ERR_NOMEM, "%s: out of memory", p->name);
}


/* The error for a name that is not an instruction: reads the rest of the
   word from s so the message shows it whole. */
static ty_status bad_instruction(struct parser *p, struct buf *name, uint32_t r, struct src *s,
                                 size_t line) {
  while (!is_space(r) && !is_newline(r) && name->n < 40) {
    if (is_print(r)) buf_rune(name, r);
    if (!src_next(s, &r)) break;
  }
  if (name->oom) return ty_err_set(p->err, TY_ERR_NOMEM, "%s: out of memory", p->name);
  if (is_instruction(name->p)) return perr(p, line, "%s needs a value", name->p);
  return perr(p, line, "unknown instruction '%s' (expected FROM, PARAMETER, TEMPLATE, SYSTEM, "
              "ADAPTER, LICENSE, MESSAGE or REQUIRES)", name->p);
}


static ty_status parse(struct parser *p, const char *text, size_t len) {
  struct src s;
  enum state curr = S_NIL;
  struct value v = { 0 };
  struct buf name = { 0 }, role = { 0 };
  char cmd[64] = "", cb[96];
  size_t line = 1, cmd_line = 0;
  uint32_t r, prev = 0;
  ty_status st = TY_OK;
  src_init(&s, text, len);
  buf_add(&name, "", 0);               /* the buffers hold a string from the start */
  buf_add(&v.b, "", 0);
  buf_add(&role, "", 0);
  while (st == TY_OK && src_next(&s, &r)) {
    size_t at = line;                  /* the line this rune is on */
    enum step_err e;
    enum state next;
    if (r == '\r' || (r == '\n' && prev != '\r')) line++;
    prev = r;
    next = step(&r, curr, &e);
    if (e == E_COMMAND) {
      st = bad_instruction(p, &name, r, &s, at);
      break;
    }
    if (e == E_EOF) {
      if (curr == S_PARAMETER && !is_newline(r))
        st = perr(p, at, "parameter name '%s' may have only letters, digits and _",
                  clip(name.p, name.n, cb));
      else if (curr == S_PARAMETER && name.n > 0)
        st = perr(p, at, "PARAMETER %s needs a value", clip(name.p, name.n, cb));
      else if (curr == S_PARAMETER)
        st = perr(p, at, "PARAMETER needs a name and a value");
      else
        st = is_newline(r) ? perr(p, at, "MESSAGE needs a role and a content")
                           : perr(p, at, "message role must be system, user or assistant");
      break;
    }
    if (next != curr) {
      const char *c;
      size_t cn;
      switch (curr) {
        case S_NAME:
          if (!is_instruction(name.p)) {
            st = bad_instruction(p, &name, ' ', &s, at);
            continue;
          }
          for (size_t i = 0; i <= name.n; i++) cmd[i] = (char)tolower((unsigned char)name.p[i]);
          if (strcmp(cmd, "from") == 0) strcpy(cmd, "model");
          else if (strcmp(cmd, "parameter") == 0) next = S_PARAMETER;
          else if (strcmp(cmd, "message") == 0) next = S_MESSAGE;
          break;
        case S_PARAMETER:
          if (name.n >= sizeof cmd) {
            st = perr(p, at, "parameter name '%s' is too long", clip(name.p, name.n, cb));
            continue;
          }
          memcpy(cmd, name.p, name.n + 1);
          break;
        case S_MESSAGE:
          if (!valid_role(name.p, name.n)) {
            st = perr(p, at, "message role must be system, user or assistant, not '%s'",
                      clip(name.p, name.n, cb));
            continue;
          }
          buf_add(&role, name.p, name.n);
          break;
        case S_VALUE:
          if (!value_done(&v, &c, &cn) || is_space(r)) {
            value_add(&v, r);
            continue;
          }
          st = finish(p, cmd, &role, c, cn, cmd_line);
          break;
        default:                       /* S_NIL, S_COMMENT */
          if (next == S_NAME) cmd_line = at;
          break;
      }
      name.n = 0;
      name.p[0] = '\0';
      value_reset(&v);
      curr = next;
    }
    if (r != 0 && is_print(r)) {
      if (curr == S_VALUE) value_add(&v, r);
      else if (name.n < 4096) buf_rune(&name, r);   /* names are short; bound the buffer */
    }
  }
  if (st == TY_OK && (v.b.oom || name.oom || role.oom))
    st = ty_err_set(p->err, TY_ERR_NOMEM, "%s: out of memory", p->name);
  if (st == TY_OK) {
    const char *c;
    size_t cn;
    switch (curr) {
      case S_NIL: case S_COMMENT: break;
      case S_VALUE:
        if (!value_done(&v, &c, &cn))
          st = perr(p, cmd_line, "the quoted value never ends (a closing %s is missing)",
                    v.end - v.first >= 3 && memcmp(v.b.p + v.first, "\"\"\"", 3) == 0 ? "\"\"\"" : "\"");
        else
          st = finish(p, cmd, &role, c, cn, cmd_line);
        break;
      case S_NAME:
        st = bad_instruction(p, &name, '\n', &s, cmd_line);
        break;
      case S_PARAMETER:
        st = perr(p, cmd_line, "PARAMETER needs a name and a value");
        break;
      case S_MESSAGE:
        st = perr(p, cmd_line, "MESSAGE needs a role and a content");
        break;
    }
  }
  free(v.b.p);
  free(name.p);
  free(role.p);
  if (st == TY_OK && ty_modelfile_get(p->mf, "model") == NULL)
    st = perr(p, 0, "no FROM line (a Modelfile starts from a model: FROM llama3.2)");
  return st;
}


ty_status ty_modelfile_parse_raw(const char *text, size_t len, const char *name,
                                 ty_modelfile **out, ty_err *err) {
  struct parser p = { name ? name : "Modelfile", ty_modelfile_new(), err };
  *out = NULL;
  if (p.mf == NULL) return ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", p.name);
  if (parse(&p, text, len) != TY_OK) {
    ty_modelfile_free(p.mf);
    return err->code;
  }
  *out = p.mf;
  return TY_OK;
}


ty_status ty_modelfile_check(const ty_modelfile *mf, const char *name, ty_err *err) {
  ty_err e;
  name = name ? name : "Modelfile";
  for (size_t i = 0; i < mf->n; i++) {
    if (check_cmd(mf->cmds[i].name, mf->cmds[i].args, &e) == TY_OK) continue;
    if (mf->cmds[i].line > 0)
      return ty_err_set(err, e.code, "%s:%zu: %s", name, mf->cmds[i].line, e.msg);
    return ty_err_set(err, e.code, "%s: %s", name, e.msg);
  }
  return TY_OK;
}


ty_status ty_modelfile_parse(const char *text, size_t len, const char *name,
                             ty_modelfile **out, ty_err *err) {
  if (ty_modelfile_parse_raw(text, len, name, out, err) != TY_OK) return err->code;
  if (ty_modelfile_check(*out, name, err) != TY_OK) {
    ty_modelfile_free(*out);
    *out = NULL;
    return err->code;
  }
  return TY_OK;
}


ty_status ty_modelfile_read(const char *path, ty_modelfile **out, ty_err *err) {
  FILE *f = fopen(path, "rb");
  struct buf b = { 0 };
  char chunk[65536];
  size_t n;
  ty_status st;
  *out = NULL;
  if (f == NULL) return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.n <= MAX_FILE) buf_add(&b, chunk, n);
  if (ferror(f)) {
    st = ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  } else if (b.n > MAX_FILE) {
    st = ty_err_set(err, TY_ERR_FORMAT, "%s: larger than %u MiB: not a Modelfile", path, MAX_FILE >> 20);
  } else if (b.oom) {
    st = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory", path);
  } else {
    st = ty_modelfile_parse(b.p ? b.p : "", b.n, path, out, err);
  }
  fclose(f);
  free(b.p);
  return st;
}


/* {=====================================================================
   Writing: Ollama's Command.String() and quote(), made total. Ollama quotes
   a value that has a newline or a leading/trailing space, with """ when it
   holds a ", else "; other values go out plain. Where that text would read
   back differently (a value starting with ", a tab at an end, a line inside
   that ends in the closing quote) tycho picks the form that reads back, and
   refuses the few values no form can hold.
   ====================================================================== */

enum form { F_PLAIN, F_QUOTE, F_TRIPLE, F_NONE };


/* Byte k of Q s Q, where Q is ql quotes. */
static char qch(const char *s, size_t n, size_t ql, size_t k) {
  return k < ql || k >= ql + n ? '"' : s[k - ql];
}


/* Whether Q s Q (Q one or three quotes) read back by the parser gives s:
   at no line end inside may the trimmed text so far close as a value
   (Ollama's unquote), and the whole must open and close with Q. */
static bool quoted_ok(const char *s, size_t n, size_t ql) {
  size_t last = ql - 1;                /* the last non-space byte so far */
  if (ql == 1 && n >= 1 && s[0] == '"' && (n == 1 || s[1] == '"')) return false;  /* opens as """ */
  for (size_t k = ql; k < ql + n; k++) {
    char ch = s[k - ql];
    if (ch == '\n' || ch == '\r') {
      size_t len = last + 1;           /* the trimmed text is Q s up to last */
      bool triple = len >= 3 && qch(s, n, ql, 1) == '"' && qch(s, n, ql, 2) == '"';
      if (triple && len >= 6 && qch(s, n, ql, len - 1) == '"' && qch(s, n, ql, len - 2) == '"' &&
          qch(s, n, ql, len - 3) == '"')
        return false;
      if (!triple && len >= 2 && qch(s, n, ql, len - 1) == '"') return false;
    }
    if (!is_ws(ch)) last = k;
  }
  return true;
}


static enum form form_of(const char *s) {
  size_t n = strlen(s);
  bool nl = strchr(s, '\n') != NULL, cr = strchr(s, '\r') != NULL, dq = strchr(s, '"') != NULL;
  bool ollama_quotes = nl || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));
  bool plain_ok = !nl && !cr && (n == 0 || (!is_ws(s[0]) && s[0] != '"' && !is_ws(s[n - 1])));
  if (!ollama_quotes && plain_ok) return F_PLAIN;
  if (dq && quoted_ok(s, n, 3)) return F_TRIPLE;
  if (quoted_ok(s, n, 1)) return F_QUOTE;
  if (quoted_ok(s, n, 3)) return F_TRIPLE;
  return F_NONE;
}


static void put_value(struct buf *b, const char *s) {
  switch (form_of(s)) {
    case F_TRIPLE: buf_str(b, "\"\"\""); buf_str(b, s); buf_str(b, "\"\"\""); break;
    case F_QUOTE: buf_ch(b, '"'); buf_str(b, s); buf_ch(b, '"'); break;
    default: buf_str(b, s); break;
  }
}


/* Whether every rune of s survives the parser: valid UTF-8, printable, or a
   space, tab or line break. */
static bool text_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), w;
  for (size_t i = 0; i < n; i += w) {
    uint32_t r = utf8_rune(p + i, n - i, &w);
    if (r == 0xFFFD && w == 1) return false;                    /* an invalid byte */
    if (!is_print(r) && !is_space(r) && !is_newline(r)) return false;
  }
  return true;
}


ty_status ty_modelfile_add(ty_modelfile *mf, const char *name, const char *args, ty_err *err) {
  const char *content = args;
  char c1[96];
  if (check_cmd(name, args, err) != TY_OK) return err->code;
  if (strcmp(name, "message") == 0) {
    const char *colon = strstr(args, ": ");
    content = colon ? colon + 2 : "";
    if (colon == NULL)
      return ty_err_set(err, TY_ERR_ARG, "a message is \"role: content\", not '%s'",
                        clip(args, strlen(args), c1));
  }
  if (!text_ok(content) || form_of(content) == F_NONE)
    return ty_err_set(err, TY_ERR_ARG, "the value of %s '%s' cannot be written in a Modelfile "
                      "(control characters, invalid UTF-8, or quotes no quoting survives)",
                      ty_modelfile_param_type(name) >= 0 ? "parameter" : "instruction",
                      clip(name, strlen(name), c1));
  if (!push(mf, name, args, strlen(args), 0)) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  return TY_OK;
}


/* Ollama's Command.String: these names go out as their instruction, every
   other name (even "from" or "parameter") as a PARAMETER. */
static bool is_value_command(const char *name) {
  for (int i = 1; value_commands[i] != NULL; i++)        /* [0] is "model": FROM */
    if (strcmp(name, value_commands[i]) == 0) return true;
  return false;
}


ty_status ty_modelfile_write(const ty_modelfile *mf, char **out, size_t *len, ty_err *err) {
  struct buf b = { 0 };
  buf_add(&b, "", 0);
  for (size_t i = 0; i < mf->n; i++) {
    const struct ty_mf_cmd *c = &mf->cmds[i];
    if (strcmp(c->name, "model") == 0) {
      buf_str(&b, "FROM ");
      put_value(&b, c->args);
    } else if (strcmp(c->name, "message") == 0) {
      const char *colon = strstr(c->args, ": ");
      size_t rn = colon ? (size_t)(colon - c->args) : strlen(c->args);
      buf_str(&b, "MESSAGE ");
      buf_add(&b, c->args, rn);
      buf_ch(&b, ' ');
      put_value(&b, colon ? colon + 2 : "");
    } else if (is_value_command(c->name)) {
      for (const char *q = c->name; *q; q++) buf_ch(&b, (char)toupper((unsigned char)*q));
      buf_ch(&b, ' ');
      put_value(&b, c->args);
    } else {
      buf_str(&b, "PARAMETER ");
      buf_str(&b, c->name);
      buf_ch(&b, ' ');
      put_value(&b, c->args);
    }
    buf_ch(&b, '\n');
  }
  if (b.oom) {
    free(b.p);
    return ty_err_set(err, TY_ERR_NOMEM, "writing a Modelfile: out of memory");
  }
  *out = b.p;
  *len = b.n;
  return TY_OK;
}


ty_status ty_modelfile_save(const ty_modelfile *mf, const char *path, ty_err *err) {
  char *text;
  size_t n;
  FILE *f;
  bool ok;
  if (ty_modelfile_write(mf, &text, &n, err) != TY_OK) return err->code;
  if ((f = fopen(path, "wb")) == NULL) {
    free(text);
    return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  }
  ok = fwrite(text, 1, n, f) == n;
  ok = (fclose(f) == 0) && ok;
  free(text);
  if (!ok) return ty_err_set(err, TY_ERR_IO, "%s: %s", path, strerror(errno));
  return TY_OK;
}


/* {=====================================================================
   JSON as Ollama's create stores it. The client sends the typed parameters
   (float32, int64, bool, []string) to the server as JSON; the server decodes
   them into float64s and encodes the map again with Go's json.Encoder: keys
   sorted, numbers in float64's shortest form, HTML characters escaped, a
   newline at the end.
   ====================================================================== */

/* Go's encoding/json string: ", \ and \n \r \t short, other controls \u00XX,
   <, >, & as \u003c.. (SetEscapeHTML is on by default). Go also escapes
   U+2028/9, which no value holds (not printable: the parser drops them). */
static void json_string(struct buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  buf_ch(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char e[7] = "\\u00";
    switch (*p) {
      case '"': buf_str(b, "\\\""); continue;
      case '\\': buf_str(b, "\\\\"); continue;
      case '\n': buf_str(b, "\\n"); continue;
      case '\r': buf_str(b, "\\r"); continue;
      case '\t': buf_str(b, "\\t"); continue;
      case '<': case '>': case '&': break;
      default:
        if (*p >= 0x20) {
          buf_ch(b, (char)*p);
          continue;
        }
    }
    e[4] = hex[*p >> 4];
    e[5] = hex[*p & 15];
    e[6] = '\0';
    buf_str(b, e);
  }
  buf_ch(b, '"');
}


/* v as Go's json writes a float64 whose shortest decimal digits are those of
   v as a float32 (f32) or as a double: plain 'f' notation, 'e' below 1e-6 or
   from 1e21 ("1e-7", "1e+21"). */
static void json_number(struct buf *b, double v, bool f32) {
  char e[40], digits[24], out[64];
  int p, exp, nd = 0;
  size_t o = 0;
  double shown;
  if (v == 0) {
    buf_str(b, signbit(v) ? "-0" : "0");
    return;
  }
  for (p = 1; p < 17; p++) {           /* the fewest digits that read back */
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    if (f32 ? strtof(e, NULL) == (float)v : strtod(e, NULL) == v) break;
  }
  snprintf(e, sizeof e, "%.*e", p - 1, v);
  for (char *q = e; *q && *q != 'e'; q++)
    if (isdigit((unsigned char)*q)) digits[nd++] = *q;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = '\0';
  exp = atoi(strchr(e, 'e') + 1);
  shown = fabs(strtod(e, NULL));       /* the float64 the server decoded */
  if (v < 0) out[o++] = '-';
  if (shown < 1e-6 || shown >= 1e21) {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      memcpy(out + o, digits + 1, nd - 1);
      o += nd - 1;
    }
    o += snprintf(out + o, sizeof out - o, exp < 0 ? "e-%d" : "e+%02d", abs(exp));
  } else if (exp < 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
    memcpy(out + o, digits, nd);
    o += nd;
  } else {
    for (int i = 0; i <= exp; i++) out[o++] = i < nd ? digits[i] : '0';
    if (nd > exp + 1) {
      out[o++] = '.';
      memcpy(out + o, digits + exp + 1, nd - exp - 1);
      o += nd - exp - 1;
    }
  }
  buf_add(b, out, o);
}


ty_status ty_modelfile_params_json(const ty_modelfile *mf, char **out, size_t *len, ty_err *err) {
  struct buf b = { 0 };
  const struct param *order[N_PARAMS];
  size_t n = 0;
  *out = NULL;
  *len = 0;
  /* the parameters present, sorted by name as Go sorts map keys */
  for (size_t i = 0; i < N_PARAMS; i++)
    if (params[i].type != TY_MF_DEPRECATED && ty_modelfile_get(mf, params[i].name) != NULL)
      order[n++] = &params[i];
  if (n == 0) return TY_OK;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(order[j - 1]->name, order[j]->name) > 0; j--) {
      const struct param *t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  buf_ch(&b, '{');
  for (size_t i = 0; i < n; i++) {
    const char *v = ty_modelfile_get(mf, order[i]->name);
    if (i > 0) buf_ch(&b, ',');
    json_string(&b, order[i]->name);
    buf_ch(&b, ':');
    switch (order[i]->type) {
      case TY_MF_INT: {
        int64_t x = 0;
        ty_modelfile_parse_int(v, &x);
        json_number(&b, (double)x, false);
        break;
      }
      case TY_MF_FLOAT: {
        double x = 0;
        ty_modelfile_parse_float(v, &x);
        json_number(&b, (float)x, true);
        break;
      }
      case TY_MF_BOOL: {
        bool x = false;
        ty_modelfile_parse_bool(v, &x);
        buf_str(&b, x ? "true" : "false");
        break;
      }
      case TY_MF_STOP: {
        bool first = true;
        buf_ch(&b, '[');
        for (size_t k = 0; k < mf->n; k++) {
          if (strcmp(mf->cmds[k].name, "stop") != 0) continue;
          if (!first) buf_ch(&b, ',');
          json_string(&b, mf->cmds[k].args);
          first = false;
        }
        buf_ch(&b, ']');
        break;
      }
      default:
        json_string(&b, v);
    }
  }
  buf_str(&b, "}\n");
  if (b.oom) {
    free(b.p);
    return ty_err_set(err, TY_ERR_NOMEM, "params JSON: out of memory");
  }
  *out = b.p;
  *len = b.n;
  return TY_OK;
}


ty_status ty_modelfile_messages_json(const ty_modelfile *mf, char **out, size_t *len, ty_err *err) {
  struct buf b = { 0 };
  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < mf->n; i++) {
    const char *a = mf->cmds[i].args, *colon;
    if (strcmp(mf->cmds[i].name, "message") != 0) continue;
    buf_str(&b, b.n == 0 ? "[{\"role\":" : ",{\"role\":");
    /* Ollama splits "role: content" at the first ": " (strings.Cut) */
    colon = strstr(a, ": ");
    {
      char *role = dup_n(a, colon ? (size_t)(colon - a) : strlen(a));
      if (role == NULL) b.oom = true;
      else json_string(&b, role);
      free(role);
    }
    buf_str(&b, ",\"content\":");
    json_string(&b, colon ? colon + 2 : "");
    buf_ch(&b, '}');
  }
  if (b.n == 0) return TY_OK;
  buf_str(&b, "]\n");
  if (b.oom) {
    free(b.p);
    return ty_err_set(err, TY_ERR_NOMEM, "messages JSON: out of memory");
  }
  *out = b.p;
  *len = b.n;
  return TY_OK;
}
