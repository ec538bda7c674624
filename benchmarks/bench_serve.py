"""Throughput of `mctsr serve` on the default model: requests per minute and generated tokens per second with
C requests in flight (C = 1, 4), against the same searches run one by one with `solve()` on the same engine.
One group per C: ours = the server (real HTTP through the `openai` client, searches in worker threads, their
calls merged into one engine batch), baseline = the one-by-one loop; the ratio is ours / baseline requests
per minute (benchmarks/ratios.py: rate). At C = 1 it is the server's own overhead (about 1x); at C = 4 the
gain of merging concurrent searches.

    pytest benchmarks/bench_serve.py --benchmark-group-by=group

Same problems, seeds, caps and rollouts on both sides; the server runs in this process (uvicorn in a
thread) on the session's batched backend, so no side pays a model load.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from mctsr_native.solver import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import BASELINE, OURS, mark_side  # noqa: E402

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
REQUESTS, ROLLOUTS = 4, 2
CAPS = dict(answer_max_tokens=48, critique_max_tokens=32, refine_max_tokens=48, reward_max_tokens=16,
            reward_samples=2, reselect_samples=0)
QUICK_REQUESTS, QUICK_ROLLOUTS = 2, 0
QUICK_CAPS = dict(answer_max_tokens=8, critique_max_tokens=8, refine_max_tokens=8, reward_max_tokens=16,
                  reward_samples=1, reselect_samples=0)  # --benchmark-disable (CI): two zero-shot answers


def problems(n: int) -> list[str]:
    with (ROOT / "data" / "gsm8k_test.jsonl").open(encoding="utf-8") as f:
        return [json.loads(next(f))["problem"] for _ in range(n)]


@pytest.fixture(scope="module")
def warm_backend(batched_backend) -> Any:
    """The session's batched engine after one tiny search: a process's first search pays one-time costs
    (imports of the answer checker, first decodes) that neither side should be timed with."""
    solve(problems(1)[0], backend=batched_backend, rollouts=0, **QUICK_CAPS)
    return batched_backend


@pytest.fixture(scope="module")
def server_url(warm_backend) -> Iterator[str]:
    """`mctsr serve`'s app on the session's batched engine, on a free port of 127.0.0.1."""
    import uvicorn

    from mctsr_native.serve import ServeOptions, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(warm_backend, ServeOptions(max_concurrency=4)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the in-process server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(30)


def _figures(benchmark: Any, n: int, seconds: float, tokens: int, **extra: Any) -> None:
    benchmark.extra_info.update(rate=n * 60.0 / seconds, rate_unit="requests/min", requests=n,
                                generated_tokens=tokens, generated_tokens_per_second=tokens / seconds, **extra)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_serve_throughput(benchmark, server_url, quick, model_rounds, concurrency) -> None:
    import openai

    mark_side(benchmark, f"serve C={concurrency}", OURS, concurrency=concurrency)
    n, rollouts = (QUICK_REQUESTS, QUICK_ROLLOUTS) if quick else (REQUESTS, ROLLOUTS)
    caps = QUICK_CAPS if quick else CAPS
    client = openai.OpenAI(base_url=server_url, api_key="none", max_retries=0, timeout=600)
    texts = problems(n)
    done: list[tuple[float, int, int]] = []  # (seconds, generated tokens, merged calls) per round

    def ask(i: int) -> Any:
        return client.chat.completions.create(model=f"mctsr-{rollouts}", seed=i, extra_body={"mctsr": caps},
                                              messages=[{"role": "user", "content": texts[i]}])

    def run() -> None:
        t = time.perf_counter()
        with cf.ThreadPoolExecutor(concurrency) as pool:
            replies = list(pool.map(ask, range(n)))
        seconds = time.perf_counter() - t
        assert all(r.model_extra["mctsr"]["rollouts"] == rollouts for r in replies)
        done.append((seconds, sum(r.usage.completion_tokens for r in replies),
                     sum(r.model_extra["mctsr"]["merged_calls"] or 0 for r in replies)))

    benchmark.pedantic(run, rounds=model_rounds(1), iterations=1, warmup_rounds=0)
    seconds, tokens, merged = done[-1]
    _figures(benchmark, n, seconds, tokens, merged_calls=merged)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_by_one_throughput(benchmark, warm_backend, quick, model_rounds, concurrency) -> None:
    mark_side(benchmark, f"serve C={concurrency}", BASELINE, concurrency=1)
    n, rollouts = (QUICK_REQUESTS, QUICK_ROLLOUTS) if quick else (REQUESTS, ROLLOUTS)
    caps = QUICK_CAPS if quick else CAPS
    texts = problems(n)
    done: list[tuple[float, int]] = []

    def run() -> None:
        t = time.perf_counter()
        results = [solve(texts[i], backend=warm_backend, rollouts=rollouts, seed=i, **caps) for i in range(n)]
        done.append((time.perf_counter() - t, sum(r.stats["generated_tokens"] for r in results)))

    benchmark.pedantic(run, rounds=model_rounds(1), iterations=1, warmup_rounds=0)
    seconds, tokens = done[-1]
    _figures(benchmark, n, seconds, tokens)
