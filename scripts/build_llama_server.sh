#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama.cpp that the pinned llama-cpp-python vendors
# (scripts/build_llama_cpp.sh), cached in $TUNELENS_SERVER_BIN (default
# ~/.cache/tunelens/server/llama-cpp-<ver>); a second call returns at once. On Xeons with AMX,
# start it with `--no-repack` (the tests do): the default build's AMX kernels segfault on the
# first decode (llama.cpp #20824), as in-process models would without use_extra_bufts = false.
#
# Usage: bash scripts/build_llama_server.sh     prints the path of the llama-server binary
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
DEST=${TUNELENS_SERVER_BIN:-$HOME/.cache/tunelens/server/llama-cpp-$VERSION}
bash "$(dirname "$0")/build_llama_cpp.sh" "$DEST" llama-server
echo "$DEST/llama-server"
