"""`mctsr eval`: cut replies counted in the records, an ISO-8601 header time, an ETA weighted by expected tokens,
and progress events as JSON lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from test_eval import FakeSolve, config, lines, write_data

from mctsr_native import eval_progress
from mctsr_native.eval_progress import EvalProgress, search_cost
from mctsr_native.evaluate import run_eval


class CappedSolve(FakeSolve):
    def __call__(self, problem: str, **kwargs: Any) -> dict[str, Any]:
        result = super().__call__(problem, **kwargs)
        result["stats"]["capped_replies"] = {"refine": kwargs["rollouts"]}
        result["stats"]["generated_tokens"] = 50 * (1 + 4 * kwargs["rollouts"])
        return result


def test_records_count_capped_replies_and_the_header_time_is_iso(tmp_path: Path) -> None:
    run_eval(config(tmp_path, write_data(tmp_path)), solve_fn=CappedSolve(), progress=False, log=lambda m: None)
    header, *records = lines(tmp_path / "run.jsonl")
    assert dt.datetime.fromisoformat(header["created"]).tzinfo is not None
    assert header["llama_cpp_python"] and header["version"]  # where the records came from
    assert {r["rollouts"]: r["capped_replies"] for r in records} == {0: {"refine": 0}, 2: {"refine": 2}}


@pytest.mark.parametrize("schedule", ["anytime", "separate"])
def test_a_capped_first_answer_is_counted_at_every_budget_zero_included(tmp_path: Path, schedule: str) -> None:
    """Rollouts 0 (the first answer alone) records its cap count too, with the replies it is a share of."""
    from solver_fakes import FakeBackend

    from mctsr_native.solve_config import SolveConfig

    run_eval(config(tmp_path, write_data(tmp_path), rollouts=(0, 1), limit=1, schedule=schedule),
             backend=FakeBackend(finish_reason="length"), solve_kwargs={"config": SolveConfig()}, progress=False,
             log=lambda m: None)
    records = {r["rollouts"]: r for r in lines(tmp_path / "run.jsonl")[1:]}
    assert records[0]["capped_replies"] == {"answer": 1} and records[0]["replies"] == {"answer": 1}
    assert records[1]["capped_replies"]["answer"] == 1 and records[1]["replies"]["refine"] == 1
    assert sum(records[1]["capped_replies"].values()) == sum(records[1]["replies"].values())


def test_search_cost_prior_and_calibration() -> None:
    assert search_cost(0, {}) == 1.0 and search_cost(4, {}) == 1.0 + 4 * eval_progress.PRIOR_UNITS_PER_ROLLOUT
    assert search_cost(0, {0: 120.0}) == 120.0  # measured: the mean of the records done
    assert search_cost(8, {0: 100.0}) == pytest.approx(100.0 * (1 + 8 * eval_progress.PRIOR_UNITS_PER_ROLLOUT))


def test_eta_weighs_the_searches_left_by_their_cost(monkeypatch) -> None:
    """Half the searches done, all cheap zero-shot ones: the ETA counts the expensive ones left at their cost,
    not at the average time of those done (which predicted 12 s where 56 s remained)."""
    clock = [0.0]
    monkeypatch.setattr(eval_progress.time, "perf_counter", lambda: clock[0])
    p = EvalProgress([0, 0, 8, 8], [], "none", 2, [0, 8])
    for i in range(2):
        clock[0] += 1.0
        p.update({"id": f"p{i}", "rollouts": 0, "correct": True, "tokens_generated": 100})
    # 200 tokens in 2 s = 100 tok/s; two searches left at 8 rollouts ~ 100 * (1 + 8 * 3.5) tokens each
    assert p.eta_seconds() == pytest.approx(2 * 100 * (1 + 8 * eval_progress.PRIOR_UNITS_PER_ROLLOUT) / 100)
    clock[0] += 30.0
    p.update({"id": "p0", "rollouts": 8, "correct": True, "tokens_generated": 3000})
    assert p.eta_seconds() == pytest.approx(3000 / (3200 / 32))  # now calibrated by the record at 8


def test_progress_json_events(tmp_path: Path, monkeypatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    run_eval(config(tmp_path, write_data(tmp_path)), solve_fn=CappedSolve(), progress="json", log=lambda m: None)
    events = [json.loads(line) for line in err.getvalue().splitlines() if line.startswith("{")]
    assert len(events) == 8 and all(e["type"] == "record" and "T" in e["time"] for e in events)
    assert events[-1]["done"] == events[-1]["total"] == 8 and events[-1]["eta_seconds"] == 0


def test_a_redirected_eval_gets_lines_not_a_bar(tmp_path: Path, monkeypatch, capsys) -> None:
    """Standard error is a file or pipe here (not a terminal): the default bar becomes one line per record,
    with no carriage return piling up in the log."""
    from solver_fakes import FakeBackend

    from mctsr_native import cli, cli_eval

    monkeypatch.setattr(cli_eval, "backend_from_args", lambda args, *, seed=0: FakeBackend())
    data = write_data(tmp_path)
    assert cli.main(["eval", "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--rollouts", "0,1",
                     "--limit", "2"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.count(" searches, ETA ") == 4, err


@pytest.mark.parametrize("extra, noted", [((), False), (("--concurrency", "2"), True),
                                          (("--concurrency", "2", "--server", "http://127.0.0.1:9"), False)])
def test_shared_batches_are_said_not_to_repeat(tmp_path: Path, monkeypatch, capsys, extra, noted) -> None:
    """Problems merged into one in-process engine's batches sample differently from run to run (measured on the
    real model: every record differed at 3, none at 1); the run says so, and only then (servers batch on their own
    and make no promise either way; one problem at a time repeats)."""
    from solver_fakes import FakeBackend

    from mctsr_native import cli, cli_eval

    monkeypatch.setattr(cli_eval, "backend_from_args", lambda args, *, seed=0: FakeBackend())
    data = write_data(tmp_path)
    assert cli.main(["eval", "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--rollouts", "0",
                     "--no-progress", *extra]) == 0
    assert ("--concurrency > 1 on the in-process model" in capsys.readouterr().err) is noted
