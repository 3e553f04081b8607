/*
 * tensor.h: element types and quantized block formats.
 * Type ids are GGML's, so a GGUF tensor's type field indexes this table
 * directly. Each type knows how to turn rows into floats, (for some) floats
 * into rows, and how to dot one of its rows with a row of its activation
 * format (vec_dot_type), the same pairing llama.cpp uses so logits match.
 */
#ifndef TY_TENSOR_H
#define TY_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ty_qtype {
  TY_QTYPE_F32 = 0,
  TY_QTYPE_F16 = 1,
  TY_QTYPE_Q4_0 = 2,
  TY_QTYPE_Q4_1 = 3,
  TY_QTYPE_Q5_0 = 6,
  TY_QTYPE_Q5_1 = 7,
  TY_QTYPE_Q8_0 = 8,
  TY_QTYPE_Q8_1 = 9,
  TY_QTYPE_Q2_K = 10,
  TY_QTYPE_Q3_K = 11,
  TY_QTYPE_Q4_K = 12,
  TY_QTYPE_Q5_K = 13,
  TY_QTYPE_Q6_K = 14,
  TY_QTYPE_Q8_K = 15,
  TY_QTYPE_BF16 = 30,
  TY_QTYPE_COUNT = 31
};

/* Converts n values (n a multiple of blck_size) of a row. */
typedef void (*ty_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*ty_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(x, y) over n elements; x is of this type, y of its vec_dot_type. */
typedef void (*ty_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* s[r] = dot(row r of x, y) for TY_DOT_ROWS rows of x, bx bytes apart: the
   same arithmetic as vec_dot row by row, so the same floats, but the rows
   share each activation block and keep independent sums in flight. */
#define TY_DOT_ROWS 4
typedef void (*ty_vec_dot_rows_fn)(int n, float *s, const void *x, size_t bx, const void *y);

/* The batch product of q4_0, q5_0 and q8_0 (gemm.c): weight rows converted
   once to an "i8 form" (signed bytes, a float scale per 4 elements), the q8_0
   activations to unsigned bytes with their scales, then
   out[t * out_stride + r] = dot(row r, token t) for nr rows and nt tokens.
   n must be a multiple of TY_I8_GROUP. to_i8 fills w[n] and sc[n/4]
   (element = w * sc). */
#define TY_I8_GROUP 64
typedef void (*ty_to_i8_fn)(const void *x, int8_t *w, float *sc, int64_t n);
typedef void (*ty_gemm_i8_fn)(int64_t n, int nr, int nt, const void *w, size_t w_stride,
                              const void *y, size_t y_stride, float *out, size_t out_stride);

/* Rows repacked in groups of 16 (repack.c): a group takes the bytes of its
   16 rows, block by block: the 16 rows' scales side by side, then their
   quants lane by lane (llama.cpp's x86 dots sum 4 byte products per lane, 8
   lanes a block), so that one 512-bit register holds lane k of all 16 rows
   and a kernel multiplies 16 rows at once, reading the group front to back.
   dot_x16 computes
     s[t * ss + 16 * g + r] = dot(row r of group g, token t)
   for the ng groups from x on (each TY_X16 rows' bytes after the last),
   r < 16 and t < nt, each the same float as vec_dot of that row and token.
   Token t's activations at y + t * ys are a row of the vec_dot type (q8_0 or
   q8_1) followed by what ty_x16_act derives from it (ty_x16_act_size).
   `after`, if not NULL, is where the caller's reads go on next (a group of
   rows of the same length): a kernel may ask for its bytes while it works
   on the last group, as it asks for each next group of its own. A hint
   only, never read. */
#define TY_X16 16
typedef void (*ty_dot_x16_fn)(int n, int ng, int nt, const void *x, const void *y, size_t ys,
                              float *s, size_t ss, const void *after);
/* Appends the derived blocks (below) to a row of n elements of the type. */
typedef void (*ty_x16_act_fn)(void *row, int64_t n);

/* Per block of an activation row, what every group's product would
   otherwise derive anew: the scale (and for q8_1 the scaled sum) as floats,
   and minus 16 and minus 128 times the sum of each lane's 4 quants, the
   start of a lane's sum over weights stored 16 or 128 above their value
   (q5_0, q8_0). */
typedef struct { float d, s; int32_t m16[8], m128[8]; } ty_x16_act_block;

/* Where the derived blocks start in an activation row of row_size bytes,
   and the bytes of the whole row of n elements in vec_dot type vt. */
static inline size_t ty_x16_act_offset(size_t row_size) { return (row_size + 63) & ~(size_t)63; }
size_t ty_x16_act_size(int vt, int64_t n);
/* Appends the derived blocks to the q8_0 or q8_1 row of n elements at row. */
void ty_x16_act(int vt, void *row, int64_t n);
/* Converts the 16 rows of the group at x to the i8 form (gemm.c), row r at
   out + r * w_stride. */
typedef void (*ty_x16_i8_fn)(const void *x, void *out, size_t w_stride, int64_t n);

/* The K formats' batch product by sub-blocks (gemm_sb.c): a tile of 16
   rows converted once (sb_tile: nr <= 16 rows row_size apart, the rest
   zero), then every token of a batch against it (gemm_sb: out[t * os + r]
   for r < nr, t < nt; y: q8_K rows ys bytes apart; ya: their ty_sb_act
   sums, yas floats apart). */
#define TY_SB_ROWS 16
typedef void (*ty_sb_tile_fn)(const void *x, size_t row_size, int nr, void *out, int64_t n);
typedef void (*ty_gemm_sb_fn)(int64_t n, int nr, int nt, const void *tile, const void *y,
                              size_t ys, const float *ya, size_t yas, float *out, size_t os);
/* Elements per scale of type's sb form (32 or 16), or 0 if it has none. */
int ty_sb_unit(int type);
/* Bytes of a tile of 16 rows of n elements (0 if the type has no sb form or
   n is not whole 256-blocks), and floats of ty_sb_act's sums. */
size_t ty_sb_tile_size(int type, int64_t n);
static inline size_t ty_sb_act_count(int unit, int64_t n) { return (size_t)(n / unit); }
/* Where a tile's scales (sw) and mins (mw) start, after its n * 16 quants;
   like strchr, the pointer keeps whatever constness the caller gives it. */
static inline float *ty_sb_scales(const void *tile, int64_t n) {
  return (float *)((char *)tile + (size_t)n * TY_SB_ROWS);
}
static inline float *ty_sb_mins(const void *tile, int64_t n, int unit) {
  return ty_sb_scales(tile, n) + (size_t)(n / unit) * TY_SB_ROWS;
}
/* The sums of a q8_K row's quants over each sub-block of unit elements. */
void ty_sb_act(int unit, const void *yq, float *out, int64_t n);
/* The portable conversion and product, the references the SIMD ones are
   tested against. */
void ty_sb_tile_ref(int type, const void *x, size_t row_size, int nr, void *out, int64_t n);
void ty_gemm_sb_ref(int64_t n, int unit, int nr, int nt, const void *tile, const void *y,
                    size_t ys, const float *ya, size_t yas, float *out, size_t os);

struct ty_qtype_traits {
  const char *name;              /* "q4_K", as GGML spells it */
  int blck_size;                 /* elements per block */
  size_t type_size;              /* bytes per block */
  enum ty_qtype vec_dot_type;    /* activation format for vec_dot */
  ty_to_float_fn to_float;       /* never NULL for a known type */
  ty_from_float_fn from_float;   /* NULL where tycho cannot quantize */
  ty_vec_dot_fn vec_dot;         /* NULL for activation-only types */
  ty_vec_dot_rows_fn vec_dot_rows;  /* optional: TY_DOT_ROWS rows at once */
  ty_to_i8_fn to_i8;             /* optional: the batch product's weight form */
  ty_gemm_i8_fn gemm_i8;         /* the batch product where it beats vec_dot, else NULL */
  ty_dot_x16_fn dot_x16;         /* optional: the product over rows repacked in 16s */
  ty_x16_i8_fn x16_to_i8;        /* optional: repacked rows straight to the i8 form */
  ty_x16_act_fn x16_act;         /* optional (q8_0, q8_1): ty_x16_act's blocks, in SIMD */
  ty_sb_tile_fn sb_tile;         /* optional, with gemm_sb: the K formats' batch product */
  ty_gemm_sb_fn gemm_sb;
};

/* Repacks the 16 rows of n elements at src (row_size bytes apart) into one
   group at dst (16 * row_size bytes); false if type has no 16-row layout. */
bool ty_x16_pack(int type, const void *src, size_t row_size, void *dst, int64_t n);
/* Row r (0..15) of the group at x, as floats: to_float of the row it was. */
void ty_x16_to_float(int type, const void *x, int r, float *y, int64_t n);

/* Bytes of one row of n elements in the i8 form, and of one activation row. */
size_t ty_i8_weight_size(int64_t n);
size_t ty_i8_act_size(int64_t n);
/* Converts weight row x with to_i8 into out (ty_i8_weight_size bytes). */
void ty_i8_weight(ty_to_i8_fn to_i8, const void *x, void *out, int64_t n);
/* Converts one q8_0 activation row into out. */
void ty_i8_act(const void *yq, void *out, int64_t n);
/* The portable product, the reference the SIMD ones are tested against. */
void ty_gemm_i8_ref(int64_t n, int nr, int nt, const void *w, size_t w_stride, const void *y,
                    size_t y_stride, float *out, size_t out_stride);

/* Traits of a type id, or NULL if the id is not a type tycho knows.
   The table's function pointers are the fastest kernels for this CPU,
   chosen once at first call (thread-safe). */
const struct ty_qtype_traits *ty_qtype_get(int type);

/* Same, but always the portable scalar kernels (the reference for tests). */
const struct ty_qtype_traits *ty_qtype_get_ref(int type);

/* Bytes for n elements of type (n must be a multiple of the block size);
   0 if the type is unknown or n is not a whole number of blocks. */
size_t ty_qtype_row_size(int type, int64_t n);

/* Name of the SIMD level picked at run time ("avx512", "avx2", "scalar"). */
const char *ty_qtype_simd(void);

/* Half and bfloat16 conversion. */
float ty_fp16_to_fp32(uint16_t h);
uint16_t ty_fp32_to_fp16(float f);
float ty_bf16_to_fp32(uint16_t h);
uint16_t ty_fp32_to_bf16(float f);   /* round to nearest even, as GGML */

#endif
