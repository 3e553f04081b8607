/*
 * test_gen.c: the generation loop's text stream: stop strings found across
 * token boundaries and never passed on, text held back only while it may
 * still begin a stop string. The loop itself runs end to end against
 * llama.cpp's answer in tests/lua/test_run.lua.
 */
#include "../../src/gen/gen.c"
#include "check.h"

#include <stdio.h>


struct sink { char buf[1024]; size_t n; int calls; };


/* Takes what the last push made final, as ty_gen_step hands it on. */
static void collect(struct sink *k, struct stream *s) {
  if (s->n_step == 0) return;
  memcpy(k->buf + k->n, s->step, s->n_step);
  k->n += s->n_step;
  k->buf[k->n] = '\0';
  k->calls++;
  s->n_step = 0;
}


/* Feeds pieces through a stream with the given stops; returns what came out
   (in k) and whether a stop string ended it. */
static bool feed(const char *const *pieces, const char *const *stops, struct sink *k,
                 size_t *out_after_each) {
  struct ty_gen_result r;
  struct stream s;
  ty_err err;
  size_t n_stop = 0;
  memset(&r, 0, sizeof r);
  memset(&s, 0, sizeof s);
  memset(k, 0, sizeof *k);
  while (stops[n_stop] != NULL) n_stop++;
  s.r = &r;
  s.stop = stops;
  s.n_stop = n_stop;
  for (int i = 0; pieces[i] != NULL && !s.stopped; i++) {
    if (stream_push(&s, pieces[i], strlen(pieces[i]), false, &err) != TY_OK) return false;
    collect(k, &s);
    if (out_after_each != NULL) out_after_each[i] = k->n;
  }
  if (!s.stopped) stream_push(&s, "", 0, true, &err);
  collect(k, &s);
  CHECK(r.text_len == k->n && (k->n == 0 || memcmp(r.text, k->buf, k->n) == 0),
        "the result holds what the steps gave");
  free(r.text);
  free(s.pend);
  free(s.step);
  return s.stopped;
}


int main(void) {
  struct sink k;
  size_t after[8];

  {
    /* a stop string split over three pieces: nothing of it is passed on */
    const char *pieces[] = { "Hello <|im", "_e", "nd|> tail", NULL };
    const char *stops[] = { "<|im_end|>", NULL };
    bool stopped = feed(pieces, stops, &k, after);
    CHECK(stopped && strcmp(k.buf, "Hello ") == 0, "split stop: '%s'", k.buf);
    CHECK(after[0] == 6, "'<|im' is held back at once, 'Hello ' is not: %zu", after[0]);
  }
  {
    /* a false start is released as soon as it cannot be a stop string */
    const char *pieces[] = { "a <|i", "x", " b", NULL };
    const char *stops[] = { "<|im_end|>", NULL };
    bool stopped = feed(pieces, stops, &k, after);
    CHECK(!stopped && strcmp(k.buf, "a <|ix b") == 0, "false start: '%s'", k.buf);
    CHECK(after[0] == 2 && after[1] == 6, "released when it diverges: %zu %zu", after[0], after[1]);
  }
  {
    /* at the end, held text is final */
    const char *pieces[] = { "end <|im", NULL };
    const char *stops[] = { "<|im_end|>", NULL };
    bool stopped = feed(pieces, stops, &k, NULL);
    CHECK(!stopped && strcmp(k.buf, "end <|im") == 0, "flush at the end: '%s'", k.buf);
  }
  {
    /* the earliest of several stop strings wins, wherever it is in the list */
    const char *pieces[] = { "one two three", NULL };
    const char *stops[] = { "three", "two", NULL };
    bool stopped = feed(pieces, stops, &k, NULL);
    CHECK(stopped && strcmp(k.buf, "one ") == 0, "earliest stop: '%s'", k.buf);
  }
  {
    /* a stop string at the very start gives nothing */
    const char *pieces[] = { "STOP", "more", NULL };
    const char *stops[] = { "STOP", NULL };
    bool stopped = feed(pieces, stops, &k, NULL);
    CHECK(stopped && k.n == 0 && k.calls == 0, "stop at start: '%s'", k.buf);
  }
  {
    /* no stop strings: everything passes at once */
    const char *pieces[] = { "x", "y", NULL };
    const char *stops[] = { NULL };
    feed(pieces, stops, &k, after);
    CHECK(after[0] == 1 && after[1] == 2 && strcmp(k.buf, "xy") == 0, "no stops: '%s'", k.buf);
  }
  {
    /* overlapping prefixes: "aab" with stop "ab" */
    const char *pieces[] = { "a", "a", "b", NULL };
    const char *stops[] = { "ab", NULL };
    bool stopped = feed(pieces, stops, &k, after);
    CHECK(stopped && strcmp(k.buf, "a") == 0, "overlap: '%s'", k.buf);
  }
  if (failures) {
    printf("%d failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
