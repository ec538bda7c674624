"""`mctsr solve`'s honest summary, its progress events and the provenance of its result; the real runs use the
default model with tiny caps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from solver_fakes import FakeBackend

from mctsr_native import cli, cli_solve
from mctsr_native.record import SolveResult


def _result(*, selector: str, vote_node: int | None, chosen: int, finish: str = "stop",
            capped: dict[str, int] | None = None) -> SolveResult:
    nodes = [{"id": 0, "parent": None, "kind": "dummy", "answer": None, "depth": 0, "critique": None,
              "finish": None},
             {"id": 1, "parent": 0, "kind": "answer", "answer": None, "depth": 1, "critique": None,
              "finish": "stop"},
             {"id": 2, "parent": 1, "kind": "answer", "answer": None if vote_node is None else "42", "depth": 2,
              "critique": "c", "finish": finish}]
    stats = {"rollouts": 1, "steps": 2, "prompt_tokens": 10, "reused_tokens": 0, "generated_tokens": 20,
             "model_calls": 3, "sequences": 14, "model_seconds": 1.0, "wall_seconds": 1.1, "stop_reason": "rollouts",
             "capped_replies": capped or {}, "by_kind": {"answer": 1, "critique": 1, "refine": 1, "reward": 11}}
    return SolveResult(
        problem="p", answer=None if vote_node is None else "42", text="t", node=chosen, selector=selector,
        selectors={"vote": {"node": vote_node, "answer": None if vote_node is None else "42",
                            "support": 0.0 if vote_node is None else 0.6, "groups": []},
                   "max_q": {"node": 2, "answer": None if vote_node is None else "42", "q": 20.0}},
        nodes=nodes, stats=stats, config={"selector": "vote"}, tree={})


def test_vote_without_an_answer_says_max_q_chose() -> None:
    text = cli_solve.format_summary(_result(selector="max_q", vote_node=None, chosen=2))
    assert "vote found no extractable answer; chosen by max-Q: node 2" in text
    assert "chosen by vote" not in text and "node None" not in text
    assert "own Q 20.0 on [-100, 100]" in text  # the node's own Q: the page's circle, not its backed-up Q
    assert "1 rollout in 2 steps (step 0 = the first answer and the dummy)" in text  # plurals: 1 rollout


def test_no_none_leaks_and_counts_have_their_plurals() -> None:
    result = _result(selector="vote", vote_node=2, chosen=2)
    result.selectors["max_q"] = {"node": 1, "answer": None, "q": 30.0}  # max-Q's node has no extractable answer
    result.stats.update(rollouts=1, steps=1, model_calls=1, sequences=1, reward_fallbacks=1, prompts_shortened=1)
    text = cli_solve.format_summary(result)
    assert "None" not in text
    assert "max-Q would choose: (no answer extracted) (node 1, own Q 30.0" in text
    assert "3 nodes (2 answers, 1 with an extractable answer, 0 distinct), 1 rollout in 1 step " in text
    assert "in 1 model call (1 sequence)" in text
    assert "1 answer got the fallback reward" in text and "1 prompt was shortened" in text


def test_vote_support_has_its_scale() -> None:
    text = cli_solve.format_summary(_result(selector="vote", vote_node=2, chosen=2))
    assert "chosen by vote: node 2, support 0.60 (support = sum over the agreeing answer nodes of (Q + 100) / 200" \
        in text
    assert "max-Q agrees (own Q 20.0 on [-100, 100])" in text


def test_capped_replies_and_a_cut_chosen_answer_are_reported() -> None:
    text = cli_solve.format_summary(_result(selector="vote", vote_node=2, chosen=2, finish="length",
                                            capped={"refine": 1, "reward": 3}))
    assert "the chosen answer was cut off by its token cap (raise --refine-max-tokens)" in text
    assert "3 of 11 reward replies hit the cap: raise --reward-max-tokens" in text
    assert "1 of 1 refine reply hit the cap: raise --refine-max-tokens" in text
    assert "cut off" not in cli_solve.format_summary(_result(selector="vote", vote_node=2, chosen=2))


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    return backend


def test_progress_json_is_one_event_per_line(fake, capsys) -> None:
    assert cli.main(["solve", "What is 2 + 3?", "--rollouts", "2", "--progress", "json"]) == 0
    err = capsys.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    types = [e["type"] for e in events]
    assert types[:3] == ["model_loading", "model_loaded", "search_started"]
    assert types.count("rollout") == 2 and "first_answer" in types and types[-1] == "done"
    assert all(e["time"].endswith("+00:00") and "T" in e["time"] for e in events)
    rollout = next(e for e in events if e["type"] == "rollout")
    assert {"best_answer", "best_q", "tokens_per_second", "rollouts", "of"} <= set(rollout)
    qs = [e["best_q"] for e in events if e["type"] in ("first_answer", "rollout")]
    assert qs == sorted(qs)  # the best so far never goes down


def test_progress_lines_never_print_none(monkeypatch, capsys) -> None:
    backend = FakeBackend(lambda request, i: "[Score] 50" if request.kind == "reward" else "I am not sure.")
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    assert cli.main(["solve", "What is 2 + 3?", "--rollouts", "1", "--progress", "lines"]) == 0
    out, err = capsys.readouterr()
    assert "best answer so far (none extracted yet)" in err and "None" not in err + out
    assert "answer: (none extracted)" in out


def test_quiet_prints_no_progress(fake, capsys) -> None:
    assert cli.main(["solve", "What is 2 + 3?", "--rollouts", "1", "-q"]) == 0
    assert "[mctsr]" not in capsys.readouterr().err


@pytest.mark.model
def test_real_solve_reports_its_cut_answer_and_provenance(tmp_path: Path) -> None:
    """The default model, one 8-token answer: it is cut by its cap, and the summary and the JSON say so."""
    from mctsr_native.models import DEFAULT_MODEL_SHA256

    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "mctsr_native.cli", "solve", "What is 17 * 23?", "--rollouts", "0",
                           "--answer-max-tokens", "8", "-c", "1024", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "[mctsr] loading model" in proc.stderr and "loaded in" in proc.stderr
    assert "1 of 1 answer reply hit the cap: raise --answer-max-tokens" in proc.stdout
    assert "the chosen answer was cut off by its token cap (raise --answer-max-tokens)" in proc.stdout
    data = json.loads(out.read_text())
    assert data["stats"]["capped_replies"] == {"answer": 1}
    prov = data["provenance"]
    assert prov["model"]["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert prov["model"]["sha256"] == DEFAULT_MODEL_SHA256
    assert prov["llama_cpp_python"] and prov["mctsr_native"]
    assert prov["config"]["solve"]["answer_max_tokens"] == 8 and prov["config"]["engine"] == {"n_ctx": 1024}
    assert prov["started"] <= prov["finished"] and "T" in prov["started"]


def test_sigterm_prints_the_best_answer_so_far_and_exits_143(monkeypatch, tmp_path, capsys) -> None:
    """`kill PID` during a search does what Ctrl-C does: the search stops at a safe point and its summary is
    printed (and written); the exit status says SIGTERM (128 + 15)."""
    import os
    import signal

    calls = [0]

    class Killed(FakeBackend):
        def generate(self, requests):
            calls[0] += 1
            if calls[0] == 6:  # in the middle of the search: after the first answer and its rewards
                os.kill(os.getpid(), signal.SIGTERM)
            return super().generate(requests)

    backend = Killed()
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    before = signal.getsignal(signal.SIGTERM)
    out_json = tmp_path / "r.json"
    assert cli.main(["solve", "What is 2 + 3?", "--rollouts", "20", "-q", "--json", str(out_json)]) == 143
    out = capsys.readouterr().out
    assert out.startswith("answer: ") and "stopped: cancelled" in out
    assert json.loads(out_json.read_text())["stats"]["stop_reason"] == "cancelled"
    assert signal.getsignal(signal.SIGTERM) == before  # the command's handler is gone after it


def test_sigterm_during_an_eval_keeps_the_records_and_exits_143(monkeypatch, tmp_path, capsys) -> None:
    import os
    import signal

    from test_eval import write_data

    from mctsr_native import cli_eval

    calls = [0]

    class Killed(FakeBackend):
        def generate(self, requests):
            calls[0] += 1
            if calls[0] == 12:
                os.kill(os.getpid(), signal.SIGTERM)
            return super().generate(requests)

    monkeypatch.setattr(cli_eval, "backend_from_args", lambda args, *, seed=0: Killed())
    out = tmp_path / "o.jsonl"
    assert cli.main(["eval", "--data", str(write_data(tmp_path)), "--out", str(out), "--rollouts", "0,2",
                     "-q"]) == 143
    err = capsys.readouterr().err
    assert "mctsr: terminated (SIGTERM)" in err and "re-run to resume" in err
    assert len(out.read_text().splitlines()) >= 3  # the header and the first problem's records, finished before
