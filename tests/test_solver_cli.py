"""`mctsr solve` on a fake backend: input forms, summary, --json, option mapping, bad input."""

from __future__ import annotations

import io
import json

import pytest
from solver_fakes import FakeBackend

from mctsr_native import cli, cli_solve

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each. How much?"


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    seen = {}

    def opener(args, *, seed=0):
        seen["args"], seen["seed"] = args, seed
        return backend

    monkeypatch.setattr(cli_solve, "backend_from_args", opener)
    backend.seen = seen
    return backend


def test_solve_prints_the_answer_and_a_summary_and_writes_json(fake, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli.main(["solve", PROBLEM, "--rollouts", "3", "--parallel", "2", "--seed", "4", "--json", str(out)])
    assert rc == 0
    stdout, stderr = capsys.readouterr()
    assert stdout.startswith("answer: ")
    for word in ("chosen by vote", "max-Q", "tree: 5 nodes", "reused", "generated", "in the model", "stopped: rollouts"):
        assert word in stdout
    assert "[mctsr] initialized" in stderr and "step 2" in stderr
    data = json.loads(out.read_text())
    assert len(data["nodes"]) == 5 and data["tree"]["nodes"] and data["config"]["parallel"] == 2
    assert data["answer"] == stdout.splitlines()[0].removeprefix("answer: ")
    assert fake.seen["seed"] == 4 and fake.closed


def test_problem_from_stdin_and_from_a_file(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(PROBLEM))
    assert cli.main(["solve", "-", "--rollouts", "0", "--quiet"]) == 0
    assert fake.calls[0][0].messages[-1].content.count(PROBLEM) == 1
    path = tmp_path / "p.txt"
    path.write_text(PROBLEM + "\n")
    assert cli.main(["solve", "--file", str(path), "--rollouts", "0", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv", [["solve", "   "], ["solve", "--file", "/nonexistent/p.txt"],
                                  ["solve", PROBLEM, "--answer-max-tokens", "0"]])
def test_bad_input_is_a_clear_error(fake, argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_options_map_onto_the_solve_config():
    parser = cli.build_parser()
    args = parser.parse_args(["solve", "x", "--max-tokens", "64", "--refine-max-tokens", "80", "--rules",
                              "reference", "--selector", "max_q", "--no-grammar", "--stop-on-agreement"])
    c = cli_solve.solve_config_from_args(args)
    assert (c.answer_max_tokens, c.critique_max_tokens, c.refine_max_tokens) == (64, 64, 80)
    assert c.rules == "reference" and c.selector == "max_q" and not c.use_grammar and c.stop_on_agreement
    default = cli_solve.solve_config_from_args(parser.parse_args(["solve", "x"]))
    assert default == type(default)()


def test_model_and_server_together_are_refused():
    from mctsr_native.errors import InvalidConfigError

    args = cli.build_parser().parse_args(["solve", "x", "--model", "a.gguf", "--server", "http://h:1"])
    with pytest.raises(InvalidConfigError):
        cli_solve.backend_from_args(args)
