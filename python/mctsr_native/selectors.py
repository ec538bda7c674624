"""The final answer of a search: two selectors over the scored answer nodes (the dummy never wins).

- `max_q` (the paper, arXiv 2406.07394 section 3.6): the answer node with the highest own Q (earliest id on
  ties) among those with an extractable final answer; only when none has one, the highest-Q answer node all
  the same (the result says `without_answer`). A node whose text has no final answer cannot be the answer of
  a search, however its reward came out (issue 21: the paper's rule chose such a node in 3 of 3 solves).
- `vote` (ours, the default): group answer nodes by mathematical equivalence of their extracted final answers
  (`answers.group_answers`) and pick the group with the highest total support, where a node's support is
  `w(Q) = (Q + 100) / 200`, its own Q mapped linearly from [-100, 100] onto [0, 1]. The shift makes a
  negative Q count as weak (not negative) support, so two poor agreeing answers do not cancel each other, and
  a single Q = 100 answer weighs as much as two Q = 0 answers. Ties go to the group with the higher best Q,
  then to the group first seen. The group's representative is its highest-Q node (earliest on ties).
  Nodes with no extractable answer do not vote; if no node has one, `vote` chooses nothing (node None) and
  the solver falls back to `max_q`.

The solver reads the vote after every step. `VoteGroups` keeps one search's groups between those reads, so each
pair of distinct answers is compared once per search rather than once per step (past ~180 distinct answers the
checker's cache no longer holds every pair, and regrouping would redo them all each step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .answers import AnswerGroups, group_answers

__all__ = ["NodeView", "Choice", "VoteGroups", "vote_weight", "select_vote", "select_max_q", "configured"]


@dataclass(frozen=True)
class NodeView:
    """What a selector needs of a node."""

    id: int
    kind: str  # "answer" | "dummy"
    answer: str | None  # extracted final answer
    q_own: float  # the node's own Q


@dataclass(frozen=True)
class Choice:
    """A selector's pick: the node, its answer, and the score it won with (support for vote, Q for max_q)."""

    node: int | None
    answer: str | None
    score: float | None
    groups: list[dict[str, Any]] = field(default_factory=list)  # vote only: every group, best first


def vote_weight(q: float) -> float:
    """A node's support in the vote: its own Q mapped from [-100, 100] onto [0, 1]."""
    return (min(max(q, -100.0), 100.0) + 100.0) / 200.0


class VoteGroups:
    """The vote's equivalence groups across the steps of one search (module doc). A step's voters are the last
    step's followed by new ones (nodes are scored in the order they are made); if not, it groups them anew, so
    the groups are always exactly `group_answers` of the voters given."""

    def __init__(self) -> None:
        self._seen: list[tuple[int, str]] = []  # (id, answer) of the voters grouped, in order
        self._groups = AnswerGroups()

    def of(self, voters: Sequence[NodeView]) -> list[list[int]]:
        """Indices into `voters`, grouped as `group_answers([v.answer for v in voters])` would group them."""
        now = [(v.id, v.answer or "") for v in voters]
        if now[:len(self._seen)] != self._seen:
            self._seen, self._groups = [], AnswerGroups()
        for v in voters[len(self._seen):]:
            self._groups.add(v.answer)
        self._seen = now
        return self._groups.groups()


def select_vote(nodes: Sequence[NodeView], grouping: VoteGroups | None = None) -> Choice:
    """The equivalence group of final answers with the highest total Q-weighted support (module doc);
    `grouping` keeps the groups between the calls of one search."""
    voters = [n for n in nodes if n.kind != "dummy" and n.answer is not None]
    if not voters:
        return Choice(None, None, 0.0)
    groups = []
    grouped = grouping.of(voters) if grouping is not None else group_answers([n.answer for n in voters])
    for order, members in enumerate(grouped):
        group = [voters[i] for i in members]
        rep = max(group, key=lambda n: (n.q_own, -n.id))
        support = sum(vote_weight(n.q_own) for n in group)
        groups.append((support, rep.q_own, -order, rep, group))
    if not groups:  # every answer was empty or unusable
        return Choice(None, None, 0.0)
    groups.sort(key=lambda g: g[:3], reverse=True)
    summary = [
        {"answer": g[3].answer, "node": g[3].id, "nodes": sorted(n.id for n in g[4]), "support": g[0]}
        for g in groups
    ]
    support, _, _, rep, _ = groups[0]
    return Choice(rep.id, rep.answer, support, summary)


def select_max_q(nodes: Sequence[NodeView]) -> Choice:
    """The answer node with the highest own Q, preferring nodes with an extractable answer (module doc)."""
    answers = [n for n in nodes if n.kind != "dummy"]
    pool = [n for n in answers if n.answer is not None] or answers
    if not pool:
        return Choice(None, None, None)
    best = max(pool, key=lambda n: (n.q_own, -n.id))
    return Choice(best.id, best.answer, best.q_own)


def configured(vote: Choice, max_q: Choice, selector: str) -> Choice:
    """The configured selector's pick from both picks: `vote`, falling back to `max_q` when no node has an
    extractable answer (vote then chooses nothing); or `max_q`."""
    return vote if selector == "vote" and vote.node is not None else max_q
