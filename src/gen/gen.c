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

struct ty_gen {
  ty_model *m;                     /* borrowed */
  ty_tok *tok;
  struct ty_chat_format fmt;       /* valid when has_fmt */
  bool has_fmt;
  char warning[256];
  int32_t *hist;                   /* the tokens in the model's context, in order */
  int n_hist, cap_hist;
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
  ty_tok_free(g->tok);
  if (g->has_fmt) ty_chat_format_clear(&g->fmt);
  free(g->hist);
  free(g);
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

struct stream {
  const struct ty_gen_opts *o;
  const char *const *stop;
  size_t n_stop;
  ty_detok detok;
  char *pend;                      /* decoded text not yet passed on */
  size_t n_pend, cap_pend;
  struct ty_gen_result *r;
  bool stopped, cancelled;
};


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


/* Passes n bytes of final text to the caller and the result. */
static ty_status emit(struct stream *s, const char *text, size_t n, ty_err *err) {
  struct ty_gen_result *r = s->r;
  size_t cap = r->text_len + 1;    /* r->text's size is not kept: grow from the length */
  if (n == 0) return TY_OK;
  {
    char *p = realloc(r->text, cap + n);
    if (p == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
    r->text = p;
  }
  memcpy(r->text + r->text_len, text, n);
  r->text_len += n;
  r->text[r->text_len] = '\0';
  if (s->o->on_text != NULL && s->o->on_text(s->o->ud, text, n) != 0) s->cancelled = true;
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
  char piece[256], *big = NULL, *bytes = piece, *chars;
  size_t n = ty_tok_piece(tok, id, 0, piece, sizeof piece), m;
  ty_status st;
  if (n > sizeof piece) {
    big = malloc(n);
    if (big == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
    ty_tok_piece(tok, id, 0, big, n);
    bytes = big;
  }
  chars = malloc(TY_DETOK_OUT_MAX(n));
  if (chars == NULL) {
    free(big);
    return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  }
  m = ty_detok_push(&s->detok, bytes, n, chars);
  st = stream_push(s, chars, m, false, err);
  free(chars);
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
  memcpy(g->hist + at, ids, (size_t)n * sizeof *ids);
  g->n_hist = at + n;
  return TY_OK;
}


ty_status ty_gen_run(ty_gen *g, const char *prompt, size_t len, const struct ty_gen_opts *o,
                     struct ty_gen_result *r, ty_err *err) {
  ty_model *m = g->m;
  int n_ctx = ty_model_n_ctx(m), common = 0, n;
  int32_t *ids = NULL;
  size_t n_ids = 0;
  ty_sampler *smp = NULL;
  struct stream s;
  double t0;
  ty_status st;

  memset(r, 0, sizeof *r);
  memset(&s, 0, sizeof s);
  s.o = o;
  s.r = r;
  s.stop = o->stop;
  s.n_stop = o->n_stop;
  if (s.stop == NULL && g->has_fmt && g->fmt.stops != NULL) {
    s.stop = g->fmt.stops;
    while (s.stop[s.n_stop] != NULL) s.n_stop++;
  }

  if ((st = ty_tok_encode(g->tok, prompt, len, TY_TOK_ADD_SPECIAL | TY_TOK_PARSE_SPECIAL, &ids,
                          &n_ids, err)) != TY_OK)
    goto done;
  r->prompt_tokens = (int)n_ids;
  if (n_ids == 0) {
    st = ty_err_set(err, TY_ERR_ARG, "the prompt is empty; give some text");
    goto done;
  }
  if (n_ids >= (size_t)n_ctx) {
    st = ty_err_set(err, TY_ERR_ARG, "the prompt is %zu tokens, which leaves no room in num_ctx %d; "
                    "shorten the prompt or raise num_ctx", n_ids, n_ctx);
    goto done;
  }
  if ((st = ty_sampler_new(&o->sampling, ty_tok_n_vocab(g->tok), n_ctx, &smp, err)) != TY_OK)
    goto done;

  /* reuse the cached context up to the first difference, but evaluate at
     least the last prompt token: its logits start the answer */
  if (ty_model_pos(m) != g->n_hist) g->n_hist = 0;   /* someone evaluated behind our back */
  while (common < g->n_hist && common < (int)n_ids - 1 && g->hist[common] == ids[common]) common++;
  if (common == 0) ty_model_reset(m);
  else ty_model_rewind(m, common);
  g->n_hist = common;
  n = (int)n_ids - common;
  r->prompt_eval_count = n;
  for (size_t i = 0; i < n_ids; i++) ty_sampler_accept(smp, ids[i]);

  t0 = now_s();
  st = ty_model_eval(m, ids + common, n, err);
  r->prompt_eval_s = now_s() - t0;
  {
    /* on failure part of the prompt may be in the cache */
    int in = ty_model_pos(m) - common;
    ty_status hs = hist_set(g, common, ids + common, in > 0 ? in : 0, err);
    if (st == TY_OK) st = hs;
  }
  if (st != TY_OK) {
    if (st == TY_ERR_CANCELLED) {
      r->done = TY_GEN_DONE_CANCELLED;
      st = TY_OK;
    }
    goto done;
  }

  t0 = now_s();
  for (;;) {
    int32_t next;
    if (o->num_predict >= 0 && r->eval_count >= o->num_predict) {
      r->done = TY_GEN_DONE_LENGTH;
      break;
    }
    if (o->cancel != NULL && o->cancel(o->cancel_ud)) {
      r->done = TY_GEN_DONE_CANCELLED;
      break;
    }
    next = ty_sampler_sample(smp, ty_model_logits(m));
    if (ty_tok_is_eog(g->tok, next)) {
      r->done = TY_GEN_DONE_STOP;
      break;
    }
    r->eval_count++;
    ty_sampler_accept(smp, next);
    if ((st = stream_token(&s, g->tok, next, err)) != TY_OK) break;
    if (s.stopped || s.cancelled) {
      r->done = s.stopped ? TY_GEN_DONE_STOP : TY_GEN_DONE_CANCELLED;
      break;
    }
    if (ty_model_pos(m) >= n_ctx) {
      r->done = TY_GEN_DONE_CONTEXT;
      break;
    }
    st = ty_model_eval(m, &next, 1, err);
    if (st == TY_OK) st = hist_set(g, g->n_hist, &next, 1, err);
    if (st == TY_ERR_CANCELLED) {
      r->done = TY_GEN_DONE_CANCELLED;
      st = TY_OK;
      break;
    }
    if (st != TY_OK) break;
  }
  r->eval_s = now_s() - t0;
  if (st == TY_OK && !s.stopped) {
    /* what the stream still holds is final now: flush the decoder and the
       text kept back for stop strings */
    char tail[32];
    size_t k = ty_detok_flush(&s.detok, tail);
    bool was_cancelled = s.cancelled;
    st = stream_push(&s, tail, k, true, err);
    s.cancelled = was_cancelled;
  }
done:
  free(s.pend);
  ty_sampler_free(smp);
  free(ids);
  return st;
}


void ty_gen_result_clear(struct ty_gen_result *r) {
  free(r->text);
  r->text = NULL;
  r->text_len = 0;
}
