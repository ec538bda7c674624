"""`mctsr report`: the paper-style table of evaluation runs, and an optional plot.

Rows are datasets (then, where the data has them, MATH levels and subjects); columns are zero-shot chain of
thought (rollouts 0) and each rollout budget. Each cell gives pass@1 with our vote selector, pass@1 with the
paper's max-Q selector, and pass@tree (some answer in the tree is right: an upper bound that needs ground
truth to pick, so not pass@1), as percentages of the problems with a record in that column, each with its 95%
Wilson interval (honest at small n and at 0% or 100%, where p ± s.e. claims certainty; cells under 10
problems are flagged); a second table gives the mean cost per problem: model tokens (prompt evaluated +
generated) and seconds (each search's wall time; with `--concurrency` searches overlap, so this is latency,
not the run's throughput); a third the share of replies cut by their token cap (a cut answer looks wrong).

Several run files can be reported together: files written by the same configuration merge (e.g. shards of
one run); files of different configurations get separate rows, labelled by file name.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from .runfile import OUTPUT_KEYS, model_name, read_run

__all__ = ["Cell", "Row", "Table", "load_runs", "build_table", "format_table", "table_json", "plot_runs",
           "standard_error", "wilson_interval", "run_title"]

By = Literal["level", "subject", "both", "none"]


@dataclass
class Cell:
    """One (row, rollouts) cell: counts and sums over its problems."""

    n: int = 0
    correct: int = 0  # vote selector (ours)
    correct_max_q: int = 0  # max-Q selector (the paper's)
    max_q_n: int = 0  # records that have a max-Q answer (a baseline's have none: its cell shows "-")
    pass_at_tree: int = 0
    errors: int = 0  # problems the solver rejected (counted as wrong)
    tokens: int = 0  # prompt tokens evaluated + generated
    tokens_generated: int = 0
    tokens_reused: int = 0
    seconds: float = 0.0
    capped: dict[str, int] = field(default_factory=dict)  # replies cut by their token cap, per kind
    replies: dict[str, int] = field(default_factory=dict)  # replies generated, per kind (records that say)

    def add(self, r: dict[str, Any]) -> None:
        self.n += 1
        self.correct += bool(r.get("correct"))
        self.correct_max_q += bool(r.get("correct_max_q"))
        self.max_q_n += r.get("correct_max_q") is not None or "error" in r
        self.pass_at_tree += bool(r.get("pass_at_tree"))
        self.errors += "error" in r
        self.tokens += int(r.get("tokens_evaluated") or 0) + int(r.get("tokens_generated") or 0)
        self.tokens_generated += int(r.get("tokens_generated") or 0)
        self.tokens_reused += int(r.get("tokens_reused") or 0)
        self.seconds += float(r.get("seconds") or 0.0)
        for mine, theirs in ((self.capped, r.get("capped_replies")), (self.replies, r.get("replies"))):
            for kind, count in (theirs if isinstance(theirs, dict) else {}).items():
                if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                    mine[str(kind)] = mine.get(str(kind), 0) + count

    def capped_text(self) -> str:
        """"3.1% (answer 2 of 8)": the share of all replies cut by their cap, and the cut kinds; counts alone
        where the records do not say how many replies there were (older run files)."""
        cut = sum(self.capped.values())
        total = sum(self.replies.values())
        kinds = ", ".join(f"{k} {v}" + (f" of {self.replies[k]}" if self.replies.get(k) else "")
                          for k, v in sorted(self.capped.items()))
        if not total:
            return f"{cut} cut ({kinds})" if cut else "-"
        return f"{100 * cut / total:.1f}%" + (f" ({kinds})" if cut else "")

    def count(self, name: str) -> int:
        """The problems a metric is measured on: all of the cell's, but max-Q only where a record has one."""
        return self.max_q_n if name == "correct_max_q" else self.n

    def rate(self, name: str) -> float:
        n = self.count(name)
        return getattr(self, name) / n if n else float("nan")

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


def _identity(header: dict[str, Any] | None) -> dict[str, Any]:
    """A run's identity, without the output options older versions wrote into it (runfile.OUTPUT_KEYS)."""
    return {k: v for k, v in ((header or {}).get("config") or {}).items() if k not in OUTPUT_KEYS}


def _setup_key(header: dict[str, Any] | None) -> str:
    """A run's configuration apart from its data file: runs that share it are one setup."""
    config = _identity(header)
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
    configs = [json.dumps(_identity(r.header), sort_keys=True, default=str) for r in runs]
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
        method = str(r.get("method") or "mctsr")
        key = (r.get("_config", 0), r.get("dataset"), r["id"], rollouts, method)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        columns.add(rollouts)
        dataset = str(r.get("dataset") or "?")
        group = r.get("_group") or ""
        base = f"{dataset} [{group}]" if group else dataset
        if method != "mctsr":  # a baseline at the search's tokens: its own rows, beside the search's
            base = f"{base} · {method.replace('_', '-')}"
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


def standard_error(p: float, n: int) -> float:
    """The binomial standard error of an accuracy p over n problems: sqrt(p (1 - p) / n)."""
    return math.sqrt(p * (1.0 - p) / n) if n and p == p else float("nan")


Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
SMALL_N = 10  # cells with fewer problems are flagged: their intervals span tens of points


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy p over n problems (95% by default). Unlike p ± z·s.e., it is
    never a zero-width interval at 0% or 100% and stays inside [0, 1]: 0 of 3 right is (0, 0.56), not 0 ± 0."""
    if not n or p != p:
        return float("nan"), float("nan")
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


_METRICS = (("correct", "vote"), ("correct_max_q", "max_q"), ("pass_at_tree", "tree"))
Format = Literal["text", "csv", "markdown", "json"]


def _acc(c: Cell, metric: str) -> str:
    p = c.rate(metric)
    if p != p:
        return "-"
    lo, hi = wilson_interval(p, c.count(metric))
    return f"{100 * p:.1f} ({100 * lo:.0f}-{100 * hi:.0f})"


def format_table(table: Table, fmt: Format = "text") -> str:
    """The report in one format: "text" and "markdown" (three tables through `tabulate`: accuracy with its 95%
    Wilson interval, mean cost, and replies cut by their cap), "csv" (one line per row and budget), "json"."""
    if fmt == "json":
        return table_json(table)
    if fmt == "csv":
        return _csv(table)
    if not table.rows:
        return "no records"
    from tabulate import tabulate

    style = "github" if fmt == "markdown" else "simple"
    heads = ["", "n"] + [_column_name(k) for k in table.rollouts]
    acc_rows = []
    for row in table.rows:
        ns = {c.n for c in row.cells.values()}
        n = str(ns.pop()) if len(ns) == 1 else "mixed"
        cells = []
        for k in table.rollouts:
            c = row.cells.get(k)
            text = "-" if c is None else " / ".join(_acc(c, m) for m, _ in _METRICS)
            cells.append(text if c is None or n != "mixed" else f"{text} (n={c.n})")
        acc_rows.append([row.label, n, *cells])
    cost_rows = [[row.label, "", *("-" if (c := row.cells.get(k)) is None else
                                   f"{c.mean('tokens'):.0f} tok / {c.mean('seconds'):.1f} s" for k in table.rollouts)]
                 for row in table.rows if row.kind == "dataset"]
    capped_rows = [[row.label, "", *("-" if (c := row.cells.get(k)) is None else c.capped_text()
                                     for k in table.rollouts)]
                   for row in table.rows if row.kind == "dataset"]
    lines = [
        "Accuracy, % of problems (95% Wilson interval, lo-hi): pass@1 (vote, ours) / pass@1 (max-Q, paper) / "
        "pass@tree (any node right; not pass@1: picking that node would need the ground truth). n = problems in "
        "the cell.",
        "",
        tabulate(acc_rows, headers=heads, tablefmt=style, disable_numparse=True),
        "",
        "Mean cost per problem: model tokens (prompt evaluated + generated) / seconds.",
        "",
        tabulate(cost_rows, headers=heads, tablefmt=style, disable_numparse=True),
        "",
        "Replies cut by their token cap, % of all replies (the kinds cut: count of that kind's replies). A cut "
        "answer usually has no final line and scores as wrong: raise --answer-max-tokens / --refine-max-tokens "
        "(or -n), and --reward-max-tokens for reward replies.",
        "",
        tabulate(capped_rows, headers=heads, tablefmt=style, disable_numparse=True),
    ]
    small = min((c.n for r in table.rows for c in r.cells.values()), default=SMALL_N)
    if small < SMALL_N:
        lines.append(f"\nSmall samples: some cells have n < {SMALL_N} problems (as few as {small}); their intervals "
                     "span tens of points, so differences between them mean little. Run more problems (--limit).")
    errors = sum(c.errors for r in table.rows if r.kind == "dataset" for c in r.cells.values())
    if errors:
        lines.append(f"\n{errors} record(s) are solver errors (problem rejected), counted as wrong.")
    if table.duplicates:
        lines.append(f"\n{table.duplicates} duplicate record(s) ignored (same problem and rollouts given twice).")
    return "\n".join(lines)


def _csv(table: Table) -> str:
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["label", "dataset", "kind", "rollouts", "n", "pass1_vote", "pass1_vote_se", "pass1_max_q",
                "pass1_max_q_se", "pass_at_tree", "pass_at_tree_se", "mean_tokens", "mean_seconds", "errors",
                "capped_replies", "replies", "pass1_vote_lo", "pass1_vote_hi", "pass1_max_q_lo", "pass1_max_q_hi",
                "pass_at_tree_lo", "pass_at_tree_hi"])
    for row in table.rows:
        for k, c in sorted(row.cells.items()):
            accs = [v for m, _ in _METRICS for v in (round(c.rate(m), 6), round(standard_error(c.rate(m), c.count(m)), 6))]
            w.writerow([row.label, row.dataset, row.kind, k, c.n, *accs, round(c.mean("tokens"), 1),
                        round(c.mean("seconds"), 3), c.errors, sum(c.capped.values()), sum(c.replies.values()),
                        *(round(b, 6) for m, _ in _METRICS for b in wilson_interval(c.rate(m), c.count(m)))])
    return out.getvalue().rstrip("\n")


def table_json(table: Table) -> str:
    """The table as JSON: per row and rollouts, the counts and the derived rates (with their standard errors)
    and means."""
    out = []
    for row in table.rows:
        cells = {}
        for k, c in sorted(row.cells.items()):
            cells[str(k)] = {**asdict(c), "pass@1_vote": c.rate("correct"), "pass@1_max_q": c.rate("correct_max_q"),
                             "pass@tree": c.rate("pass_at_tree"), "mean_tokens": c.mean("tokens"),
                             "mean_seconds": c.mean("seconds"),
                             "se": {name: standard_error(c.rate(m), c.count(m)) for m, name in _METRICS},
                             "wilson95": {name: list(wilson_interval(c.rate(m), c.count(m))) for m, name in _METRICS}}
        out.append({"label": row.label, "dataset": row.dataset, "kind": row.kind, "cells": cells})
    return json.dumps({"rollouts": table.rollouts, "rows": out}, indent=2)


def run_title(paths: Sequence[str | Path]) -> str:
    """"model · data file(s) · n = problems" from the run files' headers (for the plot's title)."""
    models, datas, problems = [], [], set()
    for p in paths:
        run = read_run(p, keep_trees=False)
        header = run.header or {}
        plan = header.get("plan") or {}
        models.append(model_name(header))
        data = (Path(str(plan["data_path"])).name if plan.get("data_path")  # the file, else the data's name
                else ((header.get("config") or {}).get("data") or {}).get("name") or "?")
        datas.append(str(data))
        problems.update((r.get("dataset"), r.get("id")) for r in run.records)
    unique = lambda xs: ", ".join(dict.fromkeys(xs))  # noqa: E731
    return f"{unique(models)} · {unique(datas)} · n = {len(problems)} problem{'' if len(problems) == 1 else 's'}"


def plot_runs(table: Table, path: str | Path, title: str = "") -> None:
    """Accuracy (vote, max-Q, tree: a distinct colour and marker per line, 95% Wilson interval bars) against
    rollouts and against mean tokens per problem, and the cost (tokens, seconds) against rollouts."""
    from .errors import MctsrError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MctsrError("--plot needs matplotlib: pip install 'mctsr-native[plot]' (or pip install matplotlib)") from None
    rows = [r for r in table.rows if r.kind == "dataset"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    (ax_acc, ax_tradeoff), (ax_tok, ax_sec) = axes
    styles = {"correct": ("-", "o", "pass@1 vote"), "correct_max_q": ("--", "s", "pass@1 max-Q"),
              "pass_at_tree": (":", "^", "pass@tree")}
    colours = plt.get_cmap("tab10").colors
    for i, row in enumerate(rows):
        xs = sorted(row.cells)
        cells = [row.cells[x] for x in xs]
        tokens = [c.mean("tokens_generated") for c in cells]
        label = f"{row.label}: " if len(rows) > 1 else ""
        best_of_n = " · best-of-n" in row.label
        baseline = best_of_n or " · sc" in row.label  # one answer per budget: no max-Q, no tree
        for j, (metric, (ls, marker, name)) in enumerate(styles.items()):
            if baseline and metric != "correct":
                continue
            colour = colours[(3 * i + j) % len(colours)]
            ys = [100 * c.rate(metric) for c in cells]
            bounds = [wilson_interval(c.rate(metric), c.count(metric)) for c in cells]
            errs = [[y - 100 * lo for y, (lo, _) in zip(ys, bounds)], [100 * hi - y for y, (_, hi) in zip(ys, bounds)]]
            if baseline:  # best-of-N picks by reward, not by vote
                name = "pass@1 highest reward" if best_of_n else "pass@1 vote"
            kw = dict(ls=ls, marker=marker, color=colour, markersize=7, capsize=3, label=f"{label}{name}")
            dodge = (j - 1) * 0.015 * max(1, max(table.rollouts))  # equal values stay visible side by side
            ax_acc.errorbar([x + dodge for x in xs], ys, yerr=errs, **kw)
            ax_tradeoff.errorbar(tokens, ys, yerr=errs, **kw)
        for x, t in zip(xs, tokens):
            ax_tradeoff.annotate(f"r{x}", (t, 100 * row.cells[x].rate("correct")), textcoords="offset points",
                                 xytext=(4, -12), fontsize=8)
        colour = colours[(3 * i) % len(colours)]
        ax_tok.plot(xs, tokens, marker="o", color=colour, label=row.label)
        ax_sec.plot(xs, [c.mean("seconds") for c in cells], marker="o", color=colour, label=row.label)
    ticks = table.rollouts
    accuracy = "% of problems (95% Wilson interval)"
    for ax, name, xlabel, ylabel in (
            (ax_acc, "Accuracy against rollouts", "rollouts (0 = zero-shot CoT)", accuracy),
            (ax_tradeoff, "Accuracy against generated tokens (baselines at the search's tokens)",
             "mean generated tokens per problem", accuracy),
            (ax_tok, "Tokens per problem", "rollouts (0 = zero-shot CoT)", "tokens (evaluated + generated)"),
            (ax_sec, "Seconds per problem", "rollouts (0 = zero-shot CoT)", "seconds")):
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in (ax_acc, ax_tok, ax_sec):
        ax.set_xticks(ticks)
    for ax in (ax_acc, ax_tradeoff):
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=8)
    ax_tok.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:  # a bad path, or an extension matplotlib cannot write
        raise MctsrError(f"cannot write the plot {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        plt.close(fig)
