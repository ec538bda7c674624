"""Re-record the golden search: run it once on the real default model, store the model traffic (JSONL) and the
expected result (JSON, from a replay of that traffic). Run after a deliberate change to prompts, seeds or rules:

    python tests/golden/record_golden.py

The golden test (tests/test_solver_golden.py) replays the JSONL and compares the tree with the JSON exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TRAFFIC = HERE / "gsm8k_0000.jsonl"
EXPECTED = HERE / "gsm8k_0000.expected.json"

# The golden search: small enough to store, big enough to cover batching, repeat samples and depth.
OPTIONS = dict(rollouts=4, parallel=2, seed=7, reward_samples=2, reselect_samples=1, answer_max_tokens=64,
               critique_max_tokens=48, refine_max_tokens=64, reward_max_tokens=24)
TIMING = ("model_seconds", "decode_seconds", "wall_seconds")


def problem() -> str:
    with (ROOT / "data" / "gsm8k_test.jsonl").open(encoding="utf-8") as f:
        return json.loads(f.readline())["problem"]


def comparable(result) -> dict:
    """The result without wall-clock figures (the only part that may differ between replays)."""
    d = result.to_dict()
    d["stats"] = {k: v for k, v in d["stats"].items() if k not in TIMING}
    d["tree"] = result.tree
    return d


def rewrite_expected() -> None:
    """Rewrite the expected result from the stored traffic alone (after a change to the result's shape that
    leaves the search itself as it was: the tree check in the test still compares with the old file first)."""
    from mctsr_native.generation.replay import ReplayBackend
    from mctsr_native.solver import solve

    replayed = solve(problem(), backend=ReplayBackend(TRAFFIC), **OPTIONS)
    EXPECTED.write_text(json.dumps(comparable(replayed), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    if sys.argv[1:] == ["--from-traffic"]:
        rewrite_expected()
        return 0
    from mctsr_native.generation import open_backend
    from mctsr_native.generation.replay import RecordingBackend, ReplayBackend
    from mctsr_native.solver import solve

    backend = RecordingBackend(open_backend(None, n_ctx=2048, seed=0), TRAFFIC)
    try:
        recorded = solve(problem(), backend=backend, **OPTIONS)
    finally:
        backend.close()
    replayed = solve(problem(), backend=ReplayBackend(TRAFFIC), **OPTIONS)
    if replayed.nodes != recorded.nodes:
        print("replay does not reproduce the recorded search", file=sys.stderr)
        return 1
    EXPECTED.write_text(json.dumps(comparable(replayed), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {TRAFFIC.name} ({TRAFFIC.stat().st_size} bytes) and {EXPECTED.name}; answer {replayed.answer!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
