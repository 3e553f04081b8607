/*
 * test_modelfile.c: Modelfiles. The parse cases are Ollama's
 * parser/parser_test.go transcribed (each group names its Go test); then
 * tycho's checks with line numbers, the writer's round trip on values
 * Ollama's quote() would garble, and the params/messages JSON compared with
 * the bytes Go's encoding/json gives for what Ollama's create stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/modelfile.h"

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      failures++; \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__); \
      fprintf(stderr, "\n"); \
    } \
  } while (0)

/* Expected commands: name, args pairs, ended by NULL. */
#define CMDS(...) (const char *const[]){ __VA_ARGS__, NULL }
#define NONE ((const char *const *)NULL)


/* Parses text (len bytes, or strlen) with the raw parser (Ollama's ParseFile,
   no value checks) and compares with want; want NONE expects an error whose
   message contains errpart. */
static void expect_n(const char *what, const char *text, size_t len, const char *const *want,
                     const char *errpart) {
  ty_modelfile *mf;
  ty_err err;
  ty_status st = ty_modelfile_parse_raw(text, len, NULL, &mf, &err);
  if (want == NONE) {
    CHECK(st != TY_OK && strstr(err.msg, errpart) != NULL, "%s: want error '%s', got %s", what,
          errpart, st == TY_OK ? "success" : err.msg);
    if (st == TY_OK) ty_modelfile_free(mf);
    return;
  }
  CHECK(st == TY_OK, "%s: %s", what, err.msg);
  if (st != TY_OK) return;
  size_t n = 0;
  while (want[2 * n] != NULL) n++;
  CHECK(mf->n == n, "%s: %zu commands, want %zu", what, mf->n, n);
  for (size_t i = 0; i < n && i < mf->n; i++)
    CHECK(strcmp(mf->cmds[i].name, want[2 * i]) == 0 && strcmp(mf->cmds[i].args, want[2 * i + 1]) == 0,
          "%s: command %zu is (%s, [%s]), want (%s, [%s])", what, i, mf->cmds[i].name,
          mf->cmds[i].args, want[2 * i], want[2 * i + 1]);
  ty_modelfile_free(mf);
}


static void expect(const char *what, const char *text, const char *const *want, const char *errpart) {
  expect_n(what, text, strlen(text), want, errpart);
}


/* The checked parse fails with exactly msg. */
static void expect_err(const char *text, const char *name, const char *msg) {
  ty_modelfile *mf;
  ty_err err;
  ty_status st = ty_modelfile_parse(text, strlen(text), name, &mf, &err);
  CHECK(st != TY_OK && strcmp(err.msg, msg) == 0, "[%s]: want '%s', got '%s'", text, msg,
        st == TY_OK ? "success" : err.msg);
  if (st == TY_OK) ty_modelfile_free(mf);
}


/* Write then parse again: the same commands. Returns the text (caller frees). */
static char *round_trip(const char *what, const ty_modelfile *mf) {
  char *text;
  size_t len;
  ty_modelfile *back;
  ty_err err;
  if (ty_modelfile_write(mf, &text, &len, &err) != TY_OK) {
    CHECK(0, "%s: write: %s", what, err.msg);
    return NULL;
  }
  CHECK(strlen(text) == len, "%s: length", what);
  if (ty_modelfile_parse_raw(text, len, "written", &back, &err) != TY_OK) {
    CHECK(0, "%s: reparse of [%s]: %s", what, text, err.msg);
    return text;
  }
  CHECK(back->n == mf->n, "%s: %zu commands back, want %zu", what, back->n, mf->n);
  for (size_t i = 0; i < back->n && i < mf->n; i++)
    CHECK(strcmp(back->cmds[i].name, mf->cmds[i].name) == 0 &&
          strcmp(back->cmds[i].args, mf->cmds[i].args) == 0,
          "%s: command %zu back as (%s, [%s]), want (%s, [%s])", what, i, back->cmds[i].name,
          back->cmds[i].args, mf->cmds[i].name, mf->cmds[i].args);
  ty_modelfile_free(back);
  return text;
}


/* ------------------------------------------------ Ollama's parser_test.go */

static void test_ollama_parser(void) {
  const char *tmpl = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}"
    "<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}"
    "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";
  char text[2048], want_tmpl[1024];

  /* TestParseFileFile */
  snprintf(text, sizeof text, "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\n"
           "PARAMETER param2 value2\nTEMPLATE \"\"\"%s\"\"\"    \n", tmpl);
  expect("TestParseFileFile", text, CMDS("model", "model1", "adapter", "adapter1", "license", "MIT",
         "param1", "value1", "param2", "value2", "template", tmpl), NULL);

  /* TestParseFileDraft */
  expect("TestParseFileDraft", "\nFROM base\nDRAFT ./assistant\n",
         CMDS("model", "base", "draft", "./assistant"), NULL);

  /* TestParseFileTrimSpace */
  snprintf(text, sizeof text, "\nFROM \"     model 1\"\nADAPTER      adapter3\nLICENSE \"MIT       \"\n"
           "PARAMETER param1        value1\nPARAMETER param2    value2\nTEMPLATE \"\"\"   %s   \"\"\"    \n", tmpl);
  snprintf(want_tmpl, sizeof want_tmpl, "   %s   ", tmpl);
  expect("TestParseFileTrimSpace", text, CMDS("model", "     model 1", "adapter", "adapter3", "license",
         "MIT       ", "param1", "value1", "param2", "value2", "template", want_tmpl), NULL);

  /* TestParseFileFrom */
  expect("From 1", "FROM \"FOO  BAR  \"", CMDS("model", "FOO  BAR  "), NULL);
  expect("From 2", "FROM \"FOO BAR\"\nPARAMETER param1 value1",
         CMDS("model", "FOO BAR", "param1", "value1"), NULL);
  expect("From 3", "FROM     FOOO BAR    ", CMDS("model", "FOOO BAR"), NULL);
  expect("From 4", "FROM /what/is/the path ", CMDS("model", "/what/is/the path"), NULL);
  expect("From 5", "FROM foo", CMDS("model", "foo"), NULL);
  expect("From 6", "FROM /path/to/model", CMDS("model", "/path/to/model"), NULL);
  expect("From 7", "FROM /path/to/model/fp16.bin", CMDS("model", "/path/to/model/fp16.bin"), NULL);
  expect("From 8", "FROM llama3:latest", CMDS("model", "llama3:latest"), NULL);
  expect("From 9", "FROM llama3:7b-instruct-q4_K_M", CMDS("model", "llama3:7b-instruct-q4_K_M"), NULL);
  expect("From 10", "", NONE, "no FROM line");
  expect("From 11", "PARAMETER param1 value1", NONE, "no FROM line");
  expect("From 12", "PARAMETER param1 value1\nFROM foo", CMDS("param1", "value1", "model", "foo"), NULL);
  expect("From 13", "PARAMETER what the \nFROM lemons make lemonade ",
         CMDS("what", "the", "model", "lemons make lemonade"), NULL);

  /* TestParseFileParametersMissingValue (Ollama: io.ErrUnexpectedEOF) */
  expect("ParametersMissingValue", "\nFROM foo\nPARAMETER param1\n", NONE,
         "Modelfile:3: PARAMETER param1 needs a value");

  /* TestParseFileBadCommand: a ParserError on line 3 */
  expect("BadCommand", "\nFROM foo\nBADCOMMAND param1 value1\n", NONE,
         "Modelfile:3: unknown instruction 'BADCOMMAND'");

  /* TestParseFileRenderer, TestParseFileParser */
  expect("Renderer", "\nFROM foo\nRENDERER renderer1\n", CMDS("model", "foo", "renderer", "renderer1"), NULL);
  expect("Parser", "\nFROM foo\nPARSER parser1\n", CMDS("model", "foo", "parser", "parser1"), NULL);

  /* TestParseFileMessages */
  expect("Messages 1", "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n",
         CMDS("model", "foo", "message", "system: You are a file parser. Always parse things."), NULL);
  expect("Messages 2", "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
         CMDS("model", "foo", "message", "system: You are a file parser. Always parse things."), NULL);
  expect("Messages 3", "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n"
         "MESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
         CMDS("model", "foo", "message", "system: You are a file parser. Always parse things.",
              "message", "user: Hey there!", "message", "assistant: Hello, I want to parse all the things!"),
         NULL);
  expect("Messages 4", "\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n"
         "\"\"\"\n\t\t\t", CMDS("model", "foo", "message",
         "system: \nYou are a multiline file parser. Always parse things.\n"), NULL);
  expect("Messages 5", "\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", NONE,
         "Modelfile:3: message role must be system, user or assistant, not 'badguy'");
  expect("Messages 6", "\nFROM foo\nMESSAGE system\n", NONE, "Modelfile:3: MESSAGE needs");
  expect("Messages 7", "\nFROM foo\nMESSAGE system", NONE, "Modelfile:3: MESSAGE needs");

  /* TestParseFileQuoted */
  expect("Quoted 1", "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\n\"\"\"\n\t\t\t",
         CMDS("model", "foo", "system", "\nThis is a\nmultiline system.\n"), NULL);
  expect("Quoted 2", "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\"\"\"\n\t\t\t",
         CMDS("model", "foo", "system", "\nThis is a\nmultiline system."), NULL);
  expect("Quoted 3", "\nFROM foo\nSYSTEM \"\"\"This is a\nmultiline system.\"\"\"\n\t\t\t",
         CMDS("model", "foo", "system", "This is a\nmultiline system."), NULL);
  expect("Quoted 4", "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\"\n\t\t\t",
         CMDS("model", "foo", "system", "This is a multiline system."), NULL);
  expect("Quoted 5", "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n\t\t\t", NONE,
         "Modelfile:3: the quoted value never ends (a closing \"\"\" is missing)");
  expect("Quoted 6", "\nFROM foo\nSYSTEM \"\n\t\t\t", NONE,
         "Modelfile:3: the quoted value never ends (a closing \" is missing)");
  expect("Quoted 7", "\nFROM foo\nSYSTEM \"\"\"\nThis is a multiline system with \"quotes\".\n\"\"\"\n",
         CMDS("model", "foo", "system", "\nThis is a multiline system with \"quotes\".\n"), NULL);
  expect("Quoted 8", "\nFROM foo\nSYSTEM \"\"\"\"\"\"\n", CMDS("model", "foo", "system", ""), NULL);
  expect("Quoted 9", "\nFROM foo\nSYSTEM \"\"\n", CMDS("model", "foo", "system", ""), NULL);
  expect("Quoted 10", "\nFROM foo\nSYSTEM \"'\"\n", CMDS("model", "foo", "system", "'"), NULL);
  expect("Quoted 11", "\nFROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n",
         CMDS("model", "foo", "system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'"), NULL);
  expect("Quoted 12", "\nFROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\"",
         CMDS("model", "foo", "template", "\n{{ .Prompt }}\n"), NULL);

  /* TestParseFileParameters: "FROM foo\nPARAMETER " + key + "\n" */
  static const char *const params[][3] = {
    { "numa true", "numa", "true" }, { "num_ctx 1", "num_ctx", "1" },
    { "num_batch 1", "num_batch", "1" }, { "num_gqa 1", "num_gqa", "1" },
    { "num_gpu 1", "num_gpu", "1" }, { "main_gpu 1", "main_gpu", "1" },
    { "use_mmap true", "use_mmap", "true" }, { "num_thread 1", "num_thread", "1" },
    { "num_keep 1", "num_keep", "1" }, { "seed 1", "seed", "1" },
    { "num_predict 1", "num_predict", "1" }, { "top_k 1", "top_k", "1" },
    { "top_p 1.0", "top_p", "1.0" }, { "min_p 0.05", "min_p", "0.05" },
    { "typical_p 1.0", "typical_p", "1.0" }, { "repeat_last_n 1", "repeat_last_n", "1" },
    { "temperature 1.0", "temperature", "1.0" }, { "repeat_penalty 1.0", "repeat_penalty", "1.0" },
    { "presence_penalty 1.0", "presence_penalty", "1.0" },
    { "frequency_penalty 1.0", "frequency_penalty", "1.0" },
    { "penalize_newline true", "penalize_newline", "true" },
    { "stop ### User:", "stop", "### User:" }, { "stop ### User: ", "stop", "### User:" },
    { "stop \"### User:\"", "stop", "### User:" }, { "stop \"### User: \"", "stop", "### User: " },
    { "stop \"\"\"### User:\"\"\"", "stop", "### User:" },
    { "stop \"\"\"### User:\n\"\"\"", "stop", "### User:\n" },
    { "stop <|endoftext|>", "stop", "<|endoftext|>" }, { "stop <|eot_id|>", "stop", "<|eot_id|>" },
    { "stop </s>", "stop", "</s>" },
  };
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    snprintf(text, sizeof text, "FROM foo\nPARAMETER %s\n", params[i][0]);
    expect(params[i][0], text, CMDS("model", "foo", params[i][1], params[i][2]), NULL);
  }

  /* TestParseFileComments */
  expect("Comments", "\n# comment\nFROM foo\n\t", CMDS("model", "foo"), NULL);

  /* TestParseFileFormatParseFile: parse, String(), parse gives the same */
  static const char *const fmt_cases[] = {
    "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
    "TEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\n"
    "MESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
    "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
    "TEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n"
    "\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
    "\nFROM foo\nADAPTER adapter1\nLICENSE \"\"\"\nVery long and boring legal text.\nBlah blah blah.\n"
    "\"Oh look, a quote!\"\n\"\"\"\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\n"
    "MESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\n"
    "MESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
    "\nFROM foo\nSYSTEM \"\"\n",
  };
  for (size_t i = 0; i < sizeof fmt_cases / sizeof fmt_cases[0]; i++) {
    ty_modelfile *mf;
    ty_err err;
    CHECK(ty_modelfile_parse_raw(fmt_cases[i], strlen(fmt_cases[i]), NULL, &mf, &err) == TY_OK,
          "FormatParseFile %zu: %s", i, err.msg);
    if (mf) free(round_trip("FormatParseFile", mf));
    ty_modelfile_free(mf);
  }

  /* TestParseFileUTF16ParseFile: little- and big-endian with a BOM */
  {
    const char *data = "FROM bob\nPARAMETER param1 1\nPARAMETER param2 4096\nSYSTEM You are a utf16 file.\n";
    size_t n = strlen(data);
    char *le = malloc(2 * n + 2), *be = malloc(2 * n + 2);
    le[0] = (char)0xFF, le[1] = (char)0xFE, be[0] = (char)0xFE, be[1] = (char)0xFF;
    for (size_t i = 0; i < n; i++) {
      le[2 + 2 * i] = data[i], le[3 + 2 * i] = 0;
      be[2 + 2 * i] = 0, be[3 + 2 * i] = data[i];
    }
    expect_n("UTF16 le", le, 2 * n + 2, CMDS("model", "bob", "param1", "1", "param2", "4096",
             "system", "You are a utf16 file."), NULL);
    expect_n("UTF16 be", be, 2 * n + 2, CMDS("model", "bob", "param1", "1", "param2", "4096",
             "system", "You are a utf16 file."), NULL);
    free(le);
    free(be);
  }

  /* TestParseMultiByte: UTF-8, and UTF-16 with a BOM (你好 and U+1F44B as a surrogate pair) */
  {
    static const unsigned short u16[] = { 'F', 'R', 'O', 'M', ' ', 't', 'e', 's', 't', '\n', '\t',
      'S', 'Y', 'S', 'T', 'E', 'M', ' ', 0x4F60, 0x597D, 0xD83D, 0xDC4B };
    size_t n = sizeof u16 / sizeof u16[0];
    char le[64], be[64];
    expect("MultiByte utf8", "FROM test\n\tSYSTEM 你好👋", CMDS("model", "test", "system", "你好👋"), NULL);
    le[0] = (char)0xFF, le[1] = (char)0xFE, be[0] = (char)0xFE, be[1] = (char)0xFF;
    for (size_t i = 0; i < n; i++) {
      le[2 + 2 * i] = (char)(u16[i] & 0xFF), le[3 + 2 * i] = (char)(u16[i] >> 8);
      be[2 + 2 * i] = (char)(u16[i] >> 8), be[3 + 2 * i] = (char)(u16[i] & 0xFF);
    }
    expect_n("MultiByte utf16le", le, 2 * n + 2, CMDS("model", "test", "system", "你好👋"), NULL);
    expect_n("MultiByte utf16be", be, 2 * n + 2, CMDS("model", "test", "system", "你好👋"), NULL);
  }
}


/* ------------------------------------------------ how Ollama's parser reads odd input */

static void test_parser_edges(void) {
  /* a UTF-8 BOM is dropped; CRLF ends lines; control characters vanish */
  expect("bom", "\xEF\xBB\xBF" "FROM a\r\nSYSTEM b\r\n", CMDS("model", "a", "system", "b"), NULL);
  expect("controls", "FROM a\x01" "b\x7f\n", CMDS("model", "ab"), NULL);
  /* invalid UTF-8 becomes U+FFFD, one per byte */
  expect("invalid utf8", "FROM a\xC3(\xFF\n", CMDS("model", "a\xEF\xBF\xBD(\xEF\xBF\xBD"), NULL);
  /* instruction names in any case; a # only starts a comment at a line's start */
  expect("case", "from a\nSyStEm b # not a comment\n", CMDS("model", "a", "system", "b # not a comment"), NULL);
  /* a quoted value runs on until a line ends in its closing quote */
  expect("quote spans", "FROM a\nSYSTEM \"x\" y\nz\"\n", CMDS("model", "a", "system", "x\" y\nz"), NULL);
  /* tabs separate too, and \r inside a multi-line value stays */
  expect("tabs", "FROM\ta\nSYSTEM \"\"\"x\r\ny\"\"\"\n", CMDS("model", "a", "system", "x\r\ny"), NULL);
  /* FROM can repeat (Ollama merges the files) */
  expect("two from", "FROM a\nFROM b\n", CMDS("model", "a", "model", "b"), NULL);
  /* errors, with the line of the fault */
  expect("from alone", "FROM\n", NONE, "Modelfile:1: FROM needs a value");
  expect("from at end", "# x\nFROM", NONE, "Modelfile:2: FROM needs a value");
  expect("bad name char", "FROM a\nFR0M b\n", NONE, "Modelfile:2: unknown instruction 'FR0M'");
  expect("param char", "FROM a\nPARAMETER num-ctx 1\n", NONE,
         "Modelfile:2: parameter name 'num' may have only letters, digits and _");
  expect("crlf lines", "FROM a\r\n\r\nPARAMETER x\r\n", NONE, "Modelfile:3: PARAMETER x needs a value");
  expect("unterminated line", "FROM a\n\nLICENSE \"\"\"\nMIT\n", NONE,
         "Modelfile:3: the quoted value never ends");
}


/* ------------------------------------------------ value checks (Ollama's create, tycho's own) */

static void test_checks(void) {
  ty_modelfile *mf;
  ty_err err;
  const char *ok = "FROM smollm2\nPARAMETER num_ctx 4096\nPARAMETER temperature 0.7\n"
    "PARAMETER use_mmap false\nPARAMETER stop <|im_end|>\nPARAMETER stop \"### User:\"\n"
    "PARAMETER kv_type q8_0\nPARAMETER devices cpu=2G,cpu=2G\nPARAMETER split 3,1\n"
    "PARAMETER seed -1\nPARAMETER top_p .9\nPARAMETER min_p 5e-2\nPARAMETER repeat_penalty 0x1p0\n"
    "PARAMETER mirostat 2\nREQUIRES 0.14.0\nREQUIRES v1.2.3-rc.1+build.5\nREQUIRES 1\n"
    "MESSAGE user hi\n";
  CHECK(ty_modelfile_parse(ok, strlen(ok), NULL, &mf, &err) == TY_OK, "checked parse: %s", err.msg);
  if (mf != NULL) {
    CHECK(strcmp(ty_modelfile_get(mf, "model"), "smollm2") == 0, "get model");
    CHECK(strcmp(ty_modelfile_get(mf, "stop"), "### User:") == 0, "get: the last stop");
    CHECK(ty_modelfile_get(mf, "system") == NULL, "get: absent");
    CHECK(mf->cmds[1].line == 2 && mf->cmds[17].line == 18, "lines %zu %zu", mf->cmds[1].line,
          mf->cmds[17].line);
    ty_modelfile_free(mf);
  }

  expect_err("FROM a\n\n\n\n\n\nPARAMETER num_cxt 4096\n", NULL,
             "Modelfile:7: unknown parameter 'num_cxt' (did you mean 'num_ctx'?)");
  expect_err("FROM a\nPARAMETER bogus 1\n", "my/Modelfile", "my/Modelfile:2: unknown parameter 'bogus'");
  expect_err("FROM a\nPARAMETER num_ctx abc\n", NULL,
             "Modelfile:2: parameter 'num_ctx' must be an integer, not 'abc'");
  expect_err("FROM a\nPARAMETER num_ctx 1.5\n", NULL,
             "Modelfile:2: parameter 'num_ctx' must be an integer, not '1.5'");
  expect_err("FROM a\nPARAMETER seed 9223372036854775808\n", NULL,
             "Modelfile:2: parameter 'seed' must be an integer, not '9223372036854775808'");
  expect_err("FROM a\nPARAMETER temperature warm\n", NULL,
             "Modelfile:2: parameter 'temperature' must be a number, not 'warm'");
  expect_err("FROM a\nPARAMETER temperature 1e39\n", NULL,       /* past float32 */
             "Modelfile:2: parameter 'temperature' must be a number, not '1e39'");
  expect_err("FROM a\nPARAMETER temperature NaN\n", NULL,
             "Modelfile:2: parameter 'temperature' must be a number, not 'NaN'");
  expect_err("FROM a\nPARAMETER use_mmap yes\n", NULL,
             "Modelfile:2: parameter 'use_mmap' must be true or false, not 'yes'");
  expect_err("FROM a\nPARAMETER kv_type q4_k\n", NULL,
             "Modelfile:2: parameter 'kv_type' must be f16, f32 or q8_0, not 'q4_k'");
  expect_err("FROM a\nPARAMETER split 3,,1\n", NULL,
             "Modelfile:2: parameter 'split' must be proportions like 3,1 (up to 16), not '3,,1'");
  expect_err("FROM a\nREQUIRES 0.14\nREQUIRES 01.2.3\n", NULL,
             "Modelfile:3: REQUIRES must be a version like 0.14.0, not '01.2.3'");
  expect_err("FROM a\nREQUIRES 1.2.3-01\n", NULL,
             "Modelfile:2: REQUIRES must be a version like 0.14.0, not '1.2.3-01'");
  expect_err("FROM a\nMESSAGE tool hi\n", NULL,
             "Modelfile:2: message role must be system, user or assistant, not 'tool'");
  expect_err("PARAMETER num_ctx 1\n", NULL,
             "Modelfile: no FROM line (a Modelfile starts from a model: FROM llama3.2)");
  /* a quoted value across lines comes back in the one-line error escaped
     (the fuzzer's find: the raw newline broke the message in two) */
  expect_err("FROM a\nPARAMETER devices \"\"\"cpu\n\tx\"\"\"\n", NULL,
             "Modelfile:2: parameter 'devices': devices: unknown device 'cpu\\n\\tx' in "
             "'cpu\\n\\tx' (cpu, cpu=SIZE or cuda:N=SIZE)");
  {   /* other control bytes as \xHH, and a long message cut between escapes */
    char long_value[300];
    memset(long_value, '\n', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    ty_err_set(&err, TY_ERR_ARG, "a\x1b\x7f%s", "b\rc");
    CHECK(strcmp(err.msg, "a\\x1b\\x7fb\\rc") == 0, "escaped: %s", err.msg);
    ty_err_set(&err, TY_ERR_ARG, "x%s", long_value);
    CHECK(strlen(err.msg) == 1 + 2 * 127 && strchr(err.msg, '\n') == NULL &&
          err.msg[strlen(err.msg) - 1] == 'n', "cut between escapes: %zu", strlen(err.msg));
  }
  {
    ty_status st = ty_modelfile_parse("FROM a\nPARAMETER devices gpu\n", 29, NULL, &mf, &err);
    CHECK(st == TY_ERR_FORMAT && strncmp(err.msg, "Modelfile:2: parameter 'devices': ", 34) == 0,
          "devices: %s", err.msg);
    if (st == TY_OK) ty_modelfile_free(mf);
  }

  /* the value readers, as Go's strconv reads */
  int64_t i;
  double f;
  bool b;
  CHECK(ty_modelfile_parse_int("+42", &i) && i == 42, "int +42");
  CHECK(!ty_modelfile_parse_int("4_096", &i) && !ty_modelfile_parse_int("", &i) &&
        !ty_modelfile_parse_int("-", &i) && !ty_modelfile_parse_int(" 1", &i), "int rejects");
  CHECK(ty_modelfile_parse_float("1.", &f) && f == 1.0, "float 1.");
  CHECK(!ty_modelfile_parse_float(".", &f) && !ty_modelfile_parse_float("1e", &f) &&
        !ty_modelfile_parse_float("0x1", &f) && !ty_modelfile_parse_float("inf", &f), "float rejects");
  CHECK(ty_modelfile_parse_bool("T", &b) && b && ty_modelfile_parse_bool("False", &b) && !b &&
        !ty_modelfile_parse_bool("yes", &b), "bools");
  CHECK(ty_modelfile_param_type("stop") == TY_MF_STOP && ty_modelfile_param_type("numa") == -1 &&
        ty_modelfile_param_type("mirostat") == TY_MF_DEPRECATED, "param types");

  /* ty_modelfile_read: a missing file, and errors labelled with the path */
  CHECK(ty_modelfile_read("/nonexistent/Modelfile", &mf, &err) == TY_ERR_IO &&
        strstr(err.msg, "/nonexistent/Modelfile: ") == err.msg, "read missing: %s", err.msg);
  {
    char path[] = "/tmp/tycho-mf-XXXXXX";
    int fd = mkstemp(path);
    const char *bad = "FROM a\nPARAMETER temperature hot\n";
    CHECK(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "temp file");
    close(fd);
    char want[128];
    snprintf(want, sizeof want, "%s:2: parameter 'temperature' must be a number, not 'hot'", path);
    CHECK(ty_modelfile_read(path, &mf, &err) == TY_ERR_FORMAT && strcmp(err.msg, want) == 0,
          "read: %s", err.msg);
    unlink(path);
  }
}


/* ------------------------------------------------ writing */

static void test_write(void) {
  ty_modelfile *mf = ty_modelfile_new();
  ty_err err;
  char *text;
  size_t len;
  /* Ollama's forms: plain, "..." for edge spaces or lines, """...""" when a " is inside */
  CHECK(ty_modelfile_add(mf, "model", "smollm2:135m", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "template", "{{ .Prompt }}\n", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "system", "say \"hi\"\n", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "num_ctx", "8192", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "stop", " User:", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "message", "user: hello there", &err) == TY_OK, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "license", "", &err) == TY_OK, "%s", err.msg);
  text = round_trip("write", mf);
  CHECK(text && strcmp(text, "FROM smollm2:135m\nTEMPLATE \"{{ .Prompt }}\n\"\n"
                       "SYSTEM \"\"\"say \"hi\"\n\"\"\"\nPARAMETER num_ctx 8192\nPARAMETER stop \" User:\"\n"
                       "MESSAGE user hello there\nLICENSE \n") == 0, "written as Ollama does: [%s]", text);
  free(text);
  ty_modelfile_free(mf);

  /* values Ollama's quote() would garble still read back */
  static const char *const tricky[] = {
    "\"hi\"", "\"", "\"\"", "\ttab", "tab\t", "a\rb", "x\"\n\"y",
    "a\"\nb\"", " ", "\n", "\"\n", "你好 👋", "a\\b", "# not a comment",
  };
  for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
    mf = ty_modelfile_new();
    CHECK(ty_modelfile_add(mf, "model", "m", &err) == TY_OK, "%s", err.msg);
    CHECK(ty_modelfile_add(mf, "system", tricky[i], &err) == TY_OK, "tricky %zu: %s", i, err.msg);
    CHECK(ty_modelfile_add(mf, "message", "assistant: x", &err) == TY_OK, "%s", err.msg);
    free(round_trip(tricky[i], mf));
    ty_modelfile_free(mf);
  }

  /* what cannot be written is refused, naming what */
  mf = ty_modelfile_new();
  CHECK(ty_modelfile_add(mf, "system", "bell\a", &err) == TY_ERR_ARG &&
        strstr(err.msg, "instruction 'system' cannot be written") != NULL, "control: %s", err.msg);
  CHECK(ty_modelfile_add(mf, "system", "bad \xC3(", &err) == TY_ERR_ARG, "invalid utf8");
  /* x"""<newline>y closes early both as """x"""... and as "x""" ; """<newline>b opens as """""" */
  CHECK(ty_modelfile_add(mf, "system", "x\"\"\"\ny", &err) == TY_ERR_ARG, "no quoting survives 1");
  CHECK(ty_modelfile_add(mf, "system", "\"\"\"\nb", &err) == TY_ERR_ARG, "no quoting survives 2");
  CHECK(ty_modelfile_add(mf, "system", "line\xE2\x80\xA8sep", &err) == TY_ERR_ARG, "U+2028");
  CHECK(ty_modelfile_add(mf, "num_cxt", "1", &err) == TY_ERR_FORMAT &&
        strcmp(err.msg, "unknown parameter 'num_cxt' (did you mean 'num_ctx'?)") == 0, "%s", err.msg);
  CHECK(ty_modelfile_add(mf, "message", "user hi", &err) != TY_OK, "message without ': '");
  CHECK(ty_modelfile_add(mf, "message", "bot: hi", &err) == TY_ERR_FORMAT, "message role");
  CHECK(mf->n == 0, "nothing added");
  ty_modelfile_write(mf, &text, &len, &err);
  CHECK(len == 0 && strcmp(text, "") == 0, "empty text");
  free(text);
  ty_modelfile_free(mf);
  ty_modelfile_free(NULL);
}


/* ------------------------------------------------ the JSON layers */

static void expect_json(const char *modelfile, const char *params, const char *messages) {
  ty_modelfile *mf;
  ty_err err;
  char *out;
  size_t len;
  if (ty_modelfile_parse(modelfile, strlen(modelfile), NULL, &mf, &err) != TY_OK) {
    CHECK(0, "[%s]: %s", modelfile, err.msg);
    return;
  }
  CHECK(ty_modelfile_params_json(mf, &out, &len, &err) == TY_OK, "%s", err.msg);
  CHECK(params ? out && strcmp(out, params) == 0 && len == strlen(params) : out == NULL && len == 0,
        "params of [%s]:\n got  %s want %s", modelfile, out ? out : "NULL\n", params ? params : "NULL\n");
  free(out);
  CHECK(ty_modelfile_messages_json(mf, &out, &len, &err) == TY_OK, "%s", err.msg);
  CHECK(messages ? out && strcmp(out, messages) == 0 : out == NULL,
        "messages of [%s]:\n got  %s want %s", modelfile, out ? out : "NULL\n", messages ? messages : "NULL\n");
  free(out);
  ty_modelfile_free(mf);
}


static void test_json(void) {
  /* TestCreateRequest's cases: Parameters {"temperature": float32(0.5), "top_k": int64(1)}
     and its Messages, as the server's json.Encoder writes them */
  expect_json("FROM test", NULL, NULL);
  expect_json("FROM test\nLICENSE single license\nPARAMETER temperature 0.5\nMESSAGE user Hello\n",
              "{\"temperature\":0.5}\n", "[{\"role\":\"user\",\"content\":\"Hello\"}]\n");
  expect_json("FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nSYSTEM You are a bot.\n"
              "LICENSE license1\nLICENSE license2\nMESSAGE user Hello there!\nMESSAGE assistant Hi! How are you?\n",
              "{\"temperature\":0.5,\"top_k\":1}\n",
              "[{\"role\":\"user\",\"content\":\"Hello there!\"},"
              "{\"role\":\"assistant\",\"content\":\"Hi! How are you?\"}]\n");
  /* keys sorted; float32 values in their shortest form (float32(0.1) is "0.1", not
     0.100000001); 1.0 is 1; Go's 'e' form below 1e-6 and e-07 shortened to e-7; the last of
     a repeated parameter; stop in order with <, >, & escaped as \u003c..; deprecated
     parameters dropped (Ollama warns and skips them); tycho's own as strings */
  expect_json("FROM m\nPARAMETER top_p 0.1\nPARAMETER temperature 1.0\nPARAMETER num_ctx 2048\n"
              "PARAMETER num_ctx 4096\nPARAMETER stop <|eot_id|>\nPARAMETER stop \"A&B\"\n"
              "PARAMETER min_p 1e-7\nPARAMETER typical_p 0.000001\nPARAMETER repeat_penalty 1e30\n"
              "PARAMETER use_mmap T\nPARAMETER mirostat 2\nPARAMETER kv_type q8_0\nPARAMETER seed -3\n"
              "PARAMETER presence_penalty -0.25\nPARAMETER frequency_penalty 123456789\n",
              "{\"frequency_penalty\":123456790,\"kv_type\":\"q8_0\",\"min_p\":1e-7,\"num_ctx\":4096,"
              "\"presence_penalty\":-0.25,\"repeat_penalty\":1e+30,\"seed\":-3,"
              "\"stop\":[\"\\u003c|eot_id|\\u003e\",\"A\\u0026B\"],\"temperature\":1,\"top_p\":0.1,"
              "\"typical_p\":0.000001,\"use_mmap\":true}\n", NULL);
  /* integers go through the server's float64: 2^53 + 1 comes back as 2^53 */
  expect_json("FROM m\nPARAMETER seed 9007199254740993\n", "{\"seed\":9007199254740992}\n", NULL);
  expect_json("FROM m\nPARAMETER seed 9223372036854775807\n", "{\"seed\":9223372036854776000}\n", NULL);
  /* string escapes: quotes, backslashes, newlines, tabs; UTF-8 kept (U+2028, which Go
     escapes, never reaches a value: it is not printable, and the parser drops it).
     Content is cut at the first ": " as Ollama's strings.Cut does */
  expect_json("FROM m\nMESSAGE system \"\"\"say \"hi\"\\n\tnow: \xE2\x80\xA8\xC3\xA9\"\"\"\n",
              NULL, "[{\"role\":\"system\",\"content\":\"say \\\"hi\\\"\\\\n\\tnow: \xC3\xA9\"}]\n");
  expect_json("FROM m\nMESSAGE user \"\"\"a\nb\"\"\"\nMESSAGE assistant \n", NULL,
              "[{\"role\":\"user\",\"content\":\"a\\nb\"},{\"role\":\"assistant\",\"content\":\"\"}]\n");
}


int main(void) {
  test_ollama_parser();
  test_parser_edges();
  test_checks();
  test_write();
  test_json();
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
