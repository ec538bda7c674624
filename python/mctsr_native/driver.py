"""The one search loop: initialize, then step until a stop rule says why to stop, with cancellation, Ctrl-C and
checkpoints. `solve`, `mctsr serve` and anytime evaluation all run their searches through `drive`.

    drive(solver, cancel=event, on_step=callback, checkpoints=(1, 4), on_checkpoint=callback) -> SolveResult

- stop rules: `solver.stop_reason()` (stopping.StopRules: budget, patience, agreement, time, tokens) is asked
  between steps; a step that finds nothing to do ends the search as "exhausted";
- cancellation: `cancel` (a threading.Event, e.g. a client that went away) is seen between steps, and the
  search ends as "cancelled" with the best answer so far; a started step always completes;
- Ctrl-C: with `interrupt="stop"` (solve) the search ends as "cancelled" with the best answer so far; with
  "raise" (evaluation: a search cut short is not a result) KeyboardInterrupt propagates;
- checkpoints (anytime evaluation): steps are narrowed so the search passes exactly through each rollout
  count in `checkpoints`, and `on_checkpoint(b, result)` receives the result at b: what a search with
  rollouts=b would return. When the search stops early, every checkpoint not reached gets the final result,
  with its stop reason.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Literal, Sequence

if TYPE_CHECKING:  # the solver imports this module; the driver only calls it
    from .record import SolveResult
    from .solver import Solver, StepReport

__all__ = ["drive"]


def drive(
    solver: Solver,
    *,
    cancel: threading.Event | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, SolveResult], None] | None = None,
    interrupt: Literal["stop", "raise"] = "stop",
) -> SolveResult:
    """Run `solver` to a stop reason and return its result (module doc)."""
    marks = sorted({b for b in checkpoints if b > 0})
    reason: str | None = None

    def reach(upto: int, why: str) -> None:
        while marks and marks[0] <= upto:
            b = marks.pop(0)
            if on_checkpoint is not None:
                on_checkpoint(b, solver.result(why))

    try:
        if not len(solver.tree):
            report = solver.initialize()
            if on_step is not None:
                on_step(report)
        while True:
            reach(solver.tree.rollouts(), "rollouts")  # a separate search to b stops there for its budget
            if cancel is not None and cancel.is_set():
                solver.cancel()
            reason = solver.stop_reason()
            if reason is not None:
                break
            width = marks[0] - solver.tree.rollouts() if marks else None
            report = solver.step(width)
            if report is None:
                reason = "exhausted"
                break
            if on_step is not None:
                on_step(report)
    except KeyboardInterrupt:
        if interrupt == "raise":
            raise
        solver.cancel()
        reason = "cancelled"
    reach(1 << 62, reason)
    return solver.result(reason)
