"""Baselines at equal compute: what the tokens of a search would have bought spent on independent answers.

- `sc` (self-consistency, Wang et al. 2022): independent answers from the search's own answer prompt, at the
  search's temperature and caps, and the majority vote of their final answers by mathematical equivalence
  (answers.group_answers; a tie goes to the group whose first member came first).
- `best_of_n`: the same answers, in the same order, each scored by the reward the search uses (the
  evaluator of its reward mode, evaluators.py, with k samples each in the sampled mode), and the answer with
  the highest Q (the tree's own Q rule and suppression, read from a C++ tree) chosen, preferring answers with
  an extractable final answer as max-Q does.

Equal compute, by default: for a search that generated T tokens (at one of its budgets), a baseline uses the
longest prefix of its answers whose generated tokens do not exceed T (for best-of-N the reward replies count
too), and at least one answer. Answers are drawn once per problem, up to the largest T, so the budgets of a
problem are paired as the search's are. `samples=N` instead uses the first N answers whatever they cost.

The answers are seeded from the problem's seed, apart from the search's requests: the baselines do not
depend on the search's configuration beyond its prompts, temperature, caps and reward, so they can be added
to a finished run. Ground truth never enters this module: `evaluate.py` scores the choices.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .answers import extract_answer, group_answers
from .calls import SearchCalls
from .errors import InvalidConfigError
from .evaluators import reward_evaluator
from .generation.base import Backend
from .solve_config import SolveConfig
from .tree import Tree

__all__ = ["BASELINES", "DRAW_BATCH", "Sample", "Baselines", "majority_groups", "baseline_seed", "check_baselines"]

BASELINES = ("sc", "best_of_n")  # the methods, as `mctsr eval --baseline` names them ("best-of-n" also read)
DRAW_BATCH = 8  # answers drawn per model call at most


def check_baselines(names: Sequence[str]) -> tuple[str, ...]:
    """The baseline names, normalised ("best-of-n" -> "best_of_n"); InvalidConfigError naming the allowed ones."""
    out = []
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if key not in BASELINES:
            raise InvalidConfigError(f"unknown baseline {name!r}: choose from sc, best-of-n")
        if key not in out:
            out.append(key)
    return tuple(out)


def baseline_seed(problem_seed: int) -> int:
    """The seed of a problem's baseline answers: derived from its seed, distinct from the search's requests."""
    return zlib.crc32(f"{problem_seed}:baseline".encode()) & 0x7FFFFFFF


@dataclass
class Sample:
    """One independent answer and, once best-of-N has scored it, its reward."""

    text: str  # the answer's text (not recorded: the run file keeps what scoring needs)
    answer: str | None  # the extracted final answer (None: none could be extracted)
    tokens: int  # generated tokens of the answer
    finish: str  # "stop", "length" (cut by its cap), "error"
    q: float | None = None  # its Q under the search's reward and Q rule (best-of-N only)
    reward_tokens: int = 0  # generated tokens of its reward replies

    def to_dict(self) -> dict[str, Any]:
        """The recorded fields: answer, tokens, finish, and q and reward_tokens once scored."""
        d = {"answer": self.answer, "tokens": self.tokens, "finish": self.finish}
        if self.q is not None:
            d.update(q=self.q, reward_tokens=self.reward_tokens)
        return d


def by_majority(groups: list[list[int]]) -> list[list[int]]:
    """Groups of answer indices, largest first; equal sizes keep the order of their first answer
    (self-consistency's vote: the first group wins)."""
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def majority_groups(samples: Sequence[Sample]) -> list[list[int]]:
    """Indices of equivalent answers, largest group first (`by_majority`)."""
    return by_majority(group_answers([s.answer for s in samples]))


class Baselines:
    """The baseline answers of one problem, drawn and scored on demand (module doc)."""

    def __init__(self, problem: str, config: SolveConfig, backend: Backend, *, seed: int) -> None:
        self.config = dataclasses.replace(config, seed=baseline_seed(seed))
        self.calls = SearchCalls(problem, self.config, backend)
        self.rewards = reward_evaluator(self.calls)
        self.samples: list[Sample] = []

    def draw(self, *, tokens: int | None = None, count: int | None = None) -> None:
        """Draw answers until they hold `tokens` generated tokens (or `count` answers) in all."""
        while True:
            spent = sum(s.tokens for s in self.samples)
            if count is not None:
                want = count - len(self.samples)
            else:
                assert tokens is not None
                mean = spent / len(self.samples) if self.samples else self.config.answer_max_tokens / 2
                want = math.ceil((tokens - spent) / max(mean, 1.0)) if spent < tokens else 0
            if want <= 0:
                return
            replies = self.calls.replies([self.calls.request("answer")] * min(want, DRAW_BATCH))
            self.samples += [Sample(r.text, extract_answer(r.text), r.tokens, r.finish) for r in replies]

    def score(self, *, tokens: int | None = None, count: int | None = None) -> None:
        """Score answers in order until answers and rewards hold `tokens` generated tokens (or `count` answers
        are scored), drawing more answers if needed."""
        k = self.config.reward_samples
        while True:
            scored = [s for s in self.samples if s.q is not None]
            if count is not None:
                want = count - len(scored)
            else:
                assert tokens is not None
                spent = sum(s.tokens + s.reward_tokens for s in scored)
                mean = spent / len(scored) if scored else float(self.config.answer_max_tokens)
                want = math.ceil((tokens - spent) / max(mean, 1.0)) if spent < tokens else 0
            if want <= 0:
                return
            start = len(scored)  # answers are scored in order: the scored ones are a prefix
            if len(self.samples) < start + 1:
                self.draw(count=start + 1)
            batch = list(range(start, min(start + min(want, DRAW_BATCH), len(self.samples))))
            outcomes = self.rewards.score([self.samples[i].text for i in batch], [k] * len(batch), [True] * len(batch))
            tree = Tree(self.config.tree_config())
            for i, outcome in zip(batch, outcomes):
                node = tree.add_root("answer")
                tree.record_rewards(node, outcome.rewards)
                self.samples[i].q = tree.own_q(node)
                self.samples[i].reward_tokens = outcome.tokens

    # ------------------------------------------------------------------------------------------- choices

    def prefix(self, method: str, tokens: int | None = None, count: int | None = None) -> list[Sample]:
        """The answers a baseline uses: the first `count`, or the longest prefix within `tokens` (at least one)."""
        pool = self.samples if method == "sc" else [s for s in self.samples if s.q is not None]
        if count is not None:
            return pool[:count]
        used, spent = [], 0
        for s in pool:
            spent += s.tokens + (s.reward_tokens if method == "best_of_n" else 0)
            if used and spent > (tokens or 0):
                break
            used.append(s)
        return used

    @staticmethod
    def choose(method: str, used: Sequence[Sample]) -> Sample | None:
        """The sample whose answer the baseline returns: the majority (sc) or the highest Q (best_of_n)."""
        if not used:
            return None
        if method == "sc":
            groups = majority_groups(used)
            return used[groups[0][0]] if groups else used[0]
        pool = [s for s in used if s.answer is not None] or list(used)
        return max(pool, key=lambda s: (s.q if s.q is not None else -math.inf, -used.index(s)))

    def results(self, methods: Sequence[str], targets: Mapping[int, int], *,
                samples: int | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        """(method, budget, result) for each method and each budget's target tokens: the chosen answer, the
        answers used and their tokens. Draws and scores what is needed first."""
        top = max(targets.values()) if targets else 0
        if samples is not None:
            self.draw(count=samples)
        else:
            self.draw(tokens=top)
        if "best_of_n" in methods:
            self.score(count=samples) if samples is not None else self.score(tokens=top)
        out = []
        for method in methods:
            for budget, target in sorted(targets.items()):
                used = self.prefix(method, target, samples)
                chosen = self.choose(method, used)
                spent = sum(s.tokens + (s.reward_tokens if method == "best_of_n" else 0) for s in used)
                out.append((method, budget, {
                    "answer": chosen.answer if chosen else None,
                    "answers": [s.answer for s in used],
                    "tokens_generated": spent,
                    "tokens_target": None if samples is not None else target,
                    "samples": [s.to_dict() for s in used],
                }))
        return out

    def usage(self) -> dict[str, Any]:
        """The work of every baseline answer and reward drawn for this problem."""
        u = self.calls.client.usage
        return {"answers": len(self.samples), "generated_tokens": u.generated_tokens,
                "prompt_tokens": u.prompt_tokens, "model_seconds": u.wall_seconds,
                "capped_replies": dict(self.calls.client.capped)}
