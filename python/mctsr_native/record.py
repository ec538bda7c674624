"""What a search returns, defined once: `SearchRecord` (typed, versioned: `to_dict()` / `from_dict()`; the shape
is documented in docs/design.md), the one builder of it (`search_record`, and `zero_shot_record` for budget 0
of a larger search), and the reading rules every reader shares: a node's answer (`node_answer`) and its
correctness (`node_correct`). The JSON rule of every record: non-finite numbers become null (`json_safe`).

`SolveResult` is the same class under its first name."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Mapping

from .answers import equivalent, extract_answer
from .errors import DataError

__all__ = ["SearchRecord", "SolveResult", "RECORD_FORMAT", "json_safe", "node_dict", "search_record",
           "zero_shot_record", "node_answer", "node_correct", "is_finite_number"]

RECORD_FORMAT = "mctsr-search/1"  # the "format" of a record's dict: bump when its shape changes incompatibly


def is_finite_number(value: Any) -> bool:
    """Whether a value read from a record or run file is a real, finite number (not a bool, NaN or a string)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
class SearchRecord:
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
            "format": RECORD_FORMAT,
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchRecord:
        """A record from its dict: any version this package wrote (records before "format" existed, and the
        trees of eval run files, which leave out the problem and the config, read with their defaults)."""
        if not isinstance(data, Mapping):
            raise DataError(f"a search record must be a JSON object, got {type(data).__name__}")
        version = data.get("format", RECORD_FORMAT)
        if version != RECORD_FORMAT:
            raise DataError(f"search record format {version!r}: this version reads {RECORD_FORMAT!r}")
        nodes = data.get("nodes") or []
        if not isinstance(nodes, list) or not all(isinstance(n, Mapping) for n in nodes):
            raise DataError("a search record's 'nodes' must be a list of objects")
        selectors = data.get("selectors") or {}
        return cls(problem=str(data.get("problem") or ""), answer=data.get("answer"), text=str(data.get("text") or ""),
                   node=data.get("node"), selector=str(data.get("selector") or "vote"),
                   selectors={k: dict(v) for k, v in selectors.items() if isinstance(v, Mapping)},
                   nodes=[dict(n) for n in nodes], stats=dict(data.get("stats") or {}),
                   config=dict(data.get("config") or {}), tree=dict(data.get("tree") or {}),
                   provenance=dict(data.get("provenance") or {}))


SolveResult = SearchRecord  # the first name of the record, kept for the Python API


# --------------------------------------------------------------------------------------- building a record


def search_record(solver: Any, stop_reason: str) -> SearchRecord:
    """The record of a search now: the configured selector's answer, both selectors' picks, every node (the
    tree's numbers and the search's texts) and the stats. The one builder of a search's record."""
    vote, best, chosen = solver.selections()
    tree = solver.tree.to_dict()
    nodes = [node_dict(n, solver.texts.get(n["id"])) for n in tree["nodes"]]
    u = solver.client.usage
    c = solver.client
    stats = {
        "rollouts": solver.tree.rollouts(), "steps": solver.steps, "model_calls": u.calls,
        "requests": u.requests, "sequences": u.sequences,
        "prompt_tokens": u.prompt_tokens, "reused_tokens": u.reused_tokens,
        "generated_tokens": u.generated_tokens, "model_seconds": u.wall_seconds,
        "decode_seconds": u.decode_seconds, "wall_seconds": time.perf_counter() - solver.stops.started,
        "stop_reason": stop_reason, "answer_kind": solver.answer_kind, "by_kind": dict(u.by_kind),
        "capped_replies": dict(c.capped), "empty_replies": c.empty_replies, "error_replies": c.error_replies,
        **dataclasses.asdict(solver.rewards.counts), "prompts_shortened": solver.calls.shortened,
    }
    return SearchRecord(
        problem=solver.problem,
        answer=chosen.answer,
        text=solver.texts[chosen.node].text if chosen.node is not None else "",
        node=chosen.node,
        selector="vote" if chosen is vote else "max_q",
        selectors={
            "vote": {"node": vote.node, "answer": vote.answer, "support": vote.score, "groups": vote.groups},
            "max_q": {"node": best.node, "answer": best.answer, "q": json_safe(best.score),
                      "without_answer": best.node is not None and best.answer is None},
        },
        nodes=nodes,
        stats=stats,
        config=solver.config.to_dict(),
        tree=tree,
    )


def zero_shot_record(solver: Any) -> SearchRecord:
    """The record at budget 0 of a larger search: its first answer alone, unscored, with the work and time spent
    before any reward was drawn (what a zero-shot search returns; anytime evaluation records it)."""
    first = next(n for n, t in solver.texts.items() if t.kind == "answer" and t.critique is None)
    t = solver.texts[first]
    u = solver.first_answer_usage
    nodes = []
    for n in solver.tree.to_dict()["nodes"]:  # the first answer and the dummy, as the zero-shot search has them
        if n["id"] in solver.texts and solver.texts[n["id"]].step == 0:
            node = node_dict(n, solver.texts[n["id"]])
            node.update(rewards_raw=[], rewards=[], q_own=None, q=None, visits=0, uct=None, reward_replies=[],
                        children=[], selections=0, explored=0)
            nodes.append(node)
    choice = {"node": first, "answer": t.answer}
    capped = {"answer": 1} if t.finish == "length" else {}
    return SearchRecord(
        problem=solver.problem, answer=t.answer, text=t.text, node=first, selector="vote",
        selectors={"vote": {**choice, "support": None, "groups": None},
                   "max_q": {**choice, "q": None, "without_answer": t.answer is None}},
        nodes=nodes,
        stats={"rollouts": 0, "steps": 0, "model_calls": u.calls, "prompt_tokens": u.prompt_tokens,
               "reused_tokens": u.reused_tokens, "generated_tokens": u.generated_tokens,
               "model_seconds": u.wall_seconds, "wall_seconds": solver.first_answer_seconds,
               "stop_reason": "rollouts", "capped_replies": capped, "by_kind": dict(u.by_kind),
               "budget_zero": "the first answer, before any reward was drawn"},
        config=solver.config.to_dict(),
        tree={},
    )


# ----------------------------------------------------------------------------------------- reading records


def node_answer(node: Mapping[str, Any]) -> str | None:
    """A node's final answer, the one rule every reader uses: None for the dummy; the recorded answer, else
    the one extracted from its text (records written before answers were stored)."""
    if node.get("kind") == "dummy":
        return None
    answer = node.get("answer")
    if isinstance(answer, str) and answer.strip():
        return answer
    text = node.get("text")
    return extract_answer(text) if isinstance(text, str) else None


def node_correct(node: Mapping[str, Any], gold: str | None) -> bool | None:
    """Whether a node's answer is equivalent to the ground truth (None without a gold answer or a node answer).
    Ground truth is for scoring only: no search reads this."""
    answer = node_answer(node)
    if gold is None or answer is None:
        return None
    return equivalent(answer, gold)
