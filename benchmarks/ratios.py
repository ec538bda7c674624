#!/usr/bin/env python3
"""The ratios table of a saved pytest-benchmark JSON: per comparison group, ours against its baseline, as
"x times faster", with each side's extra figures.

    python benchmarks/ratios.py .benchmarks/Linux-CPython-3.11-64bit/0001_abc.json   [--markdown]
    python benchmarks/ratios.py        # the newest JSON under .benchmarks/

The convention the suite's benchmarks follow (and that this file defines, so writer and reader agree):
- each comparison is one pytest-benchmark group (`benchmark.group`);
- in it, our code's benchmark has `extra_info["side"] == "ours"`, the one it is compared against `"baseline"`;
- the ratio is baseline median seconds / ours median seconds, unless both sides give a rate (work per second,
  `extra_info["rate"]`, unit in `extra_info["rate_unit"]`), in which case it is ours rate / baseline rate;
  either way a ratio above 1 means ours is that many times faster;
- a group with no side (an overhead share, memory per node) is listed with its figures and no ratio.
Timings are compared, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

SIDE_KEY = "side"
OURS = "ours"
BASELINE = "baseline"
RATE_KEY = "rate"
RATE_UNIT_KEY = "rate_unit"
_HIDDEN = {SIDE_KEY, RATE_KEY, RATE_UNIT_KEY}  # shown in the table itself, not among the figures


def mark_side(benchmark: Any, group: str, side: str | None, **extra: Any) -> None:
    """Put a benchmark in its comparison group on one side of it (None: a group of one), with extra figures."""
    if side not in (OURS, BASELINE, None):
        raise ValueError(f"side must be {OURS!r}, {BASELINE!r} or None, got {side!r}")
    benchmark.group = group
    if side is not None:
        benchmark.extra_info[SIDE_KEY] = side
    benchmark.extra_info.update(extra)


@dataclass
class Side:
    """One benchmark of a group."""

    name: str
    median: float  # seconds per round
    rounds: int
    extra: dict[str, Any]

    @property
    def rate(self) -> float | None:
        value = self.extra.get(RATE_KEY)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None


@dataclass
class Row:
    """One group of the table."""

    group: str
    ours: Side | None = None
    baseline: Side | None = None
    others: list[Side] = field(default_factory=list)  # benchmarks without a side

    @property
    def ratio(self) -> tuple[float, str] | None:
        """(x faster, basis) where basis is "rate" or "time"; None without both sides."""
        if self.ours is None or self.baseline is None:
            return None
        if self.ours.rate is not None and self.baseline.rate is not None:
            return self.ours.rate / self.baseline.rate, "rate"
        if self.ours.median > 0:
            return self.baseline.median / self.ours.median, "time"
        return None


def natural_key(text: str) -> list[Any]:
    """Sort "n=100" before "n=1000" and "N=2" before "N=10"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def load(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{path} is not a pytest-benchmark JSON (no 'benchmarks' list)")
    return data


def rows(data: dict[str, Any]) -> list[Row]:
    """The benchmarks of a saved run, one row per group, groups in natural order."""
    by_group: dict[str, Row] = {}
    for bench in data["benchmarks"]:
        group = bench.get("group") or bench.get("name", "?")
        extra = dict(bench.get("extra_info") or {})
        side = Side(bench.get("name", "?"), float(bench["stats"]["median"]), int(bench["stats"]["rounds"]), extra)
        row = by_group.setdefault(group, Row(group))
        which = extra.get(SIDE_KEY)
        if which in (OURS, BASELINE) and getattr(row, which) is None:
            setattr(row, which, side)
        else:
            if which in (OURS, BASELINE):
                print(f"ratios: group {group!r} has more than one {which!r} benchmark; {side.name} listed apart",
                      file=sys.stderr)
            row.others.append(side)
    return [by_group[g] for g in sorted(by_group, key=natural_key)]


def seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def number(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if key.endswith("share"):
        return f"{value:.1%}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def describe(side: Side | None) -> str:
    """A side's cell: median seconds per round, and its rate when it has one."""
    if side is None:
        return "-"
    text = seconds(side.median)
    if side.rate is not None:
        text += f" ({side.rate:.4g} {side.extra.get(RATE_UNIT_KEY, 'per s')})"
    return text


def figures(side: Side) -> str:
    return ", ".join(f"{k}={number(k, v)}" for k, v in side.extra.items() if k not in _HIDDEN)


def table(all_rows: Sequence[Row], *, markdown: bool = False) -> str:
    """The ratios table, then each group's figures."""
    head = ["group", "ours (median)", "baseline (median)", "x faster"]
    body = []
    for row in all_rows:
        r = row.ratio
        ours = row.ours or (row.others[0] if row.others and row.baseline is None else None)
        body.append([row.group, describe(ours), describe(row.baseline),
                     "-" if r is None else f"{r[0]:.2f}x" + (" (rate)" if r[1] == "rate" else "")])
    lines: list[str] = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    else:
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
        fmt = lambda cells: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        lines += [fmt(head), fmt(["-" * w for w in widths])] + [fmt(cells) for cells in body]
    lines.append("")
    lines.append("Figures (extra_info):" if not markdown else "Figures (extra_info):\n")
    for row in all_rows:
        for label, side in [(OURS, row.ours), (BASELINE, row.baseline)] + [("", s) for s in row.others]:
            if side is not None and figures(side):
                tag = f"{row.group} [{label}]" if label else f"{row.group} ({side.name})"
                lines.append(f"- {tag}: {figures(side)}" if markdown else f"  {tag}: {figures(side)}")
    return "\n".join(lines)


def newest_json(root: Path = Path(".benchmarks")) -> Path:
    found = sorted(root.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no saved benchmark JSON under {root}/: run the suite with --benchmark-autosave")
    return found[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("json", nargs="?", help="a saved pytest-benchmark JSON (default: newest in .benchmarks/)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for benchmarks/README.md)")
    args = parser.parse_args(argv)
    try:
        path = Path(args.json) if args.json else newest_json()
        data = load(path)
    except (OSError, ValueError) as e:
        print(f"ratios: {e}", file=sys.stderr)
        return 2
    machine = data.get("machine_info", {})
    commit = data.get("commit_info", {})
    print(f"{path}: {machine.get('cpu', {}).get('brand_raw', machine.get('machine', '?'))}, "
          f"commit {str(commit.get('id', '?'))[:10]}{' (dirty)' if commit.get('dirty') else ''}, "
          f"{data.get('datetime', '?')}\n")
    print(table(rows(data), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
