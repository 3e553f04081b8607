/*
 * regex.h: a small backtracking regex matcher over code points, enough for the
 * pre-tokenizer patterns llama.cpp uses (ECMAScript leftmost-alternative
 * semantics, greedy quantifiers, lookahead). Internal to src/text.
 */
#ifndef TY_REGEX_H
#define TY_REGEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Per-code-point property bits the classes test; the caller computes them once
   per text with ty_regex_props so matching never looks a code point up twice. */
enum {
  TY_RE_L     = 0x001,   /* \p{L} (and \p{Lu} \p{Ll} \p{Lt} \p{Lm} \p{Lo}, as llama.cpp) */
  TY_RE_N     = 0x002,   /* \p{N} */
  TY_RE_P     = 0x004,   /* \p{P} */
  TY_RE_M     = 0x008,   /* \p{M} */
  TY_RE_S     = 0x010,   /* \p{S} */
  TY_RE_SPACE = 0x020,   /* \s */
  TY_RE_DIGIT = 0x040,   /* \d: ASCII 0-9 */
  TY_RE_WORD  = 0x080,   /* \w: ASCII [A-Za-z0-9_] */
  TY_RE_HAN   = 0x100    /* \p{Han}: llama.cpp's unicode_cpt_is_han ranges */
};

/* TY_RE_* bits of cp, with llama.cpp's quirks (see regex.c). */
unsigned ty_regex_props(uint32_t cp);

typedef struct ty_regex ty_regex;

/* Compiles pat (len bytes of UTF-8). Fails with TY_ERR_UNSUPPORTED for syntax
   outside the supported subset, TY_ERR_FORMAT for a malformed pattern. On
   success *out is the caller's (ty_regex_free). */
ty_status ty_regex_new(const char *pat, size_t len, ty_regex **out, ty_err *err);

/* Frees re; NULL is a no-op. */
void ty_regex_free(ty_regex *re);

/* Scratch a caller reuses across searches: the backtracking stack, and per
   loop instruction what is known about the current subject (how far a run of
   the loop's class reaches, where what follows the loop is known to fail),
   which keeps repeated searches over one subject from rescanning it.
   The facts are keyed by (re, cp, start, end): call ty_regex_stack_forget
   before searching a buffer whose contents changed at the same address.
   Zero-initialise it and release it with ty_regex_stack_free. */
struct ty_regex_stack {
  void *items;
  size_t cap;
  void *memo;                   /* per-instruction facts, for one subject */
  size_t nmemo;
  const void *re, *cp;          /* the subject the facts are about */
  size_t start, end;
};
void ty_regex_stack_forget(struct ty_regex_stack *st);
void ty_regex_stack_free(struct ty_regex_stack *st);

/* Finds the leftmost match that starts at or after `from` in the subject
   cp[start..end) (pr[] holds ty_regex_props of each code point). Anchors,
   lookahead and \b see only [start, end), as when llama.cpp runs a regex on
   one piece. Returns 1 and sets [*ms, *me) on a match (possibly empty), 0 when
   there is none, -1 when the backtracking stack would exceed its limit or
   memory ran out. */
int ty_regex_search(const ty_regex *re, const uint32_t *cp, const uint16_t *pr,
                    size_t start, size_t end, size_t from, size_t *ms, size_t *me,
                    struct ty_regex_stack *st);

#endif
