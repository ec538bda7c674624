"""Record / replay backends: exact replay, occurrence keys, clear errors on a differing run."""

from __future__ import annotations

import json

import pytest
from solver_fakes import FakeBackend

from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.replay import RecordingBackend, ReplayBackend, ReplayMismatchError
from mctsr_native.solver import solve

PROBLEM = "A shop sells 3 pens for $2. How much do 12 pens cost?"


def counter_backend() -> FakeBackend:
    """A backend whose replies differ on every call, so replay must follow the recorded order."""
    state = {"i": 0}

    def reply(r, i):
        state["i"] += 1
        return f"reply {state['i']} [Score] {state['i'] % 90}"

    return FakeBackend(reply)


def req(text: str, seed: int = 1, n: int = 1) -> GenerationRequest:
    return GenerationRequest(messages=(Message(role="user", content=text),), params=SamplingParams(seed=seed), n=n)


def test_replay_returns_the_recorded_replies_by_content_and_occurrence(tmp_path):
    path = tmp_path / "rec.jsonl"
    rec = RecordingBackend(counter_backend(), path)
    first = rec.generate([req("a"), req("b", n=2)])
    again = rec.generate([req("a")])  # same content, second occurrence: a different reply
    assert rec.count_tokens(req("a").messages) == 7
    rec.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["type"] == "meta" and sum(x["type"] == "generate" for x in lines) == 3

    rep = ReplayBackend(path)
    assert rep.context_size == 4096 and rep.supports_grammar is False and rep.name == "replay:fake"
    assert rep.count_tokens(req("a").messages) == 7
    got = rep.generate([req("a"), req("b", n=2)])
    assert [g.texts for g in got] == [f.texts for f in first]
    assert rep.generate([req("a")])[0].texts == again[0].texts
    assert rep.usage.calls == 2 and rep.usage.sequences == 4
    assert rep.usage.generated_tokens == sum(c.generated_tokens for g in first + again for c in g.completions)


def test_a_request_not_in_the_recording_is_a_clear_error(tmp_path):
    path = tmp_path / "rec.jsonl"
    rec = RecordingBackend(counter_backend(), path)
    rec.generate([req("a")])
    rec.close()
    rep = ReplayBackend(path)
    with pytest.raises(ReplayMismatchError, match="not in the recording"):
        rep.generate([req("a", seed=2)])  # the seed is part of the key
    rep.generate([req("a")])
    with pytest.raises(ReplayMismatchError, match="#2"):
        rep.generate([req("a")])  # only one occurrence was recorded
    with pytest.raises(ReplayMismatchError, match="never counted"):
        rep.count_tokens(req("zzz").messages)


def test_a_file_that_is_not_a_recording_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(ReplayMismatchError, match="bad.jsonl:1"):
        ReplayBackend(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ReplayMismatchError, match="meta"):
        ReplayBackend(empty)


def test_a_recorded_search_replays_to_the_same_tree(tmp_path):
    path = tmp_path / "search.jsonl"
    rec = RecordingBackend(counter_backend(), path)
    recorded = solve(PROBLEM, backend=rec, rollouts=3, parallel=2, seed=3)
    rec.close()
    replayed = solve(PROBLEM, backend=ReplayBackend(path), rollouts=3, parallel=2, seed=3)
    assert replayed.nodes == recorded.nodes and replayed.answer == recorded.answer
    with pytest.raises(ReplayMismatchError):
        solve(PROBLEM, backend=ReplayBackend(path), rollouts=3, parallel=2, seed=4)
