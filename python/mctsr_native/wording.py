"""Words for people: counts with the right plural and answers that may be missing, so that no output says
"1 answers" or prints Python's `None`."""

from __future__ import annotations

from typing import Any

__all__ = ["plural", "shown", "share_or_ratio"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 answer", "3 answers", "0 answers"; `many` for irregular plurals ("reply", "replies")."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def shown(value: Any, missing: str = "(no answer extracted)") -> str:
    """An answer (or any value that may be absent) as text: `missing` instead of None or an empty string."""
    return missing if value is None or (isinstance(value, str) and not value.strip()) else str(value)


def share_or_ratio(x: float | None, pct: bool = False) -> str:
    """A diagnostic figure in a table cell: "-" when it could not be computed, a whole percent for a share
    (`pct`), two decimals otherwise."""
    if x is None:
        return "-"
    return f"{100 * x:.0f}%" if pct else f"{x:.2f}"
