#!/bin/sh
# install.sh BUILD_DIR SOURCE_DIR: the tycho module from Debian's stock lua5.4.
#  1. from the build tree, through LUA_CPATH / LUA_PATH;
#  2. after `cmake --install` into a staging root: lua5.4's own default
#     package.cpath / package.path, with /usr/local moved under the staging
#     root, find both tycho.so and the pure-Lua tycho.* modules.
set -eu
build=$1
src=$2
command -v lua5.4 >/dev/null || { echo "lua5.4 not installed: skipped"; exit 77; }
check='local t = require "tycho"; assert(type(t.version) == "string" and t.load and t.tokenizer and t.sampler)
local cli = require "tycho.cli"; assert(type(cli.main) == "function"); print("tycho " .. t.version)'

LUA_CPATH="$build/?.so" LUA_PATH="$src/lua/?.lua" lua5.4 -e "$check"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" cmake --install "$build" --prefix /usr/local >/dev/null
cpath=$(lua5.4 -e 'io.write(package.cpath)' | sed "s|/usr/local/|$stage/usr/local/|g")
path=$(lua5.4 -e 'io.write(package.path)' | sed "s|/usr/local/|$stage/usr/local/|g")
LUA_CPATH="$cpath" LUA_PATH="$path" lua5.4 -e "$check"
test -x "$stage/usr/local/bin/tycho"
echo "installed: $(cd "$stage" && find . -name 'tycho*' | sort | tr '\n' ' ')"
