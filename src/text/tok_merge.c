/*
 * tok_merge.c: the merge loops of the two tokenizers, over one fragment of
 * text with no special tokens in it. SPM merges the best-scoring adjacent pair
 * whose concatenation is a token; BPE merges the lowest-ranked pair from
 * tokenizer.ggml.merges, word by word after the regex pre-tokenizer.
 */
#include <stdlib.h>

#include "tok_impl.h"


/* {======================================================================
** Symbols and the pair heap
** ====================================================================== */

struct sym {
  int prev, next;                /* -1 at the ends */
  uint32_t off, n;               /* bytes of the symbol in the text; n = 0 once merged away */
};

/* One candidate merge. SPM orders by score (higher first), BPE by rank
   (lower first); ties go to the leftmost pair, as llama.cpp's comparators. */
struct pair {
  int left, right;
  double key;                    /* -score (SPM) or rank (BPE): smaller pops first */
  uint32_t size_l, size_r;       /* symbol sizes when queued, to spot stale pairs */
};

struct heap {
  struct pair *a;
  size_t n, cap;
};


static int pair_before(const struct pair *x, const struct pair *y) {
  if (x->key != y->key)
    return x->key < y->key;
  return x->left < y->left;
}


static ty_status heap_push(struct heap *h, const struct pair *p) {
  size_t i;
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct pair *a = realloc(h->a, cap * sizeof *a);
    if (a == NULL)
      return TY_ERR_NOMEM;
    h->a = a;
    h->cap = cap;
  }
  i = h->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!pair_before(p, &h->a[parent]))
      break;
    h->a[i] = h->a[parent];
    i = parent;
  }
  h->a[i] = *p;
  return TY_OK;
}


static struct pair heap_pop(struct heap *h) {
  struct pair top = h->a[0];
  struct pair last = h->a[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && pair_before(&h->a[c + 1], &h->a[c]))
      c++;
    if (!pair_before(&h->a[c], &last))
      break;
    h->a[i] = h->a[c];
    i = c;
  }
  if (h->n > 0)
    h->a[i] = last;
  return top;
}


/* Splits text into one symbol per UTF-8 character, judged by the lead byte
   alone and cut at the end of text (llama.cpp's unicode_len_utf8). Returns
   the count, or -1 on out of memory; *out is malloc'd. */
static int split_chars(const char *text, size_t len, struct sym **out) {
  static const uint8_t lens[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
  struct sym *s = malloc((len ? len : 1) * sizeof *s);
  size_t off = 0;
  int n = 0;
  if (s == NULL)
    return -1;
  while (off < len) {
    size_t l = lens[(unsigned char)text[off] >> 4];
    if (l > len - off)
      l = len - off;
    s[n].off = (uint32_t)off;
    s[n].n = (uint32_t)l;
    s[n].prev = n - 1;
    off += l;
    s[n].next = off == len ? -1 : n + 1;
    n++;
  }
  *out = s;
  return n;
}


ty_status tok_out_push(struct tok_out *o, int32_t id) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    int32_t *ids = realloc(o->ids, cap * sizeof *ids);
    if (ids == NULL)
      return TY_ERR_NOMEM;
    o->ids = ids;
    o->cap = cap;
  }
  o->ids[o->n++] = id;
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** SentencePiece (BPE by score over characters, with byte fallback)
** ====================================================================== */

/* Queues the pair (left, right) when their concatenation is a token. */
static ty_status spm_try_pair(const ty_tok *t, const char *text, const struct sym *s,
                              int left, int right, struct heap *h) {
  struct pair p;
  int32_t id;
  if (left < 0 || right < 0)
    return TY_OK;
  id = tok_lookup(t, text + s[left].off, (size_t)s[left].n + s[right].n);
  if (id < 0)
    return TY_OK;
  p.left = left;
  p.right = right;
  p.key = -t->score[id];
  p.size_l = s[left].n;
  p.size_r = s[right].n;
  return heap_push(h, &p);
}


ty_status tok_spm_encode(const ty_tok *t, const char *text, size_t len, struct tok_out *o,
                         ty_err *err) {
  struct sym *s = NULL;
  struct heap h = { NULL, 0, 0 };
  ty_status st = TY_OK;
  int n, i;
  if (len == 0)
    return TY_OK;
  n = split_chars(text, len, &s);
  if (n < 0)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  for (i = 1; i < n && st == TY_OK; i++)
    st = spm_try_pair(t, text, s, i - 1, i, &h);
  while (st == TY_OK && h.n > 0) {
    struct pair p = heap_pop(&h);
    struct sym *l = &s[p.left], *r = &s[p.right];
    /* llama.cpp checks only that the two sizes still add up */
    if (l->n == 0 || r->n == 0 || l->n + r->n != p.size_l + p.size_r)
      continue;
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0)
      s[r->next].prev = p.left;
    st = spm_try_pair(t, text, s, l->prev, p.left, &h);
    if (st == TY_OK)
      st = spm_try_pair(t, text, s, p.left, l->next, &h);
  }
  /* every merged symbol is a token; what is left unmerged and is not a token
     goes out byte by byte (<0xXX>, else the byte itself, else unknown) */
  for (i = 0; st == TY_OK && i != -1; i = s[i].next) {
    int32_t id = tok_lookup(t, text + s[i].off, s[i].n);
    if (id >= 0) {
      st = tok_out_push(o, id);
    } else {
      uint32_t j;
      for (j = 0; j < s[i].n && st == TY_OK; j++) {
        int32_t b = t->byte_tok[(unsigned char)text[s[i].off + j]];
        if (b < 0)
          b = t->unk;
        if (b >= 0)
          st = tok_out_push(o, b);
      }
    }
  }
  free(s);
  free(h.a);
  if (st != TY_OK)
    return ty_err_set(err, TY_ERR_NOMEM, "tokenizer: out of memory");
  return TY_OK;
}


/* }====================================================================== */


/* {======================================================================
** Byte-level BPE
** ====================================================================== */

/* GPT-2 maps the printable bytes 33..126, 161..172 and 174..255 to
   themselves and the other 68 bytes, in order, to 256, 257, ... */
static int byte_printable(unsigned b) {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}


static uint32_t byte_to_cp(unsigned b) {
  unsigned k = 0, c;
  if (byte_printable(b))
    return b;
  for (c = 0; c < b; c++)
    if (!byte_printable(c))
      k++;
  return 256 + k;
}


size_t tok_byte_to_utf8(unsigned b, char *out) {
  uint32_t cp = byte_to_cp(b & 0xff);
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  out[0] = (char)(0xc0 | (cp >> 6));
  out[1] = (char)(0x80 | (cp & 0x3f));
  return 2;
}


int tok_cp_to_byte(uint32_t cp) {
  unsigned b, k = 0;
  if (cp < 256)
    return byte_printable(cp) ? (int)cp : -1;
  if (cp >= 256 + 68)
    return -1;
  for (b = 0; b < 256; b++) {
    if (!byte_printable(b)) {
      if (256 + k == cp)
        return (int)b;
      k++;
    }
  }
  return -1;
}


struct bpe_ctx {
  const ty_tok *t;
  struct tok_out *o;
  char *buf;                     /* the byte-encoded word */
  size_t cap;
  struct sym *s;
  size_t s_cap;
  struct heap h;
  char enc[256][2];
  uint8_t enc_len[256];
  ty_status st;
};


static ty_status bpe_try_pair(struct bpe_ctx *c, int left, int right) {
  const struct sym *s = c->s;
  struct pair p;
  int32_t rank;
  if (left < 0 || right < 0)
    return TY_OK;
  rank = tok_merge_rank(c->t, c->buf + s[left].off, s[left].n, c->buf + s[right].off, s[right].n);
  if (rank < 0)
    return TY_OK;
  p.left = left;
  p.right = right;
  p.key = (double)rank;
  p.size_l = s[left].n;
  p.size_r = s[right].n;
  return heap_push(&c->h, &p);
}


/* Emits the ids of one merged symbol: the token, or its bytes one by one
   where they are tokens (llama.cpp drops the rest). */
static ty_status bpe_emit(struct bpe_ctx *c, const char *p, size_t n) {
  const ty_tok *t = c->t;
  int32_t id = tok_lookup(t, p, n);
  size_t j;
  ty_status st = TY_OK;
  if (id >= 0)
    return tok_out_push(c->o, id);
  for (j = 0; j < n && st == TY_OK; j++) {
    if (t->byte_encode) {
      id = tok_lookup(t, p + j, 1);
    } else {
      static const char hex[] = "0123456789ABCDEF";
      char b[6] = { '<', '0', 'x', hex[(unsigned char)p[j] >> 4], hex[p[j] & 15], '>' };
      id = tok_lookup(t, b, 6);
    }
    if (id >= 0)
      st = tok_out_push(c->o, id);
  }
  return st;
}


/* One pre-tokenized word: byte-encode it, then merge by rank. */
static int bpe_word(void *ud, const char *word, size_t len) {
  struct bpe_ctx *c = ud;
  const ty_tok *t = c->t;
  size_t need = len * 2, i, off;
  int n = 0, k;
  if (len == 0)
    return 0;
  if (need > c->cap) {
    char *b = realloc(c->buf, need);
    if (b == NULL)
      goto nomem;
    c->buf = b;
    c->cap = need;
  }
  if (len > c->s_cap) {
    struct sym *s = realloc(c->s, len * sizeof *s);
    if (s == NULL)
      goto nomem;
    c->s = s;
    c->s_cap = len;
  }
  /* one symbol per input byte (byte encoding) or per UTF-8 character */
  off = 0;
  if (t->byte_encode) {
    for (i = 0; i < len; i++) {
      unsigned b = (unsigned char)word[i];
      memcpy(c->buf + off, c->enc[b], c->enc_len[b]);
      c->s[n].off = (uint32_t)off;
      c->s[n].n = c->enc_len[b];
      c->s[n].prev = n - 1;
      c->s[n].next = n + 1;
      off += c->enc_len[b];
      n++;
    }
  } else {
    static const uint8_t lens[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    memcpy(c->buf, word, len);
    while (off < len) {
      size_t l = lens[(unsigned char)word[off] >> 4];
      if (l > len - off)
        l = len - off;
      c->s[n].off = (uint32_t)off;
      c->s[n].n = (uint32_t)l;
      c->s[n].prev = n - 1;
      c->s[n].next = n + 1;
      off += l;
      n++;
    }
  }
  c->s[n - 1].next = -1;
  if (t->ignore_merges && tok_lookup(t, c->buf, off) >= 0) {
    c->st = tok_out_push(c->o, tok_lookup(t, c->buf, off));
    return c->st != TY_OK;
  }
  c->h.n = 0;
  for (k = 1; k < n; k++)
    if (bpe_try_pair(c, k - 1, k) != TY_OK)
      goto nomem;
  while (c->h.n > 0) {
    struct pair p = heap_pop(&c->h);
    struct sym *l = &c->s[p.left], *r = &c->s[p.right];
    if (l->n != p.size_l || r->n != p.size_r || l->n == 0 || r->n == 0)
      continue;                  /* stale: one side has merged since */
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0)
      c->s[r->next].prev = p.left;
    if (bpe_try_pair(c, l->prev, p.left) != TY_OK || bpe_try_pair(c, p.left, l->next) != TY_OK)
      goto nomem;
  }
  for (k = 0; k != -1; k = c->s[k].next)
    if (bpe_emit(c, c->buf + c->s[k].off, c->s[k].n) != TY_OK)
      goto nomem;
  return 0;
nomem:
  c->st = TY_ERR_NOMEM;
  return 1;
}


ty_status tok_bpe_encode(const ty_tok *t, const char *text, size_t len, struct tok_out *o,
                         ty_err *err) {
  struct bpe_ctx c;
  ty_status st;
  unsigned b;
  memset(&c, 0, sizeof c);
  c.t = t;
  c.o = o;
  for (b = 0; b < 256; b++)
    c.enc_len[b] = (uint8_t)tok_byte_to_utf8(b, c.enc[b]);
  st = ty_pretok_split(t->pretok, text, len, bpe_word, &c, err);
  free(c.buf);
  free(c.s);
  free(c.h.a);
  if (c.st != TY_OK)
    return ty_err_set(err, c.st, "tokenizer: out of memory");
  return st;
}


/* }====================================================================== */
