"""Anytime evaluation: one search per problem to the largest rollout budget, its state recorded at each
smaller budget on the way (`mctsr eval --schedule anytime`, the default).

The budgets of a problem are then paired (the same first answer, the same tree growing) and cost what the
largest costs: budgets 0,1,4,8 take 8 rollouts, not 13. A budget b's record is the state after exactly b
rollouts (the step width is capped at the next budget), which is what a separate search with rollouts=b
builds, under two conditions that `why_separate` checks:
- no rule depends on the rollout budget (c_schedule="linear_decay" lowers c over `rollout_budget`, so a
  search to 8 is not a search to 4 cut short): such a run falls back to separate searches and says so;
- budget 0 is zero-shot chain of thought, the first answer alone and unscored: the anytime record of budget 0
  is the search's first answer, with the tokens and seconds spent before any reward was drawn
  (`Solver.first_answer_usage`); with `score_zero_shot` (budget 0 scored) the run is separate instead.
Early stops (patience, agreement, token or time budget) end the search for every larger budget too: those
records carry the stop reason, as the separate searches would have stopped at the same point.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from .driver import drive
from .record import SolveResult, zero_shot_record
from .solve_config import SolveConfig
from .solver import Solver, StepReport

__all__ = ["why_separate", "anytime_search"]


def why_separate(config: SolveConfig) -> str | None:
    """Why the budgets of this configuration must run as separate searches, or None (module doc)."""
    tree = config.tree_config()
    if tree.c_schedule != "constant":
        return (f"c_schedule={tree.c_schedule!r} depends on the rollout budget, so a search to the largest budget "
                "is not a smaller one cut short")
    if config.score_zero_shot:
        return "score_zero_shot draws rewards at budget 0, which the first answer of a larger search does not"
    return None


def anytime_search(problem: str, backend: Any, budgets: Sequence[int], *, seed: int,
                   config: SolveConfig | None = None, **overrides: Any) -> list[tuple[int, dict[str, Any], float]]:
    """Search once to max(budgets); return (budget, result dict, seconds so far) for each budget, ascending.
    Ctrl-C propagates (a search cut short is not a result)."""
    base = config if config is not None else SolveConfig()
    top = max(budgets)
    cfg = dataclasses.replace(base, rollouts=top, seed=seed, **overrides)
    solver = Solver(problem, backend, cfg)
    t0 = time.perf_counter()
    if top == 0:  # zero-shot only: the ordinary unscored search
        return [(0, drive(solver, interrupt="raise").to_dict(), time.perf_counter() - t0)]
    out: list[tuple[int, dict[str, Any], float]] = []

    def on_step(report: StepReport) -> None:
        if report.step == 0 and 0 in budgets:
            out.append((0, zero_shot_record(solver).to_dict(), float(solver.first_answer_seconds or 0.0)))

    def on_checkpoint(b: int, result: SolveResult) -> None:
        record = result.to_dict()
        record["stats"]["anytime_budget"] = b
        out.append((b, record, time.perf_counter() - t0))

    drive(solver, on_step=on_step, checkpoints=budgets, on_checkpoint=on_checkpoint, interrupt="raise")
    return out
