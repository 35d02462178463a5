#!/usr/bin/env bash
# Build llama.cpp programs from the llama.cpp source that the pinned llama-cpp-python vendors, so
# every comparison (llama-bench) and every served model (llama-server) runs the same llama.cpp as
# the in-process engine. The build happens in a temporary directory; only the binaries
# (statically linked) are kept, in DEST, outside the repository. llama.cpp is never copied into
# the repository. The build is native like the wheel's.
#
# Usage: bash scripts/build_llama_cpp.sh DEST TARGET...     (e.g. DEST llama-server)
set -euo pipefail
DEST=$1
shift
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
missing=0
for t in "$@"; do [ -x "$DEST/$t" ] || missing=1; done
[ "$missing" = 0 ] && exit 0
command -v cmake >/dev/null || { echo "cmake is needed to build $*" >&2; exit 1; }
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
echo "building $* (a few minutes on 2 cores)" >&2
cmake --build "$WORK/build" --target "$@" -j "$(nproc)" >&2
mkdir -p "$DEST"
for t in "$@"; do cp "$WORK/build/bin/$t" "$DEST/"; done
