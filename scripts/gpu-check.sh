#!/usr/bin/env bash
# gpu-check.sh: the one prepared script for the lent GPU machine (no package
# registry there, so Lua and libcurl are off). Today it proves the engine, its
# C tests and the benchmark build and pass there, reports the CPU kernel level
# and the GPU; the CUDA backend's parity and speed checks join it when the
# backend lands. Output goes to stdout and, when $OUT is set, to $OUT/gpu-check.log.
#   scripts/gpu-check.sh
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1

echo "== machine =="
date -u
uname -m
grep -m1 "model name" /proc/cpuinfo
nproc
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
command -v nvcc >/dev/null && nvcc --version | tail -n 1

echo "== build (TYCHO_LUA=OFF) =="
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DTYCHO_LUA=OFF >/dev/null || exit 1
cmake --build build-gpu -j"$(nproc)" 2>&1 | grep -E "warning|error" || true
test -x build-gpu/tycho-bench || { echo "build failed"; exit 1; }

echo "== tests =="
ctest --test-dir build-gpu --output-on-failure -j"$(nproc)"
status=$?

echo "== kernel levels =="
for level in scalar avx2 ""; do
  TYCHO_SIMD=$level build-gpu/tests/test_tensor >/dev/null 2>&1 && r=ok || r=FAILED
  echo "test_tensor with TYCHO_SIMD=${level:-auto}: $r"
done
exit $status
