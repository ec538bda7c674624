"""Paired comparisons (compare.py) and the search diagnostics (search_diagnostics.py) on hand-made records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mctsr_native.compare import Outcomes, compare_rows, format_comparisons, mcnemar_exact, outcomes_of, paired
from mctsr_native.search_diagnostics import format_search, search_stats


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)  # the smallest discordant count that reaches p < 0.05
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 7) == pytest.approx(2 * sum(math.comb(10, k) for k in range(4)) / 1024)
    assert mcnemar_exact(7, 3) == mcnemar_exact(3, 7)
    assert mcnemar_exact(10, 10) == 1.0


def _row(label: str, budget: int, right: list[int], run: str = "", method: str = "mctsr") -> Outcomes:
    ids = [f"p{i}" for i in range(len(right))]
    return Outcomes(label, budget, {i: bool(r) for i, r in zip(ids, right)}, {i: 10 * budget for i in ids},
                    run=run, method=method)


def test_the_paired_difference_and_its_standard_error() -> None:
    a = _row("mctsr", 8, [1, 1, 1, 0, 1, 0])
    b = _row("sc", 8, [1, 0, 0, 0, 1, 1])
    c = paired(a, b)
    assert c is not None and c.n == 6
    diffs = [0, 1, 1, 0, 0, -1]
    mean = sum(diffs) / 6
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 5)
    assert c.diff == pytest.approx(mean) and c.se == pytest.approx(sd / math.sqrt(6))
    assert (c.only_a, c.only_b) == (2, 1)
    assert c.p == pytest.approx(mcnemar_exact(2, 1))
    assert "too few discordant" in c.warning
    # only the problems both rows have are paired
    short = Outcomes("x", 8, {"p0": True, "zz": False}, {})
    assert paired(a, short).n == 1


def test_rows_pair_within_a_budget_and_against_their_own_first_answer() -> None:
    rows = [_row("mctsr", 0, [0, 1]), _row("mctsr", 4, [1, 1]), _row("sc", 4, [0, 1], method="sc"),
            _row("other mctsr", 0, [1, 1], run="other"), _row("other mctsr", 4, [1, 0], run="other")]
    pairs = {(c.a, c.budget_a, c.b, c.budget_b) for c in compare_rows(rows)}
    assert ("mctsr", 4, "sc", 4) in pairs and ("mctsr", 4, "mctsr", 0) in pairs and ("sc", 4, "mctsr", 0) in pairs
    assert ("other mctsr", 4, "other mctsr", 0) in pairs
    assert ("other mctsr", 4, "mctsr", 0) not in pairs  # a run is compared with its own first answer only
    text = format_comparisons(compare_rows(rows))
    assert "McNemar" in text and "mctsr @4" in text


def test_outcomes_group_records_by_label_and_budget() -> None:
    records = [{"id": "a", "rollouts": 4, "correct": True, "tokens_generated": 40},
               {"id": "a", "rollouts": 4, "correct": False, "method": "sc", "tokens_generated": 38},
               {"id": "a", "rollouts": 4, "correct": False}]  # a duplicate: the first counts
    rows = outcomes_of(records, lambda r: r.get("method") or "mctsr")
    by = {(r.label, r.budget): r for r in rows}
    assert by["mctsr", 4].right == {"a": True} and by["sc", 4].right == {"a": False}
    assert by["sc", 4].method == "sc" and by["sc", 4].tokens == {"a": 38}


def _node(i: int, parent: int | None, kind: str, answer: str | None, *, children=(), sel=0, exp=0, step=1,
          critique: str | None = "c", depth: int = 1) -> dict:
    return {"id": i, "parent": parent, "kind": kind, "answer": answer, "text": "", "children": list(children),
            "selections": sel, "explored": exp, "step": step, "critique": critique, "depth": depth}


def test_search_diagnostics_read_exploration_rewrites_and_flips(tmp_path: Path) -> None:
    # dummy 0 -> first answer 1 (right, 18) -> rewrites 2 (wrong, 20) and 3 (right, 18.0); dummy -> fresh 4
    nodes = [_node(0, None, "dummy", None, children=[1, 4], sel=1, step=0, critique=None, depth=0),
             _node(1, 0, "answer", "18", children=[2, 3], sel=3, exp=2, step=0, critique=None),
             _node(2, 1, "answer", "20", depth=2), _node(3, 1, "answer", "18.0", depth=2),
             _node(4, 0, "answer", None, critique=None, step=2)]
    header = {"type": "header", "format": "mctsr-eval/1", "config": {}, "plan": {}}
    records = [
        {"type": "result", "id": "p", "rollouts": 0, "gold": "18", "correct": True, "tree": {"nodes": nodes[:2]}},
        {"type": "result", "id": "p", "rollouts": 4, "gold": "18", "correct": True, "tree": {"nodes": nodes}},
        {"type": "result", "id": "p", "rollouts": 4, "gold": "18", "method": "sc", "correct": True},
    ]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *records]))
    d = search_stats(path).as_dict()
    assert d["problems"] == 1 and d["selections"] == 4
    assert d["explored_share"] == pytest.approx(2 / 4) and d["dummy_selection_share"] == pytest.approx(1 / 4)
    assert d["fresh_answers"] == 1 and d["rewrites"] == 2 and d["kept_share"] == pytest.approx(1 / 2)
    assert (d["right_to_wrong"], d["wrong_to_right"]) == (1, 0)
    assert d["mean_max_depth"] == 2 and d["mean_branching"] == pytest.approx(2.0)
    assert d["mean_distinct_answers"] == 2  # 18 and 20 (18.0 is 18)


def test_search_diagnostics_say_what_the_rewrites_did_to_the_result(tmp_path: Path) -> None:
    # The run's selector over the draws alone (the dummy's children) against the run's answer from the whole tree.
    def tree(draws: list[tuple[str, float]], rewrites: list[tuple[int, str, float]], selector: str = "vote") -> dict:
        nodes = [dict(_node(0, None, "dummy", None, step=0, critique=None, depth=0), q_own=-50.0)]
        for answer, q in draws:
            nodes.append(dict(_node(len(nodes), 0, "answer", answer, critique=None), q_own=q))
        for parent, answer, q in rewrites:
            nodes.append(dict(_node(len(nodes), parent, "answer", answer, depth=2), q_own=q))
        for n in nodes[1:]:
            nodes[n["parent"]]["children"].append(n["id"])
        return {"selector": selector, "nodes": nodes}

    trees = {
        # alone: 20 (0.55) beats 18 (0.5); the rewrite of 18 makes 18 win: the rewrites won this problem
        "won": (tree([("20", 10.0), ("18", 0.0)], [(2, "18", 0.0)]), True),
        # alone: 18 (0.5) beats 20 (0.45); the rewrite of 20 makes 20 win: lost
        "lost": (tree([("18", 0.0), ("20", -10.0)], [(2, "20", 0.0)]), False),
        # a damaged Q: left out, not a crash
        "damaged": (tree([("18", 0.0)], [(1, "20", 0.0)]), False),
        # max-Q picks 20 among the draws, as it did from the whole tree (the vote would have picked 18): no change
        "max_q": (tree([("20", 90.0), ("18", 0.0), ("18", 0.0)], [], selector="max_q"), False),
    }
    trees["damaged"][0]["nodes"][1]["q_own"] = "high"
    header = {"type": "header", "format": "mctsr-eval/1", "config": {}, "plan": {}}
    records = [{"type": "result", "id": pid, "rollouts": 4, "gold": "18", "correct": right, "tree": t}
               for pid, (t, right) in trees.items()]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *records]))
    d = search_stats(path).as_dict()
    assert d["problems"] == 4
    assert (d["rewrites_won"], d["rewrites_lost"]) == (1, 1)
    assert "rewrites won / lost" in format_search([path]) and "1 / 1" in format_search([path])


def test_search_diagnostics_read_a_damaged_run_file_without_a_traceback(tmp_path: Path) -> None:
    # A run file is input: nodes, ids, links and counts of the wrong types are left out; the sound parts count.
    sound = [dict(_node(0, None, "dummy", None, children=[1], sel=2, step=0, critique=None, depth=0), q_own=-9.0),
             dict(_node(1, 0, "answer", "18", children=[2, "2", [2], 99], sel=1, exp=1, critique=None), q_own=5.0),
             dict(_node(2, 1, "answer", "20", depth=2), q_own=9.0)]
    damaged = [{"id": "x", "kind": "answer"}, {"id": True, "kind": "answer"}, None, 3,
               {"id": 7, "parent": [0], "kind": "answer", "answer": 18, "q_own": float("nan"), "children": "abc",
                "depth": "deep", "selections": "many", "explored": -4, "step": None, "text": 7}]
    trees = [{"nodes": sound + damaged, "selector": ["max_q"]}, {"nodes": "not a list"}, ["not a tree"],
             {"nodes": [dict(sound[1], parent=None, q_own="high")]}]
    header = {"type": "header", "format": "mctsr-eval/1", "config": {}, "plan": {}}
    records = [{"type": "result", "id": f"p{i}", "rollouts": 4, "gold": gold, "correct": True, "tree": t}
               for i, (t, gold) in enumerate(zip(trees, ["18", "18", ["18"], {"x": 1}]))]
    path = tmp_path / "damaged.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *records]))
    d = search_stats(path).as_dict()
    assert d["problems"] == 3  # a tree that is not an object is no tree
    assert d["selections"] == 4 and d["explored_share"] == pytest.approx(2 / 4)
    assert d["rewrites"] == 1 and (d["right_to_wrong"], d["wrong_to_right"]) == (1, 0)
    assert d["mean_branching"] == pytest.approx(1.0) and d["mean_max_depth"] == pytest.approx((2 + 0 + 1) / 3)
    assert d["mean_distinct_answers"] == pytest.approx((2 + 0 + 1) / 3)  # 18 and 20; none; 18
    # p0: a NaN Q among the draws, p1: no draws at all: cannot tell; p3: its gold is not an answer
    assert (d["rewrites_won"], d["rewrites_lost"]) == (0, 0)
    assert "damaged.jsonl" in format_search([path])


def _outcomes(method: str, budget: int, right: list[bool], tokens: int = 100, run: str = "") -> Outcomes:
    ids = [f"p{i}" for i in range(len(right))]
    return Outcomes(method, budget, dict(zip(ids, right)), dict.fromkeys(ids, tokens), run=run, method=method)


def test_verdicts_say_better_worse_or_cannot_tell() -> None:
    """The sentence at the end of an eval: "Better" or "Worse" only past twice the SE and p < 0.05, at the
    run's largest budget, against each baseline there and against the first answer; else why it cannot tell."""
    from mctsr_native.compare import verdicts

    n = 40
    first = _outcomes("mctsr", 0, [i < 10 for i in range(n)])
    search = _outcomes("mctsr", 4, [i < 24 for i in range(n)], tokens=900)
    small = _outcomes("mctsr", 2, [False] * n)  # a smaller budget is not judged
    sc = _outcomes("sc", 4, [i < 30 for i in range(n)], tokens=880)
    bon = _outcomes("best_of_n", 4, [i < 23 for i in range(n)], tokens=870)
    said = verdicts([first, small, search, sc, bon])
    assert len(said) == 3 and all(s.startswith("The search (vote) at 4 rollouts against ") for s in said)
    by = {s.split(" against ")[1].split(" ")[0]: s for s in said}
    assert by["self-consistency"] == (
        "The search (vote) at 4 rollouts against self-consistency at matched generated tokens (900 / 880 per "
        "problem): 60.0% vs 75.0% on 40 problems, -15.0 ± 5.7 points, McNemar p = 0.031. Worse.")
    assert by["best-of-N"].endswith("Not a significant difference; too few discordant problems (1) to tell.")
    assert by["its"].startswith("The search (vote) at 4 rollouts against its first answer: 60.0% vs 25.0%")
    assert by["its"].endswith("Better.")
    # 5 to 0: the difference is 2.4 SE, but McNemar's p is 0.0625: not called
    five = verdicts([_outcomes("mctsr", 4, [i < 5 for i in range(n)]), _outcomes("sc", 4, [False] * n)])
    assert five[0].endswith("p = 0.062. Not a significant difference; too few discordant problems (5) to tell.")
    assert verdicts([first]) == [] and verdicts([]) == []
    two = verdicts([_outcomes("mctsr", 0, [False] * 3, run="a"), _outcomes("mctsr", 1, [True] * 3, run="a"),
                    _outcomes("mctsr", 0, [True] * 3, run="b"), _outcomes("mctsr", 1, [False] * 3, run="b")])
    assert [s.split(":")[0] for s in two] == ["a", "b"]
    one = verdicts([_outcomes("mctsr", 4, [True]), _outcomes("sc", 4, [False])])  # no SE from one problem
    assert "on 1 problem, +100.0 points, McNemar p = 1." in one[0] and "nan" not in one[0]
