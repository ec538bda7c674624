"""Seconds per rollout of the solver on the default model: the engine with batching and prefix reuse, against
the same solver on the sequential backend (one request at a time through llama-cpp-python's high-level API,
no prefix reuse). Same problem, seeds, caps and rollouts; one benchmark group per parallel width P.

    pytest benchmarks/bench_solve.py --benchmark-group-by=group

Seconds per rollout is a search's wall time over its rollouts (the initial answer and its rewards included).
The ratios (sequential / batched, per rollout and per generated token) are printed at the end and stored in
each benchmark's extra_info. Sampled replies differ between the two backends, so seconds per generated token
is reported beside seconds per rollout to show the comparison is not an artifact of reply lengths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mctsr_native.solver import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import BASELINE, OURS, mark_side  # noqa: E402

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
ROLLOUTS = 4
ROUNDS = 2
CAPS = dict(answer_max_tokens=64, critique_max_tokens=48, refine_max_tokens=64, reward_max_tokens=24,
            reward_samples=3, reselect_samples=1)
QUICK_CAPS = dict(answer_max_tokens=8, critique_max_tokens=8, refine_max_tokens=8, reward_max_tokens=16,
                  reward_samples=1, reselect_samples=0)  # --benchmark-disable (CI): one tiny rollout
_measured: dict[tuple[str, int], dict[str, float]] = {}


def problem() -> str:
    with (ROOT / "data" / "gsm8k_test.jsonl").open(encoding="utf-8") as f:
        return json.loads(f.readline())["problem"]


@pytest.fixture(scope="module")
def backends(backend_options):
    from mctsr_native.generation import open_backend

    opened = {"batched": open_backend(None, **backend_options),
              "sequential": open_backend(None, mode="sequential", **backend_options)}
    yield opened
    for b in opened.values():
        b.close()


def _report_ratio(request, benchmark, parallel: int) -> None:
    """Once both engines ran at this P: store sequential / batched in extra_info and print it (the second
    test of a pair does it, so the line comes out wherever the pair ends)."""
    fast, slow = _measured.get(("batched", parallel)), _measured.get(("sequential", parallel))
    if not (fast and slow):
        return
    per_rollout = slow["per_rollout"] / fast["per_rollout"]
    per_token = slow["per_token"] / fast["per_token"]
    benchmark.extra_info.update(speedup_per_rollout=per_rollout, speedup_per_generated_token=per_token)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # the test's output capture would swallow the line
            reporter.write_line("")
            reporter.write_line(
                f"bench_solve P={parallel}: {fast['per_rollout']:.2f} s/rollout batched+reuse vs "
                f"{slow['per_rollout']:.2f} sequential -> {per_rollout:.2f}x per rollout, {per_token:.2f}x per "
                f"generated token"
            )


@pytest.mark.parametrize("parallel", [1, 4])
@pytest.mark.parametrize("engine", ["batched", "sequential"])
def test_solve_seconds_per_rollout(request, benchmark, backends, quick, model_rounds, engine, parallel):
    backend = backends[engine]
    mark_side(benchmark, f"solve P={parallel}", OURS if engine == "batched" else BASELINE)
    results = []
    rollouts_per_solve = 1 if quick else ROLLOUTS

    def run():
        results.append(solve(problem(), backend=backend, rollouts=rollouts_per_solve, parallel=parallel, seed=0,
                             **(QUICK_CAPS if quick else CAPS)))

    benchmark.pedantic(run, rounds=model_rounds(ROUNDS), iterations=1, warmup_rounds=0)
    seconds = sum(r.stats["wall_seconds"] for r in results)
    rollouts = sum(r.stats["rollouts"] for r in results)
    tokens = sum(r.stats["generated_tokens"] for r in results)
    assert rollouts == rollouts_per_solve * len(results)
    _measured[(engine, parallel)] = {"per_rollout": seconds / rollouts, "per_token": seconds / max(tokens, 1)}
    benchmark.extra_info.update(
        engine=engine, parallel=parallel, rollouts=rollouts, seconds_per_rollout=seconds / rollouts,
        generated_tokens=tokens, seconds_per_generated_token=seconds / max(tokens, 1),
        reused_tokens=sum(r.stats["reused_tokens"] for r in results),
        prompt_tokens=sum(r.stats["prompt_tokens"] for r in results),
    )
    _report_ratio(request, benchmark, parallel)
