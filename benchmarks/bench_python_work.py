"""Seconds of Python work per rollout: a whole solve against a scripted model that costs nothing, so every
microsecond measured is ours (the search loop, the model client, prompt fitting, reward parsing, answer
extraction, the C++ tree). The goal is that it never grows; the figure is in benchmarks/README.md.

    pytest benchmarks/bench_python_work.py --benchmark-group-by=group

One group per parallel width P; extra_info["seconds_per_rollout"] is the benchmark's mean over its rollouts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import pytest

from mctsr_native import answers, selectors, solver
from mctsr_native.baselines import DRAW_BATCH
from mctsr_native.generation.base import (BackendBase, Completion, GenerationRequest, GenerationResult, Message,
                                          Usage)
from mctsr_native.solver import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import BASELINE, OURS, mark_side  # noqa: E402

PROBLEM = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. "
           "She sells the rest for $2 each. How much does she make every day?")
ROLLOUTS = 32


class ScriptedModel(BackendBase):
    """Replies keyed on the call kind and the request seed; one token per word; no time spent."""

    name = "scripted"

    def __init__(self) -> None:
        super().__init__(0)

    @property
    def context_size(self) -> int:
        return 4096

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        return sum(len(m.content.split()) + 4 for m in messages) + 2

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        out = []
        for r in requests:
            seed = self.seed_of(r)
            texts = [self._reply(r.kind, seed + i) for i in range(r.n)]
            out.append(GenerationResult(
                completions=tuple(Completion(text=t, finish_reason="stop", generated_tokens=len(t.split()))
                                  for t in texts),
                prompt_tokens=40, evaluated_prompt_tokens=40, reused_prompt_tokens=0))
        return out

    @staticmethod
    def _reply(kind: str, seed: int) -> str:
        if kind == "reward":
            return f"The steps are mostly right but the check is thin.\n[Score] {(seed * 7) % 150 - 40}"
        if kind == "critique":
            return "The answer never checks the subtraction of the eggs eaten and baked."
        return f"16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\nThe answer is: {18 if seed % 3 else 20}"

    def close(self) -> None:
        pass


@pytest.mark.parametrize("parallel", [1, 4])
def test_python_work_per_rollout(benchmark, parallel: int, quick: bool) -> None:
    benchmark.group = f"python work per rollout P={parallel}"
    rollouts = 2 if quick else ROLLOUTS
    model = ScriptedModel()

    def run():
        return solve(PROBLEM, backend=model, rollouts=rollouts, parallel=parallel)

    result = benchmark(run)
    assert result.stats["rollouts"] == rollouts and result.answer is not None
    if benchmark.stats is not None:
        benchmark.extra_info["seconds_per_rollout"] = benchmark.stats.stats.mean / rollouts


SC_ANSWERS = 512  # self-consistency's draws in one solve, voted after every batch as its progress line is
SC_DISTINCT = 64
DISTINCT_ROLLOUTS = 128


def clear_answer_caches() -> None:
    """Empty the answer checker's caches, so that neither side of a pair starts with the other's work."""
    answers._equivalent.cache_clear()
    answers._answer_key.cache_clear()


def sc_answers(n: int, distinct: int) -> list[str]:
    """n drawn final answers with `distinct` values, some written `x = v`."""
    return [f"{(i * 37) % distinct}" if i % 4 else f"x = {(i * 37) % distinct}" for i in range(n)]


def votes_grown(drawn: list[str]) -> list[list[int]]:
    """SC's vote after every batch, its groups grown one answer at a time (ours); the last groups."""
    grown = answers.AnswerGroups()
    for end in range(DRAW_BATCH, len(drawn) + DRAW_BATCH, DRAW_BATCH):
        for a in drawn[grown.count:end]:
            grown.add(a)
        groups = grown.groups()
    return groups


def votes_regrouped(drawn: list[str]) -> list[list[int]]:
    """The same votes, every answer drawn so far regrouped each time (before 0e5edfa); the last groups."""
    for end in range(DRAW_BATCH, len(drawn) + DRAW_BATCH, DRAW_BATCH):
        groups = answers.group_answers(drawn[:end])
    return groups


class RegroupEveryStep(selectors.VoteGroups):
    """The search's vote as it was before `VoteGroups`: every voter regrouped at every step."""

    def of(self, voters):  # type: ignore[no-untyped-def]
        return answers.group_answers([v.answer for v in voters])


class DistinctModel(ScriptedModel):
    """ScriptedModel whose every answer and rewrite has a final number of its own: the vote's worst case."""

    @staticmethod
    def _reply(kind: str, seed: int) -> str:
        if kind in ("reward", "critique"):
            return ScriptedModel._reply(kind, seed)
        return f"Counting again from the start.\nThe answer is: {seed}"


@pytest.mark.parametrize("side", ["incremental", "regroup"])
def test_sc_vote_after_every_batch(benchmark, side: str, quick: bool) -> None:
    """The vote `mctsr solve --method sc` reads after each batch of 8 answers: grown one answer at a time
    (`AnswerGroups`, ours) against regrouping every answer drawn so far (`group_answers`, what it did before).
    The answer checker's caches are emptied before each round."""
    n = 64 if quick else SC_ANSWERS
    drawn = sc_answers(n, SC_DISTINCT)
    mark_side(benchmark, f"sc vote after every batch N={SC_ANSWERS}", OURS if side == "incremental" else BASELINE,
              answers=n, distinct=SC_DISTINCT, batch=DRAW_BATCH)
    groups = benchmark.pedantic(votes_grown if side == "incremental" else votes_regrouped, args=(drawn,),
                                setup=clear_answer_caches, rounds=1 if quick else 5)
    assert len(groups) == min(n, SC_DISTINCT) and sum(map(len, groups)) == n


@pytest.mark.parametrize("side", ["kept", "regroup"])
def test_python_work_per_rollout_distinct_answers(benchmark, side: str, quick: bool, monkeypatch) -> None:
    """A solve whose answers all differ, the vote read after every step: its groups kept across the steps
    (`selectors.VoteGroups`, ours) against regrouping every answer each step (what the solver did before)."""
    if side == "regroup":
        monkeypatch.setattr(solver, "VoteGroups", RegroupEveryStep)
    rollouts = 8 if quick else DISTINCT_ROLLOUTS
    mark_side(benchmark, f"python work per rollout, distinct answers R={DISTINCT_ROLLOUTS}",
              OURS if side == "kept" else BASELINE, rollouts=rollouts)
    result = benchmark.pedantic(lambda: solve(PROBLEM, backend=DistinctModel(), rollouts=rollouts),
                                setup=clear_answer_caches, rounds=1 if quick else 3)
    assert result.stats["rollouts"] == rollouts and result.answer is not None
