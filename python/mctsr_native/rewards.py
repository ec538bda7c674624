"""Self-evaluation (arXiv 2406.07394, section 3.3): reward samples in [-100, 100], parsed robustly.

A reward reply is an analysis, then a verdict, then the score on a named scale:

    <analysis, at most reason_chars_for(max_tokens) characters, no "[">
    [Verdict] correct            or   [Verdict] incorrect
    [Score] +80                       [Score] -60

The layout keeps the score from being confused with the answer (issue 12: a small model copied the answer's
number, or a number of the problem, into a bare `[Score] N` line in 59% of samples): the analysis comes first
with room to check the work (its length follows the reply cap), the verdict word comes before any number, and
the score is a signed multiple of ten whose sign follows the verdict (+10..+100 or 0 for "correct", -10..-100
for "incorrect"), so "28" or "1424" cannot be written as a score. The tree still receives the paper's scale,
[-100, 100]. When the backend honours grammars, `score_grammar()` enforces this layout, so every sample that
is not cut off by the token cap parses. Otherwise `parse_score` reads free text:

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
    "TAIL_TOKENS",
    "RewardJob",
    "RewardOutcome",
    "sample_rewards",
    "VERDICT_TOKENS",
    "verdict_probability",
    "verdict_reward",
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


TAIL_TOKENS = 16  # tokens kept for "[Verdict] incorrect" and "[Score] -100" at the end of a reply


def reason_chars_for(max_tokens: int) -> int:
    """How much analysis the grammar allows under a reply cap of `max_tokens`: 2 characters per token left
    after TAIL_TOKENS kept for the verdict and score lines, so they fit even when grammar-constrained sampling
    picks short tokens (English text averages about 4 characters per token). The default cap (160) leaves
    288 characters: a few sentences that check the steps, not one cut-off phrase (issue 14, item 4)."""
    return max(0, 2 * (max_tokens - TAIL_TOKENS))


def score_grammar(reason_chars: int = 288) -> str:
    """GBNF for a reply of at most `reason_chars` characters of analysis (no "["), then `[Verdict] correct`
    and `[Score] +N` (N in 10..100 by tens, or 0), or `[Verdict] incorrect` and `[Score] -N` (module doc)."""
    if reason_chars < 0:
        raise ValueError(f"reason_chars must be >= 0, got {reason_chars}")
    reason = f'reason ::= [^\\[]{{0,{reason_chars}}}\n' if reason_chars else 'reason ::= ""\n'
    return (
        'root ::= reason "[Verdict] " verdict\n'
        + reason
        + 'verdict ::= "correct\\n[Score] " ("+" tens | "0") | "incorrect\\n[Score] -" tens\n'
        + 'tens ::= "100" | [1-9] "0"\n'
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
    tokens: int = 0  # tokens generated for this job's replies, retries included


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
            outcomes[i].tokens += sum(c.generated_tokens for c in result.completions)
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


# ------------------------------------------------------------------------------ probability reward mode
#
# A deviation from the paper, offered as an option (SolveConfig.reward_mode="probability"): instead of k
# sampled graded replies, one forward pass over a yes/no question ("Is this answer correct?") and the
# next-token probabilities of the verdict tokens at the first reply position. The reward is
# 200 * P(yes) / (P(yes) + P(no)) - 100, on the paper's scale; deterministic, so one value per answer.

VERDICT_YES = ("Yes", " Yes", "yes", " yes", "YES")  # tokenization variants of the "correct" verdict
VERDICT_NO = ("No", " No", "no", " no", "NO")  # ... and of the "incorrect" one
VERDICT_TOKENS = VERDICT_YES + VERDICT_NO


def verdict_probability(logprobs: Sequence[float | None], n_yes: int = len(VERDICT_YES)) -> float | None:
    """P(yes) normalized over the verdict tokens, from the log-probabilities of `VERDICT_TOKENS`' first
    tokens (the first `n_yes` are "yes" variants). Variants that share a token (e.g. "YES" split to "Y...")
    report the same value and are counted once per group. None when no verdict token has any mass."""
    def mass(values: Sequence[float | None]) -> float:
        seen = {v for v in values if v is not None and math.isfinite(v)}
        return sum(math.exp(v) for v in seen)

    yes, no = mass(logprobs[:n_yes]), mass(logprobs[n_yes:])
    if yes + no <= 0.0:
        return None
    return yes / (yes + no)


def verdict_reward(p_yes: float) -> float:
    """The reward on the paper's scale for P(correct) = p_yes: 200 p - 100."""
    return min(max(200.0 * p_yes - 100.0, SCORE_MIN), SCORE_MAX)
