"""Self-evaluation (arXiv 2406.07394, section 3.3): reward samples in [-100, 100], parsed robustly.

A reward reply should end with `[Score] N`. When the backend honours grammars, `score_grammar()` constrains
the reply to a short analysis (at most `reason_chars_for(max_tokens)` characters, no "[") followed by
`[Score] <integer in [-100, 100]>`, so every sample that is not cut off by the token cap parses. Otherwise `parse_score` reads free text:

- the last `[Score] N`, else the last `Score: N` / `score is N` / `score of N`, else a reply that is only a
  number; N may be signed and decimal, and `N/D` (e.g. `8/10`) is read as 100*N/D;
- clamp policy: a finite value outside [-100, 100] is clamped to the nearest bound (the model meant "as good
  / as bad as it gets"); anything else (no number, inf, nan) is unparseable.

`sample_rewards` draws every sample of a batch of answers in one generate call, re-asks only the unparseable
samples (all of them together, at most `retries` more calls), then drops those still unparseable. An answer
left with no parsed sample gets `fallback` (0, the middle of the scale, by default) as its single reward, so
the tree stays well-defined; each such case is counted in `RewardOutcome.fallback`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .generation.base import GenerationRequest, GenerationResult, Message, SamplingParams

__all__ = [
    "SCORE_MIN",
    "SCORE_MAX",
    "parse_score",
    "score_grammar",
    "reason_chars_for",
    "RewardJob",
    "RewardOutcome",
    "sample_rewards",
]

SCORE_MIN = -100.0
SCORE_MAX = 100.0

_NUM = r"([+-]?\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?"
_TAGGED = re.compile(r"\[\s*score\s*\]\s*[:=]?\s*\**\s*" + _NUM, re.IGNORECASE)
_LOOSE = re.compile(r"\bscore\b\s*(?:is|of|:|=|-)?\s*[:=]?\s*\**\s*" + _NUM, re.IGNORECASE)
_BARE = re.compile(r"^\s*" + _NUM + r"\s*\.?\s*$")


def _value(m: re.Match) -> float | None:
    try:
        v = float(m.group(1))
        if m.group(2) is not None:
            d = float(m.group(2))
            if d <= 0:
                return None
            v = 100.0 * v / d
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(v):
        return None
    return min(max(v, SCORE_MIN), SCORE_MAX)


def parse_score(text: str) -> float | None:
    """The score of a reward reply, clamped to [-100, 100], or None if the reply has none (module doc)."""
    if not isinstance(text, str) or not text.strip():
        return None
    for pattern in (_TAGGED, _LOOSE):
        matches = list(pattern.finditer(text))
        for m in reversed(matches):
            v = _value(m)
            if v is not None:
                return v
    m = _BARE.match(text)
    return _value(m) if m else None


def reason_chars_for(max_tokens: int) -> int:
    """How much analysis the grammar allows under a reply cap of `max_tokens`: 2 characters per token left
    after 12 tokens kept for `[Score] -100`, so the score line fits even when grammar-constrained sampling
    picks short tokens (English text averages about 4 characters per token)."""
    return max(0, 2 * (max_tokens - 12))


def score_grammar(reason_chars: int = 104) -> str:
    """GBNF for a reply of at most `reason_chars` characters of analysis (no "["), then `[Score] N` with N an
    integer in [-100, 100]."""
    if reason_chars < 0:
        raise ValueError(f"reason_chars must be >= 0, got {reason_chars}")
    reason = f'reason ::= [^\\[]{{0,{reason_chars}}}\n' if reason_chars else 'reason ::= ""\n'
    return (
        'root ::= reason "[Score] " score\n'
        + reason
        + 'score ::= "-"? ("100" | [1-9] [0-9]? | "0")\n'
    )


@dataclass(frozen=True)
class RewardJob:
    """`n` reward samples for one prompt (an answer to grade)."""

    messages: tuple[Message, ...]
    n: int
    fallback_ok: bool = True  # False: an answer that already has rewards (a repeat sample) needs no fallback


@dataclass
class RewardOutcome:
    """The parsed rewards of one job and what it took to get them."""

    rewards: list[float] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # every reply, parsed or not, in order
    unparsed: int = 0  # samples whose reply had no score (each retried; counted once per reply)
    dropped: int = 0  # samples still unparseable after the retries
    fallback: bool = False  # True when no sample parsed and the fallback score was used


GenerateFn = Callable[[Sequence[GenerationRequest]], list[GenerationResult]]


def sample_rewards(
    generate: GenerateFn,
    jobs: Sequence[RewardJob],
    params: SamplingParams,
    *,
    retries: int = 2,
    fallback: float = 0.0,
) -> list[RewardOutcome]:
    """Draw every job's samples in one call, re-ask unparseable samples at most `retries` times (one call per
    round, all jobs together), drop what still fails, and apply the fallback (module doc)."""
    outcomes = [RewardOutcome() for _ in jobs]
    missing = [job.n for job in jobs]
    for _round in range(retries + 1):
        todo = [i for i, m in enumerate(missing) if m > 0]
        if not todo:
            break
        requests = [
            GenerationRequest(messages=jobs[i].messages, params=params, n=missing[i], kind="reward") for i in todo
        ]
        for i, result in zip(todo, generate(requests)):
            for text in result.texts:
                outcomes[i].replies.append(text)
                score = parse_score(text)
                if score is None:
                    outcomes[i].unparsed += 1
                else:
                    outcomes[i].rewards.append(score)
                    missing[i] -= 1
    for i, job in enumerate(jobs):
        outcomes[i].dropped = max(missing[i], 0)
        if not outcomes[i].rewards and job.fallback_ok:
            outcomes[i].rewards.append(float(fallback))
            outcomes[i].fallback = True
    return outcomes
