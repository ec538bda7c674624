#!/usr/bin/env bash
# The GPU check (issue 24), in one call on a GPU machine with no network: builds llama-cpp-python with CUDA for the
# local GPU, writes the synthetic Llama-3-8B GGUF (exact shapes, Q4_K_M types, random weights) in parallel, then
# runs its checks, each in a fresh process with a timeout, most important first, and prints ONE table:
#   build      the CUDA wheel (its time), the wheels, this package, the synthetic file
#   load       the CUDA load crash's suspects, one changed per probe from the engine's old settings (n_gpu_layers -1
#              vs INT32_MAX, load_mode AUTO vs mmap, our log sink vs llama-cpp-python's vs llama.cpp's default, the
#              package imported first or not), then every real load path (our engine, Llama(...), the sequential
#              baseline; scripts/gpu_probe.py); `mctsr info`; compute-sanitizer on the old settings when the host
#              has it; `mctsr solve` at P = 1 and P = 4
#   overhead   issue 11's figures on the synthetic 8B file: share of wall time outside llama_decode for an
#              8-rollout solve at P = 4 and P = 1 (default caps; their wall time is the solve seconds) and for an
#              8-sequence generate; batched vs one-by-one generate at 8 sequences (benchmarks/bench_overhead.py,
#              bench_generation.py); then the solve groups of bench_solve.py if time is left (not in the dry run)
# and the suspect the load probes point at. Exit status: 2 on bad input (one line, before any long work), 1 when a
# check failed, 0 otherwise.
#
# Usage: bash scripts/gpu-check.sh --wheelhouse DIR [--build-only] [--wheel FILE] [--deadline S] [--out DIR]
#        bash scripts/gpu-check.sh --dry-run [--wheelhouse DIR] [--gpu-kit DIR] [--out DIR]
#   --wheelhouse  the folder scripts/gpu-wheelhouse.sh made (wheels, the slimmed llama-cpp-python source, the
#                 gpu-kit, MANIFEST.sha256); it must travel with the call (an ignored folder named in `carry`)
#   --build-only  stop after the CUDA build (and the wheels, this package, the synthetic file); a later call
#                 reuses the build
#   --wheel FILE  install this CUDA wheel of llama-cpp-python instead of building one. Without it, a wheel built
#                 by an earlier call on this machine is reused when the source, the CMake arguments, nvcc and the GPU
#                 are the same; a build cut short by its timeout resumes where it stopped (its build folder stays)
#   --deadline S  seconds from the start after which no check starts; those left are "not run (deadline)" and the
#                 table is still printed [540: one device call of at most 10 minutes, with room to spare]
#   --out DIR     logs, benchmark JSONs and the table [$OUT on the device machine: there only table.md, rows.tsv and
#                 logs.tar.gz are written, since 8 files come back; else .benchmarks/gpu-check/DATE]
#   --dry-run     everything except the CUDA build and GPU offload: the installed CPU build (.venv), n_gpu_layers 0,
#                 the 128k-vocabulary proxy (2 layers of width 256) instead of the 8B file, the same probes, the same
#                 benchmark selections in quick sizes, the same table. tests/test_gpu_check.py runs it in CI. Without
#                 a gpu-kit it runs the checks on the default model and says what it skipped.
#   --gpu-kit DIR synth_llama3.py and smollm2_tok.json.gz [the wheelhouse's gpu-kit, $GPU_KIT, else
#                 shared/tools/gpu-kit beside the checkout or a folder above it]
#   --synth FILE  use this GGUF instead of writing the synthetic one
#   --only load|overhead  run only the load checks, or only the benchmarks (a second call on a warm machine whose
#                 first call ran out of time: the build, the wheels and the synthetic file are reused)
# Environment: PYTHON [python3; .venv/bin/python for --dry-run]; CUDA_ARCH [native]; CUDA_EXTRA more CMake
# arguments; FA_QUANTS FlashAttention K-V type pairs to compile [f16-f16: the engine's KV cache is f16];
# BUILD_TIMEOUT [480]; PROBE_TIMEOUT per probe [90]; GPU_CACHE the build cache [.gpu-cache, ignored, never carried:
# a warm machine keeps it between calls].
# The CUDA build: -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native -DGGML_CUDA_FA=on (llama.cpp's FlashAttention
# kernels: the engine asks for flash_attn="auto"), LLAVA, NCCL, tests, examples, tools and the server off, Ninja,
# CMAKE_BUILD_PARALLEL_LEVEL=$(nproc). No apt, no scripts/setup.sh, no default model, no network.
set -uo pipefail
version=0.3.36
wheelhouse="" wheel="" dry=0 build_only=0 deadline=540 out_dir="" kit="" synth="" only=""
while (($#)); do
  case $1 in
    --wheelhouse) wheelhouse=${2:?}; shift ;;
    --wheel) wheel=${2:?}; shift ;;
    --build-only) build_only=1 ;;
    --dry-run) dry=1 ;;
    --deadline) deadline=${2:?}; shift ;;
    --out) out_dir=${2:?}; shift ;;
    --gpu-kit) kit=${2:?}; shift ;;
    --synth) synth=${2:?}; shift ;;
    --only) only=${2:?}; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "gpu-check: $*" >&2; exit 2; }
abs() { [[ -z $1 ]] || realpath -m -- "$1"; }  # paths given on the command line are the caller's
wheelhouse=$(abs "$wheelhouse") wheel=$(abs "$wheel") out_dir=$(abs "$out_dir") kit=$(abs "$kit") synth=$(abs "$synth")
[[ -z ${GPU_CACHE:-} ]] || GPU_CACHE=$(abs "$GPU_CACHE")
[[ $deadline =~ ^[0-9]+$ ]] || die "--deadline takes whole seconds, not $deadline"
[[ -z $only || $only == load || $only == overhead ]] || die "--only takes load or overhead, not $only"
cd "$(dirname "$0")/.."
started=$(date +%s)
deadline_at=$((started + deadline))
# ----- bad input: one line each, before any long work ------------------------------------------------------------
if ((dry)); then
  PY=${PYTHON:-.venv/bin/python}
else
  PY=${PYTHON:-python3}
  [[ -n $wheelhouse ]] || die "no --wheelhouse DIR: make one with scripts/gpu-wheelhouse.sh where PyPI is reachable"
fi
if [[ -n $wheelhouse ]]; then
  [[ -f $wheelhouse/MANIFEST.sha256 ]] || die "$wheelhouse has no MANIFEST.sha256: not a folder of scripts/gpu-wheelhouse.sh"
  need=("gpu-kit/synth_llama3.py" "gpu-kit/smollm2_tok.json.gz" "llama_cpp_python-$version-slim.tar.gz")
  for f in "${need[@]}"; do
    grep -q "  $f\$" "$wheelhouse/MANIFEST.sha256" ||
      die "$wheelhouse/MANIFEST.sha256 does not list $f: make the wheelhouse again"
  done
  while read -r _ f; do
    [[ -f $wheelhouse/$f ]] || die "$wheelhouse lacks $f (listed in its MANIFEST.sha256): make the wheelhouse again"
  done <"$wheelhouse/MANIFEST.sha256"
  bad=$(cd "$wheelhouse" && sha256sum -c --quiet MANIFEST.sha256 2>/dev/null | head -1)
  [[ -z $bad ]] || die "$wheelhouse does not match its MANIFEST.sha256 ($bad): make the wheelhouse again"
  [[ -n $kit ]] || kit=$wheelhouse/gpu-kit
fi
if ((!dry)); then
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU" ||
    die "no NVIDIA GPU visible (nvidia-smi -L lists none): run this on a GPU machine, or pass --dry-run"
  nvcc=${NVCC:-$(command -v nvcc || true)}
  [[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
  [[ -n $wheel || -n $nvcc && -x $nvcc ]] ||
    die "no nvcc (CUDA's compiler) on PATH or in /usr/local/cuda/bin: the CUDA build needs it (or pass --wheel FILE)"
  [[ -z $wheel || -f $wheel ]] || die "no such wheel: $wheel"
  [[ -n $nvcc ]] && export PATH="$(dirname "$nvcc"):$PATH"
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || die "$PY is not a Python >= 3.10"
[[ -z $synth || -f $synth ]] || die "no such GGUF: $synth"
if [[ -z $kit ]]; then
  kit=${GPU_KIT:-}
  d=$(pwd)
  while [[ -z $kit && $d != / ]]; do
    d=$(dirname "$d")
    [[ -f $d/shared/tools/gpu-kit/synth_llama3.py ]] && kit=$d/shared/tools/gpu-kit
  done
fi
has_kit=0
[[ -n $kit && -f $kit/synth_llama3.py && -f $kit/smollm2_tok.json.gz ]] && has_kit=1
((dry || has_kit)) || [[ -n $synth ]] || die "no gpu-kit at ${kit:-?}: pass --gpu-kit DIR or --synth FILE"

# ----- where things go -------------------------------------------------------------------------------------------
cache=${GPU_CACHE:-.gpu-cache}
mkdir -p "$cache" && cache=$(cd "$cache" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)
if [[ -n ${OUT:-} && -z $out_dir ]]; then
  logs=$cache/logs-$stamp result=$OUT   # the device machine: only a few files come back from $OUT
else
  logs=${out_dir:-.benchmarks/gpu-check/$stamp} result=${out_dir:-.benchmarks/gpu-check/$stamp}
fi
mkdir -p "$logs" "$result"
rows=$result/rows.tsv
: >"$rows"
row() {  # section check settings result seconds log
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >>"$rows"
  printf 'gpu-check: %-8s %-28s %s\n' "$1" "$2" "$4"
}
left() { echo $((deadline_at - $(date +%s))); }
limit_for() {  # most seconds a phase may take: min(its own limit, time to the deadline); fails under $2 seconds
  local l; l=$(left)
  ((l > $1)) && l=$1
  ((l >= ${2:-20})) && echo "$l"
}
verdict() {  # exit status, limit -> words
  case $1 in
    0) echo pass ;;
    124|137) echo "timeout ($2 s)" ;;
    5) echo "failed (the selection collected no test)" ;;
    *) if (($1 > 128)); then echo "crash ($(kill -l $(($1 - 128)) 2>/dev/null || echo signal $(($1 - 128))))"
       else echo "failed (exit $1)"; fi ;;
  esac
}

# ----- set-up: wheels, this package, the synthetic file, the CUDA build ------------------------------------------
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
site=$cache/site
if [[ -n $wheelhouse ]]; then
  t0=$SECONDS
  rm -rf "$site" && mkdir -p "$site"
  if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheelhouse"/wheels/*.whl \
      >"$logs/wheels.log" 2>&1; then
    row build wheels "$wheelhouse/wheels" "failed (see log)" $((SECONDS - t0)) "$logs/wheels.log"
    die "installing the wheels failed: $logs/wheels.log"
  fi
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
  row build wheels "$(ls "$wheelhouse"/wheels | wc -l) wheels, --no-index --target" ok $((SECONDS - t0)) "$logs/wheels.log"
else
  row build wheels "no wheelhouse given" "skipped (the installed packages)" 0
fi

if ((dry)); then
  ngl=0 threads=1
  proxy=(--layers 2 --dim 256 --ff 512 --heads 4 --kv-heads 2)   # benchmarks/conftest.py's PROXY_SHAPE
  synth_out=.benchmarks/models/llama3-vocab-proxy.gguf          # the file the benchmarks' proxy fixture writes
else
  ngl=-1 threads=0 proxy=()
  synth_out=$cache/models/synthetic-llama3-8b-shape.gguf
fi
synth_pid=""
if [[ -z $synth ]] && ((has_kit)); then
  synth=$synth_out
  if [[ ! -f $synth ]]; then
    mkdir -p "$(dirname "$synth")"
    ( t0=$SECONDS; "$PY" "$kit/synth_llama3.py" "$synth.part" --tok "$kit/smollm2_tok.json.gz" "${proxy[@]}" \
        >"$logs/synth.log" 2>&1 && mv "$synth.part" "$synth" && echo "$((SECONDS - t0))" >"$logs/synth.seconds" ) &
    synth_pid=$!
  else
    row build "synthetic GGUF" "$(basename "$synth")" "reused ($(du -h "$synth" | cut -f1))" 0
  fi
elif [[ -z $synth ]]; then
  row build "synthetic GGUF" "no gpu-kit" \
    "skipped: the checks run on the default model (GPU_KIT or --gpu-kit for the synthetic file)" 0
fi

proj_pid=""
if ((!dry)); then   # this package, built against the image's Python (its C++ core: about 20 s)
  proj=$cache/site-proj
  rm -rf "$proj"
  ( t0=$SECONDS; "$PY" -m pip install -q --no-build-isolation --no-deps --no-index --no-compile --target "$proj" . \
      >"$logs/package.log" 2>&1 && echo "$((SECONDS - t0))" >"$logs/package.seconds" ) &
  proj_pid=$!
fi

llama_site=""
if ((dry)); then
  installed=$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>&1)
  row build "CUDA wheel" "dry run" "skipped (dry run: the installed CPU build, $installed)" 0
else
  cuda_args="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native} -DGGML_CUDA_FA=on -DGGML_CUDA_FA_ALL_QUANTS=off"
  cuda_args+=" -DGGML_CUDA_FA_QUANTS=${FA_QUANTS:-f16-f16} -DGGML_CUDA_NCCL=off -DGGML_CUDA_COMPRESSION_MODE=speed -DLLAVA_BUILD=off"
  cuda_args+=" -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off -DLLAMA_BUILD_TOOLS=off -DLLAMA_BUILD_SERVER=off ${CUDA_EXTRA:-}"
  sdist=$wheelhouse/llama_cpp_python-$version-slim.tar.gz
  gpu=$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader | head -1)
  if [[ -z $wheel ]]; then   # a wheel built by an earlier call is reused when all of this is the same
    key=$(printf '%s\n' "$(sha256sum "$sdist" | cut -d' ' -f1)" "$cuda_args" "$("$nvcc" --version | tail -2)" "$gpu" |
      sha256sum | cut -c1-16)
    cached=$(ls "$cache/wheel-$key"/llama_cpp_python-*.whl 2>/dev/null | head -1)
    if [[ -n $cached ]]; then
      wheel=$cached
      row build "CUDA wheel" "$gpu; $cuda_args" "reused (built $(cat "$cache/wheel-$key/seconds") s by an earlier call)" 0
    elif lim=$(limit_for "${BUILD_TIMEOUT:-480}" 60); then
      src=$cache/src/llama_cpp_python-$version
      if [[ ! -f $src/.from-$key ]]; then
        rm -rf "$cache/src" && mkdir -p "$cache/src" && tar xzf "$sdist" -C "$cache/src" && touch "$src/.from-$key"
      fi
      echo "gpu-check: building llama-cpp-python $version with CUDA for $gpu on $(nproc) cores (limit $lim s; log $logs/build.log)"
      generator=()
      command -v ninja >/dev/null && generator=(CMAKE_GENERATOR=Ninja)
      rm -rf "$cache/wheel-new"
      t0=$SECONDS
      # SKBUILD_BUILD_DIR: scikit-build-core's build-dir, kept between calls, so a build cut short resumes.
      env "${generator[@]}" CUDACXX="$nvcc" CMAKE_ARGS="$cuda_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        SKBUILD_BUILD_DIR="$cache/llama-build-$key" \
        timeout "$lim" "$PY" -m pip wheel -v --no-build-isolation --no-deps --no-index -w "$cache/wheel-new" \
        "$src" >"$logs/build.log" 2>&1
      rc=$? secs=$((SECONDS - t0))
      if ((rc == 0)); then
        rm -rf "$cache/wheel-$key" && mv "$cache/wheel-new" "$cache/wheel-$key" && echo "$secs" >"$cache/wheel-$key/seconds"
        wheel=$(ls "$cache/wheel-$key"/llama_cpp_python-*.whl | head -1)
        row build "CUDA wheel" "$gpu; $cuda_args" "built in $secs s on $(nproc) cores" "$secs" "$logs/build.log"
        echo "gpu-check: CUDA build took $secs s on $(nproc) cores"
      else
        tail -20 "$logs/build.log"
        row build "CUDA wheel" "$gpu; $cuda_args" "$(verdict $rc "$lim"): run the same command again to resume the build" "$secs" "$logs/build.log"
      fi
    else
      row build "CUDA wheel" "$gpu" "not run (deadline)" 0
    fi
  else
    row build "CUDA wheel" "--wheel" "reused ($(basename "$wheel"))" 0
  fi
  if [[ -n $wheel ]]; then
    llama_site=$cache/site-llama
    rm -rf "$llama_site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$llama_site" "$wheel" >"$logs/llama-install.log" 2>&1 ||
      { row build "CUDA wheel install" "$wheel" "failed (see log)" 0 "$logs/llama-install.log"; llama_site=""; }
  fi
fi

# The background jobs: this package and the synthetic file.
ready=1
if [[ -n $proj_pid ]]; then
  if wait "$proj_pid"; then
    row build "this package" "pip --no-build-isolation --target" ok "$(cat "$logs/package.seconds")" "$logs/package.log"
    export PYTHONPATH=$proj:$PYTHONPATH
  else
    row build "this package" "pip --no-build-isolation --target" "failed (see log)" 0 "$logs/package.log"; ready=0
  fi
fi
if [[ -n $synth_pid ]]; then
  if wait "$synth_pid"; then
    row build "synthetic GGUF" "$(basename "$synth")" "written ($(du -h "$synth" | cut -f1))" "$(cat "$logs/synth.seconds")" "$logs/synth.log"
  else
    row build "synthetic GGUF" "$(basename "$synth")" "failed (see log)" 0 "$logs/synth.log"; ready=0
  fi
fi
if ((!dry)); then
  if [[ -n $llama_site ]]; then
    export PYTHONPATH=$PYTHONPATH:$llama_site
    "$PY" -c 'import sys, llama_cpp; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' >>"$logs/llama-install.log" 2>&1 &&
      row build "GPU offload" "llama_supports_gpu_offload()" pass 0 ||
      { row build "GPU offload" "llama_supports_gpu_offload()" "failed (built without CUDA?)" 0 "$logs/llama-install.log"; ready=0; }
  else
    ready=0
  fi
fi

report() {
  local title
  if ((dry)); then
    title="gpu-check --dry-run: CPU ($(nproc) cores), n_gpu_layers 0, model $(basename "${model:-none}")"
  else
    title="gpu-check: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
    title+="; $(nproc) cores; model $(basename "${model:-none}"); n_gpu_layers -1"
  fi
  title+="; $(date -u +%Y-%m-%dT%H:%MZ); $(( $(date +%s) - started )) s"
  echo
  "$PY" scripts/gpu_check_report.py --rows "$rows" --bench "$logs"/bench-*.json --title "$title" --out "$result/table.md"
  local rc=$?
  if [[ -n ${OUT:-} && -z $out_dir ]]; then
    tar czf "$OUT/logs.tar.gz" -C "$(dirname "$logs")" "$(basename "$logs")" 2>/dev/null
  fi
  echo "gpu-check: table in $result/table.md, logs in $logs"
  return $rc
}
if ((build_only)) || ((!ready)); then
  ((ready)) || echo "gpu-check: the set-up failed or was cut short: no checks run (see the table)"
  report
  rc=$?
  ((ready)) || rc=1
  exit $rc
fi

# ----- the checks, most important first ---------------------------------------------------------------------------
if [[ -n $synth ]]; then model=$synth; else model=$("$PY" -c 'from mctsr_native.models import default_model_path as d; print(d())'); fi
export MCTSR_LLAMA_VERBOSE=1 PYTHONFAULTHANDLER=1

want() { [[ -z $only || $only == "$1" ]]; }  # --only
if want load; then
  all=()
  ((dry)) || [[ ${PROBE_ALL:-0} == 1 ]] && all=(--all)   # the dry run runs every probe, so that none can rot
  "$PY" scripts/gpu_probe.py suite "$model" --rows "$rows" --logs "$logs" --n-gpu-layers "$ngl" --threads "$threads" \
    --timeout "${PROBE_TIMEOUT:-90}" --deadline "$deadline_at" "${all[@]}"
  if lim=$(limit_for 60 10); then
    t0=$SECONDS
    timeout "$lim" "$PY" -m mctsr_native.cli info --json >"$logs/info.json" 2>"$logs/info.log"
    rc=$?
    summary=$("$PY" scripts/gpu_check_report.py --info "$logs/info.json" 2>/dev/null)
    row load "mctsr info" "${summary:-?}" "$(verdict $rc "$lim")" $((SECONDS - t0)) "$logs/info.log"
  else
    row load "mctsr info" "" "not run (deadline)" 0
  fi
else
  row load "load checks" "" "skipped (--only $only)" 0
fi

bench() {  # name, figures expected, seconds at most, extra env (space-separated K=V or -), pytest arguments...
  local name=$1 want=$2 max=$3 extra=$4 lim rc got json log t0; shift 4
  json=$logs/bench-$(echo "$name" | tr -c 'a-zA-Z0-9=\n' '_').json log=${json%.json}.log
  if ! lim=$(limit_for "$max" 30); then row bench "$name" "$*" "not run (deadline)" 0; return; fi
  t0=$SECONDS
  # llama.cpp's log stays quiet here: a figure must not time our log sink
  local envs=(MCTSR_MODEL="$model" MCTSR_BENCH_SYNTH="$model" MCTSR_BENCH_GPU_LAYERS="$ngl" MCTSR_LLAMA_VERBOSE=0)
  ((dry)) && envs+=(MCTSR_BENCH_QUICK=1 MCTSR_BENCH_THREADS=1)
  [[ $extra != - ]] && envs+=($extra)
  env "${envs[@]}" timeout "$lim" "$PY" -X faulthandler -m pytest "$@" -q -s -p no:cacheprovider --benchmark-only \
    --benchmark-group-by=group --benchmark-json="$json" >"$log" 2>&1
  rc=$?
  local result; result=$(verdict $rc "$lim")
  if ((rc == 0)); then
    got=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["benchmarks"]))' "$json" 2>/dev/null || echo 0)
    ((got >= want)) || result="failed ($got of $want figures: a test skipped, see log)"
  fi
  row bench "$name" "pytest $*" "$result" $((SECONDS - t0)) "$log"
}
if want overhead; then   # issue 11's figures, the goal's group first
  bench "solve 8 rollouts P=4" 1 200 MCTSR_BENCH_ROUNDS=1 benchmarks/bench_overhead.py::test_solve_overhead -k r8_p4
  bench "generate N=8" 2 150 - benchmarks/bench_generation.py::test_generate_tokens_per_second -k "8-ours or 8-baseline"
  bench "overhead: generate" 1 90 - benchmarks/bench_generation.py::test_generate_overhead
  bench "solve 8 rollouts P=1" 1 200 MCTSR_BENCH_ROUNDS=1 benchmarks/bench_overhead.py::test_solve_overhead -k r8_p1
else
  row bench "benchmarks" "" "skipped (--only $only)" 0
fi

if want load; then   # the extras of the load checks
  "$PY" scripts/gpu_probe.py sanitizer "$model" --rows "$rows" --logs "$logs" --n-gpu-layers "$ngl" --threads "$threads" \
    --timeout 150 --deadline "$deadline_at"

  problem="Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. She sells the rest for \$2 each. How much does she make every day?"
  threads_arg=()
  ((threads)) && threads_arg=(--threads "$threads")
  rollouts=2
  ((dry)) && rollouts=1   # the same path, less of it on a shared CPU
  for p in 1 4; do
    if ! lim=$(limit_for 120 20); then row load "mctsr solve P=$p" "" "not run (deadline)" 0; continue; fi
    t0=$SECONDS
    timeout "$lim" "$PY" -X faulthandler -m mctsr_native.cli solve --model "$model" --n-gpu-layers "$ngl" "${threads_arg[@]}" \
      --n-ctx 4096 --rollouts "$rollouts" --parallel "$p" --quiet --answer-max-tokens 48 --critique-max-tokens 32 \
      --refine-max-tokens 48 --reward-max-tokens 24 --json "$logs/solve-P$p.json" "$problem" >"$logs/solve-P$p.log" 2>&1
    rc=$?
    row load "mctsr solve P=$p" "CLI, rollouts $rollouts, small caps" "$(verdict $rc "$lim")" $((SECONDS - t0)) "$logs/solve-P$p.log"
  done
fi
if ((dry)); then   # the slowest selection on a shared CPU; scripts/test.sh runs it in quick mode anyway
  want overhead && row bench "solve P=1, P=4 vs sequential" "pytest benchmarks/bench_solve.py" \
    "skipped (dry run: scripts/test.sh runs bench_solve.py in quick mode)" 0
else
  want overhead && bench "solve P=1, P=4 vs sequential" 4 240 MCTSR_BENCH_ROUNDS=1 benchmarks/bench_solve.py
fi

report
