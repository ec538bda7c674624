"""The batched llama.cpp engine on the real default model: batching, prefix reuse, sampling, accounting."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mctsr_native.errors import ContextOverflowError, GrammarError
from mctsr_native.generation import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.llama import LlamaBackend

pytestmark = pytest.mark.model

SYSTEM = Message(role="system", content="You are a careful math tutor. Reason step by step, then give the answer.")
PROBLEM = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
    "egg. How much in dollars does she make every day at the farmers' market?"
)


def ask(text: str, *, max_tokens: int = 24, temperature: float = 0.0, n: int = 1, **params) -> GenerationRequest:
    return GenerationRequest(
        messages=(SYSTEM, Message(role="user", content=text)),
        params=SamplingParams(max_tokens=max_tokens, temperature=temperature, **params),
        n=n,
    )


def mctsr_shaped() -> list[GenerationRequest]:
    """Prompts that share the system text and the problem, then differ (critique / refine / reward)."""
    tails = ["Criticise this answer strictly.", "Rewrite the answer.", "Grade the answer from -100 to 100."]
    return [ask(f"{PROBLEM}\n\nAnswer: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\n\n{t}") for t in tails]


@pytest.fixture(scope="module")
def engine(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=4096, seed=7) as b:
        yield b


@pytest.fixture(scope="module")
def engine_no_reuse(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=4096, seed=7, prefix_cache=False) as b:
        yield b


def test_batch_of_requests_each_gets_its_own_completions(engine):
    reqs = [ask(f"{PROBLEM} (version {i})") for i in range(3)] + [ask(PROBLEM, n=3, temperature=0.9, seed=11)]
    results = engine.generate(reqs)
    assert [len(r.completions) for r in results] == [1, 1, 1, 3]
    for r in results:
        for c in r.completions:
            assert c.finish_reason in ("stop", "length")
            assert 0 < c.generated_tokens <= 24
            assert c.text.strip()
    # three samples at temperature 0.9 from one prompt are not all the same text
    assert len(set(results[3].texts)) >= 2


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def assert_same_distribution(a: np.ndarray, b: np.ndarray) -> None:
    """Next-token distributions agree within llama.cpp's batch-shape rounding (see benchmarks/README.md):
    measured KL ~0.003 and total variation ~3% on this model; a wrong KV prefix gives KL well above 0.1."""
    pa, pb = _softmax(a.astype(np.float64)), _softmax(b.astype(np.float64))
    kl = float((pa * np.log(pa / pb)).sum())
    tv = 0.5 * float(np.abs(pa - pb).sum())
    assert kl < 0.02 and tv < 0.1, (kl, tv)


def prompt_logits(engine: LlamaBackend, requests: list[GenerationRequest]) -> list[np.ndarray]:
    """The next-token logits after each request's prompt, computed exactly as `generate` computes them (same
    batching and prefix reuse): the samplers are watched, and each request gets one sampler and one draw."""
    import dataclasses

    from mctsr_native.generation.llama import native

    made: list[native.Sampler] = []
    seen: dict[int, np.ndarray] = {}
    init, sample = native.Sampler.__init__, native.Sampler.sample

    def watched_init(self, *a, **kw):
        init(self, *a, **kw)
        made.append(self)

    def watched_sample(self, ctx, batch_index):
        seen.setdefault(id(self), ctx.logits(batch_index, engine.model.n_vocab))
        return sample(self, ctx, batch_index)

    one = [dataclasses.replace(r, params=dataclasses.replace(r.params, max_tokens=1), n=1) for r in requests]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(native.Sampler, "__init__", watched_init)
        mp.setattr(native.Sampler, "sample", watched_sample)
        engine.generate(one)
    assert len(made) == len(requests)
    return [seen[id(s)] for s in made]


def test_batched_prompts_see_what_they_would_see_alone(engine):
    reqs = mctsr_shaped()
    engine.reset_cache()
    together = prompt_logits(engine, reqs)
    for req, got in zip(reqs, together):
        engine.reset_cache()
        assert_same_distribution(prompt_logits(engine, [req])[0], got)


def test_a_wrong_prefix_would_be_caught(engine):
    reqs = mctsr_shaped()
    other = ask("What is the capital of France? Answer in one word.")
    engine.reset_cache()
    a, b = prompt_logits(engine, [reqs[2], other])
    with pytest.raises(AssertionError):
        assert_same_distribution(a, b)


def test_prefix_reuse_keeps_the_distribution_and_evaluates_fewer_tokens(engine, engine_no_reuse):
    reqs = mctsr_shaped()
    engine.reset_cache()
    reused = prompt_logits(engine, reqs)
    fresh = prompt_logits(engine_no_reuse, reqs)
    for a, b in zip(fresh, reused):
        assert_same_distribution(a, b)

    engine.reset_cache()
    first = engine.generate(reqs)
    first_call = engine.last_usage
    again = engine.generate(reqs)
    second_call = engine.last_usage
    without = engine_no_reuse.generate(reqs)
    no_reuse_call = engine_no_reuse.last_usage
    total_prompt = sum(r.prompt_tokens for r in without)
    # without reuse every prompt token is evaluated
    assert no_reuse_call.prompt_tokens == total_prompt
    assert no_reuse_call.reused_tokens == 0
    # with it the shared system text + problem + answer is evaluated once for the three prompts
    shared = min(r.prompt_tokens for r in first) - 20  # the three tails are under 20 tokens each
    assert first_call.prompt_tokens <= total_prompt - 2 * shared
    # a repeated call finds every prompt cached: one token each (llama.cpp needs one to produce logits)
    assert second_call.prompt_tokens == len(reqs)
    assert second_call.reused_tokens == total_prompt - len(reqs)
    for r in again:
        assert r.evaluated_prompt_tokens + r.reused_prompt_tokens == r.prompt_tokens
    # the same computation twice gives the same greedy tokens
    assert [r.texts for r in engine_no_reuse.generate(reqs)] == [r.texts for r in without]


def test_samples_of_one_request_share_its_prompt(engine):
    engine.reset_cache()
    [r] = engine.generate([ask(PROBLEM + " Think.", n=4, temperature=0.8, seed=3)])
    assert r.evaluated_prompt_tokens == r.prompt_tokens  # evaluated once, not four times
    assert r.reused_prompt_tokens == 3 * r.prompt_tokens


def test_a_fixed_seed_reproduces_samples(engine):
    req = ask(PROBLEM, n=2, temperature=1.0, seed=1234)
    assert engine.generate([req])[0].texts == engine.generate([req])[0].texts


def test_stop_strings_end_generation_before_the_stop(engine):
    prompt = "Count from 1 to 20."
    [free] = engine.generate([ask(prompt, max_tokens=40)])
    full = free.texts[0]
    stop = full[len(full) // 2 : len(full) // 2 + 3]  # a string the greedy reply is known to contain
    [r] = engine.generate([ask(prompt, max_tokens=40, stop=("@@never@@", stop))])
    c = r.completions[0]
    assert c.finish_reason == "stop"
    assert c.text == full[: full.index(stop)]
    assert c.generated_tokens < free.completions[0].generated_tokens


def test_a_long_stop_string_spanning_many_tokens_is_found(engine):
    prompt = "Count from 1 to 20."
    [free] = engine.generate([ask(prompt, max_tokens=40)])
    full = free.texts[0]
    stop = full[len(full) // 3 : len(full) // 3 + 24]  # far longer than any one or four tokens
    [r] = engine.generate([ask(prompt, max_tokens=40, stop=(stop,))])
    assert r.completions[0].finish_reason == "stop"
    assert r.completions[0].text == full[: full.index(stop)]


def test_token_cap_ends_with_length(engine):
    [r] = engine.generate([ask("Write a long story about a duck.", max_tokens=5)])
    assert r.completions[0].finish_reason == "length"
    assert r.completions[0].generated_tokens == 5


def test_grammar_constrains_the_reply(engine):
    grammar = 'root ::= "[Score] " ("-"? [1-9] [0-9]? | "0")'
    [r] = engine.generate([ask("Grade this answer: 18.", max_tokens=12, grammar=grammar, temperature=0.7, seed=5, n=3)])
    for text in r.texts:
        assert re.fullmatch(r"\[Score\] -?\d{1,2}", text), text


def test_an_invalid_grammar_fails_only_its_request(engine):
    good, bad = ask("Say hi."), ask("Say hi.", grammar="root ::= nope")
    results = engine.generate([good, bad])
    assert results[0].error is None and results[0].texts[0]
    assert isinstance(results[1].error, GrammarError)
    assert results[1].completions[0].finish_reason == "error"
    assert "grammar" in results[1].completions[0].error
    with pytest.raises(GrammarError):
        results[1].raise_for_error()


def test_a_prompt_longer_than_the_context_fails_only_its_request(engine):
    huge = ask("eggs " * 5000)
    results = engine.generate([huge, ask("Say hi.")])
    assert isinstance(results[0].error, ContextOverflowError)
    assert "context" in str(results[0].error) and "n_ctx" in str(results[0].error)
    assert results[1].error is None and results[1].texts[0]


def test_more_sequences_than_slots_run_in_waves(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=2048, max_sequences=2, max_cached_prefixes=1) as b:
        results = b.generate([ask(f"{PROBLEM} #{i}", max_tokens=6, n=2, temperature=0.5, seed=i) for i in range(3)])
        assert all(len(r.completions) == 2 and all(c.generated_tokens > 0 for c in r.completions) for r in results)
        assert len(b.cache) <= 1


def test_prefix_cache_is_bounded_and_least_recently_used_goes_first(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=2048, max_cached_prefixes=2) as b:
        prompts = [ask(f"Question number {i}: what is {i} + {i}?", max_tokens=2) for i in range(4)]
        for p in prompts:
            b.generate([p])
        assert len(b.cache) == 2
        b.generate([prompts[3]])
        assert b.last_usage.prompt_tokens == 1  # the most recent prompt is still cached
        # every new prompt partially matches (and so uses) the first entry; prompt 1 was used least
        # recently when prompt 2 came in, so it went first
        b.generate([prompts[1]])
        assert b.last_usage.prompt_tokens > 5


def test_usage_adds_up(engine):
    before = engine.usage.copy()
    results = engine.generate([ask(PROBLEM, n=2, temperature=0.7), ask("Say hi.")])
    call = engine.last_usage
    assert call.calls == 1 and call.requests == 2 and call.sequences == 3
    assert call.generated_tokens == sum(c.generated_tokens for r in results for c in r.completions)
    assert call.prompt_tokens == sum(r.evaluated_prompt_tokens for r in results)
    assert call.reused_tokens == sum(r.reused_prompt_tokens for r in results)
    assert 0 < call.decode_seconds <= call.wall_seconds
    assert engine.usage.minus(before).generated_tokens == call.generated_tokens
