#!/usr/bin/env bash
# Build llama.cpp's own `llama-bench` and `llama-batched-bench` from the llama.cpp source that
# llama-cpp-python 0.3.36 vendors, so the engine is compared with exactly the llama.cpp it runs.
#
# Everything happens in a temporary directory; only the two binaries (statically linked) are
# kept, in $TUNELENS_BENCH_BIN (default ~/.cache/tunelens/bench/llama-cpp-<ver>).
# llama.cpp is never copied into the repository. The build is native like the wheel's (OpenMP,
# the CPU's own instruction sets). The AMX segfault (llama.cpp #20824) is avoided at run time as
# the engine avoids it, with use_extra_bufts = false: `llama-bench --repack 0` and
# `llama-batched-bench --no-repack` (the benchmarks pass these flags).
#
# Usage: bash benchmarks/build_llama_bench.sh        prints the directory holding the binaries
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
DEST=${TUNELENS_BENCH_BIN:-$HOME/.cache/tunelens/bench/llama-cpp-$VERSION}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
if [ -x "$DEST/llama-bench" ] && [ -x "$DEST/llama-batched-bench" ]; then
    echo "$DEST"
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "downloading the llama-cpp-python $VERSION sdist into $WORK" >&2
"$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK" >&2
tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
echo "configuring $SRC" >&2
cmake -S "$SRC" -B "$WORK/build" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF \
    -DBUILD_SHARED_LIBS=OFF ${CMAKE_ARGS:-} >&2
echo "building llama-bench and llama-batched-bench (a few minutes on 2 cores)" >&2
cmake --build "$WORK/build" --target llama-bench llama-batched-bench -j "$(nproc)" >&2
mkdir -p "$DEST"
cp "$WORK/build/bin/llama-bench" "$WORK/build/bin/llama-batched-bench" "$DEST/"
echo "$DEST"
