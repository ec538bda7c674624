"""Summarize the issue-12 measurement runs: pass@1 (vote, max-Q), pass@tree per budget with binomial standard
errors, the paired gain of budget 4 over budget 0 with its standard error, and the reward diagnostics.

    .venv/bin/python eval/summarize_i12.py eval/i12-gsm8k-*.jsonl
"""

from __future__ import annotations

import math
import sys

from mctsr_native.reward_diagnostics import reward_stats
from mctsr_native.runfile import read_run


def se(k: int, n: int) -> float:
    p = k / n
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


for path in sys.argv[1:]:
    run = read_run(path, keep_trees=False)
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
    s = reward_stats(path).as_dict()
    print("  rewards: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()
                                     if k not in ("label",)))
