/*
 * device.c: ty_device_list. The CPU's entry comes from /proc/cpuinfo and
 * /proc/meminfo where Linux has them, else from sysconf/sysinfo; each fact
 * that cannot be read keeps a safe fallback instead of failing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

#include "device.h"
#include "backend.h"


const char *ty_dev_kind_name(int kind) {
  switch (kind) {
  case TY_DEV_CPU: return "cpu";
  case TY_DEV_CUDA: return "cuda";
  default: return "unknown";
  }
}


/* Copies the value of the first "key : value" line of cpuinfo whose key is
   one of the CPU-name keys (x86 "model name", ARM "Hardware"/"Processor",
   POWER "cpu") into name; returns 1 if one was found. */
static int cpu_name_read(const char *cpuinfo, char *name, size_t cap) {
  static const char *const keys[] = { "model name", "Hardware", "Processor", "cpu model",
                                      "cpu", NULL };
  char line[512];
  int found = 0, rank = 99;
  FILE *f = fopen(cpuinfo, "r");
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof line, f) != NULL) {
    char *colon = strchr(line, ':'), *v, *end;
    size_t klen;
    if (colon == NULL)
      continue;
    for (end = colon; end > line && (end[-1] == ' ' || end[-1] == '\t'); end--) {}
    klen = (size_t)(end - line);
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    v[strcspn(v, "\r\n")] = '\0';
    if (*v == '\0')
      continue;
    /* the earliest key in keys wins; "model name" ends the search */
    for (int k = 0; keys[k] != NULL && k < rank; k++)
      if (strlen(keys[k]) == klen && strncmp(line, keys[k], klen) == 0) {
        snprintf(name, cap, "%s", v);
        found = 1;
        rank = k;
        break;
      }
    if (rank == 0)
      break;
  }
  fclose(f);
  return found;
}


/* The value in bytes of "key: N kB" in meminfo; 0 if absent. */
static uint64_t meminfo_read(const char *meminfo, const char *key) {
  char line[256];
  uint64_t r = 0;
  size_t klen = strlen(key);
  FILE *f = fopen(meminfo, "r");
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      unsigned long long kb = strtoull(line + klen + 1, NULL, 10);
      if (kb <= UINT64_MAX / 1024)
        r = (uint64_t)kb * 1024;
      break;
    }
  }
  fclose(f);
  return r;
}


/* Fills d with the CPU's facts, reading the given /proc files (tests point
   them elsewhere); falls back to sysconf and sysinfo. */
static void cpu_fill(struct ty_device_info *d, const char *cpuinfo, const char *meminfo) {
  long nproc = sysconf(_SC_NPROCESSORS_ONLN);
  memset(d, 0, sizeof *d);
  d->kind = TY_DEV_CPU;
  d->index = 0;
  d->threads = nproc > 0 ? (int)nproc : 1;
  if (!cpu_name_read(cpuinfo, d->name, sizeof d->name))
    snprintf(d->name, sizeof d->name, "cpu");
  d->total = meminfo_read(meminfo, "MemTotal");
  d->free = meminfo_read(meminfo, "MemAvailable");
  if (d->free == 0)
    d->free = meminfo_read(meminfo, "MemFree");
#if defined(__linux__)
  {
    struct sysinfo si;
    if ((d->total == 0 || d->free == 0) && sysinfo(&si) == 0) {
      if (d->total == 0)
        d->total = (uint64_t)si.totalram * si.mem_unit;
      if (d->free == 0)
        d->free = (uint64_t)si.freeram * si.mem_unit;
    }
  }
#endif
  if (d->total == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0)
      d->total = (uint64_t)pages * (uint64_t)psize;
  }
  if (d->free > d->total)
    d->free = d->total;
}


ty_status ty_device_list(struct ty_device_info *out, int max, int *n, ty_err *err) {
  if (n == NULL || max < 0 || (out == NULL && max > 0))
    return ty_err_set(err, TY_ERR_ARG, "device list: bad argument (max %d)", max);
  *n = 0;
  if (max > 0) {
    cpu_fill(&out[0], "/proc/cpuinfo", "/proc/meminfo");
    *n = 1;
  }
  /* then the GPUs, in CUDA's order; one that cannot be queried is left out */
  for (int i = 0, count = ty_cuda_device_count(); i < count && *n < max; i++) {
    struct ty_device_info *d = &out[*n];
    memset(d, 0, sizeof *d);
    d->kind = TY_DEV_CUDA;
    d->index = i;
    if (ty_cuda_device_info(i, d->name, sizeof d->name, &d->free, &d->total, NULL) == TY_OK)
      (*n)++;
  }
  ty_err_clear(err);
  return TY_OK;
}
