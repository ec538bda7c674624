"""Reward parsing, the score grammar, retries and the fallback."""

from __future__ import annotations

import math
import re

import pytest
from solver_fakes import FakeBackend

from mctsr_native.generation.base import Message, SamplingParams
from mctsr_native.rewards import (
    VERDICT_TOKENS,
    RewardJob,
    parse_score,
    reason_chars_for,
    sample_rewards,
    score_grammar,
    verdict_probability,
    verdict_reward,
)


@pytest.mark.parametrize(
    "text, score",
    [
        ("The answer is right.\n[Score] 85", 85),
        ("[Score] -30", -30),
        ("[score]: 12.5", 12.5),
        ("[Score] 40 ... later [Score] 70", 70),  # the last one wins
        ("Score: 90", 90),
        ("My score is 55.", 55),
        ("**Score:** 65", 65),
        ("Score: 8/10", 80),
        ("[Score] 150", 100),  # clamped
        ("[Score] -250", -100),
        ("  42 ", 42),
        ("[Score] 7\nScore: 99", 7),  # the tagged form beats the loose one
    ],
)
def test_parse_score_reads_common_forms(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["", "   ", "good answer", "[Score]", "Score: high", "[Score] 5/0", None, "1e999"])
def test_parse_score_rejects_replies_without_a_score(text):
    assert parse_score(text) is None


def test_score_grammar_shape():
    g = score_grammar(120)
    assert g.startswith("root ::= ")
    assert '"[Verdict] "' in g and "[Score] " in g and "{0,120}" in g and '"100"' in g
    assert "reason ::= \"\"" in score_grammar(0)
    with pytest.raises(ValueError):
        score_grammar(-1)


def test_grammar_scores_are_signed_tens_tied_to_the_verdict():
    # the grammar's tail, written as a regex: a score can never be "28" or "1424" (issue 12)
    tail = re.compile(r"^\[Verdict\] (correct\n\[Score\] (\+(100|[1-9]0)|0)|incorrect\n\[Score\] -(100|[1-9]0))$")
    assert "tens ::= \"100\" | [1-9] \"0\"" in score_grammar(8)
    ok = {f"[Verdict] correct\n[Score] +{v}" for v in range(10, 101, 10)} | {"[Verdict] correct\n[Score] 0"}
    ok |= {f"[Verdict] incorrect\n[Score] -{v}" for v in range(10, 101, 10)}
    for text in ok:
        assert tail.match(text) and parse_score(text) is not None
    for bad in ("[Verdict] correct\n[Score] -50", "[Verdict] incorrect\n[Score] +50", "[Verdict] correct\n[Score] 28"):
        assert not tail.match(bad)
    assert {parse_score(t) for t in ok} == {float(v) for v in range(-100, 101, 10)}


def test_reason_room_follows_the_cap():
    assert reason_chars_for(160) == 288 and reason_chars_for(16) == 0 and reason_chars_for(64) < reason_chars_for(160)


def test_verdict_probability_normalizes_over_verdict_tokens():
    n = len(VERDICT_TOKENS) // 2
    yes = [math.log(0.3)] + [None] * (n - 1)
    no = [math.log(0.1)] + [None] * (n - 1)
    p = verdict_probability(yes + no)
    assert p == pytest.approx(0.75) and verdict_reward(p) == pytest.approx(50.0)
    # a variant that maps to the same token reports the same value and counts once
    assert verdict_probability([math.log(0.3), math.log(0.3)] + [None] * (n - 2) + no) == pytest.approx(0.75)
    assert verdict_probability([None] * (2 * n)) is None
    assert verdict_reward(1.0) == 100.0 and verdict_reward(0.0) == -100.0


MSGS = (Message(role="user", content="grade"),)


def scripted(replies):
    """A backend whose reward replies come from a list, in order."""
    it = iter(replies)
    return FakeBackend(lambda r, i: next(it))


def test_sample_rewards_uses_one_call_when_everything_parses():
    b = scripted(["[Score] 10", "[Score] 20", "[Score] 30", "[Score] 40"])
    out = sample_rewards(b.generate, [RewardJob(MSGS, 3), RewardJob(MSGS, 1)], SamplingParams(max_tokens=16))
    assert [o.rewards for o in out] == [[10, 20, 30], [40]]
    assert len(b.calls) == 1 and [r.n for r in b.calls[0]] == [3, 1]


def test_sample_rewards_retries_only_the_failed_samples():
    b = scripted(["[Score] 10", "no idea", "[Score] 30", "still no", "[Score] 50"])
    out = sample_rewards(b.generate, [RewardJob(MSGS, 2), RewardJob(MSGS, 1)], SamplingParams(max_tokens=16),
                         retries=2)
    assert out[0].rewards == [10, 50] and out[0].unparsed == 2 and out[0].dropped == 0
    assert out[1].rewards == [30]
    assert [[r.n for r in c] for c in b.calls] == [[2, 1], [1], [1]]


def test_sample_rewards_falls_back_when_nothing_parses():
    b = FakeBackend(lambda r, i: "")
    out = sample_rewards(b.generate, [RewardJob(MSGS, 3), RewardJob(MSGS, 1, fallback_ok=False)],
                         SamplingParams(max_tokens=16), retries=1, fallback=-5.0)
    assert out[0].rewards == [-5.0] and out[0].fallback and out[0].dropped == 3
    assert out[1].rewards == [] and not out[1].fallback
    assert len(b.calls) == 2  # bounded: one call plus one retry
