/*
 * test_regex.c: the pre-tokenizer regex engine on its own: leftmost-first
 * alternation, greedy quantifiers and their bounds, classes, lookahead,
 * anchors, rejected syntax, and long subjects. Expected matches are worked
 * out by hand from ECMAScript semantics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/regex.h"
#include "text/unicode.h"

static int failures;


/* Splits s like the pre-tokenizer does with one regex (matches and the
   stretches between them) and writes the pieces joined by '|' into out. */
static int split(const char *pat, const char *s, size_t len, char *out, size_t cap) {
  ty_regex *re;
  ty_err err;
  uint32_t *cp = malloc((len + 1) * sizeof *cp);
  uint16_t *pr = malloc((len + 1) * sizeof *pr);
  struct ty_regex_stack st = { 0 };
  size_t n = 0, i = 0, from = 0, last = 0, o = 0, ms, me;
  int r = 0;
  if (ty_regex_new(pat, strlen(pat), &re, &err) != TY_OK) {
    fprintf(stderr, "compile %s: %s\n", pat, err.msg);
    free(cp); free(pr);
    return -1;
  }
  while (i < len) {
    size_t adv;
    cp[n] = ty_utf8_decode(s + i, len - i, &adv);
    pr[n] = (uint16_t)ty_regex_props(cp[n]);
    n++;
    i += adv;
  }
  out[0] = '\0';
#define PIECE(a, b)                                                      \
  do {                                                                   \
    size_t q_;                                                           \
    if (o > 0 && o + 1 < cap) out[o++] = '|';                            \
    for (q_ = (a); q_ < (b) && o + 5 < cap; q_++)                        \
      o += ty_utf8_encode(cp[q_], out + o);                              \
    out[o] = '\0';                                                       \
  } while (0)
  while (from <= n && (r = ty_regex_search(re, cp, pr, 0, n, from, &ms, &me, &st)) == 1) {
    if (ms > last)
      PIECE(last, ms);
    if (me > ms)
      PIECE(ms, me);
    last = me;
    from = me > ms ? me : me + 1;
  }
  if (n > last)
    PIECE(last, n);
  ty_regex_stack_free(&st);
  ty_regex_free(re);
  free(cp);
  free(pr);
  return r < 0 ? -1 : 0;
}


static void expect(const char *pat, const char *s, const char *want) {
  char got[1024];
  if (split(pat, s, strlen(s), got, sizeof got) < 0 || strcmp(got, want) != 0) {
    failures++;
    fprintf(stderr, "/%s/ on \"%s\": want \"%s\", got \"%s\"\n", pat, s, want, got);
  }
}


static void expect_error(const char *pat, ty_status code) {
  ty_regex *re = NULL;
  ty_err err;
  ty_status st = ty_regex_new(pat, strlen(pat), &re, &err);
  if (st != code || (code != TY_OK && (re != NULL || strncmp(err.msg, "regex: ", 7) != 0))) {
    failures++;
    fprintf(stderr, "/%s/: want status %d, got %d (%s)\n", pat, code, st, st ? err.msg : "");
  }
  ty_regex_free(re);
}


static void test_long(void) {
  size_t n = 1 << 20, i, ms, me;
  uint32_t *cp = malloc(n * sizeof *cp);
  uint16_t *pr = malloc(n * sizeof *pr);
  struct ty_regex_stack st = { 0 };
  static const struct { const char *pat; uint32_t fill, last; size_t want_me; } cases[] = {
    { "\\s+(?!\\S)", ' ', 'x', (1 << 20) - 2 },   /* gives one space back */
    { "\\s+(?!\\S)", ' ', ' ', 1 << 20 },
    { "\\s*[\\r\\n]+|\\s+", ' ', ' ', 1 << 20 },
    { "\\p{L}+", 'a', 'a', 1 << 20 },
    { "(?:a|b)+!", 'a', '!', 1 << 20 },            /* a group loop: stack grows */
    { "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+", 'A', 'A', 1 << 20 },
  };
  size_t c;
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ty_regex *re;
    ty_err err;
    int r;
    for (i = 0; i < n; i++) {
      cp[i] = i + 1 < n ? cases[c].fill : cases[c].last;
      pr[i] = (uint16_t)ty_regex_props(cp[i]);
    }
    if (ty_regex_new(cases[c].pat, strlen(cases[c].pat), &re, &err) != TY_OK) {
      failures++;
      fprintf(stderr, "%s: %s\n", cases[c].pat, err.msg);
      continue;
    }
    ty_regex_stack_forget(&st);   /* same buffer, new contents */
    r = ty_regex_search(re, cp, pr, 0, n, 0, &ms, &me, &st);
    if (r != 1 || ms != 0 || me != cases[c].want_me) {
      failures++;
      fprintf(stderr, "long %s: r=%d [%zu,%zu)\n", cases[c].pat, r, ms, me);
    }
    ty_regex_free(re);
  }
  /* many matches over one long run: must not rescan the run each time */
  {
    ty_regex *re;
    ty_err err;
    size_t from = 0, count = 0;
    for (i = 0; i < n; i++) {
      cp[i] = ' ';
      pr[i] = (uint16_t)ty_regex_props(' ');
    }
    ty_regex_stack_forget(&st);
    if (ty_regex_new("\\s*[\\r\\n]+|\\s{4}(?!\\S)|\\s", 22, &re, &err) == TY_OK) {
      while (ty_regex_search(re, cp, pr, 0, n, from, &ms, &me, &st) == 1 && me > ms) {
        count++;
        from = me;
      }
      if (count != n / 4) {
        failures++;
        fprintf(stderr, "cascade: %zu matches\n", count);
      }
      ty_regex_free(re);
    }
  }
  ty_regex_stack_free(&st);
  free(cp);
  free(pr);
}


int main(void) {
  /* alternation: the first alternative that matches wins, not the longest */
  expect("a|ab", "ab", "a|b");
  expect("ab|a", "ab", "ab");
  expect("'s|'t|'re| ?\\p{L}+", "it's 're", "it|'s| |'re");   /* no alternative takes " '" */
  /* greedy quantifiers and their bounds */
  expect("\\p{N}{1,3}", "12345678", "123|456|78");
  expect("a{2}", "aaaaa", "aa|aa|a");
  expect("a{2,}", "a aaaa", "a |aaaa");      /* unmatched stretches stay whole */
  expect("x?y+", "xyyy yx", "xyyy| |y|x");
  expect("a*ab", "aaab", "aaab");
  expect("(ab)+", "ababa", "abab|a");
  expect("(?:ab){1,2}c", "abababc", "ab|ababc");
  expect("(IMGIMG)((A|B|C){1,4})Z", "IMGIMGABCZ IMGIMGAAAAAZ", "IMGIMGABCZ| IMGIMGAAAAAZ");
  /* classes */
  expect("[^\\s\\p{L}\\p{N}]+", "ab!?. 9,", "ab|!?.| 9|,");
  expect("[!-/:-~]+", "a+b{c}0 ", "a+b{c}|0 ");   /* :-~ holds the letters */
  expect("[\\p{P}!-/:-@\\[-`{-~]", "a[b`", "a|[|b|`");
  expect("[一-龥ࠀ-一가-퟿]+", "ab中文한국cd", "ab|中文한국|cd");
  expect("[^(\\s|.,!?…)]+", "a.b|c d…e", "a|.|b|||c| |d|…|e");
  expect("[\\r\\n]", "a\r\nb", "a|\r|\n|b");
  expect("\\p{L}+", "naïve e\xcc\x81", "naïve| |e|\xcc\x81");
  expect("[\\p{L}\\p{M}]+", "e\xcc\x81x", "e\xcc\x81x");
  expect("\\P{L}+", "ab12cd", "ab|12|cd");
  expect("\\s+", "a\xe3\x80\x80\xc2\xa0" "b\x1c", "a|\xe3\x80\x80\xc2\xa0|b\x1c");   /* U+3000 is, U+001C is not */
  expect("\\p{S}+", "a~$+€b", "a|~$+€|b");
  expect(".+", "ab\ncd", "ab|\n|cd");
  expect("\\x41\\u00e9", "xAéy", "x|Aé|y");
  /* lookahead */
  expect("\\s+(?!\\S)", "a   b", "a|  | b");
  expect("\\s+(?!\\S)|\\s+", "a   b  ", "a|  | |b|  ");
  expect("(?=a)", "ba", "b|a");
  expect("((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+", "HTMLParser é", "HTMLParser| |é");
  expect("\\d{1,3}(?=(?:\\d{3})*\\b)", "1234567 12a 12", "1|234|567| 12a |12");   /* no \\b inside "12a" */
  expect("(?=(\\d{3})+(?!\\d))", "1234567", "1|234|567");
  /* anchors */
  expect("\\s+$", "a  b  ", "a  b|  ");
  expect("^a", "aaa", "a|aa");
  /* rejected syntax */
  expect_error("(a", TY_ERR_FORMAT);
  expect_error("a)", TY_ERR_FORMAT);
  expect_error("[a", TY_ERR_FORMAT);
  expect_error("a{3,1}", TY_ERR_FORMAT);
  expect_error("[z-a]", TY_ERR_FORMAT);
  expect_error("a*?", TY_ERR_UNSUPPORTED);
  expect_error("(?<=a)b", TY_ERR_UNSUPPORTED);
  expect_error("(?i:a)", TY_ERR_UNSUPPORTED);
  expect_error("\\p{Greek}", TY_ERR_UNSUPPORTED);
  expect_error("(a?)*", TY_ERR_UNSUPPORTED);
  expect_error("a{5000}", TY_ERR_UNSUPPORTED);
  expect_error("\\", TY_ERR_FORMAT);
  expect_error("a|b", TY_OK);
  test_long();
  if (failures) {
    fprintf(stderr, "test_regex: %d failures\n", failures);
    return 1;
  }
  printf("test_regex: ok\n");
  return 0;
}
