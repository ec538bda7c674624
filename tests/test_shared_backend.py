"""Concurrent searches share one in-process engine: their calls merge into single batched calls."""

from __future__ import annotations

import threading

import pytest

from mctsr_native.generation import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.base import Completion, GenerationResult, Usage
from mctsr_native.generation.shared import SharedBackend


class RecordingBackend:
    """Echoes each request's last message; records the size of every call."""

    name = "recording"
    supports_grammar = False
    thread_safe = False
    merged_calls = 0
    context_size = 4096

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[int] = []
        self.usage = Usage()
        self.last_usage = Usage()
        self.fail_on = fail_on

    def count_tokens(self, messages, assistant_prefix=""):
        return sum(len(m.content.split()) for m in messages)

    def generate(self, requests):
        if any(self.fail_on and self.fail_on in r.messages[-1].content for r in requests):
            raise RuntimeError("engine broke")
        self.calls.append(len(requests))
        out = [
            GenerationResult(
                completions=tuple(
                    Completion(text=r.messages[-1].content.upper(), finish_reason="stop", generated_tokens=2)
                    for _ in range(r.n)
                ),
                prompt_tokens=5,
                evaluated_prompt_tokens=3,
                reused_prompt_tokens=2 + 5 * (r.n - 1),
            )
            for r in requests
        ]
        self.last_usage = Usage(calls=1, decode_seconds=1.0)
        return out


def req(text: str, n: int = 1) -> GenerationRequest:
    return GenerationRequest(messages=(Message(role="user", content=text),), params=SamplingParams(max_tokens=4), n=n)


def run_clients(shared: SharedBackend, n_clients: int, calls_each: int):
    out: dict[int, list[list[str]]] = {}
    start = threading.Barrier(n_clients)

    def work(i: int) -> None:
        with shared.client() as c:
            start.wait()
            out[i] = [c.generate([req(f"c{i} call{k}", n=2)])[0].texts for k in range(calls_each)]
            out[i].append(c.usage)  # type: ignore[arg-type]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a client hung"
    return out


def test_concurrent_clients_are_served_in_merged_calls_with_their_own_results():
    inner = RecordingBackend()
    shared = SharedBackend(inner, max_wait=2.0)  # long wait: every call merges all three clients
    out = run_clients(shared, 3, 4)
    assert inner.calls == [3, 3, 3, 3]
    for i in range(3):
        texts = out[i][:4]
        assert texts == [[f"C{i} CALL{k}"] * 2 for k in range(4)]
        usage = out[i][4]
        assert usage.calls == 4 and usage.sequences == 8 and usage.generated_tokens == 16
        assert usage.prompt_tokens == 12
        assert usage.decode_seconds == pytest.approx(4 / 3)  # each merged second split by token share


def test_a_lone_client_does_not_wait_for_absent_ones():
    inner = RecordingBackend()
    shared = SharedBackend(inner, max_wait=30.0)
    with shared.client() as c:
        assert c.generate([req("x")])[0].texts == ["X"]
    assert inner.calls == [1]


def test_an_engine_failure_reaches_every_waiting_client_and_nobody_hangs():
    inner = RecordingBackend(fail_on="boom")
    shared = SharedBackend(inner, max_wait=2.0)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(text: str) -> None:
        with shared.client() as c:
            start.wait()
            try:
                c.generate([req(text)])
            except RuntimeError as e:
                errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in ("boom", "fine")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert len(errors) == 2


@pytest.mark.model
def test_three_searches_share_the_real_engine(default_model_path):
    from mctsr_native.generation.llama import LlamaBackend
    from mctsr_native.solver import solve

    problems = [f"Tom has {n} apples and buys {n + 2} more. How many apples does he have?" for n in (3, 5, 7)]
    with LlamaBackend(default_model_path, n_ctx=4096) as engine:
        shared = SharedBackend(engine)
        results: dict[int, object] = {}

        def work(i: int) -> None:
            with shared.client() as c:
                results[i] = solve(problems[i], backend=c, rollouts=1, seed=i, answer_max_tokens=32,
                                   critique_max_tokens=24, refine_max_tokens=32, reward_samples=1)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert len(results) == 3
        assert shared.merged_calls >= 1
        for i, r in results.items():
            d = r.to_dict()
            assert d["problem"] == problems[i]
            assert d["stats"]["generated_tokens"] > 0
        total = sum(r.to_dict()["stats"]["generated_tokens"] for r in results.values())
        assert total == engine.usage.generated_tokens


def test_a_client_that_waited_out_a_running_call_merges_with_the_next_call():
    """Client B submits while A's lone call runs; when A's call ends and A submits again at once, B's request
    goes in A's next call instead of running alone (searches in a server never start in step, and a
    search does some work of its own between two calls)."""
    import time

    class Slow(RecordingBackend):
        def generate(self, requests):
            time.sleep(1.0)
            return super().generate(requests)

    inner = Slow()
    shared = SharedBackend(inner, max_wait=0.2)
    merged: dict[str, int] = {}

    def a() -> None:
        with shared.client() as c:
            c.generate([req("a0")])
            time.sleep(0.02)  # the search's own work between two calls (prompts, answer extraction)
            c.generate([req("a1")])
            merged["a"] = c.merged_calls

    def b() -> None:
        with shared.client() as c:
            time.sleep(0.4)  # after A's first call has started alone
            c.generate([req("b0")])
            merged["b"] = c.merged_calls

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a client hung"
    assert inner.calls == [1, 2]
    assert merged == {"a": 1, "b": 1} and shared.merged_calls == 1
