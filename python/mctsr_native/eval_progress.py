"""Progress of `mctsr eval`: problems done, running accuracy per budget, tokens per second, and an ETA that
weighs the searches left by what they are expected to cost (a zero-shot search is a fraction of a full one)."""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Mapping, Sequence

from .progress import Progress

__all__ = ["EvalProgress", "search_cost", "PRIOR_UNITS_PER_ROLLOUT"]

PRIOR_UNITS_PER_ROLLOUT = 3.5  # a rollout (critique, rewrite, k reward samples) ~ 3.5 first answers' tokens


def search_cost(rollouts: int, tokens_by_budget: Mapping[int, float]) -> float:
    """The expected generated tokens of one search at this budget: the mean of the records done at it, else the
    prior 1 + 3.5 r units scaled by the tokens per unit of the budgets measured (1 unit when none is)."""
    if rollouts in tokens_by_budget:
        return tokens_by_budget[rollouts]
    prior = 1.0 + PRIOR_UNITS_PER_ROLLOUT * rollouts
    scales = [t / (1.0 + PRIOR_UNITS_PER_ROLLOUT * r) for r, t in tokens_by_budget.items() if t > 0]
    return prior * (sum(scales) / len(scales) if scales else 1.0)


class EvalProgress:
    """Progress of an eval: problems done, running accuracy per budget, tokens generated per second, and an
    ETA that weighs the searches left by their expected tokens (`search_cost`, calibrated per budget from the
    records so far), so cheap zero-shot searches do not make the full ones look fast. Modes: "bar" (tqdm),
    "lines" / "json" (one event per record, `cli_progress`), "none"."""

    def __init__(self, pending: Sequence[int], records: Iterable[Mapping[str, Any]], mode: bool | str,
                 problems: int, rollouts: Sequence[int]) -> None:
        from tqdm.auto import tqdm

        self.mode = {True: "bar", False: "none"}.get(mode, mode) if isinstance(mode, bool) else str(mode)
        self.events = Progress(self.mode)
        self.bar = tqdm(total=len(pending), unit="search", desc="eval", disable=self.mode != "bar",
                        file=sys.stderr, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self.left = [int(r) for r in pending]  # budgets of the searches not done yet
        self.total, self.done = len(self.left), 0
        self.right: dict[int, list[int]] = {}
        self.tokens_at: dict[int, list[float]] = {}  # budget -> [tokens generated, records] (all records)
        self.wanted = set(rollouts)
        self.settings: dict[str, set[int]] = {}  # problem id -> rollouts recorded
        self.problems = problems
        self.tokens = 0
        self.t0 = time.perf_counter()
        for r in records:
            self._count(r)

    def _count(self, r: Mapping[str, Any]) -> None:
        tally = self.right.setdefault(int(r["rollouts"]), [0, 0])
        tally[0] += bool(r.get("correct"))
        tally[1] += 1
        if r.get("stop_reason") != "error":
            t = self.tokens_at.setdefault(int(r["rollouts"]), [0.0, 0])
            t[0] += float(r.get("tokens_generated") or 0)
            t[1] += 1
        self.settings.setdefault(str(r["id"]), set()).add(int(r["rollouts"]))

    def eta_seconds(self) -> float | None:
        """Seconds left: expected tokens of the searches left / tokens generated per second so far."""
        elapsed = time.perf_counter() - self.t0
        if self.tokens <= 0 or elapsed <= 0:
            return None
        means = {b: t / n for b, (t, n) in self.tokens_at.items() if n}
        return sum(search_cost(b, means) for b in self.left) / (self.tokens / elapsed)

    def update(self, record: Mapping[str, Any]) -> None:
        self._count(record)
        if int(record["rollouts"]) in self.left:
            self.left.remove(int(record["rollouts"]))
        self.tokens += int(record.get("tokens_generated") or 0)
        rate = self.tokens / max(time.perf_counter() - self.t0, 1e-9)
        acc = " ".join(f"r{k}={v[0] / v[1]:.0%}" for k, v in sorted(self.right.items()) if k in self.wanted)
        done = sum(1 for s in self.settings.values() if self.wanted <= s)
        eta = self.eta_seconds()
        eta_text = "?" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        self.bar.set_postfix_str(f"ETA {eta_text} | problems {done}/{self.problems} | acc {acc} | {rate:.1f} tok/s",
                                 refresh=False)
        self.bar.update(1)
        self.done += 1
        if self.mode in ("lines", "json"):
            self.events.event(
                "record", f"{record['id']} r{record['rollouts']}: {'right' if record.get('correct') else 'wrong'} "
                f"({self.done}/{self.total} searches, ETA {eta_text}, {rate:.1f} tok/s)",
                id=record["id"], rollouts=record["rollouts"], correct=bool(record.get("correct")),
                done=self.done, total=self.total, eta_seconds=eta, tokens_per_second=rate)

    def note(self, message: str) -> None:
        """A line beside the bar (baselines done for a problem, ...)."""
        if self.mode == "bar":
            from tqdm.auto import tqdm

            tqdm.write(f"mctsr eval: {message}", file=sys.stderr)
        else:
            self.events.event("note", message)

    def close(self) -> None:
        self.bar.close()
