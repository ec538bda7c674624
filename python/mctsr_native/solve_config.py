"""The options of one MCTSr search: `SolveConfig`, a frozen keyword-only dataclass with `validate()`.

Every field changes the search in the way its comment says; `tree` / `rules` choose the C++ tree's rules
(docs/design.md, TreeConfig). The defaults follow the paper (arXiv 2406.07394): 8 rollouts, k = 3 reward
samples, one more sample on each re-selection, the vote selector on top.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidConfigError

from .prompts import Prompts
from .tree import TreeConfig

__all__ = ["SolveConfig", "Selector"]

Selector = Literal["vote", "max_q"]

_INT32_MAX = 2**31 - 1  # integer options reach llama.cpp and the C++ core as 32-bit values
_SEED_MAX = 2**32 - 1  # llama.cpp's sampler seeds are unsigned 32-bit

# the smallest value of each integer option (reward replies need room for "[Verdict] incorrect" and "[Score] -100")
_INT_MINIMUMS = {"rollouts": 0, "parallel": 1, "reward_samples": 1, "reselect_samples": 0, "fresh_every": 0,
                 "reward_retries": 0, "patience": 0, "agreement_min": 1, "answer_max_tokens": 1,
                 "critique_max_tokens": 1, "refine_max_tokens": 1, "reward_max_tokens": 16}
# the largest, where one makes sense (else 2^31-1): samples and candidates are sequences decoded together
# (llama.cpp holds at most 256), and each retry round is a whole model call inside one step, which no time
# limit interrupts; the engine's own capacity is checked against the options by `capacity.check_fits`
_INT_MAXIMUMS = {"parallel": 256, "reward_samples": 256, "reselect_samples": 256, "reward_retries": 16}


def tree_preset(rules: str, **fields: Any) -> TreeConfig:
    """The tree rules a preset name stands for (`paper`, `reference`), with `fields` overriding the preset's:
    the one place a preset name is mapped to rules (SolveConfig and the command line's [tree] section)."""
    presets = {"paper": TreeConfig.paper, "reference": TreeConfig.reference}
    if rules not in presets:
        raise InvalidConfigError(f"rules must be paper or reference, got {rules!r}")
    try:
        return presets[rules](**fields)
    except TypeError as e:  # a field TreeConfig does not have
        raise InvalidConfigError(f"bad tree option: {e}") from None


@dataclass(frozen=True, kw_only=True)
class SolveConfig:
    """Everything that changes a search. `validate()` raises InvalidConfigError on a bad value."""

    rollouts: int = 8  # refinements (new answers) to make; 0 = zero-shot chain of thought (the answer alone)
    score_zero_shot: bool = False  # at rollouts 0, also draw reward samples (costs k samples per answer)
    parallel: int = 1  # P: candidates refined per step, in one model batch (virtual loss in C++)
    reward_samples: int = 3  # k: reward samples of every new answer
    reselect_samples: int = 1  # extra reward samples of a node each time it is selected for refinement
    fresh_every: int = 0  # every n-th rollout draws a new answer under the dummy, not a refinement (0 = never)
    reward_retries: int = 2  # extra calls that re-ask unparseable reward samples
    fallback_reward: float = 0.0  # reward of an answer none of whose reward samples parsed
    patience: int = 0  # stop when the best answer Q has not improved for this many rollouts (0 = off)
    stop_on_agreement: bool = False  # stop when every answer node's final answer agrees
    agreement_min: int = 3  # answers needed before agreement can stop the search
    max_seconds: float | None = None  # wall-clock budget, checked between steps (None = none)
    token_budget: int | None = None  # model tokens (prompt evaluated + generated) budget (None = none)
    answer_max_tokens: int = 384  # cap of the first answer
    critique_max_tokens: int = 256  # cap of each critique
    refine_max_tokens: int = 384  # cap of each rewritten answer
    reward_max_tokens: int = 160  # cap of each reward reply; the analysis gets 2 characters per token left
    # after the verdict and score lines (rewards.reason_chars_for)
    temperature: float = 0.7  # sampling temperature of answers and critiques
    reward_mode: Literal["sampled", "probability"] = "sampled"  # sampled: k reward replies per answer (the
    # paper); probability: one forward pass reads P(Yes) of a yes/no question, reward = 200 P - 100 (a deviation)
    reward_temperature: float = 0.7  # sampling temperature of reward samples (>0 so samples differ)
    top_p: float = 0.95  # nucleus sampling mass of every call
    use_grammar: bool = True  # constrain reward replies by GBNF when the backend supports it
    selector: Selector = "vote"  # which final-answer rule chooses the result's answer
    rules: Literal["paper", "reference"] = "paper"  # tree rules preset: TreeConfig.paper() / .reference()
    tree: TreeConfig | None = None  # explicit tree rules; overrides `rules`
    seed: int = 0  # seeds every request (request i gets a seed derived from (seed, i))
    answer_kind: Literal["auto", "number", "latex"] = "auto"  # answer format; auto = answers.answer_kind
    prompts: Prompts = field(default_factory=Prompts)  # every prompt template

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise InvalidConfigError(what)

        def number(name: str) -> float:
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            need(ok, f"{name} must be a finite number, got {v!r}")
            return float(v)

        for name, low in _INT_MINIMUMS.items():
            v = getattr(self, name)
            high = _INT_MAXIMUMS.get(name, _INT32_MAX)
            ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
            need(ok, f"{name} must be an int in [{low}, {high}], got {v!r:.60}")
        v = self.seed
        need(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _SEED_MAX,
             f"seed must be an int in [0, {_SEED_MAX}], got {v!r}")
        v = number("fallback_reward")
        need(-100.0 <= v <= 100.0, f"fallback_reward must be in [-100, 100], got {v!r}")
        if self.max_seconds is not None:
            need(number("max_seconds") > 0, f"max_seconds must be > 0 or None, got {self.max_seconds!r}")
        v = self.token_budget
        need(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
             f"token_budget must be an int > 0 or None, got {v!r}")
        for name in ("temperature", "reward_temperature"):
            need(number(name) >= 0, f"{name} must be >= 0, got {getattr(self, name)!r}")
        number("top_p")
        for name in ("score_zero_shot", "stop_on_agreement", "use_grammar"):
            need(isinstance(getattr(self, name), bool), f"{name} must be True or False, got {getattr(self, name)!r}")
        need(self.tree is None or isinstance(self.tree, TreeConfig),
             f"tree must be a TreeConfig or None, got {self.tree!r} (for a preset by name use rules='paper' or "
             "'reference')")
        need(0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}")
        for name, allowed in (("selector", ("vote", "max_q")), ("rules", ("paper", "reference")),
                              ("reward_mode", ("sampled", "probability")),
                              ("answer_kind", ("auto", "number", "latex"))):
            need(getattr(self, name) in allowed, f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        need(isinstance(self.prompts, Prompts), "prompts must be a Prompts")
        self.prompts.validate()
        self.tree_config().validate()

    def tree_config(self) -> TreeConfig:
        """The tree rules in force: `tree`, else the `rules` preset, with rollout_budget = rollouts if unset."""
        tc = self.tree
        if tc is None:
            tc = tree_preset(self.rules)
        if tc.rollout_budget == 0 and self.rollouts > 0:
            tc = dataclasses.replace(tc, rollout_budget=self.rollouts)
        return tc

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("tree", "prompts")}
        d["tree"] = dataclasses.asdict(self.tree_config())
        d["prompts"] = self.prompts.to_dict()
        return d
