"""CPU seconds the vote costs when it is read again and again (benchmarks/README.md, "The vote, read again and
again"): self-consistency's vote after every batch of 8 answers, and a whole solve against a scripted model
whose answers all differ, each with its groups grown / kept (ours) and regrouped from scratch every time.

    .venv/bin/python benchmarks/vote_cost.py            # the four rows of the table
    .venv/bin/python benchmarks/vote_cost.py sc 1024 200
    .venv/bin/python benchmarks/vote_cost.py solve 256

The answer checker's caches are emptied before each side. Both sides must give the same groups (asserted).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mctsr_native import selectors, solver  # noqa: E402

from bench_python_work import (PROBLEM, DistinctModel, RegroupEveryStep, clear_answer_caches,  # noqa: E402
                               sc_answers, votes_grown, votes_regrouped)


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    clear_answer_caches()
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


def sc_votes(n: int, distinct: int) -> str:
    drawn = sc_answers(n, distinct)
    ours, t_ours = _timed(votes_grown, drawn)
    theirs, t_theirs = _timed(votes_regrouped, drawn)
    assert ours == theirs
    return f"SC's votes over {n} answers, {distinct} distinct: grown {t_ours:.2f} s, regrouped {t_theirs:.2f} s"


def solve_votes(rollouts: int) -> str:
    out = []
    for label, cls in (("kept", selectors.VoteGroups), ("regrouped", RegroupEveryStep)):
        solver.VoteGroups = cls  # type: ignore[misc]
        try:
            result, dt = _timed(lambda: solver.solve(PROBLEM, backend=DistinctModel(), rollouts=rollouts))
        finally:
            solver.VoteGroups = selectors.VoteGroups  # type: ignore[misc]
        out.append((label, dt, result.answer))
    assert out[0][2] == out[1][2]
    return f"a {rollouts}-rollout solve, every answer distinct: " + ", ".join(
        f"{label} {dt:.2f} s ({dt / rollouts * 1000:.1f} ms per rollout)" for label, dt, _ in out)


def main(argv: list[str]) -> None:
    if not argv:
        for line in (sc_votes(512, 64), sc_votes(1024, 200), solve_votes(64), solve_votes(256)):
            print(line, flush=True)
    elif argv[0] == "sc" and len(argv) == 3:
        print(sc_votes(int(argv[1]), int(argv[2])))
    elif argv[0] == "solve" and len(argv) == 2:
        print(solve_votes(int(argv[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
