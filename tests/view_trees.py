"""Trees for the view tests: a large synthetic search grown by the real C++ tree with seeded rewards, and a
`mctsr eval` run with tree files made on the fake backend."""

from __future__ import annotations

import random
from typing import Any

from mctsr_native import Tree, TreeConfig
from mctsr_native.selectors import NodeView, select_vote

INJECTION = "</script><script>alert(1)</script><img src=x onerror=alert(2)> & <b>not bold</b>"


def synthetic_result(n_nodes: int = 500, seed: int = 0, injected_node: int = 7) -> dict[str, Any]:
    """A SolveResult-shaped dict of `n_nodes` nodes: UCT selection and back-propagation by the C++ tree,
    rewards and texts made up (answers 1..6, so several groups vote); one node's text is an injection."""
    rng = random.Random(seed)
    tree = Tree(TreeConfig.paper())
    answer, dummy = tree.initialize()
    tree.record_and_backpropagate(answer, [rng.randint(-20, 90) for _ in range(3)])
    tree.record_and_backpropagate(dummy, [rng.randint(-20, 30) for _ in range(3)])
    while len(tree) < n_nodes:
        parent = tree.select()
        if parent is None:
            break
        child = tree.add_child(parent)
        tree.record_and_backpropagate(child, [rng.randint(-40, 100) for _ in range(3)])
    nodes = []
    for n in tree.to_dict()["nodes"]:
        value = None if n["kind"] == "dummy" else str(1 + (n["id"] * 7 + seed) % 6)
        text = "I don't know." if value is None else f"Node {n['id']} reasons step by step.\nThe answer is: {value}"
        if n["id"] == injected_node:
            text = INJECTION + "\nThe answer is: 3"
            value = "3"
        nodes.append({**n, "text": text, "answer": value,
                      "critique": None if n["parent"] is None else f"Critique of node {n['parent']}: check it.",
                      "step": n["depth"], "reward_replies": [f"Fine.\n[Score] {r:g}" for r in n["rewards_raw"]]})
    views = [NodeView(n["id"], n["kind"], n["answer"], n["q_own"]) for n in nodes if n["q_own"] is not None]
    vote, best_node = select_vote(views), tree.best(by="own")
    best = next(n for n in nodes if n["id"] == best_node)
    return {
        "problem": "What is the synthetic answer? <i>markup stays text</i>",
        "answer": vote.answer, "text": "", "node": vote.node, "selector": "vote",
        "selectors": {"vote": {"node": vote.node, "answer": vote.answer, "support": vote.score},
                      "max_q": {"node": best["id"], "answer": best["answer"], "q": best["q_own"]}},
        "nodes": nodes, "stats": {"rollouts": tree.rollouts(), "stop_reason": "rollouts"}, "config": {},
    }
