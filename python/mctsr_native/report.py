"""`mctsr report`: the paper-style table of evaluation runs, and an optional plot.

Rows are datasets (then, where the data has them, MATH levels and subjects); columns are zero-shot chain of
thought (rollouts 0) and each rollout budget. Each cell gives pass@1 with our vote selector, pass@1 with the
paper's max-Q selector, and pass@tree (some answer in the tree is right: an upper bound that needs ground
truth to pick, so not pass@1), as percentages of the problems with a record in that column; a second table
gives the mean cost per problem: model tokens (prompt evaluated + generated) and seconds (each search's
wall time; with `--concurrency` searches overlap, so this is latency, not the run's throughput).

Several run files can be reported together: files written by the same configuration merge (e.g. shards of
one run); files of different configurations get separate rows, labelled by file name.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from .runfile import read_run

__all__ = ["Cell", "Row", "Table", "load_runs", "build_table", "format_table", "table_json", "plot_runs"]

By = Literal["level", "subject", "both", "none"]


@dataclass
class Cell:
    """One (row, rollouts) cell: counts and sums over its problems."""

    n: int = 0
    correct: int = 0  # vote selector (ours)
    correct_max_q: int = 0  # max-Q selector (the paper's)
    pass_at_tree: int = 0
    errors: int = 0  # problems the solver rejected (counted as wrong)
    tokens: int = 0  # prompt tokens evaluated + generated
    tokens_generated: int = 0
    tokens_reused: int = 0
    seconds: float = 0.0

    def add(self, r: dict[str, Any]) -> None:
        self.n += 1
        self.correct += bool(r.get("correct"))
        self.correct_max_q += bool(r.get("correct_max_q"))
        self.pass_at_tree += bool(r.get("pass_at_tree"))
        self.errors += "error" in r
        self.tokens += int(r.get("tokens_evaluated") or 0) + int(r.get("tokens_generated") or 0)
        self.tokens_generated += int(r.get("tokens_generated") or 0)
        self.tokens_reused += int(r.get("tokens_reused") or 0)
        self.seconds += float(r.get("seconds") or 0.0)

    def rate(self, name: str) -> float:
        return getattr(self, name) / self.n if self.n else float("nan")

    def mean(self, name: str) -> float:
        return getattr(self, name) / self.n if self.n else float("nan")


@dataclass
class Row:
    label: str  # "gsm8k", "math500 · level 3", "math500 · Algebra"
    dataset: str
    kind: Literal["dataset", "level", "subject"]
    cells: dict[int, Cell] = field(default_factory=dict)  # rollouts -> cell


@dataclass
class Table:
    rollouts: list[int]
    rows: list[Row]
    duplicates: int = 0  # records left out because the same (run, id, rollouts) appeared again


def _setup_key(header: dict[str, Any] | None) -> str:
    """A run's configuration apart from its data file: runs that share it are one setup."""
    config = dict((header or {}).get("config", {}))
    config.pop("data", None)
    return json.dumps(config, sort_keys=True, default=str)


def load_runs(paths: Sequence[str | Path], *, warn: Any = None) -> list[dict[str, Any]]:
    """Every result record of the run files, tagged with `_config` (its run's configuration, data
    included: records merge only within one) and `_group` (a row label suffix: "" when every run shares
    one setup apart from the data, else the run file's name)."""
    say = warn or (lambda msg: print(f"mctsr report: {msg}", file=sys.stderr))
    runs = [read_run(p, keep_trees=False) for p in paths]  # streamed; trees are not needed here
    for run in runs:
        if run.torn_bytes:
            say(f"{run.path}: ignoring an incomplete last line ({run.torn_bytes} bytes; `mctsr eval` repairs it)")
        if run.header is None:
            say(f"{run.path}: empty run file")
    configs = [json.dumps((r.header or {}).get("config", {}), sort_keys=True, default=str) for r in runs]
    several_setups = len({_setup_key(r.header) for r in runs}) > 1
    records: list[dict[str, Any]] = []
    for run, config in zip(runs, configs):
        group = run.path.stem if several_setups else ""
        for r in run.records:
            records.append({**r, "_group": group, "_config": configs.index(config)})
    return records


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def build_table(records: Iterable[dict[str, Any]], *, by: By = "both") -> Table:
    """Aggregate records into rows (dataset, then its levels, then its subjects) and rollout columns."""
    seen: set[tuple[Any, ...]] = set()
    duplicates = 0
    rows: dict[tuple[str, str, str], Row] = {}
    columns: set[int] = set()
    for r in records:
        rollouts = int(r["rollouts"])
        key = (r.get("_config", 0), r.get("dataset"), r["id"], rollouts)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        columns.add(rollouts)
        dataset = str(r.get("dataset") or "?")
        group = r.get("_group") or ""
        base = f"{dataset} [{group}]" if group else dataset
        targets: list[tuple[str, str, Literal["dataset", "level", "subject"]]] = [(base, "", "dataset")]
        if by in ("level", "both") and r.get("level") is not None:
            targets.append((base, f"level {r['level']}", "level"))
        if by in ("subject", "both") and r.get("subject") is not None:
            targets.append((base, str(r["subject"]), "subject"))
        for name, part, kind in targets:
            row = rows.get((name, kind, part))
            if row is None:
                label = f"{name} · {part}" if part else name
                row = rows[(name, kind, part)] = Row(label=label, dataset=name, kind=kind)
            row.cells.setdefault(rollouts, Cell()).add(r)
    order = {"dataset": 0, "level": 1, "subject": 2}
    ordered = sorted(rows.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], _sort_key(kv[0][2])))
    return Table(rollouts=sorted(columns), rows=[row for _, row in ordered], duplicates=duplicates)


def _column_name(rollouts: int) -> str:
    return "zero-shot CoT" if rollouts == 0 else f"{rollouts} rollout{'s' if rollouts != 1 else ''}"


def _pct(x: float) -> str:
    return "  -  " if x != x else f"{100 * x:5.1f}"


def format_table(table: Table) -> str:
    """The two tables as plain text: accuracy (vote / max-Q / tree) and mean cost per problem."""
    if not table.rows:
        return "no records"
    width = max(len(r.label) for r in table.rows) + 2
    cw = 22
    head = "".join(f"{_column_name(k):>{cw}}" for k in table.rollouts)
    lines = [
        "Accuracy, % of problems: pass@1 (vote, ours) / pass@1 (max-Q, paper) / pass@tree (any node right;",
        "not pass@1: picking that node would need the ground truth). n = problems in the cell.",
        "",
        f"{'':<{width}}{'n':>6}{head}",
    ]
    for row in table.rows:
        ns = {c.n for c in row.cells.values()}
        n = str(ns.pop()) if len(ns) == 1 else "mixed"
        cells = []
        for k in table.rollouts:
            c = row.cells.get(k)
            if c is None:
                cells.append(f"{'-':>{cw}}")
                continue
            text = f"{_pct(c.rate('correct'))}/{_pct(c.rate('correct_max_q'))}/{_pct(c.rate('pass_at_tree'))}"
            if n == "mixed":
                text = f"{text} n={c.n}"
            cells.append(f"{text:>{cw}}")
        lines.append(f"{row.label:<{width}}{n:>6}{''.join(cells)}")
    lines += ["", "Mean cost per problem: model tokens (prompt evaluated + generated) / seconds.", "",
              f"{'':<{width}}{'':>6}{head}"]
    for row in table.rows:
        if row.kind != "dataset":
            continue
        cells = []
        for k in table.rollouts:
            c = row.cells.get(k)
            text = "-" if c is None else f"{c.mean('tokens'):.0f} tok / {c.mean('seconds'):.1f} s"
            cells.append(f"{text:>{cw}}")
        lines.append(f"{row.label:<{width}}{'':>6}{''.join(cells)}")
    errors = sum(c.errors for r in table.rows if r.kind == "dataset" for c in r.cells.values())
    if errors:
        lines.append(f"\n{errors} record(s) are solver errors (problem rejected), counted as wrong.")
    if table.duplicates:
        lines.append(f"\n{table.duplicates} duplicate record(s) ignored (same problem and rollouts given twice).")
    return "\n".join(lines)


def table_json(table: Table) -> str:
    """The table as JSON: per row and rollouts, the counts and the derived rates and means."""
    out = []
    for row in table.rows:
        cells = {}
        for k, c in sorted(row.cells.items()):
            cells[str(k)] = {**asdict(c), "pass@1_vote": c.rate("correct"), "pass@1_max_q": c.rate("correct_max_q"),
                             "pass@tree": c.rate("pass_at_tree"), "mean_tokens": c.mean("tokens"),
                             "mean_seconds": c.mean("seconds")}
        out.append({"label": row.label, "dataset": row.dataset, "kind": row.kind, "cells": cells})
    return json.dumps({"rollouts": table.rollouts, "rows": out}, indent=2)


def plot_runs(table: Table, path: str | Path) -> None:
    """Accuracy (vote, max-Q, tree) and cost (tokens, seconds) against rollouts, one line per dataset."""
    from .errors import MctsrError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MctsrError("--plot needs matplotlib: pip install 'mctsr-native[plot]' (or pip install matplotlib)") from None
    rows = [r for r in table.rows if r.kind == "dataset"]
    fig, (ax_acc, ax_tok, ax_sec) = plt.subplots(1, 3, figsize=(15, 4.5))
    styles = {"correct": ("-", "o", "pass@1 vote"), "correct_max_q": ("--", "s", "pass@1 max-Q"),
              "pass_at_tree": (":", "^", "pass@tree")}
    for i, row in enumerate(rows):
        color = f"C{i % 10}"
        xs = sorted(row.cells)
        for metric, (ls, marker, name) in styles.items():
            ax_acc.plot(xs, [100 * row.cells[x].rate(metric) for x in xs], ls=ls, marker=marker, color=color,
                        label=f"{row.label}: {name}")
        ax_tok.plot(xs, [row.cells[x].mean("tokens") for x in xs], marker="o", color=color, label=row.label)
        ax_sec.plot(xs, [row.cells[x].mean("seconds") for x in xs], marker="o", color=color, label=row.label)
    ticks = table.rollouts
    for ax, title, ylabel in ((ax_acc, "Accuracy", "% of problems"), (ax_tok, "Tokens per problem", "tokens"),
                              (ax_sec, "Seconds per problem", "seconds")):
        ax.set_title(title)
        ax.set_xlabel("rollouts (0 = zero-shot CoT)")
        ax.set_ylabel(ylabel)
        ax.set_xticks(ticks)
        ax.grid(alpha=0.3)
    ax_acc.set_ylim(-2, 102)
    ax_acc.legend(fontsize=7)
    ax_tok.legend(fontsize=7)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except (OSError, ValueError) as e:  # a bad path, or an extension matplotlib cannot write
        raise MctsrError(f"cannot write the plot {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        plt.close(fig)
