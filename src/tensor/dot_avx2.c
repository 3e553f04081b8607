/*
 * dot_avx2.c: AVX2 + FMA + F16C kernels (built with -mavx2 -mfma -mf16c and
 * reached only through ty_quants_fill_avx2 after a CPU check). Activation
 * quantizers give the same bytes as llama.cpp's x86 ones; dots follow llama.cpp's
 * AVX2 paths (ggml-cpu/arch/x86/quants.c) and agree with scalar to rounding.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>

#include "quants.h"
#include "simd_x86.h"
#include "dot_q32_x86.h"
#include "dot_ggml_x86.h"


/* ==== activation quantizers (bit-exact with ty_quant_q8_*_x86, q8_K with
   the reference) ==== */

static void quant_q8_0(const float *x, void *vy, int64_t n) {
  ty_block_q8_0 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++, x += TY_QK) {
    float d;
    __m256i q = ty_quant32_even(x, &d);
    y[i].d = (uint16_t)_cvtss_sh(d, 0);
    _mm256_storeu_si256((__m256i *)y[i].qs, q);
  }
}


static void quant_q8_1(const float *x, void *vy, int64_t n) {
  ty_block_q8_1 *y = vy;
  const int64_t nb = n / TY_QK;
  for (int64_t i = 0; i < nb; i++, x += TY_QK) {
    float d;
    __m256i q = ty_quant32_even(x, &d);
    y[i].d = (uint16_t)_cvtss_sh(d, 0);
    _mm256_storeu_si256((__m256i *)y[i].qs, q);
    const int sum = ty_hsum_i8_32(q);
    y[i].s = (uint16_t)_cvtss_sh((float)sum * d, 0);
  }
}


static void quant_q8_K(const float *x, void *vy, int64_t n) {
  ty_block_q8_K *y = vy;
  const int64_t nb = n / TY_QK_K;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < nb; i++, x += TY_QK_K) {
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < TY_QK_K; j += 8)
      vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    const float amax = ty_hmax_f32_8(vmax);
    if (!amax) {
      memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    /* the signed value of the first element with the largest magnitude */
    float max = 0;
    const __m256 va = _mm256_set1_ps(amax);
    for (int j = 0; j < TY_QK_K; j += 8) {
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
      if (m) { max = x[j + __builtin_ctz((unsigned)m)]; break; }
    }
    const float iscale = -127.f / max;
    const __m256 mul = _mm256_set1_ps(iscale);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    int16_t bsums[16];
    for (int j = 0; j < TY_QK_K; j += 32) {
      __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      i0 = _mm256_packs_epi32(i0, i1);
      i2 = _mm256_packs_epi32(i2, i3);
      __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
      q = _mm256_min_epi8(q, _mm256_set1_epi8(127));
      _mm256_storeu_si256((__m256i *)(y[i].qs + j), q);
      /* sums of 16: bias to unsigned, sum bytes in 8s, undo the bias */
      __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, bias), _mm256_setzero_si256());
      sad = _mm256_add_epi64(sad, _mm256_srli_si256(sad, 8));
      bsums[j / 16] = (int16_t)(_mm256_extract_epi32(sad, 0) - 16 * 128);
      bsums[j / 16 + 1] = (int16_t)(_mm256_extract_epi32(sad, 4) - 16 * 128);
    }
    memcpy(y[i].bsums, bsums, sizeof bsums);
    y[i].d = 1 / iscale;
  }
}


/* ==== K formats ========================================================= */

static void vec_dot_q2_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q2_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < nb; i++) {
    ty_prefetch_ahead(&x[i], sizeof *x);
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    const float dmin = -y[i].d * _cvtsh_ss(x[i].dmin);
    const uint8_t *q2 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    const __m128i mins_and_scales = _mm_loadu_si128((const __m128i *)x[i].scales);
    const __m128i scales8 = _mm_and_si128(mins_and_scales, m4);
    const __m128i mins8 = _mm_and_si128(_mm_srli_epi16(mins_and_scales, 4), m4);
    const __m256i mins = _mm256_cvtepi8_epi16(mins8);
    const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[i].bsums));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
    const __m256i all_scales = _mm256_cvtepi8_epi16(scales8);
    const __m128i l_scales = _mm256_extracti128_si256(all_scales, 0);
    const __m128i h_scales = _mm256_extracti128_si256(all_scales, 1);
    const __m256i scales[2] = { _mm256_set_m128i(l_scales, l_scales), _mm256_set_m128i(h_scales, h_scales) };
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < TY_QK_K / 128; j++) {
      const __m256i q2bits = _mm256_loadu_si256((const __m256i *)q2);
      q2 += 32;
      const __m256i q8_0 = _mm256_loadu_si256((const __m256i *)q8);
      const __m256i q8_1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
      const __m256i q8_2 = _mm256_loadu_si256((const __m256i *)(q8 + 64));
      const __m256i q8_3 = _mm256_loadu_si256((const __m256i *)(q8 + 96));
      q8 += 128;
      __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q2bits, m3), q8_0);
      __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q2bits, 2), m3), q8_1);
      __m256i p2 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q2bits, 4), m3), q8_2);
      __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q2bits, 6), m3), q8_3);
      p0 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], ty_scale_shuffle_q3k(0)), p0);
      p1 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], ty_scale_shuffle_q3k(1)), p1);
      p2 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], ty_scale_shuffle_q3k(2)), p2);
      p3 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], ty_scale_shuffle_q3k(3)), p3);
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = ty_hsum_f32_8(acc);
}


static void vec_dot_q3_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q3_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i mone = _mm256_set1_epi8(1);
  const __m128i m32 = _mm_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  uint32_t aux[3];
  for (int i = 0; i < nb; i++) {
    ty_prefetch_ahead(&x[i], sizeof *x);
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    const uint8_t *q3 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    memcpy(aux, x[i].scales, 12);
    __m128i scales128 = _mm_set_epi32(
        (int)(((aux[1] >> 4) & kmask2) | (((aux[2] >> 6) & kmask1) << 4)),
        (int)(((aux[0] >> 4) & kmask2) | (((aux[2] >> 4) & kmask1) << 4)),
        (int)((aux[1] & kmask2) | (((aux[2] >> 2) & kmask1) << 4)),
        (int)((aux[0] & kmask2) | (((aux[2] >> 0) & kmask1) << 4)));
    scales128 = _mm_sub_epi8(scales128, m32);
    const __m256i all_scales = _mm256_cvtepi8_epi16(scales128);
    const __m128i l_scales = _mm256_extracti128_si256(all_scales, 0);
    const __m128i h_scales = _mm256_extracti128_si256(all_scales, 1);
    const __m256i scales[2] = { _mm256_set_m128i(l_scales, l_scales), _mm256_set_m128i(h_scales, h_scales) };
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].hmask);
    __m256i sumi = _mm256_setzero_si256();
    int bit = 0;
    for (int j = 0; j < TY_QK_K / 128; j++) {
      const __m256i q3bits = _mm256_loadu_si256((const __m256i *)q3);
      q3 += 32;
      __m256i p[4];
      for (int k = 0; k < 4; k++) {
        /* low two bits, and 4 where the high bit is clear (to subtract) */
        const __m256i q3l = _mm256_and_si256(_mm256_srli_epi16(q3bits, 2 * k), m3);
        const __m256i q3h = _mm256_slli_epi16(_mm256_srli_epi16(_mm256_andnot_si256(hbits, _mm256_slli_epi16(mone, bit)), bit), 2);
        bit++;
        const __m256i q8v = _mm256_loadu_si256((const __m256i *)q8);
        q8 += 32;
        const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q3l, q8v), _mm256_maddubs_epi16(q3h, q8v));
        p[k] = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], ty_scale_shuffle_q3k(k)), p16);
      }
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = ty_hsum_f32_8(acc);
}


static void vec_dot_q4_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q4_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  uint32_t utmp[4];
  for (int i = 0; i < nb; i++) {
    ty_prefetch_ahead(&x[i], sizeof *x);
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    const float dmin = -y[i].d * _cvtsh_ss(x[i].dmin);
    ty_k4_unpack(x[i].scales, utmp);
    const uint8_t *q4 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
    const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < TY_QK_K / 64; j++) {
      const __m256i scale_l = _mm256_shuffle_epi8(scales, ty_scale_shuffle_k4(2 * j));
      const __m256i scale_h = _mm256_shuffle_epi8(scales, ty_scale_shuffle_k4(2 * j + 1));
      const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4);
      q4 += 32;
      const __m256i q4l = _mm256_and_si256(q4bits, m4);
      const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
      const __m256i q8l = _mm256_loadu_si256((const __m256i *)q8);
      const __m256i q8h = _mm256_loadu_si256((const __m256i *)(q8 + 32));
      q8 += 64;
      const __m256i p16l = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
      const __m256i p16h = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16l, p16h));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
  *s = ty_hsum_f32_8(acc) + _mm_cvtss_f32(acc_m);
}


static void vec_dot_q5_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q5_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i mone = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  uint32_t utmp[4];
  for (int i = 0; i < nb; i++) {
    ty_prefetch_ahead(&x[i], sizeof *x);
    const uint8_t *q5 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    const float dmin = -y[i].d * _cvtsh_ss(x[i].dmin);
    ty_k4_unpack(x[i].scales, utmp);
    const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
    const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].qh);
    __m256i hmask = mone;
    __m256i sumi = _mm256_setzero_si256();
    int bit = 0;
    for (int j = 0; j < TY_QK_K / 64; j++) {
      const __m256i scale_0 = _mm256_shuffle_epi8(scales, ty_scale_shuffle_k4(2 * j));
      const __m256i scale_1 = _mm256_shuffle_epi8(scales, ty_scale_shuffle_k4(2 * j + 1));
      const __m256i q5bits = _mm256_loadu_si256((const __m256i *)q5);
      q5 += 32;
      const __m256i q5l_0 = _mm256_and_si256(q5bits, m4);
      const __m256i q5h_0 = _mm256_slli_epi16(_mm256_srli_epi16(_mm256_and_si256(hbits, hmask), bit), 4);
      bit++;
      hmask = _mm256_slli_epi16(hmask, 1);
      const __m256i q5l_1 = _mm256_and_si256(_mm256_srli_epi16(q5bits, 4), m4);
      const __m256i q5h_1 = _mm256_slli_epi16(_mm256_srli_epi16(_mm256_and_si256(hbits, hmask), bit), 4);
      bit++;
      hmask = _mm256_slli_epi16(hmask, 1);
      const __m256i q8_0 = _mm256_loadu_si256((const __m256i *)q8);
      const __m256i q8_1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
      q8 += 64;
      const __m256i p0 = _mm256_madd_epi16(scale_0, _mm256_maddubs_epi16(_mm256_add_epi8(q5l_0, q5h_0), q8_0));
      const __m256i p1 = _mm256_madd_epi16(scale_1, _mm256_maddubs_epi16(_mm256_add_epi8(q5l_1, q5h_1), q8_1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
  *s = ty_hsum_f32_8(acc) + _mm_cvtss_f32(acc_m);
}


static void vec_dot_q6_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const ty_block_q6_K *x = vx;
  const ty_block_q8_K *y = vy;
  const int nb = n / TY_QK_K;
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i m15 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < nb; i++) {
    ty_prefetch_ahead(&x[i], sizeof *x);
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    const uint8_t *q4 = x[i].ql, *qh = x[i].qh;
    const int8_t *q8 = y[i].qs;
    /* levels are used unsigned (0..63); 32 * sum(q8 * scale) undoes the offset */
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
    const __m128i scales = _mm_loadu_si128((const __m128i *)x[i].scales);
    const __m256i scales_16 = _mm256_cvtepi8_epi16(scales);
    const __m256i q8sclsub = _mm256_slli_epi32(_mm256_madd_epi16(q8sums, scales_16), 5);
    __m256i sumi = _mm256_setzero_si256();
    int is = 0;
    for (int j = 0; j < TY_QK_K / 128; j++) {
      const __m256i q4bits1 = _mm256_loadu_si256((const __m256i *)q4);
      const __m256i q4bits2 = _mm256_loadu_si256((const __m256i *)(q4 + 32));
      const __m256i q4bitsH = _mm256_loadu_si256((const __m256i *)qh);
      q4 += 64;
      qh += 32;
      const __m256i q4h_0 = _mm256_slli_epi16(_mm256_and_si256(q4bitsH, m3), 4);
      const __m256i q4h_1 = _mm256_slli_epi16(_mm256_and_si256(q4bitsH, _mm256_set1_epi8(12)), 2);
      const __m256i q4h_2 = _mm256_and_si256(q4bitsH, _mm256_set1_epi8(48));
      const __m256i q4h_3 = _mm256_srli_epi16(_mm256_and_si256(q4bitsH, _mm256_set1_epi8(-64)), 2);
      const __m256i q4_0 = _mm256_or_si256(_mm256_and_si256(q4bits1, m15), q4h_0);
      const __m256i q4_1 = _mm256_or_si256(_mm256_and_si256(q4bits2, m15), q4h_1);
      const __m256i q4_2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4bits1, 4), m15), q4h_2);
      const __m256i q4_3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4bits2, 4), m15), q4h_3);
      __m256i p16_0 = _mm256_maddubs_epi16(q4_0, _mm256_loadu_si256((const __m256i *)q8));
      __m256i p16_1 = _mm256_maddubs_epi16(q4_1, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
      __m256i p16_2 = _mm256_maddubs_epi16(q4_2, _mm256_loadu_si256((const __m256i *)(q8 + 64)));
      __m256i p16_3 = _mm256_maddubs_epi16(q4_3, _mm256_loadu_si256((const __m256i *)(q8 + 96)));
      q8 += 128;
      p16_0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, ty_scale_shuffle_q6k(is + 0))), p16_0);
      p16_1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, ty_scale_shuffle_q6k(is + 1))), p16_1);
      p16_2 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, ty_scale_shuffle_q6k(is + 2))), p16_2);
      p16_3 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, ty_scale_shuffle_q6k(is + 3))), p16_3);
      is += 4;
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_0, p16_1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_2, p16_3));
    }
    sumi = _mm256_sub_epi32(sumi, q8sclsub);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = ty_hsum_f32_8(acc);
}


/* ==== plain element types =============================================== */

static void vec_dot_f32(int n, float *s, const void *vx, const void *vy) {
  const float *x = vx, *y = vy;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8)
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
  float sum = ty_hsum_f32_8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; i++) {
    float a, b;   /* rows may be unaligned */
    memcpy(&a, x + i, 4);
    memcpy(&b, y + i, 4);
    sum += a * b;
  }
  *s = sum;
}


static void vec_dot_f16(int n, float *s, const void *vx, const void *vy) {
  const uint8_t *x = vx, *y = vy;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int i = 0;
#define LDH(p, k) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((p) + 2 * (size_t)(k))))
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(LDH(x, i), LDH(y, i), a0);
    a1 = _mm256_fmadd_ps(LDH(x, i + 8), LDH(y, i + 8), a1);
    a2 = _mm256_fmadd_ps(LDH(x, i + 16), LDH(y, i + 16), a2);
    a3 = _mm256_fmadd_ps(LDH(x, i + 24), LDH(y, i + 24), a3);
  }
  for (; i + 8 <= n; i += 8)
    a0 = _mm256_fmadd_ps(LDH(x, i), LDH(y, i), a0);
#undef LDH
  float sum = ty_hsum_f32_8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; i++) {
    uint16_t a, b;
    memcpy(&a, x + 2 * (size_t)i, 2);
    memcpy(&b, y + 2 * (size_t)i, 2);
    sum += _cvtsh_ss(a) * _cvtsh_ss(b);
  }
  *s = sum;
}


static void vec_dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const uint8_t *x = vx, *y = vy;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int i = 0;
#define LDB(p, k) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((p) + 2 * (size_t)(k)))), 16))
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(LDB(x, i), LDB(y, i), a0);
    a1 = _mm256_fmadd_ps(LDB(x, i + 8), LDB(y, i + 8), a1);
  }
  for (; i + 8 <= n; i += 8)
    a0 = _mm256_fmadd_ps(LDB(x, i), LDB(y, i), a0);
#undef LDB
  float sum = ty_hsum_f32_8(_mm256_add_ps(a0, a1));
  for (; i < n; i++) {
    uint16_t a, b;
    memcpy(&a, x + 2 * (size_t)i, 2);
    memcpy(&b, y + 2 * (size_t)i, 2);
    sum += ty_bf16_to_fp32(a) * ty_bf16_to_fp32(b);
  }
  *s = sum;
}


static void f16_to_float(const void *vx, float *y, int64_t n) {
  const uint8_t *x = vx;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))));
  for (; i < n; i++) {
    uint16_t h;
    memcpy(&h, x + 2 * i, 2);
    y[i] = _cvtsh_ss(h);
  }
}


/* ty_f2h's round to nearest even by F16C (the same bits, test_tensor; a
   NaN stays a NaN, its payload kept): an f16 KV cache's store. */
static void f16_from_float(const float *x, void *vy, int64_t n) {
  uint8_t *y = vy;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(y + 2 * i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) {
    const uint16_t h = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
    memcpy(y + 2 * i, &h, 2);
  }
}


void ty_quants_fill_avx2(struct ty_qtype_traits *t) {
  t[TY_QTYPE_Q8_0].from_float = quant_q8_0;
  t[TY_QTYPE_Q8_1].from_float = quant_q8_1;
  t[TY_QTYPE_Q8_K].from_float = quant_q8_K;
  t[TY_QTYPE_Q4_0].vec_dot = q32_vec_dot_q4_0;
  t[TY_QTYPE_Q4_1].vec_dot = ggml_vec_dot_q4_1;
  t[TY_QTYPE_Q4_1].vec_dot_rows = ggml_vec_dot_q4_1_rows;
  t[TY_QTYPE_Q5_0].vec_dot = q32_vec_dot_q5_0;
  t[TY_QTYPE_Q5_1].vec_dot = q32_vec_dot_q5_1;
  t[TY_QTYPE_Q8_0].vec_dot = ggml_vec_dot_q8_0;
  t[TY_QTYPE_Q8_0].vec_dot_rows = ggml_vec_dot_q8_0_rows;
  t[TY_QTYPE_Q2_K].vec_dot = vec_dot_q2_K_q8_K;
  t[TY_QTYPE_Q3_K].vec_dot = vec_dot_q3_K_q8_K;
  t[TY_QTYPE_Q4_K].vec_dot = vec_dot_q4_K_q8_K;
  t[TY_QTYPE_Q5_K].vec_dot = vec_dot_q5_K_q8_K;
  t[TY_QTYPE_Q6_K].vec_dot = vec_dot_q6_K_q8_K;
  t[TY_QTYPE_F32].vec_dot = vec_dot_f32;
  t[TY_QTYPE_F16].vec_dot = vec_dot_f16;
  t[TY_QTYPE_F16].to_float = f16_to_float;
  t[TY_QTYPE_F16].from_float = f16_from_float;
  t[TY_QTYPE_BF16].vec_dot = vec_dot_bf16;
  /* weights the CPU backend repacks in groups of 16 rows (repack.c; q5_0
     in its row dot's order, dot_x16_avx2.c) */
  t[TY_QTYPE_Q4_1].dot_x16 = ty_dot_x16_q4_1_avx2;
  t[TY_QTYPE_Q5_0].dot_x16 = ty_dot_x16_q5_0_avx2;
  t[TY_QTYPE_Q8_0].dot_x16 = ty_dot_x16_q8_0_avx2;
  t[TY_QTYPE_Q5_0].x16_to_i8 = ty_x16_to_i8_q5_0_avx2;
  t[TY_QTYPE_Q8_0].x16_act = ty_x16_act_q8_0_avx2;
  t[TY_QTYPE_Q8_1].x16_act = ty_x16_act_q8_1_avx2;
  t[TY_QTYPE_Q8_0].x16_to_i8 = ty_x16_to_i8_q8_0_avx2;
  t[TY_QTYPE_Q4_0].to_i8 = ty_to_i8_q4_0_avx2;
  t[TY_QTYPE_Q5_0].to_i8 = ty_to_i8_q5_0_avx2;
  /* batches: the byte-dot product for every format with an i8 form */
  for (int i = 0; i < TY_QTYPE_COUNT; i++)
    if (t[i].to_i8 != NULL) t[i].gemm_i8 = ty_gemm_i8_avx2;
  t[TY_QTYPE_Q4_K].sb_tile = ty_sb_tile_q4_K_avx2;
  t[TY_QTYPE_Q5_K].sb_tile = ty_sb_tile_q5_K_avx2;
  t[TY_QTYPE_Q6_K].sb_tile = ty_sb_tile_q6_K_avx2;
  t[TY_QTYPE_Q4_K].gemm_sb = t[TY_QTYPE_Q5_K].gemm_sb = ty_gemm_sb32_avx2;
  t[TY_QTYPE_Q6_K].gemm_sb = ty_gemm_sb16_avx2;
}

#endif
