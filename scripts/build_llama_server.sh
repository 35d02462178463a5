#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama.cpp source that the pinned llama-cpp-python
# vendors, so served and in-process answers come from the same llama.cpp.
#
# The build happens in a temporary directory; only the binary (statically linked) is kept, in
# $TUNELENS_SERVER_BIN (default ~/.cache/tunelens/server/llama-cpp-<ver>), outside the repository.
# A second call finds it there and returns at once. On Xeons with AMX, start it with
# `--no-repack` (the tests and tunelens' own launcher do): the default build's AMX kernels
# segfault on the first decode (llama.cpp #20824), as in-process models would without the
# engine's use_extra_bufts = false.
#
# Usage: bash scripts/build_llama_server.sh     prints the path of the llama-server binary
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
DEST=${TUNELENS_SERVER_BIN:-$HOME/.cache/tunelens/server/llama-cpp-$VERSION}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
if [ -x "$DEST/llama-server" ]; then
    echo "$DEST/llama-server"
    exit 0
fi
command -v cmake >/dev/null || { echo "cmake is needed to build llama-server" >&2; exit 1; }
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
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DBUILD_SHARED_LIBS=OFF ${CMAKE_ARGS:-} >&2
echo "building llama-server (a few minutes on 2 cores)" >&2
cmake --build "$WORK/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$DEST"
cp "$WORK/build/bin/llama-server" "$DEST/"
echo "$DEST/llama-server"
