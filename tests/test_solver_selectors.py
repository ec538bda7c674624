"""The two final-answer selectors on constructed trees."""

from __future__ import annotations

import pytest

from mctsr_native.selectors import NodeView, VoteGroups, select_vote, vote_weight
from mctsr_native.tree import Tree, TreeConfig


def views_of(tree: Tree, answers: dict[int, str | None]) -> list[NodeView]:
    return [NodeView(n, tree.kind(n), answers.get(n), tree.own_q(n)) for n in range(len(tree))]


def build(rewards: list[list[float]]) -> Tree:
    """Two roots (first answer, dummy) then children of the first answer, scored as given."""
    tree = Tree(TreeConfig(init="two_roots"))
    answer, dummy = tree.initialize()
    tree.record_rewards(answer, rewards[0])
    tree.record_rewards(dummy, rewards[1])
    for r in rewards[2:]:
        child = tree.add_child(answer)
        tree.record_rewards(child, r)
        tree.backpropagate(child)
    return tree


def test_vote_prefers_agreement_and_max_q_prefers_the_single_best():
    tree = build([[20, 20], [99, 99], [10, 10], [0, 0], [90, 90]])
    answer, dummy = 0, 1
    names = {answer: "18", 2: "18.0", 3: "$18", 4: "20"}
    views = views_of(tree, names)
    vote, best = select_vote(views), tree.best(by="own")  # max-Q is the tree's own best, in C++
    assert best == 4 and names[best] == "20"
    assert vote.answer == "18" and vote.node == answer  # the group's highest-Q member
    assert vote.score == pytest.approx(vote_weight(20) + vote_weight(10) + vote_weight(0))
    assert [g["nodes"] for g in vote.groups] == [[0, 2, 3], [4]]
    assert dummy not in {best, vote.node}  # the dummy never wins, however high its Q


def test_negative_q_counts_as_weak_support_not_negative():
    assert vote_weight(-100) == 0 and vote_weight(100) == 1 and vote_weight(0) == 0.5
    tree = build([[-60, -60], [0, 0], [-60, -60], [30, 30]])
    views = views_of(tree, {0: "7", 2: "7", 3: "9"})
    # two poor agreeing answers (0.2 + 0.2) lose to one decent answer (0.65)
    assert select_vote(views).answer == "9"
    tree = build([[-10, -10], [0, 0], [-10, -10], [-10, -10], [40, 40]])
    views = views_of(tree, {0: "7", 2: "7", 3: "7", 4: "9"})
    assert select_vote(views).answer == "7"  # three middling (3 x 0.45) beat one good (0.7)


def test_nodes_without_an_answer_do_not_vote():
    tree = build([[50, 50], [0, 0], [80, 80]])
    views = views_of(tree, {0: "5", 2: None})
    assert select_vote(views).node == 0 and tree.best(by="own") == 2
    empty = views_of(tree, {})
    assert select_vote(empty).node is None


def test_ties_go_to_the_better_group_then_the_earlier_one():
    views = [NodeView(0, "answer", "1", 10.0), NodeView(1, "answer", "2", 30.0), NodeView(2, "answer", "2", -10.0),
             NodeView(3, "answer", "1", 10.0)]
    # both groups have support 1.1; "2" has the higher best Q
    assert select_vote(views).answer == "2"
    same = [NodeView(0, "answer", "1", 10.0), NodeView(1, "answer", "2", 10.0)]
    assert select_vote(same).node == 0
    assert select_vote([NodeView(0, "dummy", "5", 5.0)]).node is None


def test_vote_groups_kept_across_steps_choose_as_a_fresh_vote_would():
    """A search's voters as the solver sees them step by step: appended, then re-ordered (a node scored late),
    then shrunk, then a node's answer changed under the same id; each time the kept groups pick as a fresh
    vote does."""
    forms = ["18", "18.00", "x = 20", "20", "\\frac{1}{2}", "0.5", "7"]
    steps = [
        [(0, "18", 10.0)],
        [(0, "18", 10.0), (2, "x = 20", 40.0), (3, "20", 35.0)],
        [(0, "18", 10.0), (2, "x = 20", 40.0), (3, "20", 35.0), (4, "18.00", 90.0), (5, "\\frac{1}{2}", 0.0)],
        [(0, "18", 10.0), (1, "0.5", 60.0), (2, "x = 20", 40.0), (3, "20", 35.0), (4, "18.00", 90.0),
         (5, "\\frac{1}{2}", 0.0)],
        [(2, "x = 20", 40.0), (5, "\\frac{1}{2}", 0.0)],
        [(2, "7", 40.0), (5, "\\frac{1}{2}", 0.0), (6, "0.5", 80.0)],
    ]
    kept = VoteGroups()
    for step in steps:
        views = [NodeView(i, "answer", a, q) for i, a, q in step] + [NodeView(9, "dummy", forms[0], 99.0)]
        assert select_vote(views, kept) == select_vote(views)


def test_a_search_compares_each_pair_of_distinct_answers_once(monkeypatch):
    """The solver's vote after every step compares a pair of answers once per search, not once per step."""
    from mctsr_native import answers
    from mctsr_native.solver import solve
    from solver_fakes import FakeBackend, default_reply

    calls: list[tuple[str, str]] = []
    real = answers.equivalent
    monkeypatch.setattr(answers, "equivalent", lambda a, b: calls.append((a, b)) or real(a, b))

    def distinct(request, i):  # answers and rewrites among ten expressions (numbers would rarely be compared)
        if request.kind in ("answer", "refine"):
            return f"Working.\nThe answer is: $x^{{{(request.params.seed or 0) % 10}}}$"
        return default_reply(request, i)

    result = solve("Janet has 16 eggs and eats 3. How many are left?", backend=FakeBackend(distinct), rollouts=12)
    k = len({n["answer"] for n in result.to_dict()["nodes"] if n.get("kind") != "dummy" and n.get("answer")})
    assert k >= 4 and result.stats["rollouts"] == 12
    assert len(calls) == len(set(calls)) <= k * (k - 1) // 2


def test_the_vote_cost_script_runs_both_sides_and_they_agree():
    """benchmarks/vote_cost.py (the figures of benchmarks/README.md) at tiny sizes: it runs, and its asserts
    that ours and the regrouping give the same groups and answers hold."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "vote_cost.py"
    spec = importlib.util.spec_from_file_location("vote_cost", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from mctsr_native import selectors, solver

    assert "64 answers, 8 distinct" in module.sc_votes(64, 8)
    assert "a 4-rollout solve" in module.solve_votes(4) and solver.VoteGroups is selectors.VoteGroups
