#!/usr/bin/env bash
# llama-cuda.sh: builds llama.cpp's llama-bench with its CUDA backend, so that
# scripts/gpu-check.sh can put llama.cpp's figures beside tycho's on the lent
# GPU machine (which has no package registry to fetch llama.cpp from).
#
# The source is the llama.cpp vendored in llama-cpp-python 0.3.36, the same
# version bench.py compares against on the CPU (pip download of the sdist).
# Built for sm_90 (H100, H200) with ggml linked statically and FlashAttention
# off (tycho's attention is not flash attention; gpu-check.sh runs llama-bench
# with -fa off too). About 135 CUDA translation units at about 65 s each on
# this 2-core VM: over an hour, so start it in the background at the
# beginning of a session that has a GPU, long before the device call:
#
#   scripts/llama-cuda.sh > /tmp/llama-cuda.log 2>&1 &
#
# The stripped binary lands in out/llama-cuda/llama-bench (out/ is ignored
# by git); name it in the device call's carry, ["out/llama-cuda"], and
# gpu-check.sh runs it. It links libcudart and libcublas dynamically, as
# tycho does: the device machine has the same CUDA toolkit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${TMPDIR:-/tmp}/llama-cuda-build
dest=$root/out/llama-cuda
version=0.3.36
mkdir -p "$work" "$dest"
if [ ! -d "$work/llama.cpp" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version"
  tar -xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
  mv "$work/llama_cpp_python-$version/vendor/llama.cpp" "$work/llama.cpp"
fi
export PATH=/usr/local/cuda/bin:$PATH
cmake -S "$work/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON \
  -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_CUDA_FA=OFF -DGGML_CUDA_NCCL=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
nice -n 10 cmake --build "$work/build" --target llama-bench -j"$(nproc)"
install -m 755 "$work/build/bin/llama-bench" "$dest/llama-bench"
strip "$dest/llama-bench"
ls -l "$dest/llama-bench"
