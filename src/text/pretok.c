/*
 * pretok.c: the table from tokenizer.ggml.pre names to regex lists (as in
 * llama.cpp's llama-vocab.cpp), and the splitter that applies them in turn,
 * each regex splitting every piece the previous one left (unicode_regex_split).
 */
#include "pretok.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"
#include "unicode.h"

#define PRETOK_MAX_REGEX 8
#define PRETOK_MAX_CPS ((size_t)1 << 31)   /* code points one split accepts */


/* {======================================================================
** The regex lists (llama-vocab.cpp, llm_tokenizer_bpe's constructor)
** ====================================================================== */

/* Regex strings are llama.cpp's, byte for byte (some hold real CR/LF). */
#define RX_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_BLOOM " ?[^(\\s|.,!?…。，、।۔،)]+"
#define RX_DSV3_MAIN "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
#define RX_UPPER_LOWER(L) \
  "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))*((?=[" L "])([^A-Z]))+" RX_CONTRACT "?|" \
  "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))+((?=[" L "])([^A-Z]))*" RX_CONTRACT "?|" \
  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CASED \
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" RX_CONTRACT "?|" \
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" RX_CONTRACT "?|"

/* llama.cpp matches the Kimi-K2 list ("\p{Han}+") with hand-written code
   (unicode_regex_split_custom_kimi_k2); this regex does what that code does:
   Han runs by llama.cpp's Han ranges, letters other than Han (no marks),
   contractions, digits in threes, then the llama3 tail. */
#define RX_KIMI_K2 \
  "\\p{Han}+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!\\p{Han})\\p{L})+" RX_CONTRACT "?|" \
  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* a list entry that is no regex: AFMoE's digit grouping (see afmoe_digits) */
#define RX_AFMOE_DIGITS "\\p{AFMoE_digits}"

enum {
  PRE_DEFAULT, PRE_LLAMA3, PRE_JAIS2, PRE_DEEPSEEK_LLM, PRE_DEEPSEEK3, PRE_SPARK2_5,
  PRE_YOUTU, PRE_DEEPSEEK_CODER, PRE_FALCON, PRE_STARCODER, PRE_GPT2, PRE_QWEN2,
  PRE_QWEN35, PRE_BLOOM, PRE_VIKING, PRE_TEKKEN, PRE_CHAMELEON, PRE_GPT4O,
  PRE_GRANITE_EMB_MULTI, PRE_TINY_AYA, PRE_KIMI_K2, PRE_SUPERBPE, PRE_BAILINGMOE,
  PRE_SEED_CODER, PRE_UFAKZEKA, PRE_AFMOE, PRE_LAGUNA, PRE_EXAONE_MOE, PRE_GEMMA4,
  PRE_MINICPM5, PRE_WHITESPACE, PRE_COUNT
};

static const char *const pre_regex[PRE_COUNT][PRETOK_MAX_REGEX] = {
  [PRE_DEFAULT] = { "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" },
  [PRE_LLAMA3] = { RX_LLAMA3 },
  [PRE_JAIS2] = { RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                  "\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|"
                  "\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}" },
  [PRE_DEEPSEEK_LLM] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+" },
  [PRE_DEEPSEEK3] = { "\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", RX_DSV3_MAIN },
  [PRE_SPARK2_5] = { "\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
    "\\p{N}" },
  [PRE_YOUTU] = { "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    RX_CASED "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_DEEPSEEK_CODER] = { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}" },
  [PRE_FALCON] = { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]" },
  [PRE_STARCODER] = { "\\p{N}", RX_GPT2 },
  [PRE_GPT2] = { RX_GPT2 },
  [PRE_QWEN2] = { RX_QWEN2 },
  [PRE_QWEN35] = { RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_BLOOM] = { RX_BLOOM },
  [PRE_VIKING] = { RX_BLOOM, "\\p{N}" },
  [PRE_TEKKEN] = { "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
                   "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"
                   "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_CHAMELEON] = { "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
                      "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2 },
  [PRE_GPT4O] = { RX_UPPER_LOWER("\\p{L}") },
  [PRE_GRANITE_EMB_MULTI] = { RX_UPPER_LOWER("\\p{L}\\p{M}") },
  [PRE_TINY_AYA] = { "\\d{1,3}(?=(?:\\d{3})*\\b)",
    RX_CASED "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_KIMI_K2] = { RX_KIMI_K2 },
  [PRE_SUPERBPE] = { "\\p{N}+", "(?=(\\d{3})+(?!\\d))" },
  [PRE_BAILINGMOE] = { "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+" },
  [PRE_SEED_CODER] = { RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_UFAKZEKA] = { "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_AFMOE] = { RX_AFMOE_DIGITS,
    "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
    RX_DSV3_MAIN },
  [PRE_LAGUNA] = { "[^\\n]+|[\\n]+", RX_QWEN2 },
  [PRE_EXAONE_MOE] = { RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+" },
  [PRE_GEMMA4] = { "[^\\n]+|[\\n]+" },
  [PRE_MINICPM5] = { "\\p{N}{1,3}",
    RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  [PRE_WHITESPACE] = { "\\S+" },
};

/* tokenizer.ggml.pre values (llama_vocab::impl::load) and their lists */
static const struct {
  const char *name;
  int pre;
} pre_names[] = {
  { "default", PRE_DEFAULT },
  { "llama3", PRE_LLAMA3 }, { "llama-v3", PRE_LLAMA3 }, { "llama-bpe", PRE_LLAMA3 },
  { "falcon3", PRE_LLAMA3 }, { "falcon-h1", PRE_LLAMA3 }, { "pixtral", PRE_LLAMA3 },
  { "midm-2.0", PRE_LLAMA3 }, { "lfm2", PRE_LLAMA3 }, { "jina-v5-nano", PRE_LLAMA3 },
  { "dbrx", PRE_LLAMA3 }, { "smaug-bpe", PRE_LLAMA3 },
  { "glm4", PRE_LLAMA3 }, { "chatglm-bpe", PRE_LLAMA3 },
  /* glm5: in the llama-cpp-python 0.3.36 build, not in the source read;
     its place among the strings puts it with chatglm-bpe */
  { "glm5", PRE_LLAMA3 },
  { "jais-2", PRE_JAIS2 },
  { "deepseek-llm", PRE_DEEPSEEK_LLM },
  { "deepseek-coder", PRE_DEEPSEEK_CODER },
  { "deepseek-v3", PRE_DEEPSEEK3 }, { "hunyuan-dense", PRE_DEEPSEEK3 },
  { "joyai-llm", PRE_DEEPSEEK3 }, { "hy_v4", PRE_DEEPSEEK3 },
  { "spark2_5", PRE_SPARK2_5 },
  { "youtu", PRE_YOUTU },
  { "falcon", PRE_FALCON },
  { "starcoder", PRE_STARCODER }, { "refact", PRE_STARCODER }, { "command-r", PRE_STARCODER },
  { "smollm", PRE_STARCODER }, { "codeshell", PRE_STARCODER }, { "exaone", PRE_STARCODER },
  { "minerva-7b", PRE_STARCODER }, { "mellum2", PRE_STARCODER },
  { "gpt-2", PRE_GPT2 }, { "gpt2", PRE_GPT2 }, { "phi-2", PRE_GPT2 }, { "jina-es", PRE_GPT2 },
  { "jina-de", PRE_GPT2 }, { "gigachat", PRE_GPT2 }, { "jina-v2-es", PRE_GPT2 },
  { "jina-v2-de", PRE_GPT2 }, { "a.x-4.0", PRE_GPT2 }, { "mellum", PRE_GPT2 },
  { "modern-bert", PRE_GPT2 }, { "jina-v1-en", PRE_GPT2 }, { "jina-v2-code", PRE_GPT2 },
  { "roberta-bpe", PRE_GPT2 }, { "exaone4", PRE_GPT2 }, { "mpt", PRE_GPT2 },
  { "olmo", PRE_GPT2 }, { "jais", PRE_GPT2 }, { "trillion", PRE_GPT2 },
  { "granite-docling", PRE_GPT2 },
  { "qwen2", PRE_QWEN2 }, { "deepseek-r1-qwen", PRE_QWEN2 }, { "kormo", PRE_QWEN2 },
  { "f2llmv2", PRE_QWEN2 }, { "megrez", PRE_QWEN2 }, { "stablelm2", PRE_QWEN2 },
  { "hunyuan", PRE_QWEN2 }, { "solar-open", PRE_QWEN2 }, { "grok-2", PRE_QWEN2 },
  { "qwen35", PRE_QWEN35 },
  { "poro-chat", PRE_BLOOM }, { "bloom", PRE_BLOOM }, { "gpt3-finnish", PRE_BLOOM },
  { "viking", PRE_VIKING },
  { "tekken", PRE_TEKKEN },
  { "chameleon", PRE_CHAMELEON },
  { "gpt-4o", PRE_GPT4O }, { "llama4", PRE_GPT4O }, { "kanana2", PRE_GPT4O },
  { "talkie", PRE_GPT4O }, { "minimax-m2", PRE_GPT4O },
  { "granite-embed-multi-97m", PRE_GRANITE_EMB_MULTI },
  { "tiny_aya", PRE_TINY_AYA }, { "cohere2moe", PRE_TINY_AYA },
  { "kimi-k2", PRE_KIMI_K2 },
  { "superbpe", PRE_SUPERBPE },
  { "bailingmoe", PRE_BAILINGMOE }, { "bailingmoe2", PRE_BAILINGMOE }, { "llada-moe", PRE_BAILINGMOE },
  { "seed-coder", PRE_SEED_CODER },
  { "ufakzeka", PRE_UFAKZEKA },
  { "afmoe", PRE_AFMOE },
  { "laguna", PRE_LAGUNA },
  { "exaone-moe", PRE_EXAONE_MOE },
  /* these three split only; llama.cpp also turns off the byte encoding and
     the tokenizer (not the splitter) handles spaces */
  { "gemma4", PRE_GEMMA4 }, { "granite-embed-multi-311m", PRE_GEMMA4 }, { "sarvam-moe", PRE_GEMMA4 },
  { "minicpm5", PRE_MINICPM5 },
  { "whitespace", PRE_WHITESPACE },
};


/* {======================================================================
** Object
** ====================================================================== */

struct ty_pretok {
  int pre;
  int n;                        /* regexes in the list */
  ty_regex *re[PRETOK_MAX_REGEX];  /* NULL for the AFMoE digit stage */
};


size_t ty_pretok_count(void) {
  return sizeof pre_names / sizeof pre_names[0];
}


const char *ty_pretok_name(size_t i) {
  return i < ty_pretok_count() ? pre_names[i].name : NULL;
}


ty_status ty_pretok_new(const char *name, size_t name_len, ty_pretok **out, ty_err *err) {
  ty_pretok *p;
  size_t i;
  int pre = -1, k;
  *out = NULL;
  if (name == NULL && name_len > 0)
    return ty_err_set(err, TY_ERR_ARG, "pre-tokenizer: name is NULL");
  if (name_len == 0) {
    pre = PRE_DEFAULT;          /* llama.cpp: missing pre-tokenizer -> default */
  } else {
    for (i = 0; i < ty_pretok_count(); i++)
      if (strlen(pre_names[i].name) == name_len && memcmp(pre_names[i].name, name, name_len) == 0)
        pre = pre_names[i].pre;
  }
  if (pre < 0) {
    char known[160];
    size_t o = 0;
    int shown = (int)(name_len > 40 ? 40 : name_len);
    for (i = 0; i < ty_pretok_count() && o + 24 < sizeof known; i++)
      o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? " " : "", pre_names[i].name);
    return ty_err_set(err, TY_ERR_UNSUPPORTED,
                      "pre-tokenizer '%.*s' is unknown; known: %s%s", shown, name, known,
                      i < ty_pretok_count() ? " ... (see src/text/pretok.c)" : "");
  }
  p = calloc(1, sizeof *p);
  if (p == NULL)
    return ty_err_set(err, TY_ERR_NOMEM, "pre-tokenizer: out of memory");
  p->pre = pre;
  for (k = 0; k < PRETOK_MAX_REGEX && pre_regex[pre][k] != NULL; k++) {
    const char *rx = pre_regex[pre][k];
    ty_err e2;
    p->n = k + 1;
    if (strcmp(rx, RX_AFMOE_DIGITS) == 0)
      continue;
    if (ty_regex_new(rx, strlen(rx), &p->re[k], &e2) != TY_OK) {
      ty_pretok_free(p);
      return ty_err_set(err, e2.code, "pre-tokenizer '%.*s': regex %d: %s",
                        (int)name_len, name, k, e2.msg);
    }
  }
  *out = p;
  return TY_OK;
}


int ty_pretok_nregex(const ty_pretok *p) {
  return p->n;
}


const char *ty_pretok_regex(const ty_pretok *p, int k) {
  return k >= 0 && k < p->n ? pre_regex[p->pre][k] : NULL;
}


void ty_pretok_free(ty_pretok *p) {
  int k;
  if (p == NULL)
    return;
  for (k = 0; k < PRETOK_MAX_REGEX; k++)
    ty_regex_free(p->re[k]);
  free(p);
}


/* {======================================================================
** Splitting
** ====================================================================== */

/* Piece ends (exclusive, in code points), growing as pieces are found. */
struct ends {
  uint32_t *v;
  size_t n, cap;
};


static int ends_push(struct ends *e, size_t end) {
  if (e->n > 0 && e->v[e->n - 1] == end)
    return 0;                   /* empty piece: nothing to keep */
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 64;
    uint32_t *v = realloc(e->v, cap * sizeof *v);
    if (v == NULL)
      return -1;
    e->v = v;
    e->cap = cap;
  }
  e->v[e->n++] = (uint32_t)end;
  return 0;
}


/* Splits [a, b) with one regex the way unicode_regex_split_stl does: each
   match is a piece and so is each stretch between matches. After an empty
   match the search goes on one code point later (only superbpe's lookahead
   list matches empty, and it never also matches non-empty there). */
static int split_regex(const ty_regex *re, const uint32_t *cp, const uint16_t *pr,
                       size_t a, size_t b, struct ends *out, struct ty_regex_stack *st) {
  size_t from = a, last = a;
  while (from <= b) {
    size_t ms, me;
    int r = ty_regex_search(re, cp, pr, a, b, from, &ms, &me, st);
    if (r < 0)
      return -2;
    if (r == 0)
      break;
    if (ms > last && ends_push(out, ms) < 0)
      return -1;
    if (me > ms && ends_push(out, me) < 0)
      return -1;
    last = me;
    from = me > ms ? me : me + 1;
  }
  if (b > last && ends_push(out, b) < 0)
    return -1;
  return 0;
}


/* AFMoE's first stage, as llama.cpp's unicode_regex_split_custom_afmoe does
   it: a run of digits splits into len % 3 leading digits, then threes; the
   first of those pieces also takes whatever non-digits came before it in the
   piece, and what follows the last run is one piece. */
static int afmoe_digits(const uint16_t *pr, size_t a, size_t b, struct ends *out) {
  size_t pos = a;
  while (pos < b) {
    if (pr[pos] & TY_RE_N) {
      size_t s = pos, cur, r;
      while (pos < b && (pr[pos] & TY_RE_N))
        pos++;
      r = (pos - s) % 3;
      cur = s;
      if (r > 0) {
        cur += r;
        if (ends_push(out, cur) < 0)
          return -1;
      }
      while (cur < pos) {
        cur += 3;
        if (ends_push(out, cur) < 0)
          return -1;
      }
      continue;
    }
    pos++;
  }
  if (ends_push(out, b) < 0)
    return -1;
  return 0;
}


ty_status ty_pretok_split(const ty_pretok *p, const char *text, size_t len,
                          ty_pretok_fn fn, void *ud, ty_err *err) {
  uint32_t *cp = NULL;
  uint16_t *pr = NULL;
  char *buf = NULL;
  struct ends cur = { 0 }, next = { 0 };
  struct ty_regex_stack st = { 0 };
  ty_status rc = TY_OK;
  size_t n = 0, i, k, bufcap = 0;
  if (p == NULL || fn == NULL || (text == NULL && len > 0))
    return ty_err_set(err, TY_ERR_ARG, "pre-tokenizer: NULL argument");
  if (len >= PRETOK_MAX_CPS)
    return ty_err_set(err, TY_ERR_ARG, "pre-tokenizer: text of %zu bytes is too long (at most %zu)",
                      len, PRETOK_MAX_CPS - 1);
  if (len == 0)
    return TY_OK;
  cp = malloc(len * sizeof *cp);
  pr = malloc(len * sizeof *pr);
  if (cp == NULL || pr == NULL)
    goto nomem;
  for (i = 0; i < len; ) {
    size_t adv;
    cp[n] = ty_utf8_decode(text + i, len - i, &adv);
    pr[n] = (uint16_t)ty_regex_props(cp[n]);
    n++;
    i += adv;
  }
  if (ends_push(&cur, n) < 0)
    goto nomem;
  for (k = 0; k < (size_t)p->n; k++) {
    size_t a = 0, j;
    next.n = 0;
    for (j = 0; j < cur.n; j++) {
      int r = p->re[k] ? split_regex(p->re[k], cp, pr, a, cur.v[j], &next, &st)
                       : afmoe_digits(pr, a, cur.v[j], &next);
      if (r == -1)
        goto nomem;
      if (r == -2) {
        rc = ty_err_set(err, TY_ERR_UNSUPPORTED,
                        "pre-tokenizer: regex %zu backtracks too deep near code point %zu; "
                        "split the text into smaller parts", k, a);
        goto done;
      }
      a = cur.v[j];
    }
    { struct ends t = cur; cur = next; next = t; }
  }
  {
    size_t a = 0, j;
    for (j = 0; j < cur.n; j++) {
      size_t b = cur.v[j], o = 0;
      if ((b - a) * 4 > bufcap) {
        char *nb = realloc(buf, (b - a) * 4);
        if (nb == NULL)
          goto nomem;
        buf = nb;
        bufcap = (b - a) * 4;
      }
      for (i = a; i < b; i++)
        o += ty_utf8_encode(cp[i], buf + o);
      if (fn(ud, buf, o) != 0) {
        rc = ty_err_set(err, TY_ERR_CANCELLED, "pre-tokenizer: stopped by the callback");
        goto done;
      }
      a = b;
    }
  }
  goto done;
nomem:
  rc = ty_err_set(err, TY_ERR_NOMEM, "pre-tokenizer: out of memory splitting %zu bytes", len);
done:
  free(cp);
  free(pr);
  free(buf);
  free(cur.v);
  free(next.v);
  ty_regex_stack_free(&st);
  return rc;
}
