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

from .result import node_dict
from .solve_config import SolveConfig

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


def _zero_shot(solver: Any) -> dict[str, Any]:
    """The result at budget 0: the first answer alone, with the work done before any reward was drawn."""
    first = next(n for n, t in solver.texts.items() if t.kind == "answer" and t.critique is None)
    t = solver.texts[first]
    u = solver.first_answer_usage
    nodes = []
    for n in solver.tree.to_dict()["nodes"]:  # the first answer and the dummy, as the zero-shot search has them
        if n["id"] in solver.texts and solver.texts[n["id"]].step == 0:
            node = node_dict(n, solver.texts[n["id"]])
            node.update(rewards_raw=[], rewards=[], q_own=None, q=None, visits=0, uct=None, reward_replies=[],
                        children=[])
            nodes.append(node)
    choice = {"node": first, "answer": t.answer}
    return {
        "answer": t.answer, "text": t.text, "node": first, "selector": "vote",
        "selectors": {"vote": {**choice, "support": None, "groups": None}, "max_q": {**choice, "q": None}},
        "nodes": nodes,
        "stats": {"rollouts": 0, "steps": 0, "model_calls": u.calls, "prompt_tokens": u.prompt_tokens,
                  "reused_tokens": u.reused_tokens, "generated_tokens": u.generated_tokens,
                  "model_seconds": u.wall_seconds, "wall_seconds": solver.first_answer_seconds,
                  "stop_reason": "rollouts", "budget_zero": "the first answer, before any reward was drawn",
                  # the first answer is the only reply so far: it was capped when it stopped at its cap
                  "by_kind": dict(u.by_kind), "capped_replies": {"answer": 1} if t.finish == "length" else {}},
    }


def anytime_search(problem: str, backend: Any, budgets: Sequence[int], *, seed: int,
                   config: SolveConfig | None = None, **overrides: Any) -> list[tuple[int, dict[str, Any], float]]:
    """Search once to max(budgets); return (budget, result dict, seconds so far) for each budget, ascending.
    Ctrl-C propagates (a search cut short is not a result)."""
    from .solver import Solver

    base = config if config is not None else SolveConfig()
    top = max(budgets)
    cfg = dataclasses.replace(base, rollouts=top, seed=seed, **overrides)
    if top == 0:  # zero-shot only: the ordinary unscored search
        solver = Solver(problem, backend, cfg)
        t0 = time.perf_counter()
        return [(0, solver.run().to_dict(), time.perf_counter() - t0)]
    solver = Solver(problem, backend, cfg)
    t0 = time.perf_counter()
    solver.initialize()
    out: list[tuple[int, dict[str, Any], float]] = []
    if 0 in budgets:
        out.append((0, _zero_shot(solver), float(solver.first_answer_seconds or 0.0)))
    reason: str | None = None
    for b in sorted(x for x in budgets if x > 0):
        while reason is None and solver.tree.rollouts() < b:
            reason = solver.stop_reason()
            if reason is None and solver.step(width=b - solver.tree.rollouts()) is None:
                reason = "exhausted"
        if solver.stops.cancelled:
            raise KeyboardInterrupt
        result = solver.result(reason or "rollouts").to_dict()
        result["stats"]["anytime_budget"] = b
        out.append((b, result, time.perf_counter() - t0))
    return out
