/*
 * chat.c: recognises a model's chat format from its GGUF Jinja
 * tokenizer.chat_template (by the marker strings of each family, as
 * llama.cpp's llm_chat_detect_template does) or, without one, from its
 * architecture, and renders chats with Ollama's Go template for that family.
 */
#include "template.h"

#include <stdlib.h>
#include <string.h>

/* ========== Ollama's templates and stop strings (its template folder) ==========
   Generated from tests/fixtures/templates-ollama/, where Ollama's expected
   renderings check them. Mistral's stops are those of Ollama's mistral model
   ([INST], [/INST]); Ollama ships no params.json beside mistral-instruct. */

/* Ollama template/chatml.gotmpl */
static const char tmpl_chatml[] =
  "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
  "{{ .Content }}<|im_end|>\n"
  "{{ end }}<|im_start|>assistant\n";
static const char *const stops_chatml[] = { "<|im_start|>", "<|im_end|>", NULL };


/* Ollama template/llama3-instruct.gotmpl */
static const char tmpl_llama3[] =
  "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n"
  "\n"
  "{{ .Content }}<|eot_id|>\n"
  "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n"
  "\n";
static const char *const stops_llama3[] = { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL };


/* Ollama template/gemma-instruct.gotmpl */
static const char tmpl_gemma[] =
  "{{- $system := \"\" }}\n"
  "{{- range .Messages }}\n"
  "{{- if eq .Role \"system\" }}\n"
  "{{- if not $system }}{{ $system = .Content }}\n"
  "{{- else }}{{ $system = printf \"%s\\n\\n%s\" $system .Content }}\n"
  "{{- end }}\n"
  "{{- continue }}\n"
  "{{- else if eq .Role \"user\" }}<start_of_turn>user\n"
  "{{- if $system }}\n"
  "{{ $system }}\n"
  "{{- $system = \"\" }}\n"
  "{{- end }}\n"
  "{{- else if eq .Role \"assistant\" }}<start_of_turn>model\n"
  "{{- end }}\n"
  "{{ .Content }}<end_of_turn>\n"
  "{{ end }}<start_of_turn>model\n";
static const char *const stops_gemma[] = { "<start_of_turn>", "<end_of_turn>", NULL };


/* Ollama template/gemma3-instruct.gotmpl */
static const char tmpl_gemma3[] =
  "{{- range $i, $_ := .Messages }}\n"
  "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
  "{{- if eq .Role \"user\" }}<start_of_turn>user\n"
  "{{- if and (eq $i 1) $.System }}\n"
  "{{ $.System }}\n"
  "{{ end }}\n"
  "{{ .Content }}<end_of_turn>\n"
  "{{ else if eq .Role \"assistant\" }}<start_of_turn>model\n"
  "{{ .Content }}<end_of_turn>\n"
  "{{ end }}\n"
  "{{- if $last }}<start_of_turn>model\n"
  "{{ end }}\n"
  "{{- end }}\n";
static const char *const stops_gemma3[] = { "<end_of_turn>", NULL };


/* Ollama template/llama2-chat.gotmpl */
static const char tmpl_llama2[] =
  "{{- $system := \"\" }}[INST] {{ range .Messages }}\n"
  "{{- if eq .Role \"system\" }}\n"
  "{{- if not $system }}{{ $system = .Content }}\n"
  "{{- else }}{{ $system = printf \"%s\\n\\n%s\" $system .Content }}\n"
  "{{- end }}\n"
  "{{- else if eq .Role \"user\" }}<<SYS>>\n"
  "{{- if $system }}\n"
  "{{ $system }}\n"
  "{{ $system = \"\" }}\n"
  "{{- end }}<</SYS>>\n"
  "\n"
  "{{ .Content }} [/INST]\n"
  "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s><s>[INST] {{ end }}\n"
  "{{- end }}";
static const char *const stops_llama2[] = { "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", NULL };


/* Ollama template/mistral-instruct.gotmpl */
static const char tmpl_mistral[] =
  "[INST] {{ range $index, $_ := .Messages }}\n"
  "{{- if eq .Role \"system\" }}{{ .Content }}\n"
  "\n"
  "{{ else if eq .Role \"user\" }}{{ .Content }}[/INST]\n"
  "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>[INST] {{ end }}\n"
  "{{- end }}";
static const char *const stops_mistral[] = { "[INST]", "[/INST]", NULL };


/* Ollama template/phi-3.gotmpl */
static const char tmpl_phi3[] =
  "{{- range .Messages }}<|{{ .Role }}|>\n"
  "{{ .Content }}<|end|>\n"
  "{{ end }}<|assistant|>\n";
static const char *const stops_phi3[] = { "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", NULL };


/* Ollama template/zephyr.gotmpl */
static const char tmpl_zephyr[] =
  "{{- range .Messages }}<|{{ .Role }}|>\n"
  "{{ .Content }}</s>\n"
  "{{ end }}<|assistant|>\n";
static const char *const stops_zephyr[] = { "<|system|>", "</s>", "<|user|>", "<|assistant|>", NULL };


/* Ollama template/openchat.gotmpl */
static const char tmpl_openchat[] =
  "{{- range .Messages }}GPT4 Correct\n"
  "{{- if eq .Role \"system\" }} System:\n"
  "{{- else if eq .Role \"user\" }} User:\n"
  "{{- else if eq .Role \"assistant\" }} Assistant:\n"
  "{{- end }} {{ .Content }}<|end_of_turn|>\n"
  "{{- end }}GPT4 Correct Assistant:";
static const char *const stops_openchat[] = { "<|end_of_turn|>", NULL };


/* Ollama template/deepseek.gotmpl */
static const char tmpl_deepseek[] =
  "{{- if .System }}{{ .System }}{{ end }}\n"
  "{{- if .Tools }}\n"
  "# Tools\n"
  "\n"
  "You may call one or more functions to assist with the user query.\n"
  "\n"
  "You are provided with function signatures within <tools></tools> XML tags:\n"
  "<tools>\n"
  "{{- range $i, $_ := .Tools }}\n"
  "{{ .Function }}\n"
  "{{- end }}\n"
  "</tools>\n"
  "\n"
  "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags.\n"
  "{{- end }}\n"
  "{{- range $i, $_ := .Messages }}\n"
  "  {{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
  "  {{- if eq .Role \"user\" -}}\n"
  "    <\xef\xbd\x9c""User\xef\xbd\x9c"">{{ .Content }}\n"
  "  {{- else if eq .Role \"assistant\" -}}\n"
  "    <\xef\xbd\x9c""Assistant\xef\xbd\x9c"">\n"
  "    {{- if .ToolCalls -}}\n"
  "      {{ \"\\n\" }}<\xef\xbd\x9c""tool\xe2\x96\x81""calls\xe2\x96\x81""begin\xef\xbd\x9c"">{{ \"\\n\" }}\n"
  "      {{- range $i, $_ := .ToolCalls -}}\n"
  "        <\xef\xbd\x9c""tool\xe2\x96\x81""call\xe2\x96\x81""begin\xef\xbd\x9c"">function<\xef\xbd\x9c""tool\xe2\x96\x81""sep\xef\xbd\x9c"">{{ .Function.Name }}\n"
  "```json\n"
  "{{ .Function.Arguments }}\n"
  "```<\xef\xbd\x9c""tool\xe2\x96\x81""call\xe2\x96\x81""end\xef\xbd\x9c"">{{ \"\\n\" }}\n"
  "      {{- end -}}\n"
  "      <\xef\xbd\x9c""tool\xe2\x96\x81""calls\xe2\x96\x81""end\xef\xbd\x9c""><\xef\xbd\x9c""end\xe2\x96\x81""of\xe2\x96\x81""sentence\xef\xbd\x9c"">\n"
  "    {{- end }}\n"
  "    {{- if and $.IsThinkSet (and $last .Thinking) -}}\n"
  "      <think>\n"
  "        {{ .Thinking }}\n"
  "      </think>\n"
  "    {{- end }}{{ .Content }}{{- if not $last }}<\xef\xbd\x9c""end\xe2\x96\x81""of\xe2\x96\x81""sentence\xef\xbd\x9c"">{{- end }}\n"
  "  {{- else if eq .Role \"tool\" -}}\n"
  "    {{ \"\\n\" }}<\xef\xbd\x9c""tool\xe2\x96\x81""output\xe2\x96\x81""begin\xef\xbd\x9c"">{{ .Content }}<\xef\xbd\x9c""tool\xe2\x96\x81""output\xe2\x96\x81""end\xef\xbd\x9c"">{{ \"\\n\" }}\n"
  "  {{- end }}\n"
  "  {{- if and $last (ne .Role \"assistant\") -}}\n"
  "    <\xef\xbd\x9c""Assistant\xef\xbd\x9c"">\n"
  "    {{- if and $.IsThinkSet (not $.Think) -}}\n"
  "      <think> </think>\n"
  "    {{ end }}\n"
  "  {{- end -}}\n"
  "{{- end -}}\n";
static const char *const stops_deepseek[] = { "<\xef\xbd\x9c""begin\xe2\x96\x81""of\xe2\x96\x81""sentence\xef\xbd\x9c"">", "<\xef\xbd\x9c""end\xe2\x96\x81""of\xe2\x96\x81""sentence\xef\xbd\x9c"">", "<\xef\xbd\x9c""User\xef\xbd\x9c"">", "<\xef\xbd\x9c""Assistant\xef\xbd\x9c"">", NULL };


/* Ollama template/vicuna.gotmpl */
static const char tmpl_vicuna[] =
  "{{ if .System }}{{ .System }}\n"
  "\n"
  "{{ end }}{{ if .Prompt }}USER: {{ .Prompt }}\n"
  "{{ end }}ASSISTANT: {{ .Response }}</s>\n";
static const char *const stops_vicuna[] = { "USER:", "ASSISTANT:", NULL };


struct family {
  const char *name;
  const char *tmpl;
  const char *const *stops;
};

static const struct family families[] = {
  { "chatml", tmpl_chatml, stops_chatml },
  { "llama3", tmpl_llama3, stops_llama3 },
  { "gemma", tmpl_gemma, stops_gemma },
  { "gemma3", tmpl_gemma3, stops_gemma3 },
  { "llama2", tmpl_llama2, stops_llama2 },
  { "mistral", tmpl_mistral, stops_mistral },
  { "phi3", tmpl_phi3, stops_phi3 },
  { "zephyr", tmpl_zephyr, stops_zephyr },
  { "openchat", tmpl_openchat, stops_openchat },
  { "deepseek", tmpl_deepseek, stops_deepseek },
  { "vicuna", tmpl_vicuna, stops_vicuna },
};


static const struct family *family_find(const char *name) {
  size_t i;
  for (i = 0; i < sizeof families / sizeof families[0]; i++)
    if (strcmp(families[i].name, name) == 0)
      return &families[i];
  return NULL;
}


/* ========== detection ========== */

/* memmem over the untrusted template bytes (not NUL-terminated). */
static int has(const char *s, size_t n, const char *needle) {
  size_t k = strlen(needle), i;
  if (k == 0 || k > n)
    return k == 0;
  for (i = 0; i + k <= n; i++)
    if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0)
      return 1;
  return 0;
}


/* Picks a family by the markers each family's templates must contain; the
   order matters where markers overlap (llama.cpp's llm_chat_detect_template
   uses the same kind of ladder). Returns NULL when none fits. */
static const char *detect_jinja(const char *s, size_t n) {
  if (has(s, n, "<|im_start|>"))
    return has(s, n, "<|im_sep|>") ? NULL : "chatml";     /* phi-4 is not chatml */
  if (has(s, n, "<|start_header_id|>") && has(s, n, "<|end_header_id|>"))
    return "llama3";
  if (has(s, n, "<start_of_turn>"))
    /* Gemma 3 folds a system message into the first user turn; Gemma 2 refuses it */
    return has(s, n, "first_user_prefix") || has(s, n, "<start_of_image>") ? "gemma3" : "gemma";
  if (has(s, n, "[INST]")) {
    if (has(s, n, "<<SYS>>"))
      return "llama2";
    return "mistral";
  }
  if (has(s, n, "<|assistant|>") && has(s, n, "<|end|>"))
    return "phi3";
  if (has(s, n, "<|user|>") && has(s, n, "<|assistant|>"))
    return "zephyr";
  if (has(s, n, "GPT4 Correct "))
    return "openchat";
  if (has(s, n, "<\xef\xbd\x9cUser\xef\xbd\x9c>") && has(s, n, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"))
    return "deepseek";
  if (has(s, n, "USER: ") && has(s, n, "ASSISTANT: "))
    return "vicuna";
  return NULL;
}


/* Families by general.architecture, for GGUFs without a chat_template; an
   architecture shared by several chat formats (llama, mistral) has none. */
static const char *detect_arch(const char *arch) {
  static const char *const map[][2] = {
    { "gemma3", "gemma3" }, { "gemma2", "gemma" }, { "gemma", "gemma" },
    { "phi3", "phi3" }, { "qwen2", "chatml" }, { "qwen3", "chatml" },
  };
  size_t i;
  if (arch == NULL)
    return NULL;
  for (i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(arch, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}


/* Decodes a Jinja (Python-style) string literal starting at s[i] (a quote)
   into a malloc'd string; *end is set past the closing quote. NULL when the
   literal is unterminated or memory runs out. */
static char *jinja_literal(const char *s, size_t n, size_t i, size_t *end) {
  char q = s[i], *o;
  size_t j, k = 0;
  o = malloc(n - i + 1);
  if (o == NULL)
    return NULL;
  for (j = i + 1; j < n; j++) {
    char c = s[j];
    if (c == q) {
      o[k] = '\0';
      *end = j + 1;
      return o;
    }
    if (c == '\\' && j + 1 < n) {
      c = s[++j];
      switch (c) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        default: o[k++] = c; break;     /* \\ \' \" and the rest: the character */
      }
      continue;
    }
    o[k++] = c;
  }
  free(o);
  return NULL;
}


/* Recovers the system text a template writes when a chat has none:
   a literal '<|im_start|>system\n...<|im_end|>' (SmolLM2, Qwen 2.5), or
   `set system_message = '...'` in the branch taken without a system message.
   Returns a malloc'd string or NULL. */
static char *default_system(const char *s, size_t n, const char *family) {
  static const char set_kw[] = "set system_message = ";
  size_t i;
  for (i = 0; i < n; i++) {
    size_t end;
    char *lit;
    if (s[i] != '\'' && s[i] != '"')
      continue;
    lit = jinja_literal(s, n, i, &end);
    if (lit == NULL)
      return NULL;
    if (strcmp(family, "chatml") == 0 && strncmp(lit, "<|im_start|>system\n", 19) == 0) {
      char *e = strstr(lit + 19, "<|im_end|>");
      if (e != NULL && e > lit + 19) {
        memmove(lit, lit + 19, (size_t)(e - (lit + 19)));
        lit[e - (lit + 19)] = '\0';
        return lit;
      }
    }
    if (i >= sizeof set_kw - 1 && memcmp(s + i - (sizeof set_kw - 1), set_kw, sizeof set_kw - 1) == 0 &&
        lit[0] != '\0')
      return lit;
    free(lit);
    i = end - 1;
  }
  return NULL;
}


ty_status ty_chat_format_detect(const char *jinja, size_t len, const char *arch,
                                struct ty_chat_format *f, ty_err *err) {
  const char *name = NULL;
  const struct family *fam;
  if (f == NULL)
    return ty_err_set(err, TY_ERR_ARG, "ty_chat_format_detect: NULL format");
  memset(f, 0, sizeof *f);
  if (jinja != NULL && len > 0)
    name = detect_jinja(jinja, len);
  else
    name = detect_arch(arch);
  if (name == NULL)
    return ty_err_set(err, TY_ERR_UNSUPPORTED,
                      "chat template: unrecognised %s (architecture %s); use a plain prompt or a "
                      "Modelfile TEMPLATE", jinja && len ? "jinja chat_template" : "model without one",
                      arch ? arch : "unknown");
  fam = family_find(name);
  f->family = fam->name;
  f->tmpl = fam->tmpl;
  f->stops = fam->stops;
  if (jinja != NULL && len > 0)
    f->default_system = default_system(jinja, len, name);
  ty_err_clear(err);
  return TY_OK;
}


void ty_chat_format_clear(struct ty_chat_format *f) {
  if (f == NULL)
    return;
  free(f->default_system);
  memset(f, 0, sizeof *f);
}


ty_status ty_chat_format_render(const struct ty_chat_format *f,
                                const struct ty_chat_msg *msgs, size_t n,
                                char **out, size_t *out_len, ty_err *err) {
  ty_tmpl *t = NULL;
  struct ty_chat_msg *all = NULL;
  ty_status st;
  size_t i;
  int has_system = 0;
  if (f == NULL || f->tmpl == NULL || out == NULL || (msgs == NULL && n > 0))
    return ty_err_set(err, TY_ERR_ARG, "ty_chat_format_render: NULL argument");
  st = ty_tmpl_parse(f->tmpl, strlen(f->tmpl), &t, err);
  if (st != TY_OK)
    return st;
  for (i = 0; i < n; i++)
    if (msgs[i].role && strcmp(msgs[i].role, "system") == 0)
      has_system = 1;
  if (f->default_system != NULL && !has_system) {
    /* the model's own template would have added this system turn */
    all = malloc((n + 1) * sizeof *all);
    if (all == NULL) {
      ty_tmpl_free(t);
      return ty_err_set(err, TY_ERR_NOMEM, "chat template: out of memory");
    }
    all[0].role = "system";
    all[0].content = f->default_system;
    if (n)
      memcpy(all + 1, msgs, n * sizeof *msgs);
    st = ty_tmpl_chat(t, all, n + 1, out, out_len, err);
  } else {
    st = ty_tmpl_chat(t, msgs, n, out, out_len, err);
  }
  free(all);
  ty_tmpl_free(t);
  return st;
}
