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
    "suppress_inclusive": False,
    "suppression": "subtract",
    "suppress_penalty": 5,
    "suppress_replacement": 50,
    "q_rule": "min_mean",
    "backprop": "full_depth",
    "expanded_rule": "paper",
    "selection": "greedy",
    "root_parent_visits": "virtual_root",
    "init": "dummy_root",
    "uct_refresh": "live",
    "max_depth": 0,
    "q_transform": "raw",
    "dummy_rule": "capped",
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
    assert (ref.suppression, ref.suppress_threshold, ref.suppress_inclusive) == ("replace", 95, True)
    assert ref.backprop == "one_level"
    assert ref.expanded_rule == "reference"
    assert ref.root_parent_visits == "zero"
    assert ref.init == "two_roots"
    assert ref.uct_refresh == "stale"
    assert ref.dummy_rule == "as_answer"
    assert TreeConfig.reference(max_children=5).max_children == 5
    assert TreeConfig.reference(max_children=5).uct_refresh == "stale"


def test_presets_come_from_the_cpp_presets() -> None:
    """One definition: a change to reference_config() / paper_config() in C++ reaches Python unchanged."""
    presets = ((TreeConfig.reference(), _core.Config.reference()), (TreeConfig.paper(), _core.Config.paper()))
    for preset, core in presets:
        assert {f: getattr(core, f) for f in DEFAULTS} == preset.to_dict()
    core = _core.Config.reference()
    core.max_depth = 4
    core.suppression = "none"
    assert TreeConfig.from_core(core) == TreeConfig.reference(max_depth=4, suppression="none")
    assert TreeConfig.from_core(core, max_depth=2).max_depth == 2
    # TreeConfig.reference() reads the C++ preset at call time: change what the binding returns, and it follows.
    changed = _core.Config.reference()
    changed.max_children = 7
    original = _core.Config.reference
    try:
        _core.Config.reference = staticmethod(lambda: changed)  # type: ignore[method-assign]
        assert TreeConfig.reference().max_children == 7
    finally:
        _core.Config.reference = original  # type: ignore[method-assign]
    assert TreeConfig.reference().max_children == 3
    # The dataclass has exactly the C++ struct's fields.
    exposed = {name for name in dir(_core.Config) if not name.startswith("_")} - {"paper", "reference", "validate"}
    assert exposed == set(DEFAULTS)


def test_new_fields_are_checked() -> None:
    with pytest.raises(InvalidConfigError, match="max_depth = -1"):
        TreeConfig(max_depth=-1).validate()
    with pytest.raises(InvalidConfigError, match="uct_refresh"):
        TreeConfig(uct_refresh="sometimes").validate()  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="suppress_inclusive"):
        TreeConfig(suppress_inclusive=1).validate()  # type: ignore[arg-type]


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
