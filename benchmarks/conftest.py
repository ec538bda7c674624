"""Shared set-up of the benchmark suite: collection of `bench_*.py`, the side-by-side naming convention, quick
mode, and the loaded model backends (session scope, so loading a model is never timed).

The naming convention (each comparison is one group; `extra_info["side"]` is "ours" or "baseline") is
defined, written (`mark_side`) and read in `benchmarks/ratios.py`, so that the writer and the reader of it
cannot drift apart.

Quick mode (`--benchmark-disable`, as CI runs the suite): pytest-benchmark runs each benchmark function once,
untimed, so the benchmarks shrink their model work (`quick` fixture) to stay fast and still exercise every
code path. `MCTSR_BENCH_QUICK=1` asks for the same small work while timing and saving it (the GPU check's dry
run: its table comes out of real, tiny runs). Model benchmarks use pedantic mode with few rounds
(`model_rounds`); a 135M model on 2 cores is slow enough that 1..3 rounds of a whole batch are a stable median.
`MCTSR_BENCH_ROUNDS=N` caps those rounds (a short GPU lease: one round of an 8B solve is the figure).

GPU: `MCTSR_BENCH_GPU_LAYERS` (default 0) is passed as `n_gpu_layers` to every backend (-1 = full offload;
see scripts/gpu-check.sh). `MCTSR_BENCH_THREADS` (default: all cores) is their `n_threads`: on a shared CPU one
thread keeps llama.cpp's spinning threads from stalling each other (the GPU check's dry run).

The synthetic Llama-3 model (`synthetic_model_path`): `MCTSR_BENCH_SYNTH` names a GGUF (gpu-check.sh passes the
Llama-3-8B-shape file); without it, a 128,256-token-vocabulary proxy with near-free layers is written once to
.benchmarks/models/ (git-ignored) by the gpu-kit's `synth_llama3.py`. The gpu-kit is not part of this repository
(its script carries no license, so it is not vendored): it is looked up at `$GPU_KIT`, else at
`shared/tools/gpu-kit` beside the checkout or beside any folder above it (where CI lays `shared/`); without
it, or without the `gguf` package, the benchmarks that need the file skip and say why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

GPU_LAYERS_ENV = "MCTSR_BENCH_GPU_LAYERS"
QUICK_ENV = "MCTSR_BENCH_QUICK"  # "1": quick-mode work sizes even when timed
ROUNDS_ENV = "MCTSR_BENCH_ROUNDS"  # most rounds of a model benchmark
THREADS_ENV = "MCTSR_BENCH_THREADS"  # n_threads of every backend (unset: all cores)
SYNTH_ENV = "MCTSR_BENCH_SYNTH"
GPU_KIT_ENV = "GPU_KIT"
ROOT = Path(__file__).resolve().parents[1]
PROXY = ROOT / ".benchmarks" / "models" / "llama3-vocab-proxy.gguf"
PROXY_SHAPE = ["--layers", "2", "--dim", "256", "--ff", "512", "--heads", "4", "--kv-heads", "2"]
N_CTX = 4096  # per backend: enough for 8 MCTSr prompts of the default model with their completions


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect `bench_*.py` (pytest only collects `test_*.py` by default). Files named on the command line are
    already collected by pytest itself."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def gpu_layers() -> int:
    """n_gpu_layers for every backend of the suite, from MCTSR_BENCH_GPU_LAYERS (0 = CPU only)."""
    return int(os.environ.get(GPU_LAYERS_ENV, "0") or 0)


@pytest.fixture(autouse=True)
def machine_load(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record how busy the machine was around each benchmark: llama.cpp's threads slow down many times over
    when other processes want the same cores, so a figure taken on a loaded machine is flagged, not trusted.
    extra_info: load_1min (load average when the benchmark started) and cpu_per_wall (this process's CPU
    seconds per wall second over the benchmark, ~ the cores it actually had)."""
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    yield
    wall = time.perf_counter() - t0
    bench = request.node.funcargs.get("benchmark")
    if bench is not None and wall > 0:
        bench.extra_info.update(load_1min=round(load, 2), cpu_per_wall=round((time.process_time() - c0) / wall, 2))


@pytest.fixture(scope="session")
def quick(request: pytest.FixtureRequest) -> bool:
    """True under --benchmark-disable (each benchmark runs once untimed) or $MCTSR_BENCH_QUICK=1: keep the model
    work tiny."""
    return bool(request.config.getoption("benchmark_disable", False)) or os.environ.get(QUICK_ENV) == "1"


@pytest.fixture(scope="session")
def model_rounds(quick: bool) -> Callable[[int], int]:
    """Rounds for a pedantic model benchmark: the given number (at most $MCTSR_BENCH_ROUNDS), or 1 in quick mode."""
    cap = int(os.environ.get(ROUNDS_ENV, "0") or 0)
    return lambda rounds: 1 if quick else max(1, min(rounds, cap)) if cap > 0 else rounds


@pytest.fixture(scope="session")
def backend_options() -> dict[str, Any]:
    """Options every model backend of the suite is opened with (same context, seed, offload and threads on both
    sides)."""
    threads = int(os.environ.get(THREADS_ENV, "0") or 0)
    return {"n_ctx": N_CTX, "seed": 0, "n_gpu_layers": gpu_layers(), **({"n_threads": threads} if threads else {})}


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    from mctsr_native.models import default_model_path as find

    return find()


def find_gpu_kit() -> Path | None:
    """The gpu-kit folder (synth_llama3.py and its tokenizer): $GPU_KIT, else shared/tools/gpu-kit beside the
    checkout or beside a folder above it."""
    wanted = ("synth_llama3.py", "smollm2_tok.json.gz")
    env = os.environ.get(GPU_KIT_ENV)
    places = [Path(env)] if env else [d / "shared" / "tools" / "gpu-kit" for d in ROOT.parents]
    return next((p for p in places if all((p / f).is_file() for f in wanted)), None)


def make_proxy_model(out: Path = PROXY) -> Path:
    """Write the 128k-vocabulary proxy (Llama-3's vocabulary, 2 layers of width 256) unless it exists. Raises
    FileNotFoundError naming what is missing."""
    if out.is_file():
        return out
    kit = find_gpu_kit()
    if kit is None:
        raise FileNotFoundError(
            f"no gpu-kit (synth_llama3.py, smollm2_tok.json.gz): set {GPU_KIT_ENV}=DIR, put shared/tools/gpu-kit "
            f"beside the checkout, or set {SYNTH_ENV}=FILE.gguf")
    try:
        import gguf  # noqa: F401  (the kit's one dependency beyond numpy)
    except ImportError as e:
        raise FileNotFoundError("the gguf package is missing: pip install -e '.[test]'") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part")
    subprocess.run([sys.executable, str(kit / "synth_llama3.py"), str(part), "--tok", str(kit / "smollm2_tok.json.gz"),
                    *PROXY_SHAPE], check=True, capture_output=True, timeout=300)
    part.replace(out)
    return out


@pytest.fixture(scope="session")
def synthetic_model_path() -> Path:
    """$MCTSR_BENCH_SYNTH, else the 128k-vocabulary CPU proxy (written on first use); skips when neither can be had."""
    env = os.environ.get(SYNTH_ENV)
    if env:
        return Path(env)
    try:
        return make_proxy_model()
    except FileNotFoundError as e:
        pytest.skip(f"synthetic Llama-3 model unavailable: {e}")


def _open(mode: str, options: dict[str, Any], **extra: Any) -> Any:
    from mctsr_native.generation import open_backend

    return open_backend(None, mode=mode, **options, **extra)


@pytest.fixture(scope="session")
def batched_backend(backend_options: dict[str, Any]) -> Iterator[Any]:
    """Our engine as shipped: one llama_batch for all sequences, shared-prefix KV reuse on."""
    backend = _open("batched", backend_options, prefix_cache=True)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def batched_no_reuse_backend(backend_options: dict[str, Any]) -> Iterator[Any]:
    """Our engine with the prefix cache off: batching alone."""
    backend = _open("batched", backend_options, prefix_cache=False)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def sequential_backend(backend_options: dict[str, Any]) -> Iterator[Any]:
    """The baseline: one request at a time through llama-cpp-python's create_chat_completion, no reuse."""
    backend = _open("sequential", backend_options)
    yield backend
    backend.close()
