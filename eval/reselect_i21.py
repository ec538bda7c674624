"""Issue 21: would another final-answer rule, applied to the same trees, have beaten self-consistency?

Re-selects the answer of every stored search tree at one budget under several rules, without calling the model,
and pairs each against self-consistency (and the recorded vote) on the same problems: accuracy, the paired
difference ± SE and McNemar's exact p. The rules:

- `vote, Q-weighted`: the search's own selector (`selectors.select_vote`); it must reproduce the run's result.
- `vote, one per node`: every answer node counts 1, whatever its Q.
- `vote, draws only`: only the answers under the dummy (`search_diagnostics.draws`: the first answer, fresh
  answers and rewrites of "I don't know", none of which saw another answer), as self-consistency votes; the
  rewrites of answers do not vote.
- `vote, one per lineage`: each draw's subtree (the draw and its rewrites) gives one vote, its own vote's winner.
- `vote, leaves only`: only the last rewrite of each line.
- `max-Q`: the paper's rule (`selectors.select_max_q`).
- `shortest answer`: the answer node with the shortest text (a judge that costs nothing; see `report --rewards`).

Ground truth is used for scoring only.

    .venv/bin/python eval/reselect_i21.py eval/results/i21-gsm8k_test-G.jsonl [--budget 4] [--first 40] [--skip 0]
        [--data data/gsm8k_test.jsonl]
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

from mctsr_native.answers import equivalent
from mctsr_native.compare import Outcomes, format_comparisons, paired
from mctsr_native.data import load_problems
from mctsr_native.record import is_finite_number
from mctsr_native.runfile import read_run
from mctsr_native.search_diagnostics import draws, tree_nodes
from mctsr_native.selectors import NodeView, select_max_q, select_vote

Nodes = dict[int, dict[str, Any]]  # search_diagnostics.tree_nodes
Rule = Callable[[Nodes], str | None]


def _views(nodes: Sequence[dict[str, Any]], *, weighted: bool = True) -> list[NodeView]:
    # An unweighted vote is the weighted vote with every Q equal. A node never scored (the first answer at
    # budget 0) weighs 0, as the solver's selectors see it.
    return [NodeView(int(n["id"]), str(n["kind"]), n.get("answer"),
                     float(n["q_own"]) if weighted and is_finite_number(n.get("q_own")) else 0.0)
            for n in nodes]


def _vote(nodes: Sequence[dict[str, Any]], *, weighted: bool = True) -> str | None:
    return select_vote(_views(nodes, weighted=weighted)).answer


def _subtree(nodes: Nodes, root: dict[str, Any]) -> list[dict[str, Any]]:
    out, todo = [], [root]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(nodes[c] for c in n["children"])
    return out


def _lineage_vote(nodes: Nodes) -> str | None:
    winners = [_vote(_subtree(nodes, d)) for d in draws(nodes)]
    return _vote([{"id": i, "kind": "answer", "answer": a, "q_own": 0.0} for i, a in enumerate(winners)])


def _shortest(nodes: Nodes) -> str | None:
    pool = [n for n in nodes.values() if n["kind"] == "answer" and n.get("answer") is not None]
    return min(pool, key=lambda n: (len(n["text"] or ""), n["id"]))["answer"] if pool else None


RULES: dict[str, Rule] = {
    "vote, Q-weighted": lambda ns: _vote(list(ns.values())),
    "vote, one per node": lambda ns: _vote(list(ns.values()), weighted=False),
    "vote, draws only": lambda ns: _vote(draws(ns)),
    "vote, one per lineage": _lineage_vote,
    "vote, leaves only": lambda ns: _vote([n for n in ns.values() if not n["children"]]),
    "max-Q": lambda ns: select_max_q(_views(list(ns.values()))).answer,
    "shortest answer": _shortest,
}


def rows(path: str, budget: int, first: int, skip: int, data: str | None = None) -> list[Outcomes]:
    """One row per rule on the search's trees at `budget`, then the recorded baselines at the same budget.
    `skip` and `first` count problems in the data file's order (`data`), else in the order the run file first
    records them: `mctsr eval` grows a run in the data's order, so at the run's sizes (run_i21.sh: multiples of
    ten) that is the same slice; within one, problems in flight finish in any order. Never in id order: MATH-500's
    ids ("test/algebra/1098.json") do not sort in the data's order."""
    records = read_run(path).records
    searched = [r for r in records if (r.get("method") or "mctsr") == "mctsr" and r["rollouts"] == budget]
    have = {str(r["id"]) for r in searched}
    order = [p.id for p in load_problems(data)] if data else [str(r["id"]) for r in records]
    ids = set(list(dict.fromkeys(i for i in order if i in have))[skip:skip + first])
    out = {name: Outcomes(name, budget, {}, {}) for name in RULES}
    recorded = Outcomes("recorded", budget, {}, {})
    for r in searched:
        if str(r["id"]) not in ids:
            continue
        nodes = tree_nodes(r["tree"])
        for name, rule in RULES.items():
            out[name].right[str(r["id"])] = equivalent(rule(nodes), str(r["gold"]))
            out[name].tokens[str(r["id"])] = int(r.get("tokens_generated") or 0)
        if r["tree"].get("selector", "vote") == "vote":  # the check below holds for the vote's records only
            recorded.right[str(r["id"])] = bool(r.get("correct"))
    differ = [i for i in recorded.right if recorded.right[i] != out["vote, Q-weighted"].right[i]]
    if differ:
        raise SystemExit(f"{path}: re-selecting by the search's own vote does not reproduce the recorded result "
                         f"on {', '.join(differ)}; the trees and this script disagree, so its figures mean nothing")
    for r in records:
        method = r.get("method") or "mctsr"
        if r["rollouts"] != budget or method == "mctsr" or str(r["id"]) not in ids:
            continue
        row = out.setdefault(method, Outcomes(method, budget, {}, {}, method=method))
        row.right[str(r["id"])] = bool(r.get("correct"))
        row.tokens[str(r["id"])] = int(r.get("tokens_generated") or 0)
    return list(out.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a mctsr eval run file with baselines (eval/run_i21.sh writes them)")
    ap.add_argument("--budget", type=int, default=4, help="the rollout budget whose trees are re-selected")
    ap.add_argument("--first", type=int, default=10**9, help="at most this many problems (in the data's order)")
    ap.add_argument("--skip", type=int, default=0, help="leave out this many problems first (a held-out slice)")
    ap.add_argument("--data", help="the run's data file: count --first and --skip exactly in its order (default: "
                                   "the order the run file first records the problems, the same at multiples of ten)")
    a = ap.parse_args()
    table = rows(a.run, a.budget, a.first, a.skip, a.data)
    anchors = [r for r in table if r.label in ("sc", "vote, Q-weighted")]
    print(format_comparisons([c for r in table for anchor in anchors if r is not anchor
                              for c in [paired(r, anchor)] if c is not None]))


if __name__ == "__main__":
    main()
