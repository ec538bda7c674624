"""When a search stops: the budget, the paper's early stops and the user's budgets, as one rule set.

Reasons, checked in this order between steps (a started step always completes):
"cancelled" (Ctrl-C), "rollouts" (budget spent), "patience" (the best own Q of an answer has not improved
for `patience` rollouts), "agreement" (every answer node's extracted answer is equivalent, with at least
`agreement_min` of them), "time" / "tokens" (budgets). The solver adds "exhausted" (no candidate left to
select, e.g. every node at `max_depth`).
"""

from __future__ import annotations

import time
from typing import Sequence

from .answers import group_answers

from .solve_config import SolveConfig

__all__ = ["StopRules"]


class StopRules:
    """Tracks what the stop rules need (the best Q so far and when it last improved) and says why to stop."""

    def __init__(self, config: SolveConfig) -> None:
        self.config = config
        self.started = time.perf_counter()
        self.best_q: float | None = None  # best own Q of an answer node so far (never goes down)
        self.best_at = 0  # rollouts done when best_q last improved
        self.cancelled = False

    def note(self, best_q: float | None, rollouts: int) -> None:
        """Record the current best own Q after a step."""
        if best_q is not None and (self.best_q is None or best_q > self.best_q + 1e-9):
            self.best_q, self.best_at = best_q, rollouts

    def reason(self, *, rollouts: int, answers: Sequence[str | None], tokens: int) -> str | None:
        """Why the search should stop now, or None to go on. `answers`: the extracted answer of every answer
        node; `tokens`: model tokens spent so far (prompt evaluated + generated)."""
        c = self.config
        if self.cancelled:
            return "cancelled"
        if rollouts >= c.rollouts:
            return "rollouts"
        if c.patience and rollouts - self.best_at >= c.patience:
            return "patience"
        if c.stop_on_agreement and len(answers) >= c.agreement_min and None not in answers \
                and len(group_answers(list(answers))) == 1:
            return "agreement"
        return self.budget_reason(tokens)

    def budget_reason(self, tokens: int) -> str | None:
        """"time" or "tokens" when the user's wall-clock or token budget is spent, else None (also what stops
        `self_consistency` between its batches)."""
        c = self.config
        if c.max_seconds is not None and time.perf_counter() - self.started >= c.max_seconds:
            return "time"
        if c.token_budget is not None and tokens >= c.token_budget:
            return "tokens"
        return None
