#!/usr/bin/env bash
# Build llama.cpp's own `llama-bench` and `llama-batched-bench` from the llama.cpp source that
# llama-cpp-python 0.3.36 vendors (scripts/build_llama_cpp.sh), so the engine is compared with
# exactly the llama.cpp it runs. Kept in $TUNELENS_BENCH_BIN (default
# ~/.cache/tunelens/bench/llama-cpp-<ver>). The AMX segfault (llama.cpp #20824) is avoided at run
# time as the engine avoids it, with use_extra_bufts = false: `llama-bench --repack 0` and
# `llama-batched-bench --no-repack` (the benchmarks pass these flags).
#
# Usage: bash benchmarks/build_llama_bench.sh        prints the directory holding the binaries
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
DEST=${TUNELENS_BENCH_BIN:-$HOME/.cache/tunelens/bench/llama-cpp-$VERSION}
bash "$(dirname "$0")/../scripts/build_llama_cpp.sh" "$DEST" llama-bench llama-batched-bench
echo "$DEST"
