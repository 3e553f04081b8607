/*
 * regex.c: parser, compiler and backtracking matcher for the pre-tokenizer
 * regexes. Patterns become a small instruction list; single-character loops
 * (\p{L}+, \s*, ...) run as one instruction with one backtrack entry, so the
 * usual patterns stay linear and the explicit stack never grows per character.
 */
#include "regex.h"

#include <stdlib.h>
#include <string.h>

#include "unicode.h"

#define RE_INF UINT32_MAX
#define RE_MAX_NODES 4096          /* parsed pattern size */
#define RE_MAX_PROG 65536          /* instructions after expanding {m,n} */
#define RE_MAX_DEPTH 64            /* group nesting */
#define RE_MAX_REPEAT 1000         /* largest m or n in {m,n} */
#define RE_STACK_LIMIT (1u << 22)  /* backtrack entries (12 bytes each): 48 MiB */


/* {======================================================================
** Properties
** ====================================================================== */

unsigned ty_regex_props(uint32_t cp) {
  unsigned f = ty_unicode_flags(cp), p = 0;
  /* llama.cpp matches \p{..} on a "collapsed" text (every code point >= 128
     becomes one byte standing for its category, whitespace first), so a
     code point has at most one of L N P M S, none when it is whitespace,
     and unassigned, separator and control code points have none at all */
  if (f & TY_UCP_WHITESPACE)
    return TY_RE_SPACE;
  if (f & TY_UCP_LETTER) p |= TY_RE_L;
  if (f & TY_UCP_NUMBER) p |= TY_RE_N;
  if (f & TY_UCP_PUNCTUATION) p |= TY_RE_P;
  if (f & TY_UCP_MARK) p |= TY_RE_M;
  if (f & TY_UCP_SYMBOL) p |= TY_RE_S;
  if (cp < 128) {
    /* std::regex in the C locale: \d and \w are ASCII only */
    if (cp >= '0' && cp <= '9')
      p |= TY_RE_DIGIT | TY_RE_WORD;
    else if ((f & TY_UCP_LETTER) || cp == '_')
      p |= TY_RE_WORD;
  } else if (ty_unicode_is_han(cp)) {
    p |= TY_RE_HAN;
  }
  return p;
}


/* {======================================================================
** Compiled form
** ====================================================================== */

struct re_range {
  uint32_t lo, hi;
};

/* A set of code points. A leaf holds ranges and properties (or negated
   properties), then is negated as a whole; an AND or OR node combines two
   classes, the second one optionally negated (folded lookaheads and
   single-character alternations). */
enum { CLS_LEAF, CLS_AND, CLS_OR };

struct re_class {
  uint64_t ascii[2];            /* final answer for cp < 128 */
  uint8_t kind;
  uint8_t neg;                  /* leaf: negated */
  uint8_t neg_b;                /* AND/OR: b is negated */
  uint16_t props, nprops;       /* leaf: in when (pr & props) or (~pr & nprops) */
  uint32_t r0, nr;              /* leaf: ranges re->ranges[r0 .. r0+nr) */
  int32_t a, b;                 /* AND/OR operands */
};

enum {
  OP_CLASS, OP_LOOP, OP_SPLIT, OP_JMP, OP_LOOK, OP_NLOOK,
  OP_BOL, OP_EOL, OP_WB, OP_NWB, OP_MATCH
};

struct re_inst {
  uint8_t op;
  int32_t cls;                  /* OP_CLASS, OP_LOOP */
  uint32_t x, y;                /* SPLIT: try x, then y; JMP: x; LOOK: body x, next y */
  uint32_t min, max;            /* OP_LOOP bounds */
};

struct ty_regex {
  struct re_class *cls;
  size_t ncls, capcls;
  struct re_range *ranges;
  size_t nranges, capranges;
  struct re_inst *prog;
  size_t nprog, capprog;
};


static int class_has_range(const ty_regex *re, const struct re_class *c, uint32_t cp) {
  size_t lo = c->r0, hi = c->r0 + c->nr;
  while (lo < hi) {             /* ranges are sorted and merged */
    size_t mid = lo + (hi - lo) / 2;
    if (cp < re->ranges[mid].lo)
      hi = mid;
    else if (cp > re->ranges[mid].hi)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}


/* Whether cp (with property bits pr) is in class i, computed from the parts
   (class_match uses the ASCII bitmap first). */
static int class_eval(const ty_regex *re, int32_t i, uint32_t cp, unsigned pr) {
  const struct re_class *c = &re->cls[i];
  int in;
  if (c->kind == CLS_AND)
    return class_eval(re, c->a, cp, pr) && (class_eval(re, c->b, cp, pr) ^ c->neg_b);
  if (c->kind == CLS_OR)
    return class_eval(re, c->a, cp, pr) || (class_eval(re, c->b, cp, pr) ^ c->neg_b);
  in = (pr & c->props) != 0 || (~pr & c->nprops) != 0 || class_has_range(re, c, cp);
  return in ^ c->neg;
}


static inline int class_match(const ty_regex *re, int32_t i, uint32_t cp, unsigned pr) {
  if (cp < 128)
    return (int)((re->cls[i].ascii[cp >> 6] >> (cp & 63)) & 1);
  return class_eval(re, i, cp, pr);
}


/* {======================================================================
** Parser: pattern -> tree
** ====================================================================== */

enum { N_EMPTY, N_CLASS, N_CAT, N_ALT, N_REP, N_LOOK, N_BOL, N_EOL, N_WB, N_NWB };

struct re_node {
  uint8_t type;
  uint8_t neg;                  /* N_LOOK: negative */
  int32_t kid, next;            /* first child, next sibling (-1 = none) */
  int32_t cls;                  /* N_CLASS */
  uint32_t min, max;            /* N_REP */
};

struct parser {
  uint32_t *p;                  /* pattern code points */
  size_t n, i;
  struct re_node *nodes;
  size_t nnodes;
  ty_regex *re;
  ty_err *err;
  ty_status st;                 /* first failure */
  int depth;
  /* the class being built */
  struct re_range *tmp;
  size_t ntmp, captmp;
};


static int fail(struct parser *ps, ty_status code, const char *what) {
  if (ps->st == TY_OK)
    ty_err_set(ps->err, code, "regex: %s at pattern offset %zu", what, ps->i);
  ps->st = code;
  return -1;
}


static int new_node(struct parser *ps, int type) {
  struct re_node *nd;
  if (ps->nnodes >= RE_MAX_NODES)
    return fail(ps, TY_ERR_UNSUPPORTED, "pattern too long");
  nd = &ps->nodes[ps->nnodes];
  memset(nd, 0, sizeof *nd);
  nd->type = (uint8_t)type;
  nd->kid = nd->next = nd->cls = -1;
  return (int)ps->nnodes++;
}


static int tmp_add(struct parser *ps, uint32_t lo, uint32_t hi) {
  if (ps->ntmp == ps->captmp) {
    size_t cap = ps->captmp ? ps->captmp * 2 : 16;
    struct re_range *t = realloc(ps->tmp, cap * sizeof *t);
    if (t == NULL)
      return fail(ps, TY_ERR_NOMEM, "out of memory");
    ps->tmp = t;
    ps->captmp = cap;
  }
  ps->tmp[ps->ntmp].lo = lo;
  ps->tmp[ps->ntmp].hi = hi;
  ps->ntmp++;
  return 0;
}


static int cmp_range(const void *a, const void *b) {
  const struct re_range *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}


/* Fills the ASCII bitmap of class i from its parts. */
static void class_finish_ascii(ty_regex *re, int32_t i) {
  uint32_t cp;
  re->cls[i].ascii[0] = re->cls[i].ascii[1] = 0;
  for (cp = 0; cp < 128; cp++)
    if (class_eval(re, i, cp, ty_regex_props(cp)))
      re->cls[i].ascii[cp >> 6] |= (uint64_t)1 << (cp & 63);
}


/* Makes a class from the ranges collected in ps->tmp (sorted and merged
   here) and the given properties; returns its index or -1. */
static int32_t class_new(struct parser *ps, unsigned props, unsigned nprops, int neg) {
  ty_regex *re = ps->re;
  struct re_class *c;
  size_t i, o = 0;
  if (ps->ntmp > 1)
    qsort(ps->tmp, ps->ntmp, sizeof *ps->tmp, cmp_range);
  for (i = 0; i < ps->ntmp; i++) {
    if (o > 0 && ps->tmp[i].lo <= ps->tmp[o - 1].hi + 1) {
      if (ps->tmp[i].hi > ps->tmp[o - 1].hi)
        ps->tmp[o - 1].hi = ps->tmp[i].hi;
    } else {
      ps->tmp[o++] = ps->tmp[i];
    }
  }
  if (re->nranges + o > re->capranges) {
    size_t cap = (re->nranges + o) * 2 + 16;
    struct re_range *r = realloc(re->ranges, cap * sizeof *r);
    if (r == NULL)
      return fail(ps, TY_ERR_NOMEM, "out of memory");
    re->ranges = r;
    re->capranges = cap;
  }
  if (re->ncls == re->capcls) {
    size_t cap = re->capcls ? re->capcls * 2 : 16;
    struct re_class *cl = realloc(re->cls, cap * sizeof *cl);
    if (cl == NULL)
      return fail(ps, TY_ERR_NOMEM, "out of memory");
    re->cls = cl;
    re->capcls = cap;
  }
  c = &re->cls[re->ncls];
  memset(c, 0, sizeof *c);
  c->r0 = (uint32_t)re->nranges;
  c->nr = (uint32_t)o;
  if (o > 0)
    memcpy(re->ranges + re->nranges, ps->tmp, o * sizeof *ps->tmp);
  re->nranges += o;
  c->props = (uint16_t)props;
  c->nprops = (uint16_t)nprops;
  c->kind = CLS_LEAF;
  c->neg = (uint8_t)(neg != 0);
  c->a = c->b = -1;
  ps->ntmp = 0;
  class_finish_ascii(re, (int32_t)re->ncls);
  return (int32_t)re->ncls++;
}


static int peek(struct parser *ps, uint32_t c) {
  return ps->i < ps->n && ps->p[ps->i] == c;
}


static int hexval(uint32_t c) {
  if (c >= '0' && c <= '9') return (int)(c - '0');
  if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
  return -1;
}


static unsigned prop_fail(struct parser *ps, ty_status code, const char *what) {
  fail(ps, code, what);
  return 0;
}


/* Reads \p{Name} / \P{Name} after the 'p' or 'P'; returns the TY_RE_* bit or
   0 after setting an error. */
static unsigned parse_prop(struct parser *ps) {
  static const struct { const char *name; unsigned bit; } names[] = {
    /* llama.cpp maps the letter subcategories to "any letter" (k_ucat_enum),
       so [\p{Lu}...]*[\p{Ll}...]+ behaves as [\p{L}]*[\p{L}]+ there and here */
    { "L", TY_RE_L }, { "Lu", TY_RE_L }, { "Ll", TY_RE_L }, { "Lt", TY_RE_L },
    { "Lm", TY_RE_L }, { "Lo", TY_RE_L }, { "N", TY_RE_N }, { "P", TY_RE_P },
    { "M", TY_RE_M }, { "S", TY_RE_S }, { "Han", TY_RE_HAN },
  };
  char name[16];
  size_t k = 0, j;
  if (!peek(ps, '{'))
    return prop_fail(ps, TY_ERR_FORMAT, "expected '{' after \\p");
  ps->i++;
  while (ps->i < ps->n && ps->p[ps->i] != '}') {
    if (k + 1 >= sizeof name || ps->p[ps->i] > 127)
      return prop_fail(ps, TY_ERR_UNSUPPORTED, "unknown property");
    name[k++] = (char)ps->p[ps->i++];
  }
  name[k] = '\0';
  if (!peek(ps, '}'))
    return prop_fail(ps, TY_ERR_FORMAT, "unterminated \\p{");
  ps->i++;
  for (j = 0; j < sizeof names / sizeof names[0]; j++)
    if (strcmp(names[j].name, name) == 0)
      return names[j].bit;
  return prop_fail(ps, TY_ERR_UNSUPPORTED, "unknown property");
}


/* An escape after '\': either a single code point (*cp set, returns 1) or a
   property (*prop or *nprop set, returns 2); -1 on error. The callers handle
   \b first (a backspace in a class, a word boundary outside). */
static int parse_escape(struct parser *ps, uint32_t *cp, unsigned *prop, unsigned *nprop) {
  uint32_t c;
  *prop = *nprop = 0;
  if (ps->i >= ps->n)
    return fail(ps, TY_ERR_FORMAT, "pattern ends with '\\'");
  c = ps->p[ps->i++];
  switch (c) {
    case 's': *prop = TY_RE_SPACE; return 2;
    case 'S': *nprop = TY_RE_SPACE; return 2;
    case 'd': *prop = TY_RE_DIGIT; return 2;
    case 'D': *nprop = TY_RE_DIGIT; return 2;
    case 'w': *prop = TY_RE_WORD; return 2;
    case 'W': *nprop = TY_RE_WORD; return 2;
    case 'p': *prop = parse_prop(ps); return *prop ? 2 : -1;
    case 'P': *nprop = parse_prop(ps); return *nprop ? 2 : -1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 't': *cp = '\t'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    case '0': *cp = 0; return 1;
    case 'x': case 'u': {
      int nd = c == 'x' ? 2 : 4, k;
      uint32_t v = 0;
      for (k = 0; k < nd; k++) {
        int h = ps->i < ps->n ? hexval(ps->p[ps->i]) : -1;
        if (h < 0)
          return fail(ps, TY_ERR_FORMAT, "bad hex escape");
        v = v * 16 + (uint32_t)h;
        ps->i++;
      }
      *cp = v;
      return 1;
    }
    default:
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
        return fail(ps, TY_ERR_UNSUPPORTED, "unsupported escape");
      *cp = c;                  /* \. \\ \[ \- \$ ... stand for themselves */
      return 1;
  }
}


/* Parses a bracket class after '['; returns a N_CLASS node or -1. */
static int parse_bracket(struct parser *ps) {
  unsigned props = 0, nprops = 0;
  int neg = 0, node, first = 1;
  if (peek(ps, '^')) {
    neg = 1;
    ps->i++;
  }
  for (;;) {
    uint32_t lo, hi;
    unsigned pr, npr;
    int k;
    if (ps->i >= ps->n)
      return fail(ps, TY_ERR_FORMAT, "unterminated '['");
    if (ps->p[ps->i] == ']' && !first)
      break;
    first = 0;
    if (ps->p[ps->i] == '[')
      return fail(ps, TY_ERR_UNSUPPORTED, "nested '[' in a class");
    if (ps->p[ps->i] == '\\') {
      ps->i++;
      if (peek(ps, 'b')) {      /* backspace inside a class */
        ps->i++;
        lo = 8;
        k = 1;
      } else {
        k = parse_escape(ps, &lo, &pr, &npr);
      }
      if (k < 0)
        return -1;
      if (k == 2) {
        props |= pr;
        nprops |= npr;
        continue;
      }
    } else {
      lo = ps->p[ps->i++];
    }
    hi = lo;
    if (peek(ps, '-') && ps->i + 1 < ps->n && ps->p[ps->i + 1] != ']') {
      ps->i++;
      if (ps->p[ps->i] == '\\') {
        ps->i++;
        k = parse_escape(ps, &hi, &pr, &npr);
        if (k < 0)
          return -1;
        if (k == 2)
          return fail(ps, TY_ERR_FORMAT, "class escape as a range end");
      } else {
        hi = ps->p[ps->i++];
      }
      if (hi < lo)
        return fail(ps, TY_ERR_FORMAT, "range out of order");
    }
    if (tmp_add(ps, lo, hi) < 0)
      return -1;
  }
  ps->i++;                      /* ']' */
  node = new_node(ps, N_CLASS);
  if (node < 0)
    return -1;
  ps->nodes[node].cls = class_new(ps, props, nprops, neg);
  return ps->nodes[node].cls < 0 ? -1 : node;
}


static int parse_alt(struct parser *ps);


/* Parses one atom (without its quantifier); returns a node or -1. */
static int parse_atom(struct parser *ps) {
  uint32_t c = ps->p[ps->i];
  int node;
  if (c == '(') {
    int look = 0, neg = 0, inner;
    ps->i++;
    if (peek(ps, '?')) {
      ps->i++;
      if (peek(ps, ':')) {
        ps->i++;
      } else if (peek(ps, '=') || peek(ps, '!')) {
        look = 1;
        neg = ps->p[ps->i] == '!';
        ps->i++;
      } else {
        return fail(ps, TY_ERR_UNSUPPORTED, "unsupported group kind");
      }
    }
    if (++ps->depth > RE_MAX_DEPTH)
      return fail(ps, TY_ERR_UNSUPPORTED, "groups nested too deep");
    inner = parse_alt(ps);
    ps->depth--;
    if (inner < 0)
      return -1;
    if (!peek(ps, ')'))
      return fail(ps, TY_ERR_FORMAT, "missing ')'");
    ps->i++;
    if (!look)
      return inner;             /* captures do not matter for splitting */
    node = new_node(ps, N_LOOK);
    if (node < 0)
      return -1;
    ps->nodes[node].kid = inner;
    ps->nodes[node].neg = (uint8_t)neg;
    return node;
  }
  if (c == '[') {
    ps->i++;
    return parse_bracket(ps);
  }
  if (c == '^' || c == '$') {
    ps->i++;
    return new_node(ps, c == '^' ? N_BOL : N_EOL);
  }
  if (c == '*' || c == '+' || c == '?' || c == ')')
    return fail(ps, TY_ERR_FORMAT, "unexpected character");
  ps->i++;
  if (c == '.') {               /* ECMAScript: anything but a line terminator */
    if (tmp_add(ps, '\n', '\n') < 0 || tmp_add(ps, '\r', '\r') < 0 ||
        tmp_add(ps, 0x2028, 0x2029) < 0)
      return -1;
    node = new_node(ps, N_CLASS);
    if (node < 0)
      return -1;
    ps->nodes[node].cls = class_new(ps, 0, 0, 1);
    return ps->nodes[node].cls < 0 ? -1 : node;
  }
  {
    unsigned pr = 0, npr = 0;
    uint32_t lit = c;
    if (c == '\\') {
      int k;
      if (peek(ps, 'b') || peek(ps, 'B')) {
        node = new_node(ps, ps->p[ps->i] == 'b' ? N_WB : N_NWB);
        ps->i++;
        return node;
      }
      k = parse_escape(ps, &lit, &pr, &npr);
      if (k < 0)
        return -1;
      if (k == 1 && tmp_add(ps, lit, lit) < 0)
        return -1;
    } else if (tmp_add(ps, lit, lit) < 0) {
      return -1;
    }
    node = new_node(ps, N_CLASS);
    if (node < 0)
      return -1;
    ps->nodes[node].cls = class_new(ps, pr, npr, 0);
    return ps->nodes[node].cls < 0 ? -1 : node;
  }
}


/* Reads a decimal number for {m,n}; returns -1 if there is none. */
static long parse_num(struct parser *ps) {
  long v = -1;
  while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') {
    v = (v < 0 ? 0 : v) * 10 + (long)(ps->p[ps->i] - '0');
    if (v > RE_MAX_REPEAT)
      return fail(ps, TY_ERR_UNSUPPORTED, "repeat count too large"), -2;
    ps->i++;
  }
  return v;
}


/* Parses a concatenation of quantified atoms up to '|' or ')'. */
static int parse_cat(struct parser *ps) {
  int cat = new_node(ps, N_CAT), last = -1;
  if (cat < 0)
    return -1;
  while (ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')') {
    int atom = parse_atom(ps);
    uint32_t min = 1, max = 1;
    int quant = 0;
    if (atom < 0)
      return -1;
    if (ps->i < ps->n) {
      uint32_t q = ps->p[ps->i];
      if (q == '*' || q == '+' || q == '?') {
        min = q == '+';
        max = q == '?' ? 1 : RE_INF;
        quant = 1;
        ps->i++;
      } else if (q == '{' && ps->i + 1 < ps->n && ps->p[ps->i + 1] >= '0' && ps->p[ps->i + 1] <= '9') {
        long m, n;
        ps->i++;
        m = parse_num(ps);
        if (m < 0)
          return -1;
        n = m;
        if (peek(ps, ',')) {
          ps->i++;
          n = peek(ps, '}') ? -1 : parse_num(ps);
          if (n == -2)
            return -1;
          if (n >= 0 && n < m)
            return fail(ps, TY_ERR_FORMAT, "repeat bounds out of order");
        }
        if (!peek(ps, '}'))
          return fail(ps, TY_ERR_FORMAT, "bad repeat");
        ps->i++;
        min = (uint32_t)m;
        max = n < 0 ? RE_INF : (uint32_t)n;
        quant = 1;
      }
      if (quant && ps->i < ps->n && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+'))
        return fail(ps, TY_ERR_UNSUPPORTED, "lazy or possessive quantifier");
    }
    if (quant) {
      int rep = new_node(ps, N_REP);
      if (rep < 0)
        return -1;
      ps->nodes[rep].kid = atom;
      ps->nodes[rep].min = min;
      ps->nodes[rep].max = max;
      atom = rep;
    }
    if (last < 0)
      ps->nodes[cat].kid = atom;
    else
      ps->nodes[last].next = atom;
    last = atom;
  }
  return cat;
}


static int parse_alt(struct parser *ps) {
  int alt = new_node(ps, N_ALT), last;
  if (alt < 0)
    return -1;
  last = parse_cat(ps);
  if (last < 0)
    return -1;
  ps->nodes[alt].kid = last;
  while (peek(ps, '|')) {
    int cat;
    ps->i++;
    cat = parse_cat(ps);
    if (cat < 0)
      return -1;
    ps->nodes[last].next = cat;
    last = cat;
  }
  return alt;
}


/* {======================================================================
** Simplifier: fold lookahead+class and single-character alternations into
** classes so that repeats over them become single loop instructions
** ====================================================================== */


/* Combines classes a and b (b negated when neg_b) with AND or OR; returns the
   new class index or -1. */
static int32_t class_combine(struct parser *ps, int kind, int32_t a, int32_t b, int neg_b) {
  int32_t c;
  ps->ntmp = 0;
  c = class_new(ps, 0, 0, 0);
  if (c < 0)
    return -1;
  ps->re->cls[c].kind = (uint8_t)kind;
  ps->re->cls[c].a = a;
  ps->re->cls[c].b = b;
  ps->re->cls[c].neg_b = (uint8_t)neg_b;
  class_finish_ascii(ps->re, c);
  return c;
}


static int is_class(struct parser *ps, int n) {
  return n >= 0 && ps->nodes[n].type == N_CLASS;
}


/* Simplifies the tree under n and returns the node that replaces n (or -1):
   (?=A)B and (?!A)B, with A and B single-character classes, become the
   class B-and-(not)-A, and an alternation of classes becomes their union.
   Both are exact: each side consumes one code point or fails, also at the
   end of the subject. Then [...]* and ((?=A)B)* run as loop instructions. */
static int simplify(struct parser *ps, int n) {
  struct re_node *nd = &ps->nodes[n];
  int prev = -1, k, changed;
  for (k = nd->kid; k >= 0; ) {
    int next = ps->nodes[k].next, r = simplify(ps, k);
    if (r < 0)
      return -1;
    ps->nodes[r].next = next;
    if (prev < 0)
      nd->kid = r;
    else
      ps->nodes[prev].next = r;
    prev = r;
    k = next;
  }
  if (nd->type == N_CAT) {
    do {
      changed = 0;
      for (k = nd->kid; k >= 0 && ps->nodes[k].next >= 0; k = ps->nodes[k].next) {
        struct re_node *look = &ps->nodes[k], *cl = &ps->nodes[look->next];
        if (look->type == N_LOOK && is_class(ps, look->kid) && cl->type == N_CLASS) {
          int32_t c = class_combine(ps, CLS_AND, cl->cls, ps->nodes[look->kid].cls, look->neg);
          if (c < 0)
            return -1;
          look->type = N_CLASS;
          look->cls = c;
          look->kid = -1;
          look->next = cl->next;
          changed = 1;
          break;
        }
      }
    } while (changed);
  } else if (nd->type == N_ALT) {
    int all = 1;
    for (k = nd->kid; k >= 0; k = ps->nodes[k].next)
      all &= is_class(ps, k);
    if (all && nd->kid >= 0 && ps->nodes[nd->kid].next >= 0) {
      int32_t c = ps->nodes[nd->kid].cls;
      for (k = ps->nodes[nd->kid].next; k >= 0; k = ps->nodes[k].next) {
        c = class_combine(ps, CLS_OR, c, ps->nodes[k].cls, 0);
        if (c < 0)
          return -1;
      }
      nd->type = N_CLASS;
      nd->cls = c;
      nd->kid = -1;
      return n;
    }
  }
  if ((nd->type == N_CAT || nd->type == N_ALT) && nd->kid >= 0 && ps->nodes[nd->kid].next < 0)
    return nd->kid;             /* a sequence or choice of one */
  return n;
}


/* Whether n can match the empty string. */
static int nullable(struct parser *ps, int n) {
  const struct re_node *nd = &ps->nodes[n];
  int k;
  switch (nd->type) {
    case N_CLASS:
      return 0;
    case N_CAT:
      for (k = nd->kid; k >= 0; k = ps->nodes[k].next)
        if (!nullable(ps, k))
          return 0;
      return 1;
    case N_ALT:
      for (k = nd->kid; k >= 0; k = ps->nodes[k].next)
        if (nullable(ps, k))
          return 1;
      return nd->kid < 0;
    case N_REP:
      return nd->min == 0 || nullable(ps, nd->kid);
    default:
      return 1;
  }
}


/* {======================================================================
** Compiler: tree -> instructions
** ====================================================================== */

static int emit(struct parser *ps, int op) {
  ty_regex *re = ps->re;
  if (re->nprog >= RE_MAX_PROG)
    return fail(ps, TY_ERR_UNSUPPORTED, "pattern expands too much");
  if (re->nprog == re->capprog) {
    size_t cap = re->capprog ? re->capprog * 2 : 64;
    struct re_inst *p = realloc(re->prog, cap * sizeof *p);
    if (p == NULL)
      return fail(ps, TY_ERR_NOMEM, "out of memory");
    re->prog = p;
    re->capprog = cap;
  }
  memset(&re->prog[re->nprog], 0, sizeof re->prog[0]);
  re->prog[re->nprog].op = (uint8_t)op;
  re->prog[re->nprog].cls = -1;
  return (int)re->nprog++;
}


static int compile(struct parser *ps, int n) {
  const struct re_node *nd = &ps->nodes[n];
  int k, at;
  uint32_t i;
  switch (nd->type) {
    case N_EMPTY:
      return 0;
    case N_CLASS:
      at = emit(ps, OP_CLASS);
      if (at < 0)
        return -1;
      ps->re->prog[at].cls = nd->cls;
      return 0;
    case N_CAT:
      for (k = nd->kid; k >= 0; k = ps->nodes[k].next)
        if (compile(ps, k) < 0)
          return -1;
      return 0;
    case N_ALT: {
      /* SPLIT a, next; a: ...; JMP end; next: SPLIT b, next2; ... last */
      int jumps[RE_MAX_NODES > 256 ? 256 : RE_MAX_NODES], nj = 0;
      for (k = nd->kid; k >= 0; k = ps->nodes[k].next) {
        int split = -1;
        if (ps->nodes[k].next >= 0) {
          split = emit(ps, OP_SPLIT);
          if (split < 0)
            return -1;
          ps->re->prog[split].x = (uint32_t)ps->re->nprog;
        }
        if (compile(ps, k) < 0)
          return -1;
        if (split >= 0) {
          if (nj == (int)(sizeof jumps / sizeof jumps[0]))
            return fail(ps, TY_ERR_UNSUPPORTED, "too many alternatives");
          jumps[nj] = emit(ps, OP_JMP);
          if (jumps[nj] < 0)
            return -1;
          nj++;
          ps->re->prog[split].y = (uint32_t)ps->re->nprog;
        }
      }
      for (k = 0; k < nj; k++)
        ps->re->prog[jumps[k]].x = (uint32_t)ps->re->nprog;
      return 0;
    }
    case N_REP:
      if (is_class(ps, nd->kid)) {
        at = emit(ps, OP_LOOP);
        if (at < 0)
          return -1;
        ps->re->prog[at].cls = ps->nodes[nd->kid].cls;
        ps->re->prog[at].min = nd->min;
        ps->re->prog[at].max = nd->max;
        return 0;
      }
      if (nd->max == RE_INF && nullable(ps, nd->kid))
        return fail(ps, TY_ERR_UNSUPPORTED, "unbounded repeat of something that can be empty");
      for (i = 0; i < nd->min; i++)
        if (compile(ps, nd->kid) < 0)
          return -1;
      if (nd->max == RE_INF) {
        /* L: SPLIT body, end; body; JMP L; end: */
        int split = emit(ps, OP_SPLIT), jmp;
        if (split < 0)
          return -1;
        ps->re->prog[split].x = (uint32_t)ps->re->nprog;
        if (compile(ps, nd->kid) < 0)
          return -1;
        jmp = emit(ps, OP_JMP);
        if (jmp < 0)
          return -1;
        ps->re->prog[jmp].x = (uint32_t)split;
        ps->re->prog[split].y = (uint32_t)ps->re->nprog;
      } else {
        /* (X(X(X)?)?)?: each optional copy exits to the end */
        uint32_t nopt = nd->max - nd->min;
        size_t first = ps->re->nprog, j;
        for (i = 0; i < nopt; i++) {
          at = emit(ps, OP_SPLIT);
          if (at < 0)
            return -1;
          ps->re->prog[at].x = (uint32_t)ps->re->nprog;
          ps->re->prog[at].y = UINT32_MAX;   /* patched below */
          if (compile(ps, nd->kid) < 0)
            return -1;
        }
        /* the body may hold SPLITs of its own, all patched already */
        for (j = first; j < ps->re->nprog; j++)
          if (ps->re->prog[j].op == OP_SPLIT && ps->re->prog[j].y == UINT32_MAX)
            ps->re->prog[j].y = (uint32_t)ps->re->nprog;
      }
      return 0;
    case N_LOOK:
      at = emit(ps, nd->neg ? OP_NLOOK : OP_LOOK);
      if (at < 0)
        return -1;
      ps->re->prog[at].x = (uint32_t)ps->re->nprog;
      if (compile(ps, nd->kid) < 0 || emit(ps, OP_MATCH) < 0)
        return -1;
      ps->re->prog[at].y = (uint32_t)ps->re->nprog;
      return 0;
    case N_BOL:
      return emit(ps, OP_BOL) < 0 ? -1 : 0;
    case N_EOL:
      return emit(ps, OP_EOL) < 0 ? -1 : 0;
    case N_WB:
      return emit(ps, OP_WB) < 0 ? -1 : 0;
    default:
      return emit(ps, OP_NWB) < 0 ? -1 : 0;
  }
}


ty_status ty_regex_new(const char *pat, size_t len, ty_regex **out, ty_err *err) {
  struct parser ps;
  size_t i = 0;
  int root;
  *out = NULL;
  memset(&ps, 0, sizeof ps);
  ps.err = err;
  ps.re = calloc(1, sizeof *ps.re);
  ps.p = malloc((len + 1) * sizeof *ps.p);
  ps.nodes = malloc(RE_MAX_NODES * sizeof *ps.nodes);
  if (ps.re == NULL || ps.p == NULL || ps.nodes == NULL) {
    fail(&ps, TY_ERR_NOMEM, "out of memory");
    goto done;
  }
  while (i < len) {
    size_t adv;
    ps.p[ps.n++] = ty_utf8_decode(pat + i, len - i, &adv);
    i += adv;
  }
  root = parse_alt(&ps);
  if (root >= 0 && ps.i < ps.n)
    root = fail(&ps, TY_ERR_FORMAT, "unbalanced ')'");
  if (root >= 0)
    root = simplify(&ps, root);
  if (root >= 0 && compile(&ps, root) == 0)
    emit(&ps, OP_MATCH);
done:
  free(ps.p);
  free(ps.nodes);
  free(ps.tmp);
  if (ps.st != TY_OK) {
    ty_regex_free(ps.re);
    return ps.st;
  }
  *out = ps.re;
  return TY_OK;
}


void ty_regex_free(ty_regex *re) {
  if (re == NULL)
    return;
  free(re->cls);
  free(re->ranges);
  free(re->prog);
  free(re);
}


/* {======================================================================
** Matcher
** ====================================================================== */

#define BT_LOOP 0x80000000u     /* entry of an OP_LOOP: may give back n chars */

struct bt {
  uint32_t pc;                  /* where to resume (| BT_LOOP: the loop) */
  uint32_t pos;                 /* subject position (loop: its start) */
  uint32_t n;                   /* loop: code points to keep on resuming */
};

/* What one search knows about a loop instruction in the current subject.
   Both facts only depend on positions (there are no captures or
   backreferences), so they stay true across searches of one subject. */
struct memo {
  uint32_t run_s, run_e;        /* the class matches all of [run_s, run_e) and
                                   not at run_e (run_e == end or a mismatch) */
  uint32_t dead_lo, dead_hi;    /* from every position in [dead_lo, dead_hi]
                                   what follows the loop fails */
  uint8_t has_run, has_dead;
};

struct vm {
  const ty_regex *re;
  const uint32_t *cp;
  const uint16_t *pr;
  uint32_t start, end;
  struct ty_regex_stack *st;
  struct memo *memo;            /* one per instruction */
  size_t sp;
};


/* Code points from pos on that loop instruction pc's class matches, up to
   the end of the subject (not capped by the loop's max). */
static uint32_t loop_run(struct vm *vm, uint32_t pc, uint32_t pos) {
  struct memo *m = &vm->memo[pc];
  const struct re_inst *in = &vm->re->prog[pc];
  uint32_t e = pos;
  if (m->has_run && pos >= m->run_s && pos <= m->run_e)
    return m->run_e - pos;
  while (e < vm->end && class_match(vm->re, in->cls, vm->cp[e], vm->pr[e]))
    e++;
  m->has_run = 1;
  m->run_s = pos;
  m->run_e = e;
  return e - pos;
}


static int is_dead(const struct memo *m, uint32_t pos) {
  return m->has_dead && pos >= m->dead_lo && pos <= m->dead_hi;
}


static void mark_dead(struct memo *m, uint32_t pos) {
  if (m->has_dead && pos + 1 >= m->dead_lo && pos <= m->dead_hi + 1) {
    if (pos < m->dead_lo) m->dead_lo = pos;
    if (pos > m->dead_hi) m->dead_hi = pos;
  } else {
    m->has_dead = 1;
    m->dead_lo = m->dead_hi = pos;
  }
}


/* The largest count n <= k, n >= min, whose end base+n is not known dead;
   returns 0 and sets *n, or -1 when there is none. */
static int loop_pick(const struct memo *m, uint32_t min, uint32_t base, uint32_t k, uint32_t *n) {
  if (is_dead(m, base + k)) {
    if (m->dead_lo <= base + min)
      return -1;
    k = m->dead_lo - 1 - base;
  }
  if (k < min)
    return -1;
  *n = k;
  return 0;
}


void ty_regex_stack_forget(struct ty_regex_stack *st) {
  if (st != NULL)
    st->re = st->cp = NULL;
}


void ty_regex_stack_free(struct ty_regex_stack *st) {
  if (st == NULL)
    return;
  free(st->items);
  free(st->memo);
  memset(st, 0, sizeof *st);
}


static int push(struct vm *vm, uint32_t pc, uint32_t pos, uint32_t n) {
  struct bt *e;
  if (vm->sp == vm->st->cap) {
    size_t cap = vm->st->cap ? vm->st->cap * 2 : 256;
    void *p;
    if (vm->st->cap >= RE_STACK_LIMIT)
      return -1;
    if (cap > RE_STACK_LIMIT)
      cap = RE_STACK_LIMIT;
    p = realloc(vm->st->items, cap * sizeof(struct bt));
    if (p == NULL)
      return -1;
    vm->st->items = p;
    vm->st->cap = cap;
  }
  e = (struct bt *)vm->st->items + vm->sp++;
  e->pc = pc;
  e->pos = pos;
  e->n = n;
  return 0;
}


/* Runs the program from pc at pos. Returns the end of the first match in
   priority order, -1 for none, -2 when the stack limit was hit. Lookahead
   bodies run as nested calls (their nesting is fixed by the pattern) and
   are atomic, as in ECMAScript. */
static long run(struct vm *vm, uint32_t pc, uint32_t pos) {
  const ty_regex *re = vm->re;
  size_t base = vm->sp;
  for (;;) {
    const struct re_inst *in = &re->prog[pc];
    switch (in->op) {
      case OP_CLASS:
        if (pos < vm->end && class_match(re, in->cls, vm->cp[pos], vm->pr[pos])) {
          pos++;
          pc++;
          continue;
        }
        goto fail;
      case OP_LOOP: {
        /* greedy: try the longest count first; the entry remembers the
           count being tried and gives back one code point per failure */
        uint32_t k = loop_run(vm, pc, pos), n;
        if (k > in->max)
          k = in->max;
        if (loop_pick(&vm->memo[pc], in->min, pos, k, &n) < 0)
          goto fail;
        if (push(vm, pc | BT_LOOP, pos, n) < 0)
          return -2;
        pos += n;
        pc++;
        continue;
      }
      case OP_SPLIT:
        if (push(vm, in->y, pos, 0) < 0)
          return -2;
        pc = in->x;
        continue;
      case OP_JMP:
        pc = in->x;
        continue;
      case OP_LOOK:
      case OP_NLOOK: {
        long r = run(vm, in->x, pos);
        if (r == -2)
          return -2;
        if ((r >= 0) == (in->op == OP_LOOK)) {
          pc = in->y;
          continue;
        }
        goto fail;
      }
      case OP_BOL:
        if (pos == vm->start) {
          pc++;
          continue;
        }
        goto fail;
      case OP_EOL:
        if (pos == vm->end) {
          pc++;
          continue;
        }
        goto fail;
      case OP_WB:
      case OP_NWB: {
        int a = pos > vm->start && (vm->pr[pos - 1] & TY_RE_WORD);
        int b = pos < vm->end && (vm->pr[pos] & TY_RE_WORD);
        if ((a != b) == (in->op == OP_WB)) {
          pc++;
          continue;
        }
        goto fail;
      }
      default:                  /* OP_MATCH */
        vm->sp = base;
        return pos;
    }
  fail:
    {
      struct bt *e;
      if (vm->sp == base)
        return -1;
      e = (struct bt *)vm->st->items + vm->sp - 1;
      if (e->pc & BT_LOOP) {
        /* everything after the loop failed from e->pos + e->n */
        uint32_t lpc = e->pc & ~BT_LOOP, n;
        struct memo *m = &vm->memo[lpc];
        mark_dead(m, e->pos + e->n);
        if (e->n == 0 || loop_pick(m, re->prog[lpc].min, e->pos, e->n - 1, &n) < 0) {
          vm->sp--;
          goto fail;
        }
        e->n = n;
        pos = e->pos + n;
        pc = lpc + 1;
      } else {
        pc = e->pc;
        pos = e->pos;
        vm->sp--;
      }
    }
  }
}


int ty_regex_search(const ty_regex *re, const uint32_t *cp, const uint16_t *pr,
                    size_t start, size_t end, size_t from, size_t *ms, size_t *me,
                    struct ty_regex_stack *st) {
  struct vm vm;
  size_t s;
  if (end > UINT32_MAX - 1 || from < start || from > end)
    return -1;
  vm.re = re;
  vm.cp = cp;
  vm.pr = pr;
  vm.start = (uint32_t)start;
  vm.end = (uint32_t)end;
  vm.st = st;
  vm.sp = 0;
  if (st->memo == NULL || st->nmemo < re->nprog || st->re != (const void *)re ||
      st->cp != (const void *)cp || st->start != start || st->end != end) {
    /* another subject: forget what was learnt */
    if (st->nmemo < re->nprog) {
      void *m = realloc(st->memo, re->nprog * sizeof(struct memo));
      if (m == NULL)
        return -1;
      st->memo = m;
      st->nmemo = re->nprog;
    }
    memset(st->memo, 0, re->nprog * sizeof(struct memo));
    st->re = re;
    st->cp = cp;
    st->start = start;
    st->end = end;
  }
  vm.memo = st->memo;
  for (s = from; s <= end; s++) {
    long r = run(&vm, 0, (uint32_t)s);
    if (r == -2)
      return -1;
    if (r >= 0) {
      *ms = s;
      *me = (size_t)r;
      return 1;
    }
  }
  return 0;
}
