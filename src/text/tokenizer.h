/*
 * tokenizer.h: the SentencePiece-style (tokenizer.ggml.model "llama") and GPT-2
 * byte-level BPE ("gpt2") tokenizers, built from GGUF metadata alone and
 * behaving as llama.cpp's llama-vocab.cpp does: encode, token pieces, a
 * streaming UTF-8 safe decoder and end-of-generation tokens.
 */
#ifndef TY_TOKENIZER_H
#define TY_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "gguf/gguf.h"

typedef struct ty_tok ty_tok;

enum ty_tok_kind { TY_TOK_SPM, TY_TOK_BPE };

/* Token attributes, as llama.cpp's llama_token_attr bits. */
enum ty_tok_attr {
  TY_TOK_ATTR_UNDEFINED = 0,
  TY_TOK_ATTR_UNKNOWN = 1u << 0,
  TY_TOK_ATTR_UNUSED = 1u << 1,
  TY_TOK_ATTR_NORMAL = 1u << 2,
  TY_TOK_ATTR_CONTROL = 1u << 3,
  TY_TOK_ATTR_USER_DEFINED = 1u << 4,
  TY_TOK_ATTR_BYTE = 1u << 5,
  TY_TOK_ATTR_LSTRIP = 1u << 7,
  TY_TOK_ATTR_RSTRIP = 1u << 8
};

/* Opens path (a vocab-only GGUF or a whole model), builds the tokenizer and
   closes the file again. On success *out is the caller's (ty_tok_free). */
ty_status ty_tok_open(const char *path, ty_tok **out, ty_err *err);

/* Builds from an open reader; everything needed is copied, so g may be closed
   afterwards. Unknown tokenizer.ggml.model values give TY_ERR_UNSUPPORTED, a
   malformed vocabulary TY_ERR_FORMAT, each with one line naming the key. */
ty_status ty_tok_from_gguf(const ty_gguf *g, ty_tok **out, ty_err *err);

/* Same, with tokenizer.ggml.pre replaced by pre (pre_len bytes): tests build
   the pre-tokenizer variants of one vocabulary this way. */
ty_status ty_tok_from_gguf_pre(const ty_gguf *g, const char *pre, size_t pre_len,
                               ty_tok **out, ty_err *err);

void ty_tok_free(ty_tok *t);     /* NULL is fine */

#define TY_TOK_ADD_SPECIAL 1u    /* BOS/EOS as the metadata says */
#define TY_TOK_PARSE_SPECIAL 2u  /* recognise control-token text such as <|im_start|> */

/* Encodes text (len bytes, any bytes). *ids is malloc'd (the caller frees it;
   NULL when *n is 0), *n its length. Fails only on out of memory, a
   pre-tokenizer error or a length beyond INT32_MAX tokens. */
ty_status ty_tok_encode(const ty_tok *t, const char *text, size_t len, unsigned flags,
                        int32_t **ids, size_t *n, ty_err *err);

/* Bytes of one token into buf (as llama.cpp's llama_token_to_piece with
   lstrip 0); returns the full length, which may exceed size: then only size
   bytes are written. No NUL is added. special: also render control and
   unknown tokens' text (else they give ""). Ids out of range give 0. */
size_t ty_tok_piece(const ty_tok *t, int32_t id, int special, char *buf, size_t size);

/* Whole-sequence detokenize as llama.cpp's llama_detokenize: pieces
   concatenated, the SPM leading space removed, BOS/EOS dropped when
   remove_special, and the clean_up_tokenization_spaces passes where the
   vocabulary asks. *out is malloc'd and NUL-terminated, *out_len its length. */
ty_status ty_tok_decode(const ty_tok *t, const int32_t *ids, size_t n, int remove_special,
                        int unparse_special, char **out, size_t *out_len, ty_err *err);

enum ty_tok_kind ty_tok_kind(const ty_tok *t);
int32_t ty_tok_n_vocab(const ty_tok *t);
int32_t ty_tok_bos(const ty_tok *t);   /* -1 when none */
int32_t ty_tok_eos(const ty_tok *t);   /* -1 when none */
int32_t ty_tok_eot(const ty_tok *t);   /* -1 when none */
int32_t ty_tok_unk(const ty_tok *t);   /* -1 when none */
int32_t ty_tok_pad(const ty_tok *t);   /* -1 when none */
int ty_tok_add_bos(const ty_tok *t);   /* what TY_TOK_ADD_SPECIAL adds */
int ty_tok_add_eos(const ty_tok *t);
int ty_tok_is_eog(const ty_tok *t, int32_t id);
/* The ids ty_tok_is_eog accepts, ascending, in *ids (a pointer into t), count returned. */
size_t ty_tok_eog_ids(const ty_tok *t, const int32_t **ids);
unsigned ty_tok_attr(const ty_tok *t, int32_t id);  /* enum ty_tok_attr bits; 0 out of range */
float ty_tok_score(const ty_tok *t, int32_t id);
/* The raw vocabulary entry (not NUL-terminated; *len set); NULL out of range. */
const char *ty_tok_text(const ty_tok *t, int32_t id, size_t *len);
/* Id of an exact vocabulary entry, or -1. */
int32_t ty_tok_find(const ty_tok *t, const char *text, size_t len);
/* tokenizer.ggml.pre as loaded ("" for SPM). */
const char *ty_tok_pre(const ty_tok *t);

/* ---- the streaming decoder ----
   Token pieces may split a UTF-8 character; the decoder keeps the incomplete
   tail and emits whole characters only. Bytes that cannot start or continue a
   character become U+FFFD as soon as that is certain. */
typedef struct { unsigned char pend[8]; int n; } ty_detok;   /* zero-initialise */

/* Worst-case output of one push or flush of len input bytes (every byte
   invalid gives 3 bytes). */
#define TY_DETOK_OUT_MAX(len) (3 * ((size_t)(len) + 8))

/* Appends the complete UTF-8 of (pending bytes + piece) to out, which holds at
   least TY_DETOK_OUT_MAX(len) bytes, keeps an incomplete tail; returns the
   bytes written (no NUL). */
size_t ty_detok_push(ty_detok *d, const char *piece, size_t len, char *out);

/* Ends the stream: a pending incomplete character becomes U+FFFD. Returns the
   bytes written to out (at most 3; give 8). d is reset. */
size_t ty_detok_flush(ty_detok *d, char *out);

#endif
