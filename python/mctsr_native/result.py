"""What a search returns: `SolveResult` (`to_dict()` is the documented shape, docs/design.md) and the JSON
rules every result and record follows (non-finite numbers become null)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["SolveResult", "json_safe", "node_dict"]


def json_safe(obj: Any) -> Any:
    """Strict JSON: non-finite floats become None, tuples lists, dataclasses dicts, unknown objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(dataclasses.asdict(obj))
    return str(obj)


def node_dict(tree_node: Mapping[str, Any], texts: Any) -> dict[str, Any]:
    """One node of a result: the tree's numbers (`Tree.to_dict()` node) and the search's texts for it
    (an object with text, critique, answer, step, reward_replies; None for a node without texts)."""
    t = texts
    return {
        "id": tree_node["id"], "parent": tree_node["parent"], "kind": tree_node["kind"],
        "text": t.text if t else "", "critique": t.critique if t else None, "answer": t.answer if t else None,
        "rewards_raw": tree_node["rewards_raw"], "rewards": tree_node["rewards"],
        "q_own": json_safe(tree_node["q_own"]), "q": json_safe(tree_node["q"]), "visits": tree_node["visits"],
        "uct": json_safe(tree_node["uct"]), "depth": tree_node["depth"], "children": tree_node["children"],
        "selections": tree_node.get("selections", 0), "explored": tree_node.get("explored", 0),
        "step": t.step if t else None, "reward_replies": t.reward_replies if t else [],
        "finish": t.finish if t else None,
        "uct_at_selection": json_safe(t.selected_uct) if t else None,  # UCT when last selected (None: never)
    }


@dataclass
class SolveResult:
    """The answer, the whole tree and the accounting of one search. `to_dict()` is the documented shape."""

    problem: str
    answer: str | None
    text: str
    node: int | None
    selector: str  # "vote" | "max_q": the rule that chose `answer`
    selectors: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]]
    stats: dict[str, Any]
    config: dict[str, Any]
    tree: dict[str, Any]  # Tree.to_dict(): the C++ tree's own view (config + arrays)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)  # model, versions, times

    def to_dict(self) -> dict[str, Any]:
        d = {
            "problem": self.problem,
            "answer": self.answer,
            "text": self.text,
            "node": self.node,
            "selector": self.selector,
            "selectors": self.selectors,
            "nodes": self.nodes,
            "stats": self.stats,
            "config": self.config,
        }
        if self.provenance:
            d["provenance"] = self.provenance
        return d
