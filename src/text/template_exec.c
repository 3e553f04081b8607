/*
 * template_exec.c: executes a parsed Go template over tycho's chat values,
 * with Go's semantics for truth, scoping, comparison and fmt printing, and
 * Ollama's rules for turning a conversation into template values.
 */
#define TY_TMPL_IMPL
#include "template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXEC_MAX_ARENA (64u << 20)     /* values built while rendering */

enum { V_NIL, V_BOOL, V_INT, V_STR, V_LIST, V_REC };

typedef struct val val;
typedef struct { size_t n; val *items; } vlist;
typedef struct { size_t n; const char *const *names; val *vals; } vrec;

struct val {
  int k;
  long long i;                     /* V_BOOL, V_INT */
  const char *s;                   /* V_STR */
  size_t n;
  const vlist *l;
  const vrec *r;
};

typedef struct {
  char *p;
  size_t n, cap;
} sbuf;

typedef struct {
  const char *name;
  size_t len;
  val v;
} var;

typedef struct {
  const ty_tmpl *t;
  tmpl_arena ar;
  sbuf out, tmp;
  var *vars;
  size_t nvars, cap_vars;
  size_t steps;
  int legacy_cut;                  /* honour the .Response cut marks */
  jmp_buf jb;
  ty_err *err;
} exec;

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static const char *const fnames[] = {
  "and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt",
  "ge", "print", "printf", "println", "json", "currentDate"
};


/* ========== errors, memory, buffers ========== */

static void xerr(exec *x, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4), noreturn))
#endif
  ;


/* Fills the error with the position and jumps out of the render; the
   caller's setjmp frees everything the render holds. */
static void xerr(exec *x, size_t pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tmpl_err_at(x->err, x->t->src, x->t->len, pos, fmt, ap);
  va_end(ap);
  longjmp(x->jb, 1);
}


static void *xalloc(exec *x, size_t n) {
  void *p = tmpl_arena_alloc(&x->ar, n);
  if (p == NULL) {
    ty_err_set(x->err, TY_ERR_NOMEM, "template: out of memory while rendering (limit %u MiB)",
               EXEC_MAX_ARENA >> 20);
    longjmp(x->jb, 1);
  }
  return p;
}


static void sb_put(exec *x, sbuf *b, const char *s, size_t n) {
  if (n > TY_TMPL_MAX_OUT || b->n > TY_TMPL_MAX_OUT - n) {
    ty_err_set(x->err, TY_ERR_FORMAT, "template: output exceeds %u bytes", TY_TMPL_MAX_OUT);
    longjmp(x->jb, 1);
  }
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    char *np;
    while (nc < b->n + n + 1)
      nc *= 2;
    np = realloc(b->p, nc);
    if (np == NULL) {
      ty_err_set(x->err, TY_ERR_NOMEM, "template: out of memory while rendering");
      longjmp(x->jb, 1);
    }
    b->p = np;
    b->cap = nc;
  }
  if (n)
    memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}


static void sb_str(exec *x, sbuf *b, const char *s) { sb_put(x, b, s, strlen(s)); }


static void sb_fmt(exec *x, sbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0)
    sb_put(x, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}


static void step(exec *x, size_t pos) {
  if (++x->steps > TY_TMPL_MAX_STEPS)
    xerr(x, pos, "execution stopped after %u steps", TY_TMPL_MAX_STEPS);
}


static val v_nil(void) { val v; memset(&v, 0, sizeof v); return v; }
static val v_bool(int b) { val v = v_nil(); v.k = V_BOOL; v.i = b != 0; return v; }
static val v_int(long long i) { val v = v_nil(); v.k = V_INT; v.i = i; return v; }
static val v_str(const char *s, size_t n) { val v = v_nil(); v.k = V_STR; v.s = s; v.n = n; return v; }


/* Copies the scratch buffer into the arena as a string value. */
static val v_from_tmp(exec *x) {
  char *s = xalloc(x, x->tmp.n + 1);
  if (x->tmp.n)
    memcpy(s, x->tmp.p, x->tmp.n);
  s[x->tmp.n] = '\0';
  return v_str(s, x->tmp.n);
}


static const char *type_name(const val *v) {
  static const char *const names[] = { "nil", "bool", "int", "string", "slice", "struct" };
  return names[v->k];
}


/* Go's truth: false, 0, nil and empty strings/lists are false. */
static int truth(const val *v) {
  switch (v->k) {
    case V_BOOL: case V_INT: return v->i != 0;
    case V_STR: return v->n > 0;
    case V_LIST: return v->l->n > 0;
    case V_REC: return 1;
    default: return 0;
  }
}


/* ========== printing (fmt) ========== */

static void print_val(exec *x, sbuf *b, const val *v, int top);


static void print_quoted(exec *x, sbuf *b, const char *s, size_t n) {
  size_t i;
  sb_put(x, b, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': sb_str(x, b, "\\\""); break;
      case '\\': sb_str(x, b, "\\\\"); break;
      case '\n': sb_str(x, b, "\\n"); break;
      case '\r': sb_str(x, b, "\\r"); break;
      case '\t': sb_str(x, b, "\\t"); break;
      case '\a': sb_str(x, b, "\\a"); break;
      case '\b': sb_str(x, b, "\\b"); break;
      case '\f': sb_str(x, b, "\\f"); break;
      case '\v': sb_str(x, b, "\\v"); break;
      default:
        if (c < 0x20 || c == 0x7f)
          sb_fmt(x, b, "\\x%02x", c);
        else
          sb_put(x, b, (const char *)&c, 1);
    }
  }
  sb_put(x, b, "\"", 1);
}


/* fmt's %v: lists as [a b], records as {a b}, nil as <nil>. */
static void print_val(exec *x, sbuf *b, const val *v, int top) {
  size_t i;
  switch (v->k) {
    case V_NIL: sb_str(x, b, "<nil>"); break;
    case V_BOOL: sb_str(x, b, v->i ? "true" : "false"); break;
    case V_INT: sb_fmt(x, b, "%lld", v->i); break;
    case V_STR: sb_put(x, b, v->s, v->n); break;
    case V_LIST:
      sb_put(x, b, "[", 1);
      for (i = 0; i < v->l->n; i++) {
        if (i)
          sb_put(x, b, " ", 1);
        print_val(x, b, &v->l->items[i], 0);
      }
      sb_put(x, b, "]", 1);
      break;
    case V_REC:
      sb_put(x, b, "{", 1);
      for (i = 0; i < v->r->n; i++) {
        if (i)
          sb_put(x, b, " ", 1);
        print_val(x, b, &v->r->vals[i], 0);
      }
      sb_put(x, b, "}", 1);
      break;
  }
  (void)top;
}


/* One printf verb applied to a value, with Go's "%!d(string=x)" for a bad
   pairing; lists apply the verb to each element as fmt does. */
static void print_verb(exec *x, sbuf *b, char verb, const val *v, int minus, int width, int prec) {
  size_t start = b->n, i;
  if (v->k == V_LIST && verb != 'T') {
    sb_put(x, b, "[", 1);
    for (i = 0; i < v->l->n; i++) {
      if (i)
        sb_put(x, b, " ", 1);
      print_verb(x, b, verb, &v->l->items[i], 0, 0, -1);
    }
    sb_put(x, b, "]", 1);
    goto pad;
  }
  switch (verb) {
    case 'v':
      print_val(x, b, v, 1);
      break;
    case 'T': {
      static const char *const go[] = { "<nil>", "bool", "int", "string", "[]interface {}", "struct" };
      sb_str(x, b, go[v->k]);
      break;
    }
    case 's': case 'q': case 'x': case 'X':
      if (v->k == V_STR) {
        size_t n = v->n;
        if (prec >= 0 && (size_t)prec < n)
          n = (size_t)prec;
        if (verb == 's')
          sb_put(x, b, v->s, n);
        else if (verb == 'q')
          print_quoted(x, b, v->s, n);
        else
          for (i = 0; i < n; i++)
            sb_fmt(x, b, verb == 'x' ? "%02x" : "%02X", (unsigned char)v->s[i]);
        break;
      }
      if (v->k == V_INT && verb != 's') {
        if (verb == 'q') {
          char u[8];
          size_t k = 0;
          unsigned long r = (unsigned long)v->i;
          if (v->i < 0 || r > 0x10FFFF)
            r = 0xFFFD;
          sb_put(x, b, "'", 1);
          if (r == '\'' || r == '\\') {
            sb_put(x, b, "\\", 1);
            u[k++] = (char)r;
          } else if (r < 0x80) {
            u[k++] = (char)r;
          } else if (r < 0x800) {
            u[k++] = (char)(0xC0 | (r >> 6)); u[k++] = (char)(0x80 | (r & 0x3F));
          } else if (r < 0x10000) {
            u[k++] = (char)(0xE0 | (r >> 12)); u[k++] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[k++] = (char)(0x80 | (r & 0x3F));
          } else {
            u[k++] = (char)(0xF0 | (r >> 18)); u[k++] = (char)(0x80 | ((r >> 12) & 0x3F));
            u[k++] = (char)(0x80 | ((r >> 6) & 0x3F)); u[k++] = (char)(0x80 | (r & 0x3F));
          }
          sb_put(x, b, u, k);
          sb_put(x, b, "'", 1);
        } else {
          if (v->i < 0)
            sb_fmt(x, b, verb == 'x' ? "-%llx" : "-%llX", -(unsigned long long)v->i);
          else
            sb_fmt(x, b, verb == 'x' ? "%llx" : "%llX", (unsigned long long)v->i);
        }
        break;
      }
      goto bad;
    case 'd':
      if (v->k != V_INT)
        goto bad;
      sb_fmt(x, b, "%lld", v->i);
      break;
    case 't':
      if (v->k != V_BOOL)
        goto bad;
      sb_str(x, b, v->i ? "true" : "false");
      break;
    case 'c':
      if (v->k != V_INT)
        goto bad;
      {
        val s;
        char u[4];
        unsigned long r = v->i < 0 || v->i > 0x10FFFF ? 0xFFFD : (unsigned long)v->i;
        size_t k;
        if (r < 0x80) { u[0] = (char)r; k = 1; }
        else if (r < 0x800) { u[0] = (char)(0xC0 | (r >> 6)); u[1] = (char)(0x80 | (r & 0x3F)); k = 2; }
        else if (r < 0x10000) {
          u[0] = (char)(0xE0 | (r >> 12)); u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
          u[2] = (char)(0x80 | (r & 0x3F)); k = 3;
        } else {
          u[0] = (char)(0xF0 | (r >> 18)); u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
          u[2] = (char)(0x80 | ((r >> 6) & 0x3F)); u[3] = (char)(0x80 | (r & 0x3F)); k = 4;
        }
        s = v_str(u, k);
        sb_put(x, b, s.s, s.n);
      }
      break;
    default:
      goto bad;
  }
  goto pad;
bad:
  if (v->k == V_NIL) {
    sb_fmt(x, b, "%%!%c(<nil>)", verb);
  } else {
    sb_fmt(x, b, "%%!%c(%s=", verb, v->k == V_LIST ? "[]interface {}" : type_name(v));
    print_val(x, b, v, 1);
    sb_put(x, b, ")", 1);
  }
pad:
  if (width > 0) {
    /* fmt pads by runes; count UTF-8 lead bytes of what this verb wrote */
    size_t runes = 0, len = b->n - start;
    for (i = start; i < b->n; i++)
      if (((unsigned char)b->p[i] & 0xC0) != 0x80)
        runes++;
    if (runes < (size_t)width) {
      size_t padn = (size_t)width - runes;
      for (i = 0; i < padn; i++)
        sb_put(x, b, " ", 1);
      if (!minus) {
        memmove(b->p + start + padn, b->p + start, len);
        memset(b->p + start, ' ', padn);
      }
    }
  }
}


/* fmt.Sprintf over template values, into x->tmp. */
static void do_printf(exec *x, size_t pos, const char *f, size_t fn, const val *args, size_t nargs) {
  size_t i = 0, a = 0;
  x->tmp.n = 0;
  while (i < fn) {
    int minus = 0, width = 0, prec = -1;
    char verb;
    if (f[i] != '%') {
      size_t j = i;
      while (j < fn && f[j] != '%')
        j++;
      sb_put(x, &x->tmp, f + i, j - i);
      i = j;
      continue;
    }
    i++;
    while (i < fn && strchr("-+# 0", f[i])) {
      if (f[i] == '-')
        minus = 1;
      i++;
    }
    while (i < fn && f[i] >= '0' && f[i] <= '9' && width < 100000)
      width = width * 10 + (f[i++] - '0');
    if (i < fn && f[i] == '.') {
      prec = 0;
      i++;
      while (i < fn && f[i] >= '0' && f[i] <= '9' && prec < 100000)
        prec = prec * 10 + (f[i++] - '0');
    }
    if (i >= fn) {
      sb_str(x, &x->tmp, "%!(NOVERB)");
      break;
    }
    verb = f[i++];
    if (verb == '%') {
      sb_put(x, &x->tmp, "%", 1);
      continue;
    }
    if (a >= nargs) {
      sb_fmt(x, &x->tmp, "%%!%c(MISSING)", verb);
      continue;
    }
    print_verb(x, &x->tmp, verb, &args[a++], minus, width, prec);
  }
  if (a < nargs) {
    sb_str(x, &x->tmp, "%!(EXTRA ");
    for (; a < nargs; a++) {
      sb_str(x, &x->tmp, args[a].k == V_NIL ? "<nil>" : type_name(&args[a]));
      if (args[a].k != V_NIL) {
        sb_put(x, &x->tmp, "=", 1);
        print_val(x, &x->tmp, &args[a], 1);
      }
      if (a + 1 < nargs)
        sb_str(x, &x->tmp, ", ");
    }
    sb_put(x, &x->tmp, ")", 1);
  }
  (void)pos;
}


/* Go's json.Marshal: HTML-safe escapes, \u00XX for control bytes. */
static void print_json(exec *x, sbuf *b, const val *v, int depth) {
  size_t i;
  static const char hex[] = "0123456789abcdef";
  if (depth > 32) {
    sb_str(x, b, "null");
    return;
  }
  switch (v->k) {
    case V_NIL: sb_str(x, b, "null"); break;
    case V_BOOL: sb_str(x, b, v->i ? "true" : "false"); break;
    case V_INT: sb_fmt(x, b, "%lld", v->i); break;
    case V_STR:
      sb_put(x, b, "\"", 1);
      for (i = 0; i < v->n; i++) {
        unsigned char c = (unsigned char)v->s[i];
        if (c == '"' || c == '\\') {
          char e[2] = { '\\', (char)c };
          sb_put(x, b, e, 2);
        } else if (c == '\n') {
          sb_str(x, b, "\\n");
        } else if (c == '\r') {
          sb_str(x, b, "\\r");
        } else if (c == '\t') {
          sb_str(x, b, "\\t");
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
          sb_put(x, b, e, 6);
        } else if (c == 0xE2 && i + 2 < v->n && (unsigned char)v->s[i + 1] == 0x80 &&
                   ((unsigned char)v->s[i + 2] == 0xA8 || (unsigned char)v->s[i + 2] == 0xA9)) {
          sb_str(x, b, (unsigned char)v->s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
          i += 2;
        } else {
          sb_put(x, b, (const char *)&c, 1);
        }
      }
      sb_put(x, b, "\"", 1);
      break;
    case V_LIST:
      sb_put(x, b, "[", 1);
      for (i = 0; i < v->l->n; i++) {
        if (i)
          sb_put(x, b, ",", 1);
        print_json(x, b, &v->l->items[i], depth + 1);
      }
      sb_put(x, b, "]", 1);
      break;
    case V_REC:
      /* api.Message's json tags are the lowercased field names */
      sb_put(x, b, "{", 1);
      for (i = 0; i < v->r->n; i++) {
        const char *nm = v->r->names[i];
        char c0 = nm[0] >= 'A' && nm[0] <= 'Z' ? (char)(nm[0] + 32) : nm[0];
        if (i)
          sb_put(x, b, ",", 1);
        sb_put(x, b, "\"", 1);
        sb_put(x, b, &c0, 1);
        sb_str(x, b, nm + 1);
        sb_str(x, b, "\":");
        print_json(x, b, &v->r->vals[i], depth + 1);
      }
      sb_put(x, b, "}", 1);
      break;
  }
}


/* ========== evaluation ========== */

static val eval_pipe(exec *x, const tmpl_pipe *pp, val dot);
static val eval_arg(exec *x, const tmpl_arg *a, val dot);


static val *var_find(exec *x, const char *name, size_t len) {
  size_t i;
  for (i = x->nvars; i-- > 0;)
    if (x->vars[i].len == len && memcmp(x->vars[i].name, name, len) == 0)
      return &x->vars[i].v;
  return NULL;
}


static void var_push(exec *x, const char *name, size_t len, val v) {
  if (x->nvars == x->cap_vars) {
    size_t nc = x->cap_vars ? x->cap_vars * 2 : 16;
    var *nv = realloc(x->vars, nc * sizeof *nv);
    if (nv == NULL) {
      ty_err_set(x->err, TY_ERR_NOMEM, "template: out of memory while rendering");
      longjmp(x->jb, 1);
    }
    x->vars = nv;
    x->cap_vars = nc;
  }
  x->vars[x->nvars].name = name;
  x->vars[x->nvars].len = len;
  x->vars[x->nvars].v = v;
  x->nvars++;
}


/* Follows a .A.B chain. Missing fields and fields of nil are nil, since
   templates name fields (.ToolCalls, .Images) tycho does not fill. */
static val field_chain(exec *x, const tmpl_arg *a, val v) {
  size_t k, i;
  for (k = 0; k < a->nfields; k++) {
    const char *f = a->fields[k];
    size_t fl = a->field_lens[k];
    if (v.k == V_NIL)
      return v;
    if (v.k != V_REC)
      xerr(x, a->pos, "can't evaluate field %.*s in type %s", (int)(fl > 60 ? 60 : fl), f,
           type_name(&v));
    for (i = 0; i < v.r->n; i++)
      if (strlen(v.r->names[i]) == fl && memcmp(v.r->names[i], f, fl) == 0)
        break;
    v = i < v.r->n ? v.r->vals[i] : v_nil();
  }
  return v;
}


/* Go's eq for one pair: errors on incompatible basic kinds or on lists and
   records; nil equals only nil. */
static int val_eq(exec *x, size_t pos, const val *a, const val *b) {
  if (a->k == V_NIL || b->k == V_NIL)
    return a->k == b->k;
  if (a->k != b->k)
    xerr(x, pos, "error calling eq: incompatible types for comparison");
  switch (a->k) {
    case V_BOOL: case V_INT: return a->i == b->i;
    case V_STR: return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    default: xerr(x, pos, "error calling eq: non-comparable type %s", type_name(a));
  }
}


/* Go's lt: ints or strings of one kind. */
static int val_lt(exec *x, size_t pos, const char *fn, const val *a, const val *b) {
  if (a->k != V_INT && a->k != V_STR)
    xerr(x, pos, "error calling %s: invalid type for comparison", fn);
  if (a->k != b->k)
    xerr(x, pos, "error calling %s: incompatible types for comparison", fn);
  if (a->k == V_INT)
    return a->i < b->i;
  {
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->s, b->s, n);
    return c < 0 || (c == 0 && a->n < b->n);
  }
}


static long long index_arg(exec *x, size_t pos, const char *fn, const val *v) {
  if (v->k != V_INT)
    xerr(x, pos, "error calling %s: cannot index slice/array with type %s", fn, type_name(v));
  return v->i;
}


/* Calls a built-in function. args are unevaluated operands (evaluated here,
   so that and/or short-circuit); final is the value piped in, or NULL. */
static val call_func(exec *x, const tmpl_arg *fa, tmpl_arg *const *args, size_t nargs,
                     const val *final, val dot) {
  val av[16], *v = av, r;
  size_t n = nargs + (final ? 1 : 0), i;
  int f = fa->func;
  const char *name = fnames[f];
  size_t pos = fa->pos;
  if (f == F_AND || f == F_OR) {
    if (n == 0)
      xerr(x, pos, "wrong number of args for %s: want at least 1 got 0", name);
    for (i = 0; i < n; i++) {
      r = i < nargs ? eval_arg(x, args[i], dot) : *final;
      if ((f == F_AND) != truth(&r))
        return r;
    }
    return r;
  }
  if (n > 16)
    v = xalloc(x, n * sizeof *v);
  for (i = 0; i < nargs; i++)
    v[i] = eval_arg(x, args[i], dot);
  if (final)
    v[nargs] = *final;
#define NARGS(lo, hi) \
  if (n + 1 < (size_t)(lo) + 1 || n > (hi)) { \
    if ((lo) == (hi)) xerr(x, pos, "wrong number of args for %s: want %d got %d", name, (int)(lo), (int)n); \
    xerr(x, pos, "wrong number of args for %s: want at least %d got %d", name, (int)(lo), (int)n); \
  }
  switch (f) {
    case F_NOT:
      NARGS(1, 1);
      return v_bool(!truth(&v[0]));
    case F_LEN:
      NARGS(1, 1);
      if (v[0].k == V_STR) return v_int((long long)v[0].n);
      if (v[0].k == V_LIST) return v_int((long long)v[0].l->n);
      if (v[0].k == V_REC) return v_int((long long)v[0].r->n);
      xerr(x, pos, "error calling len: len of %s", v[0].k == V_NIL ? "nil pointer" : type_name(&v[0]));
    case F_INDEX:
      NARGS(1, (size_t)-1);
      r = v[0];
      for (i = 1; i < n; i++) {
        if (r.k == V_NIL)
          xerr(x, pos, "error calling index: index of untyped nil");
        if (r.k == V_REC) {
          size_t j;
          if (v[i].k != V_STR)
            xerr(x, pos, "error calling index: value has type %s; should be string", type_name(&v[i]));
          for (j = 0; j < r.r->n; j++)
            if (strlen(r.r->names[j]) == v[i].n && memcmp(r.r->names[j], v[i].s, v[i].n) == 0)
              break;
          r = j < r.r->n ? r.r->vals[j] : v_nil();
          continue;
        }
        {
          long long k = index_arg(x, pos, "index", &v[i]);
          size_t len = r.k == V_STR ? r.n : r.k == V_LIST ? r.l->n : 0;
          if (r.k != V_STR && r.k != V_LIST)
            xerr(x, pos, "error calling index: can't index item of type %s", type_name(&r));
          if (k < 0 || (unsigned long long)k >= len)
            xerr(x, pos, "error calling index: index out of range: %lld", k);
          r = r.k == V_STR ? v_int((unsigned char)r.s[k]) : r.l->items[k];
        }
      }
      return r;
    case F_SLICE: {
      long long idx[3] = { 0, 0, 0 };
      size_t len;
      NARGS(1, 4);
      if (v[0].k != V_STR && v[0].k != V_LIST)
        xerr(x, pos, "error calling slice: can't slice item of type %s", type_name(&v[0]));
      if (v[0].k == V_STR && n == 4)
        xerr(x, pos, "error calling slice: cannot 3-index slice a string");
      len = v[0].k == V_STR ? v[0].n : v[0].l->n;
      idx[1] = (long long)len;
      for (i = 1; i < n; i++) {
        idx[i - 1] = index_arg(x, pos, "slice", &v[i]);
        if (idx[i - 1] < 0 || (unsigned long long)idx[i - 1] > len)
          xerr(x, pos, "error calling slice: index out of range: %lld", idx[i - 1]);
      }
      if (idx[0] > idx[1] || (n == 4 && idx[1] > idx[2]))
        xerr(x, pos, "error calling slice: invalid slice index: %lld > %lld", idx[0], idx[1]);
      if (v[0].k == V_STR)
        return v_str(v[0].s + idx[0], (size_t)(idx[1] - idx[0]));
      {
        vlist *l = xalloc(x, sizeof *l);
        l->items = v[0].l->items + idx[0];
        l->n = (size_t)(idx[1] - idx[0]);
        r = v_nil();
        r.k = V_LIST;
        r.l = l;
        return r;
      }
    }
    case F_EQ:
      if (n < 2)
        xerr(x, pos, "error calling eq: missing argument for comparison");
      for (i = 1; i < n; i++)
        if (val_eq(x, pos, &v[0], &v[i]))
          return v_bool(1);
      return v_bool(0);
    case F_NE:
      NARGS(2, 2);
      return v_bool(!val_eq(x, pos, &v[0], &v[1]));
    case F_LT: NARGS(2, 2); return v_bool(val_lt(x, pos, name, &v[0], &v[1]));
    case F_LE: NARGS(2, 2); return v_bool(!val_lt(x, pos, name, &v[1], &v[0]));
    case F_GT: NARGS(2, 2); return v_bool(val_lt(x, pos, name, &v[1], &v[0]));
    case F_GE: NARGS(2, 2); return v_bool(!val_lt(x, pos, name, &v[0], &v[1]));
    case F_PRINT: case F_PRINTLN:
      x->tmp.n = 0;
      for (i = 0; i < n; i++) {
        /* Sprint spaces operands when neither is a string; Sprintln always */
        if (i > 0 && (f == F_PRINTLN || (v[i].k != V_STR && v[i - 1].k != V_STR)))
          sb_put(x, &x->tmp, " ", 1);
        print_val(x, &x->tmp, &v[i], 1);
      }
      if (f == F_PRINTLN)
        sb_put(x, &x->tmp, "\n", 1);
      return v_from_tmp(x);
    case F_PRINTF:
      NARGS(1, (size_t)-1);
      if (v[0].k != V_STR)
        xerr(x, pos, "wrong type for value; expected string; got %s", type_name(&v[0]));
      do_printf(x, pos, v[0].s, v[0].n, v + 1, n - 1);
      return v_from_tmp(x);
    case F_JSON:
      NARGS(1, 1);
      x->tmp.n = 0;
      print_json(x, &x->tmp, &v[0], 0);
      return v_from_tmp(x);
    case F_CURRENTDATE: {
      char d[32];
      time_t now = time(NULL);
      struct tm tmv;
      NARGS(0, 0);
      if (localtime_r(&now, &tmv) == NULL || strftime(d, sizeof d, "%Y-%m-%d", &tmv) == 0)
        strcpy(d, "1970-01-01");
      x->tmp.n = 0;
      sb_str(x, &x->tmp, d);
      return v_from_tmp(x);
    }
  }
#undef NARGS
  xerr(x, pos, "unknown function");
}


static int arg_live(const exec *x, const tmpl_arg *a) { return !(x->legacy_cut && a->cut); }


/* Evaluates one operand; a function name as an argument is called with no
   arguments, as Go does. */
static val eval_arg(exec *x, const tmpl_arg *a, val dot) {
  val v;
  step(x, a->pos);
  switch (a->kind) {
    case A_FIELD: return field_chain(x, a, dot);
    case A_VAR: {
      val *p = var_find(x, a->name, a->name_len);
      if (p == NULL)
        xerr(x, a->pos, "undefined variable: %.*s", (int)(a->name_len > 60 ? 60 : a->name_len), a->name);
      return field_chain(x, a, *p);
    }
    case A_DOT: return dot;
    case A_NIL: return v_nil();
    case A_BOOL: return v_bool((int)a->i);
    case A_INT: return v_int(a->i);
    case A_STR: return v_str(a->s, a->slen);
    case A_FUNC: return call_func(x, a, NULL, 0, NULL, dot);
    case A_PIPE:
      v = eval_pipe(x, a->pipe, dot);
      return field_chain(x, a, v);
  }
  return v_nil();
}


/* Evaluates a command; final is the previous command's value in a pipeline. */
static val eval_cmd(exec *x, const tmpl_cmd *c, const val *final, val dot) {
  tmpl_arg *live[64], **args = c->args;
  size_t n = c->nargs, i;
  if (x->legacy_cut) {
    /* the last legacy prompt drops operands after .Response */
    if (n > 64)
      args = xalloc(x, n * sizeof *args);
    else
      args = live;
    for (i = 0, n = 0; i < c->nargs; i++)
      if (arg_live(x, c->args[i]))
        args[n++] = c->args[i];
  }
  if (n == 0)
    return v_nil();
  if (args[0]->kind == A_FUNC)
    return call_func(x, args[0], args + 1, n - 1, final, dot);
  if (n > 1 || final != NULL) {
    if (args[0]->kind == A_FIELD || args[0]->kind == A_VAR)
      xerr(x, args[0]->pos, "can't give argument to non-function %s", "field or variable");
    xerr(x, args[0]->pos, "can't give argument to non-function");
  }
  if (args[0]->kind == A_NIL)
    xerr(x, args[0]->pos, "nil is not a command");
  return eval_arg(x, args[0], dot);
}


/* Evaluates a pipeline and applies its declaration: ":=" pushes new
   variables onto the current scope, "=" assigns the nearest existing one. */
static val eval_pipe(exec *x, const tmpl_pipe *pp, val dot) {
  val v = v_nil();
  size_t i;
  int d;
  for (i = 0; i < pp->ncmds; i++)
    v = eval_cmd(x, pp->cmds[i], i ? &v : NULL, dot);
  for (d = 0; d < pp->ndecl; d++) {
    if (pp->is_assign) {
      val *p = var_find(x, pp->decl[d], pp->decl_lens[d]);
      if (p == NULL)
        xerr(x, pp->pos, "undefined variable: %.*s", (int)pp->decl_lens[d], pp->decl[d]);
      *p = v;
    } else {
      var_push(x, pp->decl[d], pp->decl_lens[d], v);
    }
  }
  return v;
}


static int walk_list(exec *x, const tmpl_list *l, val dot);


/* Sets a range's declared variables for one element, as Go's walkRange:
   one variable takes the element, two take index and element. */
static void range_vars(exec *x, const tmpl_pipe *pp, size_t mark, val index, val elem) {
  if (pp->ndecl == 0)
    return;
  if (pp->is_assign) {
    val *p0 = var_find(x, pp->decl[0], pp->decl_lens[0]);
    if (pp->ndecl == 1) {
      *p0 = elem;
    } else {
      val *p1 = var_find(x, pp->decl[1], pp->decl_lens[1]);
      *p0 = index;
      *p1 = elem;
    }
    return;
  }
  if (pp->ndecl == 1) {
    x->vars[mark].v = elem;
  } else {
    x->vars[mark].v = index;
    x->vars[mark + 1].v = elem;
  }
}


static int walk_node(exec *x, const tmpl_node *n, val dot) {
  size_t mark = x->nvars;
  val v;
  int flow = FLOW_NORMAL;
  if (x->legacy_cut && n->cut)
    return FLOW_NORMAL;
  step(x, n->pos);
  switch (n->kind) {
    case N_TEXT:
      sb_put(x, &x->out, n->text, n->len);
      return FLOW_NORMAL;
    case N_ACTION:
      v = eval_pipe(x, n->pipe, dot);
      if (n->pipe->ndecl == 0 && v.k != V_NIL)  /* Go prints "<no value>"; we print nothing */
        print_val(x, &x->out, &v, 1);
      return FLOW_NORMAL;
    case N_BREAK: return FLOW_BREAK;
    case N_CONTINUE: return FLOW_CONTINUE;
    case N_IF: case N_WITH:
      v = eval_pipe(x, n->pipe, dot);
      if (truth(&v))
        flow = walk_list(x, &n->body, n->kind == N_WITH ? v : dot);
      else if (!(x->legacy_cut && n->els_cut))
        flow = walk_list(x, &n->els, dot);
      x->nvars = mark;
      return flow;
    case N_RANGE: {
      size_t vmark, i, count;
      v = eval_pipe(x, n->pipe, dot);
      vmark = mark;
      if (v.k == V_LIST || v.k == V_INT)
        count = v.k == V_LIST ? v.l->n : v.i > 0 ? (size_t)v.i : 0;
      else if (v.k == V_NIL)
        count = 0;
      else
        xerr(x, n->pos, "range can't iterate over %s", type_name(&v));
      for (i = 0; i < count; i++) {
        val elem = v.k == V_LIST ? v.l->items[i] : v_int((long long)i);
        size_t inner;
        int f;
        range_vars(x, n->pipe, vmark, v_int((long long)i), elem);
        inner = x->nvars;
        f = walk_list(x, &n->body, elem);
        x->nvars = inner;
        if (f == FLOW_BREAK)
          break;
      }
      if (count == 0 && !(x->legacy_cut && n->els_cut))
        flow = walk_list(x, &n->els, dot);
      x->nvars = mark;
      return flow;
    }
  }
  return FLOW_NORMAL;
}


/* Walks a list; stops early and reports {{break}}/{{continue}}. */
static int walk_list(exec *x, const tmpl_list *l, val dot) {
  size_t i;
  for (i = 0; i < l->n; i++) {
    int f = walk_node(x, l->items[i], dot);
    if (f != FLOW_NORMAL)
      return f;
  }
  return FLOW_NORMAL;
}


/* ========== Ollama's chat rules ========== */

static val make_rec(exec *x, const char *const *names, const val *vals, size_t n) {
  vrec *r = xalloc(x, sizeof *r);
  val *vs = xalloc(x, n * sizeof *vs);
  val v = v_nil();
  memcpy(vs, vals, n * sizeof *vs);
  r->n = n;
  r->names = names;
  r->vals = vs;
  v.k = V_REC;
  v.r = r;
  return v;
}


static void render(exec *x, val root, int cut) {
  x->nvars = 0;
  var_push(x, "$", 1, root);
  x->legacy_cut = cut;
  walk_list(x, &x->t->root, root);
}


/* Appends a string to an arena string, with "\n\n" between (collate). */
static val join2(exec *x, val a, const char *b) {
  size_t bn = strlen(b);
  char *s;
  if (bn > TY_TMPL_MAX_OUT || a.n > TY_TMPL_MAX_OUT)
    xerr(x, 0, "chat message too long");
  s = xalloc(x, a.n + 2 + bn + 1);
  memcpy(s, a.s, a.n);
  memcpy(s + a.n, "\n\n", 2);
  memcpy(s + a.n + 2, b, bn + 1);
  return v_str(s, a.n + 2 + bn);
}


static val cstr(const char *s) { return v_str(s ? s : "", s ? strlen(s) : 0); }


static void chat_body(exec *x, const struct ty_chat_msg *msgs, size_t n);


ty_status ty_tmpl_chat(const ty_tmpl *t, const struct ty_chat_msg *msgs, size_t n,
                       char **out, size_t *out_len, ty_err *err) {
  exec *x;
  if (t == NULL || out == NULL || (msgs == NULL && n > 0))
    return ty_err_set(err, TY_ERR_ARG, "ty_tmpl_chat: NULL argument");
  *out = NULL;
  if (out_len)
    *out_len = 0;
  x = calloc(1, sizeof *x);
  if (x == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "template: out of memory while rendering");
  x->t = t;
  x->err = err;
  x->ar.limit = EXEC_MAX_ARENA;
  if (setjmp(x->jb)) {
    ty_status st = err ? err->code : TY_ERR_FORMAT;
    tmpl_arena_free(&x->ar);
    free(x->out.p);
    free(x->tmp.p);
    free(x->vars);
    free(x);
    return st;
  }
  chat_body(x, msgs, n);
  if (x->out.p == NULL)
    sb_put(x, &x->out, "", 0);
  *out = x->out.p;
  if (out_len)
    *out_len = x->out.n;
  tmpl_arena_free(&x->ar);
  free(x->tmp.p);
  free(x->vars);
  free(x);
  ty_err_clear(err);
  return TY_OK;
}


/* Collates the messages and renders them with Ollama's rules into x->out. */
static void chat_body(exec *x, const struct ty_chat_msg *msgs, size_t n) {
  static const char *const msg_names[] = { "Role", "Content" };
  static const char *const msg_root[] = { "System", "Messages", "Response" };
  static const char *const legacy_root[] = { "System", "Prompt", "Response" };
  const ty_tmpl *t = x->t;
  size_t i, nc = 0;
  val system = v_str("", 0), *roles, *contents;
  int have_system = 0;
  if (n > (1u << 20))
    xerr(x, 0, "chat has too many messages");
  roles = xalloc(x, (n ? n : 1) * sizeof *roles);
  contents = xalloc(x, (n ? n : 1) * sizeof *contents);
  /* collate: join system messages; merge consecutive messages of one role */
  for (i = 0; i < n; i++) {
    val role = cstr(msgs[i].role);
    if (role.n == 6 && memcmp(role.s, "system", 6) == 0) {
      system = have_system ? join2(x, system, msgs[i].content ? msgs[i].content : "")
                           : cstr(msgs[i].content);
      have_system = 1;
    }
    if (nc > 0 && roles[nc - 1].n == role.n && memcmp(roles[nc - 1].s, role.s, role.n) == 0) {
      contents[nc - 1] = join2(x, contents[nc - 1], msgs[i].content ? msgs[i].content : "");
    } else {
      roles[nc] = role;
      contents[nc] = cstr(msgs[i].content);
      nc++;
    }
  }
  if (t->uses_messages) {
    vlist *l = xalloc(x, sizeof *l);
    val vals[3], list = v_nil();
    l->n = nc;
    l->items = xalloc(x, (nc ? nc : 1) * sizeof *l->items);
    for (i = 0; i < nc; i++) {
      val mv[2];
      mv[0] = roles[i];
      mv[1] = contents[i];
      l->items[i] = make_rec(x, msg_names, mv, 2);
    }
    list.k = V_LIST;
    list.l = l;
    vals[0] = system;
    vals[1] = list;
    vals[2] = v_str("", 0);
    render(x, make_rec(x, msg_root, vals, 3), 0);
  } else {
    /* legacy: one render per completed exchange, then the last prompt cut
       just before .Response */
    val sys = v_str("", 0), prompt = v_str("", 0), resp = v_str("", 0), vals[3];
    for (i = 0; i < nc; i++) {
      int is_sys = roles[i].n == 6 && memcmp(roles[i].s, "system", 6) == 0;
      int is_user = roles[i].n == 4 && memcmp(roles[i].s, "user", 4) == 0;
      int is_asst = roles[i].n == 9 && memcmp(roles[i].s, "assistant", 9) == 0;
      if ((is_sys && (prompt.n || resp.n)) || (is_user && resp.n)) {
        vals[0] = sys; vals[1] = prompt; vals[2] = resp;
        render(x, make_rec(x, legacy_root, vals, 3), 0);
        sys = prompt = resp = v_str("", 0);
      }
      if (is_sys)
        sys = contents[i];
      else if (is_user)
        prompt = contents[i];
      else if (is_asst)
        resp = contents[i];
    }
    vals[0] = sys; vals[1] = prompt; vals[2] = resp;
    render(x, make_rec(x, legacy_root, vals, 3), 1);
  }
}
