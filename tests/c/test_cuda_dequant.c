/*
 * test_cuda_dequant.c: the CUDA kernels' format readers (kernels/dequant.h),
 * compiled for the host, against tycho's scalar dequantizers. For every
 * weight type, rows of random blocks (random bytes, finite f16 scales) are
 * read chunk by chunk and must equal ty_qtype_get_ref(type)->to_float bit
 * for bit. The kernels call the same functions, so this is the proof that
 * the GPU reads the formats right; runs without a GPU.
 */
/* The reference kernels round every product separately (quants.c); so must
   the host copy of the readers, whatever -march says. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"
#include "../../kernels/dequant.h"
#include "check.h"


static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rnd_u32(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}


/* A weight type and the byte offsets of the f16 scale fields in its block. */
struct wtype {
  int type;
  int n_scales;
  int scales[2];
};

static const struct wtype types[] = {
  { TY_QTYPE_F32, 0, { 0 } },
  { TY_QTYPE_F16, 0, { 0 } },          /* every element is random: NaN and inf too */
  { TY_QTYPE_BF16, 0, { 0 } },
  { TY_QTYPE_Q4_0, 1, { 0 } },
  { TY_QTYPE_Q4_1, 2, { 0, 2 } },
  { TY_QTYPE_Q5_0, 1, { 0 } },
  { TY_QTYPE_Q5_1, 2, { 0, 2 } },
  { TY_QTYPE_Q8_0, 1, { 0 } },
  { TY_QTYPE_Q2_K, 2, { 80, 82 } },
  { TY_QTYPE_Q3_K, 1, { 108 } },
  { TY_QTYPE_Q4_K, 2, { 0, 2 } },
  { TY_QTYPE_Q5_K, 2, { 0, 2 } },
  { TY_QTYPE_Q6_K, 1, { 208 } },
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))


/* Fills a row of random blocks whose f16 scales are finite (any exponent
   below 31: subnormals and zero included). */
static void random_row(const struct wtype *wt, uint8_t *row, size_t bytes) {
  const struct ty_qtype_traits *tr = ty_qtype_get_ref(wt->type);
  for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)rnd_u32();
  for (size_t b = 0; b + tr->type_size <= bytes; b += tr->type_size)
    for (int s = 0; s < wt->n_scales; s++) {
      uint8_t *hi = row + b + wt->scales[s] + 1;     /* little-endian: exponent in byte 1 */
      if ((*hi & 0x7C) == 0x7C) *hi &= (uint8_t)~0x40;
    }
}


static void check_type(const struct wtype *wt) {
  const struct ty_qtype_traits *tr = ty_qtype_get_ref(wt->type);
  const int64_t cols = 1024;              /* 4 super-blocks, 32 blocks */
  const size_t bytes = ty_qtype_row_size(wt->type, cols);
  /* the row starts 2 bytes into the buffer, as a GGUF q4_0 row may */
  uint8_t *buf = malloc(bytes + 2);
  float *want = malloc((size_t)cols * sizeof(float)), *got = malloc((size_t)cols * sizeof(float));
  CHECK(buf != NULL && want != NULL && got != NULL, "out of memory");
  if (buf == NULL || want == NULL || got == NULL) goto done;

  CHECK(tyk_blck(wt->type) == tr->blck_size, "%s: block size %d, want %d", tr->name,
        tyk_blck(wt->type), tr->blck_size);
  CHECK((size_t)tyk_type_size(wt->type) == tr->type_size, "%s: block bytes %d, want %zu",
        tr->name, tyk_type_size(wt->type), tr->type_size);
  /* the device loads assume every block is as aligned as the row start */
  CHECK(tyk_block_bytes(wt->type) % tyk_align(wt->type) == 0,
        "%s: alignment %d does not divide the block", tr->name, tyk_align(wt->type));

  for (int rep = 0; rep < 64; rep++) {
    uint8_t *row = buf + 2;
    random_row(wt, row, bytes);
    tr->to_float(row, want, cols);
    for (int64_t c = 0; c < cols / 8; c++) tyk_dq_chunk(wt->type, row, c, got + 8 * c);
    if (memcmp(want, got, (size_t)cols * sizeof(float)) != 0) {
      int64_t i = 0;
      while (memcmp(&want[i], &got[i], sizeof(float)) == 0) i++;
      CHECK(0, "%s: element %lld (block %lld, chunk %lld) is %.9g, want %.9g", tr->name,
            (long long)i, (long long)(i / tr->blck_size), (long long)(i / 8), got[i], want[i]);
      break;
    }
  }
done:
  free(buf);
  free(want);
  free(got);
}


int main(void) {
  float v[8];
  uint8_t zeros[64] = { 0 };
  for (int i = 0; i < N_TYPES; i++) check_type(&types[i]);
  /* q8_1 and q8_K are activation formats: not weights, no reader */
  CHECK(tyk_blck(TY_QTYPE_Q8_1) == 0 && tyk_blck(TY_QTYPE_Q8_K) == 0, "activation types read");
  v[0] = 1.0f;
  tyk_dq_chunk(TY_QTYPE_Q8_K, zeros, 0, v);
  CHECK(v[0] == 0.0f, "unknown type gives %g, want 0", v[0]);
  if (failures) {
    printf("%d failures\n", failures);
    return 1;
  }
  printf("ok: %d weight types read bit-exactly\n", N_TYPES);
  return 0;
}
