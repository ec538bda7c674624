"""Reward evaluators: where a reward comes from, one class per `SolveConfig.reward_mode`, behind one interface.

    evaluator.score(texts, samples, fallback_ok) -> [RewardOutcome]   one model call (plus bounded retries)

- `SampledRewards` (mode "sampled", the paper, arXiv 2406.07394 §3.3): `samples[i]` graded replies of
  `texts[i]`, parsed by rewards.parse_score; an answer none of whose samples parsed gets the fallback reward.
- `ProbabilityRewards` (mode "probability", a deviation offered as an option): one forward pass per answer
  over a yes/no question; reward = 200 P(yes) - 100, read from the verdict tokens' probabilities. It is
  deterministic, so it draws one value per answer whatever `samples` says. A re-selected parent is visited
  again as the paper's re-evaluation visits it (`reselect_samples`), but re-asking would return the same
  value, so the value it already has is recorded again without a model call: its Q is unchanged and its
  visit count N(a) grows, which UCT's exploration term needs (without it every N(a) stayed 1 and the term
  was the same for every node).

The search core scores its new answers and re-selected parents through an evaluator, and best-of-N scores its
answers through the same one, so both are judged by the same reward. `counts` holds what scoring took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from .calls import SearchCalls
from .errors import BackendError
from .rewards import RewardJob, RewardOutcome, sample_rewards, verdict_probability, verdict_reward

__all__ = ["RewardCounts", "RewardEvaluator", "SampledRewards", "ProbabilityRewards", "reward_evaluator"]


@dataclass
class RewardCounts:
    """What scoring took: samples that did not parse (each retried), samples dropped after the retries, answers
    that got the fallback reward."""

    reward_unparsed: int = 0
    reward_dropped: int = 0
    reward_fallbacks: int = 0

    def add(self, outcome: RewardOutcome) -> None:
        self.reward_unparsed += outcome.unparsed
        self.reward_dropped += outcome.dropped
        self.reward_fallbacks += int(outcome.fallback)


class RewardEvaluator(Protocol):
    """Scores answers; one implementation per reward mode (module doc)."""

    mode: str  # the SolveConfig.reward_mode it implements
    counts: RewardCounts

    def reselect_samples(self) -> int:
        """Samples drawn again for a parent each time it is selected (0 for a deterministic reward)."""
        ...

    def score(self, texts: Sequence[str], samples: Sequence[int], fallback_ok: Sequence[bool]) -> list[RewardOutcome]:
        """`samples[i]` rewards of `texts[i]`; `fallback_ok[i]` False for an answer that already has rewards (a
        repeat sample needs no fallback)."""
        ...


class SampledRewards:
    """The paper's self-evaluation: k graded replies per answer, in one call, unparseable ones re-asked."""

    mode = "sampled"

    def __init__(self, calls: SearchCalls) -> None:
        self.calls = calls
        self.counts = RewardCounts()

    def reselect_samples(self) -> int:
        return self.calls.config.reselect_samples

    def score(self, texts: Sequence[str], samples: Sequence[int], fallback_ok: Sequence[bool]) -> list[RewardOutcome]:
        config = self.calls.config
        jobs = [RewardJob(self.calls.request("reward", text).messages, n, ok)
                for text, n, ok in zip(texts, samples, fallback_ok)]
        outcomes = sample_rewards(self.calls.client.generate, jobs, self.calls.params("reward"),
                                  retries=config.reward_retries, fallback=config.fallback_reward)
        for outcome in outcomes:
            self.counts.add(outcome)
        return outcomes


class ProbabilityRewards:
    """One forward pass per answer: reward = 200 P(yes) - 100 from the verdict tokens' probabilities."""

    mode = "probability"

    def __init__(self, calls: SearchCalls) -> None:
        self.calls = calls
        self.counts = RewardCounts()
        self._known: dict[str, float] = {}  # answer text -> its reward (the verdict is deterministic)

    def reselect_samples(self) -> int:
        return self.calls.config.reselect_samples

    def score(self, texts: Sequence[str], samples: Sequence[int], fallback_ok: Sequence[bool]) -> list[RewardOutcome]:
        """One reward per answer; an answer already scored gets its value again with no model call."""
        new = [i for i, text in enumerate(texts) if text not in self._known]
        fresh = dict(zip(new, self._verdicts([texts[i] for i in new], [fallback_ok[i] for i in new])))
        outcomes = []
        for i, text in enumerate(texts):
            if i in fresh:
                outcomes.append(fresh[i])
            else:
                value = self._known[text]
                outcomes.append(RewardOutcome(rewards=[value], replies=[f"[P(correct)] {(value + 100) / 200:.4f} "
                                                                        "(the same answer's verdict, again)"]))
        return outcomes

    def _verdicts(self, texts: Sequence[str], fallback_ok: Sequence[bool]) -> list[RewardOutcome]:
        if not texts:
            return []
        results = self.calls.client.generate([self.calls.request("verdict", text) for text in texts])
        outcomes = []
        for text, result, ok in zip(texts, results, fallback_ok):
            c = result.completions[0]
            outcome = RewardOutcome(tokens=c.generated_tokens)
            if c.finish_reason != "error" and not c.candidate_logprobs:
                raise BackendError(
                    f"reward_mode='probability' needs token probabilities, and {self.calls.client.name} returned "
                    "none: use the in-process engine, or a server that returns logprobs/top_logprobs "
                    "(llama-server, vLLM, SGLang), or reward_mode='sampled'")
            p = verdict_probability(c.candidate_logprobs) if c.candidate_logprobs else None
            if p is None:
                outcome.unparsed = outcome.dropped = 1
                if ok:
                    outcome.rewards.append(float(self.calls.config.fallback_reward))
                    outcome.fallback = True
            else:
                outcome.rewards.append(verdict_reward(p))
                self._known[text] = outcome.rewards[0]
            outcome.replies.append(f"[P(correct)] {p:.4f} (reply {c.text!r})" if p is not None else c.text)
            self.counts.add(outcome)
            outcomes.append(outcome)
        return outcomes


def reward_evaluator(calls: SearchCalls) -> RewardEvaluator:
    """The evaluator of `calls.config.reward_mode`."""
    return ProbabilityRewards(calls) if calls.config.reward_mode == "probability" else SampledRewards(calls)
