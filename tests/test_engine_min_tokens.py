"""SamplingParams.min_tokens (no end-of-generation token before that many tokens) on both in-process engines,
and the parallel draw of a step's sequences (`LlamaOptions.sampling_threads`) giving the tokens of a serial draw."""

from __future__ import annotations

import pytest

from mctsr_native.errors import InvalidRequestError
from mctsr_native.generation import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.llama import LlamaBackend

SYSTEM = Message(role="system", content="You are a careful math tutor. Reason step by step, then give the answer.")
SHORT = "Say hello."  # the default model's greedy reply ends with an end-of-generation token (25 tokens)


def ask(text: str, **params) -> GenerationRequest:
    n = params.pop("n", 1)
    return GenerationRequest(messages=(SYSTEM, Message(role="user", content=text)), params=SamplingParams(**params), n=n)


def test_min_tokens_is_checked():
    with pytest.raises(InvalidRequestError, match="min_tokens"):
        SamplingParams(max_tokens=8, min_tokens=9).validate()
    with pytest.raises(InvalidRequestError, match="min_tokens"):
        SamplingParams(min_tokens=-1).validate()


@pytest.fixture(scope="module")
def engine(default_model_path):
    with LlamaBackend(default_model_path, n_ctx=2048, seed=7) as b:
        yield b


@pytest.mark.model
def test_min_tokens_runs_past_the_end_of_generation(engine):
    [free] = engine.generate([ask(SHORT, max_tokens=40, temperature=0.0)])
    ended = free.completions[0]
    assert ended.finish_reason == "stop" and ended.generated_tokens < 40  # the premise: it ends by itself
    cap = ended.generated_tokens + 8
    [held] = engine.generate([ask(SHORT, max_tokens=cap, min_tokens=cap, temperature=0.0)])
    c = held.completions[0]
    assert (c.finish_reason, c.generated_tokens) == ("length", cap)
    assert c.text.startswith(ended.text)  # greedy: the same tokens up to where the end token was masked
    sampled = engine.generate([ask(SHORT, max_tokens=cap, min_tokens=cap, temperature=0.8, seed=3, n=3)])[0]
    assert [(x.finish_reason, x.generated_tokens) for x in sampled.completions] == [("length", cap)] * 3


@pytest.mark.model
def test_min_tokens_below_the_cap_lets_it_end_after(engine):
    [free] = engine.generate([ask(SHORT, max_tokens=60, temperature=0.0)])
    n = free.completions[0].generated_tokens
    [r] = engine.generate([ask(SHORT, max_tokens=60, min_tokens=n + 2, temperature=0.0)])
    c = r.completions[0]
    assert c.generated_tokens >= n + 2
    assert c.text.startswith(free.completions[0].text)


@pytest.mark.model
def test_sequential_baseline_honours_min_tokens(default_model_path):
    from mctsr_native.generation import open_backend

    b = open_backend(default_model_path, mode="sequential", n_ctx=2048, seed=7)
    try:
        [free] = b.generate([ask(SHORT, max_tokens=40, temperature=0.0)])
        assert free.completions[0].finish_reason == "stop"
        cap = free.completions[0].generated_tokens + 6
        [held] = b.generate([ask(SHORT, max_tokens=cap, min_tokens=cap, temperature=0.0)])
        assert (held.completions[0].finish_reason, held.completions[0].generated_tokens) == ("length", cap)
    finally:
        b.close()


@pytest.mark.model
def test_parallel_draws_give_the_serial_tokens(default_model_path):
    calls = [ask(SHORT, max_tokens=12, temperature=0.9, seed=5, n=4),
             ask("Count from 1 to 20.", max_tokens=12, temperature=0.0),
             ask("Reply with one word: yes or no. Is 7 prime?", max_tokens=8, temperature=0.0, min_tokens=6),
             ask(SHORT, max_tokens=12, temperature=0.7, top_k=0, min_p=0.05, seed=9, n=2)]
    texts = {}
    for threads in (1, 4):
        with LlamaBackend(default_model_path, n_ctx=2048, seed=7, sampling_threads=threads) as b:
            assert (b._pool is None) == (threads == 1)
            texts[threads] = [r.texts for r in b.generate(calls)]
    assert texts[1] == texts[4]
