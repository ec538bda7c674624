"""The MCTSr search tree (arXiv 2406.07394, §3): `TreeConfig` and `Tree`, a thin layer over the C++ core.

Selection (UCT), Q aggregation and back-propagation exist only in C++ (`mctsr_native._core`); this module gives
them Python-shaped options and readout. Node ids are ints; "no node" is `None`. See docs/design.md for the
contract and cpp/include/mctsr/tree.h for the rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from . import _core
from .errors import InvalidConfigError
from .record import json_safe

CSchedule = Literal["constant", "linear_decay"]
Suppression = Literal["subtract", "replace", "none"]
QRule = Literal["min_mean", "mean"]
BackpropRule = Literal["full_depth", "one_level"]
ExpandedRule = Literal["paper", "reference"]
SelectionRule = Literal["greedy", "descent"]
RootParentVisits = Literal["virtual_root", "zero"]
InitLayout = Literal["dummy_root", "two_roots"]
UctRefresh = Literal["live", "stale"]
QTransform = Literal["raw", "scaled", "min_max"]
DummyRule = Literal["capped", "as_answer"]
NodeKind = Literal["answer", "dummy"]

_INT_FIELDS = ("max_children", "rollout_budget", "max_depth")
_BOOL_FIELDS = ("suppress_inclusive",)
_REAL_FIELDS = (
    "exploration_c",
    "epsilon",
    "c_final",
    "suppress_threshold",
    "suppress_penalty",
    "suppress_replacement",
)


@dataclass(frozen=True, kw_only=True)
class TreeConfig:
    """Which MCTSr rule each step uses; defaults are the paper's. Checked by `validate()` and by `Tree(...)`."""

    max_children: int = 3
    """Children needed (with `expanded_rule`) before a node stops being a candidate."""
    exploration_c: float = 1.4
    """c in UCT, in the units of the transformed Q: points of [-100, 100] under q_transform "raw" (the paper's
    1.4 is then about one point, so selection is nearly greedy), fractions of the scale under "scaled" and
    "min_max" (the starting c under "linear_decay")."""
    epsilon: float = 1e-5
    """ε in UCT's denominator."""
    c_schedule: CSchedule = "constant"
    """"constant", or "linear_decay": c falls linearly to `c_final` over `rollout_budget` rollouts."""
    c_final: float = 0.0
    """c at the end of the budget under "linear_decay"."""
    rollout_budget: int = 0
    """Rollouts the search plans (needed by "linear_decay"; 0 = unknown)."""
    suppress_threshold: float = 95
    """Raw rewards above this (or equal to it, with `suppress_inclusive`) are suppressed."""
    suppress_inclusive: bool = False
    """Also suppress a reward equal to the threshold (the reference: r >= 95; the paper: r > 95)."""
    suppression: Suppression = "subtract"
    """"subtract" (paper: r - suppress_penalty), "replace" (reference: suppress_replacement), "none"."""
    suppress_penalty: float = 5
    """Amount subtracted under "subtract"."""
    suppress_replacement: float = 50
    """Value used under "replace"."""
    q_rule: QRule = "min_mean"
    """"min_mean": Q = ½(min R + mean R); "mean": Q = mean R."""
    backprop: BackpropRule = "full_depth"
    """"full_depth": Q'(a) = ½(Q(a) + max_c Q'(c)); "one_level": children's own Q (the reference's rule)."""
    expanded_rule: ExpandedRule = "paper"
    """Fully expanded at ≥ max_children children AND a child's value "paper": > own Q; "reference": ≥ own Q."""
    selection: SelectionRule = "greedy"
    """"greedy": argmax UCT over all candidates; "descent": from the roots, follow the max-UCT child."""
    root_parent_visits: RootParentVisits = "virtual_root"
    """N(parent) of a root: "virtual_root" = sum of the roots' visits; "zero" (reference)."""
    init: InitLayout = "dummy_root"
    """"dummy_root": the dummy is the root, the first answer its child (paper); "two_roots": both roots (reference)."""
    uct_refresh: UctRefresh = "live"
    """"live": UCT always current (paper); "stale": the reference's bank (only leaves and their parents re-banked)."""
    max_depth: int = 0
    """Nodes at this depth or deeper are never selected, so the tree grows no deeper (0 = unlimited)."""
    q_transform: QTransform = "raw"
    """How UCT sees Q': "raw" (the paper, [-100, 100]), "scaled" ((Q' + 100) / 200, on [0, 1]) or "min_max"
    ((Q' - lo) / (hi - lo) over the tree's scored nodes, as MuZero / mctx's qtransform_by_min_max)."""
    dummy_rule: DummyRule = "capped"
    """"capped" (ours, where the paper is silent): the dummy is fully expanded once it has max_children children,
    so "I don't know" cannot absorb every rollout; "as_answer" (the reference): the rule of any node."""

    @classmethod
    def paper(cls, **overrides: Any) -> TreeConfig:
        """The paper's rules (the C++ `paper_config()`, which are also the defaults)."""
        return cls.from_core(_core.Config.paper(), **overrides)

    @classmethod
    def reference(cls, **overrides: Any) -> TreeConfig:
        """The reference code's rules (the C++ `reference_config()`): r ≥ 95 replaced by 50, one-level backup,
        expanded with ≥, N(root parent) = 0, two roots, stale UCT bank, the dummy expanded like any node."""
        return cls.from_core(_core.Config.reference(), **overrides)

    @classmethod
    def from_core(cls, core: _core.Config, **overrides: Any) -> TreeConfig:
        """The fields of a C++ config (the presets are defined there, once), with `overrides` applied."""
        fields: dict[str, Any] = {f.name: getattr(core, f.name) for f in dataclasses.fields(cls)}
        fields.update(overrides)
        return cls(**fields)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeConfig:
        """The inverse of `to_dict()`; unknown keys are an `InvalidConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConfigError(f"unknown TreeConfig field(s): {', '.join(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def validate(self) -> TreeConfig:
        """Raises `InvalidConfigError` naming the first bad field and value; returns self when all is well."""
        self.to_core()
        return self

    def to_core(self) -> _core.Config:
        """The checked C++ config (the range rules live in C++ only)."""
        core = _core.Config()
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidConfigError(f"invalid TreeConfig.{name} = {value!r}: expected an integer")
            if not -(2**31) <= value < 2**31:
                raise InvalidConfigError(f"invalid TreeConfig.{name} = {value!r}: out of range")
        for name in _REAL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidConfigError(f"invalid TreeConfig.{name} = {value!r}: expected a number")
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise InvalidConfigError(f"invalid TreeConfig.{name} = {value!r}: expected True or False")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in _INT_FIELDS and field.name not in _REAL_FIELDS and field.name not in _BOOL_FIELDS:
                if not isinstance(value, str):
                    raise InvalidConfigError(f"invalid TreeConfig.{field.name} = {value!r}: expected a name")
            elif field.name in _REAL_FIELDS:
                value = float(value)
            setattr(core, field.name, value)
        core.validate()
        return core


class Tree(_core.Tree):
    """The MCTSr search tree. Steps: `select`/`select_batch` → model → `add_child` → model → `record_rewards`
    → `backpropagate`. Bad ids raise `InvalidNodeError`, bad rewards `InvalidRewardError`; a failed call
    leaves the tree exactly as it was. Per-node and search methods come from the C++ core (see _core.pyi)."""

    def __init__(self, config: TreeConfig | None = None) -> None:
        if config is not None and not isinstance(config, TreeConfig):
            raise InvalidConfigError(f"Tree takes a TreeConfig (e.g. TreeConfig.paper()) or None, got {config!r}")
        self._config = TreeConfig() if config is None else config
        super().__init__(self._config.to_core())

    @property
    def config(self) -> TreeConfig:
        """The options this tree runs with."""
        return self._config

    def __repr__(self) -> str:
        return f"Tree(nodes={len(self)}, rollouts={self.rollouts()})"

    def to_dict(self) -> dict[str, Any]:
        """The whole tree as JSON-serialisable data: the config and one dict per node, ids in order."""
        a = self.arrays()
        parent = a["parent"].tolist()
        kind = a["kind"].tolist()
        depth = a["depth"].tolist()
        visits = a["visits"].tolist()
        q_own = a["q_own"].tolist()
        q = a["q"].tolist()
        uct = a["uct"].tolist()
        expanded = a["fully_expanded"].tolist()
        pending = a["pending"].tolist()
        selections = a["selections"].tolist()
        explored = a["explored"].tolist()
        child_at = a["children_offsets"].tolist()
        children = a["children"].tolist()
        reward_at = a["reward_offsets"].tolist()
        raw = a["rewards_raw"].tolist()
        suppressed = a["rewards"].tolist()
        nodes = [
            {
                "id": i,
                "parent": None if parent[i] < 0 else parent[i],
                "kind": "dummy" if kind[i] else "answer",
                "depth": depth[i],
                "children": children[child_at[i] : child_at[i + 1]],
                "rewards_raw": raw[reward_at[i] : reward_at[i + 1]],
                "rewards": suppressed[reward_at[i] : reward_at[i + 1]],
                "visits": visits[i],
                "q_own": json_safe(q_own[i]),
                "q": json_safe(q[i]),
                "uct": json_safe(uct[i]),
                "fully_expanded": bool(expanded[i]),
                "pending": bool(pending[i]),
                "selections": selections[i],
                "explored": explored[i],
            }
            for i in range(len(parent))
        ]
        return {"config": self._config.to_dict(), "nodes": nodes}

    def arrays(self) -> dict[str, np.ndarray]:
        """The tree as numpy arrays, one entry per node: parent (-1 for roots), kind (0 answer, 1 dummy), depth,
        visits, q_own, q, uct (NaN while unscored), fully_expanded, pending, selections (times select_batch
        returned the node), explored (of those, the times c = 0 would have picked another Q'); children / children_offsets and
        rewards_raw / rewards / reward_offsets in CSR form (node i's slice is offsets[i]:offsets[i+1])."""
        return super().arrays()


__all__ = ["TreeConfig", "Tree"]
