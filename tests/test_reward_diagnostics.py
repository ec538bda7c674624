"""The rewards section of `mctsr report`: exact AUROC, copied-number shares and spread, on written run files."""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

import pytest

from mctsr_native.cli_eval import solve_identity
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.reward_diagnostics import auroc, format_rewards, reward_stats
from mctsr_native.solver import SolveConfig

sys.path.insert(0, str(Path(__file__).parent))
from solver_fakes import FakeBackend  # noqa: E402


def brute_auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))


def test_auroc_equals_the_pairwise_definition_with_ties():
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(2, 30)
        scores = [rng.choice([-100, -50, 0, 10, 50, 100]) for _ in range(n)]
        labels = [rng.random() < 0.4 for _ in range(n)]
        if all(labels) or not any(labels):
            assert auroc(scores, labels) is None
            continue
        a, se = auroc(scores, labels)
        assert a == pytest.approx(brute_auroc(scores, labels)) and 0 <= se < 1
    assert auroc([1, 2, 3, 4], [False, False, True, True])[0] == 1.0
    assert auroc([1, 2, 3, 4], [True, True, False, False])[0] == 0.0


def test_reward_stats_of_a_run(tmp_path: Path):
    """Scripted rewards that copy the answer's number (18) for right answers and give -40 to wrong ones: the
    diagnostic sees a perfect AUROC, the copied share and zero spread."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"Eggs {i}?", "answer": "18"}) + "\n" for i in range(3)))

    def reply(request, i):
        text = request.messages[-1].content
        if request.kind == "answer":
            return "The answer is: 18" if "Eggs 0" in text else "The answer is: 20"
        if request.kind == "refine":
            return f"The answer is: {18 if request.params.seed % 2 else 20}"
        if request.kind == "reward":
            return "[Score] 18" if "is: 18" in text else "[Score] -40"
        return "Check it."

    config = SolveConfig(reward_samples=2)
    out = tmp_path / "run.jsonl"
    run_eval(EvalConfig(data=data, out=out, rollouts=(0, 3), model="fake", solve=solve_identity(config)),
             backend=FakeBackend(reply), solve_kwargs={"config": config}, progress=False, log=lambda m: None)
    stats = reward_stats(out)
    d = stats.as_dict()
    assert d["problems"] == 3  # only each problem's largest budget counts
    assert d["nodes"] == 3 * 4 and 0 < d["right"] < d["nodes"]
    assert d["auroc_sample"] == 1.0 and d["auroc_q"] == 1.0
    right_share = sum(stats.samples_right) / len(stats.samples)
    assert d["share_equal_answer"] == pytest.approx(right_share)  # every sample of a right node copies 18
    assert d["share_equal_text_number"] >= d["share_equal_answer"]
    assert d["mean_sample_std"] == 0.0
    text = format_rewards([out])
    assert "AUROC" in text and "run.jsonl" in text and "1.00" in text


def test_a_handful_of_nodes_is_not_reported_as_certain(monkeypatch):
    """One right node above three wrong ones is AUROC 1.00, and Hanley-McNeil's error is 0: the line must not
    read "1.00±0.00" but say that the sample is too small; with enough of both classes the error is back."""
    from mctsr_native import reward_diagnostics
    from mctsr_native.reward_diagnostics import MIN_CLASS, RewardStats

    few = RewardStats(label="few.jsonl", reward_mode="sampled", problems=2, nodes=4, right=1,
                      q=[90.0, 10.0, 20.0, 5.0], q_right=[True, False, False, False],
                      samples=[90.0, 10.0, 20.0, 5.0], samples_right=[True, False, False, False])
    d = few.as_dict()
    assert d["auroc_q"] == 1.0 and d["auroc_q_se"] is None and d["too_few"]
    rng = random.Random(5)
    labels = [i % 2 == 0 for i in range(4 * MIN_CLASS)]
    scores = [rng.uniform(0, 100) + (20 if y else 0) for y in labels]
    many = RewardStats(label="many.jsonl", reward_mode="sampled", nodes=len(labels), right=sum(labels),
                       q=scores, q_right=labels, samples=scores, samples_right=labels)
    assert many.as_dict()["auroc_q_se"] is not None and not many.as_dict()["too_few"]
    monkeypatch.setattr(reward_diagnostics, "reward_stats", lambda p: few if str(p) == "few" else many)
    text = format_rewards(["few", "many"])
    few_line = next(line for line in text.splitlines() if line.startswith("few.jsonl"))
    assert "1.00 (too few)" in few_line and "±" not in few_line
    assert "±" in next(line for line in text.splitlines() if line.startswith("many.jsonl"))
    assert "few.jsonl: 1 right and 3 wrong nodes" in text


def test_within_a_problem_sees_what_pooling_hides():
    """Easy problems get high grades and right answers, hard ones low grades and wrong answers: pooled, the
    grade looks perfect; within each problem it ranks the wrong answer first, which is what choosing sees."""
    from mctsr_native.reward_diagnostics import within_auroc

    easy = [(90.0, False), (80.0, True), (80.0, True)]
    mixed = [(10.0, False), (0.0, True), (5.0, False)]
    hard = [(-50.0, False), (-60.0, False)]  # no right answer: nothing to rank, not counted
    pooled = auroc([s for g in (easy, mixed, hard) for s, _ in g], [y for g in (easy, mixed, hard) for _, y in g])
    assert pooled[0] > 0.5
    a, se, k = within_auroc([easy, mixed, hard])
    assert (a, se, k) == (0.0, 0.0, 2)
    assert within_auroc([hard]) is None
    assert within_auroc([[(1.0, True), (0.0, False)]]) == (1.0, None, 1)  # one problem: no error across problems


def test_within_problem_rewards_of_search_and_baseline_draws(tmp_path: Path):
    """Scripted grades that prefer the wrong answer (20) inside every problem and answers whose wrong ones are the
    longer: the section reads 0.00 for own Q and for the baselines' draws, 1.00 for the shorter answer, each over
    the problems that hold both."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"Eggs {i}?", "answer": "18"}) + "\n" for i in range(3)))

    def reply(request, i):
        text = request.messages[-1].content
        seed = request.params.seed or 0
        long_wrong = "We add it all up, step by step.\nThe answer is: 20"
        if request.kind == "answer":
            return "The answer is: 18" if seed % 2 else long_wrong
        if request.kind == "refine":  # flips the answer it rewrites
            return long_wrong if "is: 18" in text else "The answer is: 18"
        if request.kind == "reward":
            return "[Score] 60" if "is: 20" in text else "[Score] -30"
        return "Check it."

    config = SolveConfig(reward_samples=1)
    out = tmp_path / "run.jsonl"
    run_eval(EvalConfig(data=data, out=out, rollouts=(0, 3), model="fake", solve=solve_identity(config),
                        baselines=("sc", "best-of-n"), baseline_samples=6),
             backend=FakeBackend(reply), solve_kwargs={"config": config}, progress=False, log=lambda m: None)
    d = reward_stats(out).as_dict()
    assert d["within_q_problems"] >= 1 and d["within_q"] == 0.0
    assert d["within_q_shorter"] == 1.0
    assert d["within_draw_problems"] >= 1 and d["within_draw"] == 0.0 and d["within_draw_shorter"] == 1.0
    assert d["problems"] == 3  # baseline records at the largest budget do not hide the search's tree
    text = format_rewards([out])
    line = next(x for x in text.splitlines()[text.splitlines().index(next(
        x for x in text.splitlines() if x.startswith("Within a problem"))):] if x.startswith("run.jsonl"))
    assert "0.00" in line and "1.00" in line


def test_a_damaged_run_file_is_read_not_crashed_on(tmp_path: Path):
    """A run file is input too: draws and nodes of the wrong types are left out (no traceback), and the
    well-formed ones still count."""
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": 0, "data": {"name": "x"}}, "plan": {}}
    good = [{"answer": "1", "q": 30.0, "tokens": 10}, {"answer": "2", "q": 50.0, "tokens": 40}]
    bad = [{"answer": ["1"], "q": 1, "tokens": "many"}, {"answer": "1", "q": "high"}, 7, {"q": True, "answer": "1"}]
    nodes = [{"kind": "answer", "answer": "1", "q_own": 20.0, "rewards_raw": [20.0], "text": "short"},
             {"kind": "answer", "answer": "2", "q_own": 60.0, "rewards_raw": [60.0], "text": "much longer text"},
             {"kind": "answer", "answer": 5, "q_own": 1.0, "rewards_raw": [1.0], "text": 7},
             {"kind": "answer", "answer": "1", "q_own": "x", "rewards_raw": ["y"]}, "not a node"]
    records = [{"type": "result", "id": "p", "rollouts": 4, "correct": False, "method": "sc", "gold": "1",
                "samples": good[:1] + bad + good[1:]},
               {"type": "result", "id": "p", "rollouts": 4, "correct": False, "gold": "1", "tree": {"nodes": nodes}}]
    path = tmp_path / "damaged.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *records]))
    d = reward_stats(path).as_dict()
    assert d["nodes"] == 3 and d["right"] == 1  # the node whose answer is a number, not text, counts as wrong
    assert d["within_q"] == pytest.approx(0.5)  # right 20 below wrong 60, above wrong 1
    assert d["within_q_shorter"] == pytest.approx(0.5)  # a text that is not text counts as empty: the shortest
    # draws: right 30 below wrong 50, above the list-answer draw (wrong, 1); its damaged token count leaves it
    # out of the length ranking, where right 10 beats wrong 40
    assert (d["within_draw"], d["within_draw_shorter"]) == (0.5, 1.0)
    assert "damaged.jsonl" in format_rewards([path])
