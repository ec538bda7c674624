"""A small deterministic fake backend for the solver's unit tests (no model, no randomness)."""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

from mctsr_native.generation.base import (
    Completion,
    GenerationRequest,
    GenerationResult,
    Message,
    Usage,
)

Reply = Callable[[GenerationRequest, int], str]  # (request, sample index) -> completion text


def default_reply(request: GenerationRequest, i: int) -> str:
    """Plausible replies keyed on the call kind; scores and answers vary with the request seed."""
    seed = request.params.seed or 0
    if request.kind == "answer":
        return "16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\nThe answer is: 18"
    if request.kind == "critique":
        return "The answer never checks the subtraction."
    if request.kind == "refine":
        return f"Recomputing carefully.\nThe answer is: {18 if seed % 3 else 20}"
    if request.kind == "reward":
        return f"Mostly right.\n[Score] {(seed * 7 + i * 13) % 150 - 40}"
    return "?"


class FakeBackend:
    """Implements `generation.base.Backend` with scripted replies and word-count tokens."""

    name = "fake"
    thread_safe = False
    merged_calls = 0

    def __init__(self, reply: Reply = default_reply, *, context_size: int = 4096, supports_grammar: bool = False,
                 finish_reason: str = "stop", verdict_p: Callable[[GenerationRequest], float] | None = None) -> None:
        self.reply = reply
        self._context = context_size
        self.supports_grammar = supports_grammar
        self.finish_reason = finish_reason
        self.verdict_p = verdict_p  # token probabilities of verdict requests (None: a backend without logprobs)
        self.usage = Usage()
        self.last_usage = Usage()
        self.calls: list[list[GenerationRequest]] = []
        self.closed = False

    @property
    def context_size(self) -> int:
        return self._context

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        return sum(len(m.content.split()) + 4 for m in messages) + len(assistant_prefix.split()) + 2

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        t = time.perf_counter()
        self.calls.append(list(requests))
        out = []
        u = Usage(calls=1)
        for r in requests:
            r.validate()
            prompt = self.count_tokens(r.messages, r.assistant_prefix)
            assert prompt + r.params.max_tokens <= self.context_size, "prompt does not fit"
            comps = []
            for i in range(r.n):
                text = self.reply(r, i)
                gen = min(len(text.split()), r.params.max_tokens)
                err = "scripted failure" if self.finish_reason == "error" else None
                logprobs: tuple[float | None, ...] = ()
                if r.params.logprobs_of and self.verdict_p is not None:  # P(yes) of a verdict request
                    p = self.verdict_p(r)
                    logprobs = tuple(math.log(p if t.strip().lower() == "yes" else 1 - p) for t in r.params.logprobs_of)
                comps.append(Completion(text=text, finish_reason=self.finish_reason, generated_tokens=gen, error=err,
                                        candidate_logprobs=logprobs))
                u.generated_tokens += gen
            u.requests += 1
            u.sequences += r.n
            u.prompt_tokens += prompt
            u.by_kind[r.kind] = u.by_kind.get(r.kind, 0) + r.n
            out.append(GenerationResult(completions=tuple(comps), prompt_tokens=prompt,
                                        evaluated_prompt_tokens=prompt, reused_prompt_tokens=0))
        u.wall_seconds = u.decode_seconds = time.perf_counter() - t
        self.usage.add(u)
        self.last_usage = u
        return out

    def close(self) -> None:
        self.closed = True
