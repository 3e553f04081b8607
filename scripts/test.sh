#!/usr/bin/env bash
# test.sh: builds and runs every test, the way CI does.
#   1. build/ (Release) under ctest
#   2. build-san/ with AddressSanitizer + UndefinedBehaviorSanitizer under ctest
#   3. every libFuzzer target for a bounded run (needs clang)
#   scripts/test.sh [--quick]     --quick runs step 1 only
# Tests that need the real models skip when the cache lacks them, unless
# TYCHO_REQUIRE_MODELS=1 (CI sets it); scripts/setup.sh fills the cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

step() { printf '\n== %s ==\n' "$*"; }

step "release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j1

[ "$quick" = 1 ] && exit 0

step "address and undefined-behaviour sanitizers"
# (the CUDA backend stays out: nvcc links no sanitizer runtime, and its code
# cannot run without a GPU; scripts/gpu-check.sh tests it on one)
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTYCHO_SANITIZE=address,undefined \
  -DTYCHO_CUDA=OFF >/dev/null
cmake --build build-san -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-san --output-on-failure -j1

step "fuzzing the parsers (bounded)"
# every tests/fuzz/fuzz_NAME.c runs from its seed corpus tests/fuzz/corpus_NAME/
# for TYCHO_FUZZ_SECONDS (default 30) each
if command -v clang >/dev/null; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTYCHO_LUA=OFF -DTYCHO_FUZZ=ON \
    -DTYCHO_CUDA=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs" >/dev/null
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  passed=0 failed=0
  for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    corpus=$work/$name
    mkdir -p "$corpus"
    seeds=tests/fuzz/corpus_${name#fuzz_}
    [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/
    log=$work/$name.log
    if build-fuzz/tests/"$name" -max_total_time="${TYCHO_FUZZ_SECONDS:-30}" -print_final_stats=1 \
        "$corpus" >"$log" 2>&1; then
      echo "$name: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no crash"
      passed=$((passed + 1))
    else
      tail -n 60 "$log"
      echo "$name: FAILED"
      failed=$((failed + 1))
    fi
  done
  echo "fuzz: $passed passed, $failed failed"
  [ "$failed" = 0 ] || exit 1
else
  echo "fuzz: clang not found, skipped (apt-get install clang)"
fi
