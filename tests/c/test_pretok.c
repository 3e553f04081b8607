/*
 * test_pretok.c: the pre-tokenizers against splits made by an independent
 * reference (scripts/gen_pretok_fixtures.py: Python's `regex` module running
 * llama.cpp's regex lists), plus UTF-8, flags, errors, long inputs and speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/pretok.h"
#include "text/unicode.h"
#include "testutil.h"

static int failures;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      failures++;                                                 \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);             \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
    }                                                             \
  } while (0)


/* {======================================================================
** Fixture reading
** ====================================================================== */

struct buf {
  char *p;
  size_t n, cap;
};


static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (b->p == NULL)
      abort();
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
}


/* Decodes hex (or "-" for empty) from s up to a space or line end into out;
   returns the position after it. */
static const char *unhex(const char *s, struct buf *out) {
  out->n = 0;
  buf_add(out, "", 0);
  if (*s == '-')
    return s + 1;
  while (*s && *s != ' ' && *s != '\n') {
    unsigned v;
    char c;
    if (sscanf(s, "%2x", &v) != 1)
      abort();
    c = (char)v;
    buf_add(out, &c, 1);
    s += 2;
  }
  return s;
}


#define MAX_CASES 256

static struct buf cases[MAX_CASES];
static int ncases;


static void load_corpus(void) {
  char *t = test_read_file(TYCHO_SOURCE_DIR "/tests/fixtures/pretok/corpus.txt", NULL), *line;
  if (t == NULL) {
    fprintf(stderr, "corpus.txt missing\n");
    exit(1);
  }
  for (line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (line[0] != 'C')
      continue;
    if (ncases == MAX_CASES)
      abort();
    unhex(line + 2, &cases[ncases++]);
  }
  free(t);
}


/* {======================================================================
** Split collection
** ====================================================================== */

struct pieces {
  struct buf all;               /* every piece, each followed by a 0xFF marker */
  int n;
  int stop_after;               /* cancel after this many (0 = never) */
};


static int collect(void *ud, const char *w, size_t len) {
  struct pieces *pc = ud;
  buf_add(&pc->all, w, len);
  buf_add(&pc->all, "\xff", 1);
  pc->n++;
  return pc->stop_after > 0 && pc->n >= pc->stop_after;
}


static void print_pieces(const char *what, const char *all, size_t n) {
  size_t i;
  fprintf(stderr, "  %s: [", what);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)all[i];
    if (c == 0xFF)
      fputs("|", stderr);
    else if (c < 32 || c == '\\')
      fprintf(stderr, "\\x%02x", c);
    else
      fputc(c, stderr);
  }
  fputs("]\n", stderr);
}


/* The U+FFFD-normalised form of s: what the concatenated pieces must equal. */
static void normalise(const char *s, size_t len, struct buf *out) {
  size_t i = 0;
  out->n = 0;
  buf_add(out, "", 0);
  while (i < len) {
    size_t adv, k;
    char enc[4];
    uint32_t cp = ty_utf8_decode(s + i, len - i, &adv);
    k = ty_utf8_encode(cp, enc);
    buf_add(out, enc, k);
    i += adv;
  }
}


/* {======================================================================
** Fixture tests
** ====================================================================== */

/* Checks every name in names.txt: its regex list equals the list file's, and
   its splits of the corpus equal the reference. Returns names checked. */
static int test_fixtures(void) {
  char *names = test_read_file(TYCHO_SOURCE_DIR "/tests/fixtures/pretok/names.txt", NULL), *save = NULL, *line;
  int checked = 0;
  if (names == NULL) {
    fprintf(stderr, "names.txt missing\n");
    exit(1);
  }
  for (line = strtok_r(names, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    char name[128], key[128], path[512], *list, *l2, *save2 = NULL;
    ty_pretok *p = NULL;
    ty_err err;
    int nr = 0, ci = 0;
    struct buf rx = { 0 };
    if (line[0] == '#' || sscanf(line, "%127s %127s", name, key) != 2)
      continue;
    snprintf(path, sizeof path, "%s/tests/fixtures/pretok/%s.txt", TYCHO_SOURCE_DIR, key);
    list = test_read_file(path, NULL);
    CHECK(list != NULL, "%s: missing", path);
    if (list == NULL)
      continue;
    CHECK(ty_pretok_new(name, strlen(name), &p, &err) == TY_OK, "%s: %s", name, err.msg);
    if (p == NULL) {
      free(list);
      continue;
    }
    checked++;
    for (l2 = strtok_r(list, "\n", &save2); l2 != NULL; l2 = strtok_r(NULL, "\n", &save2)) {
      if (l2[0] == 'R') {
        const char *mine = ty_pretok_regex(p, nr);
        unhex(l2 + 2, &rx);
        CHECK(mine != NULL && strcmp(mine, rx.p) == 0, "%s: regex %d differs from the fixture", name, nr);
        nr++;
      } else if (l2[0] == 'P') {
        struct pieces got = { { 0 }, 0, 0 };
        struct buf want = { 0 }, one = { 0 }, norm = { 0 }, cat = { 0 };
        const char *s = l2 + 1;
        size_t k;
        if (ci >= ncases)
          break;
        buf_add(&want, "", 0);
        buf_add(&got.all, "", 0);
        while (*s == ' ') {
          s = unhex(s + 1, &one);
          buf_add(&want, one.p, one.n);
          buf_add(&want, "\xff", 1);
        }
        CHECK(ty_pretok_split(p, cases[ci].p, cases[ci].n, collect, &got, &err) == TY_OK,
              "%s case %d: %s", name, ci, err.msg);
        if (got.all.n != want.n || memcmp(got.all.p, want.p, want.n) != 0) {
          CHECK(0, "%s: case %d splits differently", name, ci);
          print_pieces("input", cases[ci].p, cases[ci].n);
          print_pieces("want ", want.p, want.n);
          print_pieces("got  ", got.all.p, got.all.n);
        }
        /* property: the pieces put together are the normalised input */
        buf_add(&cat, "", 0);
        for (k = 0; k < got.all.n; k++)
          if ((unsigned char)got.all.p[k] != 0xFF)
            buf_add(&cat, got.all.p + k, 1);
        normalise(cases[ci].p, cases[ci].n, &norm);
        CHECK(cat.n == norm.n && memcmp(cat.p, norm.p, norm.n) == 0, "%s: case %d pieces do not add up", name, ci);
        free(want.p); free(one.p); free(norm.p); free(cat.p); free(got.all.p);
        ci++;
      }
    }
    CHECK(nr == ty_pretok_nregex(p), "%s: %d regexes in the fixture, %d in tycho", name, nr, ty_pretok_nregex(p));
    CHECK(ci == ncases, "%s: %d of %d cases in the fixture", name, ci, ncases);
    free(rx.p);
    free(list);
    ty_pretok_free(p);
  }
  free(names);
  return checked;
}


/* {======================================================================
** Unit tests
** ====================================================================== */

static void test_utf8(void) {
  static const struct { const char *s; size_t len; uint32_t cp; size_t adv; } dec[] = {
    { "A", 1, 'A', 1 }, { "\xc3\xa9", 2, 0xE9, 2 }, { "\xe2\x82\xac", 3, 0x20AC, 3 },
    { "\xf0\x9f\xa6\x99", 4, 0x1F999, 4 }, { "\xf4\x8f\xbf\xbf", 4, 0x10FFFF, 4 },
    { "\xf4\x90\x80\x80", 4, 0xFFFD, 1 },   /* above U+10FFFF */
    { "\x80", 1, 0xFFFD, 1 }, { "\xff", 1, 0xFFFD, 1 }, { "\xc3", 1, 0xFFFD, 1 },
    { "\xe2\x82", 2, 0xFFFD, 1 }, { "\xc3\x41", 2, 0xFFFD, 1 },
    { "\xc0\x80", 2, 0, 2 },                /* overlong: accepted, as llama.cpp */
    { "\xed\xa0\x80", 3, 0xD800, 3 },       /* surrogate: accepted, as llama.cpp */
  };
  size_t i, adv;
  char out[4];
  for (i = 0; i < sizeof dec / sizeof dec[0]; i++) {
    uint32_t cp = ty_utf8_decode(dec[i].s, dec[i].len, &adv);
    CHECK(cp == dec[i].cp && adv == dec[i].adv, "decode case %zu: U+%04X adv %zu", i, cp, adv);
  }
  CHECK(ty_utf8_encode(0x41, out) == 1 && out[0] == 'A', "encode A");
  CHECK(ty_utf8_encode(0x20AC, out) == 3 && memcmp(out, "\xe2\x82\xac", 3) == 0, "encode euro");
  CHECK(ty_utf8_encode(0x1F999, out) == 4 && memcmp(out, "\xf0\x9f\xa6\x99", 4) == 0, "encode llama");
  CHECK(ty_utf8_encode(0x110000, out) == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0, "encode too big");
  CHECK(ty_utf8_seq_len(0x41) == 1 && ty_utf8_seq_len(0x80) == 1 && ty_utf8_seq_len(0xC3) == 2 &&
        ty_utf8_seq_len(0xE2) == 3 && ty_utf8_seq_len(0xF0) == 4, "seq_len");
  /* flags: facts from the Unicode database and llama.cpp's whitespace list */
  CHECK(ty_unicode_flags('A') == TY_UCP_LETTER, "A");
  CHECK(ty_unicode_flags(' ') == (TY_UCP_SEPARATOR | TY_UCP_WHITESPACE), "space");
  CHECK(ty_unicode_flags('\n') == (TY_UCP_CONTROL | TY_UCP_WHITESPACE), "newline");
  CHECK(ty_unicode_flags(0x3000) == (TY_UCP_SEPARATOR | TY_UCP_WHITESPACE), "U+3000");
  CHECK(ty_unicode_flags(0x1C) == TY_UCP_CONTROL, "U+001C is no White_Space");
  CHECK(ty_unicode_flags(0x0663) == TY_UCP_NUMBER, "arabic-indic three");
  CHECK(ty_unicode_flags(0x0301) == TY_UCP_MARK, "combining acute");
  CHECK(ty_unicode_flags('~') == TY_UCP_SYMBOL && ty_unicode_flags('!') == TY_UCP_PUNCTUATION, "~ !");
  CHECK(ty_unicode_flags(0x0378) == TY_UCP_UNDEFINED && ty_unicode_flags(0x110000) == TY_UCP_UNDEFINED, "Cn");
  CHECK(ty_unicode_flags(0xE000) == TY_UCP_CONTROL, "private use");
  CHECK(ty_unicode_flags(0x1FAE8) == TY_UCP_SYMBOL, "Unicode 15 emoji");
  CHECK(ty_unicode_flags(0x2EBF0) == TY_UCP_LETTER, "Unicode 15.1 ideograph");
  CHECK(ty_unicode_is_han(0x4E2D) && !ty_unicode_is_han(0x3042), "han");
}


static void test_errors(void) {
  ty_pretok *p = (ty_pretok *)1;
  ty_err err;
  struct pieces got = { { 0 }, 0, 2 };
  size_t i, n = ty_pretok_count();
  CHECK(ty_pretok_new("no-such-pre", 11, &p, &err) == TY_ERR_UNSUPPORTED && p == NULL, "unknown name");
  CHECK(strstr(err.msg, "no-such-pre") != NULL && strstr(err.msg, "known: default") != NULL, "message: %s", err.msg);
  CHECK(ty_pretok_new("gpt-2 and more", 5, &p, &err) == TY_OK, "name by length: %s", err.msg);
  CHECK(ty_pretok_split(p, "a b c", 5, collect, &got, &err) == TY_ERR_CANCELLED && got.n == 2, "cancel");
  CHECK(ty_pretok_split(p, "", 0, collect, &got, &err) == TY_OK && got.n == 2, "empty text gives no words");
  free(got.all.p);
  ty_pretok_free(p);
  ty_pretok_free(NULL);
  CHECK(ty_pretok_new("", 0, &p, &err) == TY_OK && strcmp(ty_pretok_regex(p, 1), ty_pretok_regex(p, 1)) == 0,
        "empty name is default");
  ty_pretok_free(p);
  for (i = 0; i < n; i++)
    CHECK(ty_pretok_name(i) != NULL, "name %zu", i);
  CHECK(ty_pretok_name(n) == NULL, "past the end");
}


static int count_words(void *ud, const char *w, size_t len) {
  (void)w;
  (void)len;
  ++*(size_t *)ud;
  return 0;
}


static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* 1 MB of one character through every list: must finish (and quickly). */
static void test_long(void) {
  static const char *fill[] = { " ", "a", "7", "\n", "\xe4\xb8\xad", "!", "A" };
  size_t n = 1 << 20, f, i, words;
  char *t = malloc(n);
  if (t == NULL)
    abort();
  for (f = 0; f < sizeof fill / sizeof fill[0]; f++) {
    size_t fl = strlen(fill[f]);
    for (i = 0; i + fl <= n; i += fl)
      memcpy(t + i, fill[f], fl);
    for (i = 0; i < ty_pretok_count(); i++) {
      ty_pretok *p;
      ty_err err;
      double t0;
      if (ty_pretok_new(ty_pretok_name(i), strlen(ty_pretok_name(i)), &p, &err) != TY_OK)
        continue;
      if (i > 0 && ty_pretok_nregex(p) > 0) {
        /* one name per list is enough: skip aliases of the previous list */
        ty_pretok *q;
        if (ty_pretok_new(ty_pretok_name(i - 1), strlen(ty_pretok_name(i - 1)), &q, &err) == TY_OK) {
          int same = ty_pretok_nregex(p) == ty_pretok_nregex(q) &&
                     strcmp(ty_pretok_regex(p, 0), ty_pretok_regex(q, 0)) == 0;
          ty_pretok_free(q);
          if (same) {
            ty_pretok_free(p);
            continue;
          }
        }
      }
      if (fill[f][0] == '7' && (strcmp(ty_pretok_name(i), "tiny_aya") == 0 ||
                                strcmp(ty_pretok_name(i), "superbpe") == 0)) {
        /* their lookaheads rescan the rest of a digit run at every match:
           quadratic in the run's length (as with llama.cpp's std::regex) */
        ty_pretok_free(p);
        continue;
      }
      words = 0;
      t0 = now();
      CHECK(ty_pretok_split(p, t, n - n % fl, count_words, &words, &err) == TY_OK,
            "%s on 1 MB of '%s': %s", ty_pretok_name(i), fill[f], err.msg);
      CHECK(now() - t0 < 20.0, "%s on 1 MB of '%s' took %.1f s", ty_pretok_name(i), fill[f], now() - t0);
      ty_pretok_free(p);
    }
  }
  free(t);
}


/* Splits 1 MB of English text and prints the rate. */
static void bench_english(void) {
  static const char *names[] = { "gpt-2", "llama-bpe", "qwen2", "smollm", "gpt-4o", "deepseek-llm" };
  const char *para = "It was the best of times, it was the worst of times; it was the age of wisdom, "
                     "it was the age of foolishness. We'd had 1,234 days of it -- and they're not done!\n";
  size_t n = 1 << 20, pl = strlen(para), i, k;
  char *t = malloc(n);
  if (t == NULL)
    abort();
  for (i = 0; i < n; i++)
    t[i] = para[i % pl];
  for (k = 0; k < sizeof names / sizeof names[0]; k++) {
    ty_pretok *p;
    ty_err err;
    size_t words = 0;
    double t0, dt;
    if (ty_pretok_new(names[k], strlen(names[k]), &p, &err) != TY_OK) {
      CHECK(0, "%s: %s", names[k], err.msg);
      continue;
    }
    t0 = now();
    CHECK(ty_pretok_split(p, t, n, count_words, &words, &err) == TY_OK, "%s: %s", names[k], err.msg);
    dt = now() - t0;
    printf("split 1 MiB of English with %-12s %7zu words in %6.1f ms (%.0f MB/s)\n",
           names[k], words, dt * 1e3, n / dt / 1e6);
    ty_pretok_free(p);
  }
  free(t);
}


int main(void) {
  int checked, i;
  setvbuf(stdout, NULL, _IONBF, 0);
  load_corpus();
  test_utf8();
  test_errors();
  checked = test_fixtures();
  CHECK(checked == (int)ty_pretok_count(), "names.txt has %d names, tycho %zu: regenerate the fixtures",
        checked, ty_pretok_count());
  test_long();
  bench_english();
  for (i = 0; i < ncases; i++)
    free(cases[i].p);
  if (failures) {
    fprintf(stderr, "test_pretok: %d failures\n", failures);
    return 1;
  }
  printf("test_pretok: ok (%d names, %d corpus strings)\n", checked, ncases);
  return 0;
}
