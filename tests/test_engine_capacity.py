"""The in-process engine's capacity (issue 22): a request it cannot hold is refused before it takes any sequence
slot, and a wave that fails part-way gives back every slot it took, so one bad call never leaves the engine
unusable for the next (as `mctsr serve` was after `reward_samples: 300`: 502 for every later request)."""

from __future__ import annotations

import pytest

from mctsr_native import SolveConfig
from mctsr_native.capacity import Capacity, capacity_of, check_fits
from mctsr_native.generation.llama.engine import engine_capacity
from mctsr_native.errors import InvalidConfigError, InvalidRequestError
from mctsr_native.generation import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.llama import LlamaBackend
from mctsr_native.generation.llama import engine as engine_module

QUESTION = (Message(role="user", content="What is 12 + 30? Answer with the number."),)


def ask(n: int = 1, max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(messages=QUESTION, params=SamplingParams(max_tokens=max_tokens, temperature=0.8), n=n)


def slots_accounted(b: LlamaBackend) -> bool:
    """Every sequence slot is free or holds a cached prefix: none is lost."""
    held = [e.seq for e in b.cache.entries]
    return sorted(b._free + held) == list(range(b.ctx.n_seq_max))


@pytest.fixture(scope="module")
def engine(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=1024, n_threads=1, max_sequences=4, max_cached_prefixes=2,
                      seed=3) as b:
        yield b


@pytest.mark.model
def test_a_request_with_more_samples_than_sequences_is_refused_before_taking_a_slot(engine) -> None:
    big, ok = engine.generate([ask(n=9), ask(n=2)])
    assert isinstance(big.error, InvalidRequestError) and "max_sequences=4" in str(big.error)
    assert [c.finish_reason for c in big.completions] == ["error"] * 9
    assert len(ok.completions) == 2 and all(c.finish_reason in ("stop", "length") for c in ok.completions)
    assert slots_accounted(engine)


@pytest.mark.model
def test_a_wave_that_fails_gives_back_every_slot(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.generate([ask(n=2)])  # a cached prefix exists, so the failed wave also copied from the cache
    calls = {"n": 0}
    real = engine_module.native.sample_many

    def fail_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected failure in the middle of a wave")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module.native, "sample_many", fail_once)
    with pytest.raises(RuntimeError, match="injected"):
        engine.generate([ask(n=4), ask(n=3)])
    assert slots_accounted(engine)
    for _ in range(3):  # and the engine serves full waves again, as often as asked
        results = engine.generate([ask(n=4), ask(n=4)])
        assert all(c.finish_reason in ("stop", "length") for r in results for c in r.completions)
    assert slots_accounted(engine)


@pytest.mark.model
def test_the_engine_reports_its_capacity(engine) -> None:
    cap = capacity_of(engine)
    assert (cap.max_sequences, cap.kv_cells, cap.context_tokens) == (4, 1024, 1024)
    with pytest.raises(InvalidConfigError, match="reward_samples=5: .* at most 4 sequences"):
        check_fits(SolveConfig(reward_samples=5), cap)


def test_options_are_checked_against_the_engine_before_it_loads() -> None:
    cap = engine_capacity({"n_ctx": 2048, "max_sequences": 8})
    assert cap == Capacity(context_tokens=2048, kv_cells=2048, max_sequences=8, where="the engine")
    check_fits(SolveConfig(reward_samples=8, reward_max_tokens=200), cap)
    for config, message in (
            (SolveConfig(reward_samples=9), "reward_samples=9: the samples of one answer are decoded together"),
            (SolveConfig(reselect_samples=9), "reselect_samples=9"),
            (SolveConfig(reward_samples=8, reward_max_tokens=256), "need 2048 KV cells together, but the engine holds 2048"),
            (SolveConfig(answer_max_tokens=2048), "answer_max_tokens=2048 leaves no room for the prompt")):
        with pytest.raises(InvalidConfigError, match=message):
            check_fits(config, cap)
    # the probability reward mode asks one verdict per answer: its sample counts need no sequences
    check_fits(SolveConfig(reward_mode="probability", reward_samples=9), cap)
