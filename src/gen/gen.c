/*
 * gen.c: the decode loop. Tokenizes a prompt, reuses the cached context it
 * shares with the last run, samples token by token, turns tokens into whole
 * UTF-8 characters and holds back text that may be the start of a stop
 * string, so what reaches the caller is final.
 */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The text stream of a run: whole characters from the decoder, held back
   while they may begin a stop string. */
struct stream {
  const char *const *stop;
  size_t n_stop;
  ty_detok detok;
  char *pend;                      /* decoded text not yet final */
  size_t n_pend, cap_pend;
  char *step;                      /* text made final by the last step */
  size_t n_step, cap_step;
  char *dec;                       /* a token's decoded characters, reused */
  size_t cap_dec;
  struct ty_gen_result *r;         /* receives all final text too */
  size_t cap_text;                 /* r->text's size */
  bool stopped;
};

/* One generation in progress: between ty_gen_start and ty_gen_end. */
struct run {
  bool active, finished;
  struct ty_gen_opts o;
  char **stops;                    /* copies of the stop strings */
  ty_sampler *smp;
  struct stream s;
  struct ty_gen_result r;
  double t0;                       /* when generation (after the prompt) began */
};

struct ty_gen {
  ty_model *m;                     /* borrowed */
  ty_tok *tok;
  struct ty_chat_format fmt;       /* valid when has_fmt */
  bool has_fmt;
  char *tmpl;                      /* a TEMPLATE that replaced the GGUF's (fmt.tmpl), or NULL */
  char warning[256];
  int32_t *hist;                   /* the tokens in the model's context, in order */
  int n_hist, cap_hist;
  struct run run;
  unsigned serial;                 /* counts runs, so a stale handle can tell */
};


static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


void ty_gen_opts_default(struct ty_gen_opts *o) {
  memset(o, 0, sizeof *o);
  ty_sampler_params_default(&o->sampling);
  o->num_predict = -1;
}


const char *ty_gen_done_name(enum ty_gen_done d) {
  switch (d) {
  case TY_GEN_DONE_STOP: return "stop";
  case TY_GEN_DONE_LENGTH: return "length";
  case TY_GEN_DONE_CONTEXT: return "context";
  case TY_GEN_DONE_CANCELLED: return "cancelled";
  }
  return "?";
}


/* ================================================================
   the model's tokenizer and chat format
   ================================================================ */

ty_status ty_gen_new(ty_model *m, ty_gen **out, ty_err *err) {
  const ty_gguf *gg = ty_model_gguf(m);
  struct ty_gguf_str jinja = { .ptr = NULL, .len = 0 };
  const char *arch = ty_model_hparams(m)->arch_name;
  ty_gen *g;
  ty_status st;
  ty_err ferr;

  *out = NULL;
  g = calloc(1, sizeof *g);
  if (g == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  g->m = m;
  if ((st = ty_tok_from_gguf(gg, &g->tok, err)) != TY_OK) goto fail;
  if (ty_tok_n_vocab(g->tok) != ty_model_hparams(m)->n_vocab) {
    st = ty_err_set(err, TY_ERR_FORMAT, "%s: the vocabulary has %d tokens but the output layer "
                    "%d; the file is inconsistent", ty_gguf_path(gg), ty_tok_n_vocab(g->tok),
                    ty_model_hparams(m)->n_vocab);
    goto fail;
  }
  ty_gguf_get_str(gg, "tokenizer.chat_template", &jinja);
  if (ty_chat_format_detect(jinja.ptr, jinja.len, arch, &g->fmt, &ferr) == TY_OK) {
    g->has_fmt = true;
  } else {
    snprintf(g->warning, sizeof g->warning, "%s: %s chat template; prompts are sent as they are "
             "(write a TEMPLATE to chat properly)", ty_gguf_path(gg),
             jinja.ptr != NULL ? "unrecognised" : "no");
  }
  *out = g;
  return TY_OK;
fail:
  ty_gen_free(g);
  return st;
}


void ty_gen_free(ty_gen *g) {
  if (g == NULL) return;
  ty_gen_end(g);
  ty_tok_free(g->tok);
  if (g->has_fmt) ty_chat_format_clear(&g->fmt);
  free(g->tmpl);
  free(g->hist);
  free(g);
}


ty_status ty_gen_set_template(ty_gen *g, const char *tmpl, size_t len, ty_err *err) {
  static const char *const no_stops[] = { NULL };
  ty_tmpl *t;
  char *copy;
  ty_status s;
  if ((s = ty_tmpl_parse(tmpl, len, &t, err)) != TY_OK) return s;
  ty_tmpl_free(t);
  if ((copy = malloc(len + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "template: out of memory");
  memcpy(copy, tmpl, len);
  copy[len] = '\0';
  if (g->has_fmt) ty_chat_format_clear(&g->fmt);
  free(g->tmpl);
  g->tmpl = copy;
  g->fmt.family = "modelfile";
  g->fmt.tmpl = copy;
  g->fmt.stops = no_stops;                         /* Ollama's stops then come from PARAMETER stop */
  g->fmt.default_system = NULL;
  g->has_fmt = true;
  g->warning[0] = '\0';
  return TY_OK;
}


ty_model *ty_gen_model(const ty_gen *g) { return g->m; }
const ty_tok *ty_gen_tok(const ty_gen *g) { return g->tok; }
const struct ty_chat_format *ty_gen_format(const ty_gen *g) { return g->has_fmt ? &g->fmt : NULL; }
const char *ty_gen_warning(const ty_gen *g) { return g->warning; }


ty_status ty_gen_render(const ty_gen *g, const struct ty_chat_msg *msgs, size_t n, char **out,
                        size_t *len, ty_err *err) {
  const char *text = "";
  if (g->has_fmt) return ty_chat_format_render(&g->fmt, msgs, n, out, len, err);
  /* no template: the last user message, as it is */
  for (size_t i = 0; i < n; i++)
    if (strcmp(msgs[i].role, "user") == 0) text = msgs[i].content;
  *len = strlen(text);
  *out = malloc(*len + 1);
  if (*out == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  memcpy(*out, text, *len + 1);
  return TY_OK;
}


/* ================================================================
   streaming text: whole characters, stop strings held back
   ================================================================ */

static bool grow(char **buf, size_t *cap, size_t need) {
  size_t c = *cap ? *cap : 256;
  char *p;
  if (need <= *cap) return true;
  while (c < need) c *= 2;
  p = realloc(*buf, c);
  if (p == NULL) return false;
  *buf = p;
  *cap = c;
  return true;
}


/* Adds n bytes of final text to this step's text and to the result. */
static ty_status emit(struct stream *s, const char *text, size_t n, ty_err *err) {
  struct ty_gen_result *r = s->r;
  if (n == 0) return TY_OK;
  if (!grow(&s->step, &s->cap_step, s->n_step + n + 1))
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  memcpy(s->step + s->n_step, text, n);
  s->n_step += n;
  s->step[s->n_step] = '\0';
  if (!grow(&r->text, &s->cap_text, r->text_len + n + 1))
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  memcpy(r->text + r->text_len, text, n);
  r->text_len += n;
  r->text[r->text_len] = '\0';
  return TY_OK;
}


/* First occurrence of needle (nl > 0 bytes) in hay, or NULL. */
static const char *find(const char *hay, size_t hl, const char *needle, size_t nl) {
  for (size_t i = 0; i + nl <= hl; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0) return hay + i;
  return NULL;
}


/* Appends decoded text to the pending buffer, then passes on everything that
   can no longer become part of a stop string. At a full stop string, passes
   on what precedes it and marks the stream stopped. */
static ty_status stream_push(struct stream *s, const char *text, size_t n, bool final,
                             ty_err *err) {
  size_t keep = 0;
  if (!grow(&s->pend, &s->cap_pend, s->n_pend + n + 1))
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  memcpy(s->pend + s->n_pend, text, n);
  s->n_pend += n;
  s->pend[s->n_pend] = '\0';
  for (size_t k = 0; k < s->n_stop; k++) {
    size_t sl = strlen(s->stop[k]);
    const char *hit = sl ? find(s->pend, s->n_pend, s->stop[k], sl) : NULL;
    if (hit != NULL) {
      s->stopped = true;
      s->n_pend = (size_t)(hit - s->pend);
    }
  }
  if (!s->stopped && !final) {
    /* the longest tail of pend that begins some stop string stays behind */
    for (size_t k = 0; k < s->n_stop; k++) {
      size_t sl = strlen(s->stop[k]);
      for (size_t t = sl > 1 ? sl - 1 : 0; t > keep; t--)
        if (t <= s->n_pend && memcmp(s->pend + s->n_pend - t, s->stop[k], t) == 0) {
          keep = t;
          break;
        }
    }
  }
  {
    size_t out = s->n_pend - keep;
    ty_status st = emit(s, s->pend, out, err);
    memmove(s->pend, s->pend + out, keep);
    s->n_pend = keep;
    return st;
  }
}


/* Decodes one token into the stream. */
static ty_status stream_token(struct stream *s, const ty_tok *tok, int32_t id, ty_err *err) {
  char piece[256], *big = NULL, *bytes = piece;
  size_t n = ty_tok_piece(tok, id, 0, piece, sizeof piece), m;
  ty_status st;
  if (n > sizeof piece) {
    big = malloc(n);
    if (big == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
    ty_tok_piece(tok, id, 0, big, n);
    bytes = big;
  }
  if (!grow(&s->dec, &s->cap_dec, TY_DETOK_OUT_MAX(n))) {
    free(big);
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  }
  m = ty_detok_push(&s->detok, bytes, n, s->dec);
  st = stream_push(s, s->dec, m, false, err);
  free(big);
  return st;
}


/* ================================================================
   the loop
   ================================================================ */

/* Remembers ids as the context's contents (they were evaluated). */
static ty_status hist_set(ty_gen *g, int at, const int32_t *ids, int n, ty_err *err) {
  if (at + n > g->cap_hist) {
    int cap = g->cap_hist ? g->cap_hist : 256;
    int32_t *p;
    while (cap < at + n) cap *= 2;
    p = realloc(g->hist, (size_t)cap * sizeof *p);
    if (p == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
    g->hist = p;
    g->cap_hist = cap;
  }
  if (n > 0) memcpy(g->hist + at, ids, (size_t)n * sizeof *ids);
  g->n_hist = at + n;
  return TY_OK;
}


void ty_gen_end(ty_gen *g) {
  struct run *u = &g->run;
  if (!u->active) return;
  ty_sampler_free(u->smp);
  if (u->stops != NULL)
    for (size_t k = 0; k < u->s.n_stop; k++) free(u->stops[k]);
  free(u->stops);
  free(u->s.pend);
  free(u->s.step);
  free(u->s.dec);
  ty_gen_result_clear(&u->r);
  memset(u, 0, sizeof *u);
}


/* Copies the stop strings, so a run does not depend on the caller's. */
static ty_status copy_stops(struct run *u, const char *const *stop, size_t n, ty_err *err) {
  u->stops = calloc(n + 1, sizeof *u->stops);
  if (u->stops == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  for (size_t k = 0; k < n; k++) {
    size_t len = strlen(stop[k]);
    if ((u->stops[k] = malloc(len + 1)) == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
    memcpy(u->stops[k], stop[k], len + 1);
    u->s.n_stop = k + 1;
  }
  u->s.stop = (const char *const *)u->stops;
  return TY_OK;
}


ty_status ty_gen_start(ty_gen *g, const char *prompt, size_t len, const struct ty_gen_opts *o,
                       ty_err *err) {
  ty_model *m = g->m;
  struct run *u = &g->run;
  int n_ctx = ty_model_n_ctx(m), common = 0, n, in;
  int32_t *ids = NULL;
  size_t n_ids = 0, n_stop = o->n_stop;
  const char *const *stop = o->stop;
  double t0;
  ty_status st, hs;

  ty_gen_end(g);
  u->active = true;
  u->o = *o;
  u->s.r = &u->r;
  g->serial++;
  if (stop == NULL && g->has_fmt && g->fmt.stops != NULL)
    for (stop = g->fmt.stops, n_stop = 0; stop[n_stop] != NULL; n_stop++) {}
  if ((st = copy_stops(u, stop, stop != NULL ? n_stop : 0, err)) != TY_OK) goto fail;

  if ((st = ty_tok_encode(g->tok, prompt, len, TY_TOK_ADD_SPECIAL | TY_TOK_PARSE_SPECIAL, &ids,
                          &n_ids, err)) != TY_OK)
    goto fail;
  u->r.prompt_tokens = (int)n_ids;
  if (n_ids == 0) {
    st = ty_err_set(err, TY_ERR_ARG, "the prompt is empty; give some text");
    goto fail;
  }
  if (n_ids >= (size_t)n_ctx) {
    st = ty_err_set(err, TY_ERR_ARG, "the prompt is %zu tokens, which leaves no room in num_ctx %d; "
                    "shorten the prompt or raise num_ctx", n_ids, n_ctx);
    goto fail;
  }
  if ((st = ty_sampler_new(&o->sampling, ty_tok_n_vocab(g->tok), n_ctx, &u->smp, err)) != TY_OK)
    goto fail;

  /* reuse the cached context up to the first difference, but evaluate at
     least the last prompt token: its logits start the answer */
  if (ty_model_pos(m) != g->n_hist) g->n_hist = 0;   /* someone evaluated behind our back */
  while (common < g->n_hist && common < (int)n_ids - 1 && g->hist[common] == ids[common]) common++;
  if (common == 0) ty_model_reset(m);
  else ty_model_rewind(m, common);
  g->n_hist = common;
  n = (int)n_ids - common;
  u->r.prompt_eval_count = n;
  for (size_t i = 0; i < n_ids; i++) ty_sampler_accept(u->smp, ids[i]);

  t0 = now_s();
  st = ty_model_eval(m, ids + common, n, err);
  u->r.prompt_eval_s = now_s() - t0;
  in = ty_model_pos(m) - common;                  /* on failure part of it may be in */
  hs = hist_set(g, common, ids + common, in > 0 ? in : 0, err);
  if (st == TY_OK) st = hs;
  free(ids);
  ids = NULL;
  if (st == TY_ERR_CANCELLED) {
    u->r.done = TY_GEN_DONE_CANCELLED;
    u->finished = true;
    return TY_OK;
  }
  if (st != TY_OK) goto fail;
  u->t0 = now_s();
  return TY_OK;
fail:
  free(ids);
  ty_gen_end(g);
  return st;
}


/* Ends the run with reason d; unless a stop string ended it, what the
   stream still holds is final now (the decoder's tail, text held back). */
static ty_status finish(struct run *u, enum ty_gen_done d, ty_err *err) {
  ty_status st = TY_OK;
  u->r.done = d;
  u->r.eval_s = now_s() - u->t0;
  u->finished = true;
  if (!u->s.stopped && d != TY_GEN_DONE_CANCELLED) {
    char tail[32];
    size_t k = ty_detok_flush(&u->s.detok, tail);
    st = stream_push(&u->s, tail, k, true, err);
  }
  return st;
}


ty_status ty_gen_step(ty_gen *g, const char **text, size_t *len, bool *done, ty_err *err) {
  struct run *u = &g->run;
  ty_model *m = g->m;
  int32_t next;
  ty_status st;

  *text = "";
  *len = 0;
  *done = true;
  if (!u->active)
    return ty_err_set(err, TY_ERR_ARG, "no generation in progress (start one first)");
  if (u->finished) return TY_OK;
  u->s.n_step = 0;
  if (u->o.num_predict >= 0 && u->r.eval_count >= u->o.num_predict) {
    st = finish(u, TY_GEN_DONE_LENGTH, err);
  } else if (u->o.cancel != NULL && u->o.cancel(u->o.cancel_ud)) {
    st = finish(u, TY_GEN_DONE_CANCELLED, err);
  } else if (ty_tok_is_eog(g->tok, next = ty_sampler_sample(u->smp, ty_model_logits(m)))) {
    st = finish(u, TY_GEN_DONE_STOP, err);
  } else {
    u->r.eval_count++;
    ty_sampler_accept(u->smp, next);
    st = stream_token(&u->s, g->tok, next, err);
    if (st == TY_OK && u->s.stopped) {
      st = finish(u, TY_GEN_DONE_STOP, err);
    } else if (st == TY_OK && ty_model_pos(m) >= ty_model_n_ctx(m)) {
      st = finish(u, TY_GEN_DONE_CONTEXT, err);
    } else if (st == TY_OK) {
      st = ty_model_eval(m, &next, 1, err);
      if (st == TY_OK) st = hist_set(g, g->n_hist, &next, 1, err);
      if (st == TY_ERR_CANCELLED) st = finish(u, TY_GEN_DONE_CANCELLED, err);
    }
  }
  if (st != TY_OK) {
    u->finished = true;
    return st;
  }
  *text = u->s.step != NULL ? u->s.step : "";
  *len = u->s.n_step;
  *done = u->finished;
  return TY_OK;
}


ty_status ty_gen_cancel(ty_gen *g, ty_err *err) {
  struct run *u = &g->run;
  if (!u->active || u->finished) return TY_OK;
  return finish(u, TY_GEN_DONE_CANCELLED, err);
}


const struct ty_gen_result *ty_gen_result(const ty_gen *g) {
  return g->run.active ? &g->run.r : NULL;
}


unsigned ty_gen_serial(const ty_gen *g) { return g->serial; }


ty_status ty_gen_run(ty_gen *g, const char *prompt, size_t len, const struct ty_gen_opts *o,
                     struct ty_gen_result *r, ty_err *err) {
  ty_status st;
  bool done = false;
  memset(r, 0, sizeof *r);
  if ((st = ty_gen_start(g, prompt, len, o, err)) != TY_OK) return st;
  while (!done) {
    const char *text;
    size_t n;
    if ((st = ty_gen_step(g, &text, &n, &done, err)) != TY_OK) break;
    if (n > 0 && o->on_text != NULL && o->on_text(o->ud, text, n) != 0 && !done)
      st = ty_gen_cancel(g, err);
    if (st != TY_OK) break;
  }
  *r = g->run.r;                                  /* the text moves to the caller */
  g->run.r.text = NULL;
  g->run.r.text_len = 0;
  ty_gen_end(g);
  return st;
}


void ty_gen_result_clear(struct ty_gen_result *r) {
  free(r->text);
  r->text = NULL;
  r->text_len = 0;
}
