"""Summarize the issue-12 measurement runs: pass@1 (vote, max-Q), pass@tree per budget with binomial standard
errors, the paired gain of budget 4 over budget 0 with its standard error, the reward diagnostics, and how much
the largest budget's trees vary (distinct answers per tree, rewrites that keep their parent's answer, answers
turned right -> wrong and wrong -> right by a rewrite, fresh answers under the dummy).

    .venv/bin/python eval/summarize_i12.py eval/i12-gsm8k-*.jsonl
"""

from __future__ import annotations

import math
import sys

from mctsr_native.answers import equivalent
from mctsr_native.reward_diagnostics import reward_stats
from mctsr_native.runfile import read_run


def se(k: int, n: int) -> float:
    p = k / n
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def diversity(records: list[dict]) -> str:
    """Distinct answers per tree, rewrites keeping the parent's answer, right/wrong flips, fresh answers."""
    distinct = kept = rewrites = to_wrong = to_right = fresh = fresh_right = 0
    for r in records:
        nodes = {n["id"]: n for n in r["tree"]["nodes"]}
        right = {i: equivalent(n["answer"], str(r["gold"])) for i, n in nodes.items()}  # no answer: False
        distinct += int(r.get("distinct_answers") or 0)
        for i, n in nodes.items():
            parent = nodes.get(n["parent"]) if n["parent"] is not None else None
            if n["kind"] != "answer" or parent is None or n.get("step", 0) < 1:
                continue
            if parent["kind"] == "dummy" and n.get("critique") is None:
                fresh += 1
                fresh_right += right[i]
                continue
            if parent["kind"] != "answer":
                continue
            rewrites += 1
            kept += equivalent(n["answer"], parent["answer"])
            to_wrong += right[n["parent"]] and not right[i]
            to_right += right[i] and not right[n["parent"]]
    n = len(records)
    return (f"distinct answers/tree {distinct / n:.2f}, rewrites keeping the parent's answer {kept}/{rewrites}, "
            f"right->wrong {to_wrong}, wrong->right {to_right}, fresh answers {fresh} ({fresh_right} right)")


for path in sys.argv[1:]:
    run = read_run(path, keep_trees=True)
    by: dict[int, dict[str, dict]] = {}
    for r in run.records:
        by.setdefault(int(r["rollouts"]), {})[r["id"]] = r
    config = run.header["config"]
    print(f"{path}: mode={config['solve'].get('reward_mode')} schedule={config.get('schedule')}")
    common = set.intersection(*(set(v) for v in by.values())) if by else set()
    for b, recs in sorted(by.items()):
        rs = [recs[i] for i in common]
        n = len(rs)
        if not n:
            continue
        line = []
        for field in ("correct", "correct_max_q", "pass_at_tree"):
            k = sum(bool(r.get(field)) for r in rs)
            line.append(f"{field} {k}/{n} = {k / n:.2f}±{se(k, n):.2f}")
        toks = sum(int(r.get("tokens_generated") or 0) for r in rs) / n
        secs = sum(float(r.get("seconds") or 0) for r in rs) / n
        print(f"  rollouts {b}: " + ", ".join(line) + f", generated tokens/problem {toks:.0f}, s/problem {secs:.0f}")
    if 0 in by and 4 in by and common:
        d = [int(bool(by[4][i].get("correct"))) - int(bool(by[0][i].get("correct"))) for i in common]
        m = sum(d) / len(d)
        sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1)) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        print(f"  paired gain vote@4 - @0: {m:+.2f} ± {sd:.2f} (n={len(d)})")
        print("  trees @4: " + diversity([by[4][i] for i in common]))
    s = reward_stats(path).as_dict()
    print("  rewards: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()
                                     if k not in ("label",)))
