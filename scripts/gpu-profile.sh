#!/usr/bin/env bash
# gpu-profile.sh: where a decode step's GPU time goes, kernel by kernel, on
# the lent GPU machine (Nsight Compute's ncu, clocks left alone). Builds as
# gpu-check.sh does, then for each synthetic model profiles a few decode
# steps without graphs (each kernel its own launch) and prints, per kernel,
# its launches a token, its mean time and its share of the step.
#   scripts/gpu-profile.sh [MODEL ...]   (default: the SmolLM2 and 8B shapes)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp}
export TMPDIR=${TMPDIR:-/tmp}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(synth:smollm2:135M:Q4_1 synth:llama:8B:Q4_K_M)
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
[ -n "$ncu" ] || { echo "no ncu on this machine"; exit 1; }

cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DTYCHO_LUA=OFF -DTYCHO_CURL=OFF -DTYCHO_CUDA=ON >/dev/null &&
  cmake --build build-gpu -j"$(nproc)" 2>&1 | grep -E "warning|error:" 
test -x build-gpu/tycho-bench || { echo "build failed"; exit 1; }

steps=4
for model in "${models[@]}"; do
  name=$(echo "$model" | tr ':' '-')
  build-gpu/tycho-bench "$model" --gpu 0 --pp 0 --tg 1 --repeats 1 >/dev/null   # writes the model
  # the bench runs a warm-up and one repeat, each a one-token prompt and
  # $steps decode steps: the repeat's kernels are kept, 1 + $steps tokens
  TYCHO_CUDA_GRAPHS=0 timeout 240 "$ncu" --clock-control none --metrics gpu__time_duration.sum \
    --csv --log-file "$out/ncu-$name.log" \
    build-gpu/tycho-bench "$model" --gpu 0 --pp 0 --depth 1 --tg $steps --repeats 1 >/dev/null 2>&1 ||
    { echo "ncu failed:"; tail -n 5 "$out/ncu-$name.log"; continue; }
  python3 - "$out/ncu-$name.log" "$model" $((steps + 1)) <<'PY'
import csv, sys, collections
path, model, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
ki, vi, ui = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Unit")
gi = head.index("Grid Size")
scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1, "us": 1, "msecond": 1e3, "ms": 1e3}
t = [(r[ki].split("(")[0].replace("void ", "") + " " + r[gi].replace(" ", ""),
      float(r[vi].replace(",", "")) * scale[r[ui]]) for r in rows]
per = {}
tail = t[len(t) // 2:]          # the repeat, not the warm-up
total = sum(x for _, x in tail)
for k, x in tail:
    c = per.setdefault(k, [0, 0.0]); c[0] += 1; c[1] += x
print(f"== {model}: {len(tail) / tokens:.0f} kernels a token, {total / tokens:.0f} us of GPU time a token ==")
print(f"{'kernel and grid':52} {'a token':>8} {'mean us':>8} {'us a token':>10} {'share':>6}")
for k, (n, x) in sorted(per.items(), key=lambda kv: -kv[1][1]):
    print(f"{k[:52]:52} {n / tokens:8.1f} {x / n:8.2f} {x / tokens:10.1f} {x / total:6.1%}")
PY
done
