"""`mctsr report --rewards`: do the model's own scores carry information? (issue 12)

MCTSr stands on self-evaluation: a node's Q decides what is refined and which answer max-Q picks. For the
answer nodes of a run file's trees this section gives, against node correctness (the node's extracted answer
equivalent to the record's gold; ground truth is used here, to score, never inside a search):

- AUROC of own Q, and of each reward sample taken alone (the area under the ROC curve: the chance that a
  right node outscores a wrong one, ties counting half; 0.5 = a coin), computed exactly by the Mann-Whitney
  rank formula, with the Hanley-McNeil standard error; with fewer than `MIN_CLASS` right or wrong nodes the
  error is not given (the formula claims certainty there: one right node above every wrong one is 1.00 ± 0.00)
  and the line says the sample is too small;
- the share of reward samples equal to the node's own numeric answer, and to any number written in the node's
  text (which restates the problem's numbers): a score copied from the answer carries no judgement;
- the spread of samples: the mean over nodes of the standard deviation of their samples (0 = the k samples
  always agree, so k > 1 buys nothing);
- AUROC within a problem: what selection needs is to rank the answers *of one problem*, and a pooled AUROC can
  look informative only because easy problems get both high grades and right answers. For each problem with
  right and wrong answers, the share of its (right, wrong) pairs in which the right one scores higher; the mean
  over those problems, ± its standard error across them. The same for the baselines' scored draws (what
  best-of-N chooses by), and for the shorter answer winning (a judge that costs nothing: a reward that does not
  beat it carries little of its own).

In an anytime run a problem's trees at smaller budgets are prefixes of its largest one, so only the record of
the largest budget of each problem counts. Trees are read inline or from `tree_path` files, one record at a
time (a run is never held whole in memory).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .answers import equivalent
from .errors import DataError
from .record import is_finite_number
from .runfile import read_run, record_tree
from .safe_io import loads, open_regular
from .wording import share_or_ratio as _fmt

__all__ = ["auroc", "within_auroc", "RewardStats", "reward_stats", "format_rewards", "MIN_CLASS"]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
MIN_CLASS = 5  # right and wrong nodes (samples) each needed before an AUROC's standard error means anything


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float] | None:
    """(AUROC, its Hanley-McNeil standard error) of `scores` for `labels`, exact with ties counting half (the
    Mann-Whitney U over average ranks); None without at least one positive and one negative."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties (1-based)
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    a = (ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return float(a), float(math.sqrt(max(var, 0.0)))


def within_auroc(groups: Sequence[Sequence[tuple[float, bool]]]) -> tuple[float, float | None, int] | None:
    """(mean over groups of the group's AUROC, its standard error across groups or None with fewer than two, the
    number of groups counted) for groups of (score, right); a group counts when it holds right and wrong
    items. None when none does."""
    per = []
    for group in groups:
        a = auroc([s for s, _ in group], [y for _, y in group])
        if a is not None:
            per.append(a[0])
    if not per:
        return None
    se = float(np.std(per, ddof=1) / math.sqrt(len(per))) if len(per) >= 2 else None
    return float(np.mean(per)), se, len(per)


@dataclass
class RewardStats:
    """What one run's answer nodes say about its rewards."""

    label: str
    reward_mode: str
    problems: int = 0
    nodes: int = 0  # answer nodes with at least one reward
    right: int = 0  # of those, correct
    q: list[float] = field(default_factory=list)  # own Q per node
    q_right: list[bool] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)  # every raw reward sample
    samples_right: list[bool] = field(default_factory=list)
    equal_answer: int = 0  # samples equal to the node's own numeric answer
    equal_text_number: int = 0  # samples equal to some number written in the node's text
    spreads: list[float] = field(default_factory=list)  # std of the samples of each node with >= 2
    # per problem: (own Q, right) and (-length in characters, right) of its answer nodes, and (reward, right)
    # and (-tokens, right) of the baselines' scored draws
    node_groups: list[list[tuple[float, bool]]] = field(default_factory=list)
    node_length_groups: list[list[tuple[float, bool]]] = field(default_factory=list)
    draw_groups: list[list[tuple[float, bool]]] = field(default_factory=list)
    draw_length_groups: list[list[tuple[float, bool]]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        q, s = auroc(self.q, self.q_right), auroc(self.samples, self.samples_right)
        n = len(self.samples)
        q_ok = min(self.right, self.nodes - self.right) >= MIN_CLASS
        right_samples = sum(self.samples_right)
        s_ok = min(right_samples, n - right_samples) >= MIN_CLASS
        return {
            "label": self.label, "reward_mode": self.reward_mode, "problems": self.problems, "nodes": self.nodes,
            "right": self.right, "samples": n,
            "auroc_q": q[0] if q else None, "auroc_q_se": q[1] if q and q_ok else None,
            "auroc_sample": s[0] if s else None, "auroc_sample_se": s[1] if s and s_ok else None,
            "too_few": not q_ok,  # fewer than MIN_CLASS right or wrong nodes: the AUROC is anecdotal
            "share_equal_answer": self.equal_answer / n if n else None,
            "share_equal_text_number": self.equal_text_number / n if n else None,
            "mean_sample_std": float(np.mean(self.spreads)) if self.spreads else None,
            **_within("q", self.node_groups), **_within("q_shorter", self.node_length_groups),
            **_within("draw", self.draw_groups), **_within("draw_shorter", self.draw_length_groups),
        }


def _within(name: str, groups: list[list[tuple[float, bool]]]) -> dict[str, Any]:
    w = within_auroc(groups)
    return {f"within_{name}": w[0] if w else None, f"within_{name}_se": w[1] if w else None,
            f"within_{name}_problems": w[2] if w else 0}


def _tree(record: dict[str, Any], run_path: Path) -> dict[str, Any] | None:
    try:
        return record_tree(run_path, record)  # inline, or a regular file inside the run's folder, bounded
    except DataError:
        return None  # a record without a readable tree adds nothing to the diagnostics

def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The run's result records with their trees, one at a time."""
    with open_regular(path) as f:  # read_run has checked every line but a torn tail
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # a torn tail: read_run has reported it
            try:
                obj = loads(raw.decode("utf-8")) if raw.strip() else None
            except ValueError:  # a complete-looking last line that is not JSON: a torn write, reported too
                return
            if isinstance(obj, dict) and obj.get("type") == "result":
                yield obj


def _same(value: float, text: str | None) -> bool:
    if text is None:
        return False
    try:
        return math.isclose(float(text.replace(",", "")), value)
    except ValueError:
        return False


def reward_stats(path: str | Path) -> RewardStats:
    """The reward diagnostics of one run file (module doc)."""
    p = Path(path)
    run = read_run(p, keep_trees=False)  # validates the file and finds each problem's largest budget
    top: dict[str, int] = {}
    for r in run.records:
        if "error" not in r:
            top[r["id"]] = max(top.get(r["id"], -1), int(r["rollouts"]))
    solve = ((run.header or {}).get("config") or {}).get("solve") or {}
    stats = RewardStats(label=p.name, reward_mode=str(solve.get("reward_mode", "sampled")))
    drawn: set[str] = set()  # problems whose baseline draws have counted
    treed: set[str] = set()  # problems whose tree has counted
    for r in _records(p):
        if "error" in r or top.get(r["id"]) != int(r["rollouts"]):
            continue
        if r.get("method") in ("sc", "best_of_n"):
            if r["id"] not in drawn and _add_draws(stats, r):
                drawn.add(r["id"])
            continue
        if r.get("method") not in (None, "mctsr") or r["id"] in treed:
            continue  # a duplicate record of the same budget counts once
        treed.add(r["id"])
        tree = _tree(r, p)
        if tree is None:
            continue
        stats.problems += 1
        group: list[tuple[float, bool]] = []
        length_group: list[tuple[float, bool]] = []
        nodes = tree.get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            scored = _scored_node(node)
            if scored is None:
                continue
            samples, q_own, text, answer = scored
            right = bool(equivalent(answer, _text(r.get("gold"))))
            stats.nodes += 1
            stats.right += right
            stats.q.append(q_own)
            stats.q_right.append(right)
            group.append((q_own, right))
            length_group.append((-float(len(text)), right))
            numbers = {float(m) for m in _NUMBER.findall(text)}
            for v in samples:
                stats.samples.append(v)
                stats.samples_right.append(right)
                stats.equal_answer += _same(v, answer)
                stats.equal_text_number += any(math.isclose(v, x) for x in numbers)
            if len(samples) >= 2:
                stats.spreads.append(float(np.std(samples)))
        stats.node_groups.append(group)
        stats.node_length_groups.append(length_group)
    return stats


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scored_node(node: Any) -> tuple[list[float], float, str, str | None] | None:
    """(reward samples, own Q, text, answer) of a scored answer node; None for the dummy, a node without
    rewards, or a damaged one (a run file is input too: a wrong type is left out, not a traceback)."""
    if not isinstance(node, dict) or node.get("kind") == "dummy":
        return None
    raw, q_own = node.get("rewards_raw"), node.get("q_own")
    if not isinstance(raw, list) or not raw or not all(is_finite_number(v) for v in raw) or not is_finite_number(q_own):
        return None
    return [float(v) for v in raw], float(q_own), _text(node.get("text")) or "", _text(node.get("answer"))


def _add_draws(stats: RewardStats, record: dict[str, Any]) -> bool:
    """Count the scored draws of a baseline record (sc and best-of-n share them, so the caller counts a problem
    once); False when it has none (an sc record of a run without best-of-n has no rewards)."""
    samples = record.get("samples")
    if not isinstance(samples, list):
        return False
    draws = [s for s in samples if isinstance(s, dict) and is_finite_number(s.get("q"))]
    if not draws:
        return False
    right = [bool(equivalent(_text(s.get("answer")), _text(record.get("gold")))) for s in draws]
    stats.draw_groups.append([(float(s["q"]), y) for s, y in zip(draws, right)])
    stats.draw_length_groups.append([(-float(s["tokens"]), y) for s, y in zip(draws, right)
                                     if is_finite_number(s.get("tokens"))])  # a damaged count is left out
    return True


def format_rewards(paths: Sequence[str | Path]) -> str:
    """The rewards section of `mctsr report`: one line per run file."""
    lines = ["Rewards (answer nodes of each problem's largest budget; correctness = the node's answer vs gold):",
             f"{'run':<34} {'mode':<11} {'nodes':>5} {'right':>5} {'AUROC Q':>14} {'AUROC sample':>14} "
             f"{'=answer':>7} {'=text num':>9} {'sample sd':>9}"]
    small = []
    within = ["Within a problem (what choosing among its answers needs): mean over problems with right and wrong "
              "answers of the chance the right one ranks higher, ± SE across problems (problems counted).",
              f"{'run':<34} {'own Q':>18} {'shorter node':>18} {'draws reward':>18} {'shorter draw':>18}"]
    for path in paths:
        d = reward_stats(path).as_dict()
        within.append(f"{d['label'][:34]:<34} " + " ".join(f"{_fmt_within(d, k):>18}"
                                                          for k in ("q", "q_shorter", "draw", "draw_shorter")))
        q, s = (_fmt_auroc(d[f"auroc_{k}"], d[f"auroc_{k}_se"]) for k in ("q", "sample"))
        if d["too_few"]:
            small.append(f"{d['label']}: {d['right']} right and {d['nodes'] - d['right']} wrong node"
                         f"{'' if d['nodes'] - d['right'] == 1 else 's'}")
        lines.append(f"{d['label'][:34]:<34} {d['reward_mode']:<11} {d['nodes']:>5} {d['right']:>5} {q:>14} {s:>14} "
                     f"{_fmt(d['share_equal_answer'], True):>7} {_fmt(d['share_equal_text_number'], True):>9} "
                     f"{_fmt(d['mean_sample_std']):>9}")
    lines.append("AUROC: chance a right node outscores a wrong one (0.5 = no signal), ± Hanley-McNeil standard error; "
                 "=answer / =text num: share of reward samples equal to the node's answer / to a number in its text; "
                 "sample sd: mean std of a node's samples.")
    if small:
        lines.append(f"(too few): under {MIN_CLASS} right or wrong nodes, so no error is given and the AUROC "
                     f"says little ({'; '.join(small)}); run more problems.")
    lines += [""] + within
    lines.append("draws: the baselines' answers scored by the search's reward (best-of-N picks the highest); "
                 "shorter: the shorter answer ranks higher, a judge that costs nothing. Under 0.5: the score "
                 "prefers the wrong answers.")
    return "\n".join(lines)


def _fmt_within(d: dict[str, Any], name: str) -> str:
    """"0.41±0.08 (12)", "0.41 (1)" with one problem, "-" with none."""
    a, se, k = d[f"within_{name}"], d[f"within_{name}_se"], d[f"within_{name}_problems"]
    if a is None:
        return "-"
    return f"{a:.2f}±{se:.2f} ({k})" if se is not None else f"{a:.2f} ({k})"


def _fmt_auroc(a: float | None, se: float | None) -> str:
    """"0.61±0.04", "1.00 (too few)" when the classes are too small for an error, "-" when undefined."""
    if a is None:
        return "-"
    return f"{a:.2f}±{se:.2f}" if se is not None else f"{a:.2f} (too few)"
