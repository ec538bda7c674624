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

from mctsr_native import answers, selectors, solver  # noqa: E402
from mctsr_native.baselines import DRAW_BATCH  # noqa: E402

from bench_python_work import PROBLEM, DistinctModel  # noqa: E402


def _clear() -> None:
    answers._equivalent.cache_clear()
    answers._answer_key.cache_clear()


def sc_votes(n: int, distinct: int) -> str:
    drawn = [f"{(i * 37) % distinct}" if i % 4 else f"x = {(i * 37) % distinct}" for i in range(n)]
    _clear()
    t = time.process_time()
    grown = answers.AnswerGroups()
    for end in range(DRAW_BATCH, n + DRAW_BATCH, DRAW_BATCH):
        for a in drawn[grown.count:end]:
            grown.add(a)
        ours = grown.groups()
    t_ours = time.process_time() - t
    _clear()
    t = time.process_time()
    for end in range(DRAW_BATCH, n + DRAW_BATCH, DRAW_BATCH):
        theirs = answers.group_answers(drawn[:end])
    t_theirs = time.process_time() - t
    assert ours == theirs
    return f"SC's votes over {n} answers, {distinct} distinct: grown {t_ours:.2f} s, regrouped {t_theirs:.2f} s"


class _Regroup(selectors.VoteGroups):
    def of(self, voters):  # type: ignore[no-untyped-def]
        return answers.group_answers([v.answer for v in voters])


def solve_votes(rollouts: int) -> str:
    out = []
    for label, cls in (("kept", selectors.VoteGroups), ("regrouped", _Regroup)):
        solver.VoteGroups = cls  # type: ignore[misc]
        _clear()
        t = time.process_time()
        result = solver.solve(PROBLEM, backend=DistinctModel(), rollouts=rollouts)
        dt = time.process_time() - t
        out.append((label, dt, result.answer))
    solver.VoteGroups = selectors.VoteGroups  # type: ignore[misc]
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
