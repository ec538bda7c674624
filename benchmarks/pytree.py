"""A plain-Python MCTSr tree kept in dicts, as the reference code keeps its tree: the baseline of
bench_tree.py and the model the property tests compare the C++ tree against.

It is NOT used by the package (the search runs only in C++); it restates the rules of
cpp/include/mctsr/tree.h and rules.h as directly as possible, computing each formula in the same order so
that floating-point results agree exactly. Input checking is left to the C++ tree.
"""

from __future__ import annotations

import math
from typing import Any


class PyTree:
    """Same steps and readout as `mctsr_native.Tree`, over dicts keyed by node id."""

    def __init__(self, config: Any) -> None:
        self.cfg = config
        self.parent: dict[int, int | None] = {}
        self.kind: dict[int, str] = {}
        self.children: dict[int, list[int]] = {}
        self.raw: dict[int, list[float]] = {}
        self.rewards: dict[int, list[float]] = {}
        self.q_own: dict[int, float] = {}
        self.q_back: dict[int, float] = {}
        self.pending: set[int] = set()
        self.bank: dict[int, float] = {}  # uct_refresh = "stale": the UCT selection ranks by
        self.roots: list[int] = []
        self.n_rollouts = 0
        self.selections: dict[int, int] = {}
        self.explored: dict[int, int] = {}

    # --- the rules ------------------------------------------------------------------------------------------
    def suppress(self, r: float) -> float:
        threshold = self.cfg.suppress_threshold
        if not (r >= threshold if self.cfg.suppress_inclusive else r > threshold):
            return r
        if self.cfg.suppression == "subtract":
            return r - self.cfg.suppress_penalty
        if self.cfg.suppression == "replace":
            return float(self.cfg.suppress_replacement)
        return r

    def exploration_c(self) -> float:
        c0 = float(self.cfg.exploration_c)
        budget = self.cfg.rollout_budget
        if self.cfg.c_schedule == "constant" or budget <= 0:
            return c0
        done = float(min(self.n_rollouts, budget))
        return c0 + (float(self.cfg.c_final) - c0) * done / float(budget)

    def child_value(self, child: int) -> float:
        return self.q_back[child] if self.cfg.backprop == "full_depth" else self.q_own[child]

    def recompute_q(self, node: int) -> None:
        if node not in self.q_own:
            return
        values = [self.child_value(c) for c in self.children[node] if c in self.q_own]
        self.q_back[node] = 0.5 * (self.q_own[node] + max(values)) if values else self.q_own[node]

    def parent_visits(self, node: int) -> float:
        parent = self.parent[node]
        if parent is not None:
            return float(len(self.rewards[parent]))
        if self.cfg.root_parent_visits == "virtual_root":
            return float(sum(len(self.rewards[r]) for r in self.roots))
        return 0.0

    def transformed_q(self, node: int) -> float:
        q = self.q_back[node]
        if self.cfg.q_transform == "scaled":
            return (q + 100.0) / 200.0
        if self.cfg.q_transform == "min_max":
            scored = [self.q_back[n] for n in self.q_own]
            lo, hi = min(scored), max(scored)
            return (q - lo) / (hi - lo) if hi > lo else 0.5
        return q

    def live_uct(self, node: int) -> float:
        explore = math.sqrt(math.log(self.parent_visits(node) + 1.0) / (len(self.rewards[node]) + self.cfg.epsilon))
        return self.transformed_q(node) + self.exploration_c() * explore

    def uct(self, node: int) -> float | None:
        if node not in self.q_own:
            return None
        return self.bank[node] if self.cfg.uct_refresh == "stale" else self.live_uct(node)

    def is_fully_expanded(self, node: int) -> bool:
        if len(self.children[node]) < self.cfg.max_children or node not in self.q_own:
            return False
        if self.kind[node] == "dummy" and self.cfg.dummy_rule == "capped":
            return True
        own = self.q_own[node]
        values = [self.child_value(c) for c in self.children[node] if c in self.q_own]
        if self.cfg.expanded_rule == "paper":
            return any(v > own for v in values)
        return any(v >= own for v in values)

    def is_candidate(self, node: int) -> bool:
        too_deep = self.cfg.max_depth > 0 and self.depth(node) >= self.cfg.max_depth
        return node in self.q_own and node not in self.pending and not too_deep and not self.is_fully_expanded(node)

    def depth(self, node: int) -> int:
        parent = self.parent[node]
        return 0 if parent is None else 1 + self.depth(parent)

    def is_leaf(self, node: int) -> bool:
        return node in self.q_own and not self.children[node]

    def rebank(self) -> None:
        """The reference's update_ucb: every scored leaf and every scored parent of a scored leaf."""
        for node in self.parent:
            if node in self.q_own and (self.is_leaf(node) or any(self.is_leaf(c) for c in self.children[node])):
                self.bank[node] = self.live_uct(node)

    # --- the steps ------------------------------------------------------------------------------------------
    def _add(self, parent: int | None, kind: str) -> int:
        node = len(self.parent)
        self.parent[node] = parent
        self.kind[node] = kind
        self.children[node] = []
        self.raw[node] = []
        self.rewards[node] = []
        if parent is None:
            self.roots.append(node)
        else:
            self.children[parent].append(node)
        return node

    def initialize(self) -> tuple[int, int]:
        if self.cfg.init == "dummy_root":
            dummy = self._add(None, "dummy")
            return self._add(dummy, "answer"), dummy
        answer = self._add(None, "answer")
        return answer, self._add(None, "dummy")

    def add_root(self, kind: str = "answer") -> int:
        return self._add(None, kind)

    def add_child(self, parent: int) -> int:
        self.pending.discard(parent)
        self.n_rollouts += 1
        return self._add(parent, "answer")

    def record_rewards(self, node: int, rewards: list[float]) -> None:
        for r in rewards:
            self.raw[node].append(float(r))
            self.rewards[node].append(self.suppress(float(r)))
        samples = self.rewards[node]
        total = 0.0
        for value in samples:
            total += value
        mean = total / len(samples)
        self.q_own[node] = 0.5 * (min(samples) + mean) if self.cfg.q_rule == "min_mean" else mean
        self.recompute_q(node)
        if node not in self.bank:  # first scored: banked once
            self.bank[node] = self.live_uct(node)

    def backpropagate(self, node: int) -> None:
        ancestor = self.parent[node]
        while ancestor is not None:
            self.recompute_q(ancestor)
            ancestor = self.parent[ancestor]
        if self.cfg.uct_refresh == "stale":
            self.rebank()

    def record_and_backpropagate(self, node: int, rewards: list[float]) -> None:
        self.record_rewards(node, rewards)
        self.backpropagate(node)

    def _ranked(self, nodes: list[int], by_q_alone: bool = False) -> list[int]:
        scored = [n for n in nodes if n in self.q_own]
        if by_q_alone:
            return sorted(scored, key=lambda n: (-self.q_back[n], n))
        return sorted(scored, key=lambda n: (-self.uct(n), n))  # type: ignore[operator]

    def select(self, by_q_alone: bool = False) -> int | None:
        """The next node to refine; `by_q_alone`: the same rule with c = 0 (ranking by Q' alone)."""
        if self.cfg.selection == "greedy":
            best, best_uct = None, -math.inf
            for node in self.parent:
                if self.is_candidate(node):
                    value = self.q_back[node] if by_q_alone else self.uct(node)
                    if best is None or value > best_uct:  # type: ignore[operator]
                        best, best_uct = node, value
            return best
        stack = list(reversed(self._ranked(self.roots, by_q_alone)))
        while stack:
            node = stack.pop()
            if not self.is_fully_expanded(node):
                if self.is_candidate(node):
                    return node
                continue
            stack.extend(reversed(self._ranked(self.children[node], by_q_alone)))
        return None

    def select_batch(self, k: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < k:
            node = self.select()
            if node is None:
                break
            greedy = self.select(by_q_alone=True)
            self.selections[node] = self.selections.get(node, 0) + 1
            if greedy is not None and greedy != node and self.q_back[greedy] != self.q_back[node]:
                self.explored[node] = self.explored.get(node, 0) + 1
            self.pending.add(node)
            chosen.append(node)
        return chosen

    def cancel(self, node: int) -> None:
        self.pending.discard(node)

    # --- readout --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.parent)

    def candidates(self) -> list[int]:
        return [n for n in self.parent if self.is_candidate(n)]

    def best(self, by: str = "own") -> int | None:
        values = self.q_own if by == "own" else self.q_back
        best = None
        for node in self.parent:
            if self.kind[node] == "dummy" or node not in self.q_own:
                continue
            if best is None or values[node] > values[best]:
                best = node
        return best
