"""Self-consistency as a way to answer one problem (Wang et al. 2022): N independent answers from the search's
own answer prompt, and the majority of their final answers by mathematical equivalence.

It is exactly the `sc` baseline of `mctsr eval --baseline sc` (baselines.py: the same prompt, temperature, caps,
seeds and vote), so a user whose run file shows self-consistency ahead of the search at equal tokens
(benchmarks/README.md found that on every configuration screened with the CPU eval model) gets, with
`mctsr solve --method sc`, the method that was measured. No reward is drawn and no tree is built.

    self_consistency(problem, backend=backend, config=SolveConfig(), samples=8) -> ScResult

Answers are drawn in batches of up to 8; between batches the draw stops on `cancel` (a threading.Event), Ctrl-C,
`config.max_seconds` or `config.token_budget` (stop reasons "cancelled", "time", "tokens"; else "samples"), and
the vote is taken over the answers drawn so far. A batch in flight when Ctrl-C arrives is lost; the answers
before it are kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .answers import AnswerGroups
from .baselines import DRAW_BATCH, Baselines, Sample, by_majority
from .errors import InvalidConfigError
from .generation.base import Backend
from .record import json_safe
from .solve_config import SolveConfig
from .stopping import StopRules

__all__ = ["SC_FORMAT", "MAX_SAMPLES", "DEFAULT_SAMPLES", "READS", "ScProgress", "ScResult", "answers_only",
           "self_consistency"]

SC_FORMAT = "mctsr-sc/1"  # the "format" of ScResult.to_dict(): bump when its shape changes incompatibly
MAX_SAMPLES = 4096  # answers one call may draw: each is a model reply, so more is a typo, not a plan
DEFAULT_SAMPLES = 8  # as many answers as the default search has rollouts
# the SolveConfig fields that shape the draws (and `prompts`, whose answer templates they use); every other
# field is the search's and changes nothing here
READS = ("answer_max_tokens", "temperature", "top_p", "seed", "answer_kind", "max_seconds", "token_budget")


def answers_only(config: SolveConfig) -> SolveConfig:
    """The config whose fit to a backend is checked before drawing (capacity.misfit): only the answers' cap is
    drawn, so the search's other caps and reward samples (a shared config file's) cannot refuse it."""
    import dataclasses

    return dataclasses.replace(config, reward_mode="probability", critique_max_tokens=1, refine_max_tokens=1,
                               reward_max_tokens=16)


@dataclass(frozen=True)
class ScProgress:
    """After each batch: answers drawn so far, the target, the current majority and its count."""

    drawn: int
    of: int
    answer: str | None
    votes: int
    generated_tokens: int
    seconds: float


@dataclass
class ScResult:
    """What self-consistency returns: the majority answer, the answer text that carried it, every draw and the
    vote's groups. `to_dict()` is the JSON of `mctsr solve --method sc --json`."""

    answer: str | None  # the majority final answer (None: no draw had an extractable answer)
    text: str  # the full text of the first draw in the majority group (the first draw when there is none)
    chosen: int | None  # its index in `samples` (None: nothing was drawn)
    samples: list[Sample]  # every answer drawn, in order
    groups: list[list[int]]  # indices of equivalent answers, largest group first (a tie: the group seen first)
    stats: dict[str, Any]  # samples, tokens, model calls, seconds, stop_reason, capped_replies
    config: dict[str, Any] = field(default_factory=dict)  # the SolveConfig's fields that shaped the draws
    provenance: dict[str, Any] | None = None  # filled by the command line (model, build, options)

    @property
    def votes(self) -> int:
        """Answers in the majority group (0 when no answer was extractable)."""
        return len(self.groups[0]) if self.groups else 0

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "format": SC_FORMAT, "method": "sc", "answer": self.answer, "text": self.text, "chosen": self.chosen,
            "votes": self.votes,
            "groups": [{"answer": self.samples[g[0]].answer, "count": len(g), "samples": g} for g in self.groups],
            "samples": [{**s.to_dict(), "text": s.text} for s in self.samples],
            "stats": self.stats, "config": self.config, "provenance": self.provenance,
        })


def self_consistency(
    problem: str,
    *,
    backend: Backend,
    config: SolveConfig | None = None,
    samples: int = 8,
    cancel: threading.Event | None = None,
    progress: Callable[[ScProgress], None] | None = None,
) -> ScResult:
    """Draw `samples` independent answers (module doc) and return the majority; ground truth is never an input."""
    from .solver import check_problem

    problem = check_problem(problem)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise InvalidConfigError(f"samples must be an int in [1, {MAX_SAMPLES}], got {samples!r:.60}")
    config = config if config is not None else SolveConfig()
    config.validate()
    started = time.perf_counter()
    budgets = StopRules(config)  # --max-seconds and --token-budget, as the search reads them
    draws = Baselines(problem, config, backend, seed=config.seed)
    usage = draws.calls.client.usage
    reason = "samples"
    grouping = AnswerGroups()  # grown with each batch: the progress line does not regroup every answer again

    def vote(drawn: list[Sample]) -> list[list[int]]:
        for s in drawn[grouping.count:]:
            grouping.add(s.answer)
        return by_majority(grouping.groups())

    try:
        while len(draws.samples) < samples:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            spent = budgets.budget_reason(usage.prompt_tokens + usage.generated_tokens)
            if spent is not None:
                reason = spent
                break
            draws.draw(count=min(len(draws.samples) + DRAW_BATCH, samples))
            if progress is not None:
                groups = vote(draws.samples)
                lead = draws.samples[groups[0][0]].answer if groups else None
                progress(ScProgress(len(draws.samples), samples, lead, len(groups[0]) if groups else 0,
                                    usage.generated_tokens, time.perf_counter() - started))
    except KeyboardInterrupt:
        reason = "cancelled"
    drawn = draws.samples
    groups = vote(drawn)  # the eval baseline's vote too (Baselines.choose: the same grouping), so the two cannot drift
    chosen = groups[0][0] if groups else (0 if drawn else None)
    stats = {
        "samples": len(drawn), "of": samples, "stop_reason": reason,
        "generated_tokens": usage.generated_tokens, "prompt_tokens": usage.prompt_tokens,
        "reused_tokens": usage.reused_tokens, "model_calls": usage.calls, "sequences": usage.sequences,
        "model_seconds": usage.wall_seconds, "wall_seconds": time.perf_counter() - started,
        "capped_replies": dict(draws.calls.client.capped), "by_kind": dict(usage.by_kind),
        "extracted": sum(1 for s in drawn if s.answer is not None),
        "error_replies": sum(1 for s in drawn if s.finish == "error"),
        "prompts_shortened": draws.calls.shortened,
    }
    keep = ("answer_max_tokens", "temperature", "top_p", "seed", "answer_kind", "prompts")
    cfg = {k: v for k, v in config.to_dict().items() if k in keep}  # what shaped the draws; no tree, no reward
    return ScResult(answer=drawn[chosen].answer if chosen is not None else None,
                    text=drawn[chosen].text if chosen is not None else "", chosen=chosen, samples=list(drawn),
                    groups=groups, stats=stats, config=cfg)
