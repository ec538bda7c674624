"""Reward parsing, the score grammar, retries and the fallback."""

from __future__ import annotations

import re

import pytest
from solver_fakes import FakeBackend

from mctsr_native.generation.base import Message, SamplingParams
from mctsr_native.rewards import RewardJob, parse_score, sample_rewards, score_grammar


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
    assert '"[Score] "' in g and "{0,120}" in g and '"100"' in g
    assert "reason ::= \"\"" in score_grammar(0)
    with pytest.raises(ValueError):
        score_grammar(-1)


def test_every_grammar_score_is_in_range():
    # the score rule: "-"? ("100" | [1-9] [0-9]? | "0")
    rule = re.compile(r"^-?(100|[1-9][0-9]?|0)$")
    accepted = [s for s in (str(i) for i in range(-150, 151)) if rule.match(s)]
    assert {int(s) for s in accepted} == set(range(-100, 101))


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
