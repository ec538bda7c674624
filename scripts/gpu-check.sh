#!/usr/bin/env bash
# GPU check, end to end, for a machine with an NVIDIA GPU: builds llama-cpp-python with CUDA into the virtual
# environment, then runs every path that once crashed (issue 9), each in a FRESH process with faulthandler on and
# llama.cpp's verbose log kept, on two models: the default model and a synthetic GGUF with Llama-3-8B-Instruct's
# exact shapes and Q4_K_M types (random weights, made by ../shared/tools/gpu-kit/synth_llama3.py):
#   load-c-api      llama.cpp's C API alone (no mctsr_native import): separates a bad file/build from our code
#   open_backend    mctsr_native.open_backend + a short greedy generate
#   solver-first    `import mctsr_native.solver` BEFORE the first load (the sequence that crashed 8 of 8), then load
#   sequential      the baseline on llama-cpp-python's high-level Llama
#   solve P=1, P=4  `mctsr solve` (2 rollouts, small token caps)
#   info            `mctsr info` (what a bug report needs)
#   bench           the generation and solve benchmark groups (benchmarks/bench_generation.py, bench_solve.py), the
#                   per-token overhead groups (bench_per_token.py) and the solve overhead groups (bench_overhead.py:
#                   4 rollouts at P = 1, and 8 rollouts at P = 4 with default caps), then for each model issue 11's
#                   overhead table (benchmarks/overhead_table.py: wall, inside llama_decode, outside share,
#                   generated tokens, tokens/s; batched generate N=8 against one-by-one high-level calls)
# and prints one table (model, check, exit status, seconds). Exit status 1 when any check failed.
#
# Usage: bash scripts/gpu-check.sh [--cpu] [--sdist ARCHIVE.tar.gz | ARCHIVE.tar.gz] [--gpu-kit DIR] [--synth PATH.gguf]
#   --overhead    issue 11 only (a short GPU lease): the synthetic model alone, no crash probes, and only the
#                 benchmarks of the overhead table (bench_per_token.py, the solve overhead groups, generate N=8,
#                 overhead: generate)
#   --cpu         no GPU: skip the CUDA build, n_gpu_layers 0, a small synthetic file (2 layers, 128k vocabulary)
#                 and the benchmarks in quick mode. Checks the script itself on any machine.
#   --sdist       a local llama-cpp-python source archive (offline GPU machine; ../shared/tools/llama-sdist-slim.sh)
#   --gpu-kit     the gpu-kit folder (synth_llama3.py, smollm2_tok.json.gz) or a carried copy of it
#                 [default: $GPU_KIT, else ../shared/tools/gpu-kit beside the checkout]
#   --synth       use this synthetic GGUF instead of writing one (it is written in parallel with the build)
# Environment:
#   PYTHON       interpreter with this package, pytest-benchmark, gguf, cmake, scikit-build-core [.venv/bin/python]
# The CUDA build includes llama.cpp's FlashAttention kernels: -DGGML_CUDA_FA=on (the vendored llama.cpp's default,
# stated so that nobody turns it off to save build time: the engine asks for flash_attn="auto"). Its time is printed.
#   CUDA_ARCH    CMAKE_CUDA_ARCHITECTURES [native]; CUDA_EXTRA extra CMake arguments (e.g. -DGGML_CUDA_FA=off)
#   SKIP_BUILD=1 llama-cpp-python is already built with CUDA
#   BENCH_ARGS   extra pytest arguments for the benchmarks (e.g. "-k 'N=8 or P=1'"); BENCH_QUICK=1 quick mode
#                (each benchmark once, untimed: the paths without the figures; keeps a short GPU lease short)
#   CHECK_TIMEOUT seconds per check [300]; BENCH_TIMEOUT seconds per benchmark run [2 x CHECK_TIMEOUT]
#   OUT          folder for the synthetic file and logs [.benchmarks/gpu-check/DATE]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
version=0.3.36
cpu=0 overhead=0 sdist="" kit=${GPU_KIT:-../shared/tools/gpu-kit} synth=""
while (($#)); do
  case $1 in
    --cpu) cpu=1 ;;
    --overhead) overhead=1 ;;
    --sdist) sdist=$2; shift ;;
    --gpu-kit) kit=$2; shift ;;
    --synth) synth=$2; shift ;;
    *.tar.gz|*.zip) sdist=$1 ;;  # the old positional form: a source archive
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
out=${OUT:-.benchmarks/gpu-check/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
limit=${CHECK_TIMEOUT:-300}
bench_limit=${BENCH_TIMEOUT:-$((2 * limit))}

threads=0  # 0 = all cores
if ((cpu)); then
  layers=0
  threads=1  # a shared CPU: llama.cpp's spinning threads slow down many times over when cores are contended
  synth_args=(--layers 2 --dim 256 --ff 512 --heads 4 --kv-heads 2)  # 128k vocabulary, near-free layers
else
  layers=-1
  synth_args=()
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: no NVIDIA GPU visible (nvidia-smi): run this on a machine with one, or pass --cpu" >&2
    exit 2
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

# The synthetic file: written in the background while llama-cpp-python compiles.
synth_pid=""
if [[ -z $synth ]]; then
  synth=$out/synthetic-llama3-8b-shape.gguf
  ((cpu)) && synth=$out/synthetic-llama3-vocab-proxy.gguf
  if [[ ! -f $kit/synth_llama3.py || ! -f $kit/smollm2_tok.json.gz ]]; then
    echo "gpu-check: no gpu-kit at $kit (synth_llama3.py, smollm2_tok.json.gz): pass --gpu-kit DIR or --synth FILE" >&2
    exit 2
  fi
  "$PY" "$kit/synth_llama3.py" "$synth" --tok "$kit/smollm2_tok.json.gz" "${synth_args[@]}" >"$out/synth.log" 2>&1 &
  synth_pid=$!
elif [[ ! -f $synth ]]; then
  echo "gpu-check: no such GGUF: $synth" >&2
  exit 2
fi

if ((!cpu)) && [[ ${SKIP_BUILD:-0} != 1 ]]; then
  src="llama-cpp-python==$version"
  offline=()
  if [[ -n $sdist ]]; then
    [[ -f $sdist ]] || { echo "gpu-check: no such source archive: $sdist" >&2; exit 2; }
    src=$sdist
    offline=(--no-index)
  fi
  echo "gpu-check: building llama-cpp-python from $src with CUDA and FlashAttention kernels (log in $out/build.log)"
  build_t0=$SECONDS
  # shellcheck disable=SC2086
  CMAKE_ARGS="-DGGML_CUDA=on -DGGML_CUDA_FA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native} ${CUDA_EXTRA:-}" FORCE_CMAKE=1 \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$PY" -m pip install -q --no-build-isolation --no-deps --force-reinstall --no-cache-dir "${offline[@]}" "$src" \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; echo "gpu-check: the CUDA build failed" >&2; exit 1; }
  echo "gpu-check: CUDA build took $((SECONDS - build_t0)) s on $(nproc) cores" | tee -a "$out/build.log"
fi
if ((!cpu)); then
  "$PY" -c 'import sys, llama_cpp; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else
    "gpu-check: this llama-cpp-python cannot offload to a GPU (built without CUDA?)")' || exit 1
fi
if [[ -n $synth_pid ]]; then
  wait "$synth_pid" || { cat "$out/synth.log"; echo "gpu-check: writing the synthetic GGUF failed" >&2; exit 1; }
  tail -1 "$out/synth.log"
fi

default_model=$("$PY" -c 'from mctsr_native.models import default_model_path; print(default_model_path())') || exit 1

# One probe = one fresh interpreter. $1: what to run; $2: the GGUF.
probe_code() {
  case $1 in
    load-c-api) cat <<'EOF'
import ctypes, os, sys
import llama_cpp.llama_cpp as L
L.llama_backend_init()
p = L.llama_model_default_params(); p.n_gpu_layers = int(sys.argv[2])
m = L.llama_model_load_from_file(os.fsencode(sys.argv[1]), p)
assert m, "llama_model_load_from_file returned NULL"
c = L.llama_init_from_model(m, L.llama_context_default_params())
assert c, "llama_init_from_model returned NULL"
L.llama_free(c); L.llama_model_free(m)
print("loaded and freed through the C API")
EOF
    ;;
    open_backend|solver-first|sequential) cat <<EOF
import sys
if "$1" == "solver-first":
    import mctsr_native.solver  # noqa: F401  (the import order that preceded the CUDA crash)
from mctsr_native import open_backend
from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams
mode = "sequential" if "$1" == "sequential" else "batched"
b = open_backend(sys.argv[1], mode=mode, n_gpu_layers=int(sys.argv[2]), n_ctx=2048, n_threads=int(sys.argv[3]) or None)
reqs = [GenerationRequest(messages=[Message(role="user", content="What is 12 times 7?")],
                          params=SamplingParams(max_tokens=16, temperature=0.0), n=1) for _ in range(2)]
for r in b.generate(reqs):
    r.raise_for_error()
    print(repr(r.completions[0].text[:60]), r.completions[0].generated_tokens, "tokens")
b.close()
EOF
    ;;
  esac
}

rows=()
failed=0
run_check() {  # name, model label, log file, command...
  local name=$1 label=$2 log=$3; shift 3
  local t0=$SECONDS rc seconds=${CHECK_LIMIT:-$limit}
  MCTSR_LLAMA_VERBOSE=1 PYTHONFAULTHANDLER=1 timeout "$seconds" "$@" >"$log" 2>&1
  rc=$?
  local verdict=ok
  case $rc in
    0) ;;
    124) verdict="TIMEOUT (${seconds}s)" ;;
    139) verdict="SIGSEGV" ;;
    134) verdict="SIGABRT" ;;
    *) verdict="FAILED" ;;
  esac
  ((rc == 0)) || failed=1
  rows+=("$(printf '%-10s %-14s %4s %6ss  %-16s %s' "$label" "$name" "$rc" "$((SECONDS - t0))" "$verdict" "$log")")
  printf 'gpu-check: %-10s %-14s %s\n' "$label" "$name" "$verdict"
}

threads_arg=()
((threads)) && threads_arg=(--threads "$threads")
problem="Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. She sells the rest for \$2 each. How much does she make every day?"
bench_mode=(--benchmark-only --benchmark-group-by=group)
[[ ${BENCH_QUICK:-$cpu} == 1 ]] && bench_mode=(--benchmark-disable)
labels=(default synthetic)
bench_files=(benchmarks/bench_generation.py benchmarks/bench_solve.py benchmarks/bench_per_token.py
             benchmarks/bench_overhead.py::test_solve_overhead)
bench_select=()
if ((overhead)); then
  labels=(synthetic)
  bench_files=(benchmarks/bench_per_token.py benchmarks/bench_overhead.py::test_solve_overhead
               benchmarks/bench_generation.py)
  bench_select=(-k "per_token or solve_overhead or N=8 or generate_overhead")
fi
for label in "${labels[@]}"; do
  model=$default_model
  [[ $label == synthetic ]] && model=$synth
  for check in load-c-api open_backend solver-first sequential; do
    ((overhead)) && break
    run_check "$check" "$label" "$out/$label-$check.log" "$PY" -X faulthandler -c "$(probe_code "$check")" "$model" "$layers" "$threads"
  done
  for p in 1 4; do
    ((overhead)) && break
    run_check "solve P=$p" "$label" "$out/$label-solve-P$p.log" "$PY" -X faulthandler -m mctsr_native.cli solve \
      --model "$model" --n-gpu-layers "$layers" "${threads_arg[@]}" --n-ctx 4096 --rollouts 2 --parallel "$p" --quiet \
      --answer-max-tokens 48 --critique-max-tokens 32 --refine-max-tokens 48 --reward-max-tokens 24 \
      --json "$out/$label-solve-P$p.json" "$problem"
  done
  [[ $label == default ]] && run_check "info" "-" "$out/info.log" "$PY" -m mctsr_native.cli info
  # shellcheck disable=SC2086
  CHECK_LIMIT=$bench_limit MCTSR_MODEL=$model MCTSR_BENCH_SYNTH=$synth MCTSR_BENCH_GPU_LAYERS=$layers \
    run_check "bench" "$label" "$out/$label-bench.log" "$PY" -X faulthandler -m pytest "${bench_files[@]}" \
    "${bench_select[@]}" -q -s -p no:cacheprovider "${bench_mode[@]}" --benchmark-json="$out/$label-bench.json" \
    ${BENCH_ARGS:-}
  if [[ ${bench_mode[0]} == --benchmark-only && -s $out/$label-bench.json ]]; then
    "$PY" benchmarks/ratios.py "$out/$label-bench.json" >"$out/$label-ratios.txt" 2>&1 && cat "$out/$label-ratios.txt"
    echo
    echo "gpu-check: overhead table, $label model, $( ((cpu)) && echo CPU || nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    "$PY" benchmarks/overhead_table.py "$out/$label-bench.json" | tee "$out/$label-overhead.md"
  fi
done

echo
echo "gpu-check: $( ((cpu)) && echo "CPU mode (n_gpu_layers 0)" || echo "CUDA, n_gpu_layers -1"); logs in $out"
printf '%-10s %-14s %4s %7s  %-16s %s\n' model check rc time verdict log
printf '%s\n' "${rows[@]}"
exit $failed
