"""What one search asks of the model: the request of each call kind and the replies, in one place.

The five call kinds (prompts.CallKind): the first answer, the self-refine pair (critique, refine), the sampled
reward and the probability-mode verdict. `SearchCalls` turns a call kind and its texts into a request, with
the sampling parameters the `SolveConfig` sets for that kind and the prompt fitted to the context
(prompts.fit_prompt), and sends requests through the search's `ModelClient` (seeding, accounting, the
failed-sequence fallback). The search core, the reward evaluators and the baselines all build their requests
here, so a baseline's answers are drawn exactly as the search draws its first answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .answers import answer_kind
from .generation.base import Backend, GenerationRequest, SamplingParams
from .generation.client import ModelClient
from .prompts import AnswerKind, CallKind, fit_prompt
from .rewards import VERDICT_TOKENS, reason_chars_for, score_grammar
from .solve_config import SolveConfig

__all__ = ["SearchCalls", "Reply"]


@dataclass(frozen=True)
class Reply:
    """The first completion of a request: its text, how it ended ("stop", "length", "error") and its tokens."""

    text: str
    finish: str
    tokens: int


class SearchCalls:
    """The requests of one search (module doc). `shortened` counts prompts cut to fit the context."""

    def __init__(self, problem: str, config: SolveConfig, backend: Backend, *, seed: int | None = None) -> None:
        self.problem = problem
        self.config = config
        self.client = ModelClient(backend, seed=config.seed if seed is None else seed)
        self.answer_kind: AnswerKind = answer_kind(problem) if config.answer_kind == "auto" else config.answer_kind
        self.shortened = 0

    def params(self, call: CallKind) -> SamplingParams:
        """Sampling parameters of one call kind (the client seeds each request)."""
        c = self.config
        if call == "reward":
            grammar = score_grammar(reason_chars_for(c.reward_max_tokens)) \
                if c.use_grammar and self.client.supports_grammar else None
            return SamplingParams(max_tokens=c.reward_max_tokens, temperature=c.reward_temperature,
                                  top_p=c.top_p, grammar=grammar)
        if call == "verdict":  # one greedy token; the reward is read from the verdict tokens' probabilities
            return SamplingParams(max_tokens=1, temperature=0.0, top_p=1.0, logprobs_of=VERDICT_TOKENS)
        caps = {"answer": c.answer_max_tokens, "critique": c.critique_max_tokens, "refine": c.refine_max_tokens}
        return SamplingParams(max_tokens=caps[call], temperature=c.temperature, top_p=c.top_p)

    def request(self, call: CallKind, answer: str = "", critique: str = "", n: int = 1) -> GenerationRequest:
        """The request of one call, its prompt shortened to fit the context if needed (prompts.fit_prompt)."""
        params = self.params(call)
        fitted = fit_prompt(self.client, self.config.prompts, call, self.problem, answer=answer, critique=critique,
                            answer_kind=self.answer_kind, max_tokens=params.max_tokens,
                            floor_tokens=self.client.floor_tokens)
        if fitted.omitted:
            self.shortened += 1
        return GenerationRequest(messages=fitted.messages, params=params, kind=call, n=n)

    def replies(self, requests: Sequence[GenerationRequest]) -> list[Reply]:
        """The first completion of each request, in one model call."""
        out = []
        for result in self.client.generate(requests):
            c = result.completions[0]
            out.append(Reply(c.text, c.finish_reason, c.generated_tokens))
        return out
