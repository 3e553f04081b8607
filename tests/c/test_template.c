/*
 * test_template.c: chat templates. Renders every Ollama template of
 * tests/fixtures/templates{,-ollama}/ against Ollama's own expected outputs,
 * the language cases of templates-ollama/lang/ against Go's text/template
 * (expected.txt comes from gen.go there), error positions, limits, and the
 * Jinja family detection against jinja2 renderings (tests/fixtures/jinja/).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "gguf/gguf.h"
#include "text/template.h"

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      failures++; \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__); \
      fprintf(stderr, "\n"); \
    } \
  } while (0)

static const struct ty_chat_msg conv_user[] = {
  { "user", "Hello, how are you?" },
};
static const struct ty_chat_msg conv_uau[] = {
  { "user", "Hello, how are you?" },
  { "assistant", "I'm doing great. How can I help you today?" },
  { "user", "I'd like to show off how chat templating works!" },
};
static const struct ty_chat_msg conv_suau[] = {
  { "system", "You are a helpful assistant." },
  { "user", "Hello, how are you?" },
  { "assistant", "I'm doing great. How can I help you today?" },
  { "user", "I'd like to show off how chat templating works!" },
};
static const struct ty_chat_msg conv_merge[] = {
  { "system", "S1" }, { "system", "S2" }, { "user", "U1" }, { "user", "U2" },
  { "assistant", "A1" },
};

static const struct {
  const char *name;
  const struct ty_chat_msg *msgs;
  size_t n;
} convs[] = {
  { "user", conv_user, 1 },
  { "user-assistant-user", conv_uau, 3 },
  { "system-user-assistant-user", conv_suau, 4 },
  { "merge", conv_merge, 5 },
};


/* Renders src with a conversation; returns the malloc'd output or NULL (and
   err filled) on failure. */
static char *render(const char *src, size_t len, const struct ty_chat_msg *m, size_t n,
                    size_t *out_len, ty_err *err) {
  ty_tmpl *t = NULL;
  char *out = NULL;
  if (ty_tmpl_parse(src, len, &t, err) != TY_OK)
    return NULL;
  if (ty_tmpl_chat(t, m, n, &out, out_len, err) != TY_OK)
    out = NULL;
  ty_tmpl_free(t);
  return out;
}


static void show_diff(const char *want, size_t wn, const char *got, size_t gn) {
  size_t i = 0;
  while (i < wn && i < gn && want[i] == got[i])
    i++;
  fprintf(stderr, "  first difference at byte %zu\n  want: \"%.*s\"\n  got:  \"%.*s\"\n", i,
          (int)(wn - i > 80 ? 80 : wn - i), want + i, (int)(gn - i > 80 ? 80 : gn - i), got + i);
}


/* Every NAME.gotmpl folder of dir: its template rendered for the three
   conversations must equal the expected files byte for byte. Returns the
   number of vectors checked. */
static int run_fixture_dir(const char *dir) {
  static const char *const trim_space[] = {
    "chatqa.gotmpl", "llama2-chat.gotmpl", "mistral-instruct.gotmpl", "openchat.gotmpl",
    "vicuna.gotmpl", NULL
  };
  DIR *d = opendir(dir);
  struct dirent *e;
  int checked = 0;
  CHECK(d != NULL, "cannot open %s", dir);
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    char path[1024];
    char *src;
    size_t len = 0, c;
    int trim = 0, k;
    if (strstr(e->d_name, ".gotmpl") == NULL)
      continue;
    snprintf(path, sizeof path, "%s/%s/template", dir, e->d_name);
    src = test_read_file(path, &len);
    CHECK(src != NULL, "missing %s", path);
    if (src == NULL)
      continue;
    for (k = 0; trim_space[k]; k++)
      if (strcmp(trim_space[k], e->d_name) == 0)
        trim = 1;
    for (c = 0; c < 3; c++) {
      char *want, *got;
      size_t wn, gn;
      ty_err err;
      snprintf(path, sizeof path, "%s/%s/%s", dir, e->d_name, convs[c].name);
      want = test_read_file(path, &wn);
      if (want == NULL)
        continue;
      got = render(src, len, convs[c].msgs, convs[c].n, &gn, &err);
      CHECK(got != NULL, "%s: %s", path, err.msg);
      if (got != NULL) {
        /* Ollama's own test drops one trailing space for these templates */
        if (trim && gn > 0 && got[gn - 1] == ' ')
          gn--;
        if (gn != wn || memcmp(got, want, wn) != 0) {
          CHECK(0, "%s: rendering differs", path);
          show_diff(want, wn, got, gn);
        }
        checked++;
      }
      free(got);
      free(want);
    }
    free(src);
  }
  closedir(d);
  return checked;
}


/* Splits "=== head\nbody\n=== head2\n..." into records the way gen.go does:
   the newline before each "=== " belongs to the separator. Returns the count;
   heads and bodies point into text (NUL-terminated in place). */
static size_t split_records(char *text, size_t len, char **heads, char **bodies,
                            size_t *blens, size_t max) {
  size_t n = 0;
  char *p = text, *end = text + len;
  if (len >= 4 && strncmp(p, "=== ", 4) == 0)
    p += 4;
  else
    return 0;
  while (p < end && n < max) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *next = NULL, *q;
    heads[n] = p;
    if (nl == NULL) {
      bodies[n] = end;
      blens[n] = 0;
      n++;
      break;
    }
    *nl = '\0';
    bodies[n] = nl + 1;
    for (q = nl + 1; q + 4 <= end; q++)
      if ((q == nl + 1 || q[-1] == '\n') && strncmp(q, "=== ", 4) == 0) {
        next = q;
        break;
      }
    if (next == NULL) {
      blens[n] = (size_t)(end - bodies[n]);
      if (blens[n] > 0 && bodies[n][blens[n] - 1] == '\n')
        blens[n]--;
      n++;
      break;
    }
    if (next == bodies[n]) {
      blens[n] = 0;          /* "=== name ERROR" has no body */
    } else {
      blens[n] = (size_t)(next - 1 - bodies[n]);
      next[-1] = '\0';
    }
    n++;
    p = next + 4;
  }
  return n;
}


/* The language cases: each template of cases.txt rendered with its
   conversation must give what Go's text/template gave (expected.txt), and
   fail where Go failed. */
static int run_lang_cases(void) {
  enum { MAXC = 256 };
  static char *ch[MAXC], *cb[MAXC], *eh[MAXC], *eb[MAXC];
  static size_t cl[MAXC], el[MAXC];
  size_t cn, en, i, j, clen, elen;
  char *cases = test_read_file(TYCHO_SOURCE_DIR "/tests/fixtures/templates-ollama/lang/cases.txt", &clen);
  char *exp = test_read_file(TYCHO_SOURCE_DIR "/tests/fixtures/templates-ollama/lang/expected.txt", &elen);
  int checked = 0;
  CHECK(cases && exp, "missing lang/cases.txt or expected.txt");
  if (!cases || !exp) {
    free(cases);
    free(exp);
    return 0;
  }
  cn = split_records(cases, clen, ch, cb, cl, MAXC);
  en = split_records(exp, elen, eh, eb, el, MAXC);
  CHECK(cn == en && cn > 40, "lang: %zu cases but %zu expected", cn, en);
  for (i = 0; i < cn && i < en; i++) {
    char name[128], conv[64] = "system-user-assistant-user";
    const struct ty_chat_msg *m = conv_suau;
    size_t n = 4, gn;
    int want_err = strstr(eh[i], " ERROR") != NULL;
    char *got;
    ty_err err;
    if (sscanf(ch[i], "%127s %63s", name, conv) < 1)
      continue;
    CHECK(strncmp(eh[i], name, strlen(name)) == 0, "lang: case %s vs expected %s", name, eh[i]);
    for (j = 0; j < sizeof convs / sizeof convs[0]; j++)
      if (strcmp(convs[j].name, conv) == 0) {
        m = convs[j].msgs;
        n = convs[j].n;
      }
    got = render(cb[i], cl[i], m, n, &gn, &err);
    if (want_err) {
      CHECK(got == NULL, "lang %s: Go fails but tycho rendered \"%s\"", name, got ? got : "");
      if (got == NULL)
        CHECK(strncmp(err.msg, "template", 8) == 0 && strchr(err.msg, '\n') == NULL,
              "lang %s: bad error text \"%s\"", name, err.msg);
    } else {
      CHECK(got != NULL, "lang %s: %s", name, err.msg);
      if (got != NULL && (gn != el[i] || memcmp(got, eb[i], gn) != 0)) {
        CHECK(0, "lang %s: differs from Go", name);
        show_diff(eb[i], el[i], got, gn);
      }
    }
    free(got);
    checked++;
  }
  free(cases);
  free(exp);
  return checked;
}


/* Errors are one line with the position of the offending token. */
static void test_errors(void) {
  static const struct { const char *src, *want; } cases[] = {
    { "ab\n  {{ foo }}", "template:2:6: function \"foo\" not defined" },
    { "{{ $x }}", "template:1:4: undefined variable \"$x\"" },
    { "x\n{{ if .A }}", "has no {{end}}" },
    { "{{ .A", "unclosed action" },
    { "{{ end }}", "unexpected {{end}}" },
    { "{{ \"a }}", "template:1:4: unterminated quoted string" },
    { "{{ 1.5 }}", "floating-point" },
    { "{{ define \"x\" }}{{ end }}", "not supported" },
    { "{{ range $i, $v, $w := .A }}{{ end }}", "too many declarations" },
    { "{{/* x */ }}", "comment ends before closing delimiter" },
    { "{{ .A | 3 }}", "non executable command" },
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ty_tmpl *t = NULL;
    ty_err err;
    ty_status st = ty_tmpl_parse(cases[i].src, strlen(cases[i].src), &t, &err);
    CHECK(st == TY_ERR_FORMAT && t == NULL, "parse of \"%s\" should fail", cases[i].src);
    CHECK(strstr(err.msg, cases[i].want) != NULL, "error for \"%s\": got \"%s\", want \"%s\"",
          cases[i].src, err.msg, cases[i].want);
    ty_tmpl_free(t);
  }
  {
    /* run-time errors carry the position too */
    ty_err err;
    size_t n;
    const char *src = "{{ range .Messages }}\n  {{ index .Content 99 }}{{ end }}";
    char *out = render(src, strlen(src), conv_user, 1, &n, &err);
    CHECK(out == NULL && strstr(err.msg, "template:2:6:") && strstr(err.msg, "index out of range"),
          "runtime error: \"%s\"", err.msg);
    free(out);
  }
}


/* Hostile templates end with an error instead of running away. */
static void test_limits(void) {
  ty_err err;
  size_t n, i;
  char *out, *src;
  /* 4 messages nested 12 deep is 4^12 = 16M iterations: stopped by steps */
  const char *deep = "{{ range .Messages }}{{ range $.Messages }}{{ range $.Messages }}"
                     "{{ range $.Messages }}{{ range $.Messages }}{{ range $.Messages }}"
                     "{{ range $.Messages }}{{ range $.Messages }}{{ range $.Messages }}"
                     "{{ range $.Messages }}{{ range $.Messages }}{{ range $.Messages }}x"
                     "{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}"
                     "{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}";
  out = render(deep, strlen(deep), conv_suau, 4, &n, &err);
  CHECK(out == NULL && strstr(err.msg, "steps"), "deep ranges: \"%s\"", err.msg);
  free(out);
  /* doubling a string each step is stopped by the size limit */
  {
    const char *dbl = "{{ $s := \"0123456789abcdef\" }}{{ range .Messages }}{{ range $.Messages }}"
                      "{{ range $.Messages }}{{ $s = printf \"%s%s\" $s $s }}{{ end }}{{ end }}"
                      "{{ end }}{{ len $s }}";
    out = render(dbl, strlen(dbl), conv_suau, 4, &n, &err);
    CHECK(out == NULL && (strstr(err.msg, "exceeds") || strstr(err.msg, "memory")),
          "doubling: \"%s\"", err.msg);
    free(out);
  }
  /* nesting deeper than the limit is a parse error, not a stack overflow */
  src = malloc(100000);
  n = (size_t)sprintf(src, "{{ ");
  for (i = 0; i < 5000; i++)
    n += (size_t)sprintf(src + n, "(");
  out = render(src, n, conv_user, 1, &n, &err);
  CHECK(out == NULL && strstr(err.msg, "nested"), "deep parentheses: \"%s\"", err.msg);
  free(out);
  for (i = 0, n = 0; i < 5000; i++)
    n += (size_t)sprintf(src + n, "{{ if 1 }}");
  out = render(src, n, conv_user, 1, &n, &err);
  CHECK(out == NULL && strstr(err.msg, "nested"), "deep ifs: \"%s\"", err.msg);
  free(out);
  free(src);
}


/* tycho-specific choices: fields it does not have are empty, and an empty
   conversation renders. */
static void test_misc(void) {
  ty_err err;
  size_t n;
  char *out;
  const char *src = "[{{ .Tools }}{{ .Think }}{{ range .Messages }}{{ .ToolCalls }}{{ .Images }}{{ end }}]";
  out = render(src, strlen(src), conv_uau, 3, &n, &err);
  CHECK(out && strcmp(out, "[]") == 0, "missing fields: \"%s\" %s", out ? out : "", err.msg);
  free(out);
  src = "{{ range .Messages }}x{{ else }}none{{ end }}";
  out = render(src, strlen(src), NULL, 0, &n, &err);
  CHECK(out && strcmp(out, "none") == 0 && n == 4, "empty chat: \"%s\"", out ? out : err.msg);
  free(out);
  out = render("", 0, conv_user, 1, &n, &err);
  CHECK(out && n == 0, "empty template");
  free(out);
  ty_tmpl_free(NULL);
}


/* ---- Jinja family detection (chat.c) ---- */

/* Each tests/fixtures/jinja/NAME.jinja is detected, and its family's Ollama
   template renders the conversations exactly as jinja2 rendered the Jinja
   source (NAME.<conversation> files from scripts/gen_jinja_fixtures.py). */
static int run_jinja_dir(void) {
  const char *dir = TYCHO_SOURCE_DIR "/tests/fixtures/jinja";
  DIR *d = opendir(dir);
  struct dirent *e;
  int checked = 0;
  CHECK(d != NULL, "cannot open %s", dir);
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    char path[1024], base[256], want_family[64] = "", differs[64] = "";
    char *src, *fam;
    size_t len = 0, c, bl;
    struct ty_chat_format f;
    ty_err err;
    bl = strlen(e->d_name);
    if (bl < 7 || strcmp(e->d_name + bl - 6, ".jinja") != 0 || bl - 6 >= sizeof base)
      continue;
    memcpy(base, e->d_name, bl - 6);
    base[bl - 6] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    src = test_read_file(path, &len);
    snprintf(path, sizeof path, "%s/%s.family", dir, base);
    fam = test_read_file(path, NULL);
    if (fam) {
      sscanf(fam, "%63s %63s", want_family, differs);
      free(fam);
    }
    memset(&f, 0, sizeof f);
    if (ty_chat_format_detect(src, len, NULL, &f, &err) != TY_OK) {
      CHECK(strcmp(want_family, "unrecognised") == 0, "%s: not recognised: %s", base, err.msg);
      free(src);
      continue;
    }
    CHECK(strcmp(f.family, want_family) == 0, "%s: family %s, want %s", base, f.family, want_family);
    for (c = 0; c < 3; c++) {
      char *want, *got = NULL;
      size_t wn, gn;
      snprintf(path, sizeof path, "%s/%s.%s", dir, base, convs[c].name);
      want = test_read_file(path, &wn);
      if (want == NULL)
        continue;    /* the Jinja template refuses this conversation */
      if (ty_chat_format_render(&f, convs[c].msgs, convs[c].n, &got, &gn, &err) != TY_OK)
        CHECK(0, "%s: render: %s", path, err.msg);
      else if (strcmp(differs, "differs") == 0 && strcmp(f.family, "gemma3") == 0) {
        /* the one difference: Ollama's extra newline after the last turn */
        CHECK(gn == wn + 1 && got[wn] == '\n' && memcmp(got, want, wn) == 0,
              "%s: gemma3 should differ only by a final newline", path);
      } else if (strcmp(differs, "differs") == 0) {
        /* a documented difference between Ollama's template and the Jinja
           one (see the .family file); the rendering must still work */
        printf("note: %s: Ollama's %s template differs from the Jinja one, as documented\n",
               base, f.family);
      } else if (gn != wn || memcmp(got, want, wn) != 0) {
        CHECK(0, "%s: Ollama template (%s) differs from jinja2", path, f.family);
        show_diff(want, wn, got, gn);
      }
      checked++;
      free(got);
      free(want);
    }
    ty_chat_format_clear(&f);
    free(src);
  }
  closedir(d);
  return checked;
}


static void test_detect_misc(void) {
  static const struct { const char *jinja, *family, *system; } cases[] = {
    /* SmolLM2's own template (the real GGUF's) adds this system turn */
    { "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
      "chatml", "You are a helpful AI assistant named SmolLM, trained by Hugging Face" },
    { "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>'}}", "chatml", NULL },
    { "{% set system_message = 'Be brief.' %}{{ '<|im_start|>system\\n' + system_message }}",
      "chatml", "Be brief." },
    { "{{'<\xef\xbd\x9cUser\xef\xbd\x9c>' + message['content']}}{{'<\xef\xbd\x9c"
      "Assistant\xef\xbd\x9c>'}}", "deepseek", NULL },
    { "{{ 'USER: ' + m }}{{ 'ASSISTANT: ' }}", "vicuna", NULL },
    { "{{ '<|im_start|>' }}{{ '<|im_sep|>' }}", NULL, NULL },
  };
  struct ty_chat_format f;
  ty_err err;
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ty_status st = ty_chat_format_detect(cases[i].jinja, strlen(cases[i].jinja), "llama", &f, &err);
    if (cases[i].family == NULL) {
      CHECK(st == TY_ERR_UNSUPPORTED, "detect case %zu should be unrecognised", i);
      continue;
    }
    CHECK(st == TY_OK && strcmp(f.family, cases[i].family) == 0, "detect case %zu: %s", i,
          st == TY_OK ? f.family : err.msg);
    if (cases[i].system)
      CHECK(f.default_system && strcmp(f.default_system, cases[i].system) == 0,
            "detect case %zu: default system \"%s\"", i, f.default_system ? f.default_system : "(none)");
    else
      CHECK(f.default_system == NULL, "detect case %zu: unexpected default system", i);
    ty_chat_format_clear(&f);
  }
  memset(&f, 0, sizeof f);
  /* no chat_template: the architecture decides (gemma3.gguf has none) */
  CHECK(ty_chat_format_detect(NULL, 0, "gemma3", &f, &err) == TY_OK && strcmp(f.family, "gemma3") == 0,
        "arch gemma3: %s", err.msg);
  CHECK(f.stops && f.stops[0] && strcmp(f.stops[0], "<end_of_turn>") == 0, "gemma3 stops");
  ty_chat_format_clear(&f);
  CHECK(ty_chat_format_detect(NULL, 0, "llama", &f, &err) == TY_ERR_UNSUPPORTED,
        "plain llama arch is ambiguous");
  CHECK(ty_chat_format_detect("{{ messages }}", 14, "nonesuch", &f, &err) == TY_ERR_UNSUPPORTED &&
        strstr(err.msg, "unrecognised"), "unknown: \"%s\"", err.msg);
  ty_chat_format_clear(&f);
  ty_chat_format_clear(&f);
}


/* The real test models: SmolLM2's GGUF carries its Jinja template (chatml
   with a default system message); gemma3.gguf carries none, so its
   architecture decides. Their renderings must equal jinja2's rendering of
   that template and Ollama's gemma3-instruct vector. Absent models skip
   this part (fail under TYCHO_REQUIRE_MODELS=1). */
static void test_real_models(void) {
  static const struct { const char *file, *family, *want; } models[] = {
    { "smollm2.gguf", "chatml", TYCHO_SOURCE_DIR "/tests/fixtures/jinja/smollm2.user" },
    { "gemma3.gguf", "gemma3", TYCHO_SOURCE_DIR "/tests/fixtures/templates/gemma3-instruct.gotmpl/user" },
  };
  size_t i;
  for (i = 0; i < sizeof models / sizeof models[0]; i++) {
    char path[1024], arch[64] = "";
    ty_gguf *g = NULL;
    ty_err err;
    struct ty_gguf_str js = { 0, NULL }, as = { 0, NULL };
    struct ty_chat_format f;
    char *want, *got = NULL;
    size_t wn, gn;
    if (test_model_path(models[i].file, path, sizeof path) == NULL) {
      CHECK(!test_models_required(), "%s: model required but absent", models[i].file);
      printf("note: %s absent, real-model check skipped\n", models[i].file);
      continue;
    }
    if (ty_gguf_open(path, &g, &err) != TY_OK) {
      CHECK(0, "%s: %s", path, err.msg);
      continue;
    }
    ty_gguf_get_str(g, "tokenizer.chat_template", &js);
    if (ty_gguf_get_str(g, "general.architecture", &as) && as.len < sizeof arch) {
      memcpy(arch, as.ptr, as.len);
      arch[as.len] = '\0';
    }
    if (ty_chat_format_detect(js.ptr, js.len, arch, &f, &err) != TY_OK) {
      CHECK(0, "%s: %s", models[i].file, err.msg);
      ty_gguf_close(g);
      continue;
    }
    CHECK(strcmp(f.family, models[i].family) == 0, "%s: family %s", models[i].file, f.family);
    want = test_read_file(models[i].want, &wn);
    CHECK(want != NULL, "missing %s", models[i].want);
    if (want && ty_chat_format_render(&f, conv_user, 1, &got, &gn, &err) == TY_OK) {
      CHECK(gn == wn && memcmp(got, want, wn) == 0, "%s: rendering differs", models[i].file);
    } else if (want) {
      CHECK(0, "%s: %s", models[i].file, err.msg);
    }
    free(got);
    free(want);
    ty_chat_format_clear(&f);
    ty_gguf_close(g);
  }
}


int main(void) {
  int n1, n2, n3, n4;
  n1 = run_fixture_dir(TYCHO_SOURCE_DIR "/tests/fixtures/templates");
  CHECK(n1 == 15, "tests/fixtures/templates: %d vectors checked, want 15", n1);
  n2 = run_fixture_dir(TYCHO_SOURCE_DIR "/tests/fixtures/templates-ollama");
  CHECK(n2 >= 60, "templates-ollama: only %d vectors checked", n2);
  n3 = run_lang_cases();
  test_errors();
  test_limits();
  test_misc();
  n4 = run_jinja_dir();
  CHECK(n4 >= 15, "jinja: only %d vectors checked", n4);
  test_detect_misc();
  test_real_models();
  printf("template: %d fixture + %d ollama + %d language + %d jinja vectors, %d failures\n",
         n1, n2, n3, n4, failures);
  return failures ? 1 : 0;
}
