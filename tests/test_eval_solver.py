"""`mctsr eval` through the real solver on a scripted backend (no model), and a real `kill -9` of an eval
process (with a slow fake solver) followed by a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mctsr_native.cli_eval import solve_identity
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.runfile import read_run
from mctsr_native.solver import SolveConfig

from solver_fakes import FakeBackend

ROOT = Path(__file__).resolve().parents[1]
GOLD = "987654321"  # appears nowhere but in the data's answer and solution fields


def _data(tmp_path: Path, n: int = 2) -> Path:
    path = tmp_path / "eggs.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"e{i}", "problem": f"Janet's ducks lay {16 + i} eggs per day. How many dollars?",
                    "answer": GOLD if i == 0 else "18", "solution": f"... #### {GOLD}"}) + "\n" for i in range(n)))
    return path


def test_eval_through_the_solver(tmp_path: Path) -> None:
    backend = FakeBackend()
    solve_config = SolveConfig(reward_samples=2)
    cfg = EvalConfig(data=_data(tmp_path), out=tmp_path / "run.jsonl", rollouts=(0, 2), model="fake",
                     solve=solve_identity(solve_config))
    summary = run_eval(cfg, backend=backend, solve_kwargs={"config": solve_config}, progress=False,
                       log=lambda m: None)
    assert summary.written == 4 and not backend.closed  # a backend passed in stays open
    run = read_run(tmp_path / "run.jsonl")
    assert run.header["config"]["solve"]["reward_samples"] == 2
    assert "rollouts" not in run.header["config"]["solve"] and "seed" not in run.header["config"]["solve"]
    by = {(r["id"], r["rollouts"]): r for r in run.records}
    cot, searched = by[("e1", 0)], by[("e1", 2)]
    assert cot["rollouts_done"] == 0 and searched["rollouts_done"] == 2
    assert cot["answer"] == "18" and cot["correct"] and cot["pass_at_tree"]
    assert len(searched["tree"]["nodes"]) == len(cot["tree"]["nodes"]) + 2
    assert searched["model_calls"] > cot["model_calls"] > 0
    assert searched["tokens_generated"] > cot["tokens_generated"] > 0
    assert not by[("e0", 2)]["correct"] and not by[("e0", 2)]["pass_at_tree"]
    # Ground truth never reached the model: no request of the whole run mentions it.
    for call in backend.calls:
        for request in call:
            assert all(GOLD not in m.content for m in request.messages)


_SLOW_EVAL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mctsr_native.evaluate import EvalConfig, run_eval

    def slow_solve(problem, *, backend, rollouts, seed, **kw):
        time.sleep(0.15)
        return {"answer": "18", "selectors": {"vote": {"answer": "18"}, "max_q": {"answer": "18"}},
                "nodes": [{"id": 0, "kind": "answer", "answer": "18", "text": "x" * 20000}],
                "stats": {"rollouts": rollouts, "model_calls": 1, "prompt_tokens": 5, "reused_tokens": 0,
                          "generated_tokens": 5, "stop_reason": "rollouts"}}

    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    run_eval(EvalConfig(data=data, out=out, rollouts=(0, 2), model="fake"), solve_fn=slow_solve,
             progress=False, log=lambda m: None)
""")


def test_kill_9_then_resume(tmp_path: Path) -> None:
    data = _data(tmp_path, n=20)
    out = tmp_path / "run.jsonl"
    script = tmp_path / "slow_eval.py"
    script.write_text(_SLOW_EVAL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), str(data), str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 4):
            time.sleep(0.02)
        assert proc.poll() is None, "the eval finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = read_run(out)
    assert 3 <= len(killed.records) < 40 and len(killed.keys()) == len(killed.records)
    summary = run_eval(EvalConfig(data=data, out=out, rollouts=(0, 2), model="fake"),
                       solve_fn=lambda p, **kw: json.loads(json.dumps(_fast(kw["rollouts"]))),
                       progress=False, log=lambda m: None)
    assert summary.already_done == len(killed.records)
    final = read_run(out)
    assert final.torn_bytes == 0 and len(final.records) == len(final.keys()) == 40
    assert [r for r in final.records[: len(killed.records)]] == killed.records  # nothing written was lost


def _fast(rollouts: int) -> dict:
    return {"selectors": {"vote": {"answer": "18"}, "max_q": {"answer": "18"}}, "nodes": [],
            "stats": {"rollouts": rollouts, "stop_reason": "rollouts"}}


@pytest.mark.parametrize("argv", [["--rollouts", "0,1"], ["--rollouts", "0,1", "--max-tokens", "64"]])
def test_eval_command_against_a_different_config(tmp_path: Path, argv: list[str],
                                                 capsys: pytest.CaptureFixture) -> None:
    """The command refuses a run file from another configuration with exit code 2 and the difference named."""
    from mctsr_native.cli import main

    out = tmp_path / "run.jsonl"
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": 5}}
    record = {"type": "result", "id": "q0", "rollouts": 0}  # a file with records (header-only ones are replaced)
    out.write_text(json.dumps(header) + "\n" + json.dumps(record) + "\n")
    before = out.read_bytes()
    code = main(["eval", "--data", str(_data(tmp_path)), "--out", str(out), "--no-progress", *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "seed: 5 in the file, 0 now" in err
    assert out.read_bytes() == before


def test_concurrent_in_process_eval_matches_sequential(tmp_path: Path) -> None:
    """Problems in flight together on one (non-thread-safe) engine: same answers and per-record token
    counts as one at a time, every call through the merging SharedBackend."""
    solve_config = SolveConfig(reward_samples=2)
    data = _data(tmp_path, n=4)
    runs = {}
    for workers in (1, 3):
        backend = FakeBackend()
        out = tmp_path / f"run{workers}.jsonl"
        run_eval(EvalConfig(data=data, out=out, rollouts=(0, 2), model="fake", concurrency=workers,
                            solve=solve_identity(solve_config)),
                 backend=backend, solve_kwargs={"config": solve_config}, progress=False, log=lambda m: None)
        runs[workers] = {(r["id"], r["rollouts"]): r for r in read_run(out).records}
    assert runs[1].keys() == runs[3].keys() and len(runs[1]) == 8
    fields = ("answer", "answer_max_q", "correct", "tokens_evaluated", "tokens_generated", "model_calls")
    for key, seq in runs[1].items():
        assert {f: seq[f] for f in fields} == {f: runs[3][key][f] for f in fields}
