/*
 * gen.h: generation. A loaded model with its tokenizer and chat format, and
 * the decode loop: prompt in, sampled tokens out as streamed text, stopping
 * at end-of-generation tokens, stop strings, num_predict or a full context.
 */
#ifndef TY_GEN_H
#define TY_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../model/model.h"
#include "../text/text.h"

typedef struct ty_gen ty_gen;

/* Why a generation ended. */
enum ty_gen_done {
  TY_GEN_DONE_STOP = 0,      /* an end-of-generation token or a stop string */
  TY_GEN_DONE_LENGTH,        /* num_predict tokens */
  TY_GEN_DONE_CONTEXT,       /* the context is full */
  TY_GEN_DONE_CANCELLED      /* on_text asked to stop, or the cancel hook fired */
};

struct ty_gen_opts {
  struct ty_sampler_params sampling;
  int num_predict;                 /* tokens to generate; < 0: until a stop or a full context */
  const char *const *stop;         /* stop strings; NULL: the chat format's own */
  size_t n_stop;
  /* Receives text as it becomes final: whole UTF-8 characters, never part of
     a stop string. Returns nonzero to stop (done = CANCELLED). May be NULL. */
  int (*on_text)(void *ud, const char *text, size_t len);
  void *ud;
  ty_cancel_fn cancel;             /* polled between tokens; may be NULL */
  void *cancel_ud;
};

struct ty_gen_result {
  int prompt_tokens;               /* tokens in the prompt */
  int prompt_eval_count;           /* of those, evaluated now (the rest were in the cache) */
  double prompt_eval_s;
  int eval_count;                  /* tokens generated */
  double eval_s;
  enum ty_gen_done done;
  char *text;                      /* everything passed to on_text; free with ty_gen_result_clear */
  size_t text_len;
};

/* Fills o with Ollama's defaults: its sampling defaults, num_predict -1. */
void ty_gen_opts_default(struct ty_gen_opts *o);

/* Builds the tokenizer and chat format of model m, which g borrows: m must
   outlive g. An unrecognised chat template is not an error: prompts are then
   sent as they are, and ty_gen_warning says so. */
ty_status ty_gen_new(ty_model *m, ty_gen **out, ty_err *err);
void ty_gen_free(ty_gen *g);

/* Replaces the chat format with a Modelfile TEMPLATE (Go template text, len
   bytes, copied), as a model's template layer does: no stop strings of its
   own (PARAMETER stop gives them) and no default system message. A template
   that does not parse is refused and the format kept. */
ty_status ty_gen_set_template(ty_gen *g, const char *tmpl, size_t len, ty_err *err);

ty_model *ty_gen_model(const ty_gen *g);
const ty_tok *ty_gen_tok(const ty_gen *g);
/* The chat format, or NULL when the model's template is unrecognised. */
const struct ty_chat_format *ty_gen_format(const ty_gen *g);
/* "" or one line to show the user once (an unrecognised chat template). */
const char *ty_gen_warning(const ty_gen *g);

/* Renders a conversation with the model's chat format (adding its default
   system message when the conversation has none), ending with the prompt
   for the assistant's turn. Without a chat format, the last user message's
   content. *out is malloc'd and NUL-terminated; the caller frees it. */
ty_status ty_gen_render(const ty_gen *g, const struct ty_chat_msg *msgs, size_t n, char **out,
                        size_t *len, ty_err *err);

/* Step by step: ty_gen_start evaluates the prompt (as ty_gen_run does) and
   keeps the run in g, ending any run before it; each ty_gen_step samples one
   token and gives the text that became final with it (often a word, maybe
   nothing while text is held back for stop strings; valid until the next
   call), with *done set once the run has ended. ty_gen_result is the run so
   far; ty_gen_cancel ends it now; ty_gen_end frees it (ty_gen_free does too).
   The options' stop strings are copied; on_text is not used. */
ty_status ty_gen_start(ty_gen *g, const char *prompt, size_t len, const struct ty_gen_opts *o,
                       ty_err *err);
ty_status ty_gen_step(ty_gen *g, const char **text, size_t *len, bool *done, ty_err *err);
ty_status ty_gen_cancel(ty_gen *g, ty_err *err);
const struct ty_gen_result *ty_gen_result(const ty_gen *g);   /* NULL when no run */
void ty_gen_end(ty_gen *g);
/* Counts the runs started, so a handle to one can tell it was replaced. */
unsigned ty_gen_serial(const ty_gen *g);

/* Generates from prompt text that is already in the model's chat format:
   tokenized with special tokens recognised and BOS added as the vocabulary
   says. Tokens shared with the cached context are not evaluated again. A
   prompt that does not leave room in the context is refused with both
   numbers. r is filled even on failure; clear it with ty_gen_result_clear. */
ty_status ty_gen_run(ty_gen *g, const char *prompt, size_t len, const struct ty_gen_opts *o,
                     struct ty_gen_result *r, ty_err *err);
void ty_gen_result_clear(struct ty_gen_result *r);

const char *ty_gen_done_name(enum ty_gen_done d);   /* "stop", "length", "context", "cancelled" */

#endif
