"""End to end on the real default model: `mctsr eval` on 3 GSM8K problems at rollouts 0 and 2, killed with
SIGKILL after its first record, resumed, then reported as a table.

The pipeline is under test, not the tiny model's accuracy; tiny token caps keep it quick on 2 CPU cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mctsr_native.runfile import read_run

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
GSM8K = ROOT / "data" / "gsm8k_test.jsonl"
FLAGS = ["--rollouts", "0,2", "--no-progress", "--answer-max-tokens", "32", "--critique-max-tokens", "24",
         "--refine-max-tokens", "32", "--reward-max-tokens", "16", "--reward-samples", "1", "--reselect-samples", "0",
         "--n-ctx", "1024"]


def _mctsr(*argv: str) -> list[str]:
    return [sys.executable, "-m", "mctsr_native.cli", *argv]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "python"),
                                                                      os.environ.get("PYTHONPATH")]))}


def test_eval_killed_resumed_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "gsm8k_test.jsonl"
    data.write_text("".join(GSM8K.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    out = tmp_path / "run.jsonl"
    argv = ["eval", "--data", str(data), "--out", str(out), *FLAGS]

    proc = subprocess.Popen(_mctsr(*argv), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:  # header + a first record
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        output = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, f"the eval ended before the kill:\n{output}"
    killed = read_run(out)
    assert 1 <= len(killed.records) < 6
    assert len(killed.keys()) == len(killed.records)

    resumed = subprocess.run(_mctsr(*argv), env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(killed.records)} of 6 records already done" in resumed.stderr
    run = read_run(out)
    assert run.torn_bytes == 0
    assert len(run.records) == len(run.keys()) == 6  # every pair once: no duplicate, nothing missing
    assert run.records[: len(killed.records)] == killed.records  # nothing written before the kill was lost
    for r in run.records:
        assert r["dataset"] == "gsm8k" and r["rollouts"] in (0, 2)
        assert r["rollouts_done"] == r["rollouts"] or r["stop_reason"] not in ("rollouts", "cancelled")
        assert r["model_calls"] > 0 and r["tokens_generated"] > 0 and r["seconds"] > 0
        assert len(r["tree"]["nodes"]) >= 2
        assert r["correct"] is False or r["pass_at_tree"] is True

    again = subprocess.run(_mctsr(*argv), env=_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "6 of 6 records already done" in again.stderr
    assert len(read_run(out).records) == 6
    assert "The search (vote) at 2 rollouts against its first answer: " in again.stdout  # the run says whether it paid

    # self-consistency added to the finished run, at the search's tokens: the eval says how the search fared
    sc = subprocess.run(_mctsr(*argv, "--baseline", "sc"), env=_env(), capture_output=True, text=True, timeout=300)
    assert sc.returncode == 0, sc.stderr
    assert [r.get("method") for r in read_run(out).records].count("sc") == 6
    said = next(line for line in sc.stdout.splitlines() if "against self-consistency" in line)
    assert said.startswith("The search (vote) at 2 rollouts against self-consistency at matched generated tokens (")
    assert "on 3 problems" in said and "McNemar p = " in said and "too few discordant problems" in said

    report = subprocess.run(_mctsr("report", str(out)), env=_env(), capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "zero-shot CoT" in report.stdout and "2 rollouts" in report.stdout
    row = next(line for line in report.stdout.splitlines() if line.startswith("gsm8k "))
    assert row.split()[1] == "3"
