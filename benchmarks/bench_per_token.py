"""Per-token work outside the model: microseconds spent outside `llama_decode` per generated token, for one
batched `generate()` of N = 1, 4 and 16 sampled sequences, on the default model and on a synthetic model with
Llama-3's 128,256-token vocabulary (conftest.py `synthetic_model_path`).

On the CPU proxy (the vocabulary of Llama-3, 2 layers of width 256) `llama_decode` is nearly free, so what the
group shows is our own per-token work: the sampler chain over the logits, detokenizing, stop strings, the Python
loop. On a GPU (`MCTSR_BENCH_SYNTH` = the Llama-3-8B-shape file, scripts/gpu-check.sh) the same figure set beside
the decode time per step says what share of a step is lost outside the model.

Groups `overhead per token N=1|4|16`, each with one benchmark per model (no sides; figures in extra_info):
`us_outside_decode_per_token` (wall - decode seconds, per generated token), `us_decode_per_token`,
`us_outside_decode_per_step` (one step = one token of every live sequence), `outside_share`, and
`cpu_us_outside_decode_per_token`: the calling thread's CPU time outside `llama_decode` per token, which a busy
machine inflates far less than wall time (it leaves out work done on other threads, so compare it between runs
with the same `sampling_threads`).

    pytest benchmarks/bench_per_token.py --benchmark-only --benchmark-group-by=group -s
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mctsr_native.generation.base import SamplingParams, Usage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generation import answer_requests, timed_calls  # noqa: E402
from ratios import mark_side  # noqa: E402

pytestmark = pytest.mark.model

SEQUENCES = [1, 4, 16]
MAX_TOKENS = 32
ROUNDS = 2


class DecodeClock:
    """The calling thread's CPU seconds inside `llama_decode` (wraps the engine context's `decode`)."""

    def __init__(self, ctx) -> None:
        self.cpu = 0.0
        inner = ctx.decode

        def decode(batch):
            t = time.thread_time()
            try:
                return inner(batch)
            finally:
                self.cpu += time.thread_time() - t

        ctx.decode = decode


@pytest.fixture(scope="module")
def engines(backend_options, default_model_path, synthetic_model_path):
    from mctsr_native.generation import open_backend

    opened = {"default": open_backend(default_model_path, **backend_options),  # whatever $MCTSR_MODEL says
              "synthetic": open_backend(synthetic_model_path, **backend_options)}
    for b in opened.values():
        b.decode_clock = DecodeClock(b.ctx)
    yield opened
    for b in opened.values():
        b.close()


@pytest.mark.parametrize("model", ["default", "synthetic"])
@pytest.mark.parametrize("n", SEQUENCES)
def test_outside_decode_per_token(benchmark, quick, model_rounds, engines, n: int, model: str) -> None:
    backend = engines[model]
    cap = 4 if quick else MAX_TOKENS
    params = SamplingParams(max_tokens=cap, min_tokens=cap, temperature=0.7, seed=11)  # every reply to its cap
    run = timed_calls(backend, [answer_requests(n, 0, params)])
    warm = SamplingParams(max_tokens=2, min_tokens=2)  # warm-up, not timed (first calls, the EOG list of min_tokens)
    timed_calls(backend, [answer_requests(1, 0, warm)])()
    usages: list[tuple[Usage, float]] = []  # and the thread's CPU seconds outside llama_decode

    def measured() -> Usage:
        cpu, in_decode = time.thread_time(), backend.decode_clock.cpu
        usage = run()
        usages.append((usage, time.thread_time() - cpu - (backend.decode_clock.cpu - in_decode)))
        return usage

    mark_side(benchmark, f"overhead per token N={n}", None)
    benchmark.pedantic(measured, setup=backend.reset_cache, rounds=model_rounds(ROUNDS), iterations=1,
                       warmup_rounds=0)
    u, cpu = sorted(usages, key=lambda m: (m[0].wall_seconds - m[0].decode_seconds) / max(m[0].generated_tokens, 1))[
        len(usages) // 2]
    outside = u.wall_seconds - u.decode_seconds
    tokens = max(u.generated_tokens, 1)
    steps = max(tokens / n, 1.0)
    benchmark.extra_info.update(
        model=model, engine=backend.name, n_vocab=backend.model.n_vocab, sequences=n,
        generated_tokens=u.generated_tokens, us_outside_decode_per_token=1e6 * outside / tokens,
        cpu_us_outside_decode_per_token=1e6 * cpu / tokens, us_decode_per_token=1e6 * u.decode_seconds / tokens, us_outside_decode_per_step=1e6 * outside / steps,
        outside_share=outside / u.wall_seconds, wall_seconds=u.wall_seconds, decode_seconds=u.decode_seconds)
    print(f"\n{model} (vocabulary {backend.model.n_vocab}), {n} sequences, {u.generated_tokens} tokens: "
          f"{1e6 * outside / tokens:.0f} us outside llama_decode per token ({outside / u.wall_seconds:.1%} of wall; "
          f"{1e6 * cpu / tokens:.0f} us CPU), {1e6 * u.decode_seconds / tokens:.0f} us inside")
