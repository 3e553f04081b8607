/*
 * template.h: chat templates. An interpreter for Go's text/template language
 * as Ollama's Modelfile TEMPLATEs use it, Ollama's rules for rendering a chat
 * with one, and recognition of a GGUF's Jinja chat_template by model family.
 */
#ifndef TY_TEMPLATE_H
#define TY_TEMPLATE_H

#include <stddef.h>

#include "../base/base.h"

/* Limits that keep a hostile template from exhausting memory or time. */
#define TY_TMPL_MAX_OUT   (16u << 20)    /* bytes of output, and of any string built */
#define TY_TMPL_MAX_STEPS 4000000u       /* nodes and operands evaluated per render */
#define TY_TMPL_MAX_DEPTH 64             /* nesting of blocks and parentheses */

typedef struct ty_tmpl ty_tmpl;

/* Parses a Go template (src need not be NUL-terminated). On success *out is
   owned by the caller (ty_tmpl_free). Errors are "template:LINE:COL: ..." */
ty_status ty_tmpl_parse(const char *src, size_t len, ty_tmpl **out, ty_err *err);

/* Frees a parsed template; NULL is a no-op. */
void ty_tmpl_free(ty_tmpl *t);

/* Whether the template names .Messages (Ollama then renders the whole chat in
   one execution rather than once per exchange). */
int ty_tmpl_uses_messages(const ty_tmpl *t);

struct ty_chat_msg {
  const char *role;      /* "system", "user", "assistant" or "tool" */
  const char *content;
};

/* Renders a conversation with Ollama's rules (template/template.go Execute):
   consecutive messages of one role merged with "\n\n", .System the system
   messages joined, .Messages or the per-exchange legacy rule, rendering of the
   last prompt stopping just before .Response. Fields tycho does not have yet
   (.Tools, .ToolCalls, .Think, .Images, ...) are empty. *out is malloc'd and
   NUL-terminated, the caller frees it; *out_len is its length (may be NULL). */
ty_status ty_tmpl_chat(const ty_tmpl *t, const struct ty_chat_msg *msgs, size_t n,
                       char **out, size_t *out_len, ty_err *err);

/* ---- recognising a model's chat format (chat.c) ---- */

struct ty_chat_format {           /* what to render a model's chats with */
  const char *family;             /* "chatml", "llama3", "gemma", ... (static) */
  const char *tmpl;               /* Ollama Go template text (static) */
  const char *const *stops;       /* NULL-terminated stop strings (static) */
  char *default_system;           /* system text the model's own template adds
                                     when a chat has none; malloc'd or NULL */
};

/* Recognises a GGUF's tokenizer.chat_template (jinja, may be NULL) or, without
   one, the general.architecture (arch, may be NULL). Returns TY_OK and fills
   f (clear it with ty_chat_format_clear), or TY_ERR_UNSUPPORTED when neither
   is recognised, so the caller can warn and use a plain prompt. */
ty_status ty_chat_format_detect(const char *jinja, size_t len, const char *arch,
                                struct ty_chat_format *f, ty_err *err);

/* Frees what f owns and zeroes it; safe on a zeroed or cleared f. */
void ty_chat_format_clear(struct ty_chat_format *f);

/* Renders msgs with f: parses f->tmpl, adds f->default_system as a leading
   system message when msgs has none, and calls ty_tmpl_chat. Same ownership
   as ty_tmpl_chat. */
ty_status ty_chat_format_render(const struct ty_chat_format *f,
                                const struct ty_chat_msg *msgs, size_t n,
                                char **out, size_t *out_len, ty_err *err);

/* ---- internals shared by template_parse.c and template_exec.c only ---- */
#ifdef TY_TMPL_IMPL
#include <setjmp.h>
#include <stdarg.h>

#define TMPL_MAX_VARS 256          /* variables in scope at parse time */
#define TMPL_MAX_FIELDS 16         /* length of a .A.B.C chain */

typedef struct {                   /* bump allocator; limit 0 = none */
  struct tmpl_chunk *head;
  size_t total, limit;
} tmpl_arena;

void *tmpl_arena_alloc(tmpl_arena *ar, size_t n);   /* NULL when out of memory/limit */
void tmpl_arena_free(tmpl_arena *ar);
void tmpl_err_at(ty_err *err, const char *src, size_t len, size_t pos, const char *fmt, va_list ap);

enum { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_BREAK, N_CONTINUE };
enum { A_FIELD, A_VAR, A_DOT, A_NIL, A_BOOL, A_INT, A_STR, A_FUNC, A_PIPE };
enum { F_AND, F_OR, F_NOT, F_LEN, F_INDEX, F_SLICE, F_EQ, F_NE, F_LT, F_LE, F_GT,
       F_GE, F_PRINT, F_PRINTF, F_PRINTLN, F_JSON, F_CURRENTDATE };

typedef struct tmpl_pipe tmpl_pipe;

typedef struct {                   /* an operand */
  int kind, cut;                   /* cut: deleted in the last legacy prompt */
  size_t pos;
  const char *name;                /* A_VAR: "$x" (into the source) */
  size_t name_len;
  const char *fields[TMPL_MAX_FIELDS];   /* the .A.B chain after the term */
  size_t field_lens[TMPL_MAX_FIELDS];
  size_t nfields;
  long long i;                     /* A_INT, A_BOOL */
  const char *s;                   /* A_STR, decoded */
  size_t slen;
  int func;                        /* A_FUNC: F_* */
  tmpl_pipe *pipe;                 /* A_PIPE */
} tmpl_arg;

typedef struct {
  tmpl_arg **args;
  size_t nargs, pos;
} tmpl_cmd;

struct tmpl_pipe {
  tmpl_cmd **cmds;
  size_t ncmds, pos;
  int ndecl, is_assign, cut;
  const char *decl[2];
  size_t decl_lens[2];
};

typedef struct tmpl_node tmpl_node;
typedef struct {
  tmpl_node **items;
  size_t n, cap;
} tmpl_list;

struct tmpl_node {
  int kind, cut, has_else, els_cut;
  size_t pos;
  const char *text;                /* N_TEXT */
  size_t len;
  tmpl_pipe *pipe;                 /* N_ACTION and blocks */
  tmpl_list body, els;
};

struct ty_tmpl {
  char *src;                       /* a copy, for positions in messages */
  size_t len;
  tmpl_arena ar;                   /* every node */
  tmpl_list root;
  int uses_messages;
};
#endif

#endif
