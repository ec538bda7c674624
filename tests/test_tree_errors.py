"""Typed errors across the boundary (one test per mapping) and the tree left exactly as it was after each
kind of bad input."""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest

import mctsr_native
from mctsr_native import _core
from mctsr_native.errors import InvalidConfigError, InvalidNodeError, InvalidRewardError, MctsrError
from mctsr_native.tree import Tree, TreeConfig

from tree_example import build


def test_base_error_is_an_exception() -> None:
    assert issubclass(MctsrError, Exception)
    assert mctsr_native.MctsrError is _core.MctsrError


def test_invalid_config_maps_to_value_error() -> None:
    assert issubclass(InvalidConfigError, MctsrError) and issubclass(InvalidConfigError, ValueError)
    with pytest.raises(InvalidConfigError, match="exploration_c = -1"):
        Tree(TreeConfig(exploration_c=-1))


def test_invalid_node_maps_to_index_error() -> None:
    assert issubclass(InvalidNodeError, MctsrError) and issubclass(InvalidNodeError, IndexError)
    with pytest.raises(InvalidNodeError, match="node id 7"):
        Tree().q(7)


def test_invalid_reward_maps_to_value_error() -> None:
    assert issubclass(InvalidRewardError, MctsrError) and issubclass(InvalidRewardError, ValueError)
    tree = Tree()
    node = tree.add_root()
    with pytest.raises(InvalidRewardError, match="reward 101"):
        tree.record_rewards(node, [101])


def test_invalid_argument_maps_to_value_error() -> None:
    error = _core.InvalidArgumentError
    assert issubclass(error, MctsrError) and issubclass(error, ValueError)
    with pytest.raises(error, match="k=0"):
        Tree().select_batch(0)


NAN, INF = math.nan, math.inf

BAD_CALLS: list[tuple[str, Callable[[Tree], Any], type[Exception], str]] = [
    ("unknown id (add_child)", lambda t: t.add_child(99), InvalidNodeError, "99"),
    ("negative id", lambda t: t.add_child(-1), InvalidNodeError, "-1"),
    ("unknown id (record)", lambda t: t.record_rewards(5, [10]), InvalidNodeError, "node id 5"),
    ("unknown id (backpropagate)", lambda t: t.backpropagate(12), InvalidNodeError, "12"),
    ("unknown id (record_and_backpropagate)", lambda t: t.record_and_backpropagate(12, [1]), InvalidNodeError, "12"),
    ("unknown id (cancel)", lambda t: t.cancel(40), InvalidNodeError, "40"),
    ("unknown id (readout)", lambda t: t.uct(5), InvalidNodeError, "5"),
    ("NaN reward", lambda t: t.record_rewards(2, [10, NAN]), InvalidRewardError, "nan"),
    ("infinite reward", lambda t: t.record_rewards(2, [INF]), InvalidRewardError, "inf"),
    ("-infinite reward", lambda t: t.record_and_backpropagate(2, [-INF]), InvalidRewardError, "-inf"),
    ("reward above 100", lambda t: t.record_rewards(2, [50, 100.5]), InvalidRewardError, "100.5"),
    ("reward below -100", lambda t: t.record_and_backpropagate(4, [-101]), InvalidRewardError, "-101"),
    ("empty rewards", lambda t: t.record_rewards(2, []), InvalidRewardError, "empty"),
    ("empty rewards (batch call)", lambda t: t.record_and_backpropagate(2, []), InvalidRewardError, "empty"),
    ("k = 0", lambda t: t.select_batch(0), _core.InvalidArgumentError, "k=0"),
    ("k < 0", lambda t: t.select_batch(-3), _core.InvalidArgumentError, "k=-3"),
    ("unknown kind", lambda t: t.add_root("maybe"), _core.InvalidArgumentError, "maybe"),
    ("unknown best(by)", lambda t: t.best(by="uct"), _core.InvalidArgumentError, "uct"),
    ("initialize twice", lambda t: t.initialize(), _core.InvalidArgumentError, "empty tree"),
]


@pytest.mark.parametrize("call,error,names", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_leaves_tree_unchanged(call: Callable[[Tree], Any], error: type[Exception], names: str) -> None:
    tree, _ = build()
    tree.select_batch(1)
    before = (tree.to_dict(), tree.rollouts(), tree.exploration_c(), tree.candidates())
    with pytest.raises(error, match=names.replace("+", r"\+").replace(".", r"\.")):
        call(tree)
    assert (tree.to_dict(), tree.rollouts(), tree.exploration_c(), tree.candidates()) == before


BAD_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"max_children": 0}, "max_children = 0"),
    ({"max_children": -2}, "max_children = -2"),
    ({"max_children": 2.5}, "max_children"),
    ({"exploration_c": -0.1}, "exploration_c = -0.1"),
    ({"exploration_c": NAN}, "exploration_c = nan"),
    ({"exploration_c": INF}, "exploration_c = inf"),
    ({"epsilon": -1e-5}, "epsilon"),
    ({"epsilon": NAN}, "epsilon = nan"),
    ({"c_final": -1}, "c_final = -1"),
    ({"rollout_budget": -1}, "rollout_budget = -1"),
    ({"c_schedule": "linear_decay"}, "rollout_budget = 0"),
    ({"suppress_threshold": NAN}, "suppress_threshold"),
    ({"suppress_penalty": -5}, "suppress_penalty = -5"),
    ({"suppress_replacement": INF}, "suppress_replacement"),
    ({"suppression": "clip"}, "suppression = 'clip'"),
    ({"q_rule": "median"}, "q_rule = 'median'"),
    ({"backprop": "two_level"}, "backprop"),
    ({"expanded_rule": "either"}, "expanded_rule"),
    ({"selection": "random"}, "selection"),
    ({"root_parent_visits": "one"}, "root_parent_visits"),
    ({"init": "three_roots"}, "init"),
    ({"exploration_c": "high"}, "exploration_c"),
]


@pytest.mark.parametrize("fields,names", BAD_CONFIGS, ids=[str(c[0]) for c in BAD_CONFIGS])
def test_bad_config_is_named(fields: dict[str, Any], names: str) -> None:
    config = TreeConfig(**fields)
    with pytest.raises(InvalidConfigError, match=names.replace(".", r"\.")):
        config.validate()
    with pytest.raises(InvalidConfigError):
        Tree(config)
