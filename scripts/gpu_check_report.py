#!/usr/bin/env python3
"""The GPU check's one table (scripts/gpu-check.sh): every phase and load path it ran, with pass / crash / timeout /
not run, the issue-11 overhead figures from the benchmark JSONs, the goals they meet or miss, and which suspect of
the CUDA load crash the load probes point at.

    python scripts/gpu_check_report.py --rows OUT/rows.tsv --bench OUT/bench-*.json --title "..." [--out table.md]

ROWS.tsv has one row per check: section, check, settings, result, seconds, log (written by gpu-check.sh and
scripts/gpu_probe.py). Exit status 1 when a row failed (a crash, a timeout, a failure, a selection that
collected no test); rows that were not run because of the deadline or a missing optional part do not fail it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "benchmarks"))
from gpu_probe import ISOLATING, ORDER_PROBES, SUITE, SUSPECTS  # noqa: E402
from overhead_table import batched_rows, overhead_rows  # noqa: E402
from ratios import load, rows as groups  # noqa: E402

OK_RESULTS = ("pass", "ok", "built", "written", "reused", "clean", "skipped", "not run")  # what does not fail a row
GOALS = {  # issue 11's targets on the synthetic 8B file (group prefix -> what to check)
    "overhead: solve 8 rollouts P=4": "outside < 5%, wall < 15 s",
    "generate N=8": ">= 4x",
}


def read_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if len(cells) >= 5:
            rows.append(cells[:6] + [""] * (6 - len(cells[:6])))
    return rows


def failed(result: str) -> bool:
    return not result.startswith(OK_RESULTS)


def suspects(rows: list[list[str]]) -> str:
    """Which suspect the load probes point at: the old settings crash, and flipping that one suspect passes."""
    result = {r[1]: r[3] for r in rows if r[0] == "load"}
    old = result.get(SUITE[0].name)
    if old is None or old.startswith("not run"):
        return "not known: the old settings' probe did not run"
    order = [name for name in ORDER_PROBES if failed(result.get(name, "pass")) and not
             result.get(name, "").startswith("not run")]
    if old == "pass" and order:
        return (f"numpy imported before llama.cpp's library crashes the load ({', '.join(order)}); the package "
                "loads llama.cpp first (load_order.py), so its own paths pass")
    if old == "pass":
        return ("the crash did not reproduce: the engine's old settings loaded (it may need the GPU of the first "
                "report, or it was a state this host does not have)")
    cleared = [SUSPECTS[name] for name in SUSPECTS if result.get(name) == "pass"]
    if cleared:
        return f"old settings: {old}; it passes when only this changes: " + "; ".join(cleared)
    if result.get(SUITE[ISOLATING - 1].name) == "pass":  # every suspect changed at once
        return f"old settings: {old}; no single suspect clears it, all of them together (as Llama loads) do"
    return f"old settings: {old}; no suspect clears it, not even Llama's settings: the file or the build"


def figure_rows(jsons: Sequence[Path]) -> tuple[list[list[str]], list[str]]:
    """Overhead and batched-generation rows from the benchmark JSONs, with the goals; notes on unread files."""
    merged: dict = {"benchmarks": []}
    notes = []
    for path in jsons:
        try:
            merged["benchmarks"] += load(path)["benchmarks"]
        except (OSError, ValueError) as e:
            notes.append(f"{path.name}: {e}")
    out = []
    for label, wall, decode, outside, tokens, rate in overhead_rows(merged):
        goal = next((g for k, g in GOALS.items() if label.startswith(k)), "")
        share, wall_s = float(outside.split("%")[0]) / 100, float(wall.split()[0])
        met = ""
        if goal:
            met = "; goal " + goal + (": met" if share < 0.05 and wall_s < 15 else ": missed")
        out.append(["overhead", label, f"{tokens} tokens, {rate} tokens/s",
                    f"{outside} outside llama_decode ({decode} of {wall} inside){met}", wall_s])
    for group, ours, base, ratio in batched_rows(merged):
        goal = GOALS.get(group, "")
        met = f"; goal {goal}: {'met' if float(ratio[:-1]) >= 4 else 'missed'}" if goal else ""
        out.append(["batched", group, "batched vs one by one (tokens/s)", f"{ours} vs {base}: {ratio}{met}", ""])
    for row in groups(merged):
        if row.group.startswith("solve P=") and row.ratio is not None:
            x, basis = row.ratio
            out.append(["batched", row.group, "solve: batched + prefix reuse vs the sequential baseline",
                        f"{row.ours.median:.2f} s vs {row.baseline.median:.2f} s: {x:.2f}x ({basis})", ""])
    return out, notes


def info_summary(path: Path) -> str:
    """One line of `mctsr info --json`: GPU offload and devices, CPU AMX, the build's AMX kernels, the guard."""
    import json

    info = json.loads(path.read_text(encoding="utf-8"))
    llama, guard = info["llama_cpp"], info["load_guard"]
    yes = {True: "yes", False: "no", None: "?"}
    gpus = ", ".join(d["description"] for d in llama.get("devices", []) if d["type"] != "CPU") or "none"
    return (f"GPU offload {yes[llama.get('gpu_offload')]} ({gpus}); CPU AMX {yes[guard.get('cpu_amx')]}; "
            f"build AMX kernels {yes[guard.get('build_amx')]}; guard {'ON' if guard.get('active') else 'off'}")


def markdown(table: list[list[str]]) -> str:
    head = ["section", "check", "settings", "result", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|---:|"]
    for r in table:
        cells = [str(c).replace("|", "/") for c in r[:4]] + [f"{r[4]:.1f}" if isinstance(r[4], float) else str(r[4])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path)
    parser.add_argument("--info", type=Path, help="print one line of this `mctsr info --json` file and exit")
    parser.add_argument("--bench", type=Path, nargs="*", default=[])
    parser.add_argument("--title", default="gpu-check")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.info:
        print(info_summary(args.info))
        return 0
    if args.rows is None:
        parser.error("--rows is needed")
    rows = read_rows(args.rows)
    table: list[list] = [[r[0], r[1], r[2], r[3], float(r[4]) if r[4] else ""] for r in rows]
    figures, notes = figure_rows([p for p in args.bench if p.is_file()])
    table += figures
    if any(r[0] == "load" and r[1] == SUITE[0].name for r in rows):
        table.append(["load", "crash suspects", "one suspect changed per probe", suspects(rows), ""])
    text = f"{args.title}\n\n{markdown(table)}\n" + "".join(f"\nnote: {n}" for n in notes)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 1 if any(failed(r[3]) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
