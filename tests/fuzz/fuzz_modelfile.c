/*
 * fuzz_modelfile.c: libFuzzer target for Modelfiles. Parses arbitrary bytes
 * (raw, as Ollama's ParseFile, and checked); whatever parses is written and
 * parsed again and must come back command for command, and its JSON layers
 * are built. Errors must be one non-empty line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/modelfile.h"


static void one_line(const ty_err *err) {
  if (err->msg[0] == '\0' || strchr(err->msg, '\n') != NULL) abort();
}


/* A PARAMETER named "message" goes out as a MESSAGE (Ollama's String does
   the same), so it reads back only with a valid "role: " in front. */
static int writable(const ty_modelfile *mf) {
  for (size_t i = 0; i < mf->n; i++) {
    const char *a = mf->cmds[i].args;
    if (strcmp(mf->cmds[i].name, "message") == 0 && strncmp(a, "system: ", 8) != 0 &&
        strncmp(a, "user: ", 6) != 0 && strncmp(a, "assistant: ", 11) != 0)
      return 0;
  }
  return 1;
}


static void round_trip(const ty_modelfile *mf) {
  char *text, *again;
  size_t len, len2;
  ty_modelfile *back;
  ty_err err;
  if (ty_modelfile_write(mf, &text, &len, &err) != TY_OK) abort();
  if (!writable(mf)) {
    free(text);
    return;
  }
  if (ty_modelfile_parse_raw(text, len, "written", &back, &err) != TY_OK) abort();
  if (back->n != mf->n) abort();
  for (size_t i = 0; i < mf->n; i++)
    if (strcmp(back->cmds[i].name, mf->cmds[i].name) != 0 ||
        strcmp(back->cmds[i].args, mf->cmds[i].args) != 0)
      abort();
  if (ty_modelfile_write(back, &again, &len2, &err) != TY_OK) abort();
  if (len2 != len || memcmp(again, text, len) != 0) abort();   /* writing is stable */
  free(again);
  free(text);
  ty_modelfile_free(back);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ty_modelfile *mf;
  ty_err err;
  char *out;
  size_t n;
  if (ty_modelfile_parse_raw((const char *)data, size, NULL, &mf, &err) != TY_OK) {
    one_line(&err);
    return 0;
  }
  round_trip(mf);
  if (ty_modelfile_check(mf, NULL, &err) == TY_OK) {
    if (ty_modelfile_params_json(mf, &out, &n, &err) != TY_OK) abort();
    free(out);
    if (ty_modelfile_messages_json(mf, &out, &n, &err) != TY_OK) abort();
    free(out);
  } else {
    one_line(&err);
  }
  ty_modelfile_free(mf);
  return 0;
}
