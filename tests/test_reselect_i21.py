"""eval/reselect_i21.py slices a run as the data orders it: its held-out checks (`--skip`) must read the problems
that were held out, and MATH-500's ids do not sort in the data's order."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from mctsr_native.evaluate import EvalConfig, run_eval

ROOT = Path(__file__).resolve().parents[1]
IDS = ["test/precalculus/807.json", "test/algebra/1098.json", "test/number_theory/1032.json"]  # data order


def _reselect() -> Any:
    spec = importlib.util.spec_from_file_location("reselect_i21", ROOT / "eval" / "reselect_i21.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _solve(problem: str, **kw: Any) -> dict[str, Any]:
    # At budget 0 the first answer is never scored, as in a real run: its q_own is null.
    node = {"id": 0, "parent": None, "kind": "answer", "text": "The answer is: 18", "answer": "18",
            "q_own": 10.0 if kw["rollouts"] else None, "children": []}
    return {"selectors": {"vote": {"answer": "18"}, "max_q": {"answer": "18"}}, "node": 0, "nodes": [node],
            "stats": {"rollouts": kw["rollouts"], "stop_reason": "rollouts"}}


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    """A run of three problems whose answer (18) is right for the first of the data only."""
    data = tmp_path / "math.jsonl"
    data.write_text("".join(json.dumps({"id": i, "problem": f"Problem {k}", "answer": "18" if k == 0 else "7"}) + "\n"
                            for k, i in enumerate(IDS)))
    out = tmp_path / "run.jsonl"
    run_eval(EvalConfig(data=data, out=out, rollouts=(0, 1), model="m.gguf"), solve_fn=_solve, progress=False,
             log=lambda m: None)
    return out, data


@pytest.mark.parametrize("with_data", [False, True])
def test_first_and_skip_count_problems_in_the_data_order_not_the_id_order(run: tuple[Path, Path],
                                                                         with_data: bool) -> None:
    out, data = run
    rows = {r.label: r for r in _reselect().rows(str(out), 1, 1, 0, str(data) if with_data else None)}
    assert rows["vote, Q-weighted"].right == {IDS[0]: True}  # id order would pick test/algebra/1098.json
    held_out = {r.label: r for r in _reselect().rows(str(out), 1, 10, 1, str(data) if with_data else None)}
    assert held_out["vote, Q-weighted"].right == {IDS[1]: False, IDS[2]: False}


def test_budget_0_reselects_the_unscored_first_answer(run: tuple[Path, Path]) -> None:
    """The first answers (budget 0) are the held-out check's baseline; their root has no Q to weigh a vote by."""
    out, data = run
    rows = {r.label: r for r in _reselect().rows(str(out), 0, 10, 0, str(data))}
    for rule in ("vote, Q-weighted", "vote, draws only", "max-Q", "shortest answer"):
        assert rows[rule].right == {IDS[0]: True, IDS[1]: False, IDS[2]: False}, rule
