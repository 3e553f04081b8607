#!/bin/sh
# The SIMD kernels that stream weights or the KV cache must still hold their
# software prefetches once compiled: GCC 12 once found a prefetch-only helper
# "const" and dropped every call to it, which cost a decode step a third of
# its speed without any test noticing (docs/performance.md). Arguments: the
# library's object files. Skips (77) where objdump is missing.
command -v objdump >/dev/null 2>&1 || { echo "objdump not found: skipped"; exit 77; }
status=0
checked=0
for obj in "$@"; do
  case "$obj" in
    *dot_x16_avx512.c.o|*dot_x16_avx2.c.o|*dot_avx2.c.o|*gemm_sb_avx512.c.o|*gemm_sb_avx2.c.o|*cpu_avx2.c.o|*cpu_avx512.c.o) ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  n=$(objdump -d "$obj" | grep -c prefetch)
  if [ "$n" -eq 0 ]; then
    echo "FAIL $obj: no prefetch instructions left; make the helper that issues them always_inline"
    status=1
  else
    echo "$(basename "$obj"): $n prefetches"
  fi
done
[ "$checked" -gt 0 ] || { echo "no x86 kernel objects given: skipped"; exit 77; }
exit $status
