"""Property tests: random sequences of tree operations, under random configs, agree with the plain-Python
dict tree of benchmarks/pytree.py (the same rules restated as directly as possible). Bad calls in the sequence
must raise a typed error and change nothing."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mctsr_native.errors import MctsrError
from mctsr_native.tree import Tree, TreeConfig

from pytree import PyTree

rewards = st.lists(st.integers(-100, 100) | st.sampled_from([96.5, 95.0, -99.25]), min_size=1, max_size=4)
bad_rewards = st.one_of(
    st.just([]),
    st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 100.01, -150, 1e9]), min_size=1, max_size=2).map(
        lambda bad: [10, *bad]
    ),
)

configs = st.builds(
    TreeConfig,
    max_children=st.integers(1, 4),
    exploration_c=st.sampled_from([0.0, 0.5, 1.4, 10.0]),
    epsilon=st.sampled_from([1e-5, 0.1]),
    c_schedule=st.sampled_from(["constant", "linear_decay"]),
    c_final=st.sampled_from([0.0, 0.3]),
    rollout_budget=st.integers(1, 12),
    suppress_threshold=st.sampled_from([95, 80]),
    suppress_inclusive=st.booleans(),
    suppression=st.sampled_from(["subtract", "replace", "none"]),
    suppress_penalty=st.sampled_from([5, 20]),
    suppress_replacement=st.sampled_from([50, -10]),
    q_rule=st.sampled_from(["min_mean", "mean"]),
    backprop=st.sampled_from(["full_depth", "one_level"]),
    expanded_rule=st.sampled_from(["paper", "reference"]),
    selection=st.sampled_from(["greedy", "descent"]),
    root_parent_visits=st.sampled_from(["virtual_root", "zero"]),
    init=st.sampled_from(["two_roots", "dummy_root"]),
    uct_refresh=st.sampled_from(["live", "stale"]),
    max_depth=st.sampled_from([0, 0, 1, 2, 3]),
    q_transform=st.sampled_from(["raw", "scaled", "min_max"]),
    dummy_rule=st.sampled_from(["capped", "as_answer"]),
)

node_pick = st.integers(0, 10_000)
operations = st.one_of(
    st.tuples(st.just("expand_selected"), rewards),
    st.tuples(st.just("add_child"), node_pick),
    st.tuples(st.just("record"), node_pick, rewards),
    st.tuples(st.just("record_and_backpropagate"), node_pick, rewards),
    st.tuples(st.just("backpropagate"), node_pick),
    st.tuples(st.just("select_batch"), st.integers(1, 4)),
    st.tuples(st.just("cancel"), node_pick),
    st.tuples(st.just("add_root"), st.sampled_from(["answer", "dummy"])),
    st.tuples(st.just("bad_node"), st.integers(0, 50)),
    st.tuples(st.just("bad_rewards"), node_pick, bad_rewards),
)


def observe(tree: Any) -> dict[str, Any]:
    """Everything both implementations expose, in a comparable form."""
    n = len(tree)
    values = []
    for node in range(n):
        if isinstance(tree, PyTree):
            own = tree.q_own.get(node)
            back = tree.q_back.get(node)
            fully = tree.is_fully_expanded(node)
            pending = node in tree.pending
            visits = len(tree.rewards[node])
            suppressed = tree.rewards[node]
            selections, explored = tree.selections.get(node, 0), tree.explored.get(node, 0)
        else:
            own, back, fully = tree.own_q(node), tree.q(node), tree.is_fully_expanded(node)
            pending, visits, suppressed = tree.is_pending(node), tree.visits(node), tree.rewards(node)
            selections, explored = tree.selections(node), tree.explored(node)
        values.append((own, back, tree.uct(node), fully, pending, visits, suppressed, selections, explored))
    return {
        "n": n,
        "values": values,
        "candidates": tree.candidates(),
        "best_own": tree.best("own"),
        "best_q": tree.best("q"),
        "c": tree.exploration_c(),
    }


def apply(tree: Tree, model: PyTree, op: tuple[Any, ...]) -> None:
    kind = op[0]
    n = len(tree)
    if kind == "expand_selected":
        selected = tree.select()
        assert selected == model.select()
        if selected is not None:
            child = tree.add_child(selected)
            assert child == model.add_child(selected)
            tree.record_and_backpropagate(child, op[1])
            model.record_and_backpropagate(child, op[1])
    elif kind == "add_child":
        assert tree.add_child(op[1] % n) == model.add_child(op[1] % n)
    elif kind == "record":
        tree.record_rewards(op[1] % n, op[2])
        model.record_rewards(op[1] % n, op[2])
    elif kind == "record_and_backpropagate":
        tree.record_and_backpropagate(op[1] % n, op[2])
        model.record_and_backpropagate(op[1] % n, op[2])
    elif kind == "backpropagate":
        tree.backpropagate(op[1] % n)
        model.backpropagate(op[1] % n)
    elif kind == "select_batch":
        assert tree.select_batch(op[1]) == model.select_batch(op[1])
    elif kind == "cancel":
        tree.cancel(op[1] % n)
        model.cancel(op[1] % n)
    elif kind == "add_root":
        assert tree.add_root(op[1]) == model.add_root(op[1])
    else:
        before = observe(tree)
        try:
            if kind == "bad_node":
                tree.record_and_backpropagate(n + op[1], [10])
            else:
                tree.record_rewards(op[1] % n, op[2])
        except MctsrError:
            pass
        else:
            raise AssertionError(f"{op} did not raise")
        assert observe(tree) == before


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, ops=st.lists(operations, max_size=40), first=rewards, dummy=rewards)
def test_random_operations_agree_with_python_model(
    config: TreeConfig, ops: list[tuple[Any, ...]], first: list[float], dummy: list[float]
) -> None:
    tree, model = Tree(config), PyTree(config)
    assert tree.initialize() == model.initialize()
    answer, dummy_node = 0, 1
    for node, samples in ((answer, first), (dummy_node, dummy)):
        tree.record_rewards(node, samples)
        model.record_rewards(node, samples)
    assert observe(tree) == observe(model)
    for op in ops:
        apply(tree, model, op)
        assert observe(tree) == observe(model), op
        assert tree.select() == model.select(), op


@settings(max_examples=100, deadline=None)
@given(config=configs, ops=st.lists(operations, max_size=30))
def test_backpropagate_is_idempotent(config: TreeConfig, ops: list[tuple[Any, ...]]) -> None:
    tree, model = Tree(config), PyTree(config)
    tree.initialize()
    model.initialize()
    for op in ops:
        apply(tree, model, op)
    state = observe(tree)
    for node in range(len(tree)):
        tree.backpropagate(node)
        tree.backpropagate(node)
    for node in range(len(tree)):
        model.backpropagate(node)
    # Re-running back-propagation from every node only refreshes stale ancestors, never compounds:
    # doing it again changes nothing.
    refreshed = observe(tree)
    for node in range(len(tree)):
        tree.backpropagate(node)
    assert observe(tree) == refreshed
    assert refreshed == observe(model)
    assert state["n"] == refreshed["n"]
