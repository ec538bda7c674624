"""Prompt templates and the context-fit rule."""

from __future__ import annotations

import dataclasses

import pytest
from solver_fakes import FakeBackend

from mctsr_native.errors import ContextOverflowError
from mctsr_native.prompts import OMIT_MARK, Prompts, fit_prompt, shorten_middle

PROBLEM = "Janet's ducks lay 16 eggs per day. How many are left after she eats 3?"


def user_text(messages) -> str:
    return messages[-1].content


def test_every_prompt_starts_with_the_same_system_and_problem_text():
    p = Prompts()
    calls = [
        p.build("answer", PROBLEM),
        p.build("critique", PROBLEM, answer="A1"),
        p.build("refine", PROBLEM, answer="A1", critique="C1"),
        p.build("reward", PROBLEM, answer="A2"),
    ]
    head = p.problem_block.format(problem=PROBLEM)
    for msgs in calls:
        assert msgs[0].role == "system" and msgs[0].content == p.system
        assert user_text(msgs).startswith(head)


def test_refine_prompt_holds_problem_answer_and_critique():
    msgs = Prompts().build("refine", PROBLEM, answer="the old answer 17", critique="the subtraction is wrong")
    text = user_text(msgs)
    assert PROBLEM in text and "the old answer 17" in text and "the subtraction is wrong" in text
    # answer before critique, both after the problem: the critique prompt of the same answer is a prefix
    assert text.index(PROBLEM) < text.index("the old answer 17") < text.index("the subtraction is wrong")


def test_answer_format_follows_the_problem_kind():
    p = Prompts()
    assert "The answer is:" in user_text(p.build("answer", PROBLEM, answer_kind="number"))
    assert "\\boxed{" in user_text(p.build("answer", PROBLEM, answer_kind="latex"))
    assert "\\boxed{" in user_text(p.build("refine", PROBLEM, answer="a", critique="c", answer_kind="latex"))


def test_reward_prompt_asks_for_a_strict_score_line():
    text = user_text(Prompts().build("reward", PROBLEM, answer="x"))
    assert "[Score]" in text and "-100" in text and "never give full marks" in text


def test_templates_can_be_overridden():
    p = dataclasses.replace(Prompts(), critique_task="Find the mistakes.", system="Be brief.")
    msgs = p.build("critique", PROBLEM, answer="a")
    assert msgs[0].content == "Be brief." and user_text(msgs).endswith("Find the mistakes.")


def test_shorten_middle_keeps_both_ends_cuts_at_whitespace_and_marks_the_cut():
    text = " ".join(f"word{i}" for i in range(200))
    short, omitted = shorten_middle(text, 300)
    assert short.startswith("word0 ") and short.endswith("word199")
    assert OMIT_MARK.format(n=omitted) in short
    kept_words = short.replace(OMIT_MARK.format(n=omitted), " ").split()
    assert all(w.startswith("word") and w[4:].isdigit() for w in kept_words)  # no word was split
    assert len(text) - omitted == sum(len(p) for p in short.split("\n") if "omitted" not in p)
    assert shorten_middle("short", 10) == ("short", 0)


def test_fit_prompt_leaves_fitting_prompts_alone():
    fitted = fit_prompt(FakeBackend(), Prompts(), "critique", PROBLEM, max_tokens=64, answer="a b c")
    assert fitted.omitted == {}


def test_fit_prompt_shortens_long_answers_and_critiques_and_says_so(caplog):
    backend = FakeBackend(context_size=400)
    answer = " ".join(f"a{i}" for i in range(600))
    critique = " ".join(f"c{i}" for i in range(300))
    fitted = fit_prompt(backend, Prompts(), "refine", PROBLEM, max_tokens=100, answer=answer, critique=critique)
    assert fitted.prompt_tokens + 100 <= 400
    assert backend.count_tokens(fitted.messages) == fitted.prompt_tokens
    assert fitted.omitted["answer"] > 0
    text = user_text(fitted.messages)
    assert PROBLEM in text and "characters omitted" in text
    assert "a0 " in text and "a599" in text  # both ends of the answer survive
    assert "shortened" in caplog.text


def test_fit_prompt_raises_when_the_problem_alone_does_not_fit():
    backend = FakeBackend(context_size=80)
    with pytest.raises(ContextOverflowError, match="n-ctx"):
        fit_prompt(backend, Prompts(), "answer", "word " * 200, max_tokens=32)
