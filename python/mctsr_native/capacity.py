"""What a backend can hold, and whether a search's options fit it: checked before any work, so an option the
model cannot serve is refused by name instead of failing mid-search (or, as `mctsr serve` once did, leaving
the shared engine without free sequence slots).

The in-process engine decodes the `n` samples of one prompt together: `n` must be at most `max_sequences`,
and `n` replies of up to `max_tokens` tokens each must fit its KV cells (`n × max_tokens < n_ctx`, the
prompt needing at least one cell). Every reply also needs room for its prompt in one sequence's context
(`max_tokens < context`). A server (HTTP backend) declares only its context (`--context-size`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidConfigError

__all__ = ["Capacity", "capacity_of", "misfit", "check_fits"]

_CAPS = ("answer_max_tokens", "critique_max_tokens", "refine_max_tokens", "reward_max_tokens")


@dataclass(frozen=True, kw_only=True)
class Capacity:
    """The limits of one backend (None: no such limit, or not known)."""

    context_tokens: int | None = None  # tokens one sequence holds: its prompt and its reply
    kv_cells: int | None = None  # KV cells shared by the sequences decoded together (the engine's n_ctx)
    max_sequences: int | None = None  # sequences decoded together (the samples of one prompt must fit)
    where: str = "the model"  # how messages name the backend


def capacity_of(backend: Any) -> Capacity:
    """The backend's own `capacity` (the in-process engine), else its context size alone."""
    cap = getattr(backend, "capacity", None)
    if isinstance(cap, Capacity):
        return cap
    size = getattr(backend, "context_size", None)
    return Capacity(context_tokens=size if isinstance(size, int) and not isinstance(size, bool) else None)


def misfit(config: Any, cap: Capacity) -> tuple[str, str] | None:
    """(field, message) of the first SolveConfig option that `cap` cannot serve, or None when all fit."""
    samples = []
    if config.reward_mode == "sampled":  # the probability mode asks one verdict per answer, n = 1
        samples = [("reward_samples", config.reward_samples), ("reselect_samples", config.reselect_samples)]
    cap_tokens = config.reward_max_tokens
    for name, n in samples:
        if cap.max_sequences is not None and n > cap.max_sequences:
            return name, (f"{name}={n}: the samples of one answer are decoded together, but {cap.where} decodes "
                          f"at most {cap.max_sequences} sequences at once (max_sequences): lower {name} to "
                          f"{cap.max_sequences} or less, or raise max_sequences")
        if cap.kv_cells is not None and n * cap_tokens >= cap.kv_cells:
            return name, (f"{name}={n} replies of up to reward_max_tokens={cap_tokens} tokens need {n * cap_tokens} "
                          f"KV cells together, but {cap.where} holds {cap.kv_cells} (n_ctx): lower {name} or "
                          "reward_max_tokens, or raise n_ctx")
    for name in _CAPS:
        value = getattr(config, name)
        if cap.context_tokens is not None and value >= cap.context_tokens:
            return name, (f"{name}={value} leaves no room for the prompt: {cap.where} holds {cap.context_tokens} "
                          f"tokens per sequence (prompt and reply): lower {name} below {cap.context_tokens}, or "
                          "raise n_ctx")
    return None


def check_fits(config: Any, cap: Capacity) -> None:
    """InvalidConfigError naming the first option `cap` cannot serve (`misfit`)."""
    problem = misfit(config, cap)
    if problem is not None:
        raise InvalidConfigError(problem[1])
