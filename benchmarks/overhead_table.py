#!/usr/bin/env python3
"""The overhead table of a saved benchmark JSON (issue 11's table): for every run that reports the seconds inside
`llama_decode` — the `overhead: solve ...` groups, `overhead: generate`, `overhead per token N=...` — its wall
time, the time inside `llama_decode`, the share outside, generated tokens and tokens per second; then batched
`generate N=8` against the one-by-one high-level calls.

    python benchmarks/overhead_table.py .benchmarks/gpu-check/DATE/synthetic-bench.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import BASELINE, OURS, load, natural_key, rows  # noqa: E402


def overhead_rows(data: dict) -> list[list[str]]:
    out = []
    for row in rows(data):
        for side in [s for s in (row.ours, row.baseline, *row.others) if s is not None]:
            x = side.extra
            if "wall_seconds" not in x or "decode_seconds" not in x:
                continue
            wall, decode, tokens = float(x["wall_seconds"]), float(x["decode_seconds"]), int(x.get("generated_tokens", 0))
            label = row.group + (f" ({x['model']})" if "model" in x else "")
            extra = (f"; {x['us_outside_decode_per_token']:.0f} us/token outside"
                     if "us_outside_decode_per_token" in x else "")
            out.append([label, f"{wall:.2f} s", f"{decode:.2f} s", f"{(wall - decode) / wall:.1%}{extra}",
                        f"{tokens:,}", f"{tokens / wall:.0f}" if wall > 0 else "-"])
    return sorted(out, key=lambda r: natural_key(r[0]))


def batched_rows(data: dict) -> list[list[str]]:
    out = []
    for row in rows(data):
        if row.group.startswith("generate N=") and row.ours is not None and row.baseline is not None:
            ours, base = row.ours.rate, row.baseline.rate
            if ours and base:
                out.append([row.group, f"{ours:.0f}", f"{base:.0f}", f"{ours / base:.2f}x"])
    return out


def markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("json", help="a saved pytest-benchmark JSON")
    args = parser.parse_args(argv)
    try:
        data = load(args.json)
    except (OSError, ValueError) as e:
        print(f"overhead_table: {e}", file=sys.stderr)
        return 2
    print(markdown(["run", "wall", "inside llama_decode", "outside", "generated tokens", "tokens/s"],
                   overhead_rows(data)))
    batched = batched_rows(data)
    if batched:
        print()
        print(markdown(["group", f"batched ({OURS}) tokens/s", f"one by one ({BASELINE}) tokens/s", "x"], batched))
    return 0


if __name__ == "__main__":
    sys.exit(main())
