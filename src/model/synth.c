/*
 * synth.c: synthetic GGUF models (synth.h). A shape table, llama.cpp's
 * per-tensor type rules for each quantization mix (llama-quant.cpp,
 * llama_tensor_get_type), a stand-in vocabulary, and the writer.
 */
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../gguf/gguf.h"
#include "../tensor/tensor.h"

/* Sources: the config.json of each Hugging Face repository named below
   (hidden_size, num_hidden_layers, intermediate_size, num_attention_heads,
   num_key_value_heads, head_dim, vocab_size, max_position_embeddings,
   rms_norm_eps, rope_theta, rope_scaling, sliding_window,
   tie_word_embeddings); gemma3 270M and smollm2 135M are also checked
   against the real GGUF files tycho's tests use. */
static const struct ty_synth_shape shapes[] = {
  { "llama", "1B", "llama", "Llama 3.2 1B", "meta-llama/Llama-3.2-1B config.json",
    16, 2048, 8192, 32, 8, 64, 128256, 131072, 1e-5f, 500000.0f, 0, 0, 32.0f, 8192,
    true, false, false },
  { "llama", "3B", "llama", "Llama 3.2 3B", "meta-llama/Llama-3.2-3B config.json",
    28, 3072, 8192, 24, 8, 128, 128256, 131072, 1e-5f, 500000.0f, 0, 0, 32.0f, 8192,
    true, false, false },
  { "llama", "8B", "llama", "Llama 3.1 8B", "meta-llama/Llama-3.1-8B config.json",
    32, 4096, 14336, 32, 8, 128, 128256, 131072, 1e-5f, 500000.0f, 0, 0, 8.0f, 8192,
    false, false, false },
  { "llama", "70B", "llama", "Llama 3.3 70B", "meta-llama/Llama-3.3-70B-Instruct config.json",
    80, 8192, 28672, 64, 8, 128, 128256, 131072, 1e-5f, 500000.0f, 0, 0, 8.0f, 8192,
    false, false, true },
  { "gemma3", "270M", "gemma3", "Gemma 3 270M", "google/gemma-3-270m config.json; the real GGUF",
    18, 640, 2048, 4, 1, 256, 262144, 32768, 1e-6f, 1000000.0f, 0, 512, 0, 0,
    true, false, false },
  { "gemma3", "1B", "gemma3", "Gemma 3 1B", "google/gemma-3-1b-it config.json",
    26, 1152, 6912, 4, 1, 256, 262144, 32768, 1e-6f, 1000000.0f, 0, 512, 0, 0,
    true, false, false },
  { "gemma3", "4B", "gemma3", "Gemma 3 4B", "google/gemma-3-4b-it config.json (text_config)",
    34, 2560, 10240, 8, 4, 256, 262208, 131072, 1e-6f, 1000000.0f, 8.0f, 1024, 0, 0,
    true, false, false },
  { "gemma3", "12B", "gemma3", "Gemma 3 12B", "google/gemma-3-12b-it config.json (text_config)",
    48, 3840, 15360, 16, 8, 256, 262208, 131072, 1e-6f, 1000000.0f, 8.0f, 1024, 0, 0,
    true, false, false },
  { "gemma3", "27B", "gemma3", "Gemma 3 27B", "google/gemma-3-27b-it config.json (text_config)",
    62, 5376, 21504, 32, 16, 128, 262208, 131072, 1e-6f, 1000000.0f, 8.0f, 1024, 0, 0,
    true, false, false },
  { "smollm2", "135M", "llama", "SmolLM2 135M",
    "HuggingFaceTB/SmolLM2-135M-Instruct config.json; the real GGUF",
    30, 576, 1536, 9, 3, 64, 49152, 8192, 1e-5f, 100000.0f, 0, 0, 0, 0,
    true, true, false },
};

#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* The mixes: the name, llama.cpp's LLAMA_FTYPE_* (general.file_type) and
   the default tensor type it quantizes to. */
static const struct mix { const char *name; int ftype; int deflt; } mixes[] = {
  { "Q4_K_M", 15, TY_QTYPE_Q4_K }, { "Q8_0", 7, TY_QTYPE_Q8_0 }, { "F16", 1, TY_QTYPE_F16 },
  { "Q4_0", 2, TY_QTYPE_Q4_0 }, { "Q4_1", 3, TY_QTYPE_Q4_1 },
};

#define N_MIXES ((int)(sizeof mixes / sizeof mixes[0]))

static const char *const quant_names[] = { "Q4_K_M", "Q8_0", "F16", "Q4_0", "Q4_1", NULL };

/* What a tensor is, for the type rules and for random data. */
enum role { R_NORM, R_ROPE, R_EMBD, R_OUTPUT, R_Q, R_K, R_V, R_O, R_GATE, R_UP, R_DOWN };

struct stensor {
  char name[48];
  enum role role;
  int type;
  uint32_t n_dims;
  int64_t ne[2];
};


int ty_synth_n_shapes(void) {
  return N_SHAPES;
}


const struct ty_synth_shape *ty_synth_shape_at(int i) {
  return i >= 0 && i < N_SHAPES ? &shapes[i] : NULL;
}


const struct ty_synth_shape *ty_synth_find(const char *family, const char *size) {
  int i;
  if (family == NULL || size == NULL)
    return NULL;
  for (i = 0; i < N_SHAPES; i++)
    if (strcasecmp(shapes[i].family, family) == 0 && strcasecmp(shapes[i].size, size) == 0)
      return &shapes[i];
  return NULL;
}


const char *const *ty_synth_quants(void) {
  return quant_names;
}


/* {======================================================================
** The tensor table
** ====================================================================== */

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
   every third one between get more bits in the _M mixes. */
static bool use_more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}


/* A type whose block does not divide the row falls back as llama.cpp's
   tensor_type_fallback does (K-quants to 32-wide types, then F16). */
static int fallback(int type, int64_t ne0) {
  const struct ty_qtype_traits *tr = ty_qtype_get(type);
  if (ne0 % tr->blck_size == 0)
    return type;
  if (type == TY_QTYPE_Q4_K) type = TY_QTYPE_Q5_0;
  else if (type == TY_QTYPE_Q5_K) type = TY_QTYPE_Q5_1;
  else if (type == TY_QTYPE_Q6_K) type = TY_QTYPE_Q8_0;
  if (ne0 % ty_qtype_get(type)->blck_size != 0)
    type = TY_QTYPE_F16;
  return type;
}


/* The type of one tensor in mix m: llama_tensor_get_type for the ftypes
   synth knows. i counts the attn_v (or ffn_down) tensors seen so far in
   file order, as llama.cpp's quantizer does. */
static int tensor_type(const struct ty_synth_shape *sh, const struct mix *m, enum role r,
                       uint32_t n_dims, int64_t ne0, int i) {
  int t = m->deflt;
  if (n_dims < 2)
    return TY_QTYPE_F32;                 /* norms and rope_freqs are never quantized */
  if (t == TY_QTYPE_F16)
    return TY_QTYPE_F16;                 /* the converter's type; F16 quantizes nothing */
  if (r == R_OUTPUT || (sh->tied && r == R_EMBD)) {
    if (ne0 % ty_qtype_get(t)->blck_size != 0) t = TY_QTYPE_Q8_0;
    else if (t != TY_QTYPE_Q8_0) t = TY_QTYPE_Q6_K;
  } else if (r == R_V && m->ftype == 15) {
    if (use_more_bits(i, sh->n_layer)) t = TY_QTYPE_Q6_K;
    if (sh->is_70b && t == TY_QTYPE_Q4_K) t = TY_QTYPE_Q5_K;
  } else if (r == R_DOWN && m->ftype == 15) {
    if (use_more_bits(i, sh->n_layer)) t = TY_QTYPE_Q6_K;
  }
  return fallback(t, ne0);
}


static void add(struct stensor *v, int *n, const char *name, enum role r, uint32_t n_dims,
                int64_t ne0, int64_t ne1) {
  struct stensor *t = &v[(*n)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->role = r;
  t->n_dims = n_dims;
  t->ne[0] = ne0;
  t->ne[1] = ne1;
}


/* One block's tensors, in the order the real files hold them: llama as
   convert_hf_to_gguf emits the sorted Hugging Face names, gemma3 sorted by
   GGUF name. */
static void add_block(const struct ty_synth_shape *sh, int l, struct stensor *v, int *n) {
  int64_t e = sh->n_embd, qd = (int64_t)sh->n_head * sh->head_dim;
  int64_t kd = (int64_t)sh->n_head_kv * sh->head_dim, ff = sh->n_ff;
  char b[48];
#define T(suffix, r, nd, a, c) (snprintf(b, sizeof b, "blk.%d." suffix ".weight", l), \
                                add(v, n, b, r, nd, a, c))
  if (strcmp(sh->arch, "gemma3") == 0) {
    T("attn_k", R_K, 2, e, kd);
    T("attn_k_norm", R_NORM, 1, sh->head_dim, 1);
    T("attn_norm", R_NORM, 1, e, 1);
    T("attn_output", R_O, 2, qd, e);
    T("attn_q", R_Q, 2, e, qd);
    T("attn_q_norm", R_NORM, 1, sh->head_dim, 1);
    T("attn_v", R_V, 2, e, kd);
    T("ffn_down", R_DOWN, 2, ff, e);
    T("ffn_gate", R_GATE, 2, e, ff);
    T("ffn_norm", R_NORM, 1, e, 1);
    T("ffn_up", R_UP, 2, e, ff);
    T("post_attention_norm", R_NORM, 1, e, 1);
    T("post_ffw_norm", R_NORM, 1, e, 1);
  } else {
    T("attn_norm", R_NORM, 1, e, 1);
    T("ffn_down", R_DOWN, 2, ff, e);
    T("ffn_gate", R_GATE, 2, e, ff);
    T("ffn_up", R_UP, 2, e, ff);
    T("ffn_norm", R_NORM, 1, e, 1);
    T("attn_k", R_K, 2, e, kd);
    T("attn_output", R_O, 2, qd, e);
    T("attn_q", R_Q, 2, e, qd);
    T("attn_v", R_V, 2, e, kd);
  }
#undef T
}


/* Block indices in file order: 0, 1, 2, ... or, for files converted from
   one sorted safetensors file, 0, 1, 10, 11, ..., 19, 2, 20, ... */
static void block_order(const struct ty_synth_shape *sh, int *order) {
  int i, j, n = sh->n_layer;
  for (i = 0; i < n; i++)
    order[i] = i;
  if (!sh->lex_blocks)
    return;
  for (i = 1; i < n; i++)              /* insertion sort by decimal string */
    for (j = i; j > 0; j--) {
      char a[16], b[16];
      int t;
      snprintf(a, sizeof a, "%d", order[j - 1]);
      snprintf(b, sizeof b, "%d", order[j]);
      if (strcmp(a, b) <= 0)
        break;
      t = order[j - 1]; order[j - 1] = order[j]; order[j] = t;
    }
}


/* Builds the tensor table of sh in mix m: a malloc'd array the caller
   frees, its length in *n; NULL on out of memory. */
static struct stensor *build_table(const struct ty_synth_shape *sh, const struct mix *m, int *n) {
  int cap = sh->n_layer * 13 + 4, l, k, iv = 0, idown = 0;
  struct stensor *v = calloc((size_t)cap, sizeof *v);
  int *order = malloc((size_t)sh->n_layer * sizeof *order);
  bool gemma = strcmp(sh->arch, "gemma3") == 0;
  *n = 0;
  if (v == NULL || order == NULL) {
    free(v);
    free(order);
    return NULL;
  }
  block_order(sh, order);
  if (gemma) {
    add(v, n, "output_norm.weight", R_NORM, 1, sh->n_embd, 1);
    add(v, n, "token_embd.weight", R_EMBD, 2, sh->n_embd, sh->n_vocab);
  } else {
    if (sh->rope_factor > 0)
      add(v, n, "rope_freqs.weight", R_ROPE, 1, sh->head_dim / 2, 1);
    add(v, n, "token_embd.weight", R_EMBD, 2, sh->n_embd, sh->n_vocab);
  }
  for (l = 0; l < sh->n_layer; l++)
    add_block(sh, order[l], v, n);
  if (!gemma) {
    add(v, n, "output_norm.weight", R_NORM, 1, sh->n_embd, 1);
    if (!sh->tied)
      add(v, n, "output.weight", R_OUTPUT, 2, sh->n_embd, sh->n_vocab);
  }
  for (k = 0; k < *n; k++) {
    int i = v[k].role == R_V ? iv++ : v[k].role == R_DOWN ? idown++ : 0;
    v[k].type = tensor_type(sh, m, v[k].role, v[k].n_dims, v[k].ne[0], i);
  }
  free(order);
  return v;
}


static uint64_t tensor_bytes(const struct stensor *t) {
  return (uint64_t)ty_qtype_row_size(t->type, t->ne[0]) * (uint64_t)t->ne[1];
}


/* }====================================================================== */


/* Finds the shape and the mix, or fills err with what is known. */
static ty_status lookup(const char *family, const char *size, const char *quant,
                        const struct ty_synth_shape **sh, const struct mix **m, ty_err *err) {
  char known[512];
  size_t k = 0;
  int i;
  bool fam = false;
  *sh = NULL;
  *m = NULL;
  for (i = 0; i < N_SHAPES; i++)
    if (family != NULL && strcasecmp(shapes[i].family, family) == 0)
      fam = true;
  if (!fam) {
    known[0] = '\0';
    for (i = 0; i < N_SHAPES; i++)
      if (i == 0 || strcmp(shapes[i].family, shapes[i - 1].family) != 0)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "",
                              shapes[i].family);
    return ty_err_set(err, TY_ERR_ARG, "synth: unknown architecture '%s' (known: %s)",
                      family ? family : "(null)", known);
  }
  *sh = ty_synth_find(family, size);
  if (*sh == NULL) {
    known[0] = '\0';
    for (i = 0; i < N_SHAPES; i++)
      if (strcasecmp(shapes[i].family, family) == 0)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "",
                              shapes[i].size);
    return ty_err_set(err, TY_ERR_ARG, "synth: unknown size '%s' for %s (known: %s)",
                      size ? size : "(null)", family, known);
  }
  for (i = 0; i < N_MIXES; i++)
    if (quant != NULL && strcasecmp(mixes[i].name, quant) == 0)
      *m = &mixes[i];
  if (*m == NULL)
    return ty_err_set(err, TY_ERR_ARG, "synth: unknown quantization '%s' (known: Q4_K_M, Q8_0, "
                      "F16, Q4_0, Q4_1)", quant ? quant : "(null)");
  return TY_OK;
}


ty_status ty_synth_size(const char *family, const char *size, const char *quant,
                        uint64_t *bytes, uint64_t *params, ty_err *err) {
  const struct ty_synth_shape *sh;
  const struct mix *m;
  struct stensor *v;
  uint64_t b = 0, p = 0;
  int n, k;
  ty_status st = lookup(family, size, quant, &sh, &m, err);
  if (st != TY_OK)
    return st;
  v = build_table(sh, m, &n);
  if (v == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "synth: out of memory");
  for (k = 0; k < n; k++) {
    b += tensor_bytes(&v[k]);
    p += (uint64_t)v[k].ne[0] * (uint64_t)v[k].ne[1];
  }
  free(v);
  if (bytes != NULL) *bytes = b;
  if (params != NULL) *params = p;
  ty_err_clear(err);
  return TY_OK;
}


/* {======================================================================
** Metadata and vocabulary
** ====================================================================== */

/* GPT-2's byte-to-unicode map: the printable bytes stand for themselves,
   the rest for U+0100 upward. Writes the UTF-8 of byte c's character. */
static void gpt2_byte(int c, char *out) {
  int cp = c, k = 0, b;
  bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
  if (!printable) {
    for (b = 0; b < c; b++)
      if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)))
        k++;
    cp = 256 + k;
  }
  if (cp < 0x80) {
    out[0] = (char)cp;
    out[1] = '\0';
  } else {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    out[2] = '\0';
  }
}


/* The stand-in vocabulary: the real size, the real special tokens where
   cheap, every byte as a token (so any text encodes), and "<tN>" for the
   rest. gemma3 is SentencePiece ("llama") with byte fallback; llama and
   smollm2 are GPT-2 byte-level BPE with no merges. */
static ty_status set_vocab(ty_gguf_writer *w, const struct ty_synth_shape *sh) {
  int n = sh->n_vocab, i, first_byte;
  bool spm = strcmp(sh->arch, "gemma3") == 0;
  bool llama3 = strcmp(sh->family, "llama") == 0;
  char **tok = calloc((size_t)n, sizeof *tok);
  char (*text)[16] = malloc((size_t)n * sizeof *text);
  float *scores = malloc((size_t)n * sizeof *scores);
  int32_t *types = malloc((size_t)n * sizeof *types);
  ty_status st = TY_ERR_NOMEM;
  if (tok == NULL || text == NULL || scores == NULL || types == NULL)
    goto done;
  first_byte = spm ? 4 : llama3 ? 0 : 3;
  for (i = 0; i < n; i++) {
    if (i >= first_byte && i < first_byte + 256) {
      if (spm) snprintf(text[i], sizeof text[i], "<0x%02X>", i - first_byte);
      else gpt2_byte(i - first_byte, text[i]);
      types[i] = spm ? 6 : 1;                       /* BYTE : NORMAL */
    } else {
      snprintf(text[i], sizeof text[i], "<t%d>", i);
      types[i] = 1;
    }
    scores[i] = spm ? -(float)i : 0.0f;
    tok[i] = text[i];
  }
  if (spm) {
    static const char *const sp[] = { "<pad>", "<eos>", "<bos>", "<unk>" };
    for (i = 0; i < 4; i++) {
      tok[i] = (char *)sp[i];
      types[i] = i == 3 ? 2 : 3;                    /* UNKNOWN : CONTROL */
      scores[i] = 0.0f;
    }
  } else if (llama3) {
    tok[128000] = "<|begin_of_text|>";
    tok[128001] = "<|end_of_text|>";
    tok[128009] = "<|eot_id|>";
    types[128000] = types[128001] = types[128009] = 3;
  } else {
    tok[0] = "<|endoftext|>";
    tok[1] = "<|im_start|>";
    tok[2] = "<|im_end|>";
    types[0] = types[1] = types[2] = 3;
  }
  if ((st = ty_gguf_writer_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2")) ||
      (st = ty_gguf_writer_set_str(w, "tokenizer.ggml.pre",
                                   spm ? "default" : llama3 ? "llama-bpe" : "smollm")) ||
      (st = ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                       (uint64_t)n)) ||
      (spm && (st = ty_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TY_GGUF_FLOAT32, scores,
                                           (uint64_t)n))) ||
      (st = ty_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TY_GGUF_INT32, types,
                                   (uint64_t)n)) ||
      (!spm && (st = ty_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", NULL, 0))) ||
      (st = ty_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id",
                                   spm ? 2 : llama3 ? 128000 : 1)) ||
      (st = ty_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id",
                                   spm ? 1 : llama3 ? 128009 : 2)) ||
      (spm && (st = ty_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 3))) ||
      (spm && (st = ty_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0))) ||
      (st = ty_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true)) ||
      (spm && (st = ty_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false))))
    goto done;
  st = TY_OK;
done:
  free(tok);
  free(text);
  free(scores);
  free(types);
  return st;
}


/* general.* and ARCH.* keys, in the order the real files hold them. */
static ty_status set_meta(ty_gguf_writer *w, const struct ty_synth_shape *sh,
                          const struct mix *m) {
  char name[96], key[96];
  const char *a = sh->arch;
  ty_status st;
#define U(k, v) (snprintf(key, sizeof key, "%s." k, a), \
                 ty_gguf_writer_set_u32(w, key, (uint32_t)(v)))
#define F(k, v) (snprintf(key, sizeof key, "%s." k, a), ty_gguf_writer_set_f32(w, key, (v)))
  snprintf(name, sizeof name, "synthetic %s %s %s", sh->family, sh->size, m->name);
  if ((st = ty_gguf_writer_set_str(w, "general.architecture", a)) ||
      (st = ty_gguf_writer_set_str(w, "general.type", "model")) ||
      (st = ty_gguf_writer_set_str(w, "general.name", name)) ||
      (st = ty_gguf_writer_set_str(w, "general.size_label", sh->size)))
    return st;
  if (strcmp(a, "gemma3") == 0) {
    if ((st = U("context_length", sh->n_ctx)) || (st = U("embedding_length", sh->n_embd)) ||
        (st = U("block_count", sh->n_layer)) || (st = U("feed_forward_length", sh->n_ff)) ||
        (st = U("attention.head_count", sh->n_head)) ||
        (st = F("attention.layer_norm_rms_epsilon", sh->eps)) ||
        (st = U("attention.key_length", sh->head_dim)) ||
        (st = U("attention.value_length", sh->head_dim)) ||
        (st = F("rope.freq_base", sh->rope_base)) ||
        (st = U("attention.sliding_window", sh->sliding_window)) ||
        (st = U("attention.head_count_kv", sh->n_head_kv)))
      return st;
    if (sh->rope_linear > 0) {
      snprintf(key, sizeof key, "%s.rope.scaling.type", a);
      if ((st = ty_gguf_writer_set_str(w, key, "linear")) ||
          (st = F("rope.scaling.factor", sh->rope_linear)))
        return st;
    }
  } else {
    if ((st = U("block_count", sh->n_layer)) || (st = U("context_length", sh->n_ctx)) ||
        (st = U("embedding_length", sh->n_embd)) || (st = U("feed_forward_length", sh->n_ff)) ||
        (st = U("attention.head_count", sh->n_head)) ||
        (st = U("attention.head_count_kv", sh->n_head_kv)) ||
        (st = F("rope.freq_base", sh->rope_base)) ||
        (st = F("attention.layer_norm_rms_epsilon", sh->eps)) ||
        (st = U("vocab_size", sh->n_vocab)) || (st = U("rope.dimension_count", sh->head_dim)))
      return st;
  }
#undef U
#undef F
  if ((st = ty_gguf_writer_set_u32(w, "general.file_type", (uint32_t)m->ftype)))
    return st;
  if (m->deflt != TY_QTYPE_F16 &&
      (st = ty_gguf_writer_set_u32(w, "general.quantization_version", 2)))
    return st;
  return set_vocab(w, sh);
}


/* }====================================================================== */


/* {======================================================================
** Random data
** ====================================================================== */

static uint64_t rng_next(uint64_t *s) {        /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}


static void put_f16(uint8_t *p, float f) {
  uint16_t h = ty_fp32_to_fp16(f);
  p[0] = (uint8_t)h;
  p[1] = (uint8_t)(h >> 8);
}


/* Fills n blocks of type at p with random bytes, then sets every f16
   scale to a small value so weights stay near +-0.05 and the forward
   pass finite. */
static void random_blocks(uint8_t *p, int type, size_t n, size_t bsize, uint64_t *rs) {
  size_t i, k;
  for (i = 0; i + 8 <= n * bsize; i += 8) {
    uint64_t r = rng_next(rs);
    memcpy(p + i, &r, 8);
  }
  for (; i < n * bsize; i++)
    p[i] = (uint8_t)rng_next(rs);
  for (k = 0; k < n; k++) {
    uint8_t *b = p + k * bsize;
    switch (type) {
    case TY_QTYPE_Q4_0: case TY_QTYPE_Q5_0: put_f16(b, 0.004f); break;
    case TY_QTYPE_Q4_1: case TY_QTYPE_Q5_1: put_f16(b, 0.004f); put_f16(b + 2, -0.03f); break;
    case TY_QTYPE_Q8_0: put_f16(b, 0.0004f); break;
    case TY_QTYPE_Q4_K: case TY_QTYPE_Q5_K: put_f16(b, 0.0001f); put_f16(b + 2, 0.0001f); break;
    case TY_QTYPE_Q6_K: put_f16(b + 208, 0.00002f); break;
    default: break;
    }
  }
}


/* Fills one tensor's rows: norms 1, rope_freqs llama 3's factors, F16/F32
   weights small uniform values, quantized weights random_blocks. */
static void random_tensor(const struct ty_synth_shape *sh, const struct stensor *t, uint8_t *p,
                          uint64_t *rs) {
  int64_t i, n = t->ne[0] * t->ne[1];
  if (t->role == R_NORM || t->role == R_ROPE) {
    for (i = 0; i < n; i++) {
      float f = 1.0f;
      if (t->role == R_ROPE) {
        /* as convert_hf_to_gguf's llama3 rope factors (low 1, high 4) */
        double freq = pow(sh->rope_base, -2.0 * (double)i / sh->head_dim);
        double wavelen = 2 * M_PI / freq;
        double lo = sh->rope_orig_ctx / 1.0, hi = sh->rope_orig_ctx / 4.0;
        if (wavelen > lo) f = sh->rope_factor;
        else if (wavelen >= hi) {
          double smooth = (sh->rope_orig_ctx / wavelen - 1.0) / (4.0 - 1.0);
          f = (float)(1.0 / ((1 - smooth) / sh->rope_factor + smooth));
        }
      }
      memcpy(p + 4 * i, &f, 4);
    }
    return;
  }
  if (t->type == TY_QTYPE_F32 || t->type == TY_QTYPE_F16) {
    for (i = 0; i < n; i++) {
      float f = ((float)(rng_next(rs) >> 40) / (float)(1 << 24) - 0.5f) * 0.1f;
      if (t->type == TY_QTYPE_F32) memcpy(p + 4 * i, &f, 4);
      else put_f16(p + 2 * i, f);
    }
    return;
  }
  {
    const struct ty_qtype_traits *tr = ty_qtype_get(t->type);
    random_blocks(p, t->type, (size_t)(n / tr->blck_size), tr->type_size, rs);
  }
}


/* Writes random data into the holes of the file just written. */
static ty_status fill_random(const struct ty_synth_shape *sh, const struct stensor *v, int n,
                             const char *path, ty_err *err) {
  ty_gguf *g = NULL;
  FILE *f = NULL;
  uint8_t *buf = NULL;
  uint64_t rs = 0x9E3779B97F4A7C15ULL;
  ty_status st;
  int k;
  if ((st = ty_gguf_open(path, &g, err)) != TY_OK)
    return st;
  f = fopen(path, "r+b");
  if (f == NULL) {
    st = ty_err_set(err, TY_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    goto done;
  }
  for (k = 0; k < n; k++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, (uint64_t)k);
    uint64_t nb = tensor_bytes(&v[k]);
    uint8_t *nbuf = realloc(buf, nb ? (size_t)nb : 1);
    if (nbuf == NULL) {
      st = ty_err_set(err, TY_ERR_NOMEM, "%s: out of memory for tensor '%s' (%llu bytes)", path,
                      v[k].name, (unsigned long long)nb);
      goto done;
    }
    buf = nbuf;
    random_tensor(sh, &v[k], buf, &rs);
    if (fseeko(f, (off_t)(ty_gguf_data_offset(g) + t->offset), SEEK_SET) != 0 ||
        fwrite(buf, 1, (size_t)nb, f) != nb) {
      st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
      goto done;
    }
  }
  st = TY_OK;
done:
  if (f != NULL && fclose(f) != 0 && st == TY_OK)
    st = ty_err_set(err, TY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  free(buf);
  ty_gguf_close(g);
  return st;
}


/* }====================================================================== */


ty_status ty_synth_write(const char *family, const char *size, const char *quant,
                         const char *path, unsigned flags, ty_err *err) {
  const struct ty_synth_shape *sh;
  const struct mix *m;
  struct stensor *v = NULL;
  ty_gguf_writer *w = NULL;
  ty_status st;
  int n = 0, k;
  if ((st = lookup(family, size, quant, &sh, &m, err)) != TY_OK)
    return st;
  if (path == NULL)
    return ty_err_set(err, TY_ERR_ARG, "synth: no output path");
  v = build_table(sh, m, &n);
  w = ty_gguf_writer_new();
  if (v == NULL || w == NULL) {
    st = ty_err_set(err, TY_ERR_NOMEM, "synth: out of memory");
    goto done;
  }
  if ((st = set_meta(w, sh, m)) != TY_OK) {
    st = ty_err_set(err, st, "synth: out of memory building the metadata");
    goto done;
  }
  for (k = 0; k < n; k++)
    if ((st = ty_gguf_writer_add_tensor(w, v[k].name, v[k].type, v[k].n_dims, v[k].ne, NULL,
                                        err)) != TY_OK)
      goto done;
  if ((st = ty_gguf_writer_write(w, path, err)) != TY_OK)
    goto done;
  if ((flags & TY_SYNTH_RANDOM) && (st = fill_random(sh, v, n, path, err)) != TY_OK) {
    remove(path);
    goto done;
  }
  ty_err_clear(err);
done:
  ty_gguf_writer_free(w);
  free(v);
  return st;
}
