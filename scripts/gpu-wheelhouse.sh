#!/usr/bin/env bash
# Gathers into one folder everything `scripts/gpu-check.sh --wheelhouse DIR` needs on a GPU machine with no network
# (an image with python3 3.12, CUDA's nvcc, cmake, ninja, scikit-build-core, pybind11, numpy, pytest,
# pytest-benchmark, httpx, tqdm, tabulate, jinja2, typing-extensions, sympy, pyyaml, requests: see
# /work/.library/device/KINDS.md for such an image's list). Run it on any machine that reaches PyPI:
#   wheels/       pure-Python wheels of what that image lacks: llama-cpp-python's diskcache, math-verify with its
#                 latex2sympy2_extended and antlr4 runtime (the answer checker), gguf (the synthetic model's writer)
#   llama_cpp_python-VERSION-slim.tar.gz   the llama-cpp-python source, slimmed (docs, test vocabularies, benches,
#                 examples, the web UI and ggml's non-CPU/CUDA backends dropped): the CUDA build's input
#   gpu-kit/      synth_llama3.py and smollm2_tok.json.gz, the synthetic Llama-3-8B writer; not part of this
#                 repository (the script carries no license), copied from $GPU_KIT or shared/tools/gpu-kit beside
#                 the checkout or a folder above it, as benchmarks/conftest.py looks for it
#   MANIFEST.sha256   every file above with its SHA-256 (gpu-check.sh refuses a folder that does not match it)
# The folder must be an ignored path inside the checkout so that the device tool can carry it (`.gpu/` is in
# .gitignore): bash scripts/gpu-wheelhouse.sh .gpu/wheelhouse     (about 15 MB; it says the size)
# Environment: PYTHON (an interpreter with pip) [.venv/bin/python, else python3]; GPU_KIT the gpu-kit folder; LLAMA_SDIST a local
# llama-cpp-python source archive to slim instead of downloading one.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-wheelhouse.sh OUT_DIR   (e.g. .gpu/wheelhouse)}
PY=${PYTHON:-python3}
[[ -n ${PYTHON:-} || ! -x .venv/bin/python ]] || PY=.venv/bin/python   # the set-up's, which has pip
version=0.3.36
# Pinned to the versions the tests run with here; each is pure Python (py3-none-any), so any Python takes it.
wheels=(diskcache==5.6.3 gguf==0.19.0 math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2)
limit_mib=60

find_kit() {
  local d
  if [[ -n ${GPU_KIT:-} ]]; then echo "$GPU_KIT"; return; fi
  d=$(pwd)
  while [[ $d != / ]]; do
    d=$(dirname "$d")
    [[ -f $d/shared/tools/gpu-kit/synth_llama3.py ]] && { echo "$d/shared/tools/gpu-kit"; return; }
  done
  return 1
}
kit=$(find_kit) ||
  { echo "gpu-wheelhouse: no gpu-kit found: set GPU_KIT=DIR (synth_llama3.py, smollm2_tok.json.gz)" >&2; exit 2; }
for f in synth_llama3.py smollm2_tok.json.gz; do
  [[ -f $kit/$f ]] || { echo "gpu-wheelhouse: $kit has no $f" >&2; exit 2; }
done
git check-ignore -q "$out" 2>/dev/null ||
  echo "gpu-wheelhouse: note: $out is not an ignored path of this checkout; the device tool carries only those" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out/wheels" "$out/gpu-kit"

echo "gpu-wheelhouse: wheels (${wheels[*]})"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$out/wheels" "${wheels[@]}"
for w in "$out"/wheels/*; do
  [[ $w == *-py3-none-any.whl || $w == *-py2.py3-none-any.whl ]] ||
    { echo "gpu-wheelhouse: $w is not a pure-Python wheel: a compiled one must be cp312 manylinux" >&2; exit 1; }
done

echo "gpu-wheelhouse: llama-cpp-python $version source, slimmed"
if [[ -n ${LLAMA_SDIST:-} ]]; then
  cp "$LLAMA_SDIST" "$work/llama_cpp_python-$version.tar.gz"
else
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version"
fi
tar xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
src=$work/llama_cpp_python-$version
lc=$src/vendor/llama.cpp
# What no build of the Python package reads: git data, documentation, media, benches, llama.cpp's tests and
# vocabulary test models, example programs (LLAMA_BUILD_EXAMPLES is off outside a standalone build; their
# CMakeLists.txt stays), the server's web UI, and the ggml backends other than CPU, CUDA and BLAS (each is added
# only when its GGML_<NAME> option is on).
rm -rf "$src/.git" "$src/docs" "$src/docker" "$src/examples" "$src/tests" "$src/.github" \
  "$lc/.git" "$lc/.github" "$lc/docs" "$lc/media" "$lc/benches" "$lc/tests" "$lc/tools/ui" "$lc/gguf-py"
rm -f "$lc"/models/ggml-vocab-*
find "$lc/examples" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
for d in "$lc"/ggml/src/ggml-*/; do
  case $(basename "$d") in ggml-cpu|ggml-cuda|ggml-blas) ;; *) rm -rf "$d" ;; esac
done
tar czf "$out/llama_cpp_python-$version-slim.tar.gz" -C "$work" "llama_cpp_python-$version"

echo "gpu-wheelhouse: gpu-kit from $kit"
cp "$kit/synth_llama3.py" "$kit/smollm2_tok.json.gz" "$out/gpu-kit/"

(cd "$out" && find . -type f ! -name MANIFEST.sha256 | sed 's|^\./||' | sort | xargs sha256sum >MANIFEST.sha256)
size=$(du -sb "$out" | cut -f1)
echo "gpu-wheelhouse: $out: $(wc -l <"$out/MANIFEST.sha256") files, $((size / 1024 / 1024)) MiB ($size bytes)"
((size <= limit_mib * 1024 * 1024)) || { echo "gpu-wheelhouse: over ${limit_mib} MiB: it would not travel" >&2; exit 1; }
