/*
 * cpu_avx512.c: cpu_x86.h built with AVX-512 (flags by file name): the f16
 * attention's dots and value sums 16 lanes to a register.
 */
#if defined(__x86_64__) || defined(__i386__)
#define X86_NAME(f) f##_avx512
#include "cpu_x86.h"
#endif
