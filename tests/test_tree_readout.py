"""Readout: to_dict() is JSON data in the design.md shape; arrays() are numpy arrays that agree with it."""

from __future__ import annotations

import json
import threading

import numpy as np

from mctsr_native.tree import Tree, TreeConfig

from tree_example import build

NODE_KEYS = {
    "id", "parent", "kind", "depth", "children", "rewards_raw", "rewards", "visits", "q_own", "q", "uct",
    "fully_expanded", "pending", "selections", "explored",
}


def test_to_dict_shape_and_json() -> None:
    tree, n = build(TreeConfig.reference())
    tree.add_child(n["e"])  # an unscored node: its values are None
    data = tree.to_dict()
    assert data["config"] == TreeConfig.reference().to_dict()
    assert [node["id"] for node in data["nodes"]] == list(range(6))
    assert all(set(node) == NODE_KEYS for node in data["nodes"])
    a = data["nodes"][n["a"]]
    assert a["parent"] is None and a["kind"] == "answer" and a["children"] == [n["b"], n["c"]]
    assert a["rewards_raw"] == [90, 100, 80] and a["rewards"] == [90, 50, 80]
    assert data["nodes"][n["d"]]["kind"] == "dummy"
    assert data["nodes"][5]["q"] is None and data["nodes"][5]["uct"] is None
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_arrays_agree_with_getters() -> None:
    tree, n = build()
    tree.select_batch(1)
    arrays = tree.arrays()
    assert arrays["parent"].tolist() == [-1, -1, 0, 0, 3]
    assert arrays["kind"].tolist() == [0, 1, 0, 0, 0]
    np.testing.assert_allclose(arrays["q"], [tree.q(i) for i in range(5)])
    assert arrays["pending"].tolist() == [True, False, False, False, False]
    assert arrays["children"].tolist() == [2, 3, 4]
    assert arrays["children_offsets"].tolist() == [0, 2, 2, 2, 3, 3]
    assert arrays["rewards_raw"][arrays["reward_offsets"][2] : arrays["reward_offsets"][3]].tolist() == [70]


def test_threads_share_a_tree_safely() -> None:
    tree = Tree()
    answer, dummy = tree.initialize()
    tree.record_rewards(answer, [50])
    tree.record_rewards(dummy, [0])

    def work() -> None:
        for _ in range(300):
            node = tree.select()
            if node is not None:
                child = tree.add_child(node)
                tree.record_and_backpropagate(child, [10, 20])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tree) == 2 + 1200 and tree.rollouts() == 1200
