/*
 * check.h: the check most C tests share. CHECK(cond, fmt, ...) counts a
 * failure in `failures` and prints "FAIL file:line: " and the message; the
 * test returns nonzero at the end if failures is not 0.
 */
#ifndef TY_CHECK_H
#define TY_CHECK_H

#include <stdio.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
  printf(__VA_ARGS__); printf("\n"); } } while (0)

#endif
