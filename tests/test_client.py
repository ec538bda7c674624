"""The model client (generation/client.py) and the backend base (generation/base.py): seeding, accounting
once, the failed-sequence fallback, replies cut by their cap, sharing, and no second tokenization."""

from __future__ import annotations

import threading
from typing import Sequence

import pytest

from mctsr_native.errors import BackendError, InvalidConfigError
from mctsr_native.generation.base import (BackendBase, Completion, GenerationRequest, GenerationResult, Message,
                                          SamplingParams, Usage, request_seed, sample_seed)
from mctsr_native.generation.client import BackendShare, ModelClient
from mctsr_native.generation.shared import SharedClient

MSG = (Message(role="user", content="What is 2 + 2?"),)


class Scripted(BackendBase):
    """Replies with its request's seed; `finish` per call kind; counts tokens as words."""

    name = "scripted"

    def __init__(self, finish: dict[str, str] | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        self.finish = finish or {}
        self.seen: list[GenerationRequest] = []

    @property
    def context_size(self) -> int:
        return 512

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        return sum(len(m.content.split()) for m in messages)

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        call.decode_seconds += 0.25
        out = []
        for r in requests:
            self.seen.append(r)
            seed = self.seed_of(r)
            finish = self.finish.get(r.kind, "stop")
            out.append(GenerationResult(
                completions=tuple(Completion(text=f"seed {sample_seed(seed, j)}", finish_reason=finish,
                                             generated_tokens=3, error="boom" if finish == "error" else None)
                                  for j in range(r.n)),
                prompt_tokens=4, evaluated_prompt_tokens=4, reused_prompt_tokens=0))
        return out


def req(kind: str = "critique", n: int = 1, seed: int | None = None) -> GenerationRequest:
    return GenerationRequest(messages=MSG, params=SamplingParams(max_tokens=8, seed=seed), n=n, kind=kind)


def test_the_client_seeds_request_i_with_the_one_derivation_and_keeps_given_seeds():
    backend = Scripted()
    client = ModelClient(backend, seed=5)
    client.generate([req(), req(seed=99), req()])
    client.generate([req()])
    assert [r.params.seed for r in backend.seen] == [request_seed(5, 0), 99, request_seed(5, 2), request_seed(5, 3)]


def test_a_backend_seeds_requests_that_come_without_one_from_its_own_seed():
    backend = Scripted(seed=3)
    a = backend.generate([req(), req()])
    b = Scripted(seed=3).generate([req(), req()])
    assert [r.texts for r in a] == [r.texts for r in b]
    assert a[0].texts == [f"seed {request_seed(3, 0)}"] and a[1].texts == [f"seed {request_seed(3, 1)}"]


def test_usage_is_counted_once_from_the_results_and_last_usage_is_per_thread():
    backend = Scripted()
    backend.generate([req(n=2), req("reward", n=3)])
    u = backend.last_usage
    assert (u.calls, u.requests, u.sequences, u.generated_tokens, u.prompt_tokens) == (1, 2, 5, 15, 8)
    assert u.by_kind == {"critique": 2, "reward": 3} and u.decode_seconds == 0.25
    seen: list[Usage] = []
    t = threading.Thread(target=lambda: (backend.generate([req()]), seen.append(backend.last_usage)))
    t.start()
    t.join()
    assert seen[0].sequences == 1 and backend.last_usage.sequences == 5  # each thread sees its own call
    assert backend.usage.calls == 2 and backend.usage.sequences == 6


def test_client_usage_counts_only_its_own_calls_on_a_shared_backend():
    backend = Scripted()
    a, b = ModelClient(backend), ModelClient(backend)
    a.generate([req(n=2)])
    b.generate([req()])
    a.generate([req("reward")])
    assert (a.usage.calls, a.usage.sequences, b.usage.calls, b.usage.sequences) == (2, 3, 1, 1)
    assert a.usage.decode_seconds == pytest.approx(0.5)


def test_failed_sequences_become_empty_replies_and_all_failed_is_an_error():
    backend = Scripted(finish={"refine": "error"})
    client = ModelClient(backend)
    results = client.generate([req("critique"), req("refine", n=2)])
    assert results[0].texts[0].startswith("seed") and results[1].texts == ["", ""]
    assert client.error_replies == 2 and client.empty_replies == 2
    with pytest.raises(BackendError, match="every sequence failed: boom"):
        client.generate([req("refine")])


def test_replies_cut_by_their_cap_are_counted_per_kind():
    client = ModelClient(Scripted(finish={"refine": "length"}))
    client.generate([req("refine", n=2), req("critique"), req("refine")])
    assert client.capped == {"refine": 3} and client.replies == {"refine": 3, "critique": 1}


def test_a_backend_that_returns_the_wrong_shape_is_refused():
    class Short(Scripted):
        def _generate(self, requests, call):
            return super()._generate(requests, call)[:-1]

    with pytest.raises(BackendError, match="wrong number"):
        ModelClient(Short()).generate([req(), req()])


def test_a_client_needs_a_backend():
    with pytest.raises(InvalidConfigError, match="open_backend"):
        ModelClient(object())  # type: ignore[arg-type]


def test_the_share_calls_a_thread_safe_backend_directly_and_merges_the_others():
    safe = Scripted()
    safe.thread_safe = True
    with BackendShare(safe).lease() as got:
        assert got is safe
    engine = Scripted()
    with BackendShare(engine).lease() as got:
        assert isinstance(got, SharedClient)
        got.generate([req()])
    assert engine.usage.calls == 1
    with BackendShare(None).lease() as got:  # an injected solve function brings its own model
        assert got is None


@pytest.mark.model
def test_the_engine_tokenizes_a_fitted_prompt_once(default_model_path, monkeypatch):
    """Fitting counts the prompt's tokens; generating it must reuse them, not tokenize again."""
    from mctsr_native.generation.llama import LlamaBackend, engine as engine_module
    from mctsr_native.prompts import Prompts, fit_prompt

    with LlamaBackend(default_model_path, n_ctx=1024) as backend:
        calls: list[int] = []
        real = engine_module.prompt_tokens
        monkeypatch.setattr(engine_module, "prompt_tokens", lambda *a, **k: calls.append(1) or real(*a, **k))
        client = ModelClient(backend)
        fitted = fit_prompt(client, Prompts(), "critique", "What is 2 + 2?", answer="4", max_tokens=4)
        assert len(calls) == 1
        request = GenerationRequest(messages=fitted.messages, params=SamplingParams(max_tokens=4), kind="critique")
        client.generate([request])
        assert len(calls) == 1  # generate used the tokens fitting counted


def test_the_wrappers_share_one_base_and_a_backend_missing_a_member_is_named() -> None:
    from mctsr_native.errors import InvalidConfigError
    from mctsr_native.generation.base import PROTOCOL, BackendWrapper
    from mctsr_native.generation.replay import RecordingBackend
    from mctsr_native.generation.shared import SharedClient

    assert all(issubclass(c, BackendWrapper) for c in (ModelClient, SharedClient, RecordingBackend))
    backend = Scripted()
    client = ModelClient(backend)
    # what the wrapper does not change is the inner backend's, read as attributes
    assert (client.name, client.supports_grammar, client.context_size) == (
        backend.name, backend.supports_grammar, backend.context_size)
    client.close()  # a search's client never closes the backend it was given
    assert all(hasattr(backend, m) for m in PROTOCOL)

    class Partial:
        name = "partial"

        def generate(self, requests):  # noqa: ANN001, ANN201
            return []

    with pytest.raises(InvalidConfigError, match="Partial lacks usage, last_usage, supports_grammar, thread_safe, "
                                                 "count_tokens, context_size, close"):
        ModelClient(Partial())  # type: ignore[arg-type]
