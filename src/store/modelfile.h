/*
 * modelfile.h: Ollama's Modelfile. Parsing follows Ollama's parser/parser.go
 * rune by rune (instructions in any case, # comments, plain, "quoted" and
 * """multi-line""" values, UTF-8 or UTF-16 with a BOM); values are then
 * checked the way `ollama create` checks them (api.FormatParams, semver for
 * REQUIRES), with the line number. Writing follows Ollama's File.String().
 * The params and messages JSON are the layers `tycho create` stores.
 */
#ifndef TY_MODELFILE_H
#define TY_MODELFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* One instruction, as Ollama's parser.Command holds it. */
struct ty_mf_cmd {
  char *name;   /* "model" (FROM), "adapter", "license", "template", "system", "message",
                   "requires", "draft", "renderer", "parser", or a PARAMETER's name */
  char *args;   /* the value; a MESSAGE's is "role: content" */
  size_t line;  /* the line the instruction starts on; 0 when added in code */
};

/* A Modelfile: its commands in order (Ollama's parser.Modelfile). */
typedef struct ty_modelfile {
  struct ty_mf_cmd *cmds;
  size_t n, cap;
} ty_modelfile;

/* PARAMETER value types: Ollama's api.Options fields, tycho's own strings,
   and the parameters Ollama still parses but ignores (deprecated). */
enum ty_mf_type {
  TY_MF_INT, TY_MF_FLOAT, TY_MF_BOOL, TY_MF_STOP, TY_MF_STRING, TY_MF_DEPRECATED
};

/* An empty Modelfile (NULL when out of memory); free with ty_modelfile_free,
   which accepts NULL. */
ty_modelfile *ty_modelfile_new(void);
void ty_modelfile_free(ty_modelfile *mf);

/* Parses text (len bytes, any bytes) as Ollama's ParseFile does: syntax,
   message roles and a FROM line, no value checks. name labels errors
   ("Modelfile" when NULL): "Modelfile:3: unknown instruction 'BADCOMMAND'".
   On success *out is the caller's. */
ty_status ty_modelfile_parse_raw(const char *text, size_t len, const char *name,
                                 ty_modelfile **out, ty_err *err);

/* Checks every command as `ollama create` would: known instructions and
   parameters, typed values (num_ctx an integer, temperature a float32, ...),
   tycho's kv_type/devices/split, REQUIRES a version. Errors name the line. */
ty_status ty_modelfile_check(const ty_modelfile *mf, const char *name, ty_err *err);

/* ty_modelfile_parse_raw then ty_modelfile_check. */
ty_status ty_modelfile_parse(const char *text, size_t len, const char *name,
                             ty_modelfile **out, ty_err *err);

/* Reads and parses the file at path (errors are labelled with path). */
ty_status ty_modelfile_read(const char *path, ty_modelfile **out, ty_err *err);

/* Appends a command after the checks of ty_modelfile_check, and refuses a
   value no Modelfile text can hold (a NUL or control byte, invalid UTF-8,
   quotes that no quoting survives). name is a command name as in struct
   ty_mf_cmd; a MESSAGE's args are "role: content". Both strings are copied.
   Errors do not name a line: "unknown parameter 'num_cxt' (did you mean 'num_ctx'?)". */
ty_status ty_modelfile_add(ty_modelfile *mf, const char *name, const char *args, ty_err *err);

/* The Modelfile text, one command a line as Ollama's File.String() writes
   it (values quoted with " or """ when they need it). *out is malloc'ed and
   NUL-terminated, the caller's; *len excludes the NUL. */
ty_status ty_modelfile_write(const ty_modelfile *mf, char **out, size_t *len, ty_err *err);

/* Writes the text to path. */
ty_status ty_modelfile_save(const ty_modelfile *mf, const char *path, ty_err *err);

/* The args of the last command called name, or NULL. */
const char *ty_modelfile_get(const ty_modelfile *mf, const char *name);

/* The type of a PARAMETER name, or -1 when there is no such parameter;
   ty_modelfile_param_name(i) lists them in a fixed order (NULL past the end). */
int ty_modelfile_param_type(const char *name);
const char *ty_modelfile_param_name(size_t i);

/* PARAMETER values as Ollama reads them (strconv.ParseInt, ParseFloat with
   32 bits and finite, ParseBool); return false on a bad value. */
bool ty_modelfile_parse_int(const char *s, int64_t *v);
bool ty_modelfile_parse_float(const char *s, double *v);
bool ty_modelfile_parse_bool(const char *s, bool *v);

/* The params layer (application/vnd.ollama.image.params) as Ollama writes
   it: a JSON object of the parameters with typed values, keys sorted, stop
   an array in order, a repeated parameter's last value, the deprecated ones
   left out, a newline at the end. The messages layer
   (application/vnd.ollama.image.messages): [{"role":..,"content":..},..].
   *out is malloc'ed (the caller's), or NULL with *len 0 when there is no
   parameter / no message (Ollama then stores no such layer). Both assume a
   checked Modelfile. */
ty_status ty_modelfile_params_json(const ty_modelfile *mf, char **out, size_t *len, ty_err *err);
ty_status ty_modelfile_messages_json(const ty_modelfile *mf, char **out, size_t *len, ty_err *err);

#endif
