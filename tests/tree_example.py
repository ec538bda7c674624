"""The worked example shared by the tree tests (see test_tree_worked_example.py for the hand-computed values)."""

from __future__ import annotations

from mctsr_native.tree import Tree, TreeConfig

Q_A = 0.5 * (80 + 265 / 3)


def build(config: TreeConfig | None = None) -> tuple[Tree, dict[str, int]]:
    tree = Tree(config)
    a, d = tree.add_root("answer"), tree.add_root("dummy")  # two roots whatever config.init says
    tree.record_rewards(a, [90, 100, 80])
    tree.record_rewards(d, [0, -10])
    b = tree.add_child(a)
    tree.record_rewards(b, [70])
    tree.backpropagate(b)
    c = tree.add_child(a)
    tree.record_and_backpropagate(c, [100, 90])
    e = tree.add_child(c)
    tree.record_rewards(e, [40])
    tree.backpropagate(e)
    return tree, {"a": a, "d": d, "b": b, "c": c, "e": e}
