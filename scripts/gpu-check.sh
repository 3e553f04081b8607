#!/usr/bin/env bash
# gpu-check.sh: the one prepared script for the lent GPU machine, which has
# nvcc, CMake and cuBLAS but no package registry (so Lua and libcurl are off)
# and no models (so the benchmark writes a synthetic one there). In one call:
#   1. build the engine with the CUDA backend (sm_90 + PTX)
#   2. run every C test: the kernel parity checks (test_cuda), the split
#      checks (test_cuda_split), the block formats (test_cuda_dequant), and
#      the CPU-side tests
#   3. benchmark decode and prefill on GPU 0: a llama-8B-shaped Q4_K_M model
#      and a SmolLM2-135M-shaped Q4_1 one, with and without CUDA graphs, with
#      the f32 matrix-vector product in place of the int8 one, at depth 4096,
#      and the fraction of the bandwidth roofline decode reaches; llama.cpp's
#      llama-bench on the same files where scripts/llama-cuda.sh built one and
#      the call carried it (carry ["out/llama-cuda"])
#   4. print a short table last
# Every step has a time limit, so one hung kernel cannot spend the lease.
# Output goes to stdout and, when $OUT is set, to $OUT/gpu-check.log.
#   scripts/gpu-check.sh [--quick]     (--quick: no 8B benchmark)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1
quick=0; [ "${1:-}" = --quick ] && quick=1
export TMPDIR=${TMPDIR:-/tmp}
jobs=$(nproc)
declare -A result

echo "== machine =="
date -u
grep -m1 "model name" /proc/cpuinfo
nproc
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader
command -v nvcc >/dev/null && nvcc --version | tail -n 1

echo "== build (TYCHO_CUDA=ON TYCHO_LUA=OFF TYCHO_CURL=OFF) =="
t0=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DTYCHO_LUA=OFF -DTYCHO_CURL=OFF -DTYCHO_CUDA=ON >/dev/null &&
  cmake --build build-gpu -j"$jobs" 2>&1 | grep -E "warning|error|Error"
test -x build-gpu/tycho-bench && result[build]="ok ($(( $(date +%s) - t0 )) s)" || { echo "build failed"; result[build]=FAILED; }

if [ "${result[build]}" != FAILED ]; then
  echo "== kernel parity (test_cuda) =="
  timeout 180 build-gpu/tests/test_cuda && result[kernels]=ok || result[kernels]=FAILED
  if [ "${result[kernels]}" = FAILED ] && command -v compute-sanitizer >/dev/null; then
    echo "== test_cuda under compute-sanitizer (first errors) =="
    timeout 90 compute-sanitizer --print-limit 5 build-gpu/tests/test_cuda 2>&1 | head -n 80
  fi
  echo "== split (test_cuda_split) =="
  timeout 180 build-gpu/tests/test_cuda_split && result[split]=ok || result[split]=FAILED
  echo "== all C tests =="
  ctest --test-dir build-gpu --output-on-failure -j"$jobs" --timeout 240 -E "test_cuda$|test_cuda_split" &&
    result[ctest]=ok || result[ctest]=FAILED
  [ -n "${OUT:-}" ] && cp build-gpu/Testing/Temporary/LastTest.log "$OUT/" 2>/dev/null

  bench() {   # name model args...
    local name=$1 model=$2; shift 2
    echo "-- $name: tycho-bench $model $*"
    timeout 150 build-gpu/tycho-bench "$model" --gpu 0 --repeats 3 "$@" | tee "$TMPDIR/bench-$name.json"
  }
  field() { sed -n "s/.*\"phase\":\"$2\".*\"$3\":\([0-9.]*\).*/\1/p" "$TMPDIR/bench-$1.json" | head -n 1; }

  echo "== benchmark =="
  bench smollm2 synth:smollm2:135M:Q4_1 --pp 512 --tg 128
  TYCHO_CUDA_GRAPHS=0 bench smollm2-nograph synth:smollm2:135M:Q4_1 --pp 0 --tg 128
  TYCHO_CUDA_MMVQ=0 bench smollm2-f32 synth:smollm2:135M:Q4_1 --pp 0 --tg 128
  if [ $quick = 0 ]; then
    bench llama8b synth:llama:8B:Q4_K_M --pp 512 --tg 128
    TYCHO_CUDA_GRAPHS=0 bench llama8b-nograph synth:llama:8B:Q4_K_M --pp 0 --tg 128
    TYCHO_CUDA_MMVQ=0 bench llama8b-f32 synth:llama:8B:Q4_K_M --pp 0 --tg 128
    bench llama8b-d4096 synth:llama:8B:Q4_K_M --pp 0 --tg 64 --depth 4096
  fi

  # llama.cpp on the same files, where scripts/llama-cuda.sh's binary was
  # carried along (out/llama-cuda): pp512 and tg128, all layers on GPU 0
  if [ -x out/llama-cuda/llama-bench ]; then
    echo "== llama.cpp (out/llama-cuda/llama-bench) =="
    for n in smollm2:smollm2-135M-Q4_1 llama8b:llama-8B-Q4_K_M; do
      f=$TMPDIR/tycho-synth-${n#*:}.gguf
      [ -s "$f" ] || continue
      CUDA_VISIBLE_DEVICES=0 timeout 240 out/llama-cuda/llama-bench -m "$f" -p 512 -n 128 -ngl 99 \
        -fa off -r 3 -o jsonl | tee "$TMPDIR/llama-${n%%:*}.jsonl"
    done
  fi
fi

echo
echo "== summary =="
printf "%-28s %s\n" build "${result[build]}" kernels "${result[kernels]:-not run}" \
  split "${result[split]:-not run}" "other C tests" "${result[ctest]:-not run}"
for n in smollm2 llama8b; do
  [ -s "$TMPDIR/bench-$n.json" ] || continue
  printf "%-28s pp512 %s t/s, tg128 %s t/s (%s without graphs, %s with the f32 product), %s of roofline (copy %s GB/s)\n" \
    "$n" "$(field $n pp tps_median)" "$(field $n tg tps_median)" \
    "$(field $n-nograph tg tps_median)" "$(field $n-f32 tg tps_median)" \
    "$(field $n roofline tg_fraction)" "$(field $n roofline copy_gbps)"
done
# llama.cpp's avg_ts for one test line of llama-bench's JSONL (pp: n_gen 0)
llama_ts() { grep "\"$2\": 0," "$TMPDIR/llama-$1.jsonl" 2>/dev/null | sed -n 's/.*"avg_ts": \([0-9.]*\).*/\1/p' | head -n 1; }
for n in smollm2 llama8b; do
  lp=$(llama_ts $n n_gen) lt=$(llama_ts $n n_prompt)
  [ -n "$lp" ] && [ -n "$lt" ] || continue
  printf "%-28s llama.cpp pp512 %s t/s, tg128 %s t/s; tycho/llama.cpp pp %s, tg %s\n" "$n" "$lp" "$lt" \
    "$(awk -v a="$(field $n pp tps_median)" -v b="$lp" 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a="$(field $n tg tps_median)" -v b="$lt" 'BEGIN { printf "%.2f", a / b }')"
done
[ -s "$TMPDIR/bench-llama8b-d4096.json" ] &&
  printf "%-28s tg64 at depth 4096 %s t/s, %s of roofline\n" llama8b \
    "$(field llama8b-d4096 tg tps_median)" "$(field llama8b-d4096 roofline tg_fraction)"
case "${result[build]}${result[kernels]:-}${result[split]:-}${result[ctest]:-}" in
  *FAILED*) exit 1 ;;
esac
exit 0
