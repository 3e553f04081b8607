/*
 * template_parse.c: lexer and parser for Go's text/template language, as
 * Ollama's chat templates use it. Builds the node tree declared in template.h in
 * an arena; checks functions and variables at parse time as Go does.
 */
#define TY_TMPL_IMPL
#include "template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  T_EOF, T_RDELIM, T_IDENT, T_FIELD, T_DOT, T_VAR, T_STRING, T_RAW, T_CHAR,
  T_NUMBER, T_LPAREN, T_RPAREN, T_PIPE, T_DECLARE, T_ASSIGN, T_COMMA
};

typedef struct {
  int t;
  size_t pos, len;       /* the token's bytes in the source */
  int space_before;      /* whitespace precedes it (breaks a field chain) */
  int trim;              /* T_RDELIM: " -}}" */
} tok;

typedef struct {
  const char *src;
  size_t len, pos;
  int trim_next;         /* the last action ended with " -}}" */
  tmpl_arena *ar;
  jmp_buf jb;
  ty_err *err;
  int depth, range_depth;
  size_t nvars;          /* variables in scope, "$" first */
  const char *vars[TMPL_MAX_VARS];
  size_t var_lens[TMPL_MAX_VARS];
} parser;

static const char *const func_names[] = {
  "and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt",
  "ge", "print", "printf", "println", "json", "currentDate", NULL
};


/* ========== positions and errors ========== */

/* Sets err to "template:LINE:COL: message" for byte pos of src. Control
   characters that a quoted piece of the template may bring into the message
   become '?', so the error stays one line. */
void tmpl_err_at(ty_err *err, const char *src, size_t len, size_t pos, const char *fmt, va_list ap) {
  char msg[200];
  size_t i, start = 0;
  int line = 1;
  vsnprintf(msg, sizeof msg, fmt, ap);
  for (i = 0; msg[i] != '\0'; i++)
    if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f) msg[i] = '?';
  if (pos > len)
    pos = len;
  for (i = 0; i < pos; i++)
    if (src[i] == '\n') {
      line++;
      start = i + 1;
    }
  ty_err_set(err, TY_ERR_FORMAT, "template:%d:%d: %s", line, (int)(pos - start) + 1, msg);
}


static void perr(parser *p, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4), noreturn))
#endif
  ;


/* Fills the error with the position and jumps out of the parse; everything
   parsed so far lives in the arena, which the caller frees. */
static void perr(parser *p, size_t pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tmpl_err_at(p->err, p->src, p->len, pos, fmt, ap);
  va_end(ap);
  longjmp(p->jb, 1);
}


static void *palloc(parser *p, size_t n) {
  void *v = tmpl_arena_alloc(p->ar, n);
  if (v == NULL) {
    ty_err_set(p->err, TY_ERR_NOMEM, "template: out of memory while parsing");
    longjmp(p->jb, 1);
  }
  return v;
}


/* Appends to an arena-backed pointer array, doubling it when full. */
static void push_ptr(parser *p, void ***items, size_t *n, size_t *cap, void *x) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 4;
    void **ni = palloc(p, nc * sizeof *ni);
    if (*n)
      memcpy(ni, *items, *n * sizeof *ni);
    *items = ni;
    *cap = nc;
  }
  (*items)[(*n)++] = x;
}


/* ========== lexer ========== */

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_alnum(int c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c >= 0x80;
}


static int at(parser *p, size_t i) { return i < p->len ? (unsigned char)p->src[i] : -1; }


static int starts(parser *p, size_t i, const char *s) {
  size_t n = strlen(s);
  return i <= p->len && p->len - i >= n && memcmp(p->src + i, s, n) == 0;
}


/* Reads the next token inside an action, moving p->pos past it. */
static tok lex(parser *p) {
  tok t;
  size_t i = p->pos;
  int c;
  memset(&t, 0, sizeof t);
  for (;;) {
    c = at(p, i);
    if (is_space(c)) {
      if (at(p, i + 1) == '-' && starts(p, i + 2, "}}")) {
        t.t = T_RDELIM; t.pos = i; t.len = 4; t.trim = 1;
        p->pos = i + 4;
        return t;
      }
      t.space_before = 1;
      i++;
      continue;
    }
    break;
  }
  t.pos = i;
  if (c < 0)
    perr(p, i, "unclosed action");
  if (starts(p, i, "}}")) {
    t.t = T_RDELIM; t.len = 2;
  } else if (c == '"') {
    size_t j = i + 1;
    for (;;) {
      int d = at(p, j);
      if (d < 0 || d == '\n')
        perr(p, i, "unterminated quoted string");
      if (d == '\\') {
        if (at(p, j + 1) < 0 || at(p, j + 1) == '\n')
          perr(p, i, "unterminated quoted string");
        j += 2;
        continue;
      }
      j++;
      if (d == '"')
        break;
    }
    t.t = T_STRING; t.len = j - i;
  } else if (c == '`') {
    const char *e = memchr(p->src + i + 1, '`', p->len - i - 1);
    if (e == NULL)
      perr(p, i, "unterminated raw quoted string");
    t.t = T_RAW; t.len = (size_t)(e - (p->src + i)) + 1;
  } else if (c == '\'') {
    size_t j = i + 1;
    for (;;) {
      int d = at(p, j);
      if (d < 0 || d == '\n')
        perr(p, i, "unterminated character constant");
      if (d == '\\') {
        j += 2;
        continue;
      }
      j++;
      if (d == '\'')
        break;
    }
    t.t = T_CHAR; t.len = j - i;
  } else if (c == '$') {
    size_t j = i + 1;
    while (is_alnum(at(p, j)))
      j++;
    t.t = T_VAR; t.len = j - i;
  } else if (c == '.' && at(p, i + 1) >= '0' && at(p, i + 1) <= '9') {
    goto number;
  } else if (c == '.') {
    size_t j = i + 1;
    while (is_alnum(at(p, j)))
      j++;
    t.t = j == i + 1 ? T_DOT : T_FIELD; t.len = j - i;
  } else if ((c >= '0' && c <= '9') ||
             ((c == '-' || c == '+') && (at(p, i + 1) >= '0' && at(p, i + 1) <= '9'))) {
    size_t j;
  number:
    j = i + 1;
    while (is_alnum(at(p, j)) || at(p, j) == '.' ||
           ((at(p, j) == '-' || at(p, j) == '+') && (at(p, j - 1) == 'e' || at(p, j - 1) == 'E' ||
                                                     at(p, j - 1) == 'p' || at(p, j - 1) == 'P')))
      j++;
    t.t = T_NUMBER; t.len = j - i;
  } else if (is_alnum(c)) {
    size_t j = i;
    while (is_alnum(at(p, j)))
      j++;
    t.t = T_IDENT; t.len = j - i;
  } else if (c == '(') {
    t.t = T_LPAREN; t.len = 1;
  } else if (c == ')') {
    t.t = T_RPAREN; t.len = 1;
  } else if (c == '|') {
    t.t = T_PIPE; t.len = 1;
  } else if (c == ',') {
    t.t = T_COMMA; t.len = 1;
  } else if (c == ':' && at(p, i + 1) == '=') {
    t.t = T_DECLARE; t.len = 2;
  } else if (c == '=') {
    t.t = T_ASSIGN; t.len = 1;
  } else if (c >= 0x20 && c < 0x7f) {
    perr(p, i, "unexpected '%c' in command", c);
  } else {
    perr(p, i, "unexpected byte 0x%02x in command", c);
  }
  p->pos = i + t.len;
  return t;
}


static tok peek(parser *p) {
  size_t save = p->pos;
  tok t = lex(p);
  p->pos = save;
  return t;
}


static int tok_is(parser *p, tok t, const char *word) {
  size_t n = strlen(word);
  return t.t == T_IDENT && t.len == n && memcmp(p->src + t.pos, word, n) == 0;
}


static const char *tok_name(int t) {
  static const char *const names[] = {
    "EOF", "}}", "identifier", "field", ".", "variable", "string", "raw string",
    "character", "number", "(", ")", "|", ":=", "=", ","
  };
  return names[t];
}


/* ========== literals ========== */

static size_t put_utf8(char *o, unsigned long r) {
  if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
    r = 0xFFFD;
  if (r < 0x80) { o[0] = (char)r; return 1; }
  if (r < 0x800) { o[0] = (char)(0xC0 | (r >> 6)); o[1] = (char)(0x80 | (r & 0x3F)); return 2; }
  if (r < 0x10000) {
    o[0] = (char)(0xE0 | (r >> 12)); o[1] = (char)(0x80 | ((r >> 6) & 0x3F));
    o[2] = (char)(0x80 | (r & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (r >> 18)); o[1] = (char)(0x80 | ((r >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((r >> 6) & 0x3F)); o[3] = (char)(0x80 | (r & 0x3F));
  return 4;
}


static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}


/* Decodes the Go escapes of a quoted string or char body [s, s+n) into o
   (at least n bytes); returns the decoded length. */
static size_t unquote(parser *p, size_t pos, const char *s, size_t n, char *o, char quote) {
  size_t i = 0, k = 0;
  while (i < n) {
    unsigned long r = 0;
    int digits = 0, j, base = 16;
    char c = s[i++];
    if (c != '\\') {
      o[k++] = c;
      continue;
    }
    if (i >= n)
      perr(p, pos, "bad escape in quoted string");
    c = s[i++];
    switch (c) {
      case 'a': o[k++] = '\a'; continue;
      case 'b': o[k++] = '\b'; continue;
      case 'f': o[k++] = '\f'; continue;
      case 'n': o[k++] = '\n'; continue;
      case 'r': o[k++] = '\r'; continue;
      case 't': o[k++] = '\t'; continue;
      case 'v': o[k++] = '\v'; continue;
      case '\\': o[k++] = '\\'; continue;
      case '"': case '\'':
        if (c != quote)
          perr(p, pos, "unknown escape sequence \\%c", c);
        o[k++] = c;
        continue;
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      default:
        if (c >= '0' && c <= '7') {
          digits = 3; base = 8; i--;
          break;
        }
        perr(p, pos, "unknown escape sequence \\%c", c);
    }
    if (n - i < (size_t)digits)
      perr(p, pos, "bad escape in quoted string");
    for (j = 0; j < digits; j++) {
      int h = hexval(s[i + j]);
      if (h < 0 || h >= base)
        perr(p, pos, "bad escape in quoted string");
      r = r * base + h;
    }
    i += digits;
    if (c == 'x' || base == 8) {
      if (r > 255)
        perr(p, pos, "octal escape value > 255");
      o[k++] = (char)r;
    } else {
      if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        perr(p, pos, "escape sequence is invalid Unicode code point");
      k += put_utf8(o + k, r);
    }
  }
  return k;
}


/* Parses a Go integer literal (decimal, 0x, 0o, 0b, old octal, '_'
   separators, sign); floats are refused since no chat template needs them. */
static long long parse_int(parser *p, tok t) {
  const char *s = p->src + t.pos;
  size_t n = t.len, i = 0;
  int neg = 0, base = 10;
  unsigned long long v = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) { base = 16; i += 2; }
  else if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) { base = 8; i += 2; }
  else if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'B')) { base = 2; i += 2; }
  else if (n - i >= 2 && s[i] == '0') { base = 8; i += 1; }
  if (i >= n)
    perr(p, t.pos, "bad number syntax: \"%.*s\"", (int)(n > 40 ? 40 : n), s);
  for (; i < n; i++) {
    int d;
    if (s[i] == '_')
      continue;
    d = hexval(s[i]);
    if (d < 0 || d >= base) {
      if (s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == 'i')
        perr(p, t.pos, "floating-point and complex numbers are not supported: \"%.*s\"",
             (int)(n > 40 ? 40 : n), s);
      perr(p, t.pos, "bad number syntax: \"%.*s\"", (int)(n > 40 ? 40 : n), s);
    }
    if (v > (0x7fffffffffffffffULL - (unsigned)d) / (unsigned)base)
      perr(p, t.pos, "number out of range: \"%.*s\"", (int)(n > 40 ? 40 : n), s);
    v = v * base + d;
  }
  return neg ? -(long long)v : (long long)v;
}


/* ========== parser ========== */

static void declare(parser *p, tok v) {
  if (p->nvars == TMPL_MAX_VARS)
    perr(p, v.pos, "too many variables");
  p->vars[p->nvars] = p->src + v.pos;
  p->var_lens[p->nvars] = v.len;
  p->nvars++;
}


static int declared(parser *p, tok v) {
  size_t i;
  for (i = p->nvars; i-- > 0;)
    if (p->var_lens[i] == v.len && memcmp(p->vars[i], p->src + v.pos, v.len) == 0)
      return 1;
  return 0;
}


static tmpl_pipe *parse_pipeline(parser *p, const char *ctx, int end);


/* Appends the field chain that directly follows (no space) an operand. */
static void parse_chain(parser *p, tmpl_arg *a) {
  for (;;) {
    tok t = peek(p);
    if (t.t != T_FIELD || t.space_before)
      return;
    lex(p);
    if (a->nfields == TMPL_MAX_FIELDS)
      perr(p, t.pos, "field chain too long");
    a->fields[a->nfields] = p->src + t.pos + 1;
    a->field_lens[a->nfields] = t.len - 1;
    a->nfields++;
  }
}


/* Parses one operand (a term and its field chain), or returns NULL without
   consuming anything when the next token cannot start one. */
static tmpl_arg *parse_operand(parser *p) {
  size_t save = p->pos;
  tok t = lex(p);
  tmpl_arg *a = palloc(p, sizeof *a);
  memset(a, 0, sizeof *a);
  a->pos = t.pos;
  switch (t.t) {
    case T_IDENT: {
      int i;
      if (tok_is(p, t, "true") || tok_is(p, t, "false")) {
        a->kind = A_BOOL;
        a->i = tok_is(p, t, "true");
        break;
      }
      if (tok_is(p, t, "nil")) {
        a->kind = A_NIL;
        break;
      }
      for (i = 0; func_names[i] != NULL; i++)
        if (tok_is(p, t, func_names[i]))
          break;
      if (func_names[i] == NULL)
        perr(p, t.pos, "function \"%.*s\" not defined", (int)(t.len > 60 ? 60 : t.len), p->src + t.pos);
      a->kind = A_FUNC;
      a->func = i;
      break;
    }
    case T_DOT:
      a->kind = A_DOT;
      break;
    case T_FIELD:
      a->kind = A_FIELD;
      a->fields[0] = p->src + t.pos + 1;
      a->field_lens[0] = t.len - 1;
      a->nfields = 1;
      parse_chain(p, a);
      return a;
    case T_VAR:
      if (!declared(p, t))
        perr(p, t.pos, "undefined variable \"%.*s\"", (int)(t.len > 60 ? 60 : t.len), p->src + t.pos);
      a->kind = A_VAR;
      a->name = p->src + t.pos;
      a->name_len = t.len;
      parse_chain(p, a);
      return a;
    case T_STRING: case T_RAW: {
      char *s = palloc(p, t.len + 1);
      a->kind = A_STR;
      if (t.t == T_RAW) {
        memcpy(s, p->src + t.pos + 1, t.len - 2);
        a->slen = t.len - 2;
      } else {
        a->slen = unquote(p, t.pos, p->src + t.pos + 1, t.len - 2, s, '"');
      }
      s[a->slen] = '\0';
      a->s = s;
      break;
    }
    case T_CHAR: {
      char buf[16];
      size_t n;
      unsigned long r = 0;
      int i, k;
      if (t.len - 2 > 10)
        perr(p, t.pos, "malformed character constant");
      n = unquote(p, t.pos, p->src + t.pos + 1, t.len - 2, buf, '\'');
      if (n == 0)
        perr(p, t.pos, "empty character constant");
      /* decode the one UTF-8 character the constant must hold */
      k = (unsigned char)buf[0] < 0x80 ? 1 : (unsigned char)buf[0] < 0xE0 ? 2 :
          (unsigned char)buf[0] < 0xF0 ? 3 : 4;
      if ((size_t)k != n && !(n == 1))
        perr(p, t.pos, "malformed character constant");
      if (n == 1)
        r = (unsigned char)buf[0];
      else {
        r = (unsigned char)buf[0] & (0x7F >> k);
        for (i = 1; i < k; i++)
          r = (r << 6) | ((unsigned char)buf[i] & 0x3F);
      }
      a->kind = A_INT;
      a->i = (long long)r;
      break;
    }
    case T_NUMBER:
      a->kind = A_INT;
      a->i = parse_int(p, t);
      break;
    case T_LPAREN:
      if (++p->depth > TY_TMPL_MAX_DEPTH)
        perr(p, t.pos, "parentheses nested deeper than %d", TY_TMPL_MAX_DEPTH);
      a->kind = A_PIPE;
      a->pipe = parse_pipeline(p, "parenthesized pipeline", T_RPAREN);
      p->depth--;
      parse_chain(p, a);
      return a;
    default:
      p->pos = save;
      return NULL;
  }
  {
    tok n = peek(p);
    if (n.t == T_FIELD && !n.space_before)
      perr(p, n.pos, "unexpected . after term");
  }
  return a;
}


/* Parses a pipeline up to and including its end token (T_RDELIM or
   T_RPAREN), with an optional declaration "$x :=", "$x =" or (range only)
   "$i, $v :=". Declared variables enter the current scope. */
static tmpl_pipe *parse_pipeline(parser *p, const char *ctx, int end) {
  tmpl_pipe *pp = palloc(p, sizeof *pp);
  size_t cap = 0;
  memset(pp, 0, sizeof *pp);
  pp->pos = p->pos;
  for (;;) {
    size_t save = p->pos;
    tok v = lex(p), n;
    if (v.t != T_VAR) {
      p->pos = save;
      break;
    }
    n = lex(p);
    if (n.t == T_DECLARE || n.t == T_ASSIGN) {
      pp->is_assign = n.t == T_ASSIGN;
      if (pp->is_assign && !declared(p, v))
        perr(p, v.pos, "undefined variable \"%.*s\"", (int)(v.len > 60 ? 60 : v.len), p->src + v.pos);
      pp->decl[pp->ndecl] = p->src + v.pos;
      pp->decl_lens[pp->ndecl] = v.len;
      pp->ndecl++;
      declare(p, v);
      break;
    }
    if (n.t == T_COMMA) {
      if (strcmp(ctx, "range") != 0 || pp->ndecl >= 1)
        perr(p, n.pos, "too many declarations in %s", ctx);
      pp->decl[pp->ndecl] = p->src + v.pos;
      pp->decl_lens[pp->ndecl] = v.len;
      pp->ndecl++;
      declare(p, v);
      if (peek(p).t != T_VAR)
        perr(p, n.pos, "range can only initialize variables");
      continue;
    }
    if (pp->ndecl > 0)
      perr(p, n.pos, "missing := after range variables");
    p->pos = save;
    break;
  }
  for (;;) {
    tmpl_cmd *c = palloc(p, sizeof *c);
    size_t acap = 0;
    tok t;
    memset(c, 0, sizeof *c);
    c->pos = peek(p).pos;
    for (;;) {
      tmpl_arg *a = parse_operand(p);
      if (a == NULL)
        break;
      push_ptr(p, (void ***)&c->args, &c->nargs, &acap, a);
    }
    t = lex(p);
    if (c->nargs == 0) {
      if (t.t == end || t.t == T_PIPE)
        perr(p, t.pos, "missing value for %s", ctx);
      perr(p, t.pos, "unexpected \"%s\" in %s", tok_name(t.t), ctx);
    }
    if (pp->ncmds > 0) {
      int k = c->args[0]->kind;
      if (k == A_BOOL || k == A_INT || k == A_STR || k == A_NIL || k == A_DOT)
        perr(p, c->pos, "non executable command in pipeline stage %d", (int)pp->ncmds + 1);
    }
    push_ptr(p, (void ***)&pp->cmds, &pp->ncmds, &cap, c);
    if (t.t == T_PIPE)
      continue;
    if (t.t == end) {
      if (t.t == T_RDELIM)
        p->trim_next = t.trim;
      break;
    }
    perr(p, t.pos, "unexpected \"%s\" in %s", tok_name(t.t), ctx);
  }
  return pp;
}


static void expect_rdelim(parser *p, const char *what) {
  tok t = lex(p);
  if (t.t != T_RDELIM)
    perr(p, t.pos, "unexpected \"%s\" in %s", tok_name(t.t), what);
  p->trim_next = t.trim;
}


enum { END_EOF, END_END, END_ELSE };

static int parse_list(parser *p, tmpl_list *out);


static void list_add(parser *p, tmpl_list *l, tmpl_node *n) {
  push_ptr(p, (void ***)&l->items, &l->n, &l->cap, n);
}


/* Parses {{if}}, {{with}} or {{range}} after its keyword, through the
   matching {{end}}; "else if" / "else with" nest as Go's parser does. */
static tmpl_node *parse_control(parser *p, int kind, size_t pos) {
  static const char *const ctx[] = { "", "", "if", "range", "with" };
  tmpl_node *n = palloc(p, sizeof *n);
  size_t mark = p->nvars;
  int r;
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->pos = pos;
  if (++p->depth > TY_TMPL_MAX_DEPTH)
    perr(p, pos, "blocks nested deeper than %d", TY_TMPL_MAX_DEPTH);
  n->pipe = parse_pipeline(p, ctx[kind], T_RDELIM);
  if (kind == N_RANGE)
    p->range_depth++;
  r = parse_list(p, &n->body);
  if (kind == N_RANGE)
    p->range_depth--;
  if (r == END_EOF)
    perr(p, p->len, "unexpected EOF: {{%s}} at line %d has no {{end}}", ctx[kind], 0);
  if (r == END_ELSE) {
    tok t = peek(p);
    n->has_else = 1;
    if ((kind == N_IF && tok_is(p, t, "if")) || (kind == N_WITH && tok_is(p, t, "with"))) {
      lex(p);
      list_add(p, &n->els, parse_control(p, kind, t.pos));
    } else {
      expect_rdelim(p, "else");
      r = parse_list(p, &n->els);
      if (r == END_EOF)
        perr(p, p->len, "unexpected EOF: {{%s}} has no {{end}}", ctx[kind]);
      if (r == END_ELSE)
        perr(p, p->pos, "expected end; found {{else}}");
    }
  }
  p->nvars = mark;
  p->depth--;
  return n;
}


/* Parses text and actions into out until {{end}}, {{else}} or the end of the
   source, and says which ended it (after "else" the action is left open so
   the caller can read "if"/"with"). */
static int parse_list(parser *p, tmpl_list *out) {
  for (;;) {
    const char *s = p->src + p->pos;
    size_t rest = p->len - p->pos, tlen, start = p->pos, apos;
    const char *d = NULL;
    size_t k;
    int ltrim = 0;
    for (k = 0; k + 1 < rest; k++)
      if (s[k] == '{' && s[k + 1] == '{') {
        d = s + k;
        break;
      }
    tlen = d ? (size_t)(d - s) : rest;
    if (d && d + 3 < p->src + p->len && d[2] == '-' && is_space((unsigned char)d[3]))
      ltrim = 1;
    if (p->trim_next) {
      while (tlen > 0 && is_space((unsigned char)p->src[start])) {
        start++;
        tlen--;
      }
      p->trim_next = 0;
    }
    if (ltrim)
      while (tlen > 0 && is_space((unsigned char)p->src[start + tlen - 1]))
        tlen--;
    if (tlen > 0) {
      tmpl_node *n = palloc(p, sizeof *n);
      memset(n, 0, sizeof *n);
      n->kind = N_TEXT;
      n->pos = start;
      n->text = p->src + start;
      n->len = tlen;
      list_add(p, out, n);
    }
    if (d == NULL) {
      p->pos = p->len;
      return END_EOF;
    }
    apos = (size_t)(d - p->src);
    p->pos = apos + 2 + (ltrim ? 2 : 0);
    if (starts(p, p->pos, "/*")) {
      size_t j = p->pos + 2;
      const char *e = NULL;
      for (; j + 1 < p->len; j++)
        if (p->src[j] == '*' && p->src[j + 1] == '/') {
          e = p->src + j;
          break;
        }
      if (e == NULL)
        perr(p, apos, "unclosed comment");
      j += 2;
      if (j + 3 < p->len + 0 && is_space((unsigned char)p->src[j]) && p->src[j + 1] == '-' &&
          starts(p, j + 2, "}}")) {
        p->trim_next = 1;
        p->pos = j + 4;
      } else if (starts(p, j, "}}")) {
        p->pos = j + 2;
      } else {
        perr(p, apos, "comment ends before closing delimiter");
      }
      continue;
    }
    {
      size_t save = p->pos;
      tok t = lex(p);
      if (tok_is(p, t, "end")) {
        expect_rdelim(p, "end");
        return END_END;
      }
      if (tok_is(p, t, "else"))
        return END_ELSE;
      if (tok_is(p, t, "if") || tok_is(p, t, "range") || tok_is(p, t, "with")) {
        int kind = tok_is(p, t, "if") ? N_IF : tok_is(p, t, "range") ? N_RANGE : N_WITH;
        list_add(p, out, parse_control(p, kind, apos));
        continue;
      }
      if (tok_is(p, t, "break") || tok_is(p, t, "continue")) {
        tmpl_node *n = palloc(p, sizeof *n);
        if (p->range_depth == 0)
          perr(p, t.pos, "{{%.*s}} outside {{range}}", (int)t.len, p->src + t.pos);
        memset(n, 0, sizeof *n);
        n->kind = tok_is(p, t, "break") ? N_BREAK : N_CONTINUE;
        n->pos = apos;
        expect_rdelim(p, "break or continue");
        list_add(p, out, n);
        continue;
      }
      if (tok_is(p, t, "define") || tok_is(p, t, "template") || tok_is(p, t, "block"))
        perr(p, t.pos, "{{%.*s}} is not supported", (int)t.len, p->src + t.pos);
      p->pos = save;
      {
        tmpl_node *n = palloc(p, sizeof *n);
        memset(n, 0, sizeof *n);
        n->kind = N_ACTION;
        n->pos = apos;
        n->pipe = parse_pipeline(p, "command", T_RDELIM);
        list_add(p, out, n);
      }
    }
  }
}


/* ========== Ollama's analyses of the tree ========== */

static int ieq(const char *a, size_t n, const char *b) {
  size_t i;
  if (strlen(b) != n)
    return 0;
  for (i = 0; i < n; i++) {
    int c = (unsigned char)a[i];
    if (c >= 'A' && c <= 'Z')
      c += 32;
    if (c != b[i])
      return 0;
  }
  return 1;
}


static void idents_list(const tmpl_list *l, const char *name, int *found);


/* Ollama's Identifiers(): every field and variable name in actions and block
   pipelines, compared case-insensitively. */
static void idents_pipe(const tmpl_pipe *pp, const char *name, int *found) {
  size_t i, j, k;
  if (pp == NULL)
    return;
  for (i = 0; i < pp->ncmds; i++)
    for (j = 0; j < pp->cmds[i]->nargs; j++) {
      const tmpl_arg *a = pp->cmds[i]->args[j];
      if (a->kind == A_PIPE && a->nfields == 0)
        idents_pipe(a->pipe, name, found);   /* Go walks a PipeNode, not a ChainNode */
      if (a->kind == A_FIELD || a->kind == A_VAR) {
        /* a VariableNode's idents are "$x" and its fields; "$x" never
           matches a plain name, so only the fields count */
        for (k = 0; k < a->nfields; k++)
          if (ieq(a->fields[k], a->field_lens[k], name))
            *found = 1;
      }
    }
}


static void idents_list(const tmpl_list *l, const char *name, int *found) {
  size_t i;
  for (i = 0; i < l->n; i++) {
    const tmpl_node *n = l->items[i];
    if (n->kind == N_ACTION || n->kind == N_IF || n->kind == N_RANGE || n->kind == N_WITH)
      idents_pipe(n->pipe, name, found);
    if (n->kind == N_IF || n->kind == N_RANGE || n->kind == N_WITH) {
      idents_list(&n->body, name, found);
      idents_list(&n->els, name, found);
    }
  }
}


static int has_response_field(const tmpl_arg *a) {
  size_t k;
  if (a->kind != A_FIELD)
    return 0;
  for (k = 0; k < a->nfields; k++)
    if (a->field_lens[k] == 8 && memcmp(a->fields[k], "Response", 8) == 0)
      return 1;
  return 0;
}


/* Ollama's deleteNode() for the last prompt of a legacy chat: walking the
   tree in order, everything after the first .Response field is cut. Go
   panics when the cut reaches an {{else}} list; we drop that list instead. */
static void mark_pipe(tmpl_pipe *pp, int *cut) {
  size_t i, j;
  if (*cut) {
    pp->cut = 1;
    return;
  }
  for (i = 0; i < pp->ncmds; i++) {
    tmpl_cmd *c = pp->cmds[i];
    size_t kept = 0;
    for (j = 0; j < c->nargs; j++) {
      tmpl_arg *a = c->args[j];
      if (*cut) {
        a->cut = 1;
        continue;
      }
      if (has_response_field(a))
        *cut = 1;
      if (a->kind == A_PIPE && a->nfields == 0) {   /* a ChainNode is not walked */
        mark_pipe(a->pipe, cut);
        a->cut = a->pipe->cut;
      }
      if (!a->cut)
        kept++;
    }
    if (kept == 0) {
      pp->cut = 1;
      return;
    }
  }
}


static void mark_list(tmpl_list *l, int *cut) {
  size_t i;
  for (i = 0; i < l->n; i++) {
    tmpl_node *n = l->items[i];
    if (*cut) {
      n->cut = 1;
      continue;
    }
    if (n->kind == N_ACTION) {
      mark_pipe(n->pipe, cut);
      n->cut = n->pipe->cut;
    } else if (n->kind == N_IF || n->kind == N_RANGE || n->kind == N_WITH) {
      mark_list(&n->body, cut);
      if (n->has_else) {
        if (*cut)
          n->els_cut = 1;
        else
          mark_list(&n->els, cut);
      }
    }
  }
}


/* ========== public ========== */

ty_status ty_tmpl_parse(const char *src, size_t len, ty_tmpl **out, ty_err *err) {
  parser *p;
  ty_tmpl *t;
  int found_msgs = 0, found_resp = 0, cut = 0;
  if (out == NULL || (src == NULL && len > 0))
    return ty_err_set(err, TY_ERR_ARG, "ty_tmpl_parse: NULL argument");
  *out = NULL;
  t = calloc(1, sizeof *t);
  p = calloc(1, sizeof *p);
  if (t == NULL || p == NULL) {
    free(t);
    free(p);
    return ty_err_set(err, TY_ERR_NOMEM, "template: out of memory while parsing");
  }
  t->src = malloc(len + 1);
  if (t->src == NULL) {
    free(t);
    free(p);
    return ty_err_set(err, TY_ERR_NOMEM, "template: out of memory while parsing");
  }
  if (len)
    memcpy(t->src, src, len);
  t->src[len] = '\0';
  t->len = len;
  p->src = t->src;
  p->len = len;
  p->ar = &t->ar;
  p->err = err;
  p->vars[0] = "$";
  p->var_lens[0] = 1;
  p->nvars = 1;
  if (setjmp(p->jb)) {
    free(p);
    ty_tmpl_free(t);
    return err ? err->code : TY_ERR_FORMAT;
  }
  {
    int r = parse_list(p, &t->root);
    if (r == END_END)
      perr(p, p->pos, "unexpected {{end}}");
    if (r == END_ELSE)
      perr(p, p->pos, "unexpected {{else}}");
  }
  idents_list(&t->root, "messages", &found_msgs);
  idents_list(&t->root, "response", &found_resp);
  t->uses_messages = found_msgs;
  if (!found_msgs && !found_resp) {
    /* Ollama appends {{ .Response }} to templates that never name it */
    tmpl_node *n = palloc(p, sizeof *n);
    tmpl_pipe *pp = palloc(p, sizeof *pp);
    tmpl_cmd *c = palloc(p, sizeof *c);
    tmpl_arg *a = palloc(p, sizeof *a);
    memset(n, 0, sizeof *n);
    memset(pp, 0, sizeof *pp);
    memset(c, 0, sizeof *c);
    memset(a, 0, sizeof *a);
    a->kind = A_FIELD;
    a->pos = len;
    a->fields[0] = "Response";
    a->field_lens[0] = 8;
    a->nfields = 1;
    c->args = palloc(p, sizeof *c->args);
    c->args[0] = a;
    c->nargs = 1;
    c->pos = len;
    pp->cmds = palloc(p, sizeof *pp->cmds);
    pp->cmds[0] = c;
    pp->ncmds = 1;
    pp->pos = len;
    n->kind = N_ACTION;
    n->pos = len;
    n->pipe = pp;
    list_add(p, &t->root, n);
  }
  mark_list(&t->root, &cut);
  free(p);
  *out = t;
  ty_err_clear(err);
  return TY_OK;
}


void ty_tmpl_free(ty_tmpl *t) {
  if (t == NULL)
    return;
  tmpl_arena_free(&t->ar);
  free(t->src);
  free(t);
}


int ty_tmpl_uses_messages(const ty_tmpl *t) {
  return t != NULL && t->uses_messages;
}


/* ========== arena ========== */

struct tmpl_chunk {
  struct tmpl_chunk *next;
  size_t used, cap;
  /* data follows, 16-byte aligned */
};


void *tmpl_arena_alloc(tmpl_arena *ar, size_t n) {
  struct tmpl_chunk *c = ar->head;
  size_t hdr = (sizeof(struct tmpl_chunk) + 15) & ~(size_t)15;
  n = (n + 15) & ~(size_t)15;
  if (n == 0)
    n = 16;
  if (ar->limit && (n > ar->limit || ar->total > ar->limit - n))
    return NULL;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > 8192 ? n : 8192;
    c = malloc(hdr + cap);
    if (c == NULL)
      return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = ar->head;
    ar->head = c;
  }
  ar->total += n;
  c->used += n;
  return (char *)c + hdr + c->used - n;
}


void tmpl_arena_free(tmpl_arena *ar) {
  struct tmpl_chunk *c = ar->head;
  while (c != NULL) {
    struct tmpl_chunk *next = c->next;
    free(c);
    c = next;
  }
  ar->head = NULL;
  ar->total = 0;
}
