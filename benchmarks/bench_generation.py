"""Generation on the default model (real llama.cpp), our engine against its baselines, side by side in one run.

Groups (one comparison each; see benchmarks/README.md for the figures). Every reply runs to its cap
(`SamplingParams.min_tokens = max_tokens`: no end-of-generation token before it, on both sides), so the groups
measure generation, not an early stop, on real and synthetic models alike:

- `generate N=1|2|4|8`: generated tokens per second of ONE batched `generate()` call of N sequences (our engine,
  prefix cache off so that batching alone is measured) against the same N requests made one by one through
  llama-cpp-python's high-level `Llama.create_chat_completion` (`SequentialLlamaBackend`). Same prompts (the
  solver's first-answer prompt of N GSM8K problems), same cap, greedy decoding. The ratio is taken from the
  tokens/s (`extra_info["rate"]`), not from the raw seconds, so that replies of different lengths cannot skew it.
  A round holds the prompts' evaluation too (the same work on both sides); extra_info splits it: the same
  prompts with a 1-token cap give `prompt_phase_seconds`, and `generation_phase_rate` is the tokens/s of the rest.
- `prefix reuse`: one MCTSr step's model calls for two answers of one problem — critiques, then rewrites that
  follow them, then reward samples (3 per rewrite, 1 per parent) — as three `generate()` calls, with the
  prefix cache on (ours) and off (baseline). The cache is emptied before each round, so a round starts cold.
  Short replies (16 tokens) keep the prompt work, which is what reuse saves, the bulk of the time.
- `overhead: generate`: the share of one batched call's wall time spent outside `llama_decode`
  ((wall - decode) / wall, goal < 5%) for 8 sampled sequences of 64 tokens (temperature 0.7, top-k, top-p).

    pytest benchmarks/bench_generation.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from mctsr_native.generation.base import GenerationRequest, SamplingParams, Usage
from mctsr_native.prompts import Prompts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import BASELINE, OURS, mark_side  # noqa: E402

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[1] / "data" / "gsm8k_test.jsonl"
SEQUENCES = [1, 2, 4, 8]
MAX_TOKENS = 64  # generated-token cap of the throughput and overhead groups
REPLY_TOKENS = 16  # cap of the prefix-reuse group: short replies, so prompt work dominates
ROUNDS = 3


def gsm8k(count: int) -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(count), f)]


def answer_requests(n: int, max_tokens: int, params: SamplingParams | None = None) -> list[GenerationRequest]:
    """The solver's first-answer prompt for the first n GSM8K problems."""
    prompts = Prompts()
    params = params or SamplingParams(max_tokens=max_tokens, min_tokens=max_tokens, temperature=0.0, seed=0)
    return [GenerationRequest(messages=prompts.build("answer", row["problem"]), params=params, kind="answer")
            for row in gsm8k(n)]


def clean_solution(text: str) -> str:
    """A GSM8K reference solution as a model-style answer: no <<calculator>> notes, a final answer line."""
    body, _, final = re.sub(r"<<[^>]*>>", "", text).partition("####")
    return f"{body.strip()}\nThe answer is: {final.strip()}"


def mctsr_step(max_tokens: int, *, quick: bool = False) -> list[list[GenerationRequest]]:
    """The three generate() calls of one MCTSr step (P = 2) on one problem, with fixed texts in place of
    the model's replies so that both sides see exactly the same prompts. Quick: P = 1 on a short problem."""
    prompts = Prompts()
    row = gsm8k(5)[1 if quick else 4]  # the longest problem of the first five (quick: the shortest)
    problem = row["problem"]
    parents = [clean_solution(row["solution"]),
               "Let's think step by step.\n" + clean_solution(row["solution"]).replace("\n", "\nSo ")]
    parents = parents[:1] if quick else parents
    critique = ("The answer does not justify each step: it never checks the units, skips the intermediate "
                "totals and does not verify the final number against the question.")
    rewrites = [p + "\nChecking: every step above follows from the problem statement." for p in parents]

    def req(call: str, n: int = 1, **texts: str) -> GenerationRequest:
        temp = 0.0 if n == 1 else 0.7
        return GenerationRequest(messages=prompts.build(call, problem, **texts), n=n, kind=call,
                                 params=SamplingParams(max_tokens=max_tokens, min_tokens=max_tokens,
                                                       temperature=temp, seed=7))

    return [
        [req("critique", answer=a) for a in parents],
        [req("refine", answer=a, critique=critique) for a in parents],
        [req("reward", 2 if quick else 3, answer=a) for a in rewrites] + [req("reward", 1, answer=a) for a in parents],
    ]


def timed_calls(backend: Any, calls: list[list[GenerationRequest]]) -> Callable[[], Usage]:
    """A function that makes the calls and returns the usage they added."""

    def run() -> Usage:
        before = backend.usage.copy()
        for requests in calls:
            for result in backend.generate(requests):
                result.raise_for_error()
        return backend.usage.minus(before)

    return run


def per_round(benchmark: Any, fallback: float) -> float:
    """Median seconds of a round (the single untimed run's wall seconds in quick mode)."""
    return benchmark.stats.stats.median if benchmark.stats else fallback


@pytest.mark.parametrize("side", [OURS, BASELINE])
@pytest.mark.parametrize("n", SEQUENCES)
def test_generate_tokens_per_second(benchmark, quick, model_rounds, batched_no_reuse_backend, sequential_backend,
                                    n: int, side: str) -> None:
    backend = batched_no_reuse_backend if side == OURS else sequential_backend
    requests = answer_requests(n, 4 if quick else MAX_TOKENS)
    run = timed_calls(backend, [requests])
    timed_calls(backend, [answer_requests(1, 2)])()  # warm-up: first-call allocations are not timed
    mark_side(benchmark, f"generate N={n}", side)  # the group must be set before the benchmark runs
    usage = benchmark.pedantic(run, rounds=model_rounds(ROUNDS), iterations=1, warmup_rounds=0)
    seconds = per_round(benchmark, usage.wall_seconds)
    rate = usage.generated_tokens / seconds
    benchmark.extra_info.update(rate=rate, rate_unit="generated tokens/s", engine=backend.name, sequences=n,
                                max_tokens=requests[0].params.max_tokens, generated_tokens=usage.generated_tokens,
                                prompt_tokens=usage.prompt_tokens,
                                decode_share=usage.decode_seconds / usage.wall_seconds)
    if not quick:  # split the round: the same prompts with a 1-token cap are its prompt phase (measured once)
        prompt_phase = timed_calls(backend, [answer_requests(n, 1)])().wall_seconds
        benchmark.extra_info.update(prompt_phase_seconds=prompt_phase, generation_phase_rate=(
            (usage.generated_tokens - n) / max(seconds - prompt_phase, 1e-9)))


@pytest.mark.parametrize("side", [OURS, BASELINE])
def test_prefix_reuse(benchmark, quick, model_rounds, batched_backend, batched_no_reuse_backend, side: str) -> None:
    backend = batched_backend if side == OURS else batched_no_reuse_backend
    run = timed_calls(backend, mctsr_step(2 if quick else REPLY_TOKENS, quick=quick))
    mark_side(benchmark, "prefix reuse", side)
    usage = benchmark.pedantic(run, setup=backend.reset_cache, rounds=model_rounds(ROUNDS), iterations=1,
                               warmup_rounds=0 if quick else 1)
    total = usage.prompt_tokens + usage.reused_tokens
    benchmark.extra_info.update(prefix_cache=side == OURS, calls=usage.calls, sequences=usage.sequences,
                                prompt_tokens_evaluated=usage.prompt_tokens, prompt_tokens_reused=usage.reused_tokens,
                                reused_share=usage.reused_tokens / max(total, 1),
                                generated_tokens=usage.generated_tokens)


def test_generate_overhead(benchmark, quick, model_rounds, batched_backend) -> None:
    cap = 4 if quick else MAX_TOKENS
    params = SamplingParams(max_tokens=cap, min_tokens=cap, temperature=0.7, seed=11)
    run = timed_calls(batched_backend, [answer_requests(8, 0, params)])
    shares: list[float] = []

    def measured() -> Usage:
        usage = run()
        shares.append((usage.wall_seconds - usage.decode_seconds) / usage.wall_seconds)
        return usage

    mark_side(benchmark, "overhead: generate", None)
    usage = benchmark.pedantic(measured, setup=batched_backend.reset_cache, rounds=model_rounds(ROUNDS),
                               iterations=1, warmup_rounds=0 if quick else 1)
    shares = shares[-model_rounds(ROUNDS):]  # the timed rounds only
    share = sorted(shares)[len(shares) // 2]
    benchmark.extra_info.update(overhead_share=share, goal_share=0.05, sequences=8,
                                generated_tokens=usage.generated_tokens, decode_seconds=usage.decode_seconds,
                                wall_seconds=usage.wall_seconds)
    print(f"\noverhead of one batched call (8 x {params.max_tokens} tokens): {share:.1%} of wall time outside "
          f"llama_decode (goal < 5%)")
