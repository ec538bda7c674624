"""The worked example of cpp/tests/tree_fixtures.h through the Python API, each value computed by hand.

answer A=0 rewards [90, 100, 80] -> suppressed [90, 95, 80]; Q(A) = ½(80 + 265/3) = 84.1666...
dummy  D=1 rewards [0, -10]      -> Q(D) = ½(-10 + -5) = -7.5
B=2 child of A, [70]             -> Q(B) = 70
C=3 child of A, [100, 90]        -> suppressed [95, 90]; Q(C) = ½(90 + 92.5) = 91.25
E=4 child of C, [40]             -> Q(E) = 40
"""

from __future__ import annotations

import math

import pytest

from mctsr_native.tree import Tree, TreeConfig
from tree_example import Q_A, build


def test_initialize_two_roots_reference() -> None:
    tree = Tree(TreeConfig.reference())
    assert tree.initialize() == (0, 1)
    assert tree.parent(0) is None and tree.parent(1) is None
    assert tree.kind(0) == "answer" and tree.kind(1) == "dummy"
    assert len(tree) == 2 and tree.rollouts() == 0


def test_initialize_dummy_root_paper() -> None:
    """The paper (§3.1): "a root node is established using a naive answer and a dummy response": one root,
    the dummy; the first answer is its child (docs/design.md says why)."""
    tree = Tree(TreeConfig.paper())
    answer, dummy = tree.initialize()
    assert (answer, dummy) == (1, 0)
    assert tree.kind(dummy) == "dummy" and tree.kind(answer) == "answer"
    assert tree.parent(answer) == dummy
    assert tree.depth(answer) == 1
    assert tree.roots() == [dummy]


def test_suppression_and_own_q() -> None:
    tree, n = build()
    assert tree.rewards_raw(n["a"]) == [90, 100, 80]
    assert tree.rewards(n["a"]) == [90, 95, 80]
    assert tree.own_q(n["a"]) == pytest.approx(84.1666666667)
    assert tree.own_q(n["d"]) == -7.5
    assert tree.own_q(n["c"]) == 91.25
    assert tree.visits(n["a"]) == 3


def test_full_depth_backprop() -> None:
    tree, n = build()
    assert tree.q(n["c"]) == 65.625  # ½(91.25 + 40)
    assert tree.q(n["a"]) == pytest.approx(77.0833333333)  # ½(Q(A) + max(Q'(B)=70, Q'(C)=65.625))
    assert tree.q(n["e"]) == 40


def test_one_level_backprop() -> None:
    tree, n = build(TreeConfig(backprop="one_level"))
    assert tree.q(n["c"]) == 65.625
    assert tree.q(n["a"]) == pytest.approx(0.5 * (Q_A + 91.25))  # children's own Q: max(70, 91.25)


def test_backprop_is_idempotent() -> None:
    tree, n = build()
    before = tree.to_dict()
    for _ in range(3):
        tree.backpropagate(n["e"])
        tree.backpropagate(n["b"])
    assert tree.to_dict() == before


def test_uct_and_greedy_selection() -> None:
    tree, n = build()
    assert tree.uct(n["b"]) == pytest.approx(70 + 1.4 * math.sqrt(math.log(4) / 1.00001))
    assert tree.uct(n["a"]) == pytest.approx(0.5 * (Q_A + 70) + 1.4 * math.sqrt(math.log(6) / 3.00001))
    assert tree.uct(n["d"]) == pytest.approx(-7.5 + 1.4 * math.sqrt(math.log(6) / 2.00001))
    assert tree.candidates() == [0, 1, 2, 3, 4]
    assert tree.select() == n["a"]
    f = tree.add_child(n["a"])
    tree.record_and_backpropagate(f, [95])  # third child, better than Q(A): A is fully expanded
    assert tree.is_fully_expanded(n["a"])
    assert tree.select() == f


def test_root_parent_visits_zero() -> None:
    tree, n = build(TreeConfig(root_parent_visits="zero"))
    assert tree.uct(n["a"]) == tree.q(n["a"])
    assert tree.uct(n["d"]) == -7.5


def test_expanded_rule_needs_the_count_under_both_presets() -> None:
    for rule in ("paper", "reference"):
        tree, n = build(TreeConfig(backprop="one_level", expanded_rule=rule))
        assert not tree.is_fully_expanded(n["a"])  # Q(C) = 91.25 > Q(A), but A has 2 < 3 children
        assert tree.select() == n["a"]


def test_expanded_rule_paper_greater_reference_greater_or_equal() -> None:
    """A third child of A scoring exactly Q(A): the paper's "exceeds" keeps A a candidate, the reference's
    >= (it keeps a node while its best child's Q is below its own) does not."""
    for rule, expanded in (("paper", False), ("reference", True)):
        tree = Tree(TreeConfig(backprop="one_level", expanded_rule=rule))
        a = tree.add_root()
        tree.record_rewards(a, [60, 40])  # Q(A) = ½(40 + 50) = 45
        for score in (10, 45, 20):
            tree.record_and_backpropagate(tree.add_child(a), [score])
        assert tree.is_fully_expanded(a) is expanded, rule
        assert (a in tree.candidates()) is not expanded


def test_suppression_presets() -> None:
    paper = Tree(TreeConfig.paper())
    reference = Tree(TreeConfig.reference())
    for tree in (paper, reference):
        tree.add_root()
        tree.record_rewards(0, [95, 96, 94])
    assert paper.rewards(0) == [95, 91, 94]  # > 95: subtract 5
    assert reference.rewards(0) == [50, 50, 94]  # >= 95: 50


def test_max_depth_stops_growing_deeper() -> None:
    tree, n = build(TreeConfig(max_depth=2))
    assert tree.depth(n["e"]) == 2
    assert n["e"] not in tree.candidates()
    assert tree.candidates() == [n["a"], n["d"], n["b"], n["c"]]
    shallow = Tree(TreeConfig(max_depth=1, max_children=1))
    root = shallow.add_root()
    shallow.record_rewards(root, [10])
    child = shallow.add_child(shallow.select())
    shallow.record_and_backpropagate(child, [20])
    assert shallow.select() is None  # the root is fully expanded and its child too deep: "exhausted"


def test_stale_uct_bank() -> None:
    """Under "stale" a node whose children all have children is not re-banked: C keeps the UCT it had
    before N(A) changed, while "live" follows."""
    trees = {}
    for refresh in ("live", "stale"):
        tree, n = build(TreeConfig.reference(uct_refresh=refresh))
        before = tree.uct(n["c"])
        tree.record_rewards(n["a"], [0])
        tree.record_and_backpropagate(tree.add_child(n["e"]), [60])
        trees[refresh] = (tree, before)
    (live, before), (stale, stale_before) = trees["live"], trees["stale"]
    assert before == stale_before
    assert stale.uct(n["c"]) == stale_before
    assert live.uct(n["c"]) != before
    assert stale.q(n["c"]) == live.q(n["c"])
    assert stale.uct(n["b"]) == live.uct(n["b"])  # a leaf: re-banked


def test_select_batch_and_pending() -> None:
    tree, n = build()
    assert tree.select_batch(2) == [n["a"], n["b"]]
    assert tree.is_pending(n["a"]) and tree.is_pending(n["b"])
    assert tree.candidates() == [n["d"], n["c"], n["e"]]
    tree.add_child(n["a"])
    tree.cancel(n["b"])
    assert not tree.is_pending(n["a"]) and not tree.is_pending(n["b"])
    assert sorted(tree.select_batch(10)) == [0, 1, 2, 3, 4]
    assert tree.select() is None


def test_descent_selection() -> None:
    tree, n = build(TreeConfig(selection="descent"))
    assert tree.select() == n["a"]
    f = tree.add_child(n["a"])
    tree.record_and_backpropagate(f, [95])
    assert tree.select() == f
    assert tree.select_batch(2) == [f, n["b"]]


def test_linear_decay() -> None:
    tree = Tree(TreeConfig(c_schedule="linear_decay", exploration_c=100, c_final=0, rollout_budget=2))
    few, many = tree.add_root(), tree.add_root()
    tree.record_rewards(few, [50])
    tree.record_rewards(many, [60, 60, 60, 60])
    assert tree.select() == few
    tree.add_child(many)
    assert tree.exploration_c() == 50
    tree.add_child(many)
    assert tree.exploration_c() == 0
    assert tree.select() == many


def test_mean_rule_and_replace() -> None:
    tree = Tree(TreeConfig(q_rule="mean", suppression="replace"))
    a = tree.add_root()
    tree.record_rewards(a, [100, 80])
    assert tree.rewards(a) == [50, 80]
    assert tree.own_q(a) == 65


def test_best_excludes_dummy_and_unscored() -> None:
    tree = Tree()
    answer, dummy = tree.initialize()
    assert tree.best() is None
    tree.record_rewards(dummy, [100])
    assert tree.best() is None
    tree.record_rewards(answer, [-50])
    assert tree.best() == answer
    tree2, n = build()
    assert tree2.best() == n["c"]
    assert tree2.best(by="q") == n["a"]


def test_unscored_nodes() -> None:
    tree = Tree()
    a = tree.add_root()
    child = tree.add_child(a)
    assert tree.q(a) is None and tree.own_q(child) is None and tree.uct(child) is None
    assert tree.select() is None
    tree.record_rewards(a, [10])
    tree.backpropagate(child)
    assert tree.q(a) == 10
    assert tree.candidates() == [a]
