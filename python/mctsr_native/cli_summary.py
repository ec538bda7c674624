"""The notes every one-screen summary of `mctsr solve` ends with (the search's and `--method sc`'s alike): replies
cut by their token cap and the flag that lifts it, prompts shortened to fit, failed sequences, the model."""

from __future__ import annotations

from typing import Any

from .wording import plural

__all__ = ["CAP_FLAGS", "capped_note", "reply_notes", "summary_tail"]

CAP_FLAGS = {"answer": "--answer-max-tokens", "critique": "--critique-max-tokens",
             "refine": "--refine-max-tokens", "reward": "--reward-max-tokens"}


def capped_note(stats: dict[str, Any]) -> str | None:
    """"3 of 14 replies hit the cap: raise --refine-max-tokens" (per kind), or None when none was cut."""
    capped = {k: v for k, v in (stats.get("capped_replies") or {}).items() if v}
    if not capped:
        return None
    replies = stats.get("by_kind") or {}
    parts = []
    for kind, n in sorted(capped.items(), key=lambda kv: -kv[1]):
        total = replies.get(kind)
        flag = CAP_FLAGS.get(kind, "--max-tokens")
        counted = f"{n} of {plural(total, kind + ' reply', kind + ' replies')}" if total else \
            plural(n, kind + " reply", kind + " replies")
        parts.append(f"{counted} hit the cap: raise {flag}")
    return "; ".join(parts)


def reply_notes(stats: dict[str, Any]) -> list[str]:
    """Prompts shortened to fit the context and model sequences that failed, from a result's stats."""
    notes = []
    if stats.get("prompts_shortened"):
        n = stats["prompts_shortened"]
        notes.append(f"{plural(n, 'prompt')} {'was' if n == 1 else 'were'} shortened to fit the context")
    if stats.get("error_replies"):
        notes.append(f"{plural(stats['error_replies'], 'model sequence')} failed")
    return notes


def summary_tail(lines: list[str], notes: list[str], model_name: str) -> str:
    """The summary's lines, then its notes on one line and the model's name, as one text."""
    if notes:
        lines = [*lines, "notes: " + "; ".join(notes)]
    if model_name:
        lines = [*lines, f"model: {model_name}"]
    return "\n".join(lines)
