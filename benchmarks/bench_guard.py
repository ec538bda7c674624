"""What the AMX load guard costs where it is not needed: generation speed with llama.cpp's extra CPU buffer
types turned off (the guard, forced with MCTSR_EXTRA_BUFTS=off) against llama.cpp's default, same run.

- `load guard: generate N=1|4`: generated tokens per second of one batched `generate()` of N greedy sequences
  (64-token cap, the solver's first-answer prompts, prefix cache off) on the engine loaded with the guard
  ("ours") and without it ("baseline"). On a CPU with AMX the baseline is the crash the guard prevents, so it
  is skipped there. One llama.cpp thread, and the rate is generated tokens per CPU second of this process:
  the work the weights' layout costs, unmoved by other processes on a shared machine (wall-clock tokens/s,
  `wall_rate`, is recorded beside it).

    pytest benchmarks/bench_guard.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from mctsr_native import hardware

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generation import answer_requests, per_round, timed_calls  # noqa: E402
from ratios import BASELINE, OURS, mark_side  # noqa: E402

pytestmark = pytest.mark.model

MAX_TOKENS = 64
ROUNDS = 3


def _open(setting: str, options: dict[str, Any]) -> Any:
    from mctsr_native.generation import open_backend

    old = os.environ.get(hardware.EXTRA_BUFTS_ENV)
    os.environ[hardware.EXTRA_BUFTS_ENV] = setting  # read once, when the model loads
    try:
        return open_backend(None, mode="batched", prefix_cache=False, **{**options, "n_threads": 1})
    finally:
        if old is None:
            del os.environ[hardware.EXTRA_BUFTS_ENV]
        else:
            os.environ[hardware.EXTRA_BUFTS_ENV] = old


@pytest.fixture(scope="module")
def guarded_backend(backend_options: dict[str, Any]) -> Iterator[Any]:
    backend = _open("off", backend_options)
    assert backend.model.load_guard.active
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def default_load_backend(backend_options: dict[str, Any]) -> Iterator[Any]:
    from mctsr_native.generation.llama.build import build_info

    if hardware.load_guard(setting="auto", build=build_info()).active:
        pytest.skip("llama.cpp's default load crashes on this AMX CPU with this AMX build: there is no unguarded side "
                    "to compare")
    backend = _open("on", backend_options)
    assert not backend.model.load_guard.active
    yield backend
    backend.close()


@pytest.mark.parametrize("side", [OURS, BASELINE])
@pytest.mark.parametrize("n", [1, 4])
def test_guard_generation_speed(benchmark, quick, model_rounds, request, n: int, side: str) -> None:
    backend = request.getfixturevalue("guarded_backend" if side == OURS else "default_load_backend")
    requests = answer_requests(n, 4 if quick else MAX_TOKENS)
    timed_calls(backend, [answer_requests(1, 2)])()  # warm-up: first-call allocations are not timed
    mark_side(benchmark, f"load guard: generate N={n}", side)
    cpu: list[float] = []

    def run() -> Any:
        c0 = time.process_time()
        usage = timed_calls(backend, [requests])()
        cpu.append(time.process_time() - c0)
        return usage

    usage = benchmark.pedantic(run, rounds=model_rounds(ROUNDS), iterations=1, warmup_rounds=0)
    cpu_seconds = sorted(cpu)[len(cpu) // 2]
    benchmark.extra_info.update(rate=usage.generated_tokens / cpu_seconds, rate_unit="generated tokens per CPU s",
                                wall_rate=usage.generated_tokens / per_round(benchmark, usage.wall_seconds),
                                use_extra_bufts=backend.model.load_guard.use_extra_bufts, sequences=n,
                                generated_tokens=usage.generated_tokens)
