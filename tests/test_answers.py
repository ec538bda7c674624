"""Final-answer extraction and equivalence: pairs known equal, pairs known different, garbage."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mctsr_native.answers import AnswerGroups, answer_key, answer_kind, equivalent, extract_answer, group_answers

# ------------------------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So the total is 18.\nThe answer is: 18", "18"),
        ("The answer is: 18.", "18"),
        ("the answer is 42 because 6*7", "42"),
        ("The answer is: $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("We get \\boxed{\\frac{\\sqrt{3}}{2}} as required.", "\\frac{\\sqrt{3}}{2}"),
        ("first \\boxed{1} then \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{a_{1}} \\boxed{x^{2}+{y}}", "x^{2}+{y}"),
        ("answer \\boxed{7} then truncated \\boxed{\\frac{1", "7"),
        ("\\fbox{3}", "3"),
        ("$\\boxed 5$", "5"),
        ("Natalia sold 72 clips.\n#### 72", "72"),
        ("[Answer] 1,000", "1,000"),
        ("Final answer: x = 3", "x = 3"),
        ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
        ("**The answer is: 12**", "12"),
        ("The answer is:\n\n  36", "36"),
        ("Answer: (B)", "(B)"),
        ("The answer is: 3. First, we add. The answer is: 5", "5"),
        ("End your reply with 'The answer is: <answer>'. Working... The answer is: 9", "9"),
        ("The answer to this problem is 1.\n\nThe answer is flawed.", "1"),
        ("the answer is indeed 125", "125"),
        ("The answer is therefore: $\\frac{3}{4}$", "\\frac{3}{4}"),
        ("Is f odd or even? The answer is: odd", "odd"),
        ("The answer is Monday.", "Monday"),
        ("The answer is: 0.5. The robe takes 2 bolts of blue fiber.", "0.5"),
        ("The answer is 18, which is 196 divided by 18.", "18"),
        ("The answer is 3.75 since 15/4 = 3.75", "3.75"),
        ("The answer is (1, 2), so we are done.", "(1, 2)"),
        ("The answer is [1, 2).", "[1, 2)"),
        ("The answer is 2, 3", "2, 3"),
        ("The answer is 1,000.", "1,000"),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "I don't know.", "The answer is:", "\\boxed{", "The answer is: <answer>",
                                  "The answer is not clear.", "So the final answer is $(", "The answer is (3, 4"])
def test_extract_answer_none(text: str) -> None:
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Natalia sold 18 clips.\nanswer: 18"', "18"),  # a stray quote after the answer
        ('The answer is: "18"', "18"),
        ("The answer is: `x = 3`", "x = 3"),
        ("\\boxed{\"7\"}", "7"),
        ("The answer is: $1,000.50", "$1,000.50"),  # money, not an unclosed formula
    ],
)
def test_extract_answer_drops_quotes(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["Final answer: The answer is:", "**Final answer:** The answer is:\n",
                                  "[Answer] The answer is:", "Answer: the answer is:", "Final answer: Answer:"])
def test_an_announcement_is_not_an_answer(text: str) -> None:
    assert extract_answer(text) is None and extract_answer(text, "number") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is: The cost of 12 pencils is $12", "12"),
        ("The answer is: 12", "12"),
        ('answer: 18"', "18"),
        ("The answer is: 18 dollars", "18"),
        ("The answer is: $18.00", "18.00"),
        ("The answer is: x = -3", "-3"),
        ("The answer is: 20 - 5 = 15", "15"),
        ("The answer is: 1,000", "1,000"),
        ("The answer is: 50%", "50%"),
        ("The answer is: 3/4", "3/4"),
        ("\\boxed{12 \\text{ pencils}}", "12"),
        ("The answer is: \\frac{1}{2}", "\\frac{1}{2}"),
        ("The answer is: odd", None),  # a number-format problem: no number, no answer
        ("The answer is: -\\frac{2}{3}", "-\\frac{2}{3}"),
        ("The answer is: 2^{10}", "2^{10}"),  # an expression stays whole: math-verify compares it
        ("The answer is: \\sqrt{2}", "\\sqrt{2}"),
        ("The answer is: x = 3 + 4 = 7", "7"),
    ],
)
def test_a_number_format_answer_is_its_number(text: str, expected: str | None) -> None:
    assert extract_answer(text, "number") == expected


def test_number_answers_vote_together() -> None:
    """"The cost of 12 pencils is $12" and "12" are one answer once a number-format problem reads its number."""
    answers = [extract_answer(t, "number") for t in ("The answer is: The cost of 12 pencils is $12",
                                                     "The answer is: 12", 'answer: 12"', "The answer is: 13")]
    assert group_answers(answers) == [[0, 1, 2], [3]]
    assert extract_answer("The answer is: 2, 3") == "2, 3"  # without the number rule, a list stays a list


def test_the_solver_extracts_numbers_for_number_problems() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from solver_fakes import FakeBackend

    from mctsr_native import solve

    def reply(request, i):
        return "Each pencil costs $1.\nThe answer is: The cost of 12 pencils is $12" if request.kind != "reward" \
            else "[Score] 50"

    result = solve("Pencils cost $1 each. What do 12 pencils cost?", backend=FakeBackend(reply), rollouts=1)
    assert result.answer == "12" and {n["answer"] for n in result.nodes if n["kind"] == "answer"} == {"12"}


def test_extract_answer_non_string() -> None:
    assert extract_answer(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("problem", "kind"),
    [
        ("Natalia sold clips to 48 of her friends in April. How many clips did she sell?", "number"),
        ("Find $x$ such that $x^2 = 4$.", "latex"),
        ("Compute \\sqrt{16}.", "latex"),
        ("Which is largest? (A) 1 (B) 2 (C) 3", "latex"),
        ("She sells eggs for $2 per egg and muffins at $1.50. How much?", "number"),
        ("Cashback is $.20 per gallon; he gives 200$ to his wife and pays $35/hour.", "number"),
        ("If $3x + 2(1 + x) = 17$, what is the value of $6x + 5$?", "latex"),
        ("What is $5$ times $2/9$?", "latex"),
    ],
)
def test_answer_kind(problem: str, kind: str) -> None:
    assert answer_kind(problem) == kind


def test_answer_kind_on_shipped_data() -> None:
    import json
    from pathlib import Path

    gsm8k = Path(__file__).resolve().parents[1] / "data" / "gsm8k_test.jsonl"
    kinds = [answer_kind(json.loads(line)["problem"]) for line in gsm8k.read_text(encoding="utf-8").splitlines()]
    assert kinds.count("number") == len(kinds)  # GSM8K's "$" signs are money, not LaTeX


# ------------------------------------------------------------------------------------------------ equivalence

EQUAL = [
    ("18", "18"),
    ("18", "18.00"),
    ("1,000", "1000"),
    ("1{,}000", "1000"),
    ("1 000 000", "1000000"),
    ("$18", "18"),
    ("\\$18.00", "18"),
    ("18 dollars", "18"),
    ("18 \\text{ dollars}", "18"),
    ("5 cm^2", "5"),
    ("x = 3", "3"),
    ("x=3", "$3$"),
    ("\\frac{1}{2}", "1/2"),
    ("\\frac{1}{2}", "0.5"),
    ("\\dfrac{3}{4}", "0.75"),
    ("\\tfrac12", "\\frac{1}{2}"),
    ("-\\frac{2}{3}", "-2/3"),
    ("(B)", "B"),
    ("\\text{(B)}", "B"),
    ("(C) 12", "C"),
    ("50\\%", "50"),
    ("50%", "0.5"),
    ("-5", "-5.0"),
    ("−5", "-5"),
    ("\\boxed{7}", "7"),
    ("90^\\circ", "90"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}"),
    ("3\\sqrt{2}", "\\sqrt{18}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("[1,2)", "[1, 2)"),
    ("(-\\infty, 3]", "(-\\infty,3]"),
    ("(3, -\\frac{1}{2})", "(3, -0.5)"),
    ("\\text{Monday}", "Monday"),
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("1/3", "0.333333"),
    ("10^{3}", "1000"),
]

DIFFERENT = [
    ("18", "19"),
    ("18", "1.8"),
    ("1,000", "1"),
    ("2,3", "2300"),
    ("\\frac{1}{2}", "1/3"),
    ("1/3", "0.33"),
    ("(B)", "(C)"),
    ("B", "12"),
    ("-5", "5"),
    ("x = 3", "x = 4"),
    ("(1,2)", "(2,1)"),
    ("[1,2)", "[1,2]"),
    ("(1,2)", "[1,2]"),
    ("\\sqrt{2}", "2"),
    ("\\pi", "3.14"),
    ("50\\%", "0.4"),
    ("x^2", "x^3"),
    ("A = 5", "A"),
    ("yes", "no"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equivalent_pairs(a: str, b: str) -> None:
    assert equivalent(a, b)
    assert equivalent(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_pairs(a: str, b: str) -> None:
    assert not equivalent(a, b)
    assert not equivalent(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [(None, "1"), ("1", None), (None, None), ("", ""), ("  ", "1"), ("\\frac{", "}}"), ("$$$", "\\\\\\"),
     ("\\boxed{", "1"), ("1/0", "1/0"), ("\x00\x01", "1"), ("{" * 500, "}" * 500)],
)
def test_garbage_never_raises(a: str | None, b: str | None) -> None:
    assert equivalent(a, b) in (True, False)
    assert isinstance(answer_key(a), str)


@pytest.mark.parametrize("bomb", ["10^{10^{10}}", "2^{99999999}", "99999999999!", "9^9^9^9", "x" * 5000])
def test_pathological_answers_are_bounded(bomb: str) -> None:
    start = time.monotonic()
    assert not equivalent(bomb, "1")
    assert time.monotonic() - start < 20.0  # "no hang", with room for a loaded machine; unguarded, these run for hours


def test_equivalent_off_the_main_thread() -> None:
    """math-verify's SIGALRM timer is main-thread only; a worker thread must still get answers."""
    results: list[bool] = []
    t = threading.Thread(target=lambda: results.extend([equivalent("\\frac{\\sqrt{8}}{2}", "\\sqrt{2}"),
                                                        equivalent("x^2", "x^3")]))
    t.start()
    t.join(timeout=30)
    assert results == [True, False]


@pytest.fixture
def stalling_parse(monkeypatch: pytest.MonkeyPatch):
    """math-verify's parse timing out whenever its timer is in `stall_at` (a stalled, loaded machine), else real."""
    import math_verify
    from math_verify.errors import TimeoutException

    from mctsr_native import answers

    real = math_verify.parse
    stall_at: set = set()
    calls: list = []

    def parse(pred, *args, parsing_timeout=None, **kw):
        calls.append(parsing_timeout)
        if parsing_timeout in stall_at:
            raise TimeoutException("stalled")
        return real(pred, *args, parsing_timeout=parsing_timeout, **kw)

    answers._parse.cache_clear()
    answers._equivalent.cache_clear()
    monkeypatch.setattr(math_verify, "parse", parse)
    yield stall_at, calls
    answers._parse.cache_clear()
    answers._equivalent.cache_clear()


def test_a_timed_out_parse_is_retried_with_the_longer_timer(stalling_parse) -> None:
    stall_at, calls = stalling_parse
    stall_at.add(1)
    assert equivalent("x^2+2x", "2x+x^2")
    assert 1 in calls and 4 in calls


def test_a_timeout_is_never_remembered_as_a_verdict(stalling_parse) -> None:
    stall_at, calls = stalling_parse
    stall_at.update({1, 4})
    assert not equivalent("x^2+2x", "2x+x^2")  # undecided: not shown equal
    stall_at.clear()
    assert equivalent("x^2+2x", "2x+x^2")  # the machine recovered; the earlier timeout was not cached


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_equivalent_total_on_random_text(a: str, b: str) -> None:
    assert equivalent(a, b) == equivalent(b, a)
    assert extract_answer(a) is None or isinstance(extract_answer(a), str)


@settings(max_examples=60, deadline=None)
@given(st.integers(-10**9, 10**9))
def test_integers_equal_their_formatted_forms(n: int) -> None:
    assert equivalent(str(n), f"{n:,}")
    assert equivalent(str(n), f"{n}.00")
    assert not equivalent(str(n), str(n + 1))


# -------------------------------------------------------------------------------------------------- grouping


def test_answer_key_canonical() -> None:
    assert answer_key("1,000") == answer_key("1000") == answer_key("$1000$") == answer_key("1000 dollars")
    assert answer_key("(B)") == answer_key("B") == "choice:B"
    assert answer_key("18.00") == answer_key("18")
    assert answer_key(None) == ""


def test_group_answers() -> None:
    answers = ["18", "\\frac{1}{2}", None, "18.00", "0.5", "", "$18", "7", "1/2"]
    assert group_answers(answers) == [[0, 3, 6], [1, 4, 8], [7]]


def test_group_answers_empty() -> None:
    assert group_answers([]) == []
    assert group_answers([None, None]) == []


def test_group_answers_merges_symbolic_equivalents() -> None:
    assert group_answers(["\\sqrt{18}", "3\\sqrt{2}", "x=3\\sqrt{2}", "4"]) == [[0, 1, 2], [3]]


POOL = ["18", "18.00", "$18", "\\frac{1}{2}", "0.5", "1/2", "50%", "\\sqrt{18}", "3\\sqrt{2}", "x=3\\sqrt{2}",
        "7", "B", "(B)", "x^2", "x \\cdot x", None, "", "  ", "no answer", "1/3", "0.333333", "0.3333334", "5%",
        "0.05", "5", "-2", "2", "1,000", "1000", "\\frac{-1}{2}", "-0.5", "x = 0.5", "50", "0.25", "25%",
        "\\sqrt{4}", "\\sqrt{25}", "2^{1}"]  # expressions equal to numbers


def components(answers: list[str | None]) -> list[list[int]]:
    """The reference partition: connected components of "same key or `equivalent`" over every pair."""
    live = [i for i, a in enumerate(answers) if isinstance(a, str) and answer_key(a) not in ("", "str:")]
    comp = {i: {i} for i in live}
    for x in live:
        for y in live:
            if x < y and comp[x] is not comp[y] and (answer_key(answers[x]) == answer_key(answers[y])
                                                     or equivalent(answers[x], answers[y])):
                merged = comp[x] | comp[y]
                for i in merged:
                    comp[i] = merged
    return [sorted(c) for c in sorted({frozenset(c) for c in comp.values()}, key=min)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(POOL), max_size=24), st.integers(1, 8))
def test_answer_groups_grown_in_batches_match_every_pair_compared(answers, batch) -> None:
    grown = AnswerGroups()
    for start in range(0, len(answers), batch):
        for a in answers[start:start + batch]:
            grown.add(a)
        assert grown.groups() == components(answers[:grown.count])  # after every batch, as the progress line reads
    assert grown.count == len(answers) and group_answers(answers) == grown.groups()


def test_answer_groups_compare_each_pair_of_keys_once_and_numbers_only_near_their_value(monkeypatch) -> None:
    from mctsr_native import answers as module

    calls: list[tuple[str, str]] = []
    real = module.equivalent
    monkeypatch.setattr(module, "equivalent", lambda a, b: calls.append((a, b)) or real(a, b))
    grown = AnswerGroups()
    symbolic = [f"x^{{{n}}}" for n in range(2, 10)]  # 8 expressions: each meets every other answer once
    numbers = [str(n) for n in range(30)] + ["1/3", "0.333333", "50%", "0.5"]  # 30 apart, 2 pairs that round alike
    for _ in range(3):  # every answer three times, with the groups read after each answer
        for a in symbolic + numbers:
            grown.add(a)
            grown.groups()
    assert len(grown.groups()) == 8 + 30 + 2
    assert len(calls) == len(set(calls)) == 8 * 7 // 2 + 8 * len(numbers) + 2  # no number meets a far number
