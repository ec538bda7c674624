"""TreeConfig: frozen, keyword-only, the documented defaults and presets, dict round trip."""

from __future__ import annotations

import dataclasses

import pytest

from mctsr_native import _core
from mctsr_native.errors import InvalidConfigError
from mctsr_native.tree import Tree, TreeConfig

DEFAULTS = {
    "max_children": 3,
    "exploration_c": 1.4,
    "epsilon": 1e-5,
    "c_schedule": "constant",
    "c_final": 0.0,
    "rollout_budget": 0,
    "suppress_threshold": 95,
    "suppression": "subtract",
    "suppress_penalty": 5,
    "suppress_replacement": 50,
    "q_rule": "min_mean",
    "backprop": "full_depth",
    "expanded_rule": "paper",
    "selection": "greedy",
    "root_parent_visits": "virtual_root",
    "init": "two_roots",
}


def test_defaults_match_design() -> None:
    assert TreeConfig().to_dict() == DEFAULTS
    assert TreeConfig.paper() == TreeConfig()


def test_defaults_match_the_cpp_defaults() -> None:
    core = _core.Config()
    for name, value in DEFAULTS.items():
        assert getattr(core, name) == value, name


def test_reference_preset() -> None:
    ref = TreeConfig.reference()
    assert ref.suppression == "replace"
    assert ref.backprop == "one_level"
    assert ref.expanded_rule == "reference"
    assert ref.root_parent_visits == "zero"
    assert ref.init == "two_roots"
    core = _core.Config.reference()
    assert {f: getattr(core, f) for f in DEFAULTS} == ref.to_dict()
    assert TreeConfig.reference(max_children=5).max_children == 5


def test_frozen_and_keyword_only() -> None:
    config = TreeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_children = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        TreeConfig(3)  # type: ignore[misc]


def test_dict_round_trip() -> None:
    config = TreeConfig(c_schedule="linear_decay", rollout_budget=8, selection="descent")
    assert TreeConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InvalidConfigError, match="bogus"):
        TreeConfig.from_dict({"bogus": 1})


def test_validate_returns_self_and_tree_keeps_config() -> None:
    config = TreeConfig(max_children=2)
    assert config.validate() is config
    tree = Tree(config)
    assert tree.config is config
    assert tree.core_config.max_children == 2
