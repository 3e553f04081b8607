/*
 * cpu_avx2.c: cpu_x86.h built with AVX2, FMA and F16C (flags by file name).
 */
#if defined(__x86_64__) || defined(__i386__)
#define X86_NAME(f) f##_avx2
#include "cpu_x86.h"
#endif
