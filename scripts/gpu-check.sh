#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU: rebuilds llama-cpp-python with CUDA into the virtual environment,
# runs the generation and solve benchmark groups with every layer offloaded (MCTSR_BENCH_GPU_LAYERS=-1, read by
# benchmarks/conftest.py), saves the JSON and prints the ratios table (benchmarks/ratios.py).
#
# Usage: bash scripts/gpu-check.sh [LLAMA_CPP_PYTHON_SDIST.tar.gz]
#   The argument is a local llama-cpp-python source archive, for a GPU machine without internet (make a small one
#   with ../shared/tools/llama-sdist-slim.sh); without it pip fetches llama-cpp-python==0.3.36 from PyPI.
# Environment:
#   PYTHON       the interpreter whose site-packages get the CUDA build (default: .venv/bin/python); it needs
#                this package installed (scripts/setup.sh), pytest-benchmark, cmake and scikit-build-core
#   CUDA_ARCH    CMAKE_CUDA_ARCHITECTURES (default: native, i.e. the card in this machine)
#   MCTSR_MODEL  a GGUF to benchmark instead of the default model
#   SKIP_BUILD=1 llama-cpp-python is already built with CUDA: only run the benchmarks
#   BENCH_ARGS   extra pytest arguments (e.g. "-k 'N=8 or P=1'")
set -euo pipefail
cd "$(dirname "$0")/.."
sdist=${1:-}
PY=${PYTHON:-.venv/bin/python}
version=0.3.36

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU visible (nvidia-smi): run this on a machine with one" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  src="llama-cpp-python==$version"
  offline=()
  if [[ -n $sdist ]]; then
    [[ -f $sdist ]] || { echo "gpu-check: no such source archive: $sdist" >&2; exit 2; }
    src=$sdist
    offline=(--no-index)
  fi
  echo "gpu-check: building llama-cpp-python from $src with CUDA (several minutes)"
  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native}" FORCE_CMAKE=1 \
    "$PY" -m pip install -q --no-build-isolation --no-deps --force-reinstall --no-cache-dir "${offline[@]}" "$src"
fi

"$PY" - <<'EOF'
import sys

import llama_cpp

if not llama_cpp.llama_supports_gpu_offload():
    sys.exit("gpu-check: this llama-cpp-python cannot offload to a GPU (built without CUDA?)")
print(f"gpu-check: llama-cpp-python {llama_cpp.__version__} with GPU offload")
EOF

mkdir -p .benchmarks/gpu
json=.benchmarks/gpu/$(date +%Y%m%d-%H%M%S)-gpu.json
# shellcheck disable=SC2086
MCTSR_BENCH_GPU_LAYERS=-1 "$PY" -m pytest benchmarks/bench_generation.py benchmarks/bench_solve.py -q \
  -p no:cacheprovider --benchmark-only --benchmark-group-by=group --benchmark-json="$json" ${BENCH_ARGS:-}
"$PY" benchmarks/ratios.py "$json"
