/*
 * fuzz_template.c: libFuzzer target for the chat templates. Parses the input
 * as a Go template and renders a fixed conversation with it (both Ollama
 * paths: a template that names .Messages and one that does not), then treats
 * the input as a GGUF Jinja chat_template to detect and render.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/template.h"

static const struct ty_chat_msg conv[] = {
  { "system", "You are a helpful assistant." },
  { "user", "Hello, how are you?" },
  { "assistant", "I'm doing great." },
  { "user", "Show me {{ .System }} and 100% of \"quotes\"" },
  { "tool", "42" },
  { "user", "" },
};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ty_tmpl *t = NULL;
  ty_err err;
  char *out = NULL;
  size_t n = 0;
  struct ty_chat_format f;
  if (ty_tmpl_parse((const char *)data, size, &t, &err) == TY_OK) {
    if (ty_tmpl_chat(t, conv, sizeof conv / sizeof conv[0], &out, &n, &err) == TY_OK) {
      if (out == NULL || out[n] != '\0' || n > TY_TMPL_MAX_OUT)
        abort();
      free(out);
    } else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
      abort();                     /* errors are one non-empty line */
    }
    out = NULL;
    if (ty_tmpl_chat(t, conv + 1, 1, &out, &n, &err) == TY_OK)
      free(out);
    ty_tmpl_free(t);
  } else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
    abort();
  }
  if (ty_chat_format_detect((const char *)data, size, "gemma3", &f, &err) == TY_OK) {
    out = NULL;
    if (ty_chat_format_render(&f, conv + 1, 3, &out, &n, &err) != TY_OK)
      abort();                     /* the built-in templates always render */
    free(out);
    ty_chat_format_clear(&f);
  }
  return 0;
}
