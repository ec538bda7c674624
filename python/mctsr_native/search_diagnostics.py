"""`mctsr report --search`: what did the search do with its rollouts? (issue 21)

For the tree of each problem's largest budget in a run file (an anytime run's smaller budgets are prefixes
of it), against the record's gold answer (ground truth is used here to score, never inside a search):

- exploration: the share of selections that the exploration term changed, i.e. where UCT picked a node of
  lower Q' than the rule with c = 0 would have (the tree's per-node `explored` / `selections` counts);
  near 0 means selection is greedy on Q' and the tree climbs one hill;
- shape: the depth of the deepest answer, and the mean number of children of a node that has any;
- the dummy: the share of selections that refined "I don't know", and the fresh answers drawn under it;
- rewrites (a child of an answer node): the share whose final answer is the parent's (equivalent by
  math-verify), and how many turned a right answer wrong (right -> wrong) or a wrong one right;
- distinct final answers per tree;
- what the rewrites did to the result: the run's selector applied to the draws alone (the answers under the
  dummy, which saw no other answer: the first answer, fresh answers, rewrites of "I don't know") against the
  run's answer from the whole tree; problems the rewrites won (whole tree right, draws alone wrong) and lost.
  Without a gain here, the search is self-consistency on fewer draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from tabulate import tabulate

from .answers import equivalent
from .record import is_finite_number, node_answer, node_correct
from .selectors import NodeView, configured, select_max_q, select_vote
from .runfile import read_run
from .wording import share_or_ratio as _fmt

__all__ = ["SearchStats", "search_stats", "format_search", "tree_nodes", "draws"]


@dataclass
class SearchStats:
    """What one run's trees say about its search."""

    label: str
    problems: int = 0
    selections: int = 0
    explored: int = 0
    dummy_selections: int = 0
    depth_sum: int = 0
    parents: int = 0  # nodes with at least one child
    children: int = 0  # children of those nodes
    fresh: int = 0  # answers drawn under the dummy after the first
    rewrites: int = 0  # children of an answer node
    kept: int = 0  # rewrites whose answer is the parent's
    right_to_wrong: int = 0
    wrong_to_right: int = 0
    distinct_sum: int = 0
    rewrites_won: int = 0  # problems right by the whole tree, wrong by the draws alone
    rewrites_lost: int = 0  # the reverse

    def as_dict(self) -> dict[str, Any]:
        def share(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            "label": self.label, "problems": self.problems, "selections": self.selections,
            "explored_share": share(self.explored, self.selections),
            "dummy_selection_share": share(self.dummy_selections, self.selections),
            "mean_max_depth": share(self.depth_sum, self.problems),
            "mean_branching": share(self.children, self.parents),
            "fresh_answers": self.fresh, "rewrites": self.rewrites, "kept_share": share(self.kept, self.rewrites),
            "right_to_wrong": self.right_to_wrong, "wrong_to_right": self.wrong_to_right,
            "mean_distinct_answers": share(self.distinct_sum, self.problems),
            "rewrites_won": self.rewrites_won, "rewrites_lost": self.rewrites_lost,
        }


def largest_trees(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, tree) of each problem's largest search budget in a run file, one at a time."""
    from .reward_diagnostics import _records, _tree

    run = read_run(path, keep_trees=False)
    top: dict[str, int] = {}
    for r in run.records:
        if "error" not in r and (r.get("method") or "mctsr") == "mctsr":
            top[r["id"]] = max(top.get(r["id"], -1), int(r["rollouts"]))
    for r in _records(path):
        if "error" in r or (r.get("method") or "mctsr") != "mctsr" or top.get(r["id"]) != int(r["rollouts"]):
            continue
        top.pop(r["id"])
        tree = _tree(r, path)
        if tree is not None:
            yield r, tree


def _count(value: Any) -> int:
    """A count field of a node: a non-negative int, else 0 (a run file is input: a wrong type is left out)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def tree_nodes(tree: Any) -> dict[int, dict[str, Any]]:
    """The tree's nodes by id, each a copy whose fields this module reads have the types it expects: nodes
    that are not objects or have no integer id are left out, and so are children and parents not in the tree."""
    raw = tree.get("nodes") if isinstance(tree, dict) else None
    by_id = {n["id"]: n for n in raw if isinstance(n, dict) and _count(n.get("id")) == n.get("id")} \
        if isinstance(raw, list) else {}
    out = {}
    for i, n in by_id.items():
        kids = n.get("children") if isinstance(n.get("children"), list) else []
        parent = n.get("parent")
        out[i] = {**n, "children": [c for c in kids if isinstance(c, int) and c in by_id],
                  "parent": parent if isinstance(parent, int) and parent in by_id else None,
                  "depth": _count(n.get("depth")), "selections": _count(n.get("selections")),
                  "explored": _count(n.get("explored")), "step": _count(n.get("step"))}
    return out


def draws(nodes: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers drawn from the problem alone (`tree_nodes`): roots and children of the dummy, none of which
    saw another answer (the first answer, fresh answers, rewrites of "I don't know")."""
    return [n for n in nodes.values() if n.get("kind") != "dummy"
            and (n["parent"] is None or nodes[n["parent"]].get("kind") == "dummy")]


def _draws_alone_right(tree: dict[str, Any], nodes: dict[int, dict[str, Any]], gold: str) -> bool | None:
    """Whether the tree's selector, choosing among the draws alone, would have been right (None: cannot tell)."""
    views = []
    for n in draws(nodes):
        if not is_finite_number(n.get("q_own")):
            return None
        views.append(NodeView(n["id"], "answer", node_answer(n), float(n["q_own"])))
    if not views:
        return None
    selector = "max_q" if tree.get("selector") == "max_q" else "vote"
    choice = configured(select_vote(views), select_max_q(views), selector)
    return choice.answer is not None and equivalent(choice.answer, gold)


def search_stats(path: str | Path) -> SearchStats:
    """The search diagnostics of one run file (module doc)."""
    p = Path(path)
    stats = SearchStats(label=p.name)
    for record, tree in largest_trees(p):
        gold = record.get("gold")
        gold = str(gold) if isinstance(gold, (str, int, float)) and not isinstance(gold, bool) else None
        nodes = tree_nodes(tree)
        stats.problems += 1
        answers = {i: node_answer(n) for i, n in nodes.items()}
        right = {i: node_correct(n, gold) for i, n in nodes.items()}
        distinct: list[str] = []
        for a in answers.values():
            if a is not None and not any(equivalent(a, d) for d in distinct):
                distinct.append(a)
        stats.distinct_sum += len(distinct)
        whole = record.get("correct")
        alone = _draws_alone_right(tree, nodes, gold) if gold is not None and isinstance(whole, bool) else None
        if alone is not None:
            stats.rewrites_won += whole and not alone
            stats.rewrites_lost += alone and not whole
        stats.depth_sum += max((n["depth"] for n in nodes.values() if n.get("kind") != "dummy"), default=0)
        for i, n in nodes.items():
            picks = n["selections"]
            stats.selections += picks
            stats.explored += n["explored"]
            kids = n["children"]
            if kids:
                stats.parents += 1
                stats.children += len(kids)
            if n.get("kind") == "dummy":
                stats.dummy_selections += picks
                stats.fresh += sum(1 for c in kids if nodes[c].get("critique") is None and nodes[c]["step"] > 0)
                continue
            for c in kids:
                stats.rewrites += 1
                stats.kept += answers[c] is not None and answers[i] is not None and equivalent(answers[c], answers[i])
                stats.right_to_wrong += right[i] is True and right[c] is not True
                stats.wrong_to_right += right[i] is not True and right[c] is True
    return stats


def format_search(paths: Sequence[str | Path]) -> str:
    """The search section of `mctsr report`: one line per run file."""
    rows = []
    for path in paths:
        d = search_stats(path).as_dict()
        rows.append([d["label"], d["problems"], d["selections"], _fmt(d["explored_share"], True),
                     _fmt(d["dummy_selection_share"], True), _fmt(d["mean_max_depth"]), _fmt(d["mean_branching"]),
                     d["fresh_answers"], d["rewrites"], _fmt(d["kept_share"], True),
                     f"{d['right_to_wrong']} / {d['wrong_to_right']}", _fmt(d["mean_distinct_answers"]),
                     f"{d['rewrites_won']} / {d['rewrites_lost']}"])
    heads = ["run", "problems", "selections", "explored", "dummy picks", "depth", "branching", "fresh",
             "rewrites", "kept answer", "right->wrong / wrong->right", "distinct answers",
             "rewrites won / lost"]
    return ("Search (each problem's largest budget): explored = selections where exploration picked a lower Q' "
            "than c = 0 would; depth = deepest answer; branching = children per node that has any; kept answer "
            "= rewrites whose final answer is the parent's; rewrites won / lost = problems the run's answer got "
            "right / wrong where its selector over the draws alone (the answers under the dummy) would not have.\n\n"
            + tabulate(rows, headers=heads, tablefmt="simple", disable_numparse=True))
