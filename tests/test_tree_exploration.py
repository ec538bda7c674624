"""Issue 21's tree rules, through Python: how UCT sees Q (q_transform), the dummy's cap (dummy_rule) and the
selection diagnostics (selections / explored per node). The C++ tests hold the exact values; these replay
the situations the issue saw."""

from __future__ import annotations

import random

import pytest

from mctsr_native.tree import Tree, TreeConfig


def _replay_locked_dummy(config: TreeConfig, seed: int, rollouts: int = 8) -> tuple[int, int]:
    """The issue's replay: "I don't know." scores 0 (a verdict of "unsure"), every answer draws its k = 3 rewards
    from {-100, -50, 0}; one re-sample per selected parent. Returns (dummy picks, max depth)."""
    rng = random.Random(seed)
    draw = lambda: float(rng.choice([-100, -50, 0]))  # noqa: E731
    tree = Tree(config)
    answer, dummy = tree.initialize()
    tree.record_and_backpropagate(answer, [draw() for _ in range(3)])
    tree.record_and_backpropagate(dummy, [0.0, 0.0, 0.0])
    picks = 0
    for _ in range(rollouts):
        (node,) = tree.select_batch(1)
        picks += node == dummy
        tree.record_rewards(node, [0.0 if node == dummy else draw()])
        child = tree.add_child(node)
        tree.record_and_backpropagate(child, [draw() for _ in range(3)])
    return picks, max(tree.depth(n) for n in range(len(tree)))


@pytest.mark.parametrize("seed", range(20))
def test_the_dummy_cannot_absorb_every_rollout_under_the_paper_preset(seed: int) -> None:
    picks, depth = _replay_locked_dummy(TreeConfig.paper(), seed)
    assert picks <= 2  # the first answer is the dummy's first child: two more make it fully expanded
    assert depth >= 2


def test_without_the_cap_the_dummy_takes_every_rollout() -> None:
    """The literal Algorithm 1 (and the reference preset, which keeps the reference code's behaviour) lock in."""
    for config in (TreeConfig.paper(dummy_rule="as_answer"), TreeConfig.reference()):
        results = [_replay_locked_dummy(config, seed) for seed in range(20)]
        assert sum(picks == 8 for picks, _ in results) >= 15, results


def _siblings(config: TreeConfig) -> tuple[Tree, int, int]:
    """A dummy root with a well-visited answer A (10 samples, Q' 60) and an under-visited one B (1, Q' 55)."""
    tree = Tree(config)
    dummy = tree.add_root("dummy")
    a, b = tree.add_child(dummy), tree.add_child(dummy)
    tree.record_rewards(dummy, [-50.0, -50.0])
    tree.record_and_backpropagate(a, [60.0] * 10)
    tree.record_and_backpropagate(b, [55.0])
    return tree, a, b


@pytest.mark.parametrize("transform", ["scaled", "min_max"])
def test_an_under_visited_sibling_wins_under_normalisation_and_loses_under_raw_q(transform: str) -> None:
    raw, a, _ = _siblings(TreeConfig.paper())
    assert raw.select_batch(1) == [a]
    assert raw.explored(a) == 0
    tree, _, b = _siblings(TreeConfig.paper(q_transform=transform))
    assert tree.select_batch(1) == [b]
    assert (tree.selections(b), tree.explored(b)) == (1, 1)
    assert tree.to_dict()["nodes"][b]["explored"] == 1


def test_a_bad_transform_or_dummy_rule_names_the_allowed_values() -> None:
    from mctsr_native.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="'raw' 'scaled' 'min_max'"):
        TreeConfig(q_transform="minmax").validate()  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="'as_answer' 'capped'"):
        TreeConfig(dummy_rule="free").validate()  # type: ignore[arg-type]
