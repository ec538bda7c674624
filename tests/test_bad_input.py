"""One test per row of docs/bad-input.md: every bad value the CLI and the API take gets a clear error (or the
documented safe behaviour), nothing computed is lost, nothing hangs. Rows are keyed by the table's ids."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from solver_fakes import FakeBackend

from mctsr_native import SolveConfig, Tree, TreeConfig, answers, cli, cli_eval, cli_solve
from mctsr_native.errors import (
    DataError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidProblemError,
    ModelNotFoundError,
    RunMismatchError,
)
from mctsr_native.prompts import Prompts
from mctsr_native.solver import check_problem
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.runfile import read_run

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each. How much?"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replaces model opening in both commands; records each opening (so a test sees work never started)."""
    calls: list[Any] = []

    def opener(args: Any, *, seed: int = 0) -> FakeBackend:
        calls.append(args)
        return FakeBackend()

    monkeypatch.setattr(cli_solve, "backend_from_args", opener)
    monkeypatch.setattr(cli_eval, "backend_from_args", opener)
    return calls


def run_cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse usage errors exit 2
        return int(e.code or 0)


def data_file(tmp_path: Path, n: int = 1) -> Path:
    path = tmp_path / "eggs.jsonl"
    path.write_text("".join(json.dumps({"id": f"e{i}", "problem": PROBLEM, "answer": "18"}) + "\n" for i in range(n)))
    return path


def fake_solve(problem: str, **kw: Any) -> dict[str, Any]:
    return {"selectors": {"vote": {"answer": "18"}, "max_q": {"answer": "18"}}, "nodes": [],
            "stats": {"rollouts": kw["rollouts"], "stop_reason": "rollouts"}}


# ----- the CLI: a bad value exits 2 with "mctsr: error" or argparse's usage error, before any model work ------

CLI_ROWS: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("solve-empty", lambda t: ["solve", "   "], "the problem is empty"),
    ("solve-file-missing", lambda t: ["solve", "--file", str(t / "none.txt")], "cannot read"),
    ("solve-file-dir", lambda t: ["solve", "--file", str(t)], "is a directory"),
    ("solve-file-latin1", lambda t: ["solve", "--file", _write(t / "l.txt", "Combien coûte ça ?".encode("latin1"))],
     "not UTF-8 text (byte 0xfb"),
    ("solve-file-dev-zero", lambda t: ["solve", "--file", "/dev/zero"], "is a character device, not a regular file"),
    ("solve-file-too-long", lambda t: ["solve", "--file", _write(t / "big.txt", b"x" * ((1 << 20) + 1))],
     "longer than 1 MiB"),
    ("solve-file-binary", lambda t: ["solve", "--file", _write(t / "b.bin", b"ab\x00cd")], "NUL bytes"),
    ("solve-json-missing-dir", lambda t: ["solve", PROBLEM, "--json", "/proc/nope/x.json"], "does not exist"),
    ("solve-json-dir", lambda t: ["solve", PROBLEM, "--json", str(t)], "is a directory"),
    ("n-ctx-too-large", lambda t: ["solve", PROBLEM, "--n-ctx", "4294967596"], "<= 2147483647"),
    ("threads-zero", lambda t: ["solve", PROBLEM, "--threads", "0"], ">= 1"),
    ("n-gpu-layers-too-low", lambda t: ["solve", PROBLEM, "--n-gpu-layers", "-2"], ">= -1"),
    ("seed-negative", lambda t: ["solve", PROBLEM, "--seed", "-1"], ">= 0"),
    ("seed-too-large", lambda t: ["solve", PROBLEM, "--seed", str(2**32)], "<= 4294967295"),
    ("max-tokens-too-large", lambda t: ["solve", PROBLEM, "--max-tokens", str(2**31)], "<= 2147483647"),
    ("temperature-nan", lambda t: ["solve", PROBLEM, "--temperature", "nan"], "finite number, got 'nan'"),
    ("temperature-negative", lambda t: ["solve", PROBLEM, "--temperature", "-1"], ">= 0"),
    ("max-seconds-inf", lambda t: ["solve", PROBLEM, "--max-seconds", "inf"], "finite number, got 'inf'"),
    ("timeout-zero", lambda t: ["solve", PROBLEM, "--timeout", "0", "--server", "http://127.0.0.1:9"], "> 0"),
    ("timeout-without-server", lambda t: ["solve", PROBLEM, "--timeout", "5"], "--timeout applies to --server"),
    ("server-ftp", lambda t: ["solve", PROBLEM, "--server", "ftp://example.com/x"], "http:// or https://"),
    ("rollouts-text", lambda t: ["solve", PROBLEM, "--rollouts", "many"], "expected an integer"),
    ("eval-data-dev-zero", lambda t: ["eval", "--data", "/dev/zero", "--out", str(t / "r.jsonl")],
     "is a character device, not a regular file"),
    ("eval-data-dir", lambda t: ["eval", "--data", str(t), "--out", str(t / "r.jsonl")], "is a directory"),
    ("eval-out-dir", lambda t: ["eval", "--data", str(data_file(t)), "--out", str(t)], "is a directory"),
    ("eval-out-not-a-run", lambda t: ["eval", "--data", str(data_file(t)), "--out", _write(t / "notes.txt", b"hi")],
     "not an mctsr eval run file (its first line is not a run header); it was left untouched: give another --out file"),
    ("eval-trees-file", lambda t: ["eval", "--data", str(data_file(t)), "--out", str(t / "r.jsonl"), "--trees",
                                   _write(t / "hostname", b"x\n")], "exists and is not a directory"),
    ("report-plot-missing-dir", lambda t: ["report", _run_file(t), "--plot", "/proc/nope/x.png"], "does not exist"),
    ("report-json-dir", lambda t: ["report", _run_file(t), "--json", str(t)], "is a directory"),
    # report has no --out: its advice names what to give instead
    ("report-not-a-run", lambda t: ["report", _write(t / "notes.txt", b"hello\n")],
     "it was left untouched: give a run file that `mctsr eval` wrote"),
    ("report-missing", lambda t: ["report", str(t / "none.jsonl")], "no such run file"),
    ("report-dir", lambda t: ["report", str(t)], "is a directory, not a run file"),
    # issue 22: special files are refused by type, never opened for a blocking read nor replaced
    ("solve-file-fifo", lambda t: ["solve", "--file", _fifo(t)], "is a FIFO (named pipe), not a regular file"),
    ("config-fifo", lambda t: ["solve", PROBLEM, "--config", _fifo(t)], "is a FIFO (named pipe), not a regular"),
    ("config-dev-zero", lambda t: ["solve", PROBLEM, "--config", "/dev/zero"], "is a character device"),
    ("config-dev-urandom", lambda t: ["solve", PROBLEM, "--config", "/dev/urandom"], "is a character device"),
    ("view-input-fifo", lambda t: ["view", _fifo(t), "-o", str(t / "p.html")], "is a FIFO (named pipe)"),
    ("eval-data-fifo", lambda t: ["eval", "--data", _fifo(t), "--out", str(t / "r.jsonl")], "is a FIFO"),
    ("eval-out-fifo", lambda t: ["eval", "--data", str(data_file(t)), "--out", _fifo(t)], "is a FIFO"),
    ("report-run-fifo", lambda t: ["report", _fifo(t)], "is a FIFO"),
    ("solve-json-fifo", lambda t: ["solve", PROBLEM, "--json", _fifo(t)], "is a FIFO (named pipe), not a regular file"),
    ("solve-json-link-to-fifo", lambda t: ["solve", PROBLEM, "--json", _link(t / "l.json", _fifo(t))], "is a FIFO"),
    ("solve-view-fifo", lambda t: ["solve", PROBLEM, "--view", _fifo(t)], "would replace the device or pipe"),
    ("report-json-fifo", lambda t: ["report", _run_file(t), "--json", _fifo(t)], "is a FIFO"),
    ("report-plot-fifo", lambda t: ["report", _run_file(t), "--plot", _fifo(t)], "is a FIFO"),
    ("solve-json-proc", lambda t: ["solve", PROBLEM, "--json", "/proc/version"], "the folder /proc takes no new files"),
    # config files: bounded, typed, templates limited to their fields
    ("config-too-long", lambda t: ["solve", PROBLEM, "--config", _write(t / "c.toml", b"#" * ((1 << 20) + 1))],
     "longer than 1 MiB"),
    ("config-deep-toml", lambda t: ["solve", PROBLEM, "--config", _write(t / "c.toml", b"a = " + b"[" * 5000)],
     "nested too deeply"),
    ("config-deep-yaml", lambda t: ["solve", PROBLEM, "--config", _write(t / "c.yaml", b"a: " + b"[" * 5000)],
     "nested too deeply"),
    ("config-yaml-alias", lambda t: ["solve", PROBLEM, "--config",
                                     _write(t / "c.yaml", b"x: &a 1\nrollouts: *a\n")], "aliases (*name)"),
    ("config-prompt-not-string", lambda t: ["solve", PROBLEM, "--config", _write(t / "c.toml", b"[prompts]\nsystem = 5\n")],
     "[prompts] system must be a string, got 5"),
    ("config-threads-text", lambda t: ["solve", PROBLEM, "--config", _write(t / "c.toml", b"[llama]\nn_threads = '4'\n")],
     "[llama] n_threads must be an integer, got '4'"),
    ("config-template-spec", lambda t: ["solve", PROBLEM, "--config", _write(
        t / "c.toml", b"[prompts]\nproblem_block = '{problem:>200000000}'\n")], "may use only {problem}"),
    ("config-template-50mb", lambda t: ["solve", PROBLEM, "--config", _write(
        t / "c.toml", b"[prompts]\nsystem = '" + b"x" * 40000 + b"'\n")], "more than the 32768"),
    # engine limits, before the model opens
    ("threads-too-many", lambda t: ["solve", PROBLEM, "-t", "2147483647"], "n_threads must be an integer in [1, 512]"),
    ("max-sequences-too-many", lambda t: ["solve", PROBLEM, "--max-sequences", "2147483647"],
     "llama.cpp holds 256 sequences in one context"),
    ("reward-samples-over-engine", lambda t: ["solve", PROBLEM, "--reward-samples", "17"],
     "reward_samples=17: the samples of one answer are decoded together, but the engine decodes at most 16"),
    ("reward-tokens-over-kv", lambda t: ["solve", PROBLEM, "--reward-samples", "16", "--reward-max-tokens", "600"],
     "need 9600 KV cells together, but the engine holds 8192 (n_ctx)"),
    ("suppress-replacement-huge", lambda t: ["solve", PROBLEM, "--suppress-replacement", "1e300"],
     "suppress_replacement = 1e+300: expected a finite number in [-100, 100]"),
    ("solve-problem-surrogate", lambda t: ["solve", "What is 1\udcff+1?"], "lone surrogate"),
    ("eval-seed-negative", lambda t: ["eval", "--data", str(data_file(t)), "--out", str(t / "r.jsonl"), "--seed", "-1"],
     "expected an integer >= 0"),
    ("eval-rollouts-too-large", lambda t: ["eval", "--data", str(data_file(t)), "--out", str(t / "r.jsonl"),
                                           "--rollouts", "0,2147483648"], "rollouts must be integers in [0, 2147483647]"),
    ("eval-trees-outside-run", lambda t: ["eval", "--data", str(data_file(t)), "--out", str(t / "runs" / "r.jsonl"),
                                          "--trees", str(t / "trees"), "--view"], "tree files are kept beside their run"),
    # data files: every line's JSON refused by name
    ("eval-data-deep", lambda t: _eval_data(t, b"[" * 100000 + b"]" * 100000), "nested too deeply"),
    ("eval-data-huge-int", lambda t: _eval_data(t, b'{"id": "a", "problem": "p", "answer": ' + b"7" * 5000 + b"}"),
     "an integer of 5000 digits (at most 4300)"),
    ("eval-data-surrogate-problem", lambda t: _eval_data(t, b'{"id": "a", "problem": "x \\ud800", "answer": "1"}'),
     "lone surrogate"),
    ("eval-data-surrogate-id", lambda t: _eval_data(t, b'{"id": "\\udfff", "problem": "x", "answer": "1"}'),
     "lone surrogate"),
    ("eval-data-nul", lambda t: _eval_data(t, b'{"id": "a", "problem": "x \\u0000 y", "answer": "1"}'),
     "field 'problem' holds a NUL byte"),
]


def _fifo(tmp_path: Path) -> str:
    """A FIFO with no writer. A regression that opened it for reading would block forever: after 10 s a
    watchdog thread writes to it, so such a test ends (and fails on its message) instead of hanging."""
    path = tmp_path / "pipe"
    if not path.exists():
        os.mkfifo(path)

        def unblock() -> None:
            time.sleep(10)
            for _ in range(100):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # no reader (ENXIO), or the test is over
                    time.sleep(0.2)
                    continue
                os.write(fd, b"x")
                os.close(fd)
                return

        threading.Thread(target=unblock, daemon=True).start()
    return str(path)


def _link(link: Path, target: str) -> str:
    link.symlink_to(target)
    return str(link)


def _eval_data(tmp_path: Path, line: bytes) -> list[str]:
    return ["eval", "--data", _write(tmp_path / "d.jsonl", line + b"\n"), "--out", str(tmp_path / "r.jsonl")]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _run_file(tmp_path: Path) -> str:
    out = tmp_path / "run.jsonl"
    run_eval(EvalConfig(data=data_file(tmp_path), out=out, rollouts=(0,), model="m.gguf"), solve_fn=fake_solve,
             progress=False, log=lambda m: None)
    return str(out)


@pytest.mark.parametrize(("row", "argv", "message"), CLI_ROWS, ids=[r[0] for r in CLI_ROWS])
def test_cli_row(row: str, argv: Callable[[Path], list[str]], message: str, tmp_path: Path, opened: list[Any],
                 capsys: pytest.CaptureFixture) -> None:
    args = argv(tmp_path)
    untouched = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    kinds = {p: stat.S_IFMT(p.lstat().st_mode) for p in tmp_path.iterdir()}  # FIFOs and links stay what they are
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not opened, "the model was opened before the bad input was found"
    for path, before in untouched.items():
        if path.name not in ("run.jsonl",) or row.startswith("report"):
            assert path.read_bytes() == before, f"{path} changed"
    assert {p: stat.S_IFMT(p.lstat().st_mode) for p in kinds} == kinds
    assert not (tmp_path / "trees").exists()  # a refused --trees folder is not created either


def test_binary_standard_input(opened: list[Any], monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"\xff\xfe\x00binary"), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    assert run_cli(["solve", "-"]) == 2
    assert "standard input is not UTF-8" in capsys.readouterr().err and not opened


def test_late_json_failure_still_prints_the_summary(opened: list[Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    import mctsr_native.runfile as runfile

    def broken(path: Any, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runfile, "atomic_write_text", broken)
    assert run_cli(["solve", PROBLEM, "--rollouts", "1", "--quiet", "--json", str(tmp_path / "r.json")]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("answer: ") and "tree:" in out  # the result is on screen
    assert "No space left on device" in err and "summary above" in err


# ----- run files: nothing lost, nothing mixed -------------------------------------------------------------


@pytest.mark.parametrize("content", [b"my notes\nmore notes\n", b'{"some":"json"}', b'{"some":"json"}\n',
                                     b"\x00\x01binary", b"[1, 2]\n"])
def test_an_existing_file_that_is_not_a_run_file_is_never_truncated(tmp_path: Path, content: bytes) -> None:
    out = tmp_path / "notes.txt"
    out.write_bytes(content)
    with pytest.raises(RunMismatchError, match="not an mctsr eval run file"):
        run_eval(EvalConfig(data=data_file(tmp_path), out=out, rollouts=(0,), model="m.gguf"), solve_fn=fake_solve,
                 progress=False, log=lambda m: None)
    assert out.read_bytes() == content


def test_the_model_is_identified_by_content_not_by_name(tmp_path: Path) -> None:
    (tmp_path / "m1").mkdir()
    (tmp_path / "m2").mkdir()
    m1, m2 = tmp_path / "m1" / "model.gguf", tmp_path / "m2" / "model.gguf"
    m1.write_bytes(b"GGUF" + b"\x01" * 5000)
    m2.write_bytes(b"GGUF" + b"\x02" * 5000)
    data, out = data_file(tmp_path, 2), tmp_path / "run.jsonl"

    def cfg(model: Path, **kw: Any) -> EvalConfig:
        return EvalConfig(data=data, out=out, rollouts=(0,), model=str(model), **kw)

    run_eval(cfg(m1, limit=1), solve_fn=fake_solve, progress=False, log=lambda m: None)
    before = out.read_bytes()
    with pytest.raises(RunMismatchError) as e:
        run_eval(cfg(m2), solve_fn=fake_solve, progress=False, log=lambda m: None)
    assert str(m1) in str(e.value) and str(m2) in str(e.value) and out.read_bytes() == before
    assert f"model: {m1} in the file, {m2} now" in str(e.value) and "sha256" not in str(e.value)  # names, no hash
    moved = tmp_path / "elsewhere.gguf"  # the same file at another path (and name) resumes
    shutil.copy(m1, moved)
    summary = run_eval(cfg(moved), solve_fn=fake_solve, progress=False, log=lambda m: None)
    assert (summary.already_done, summary.written) == (1, 1)


def test_a_failed_first_run_does_not_block_the_corrected_one(tmp_path: Path) -> None:
    data, out = data_file(tmp_path), tmp_path / "run.jsonl"

    def missing() -> Any:
        raise ModelNotFoundError("model file not found: typo.gguf")

    with pytest.raises(ModelNotFoundError):
        run_eval(EvalConfig(data=data, out=out, rollouts=(0,), model="typo.gguf"), open_backend_fn=missing,
                 progress=False, log=lambda m: None)
    summary = run_eval(EvalConfig(data=data, out=out, rollouts=(0,), model="right.gguf"), solve_fn=fake_solve,
                       progress=False, log=lambda m: None)
    assert summary.written == 1 and read_run(out).header["config"]["model"] == "right.gguf"


@pytest.mark.parametrize(("field", "value", "where"), [
    ("rollouts", "abc", "field 'rollouts' must be an integer >= 0"),
    ("id", ["x"], "field 'id' must be a string"),
    ("tokens_generated", "many", "field 'tokens_generated' must be an integer >= 0"),
    ("correct", "yes", "field 'correct' must be true or false"),
    ("seconds", "slow", "field 'seconds' must be a number"),
])
def test_ill_typed_records_name_line_and_field(tmp_path: Path, field: str, value: Any, where: str,
                                              capsys: pytest.CaptureFixture) -> None:
    out = Path(_run_file(tmp_path))
    rows = out.read_text().splitlines()
    record = json.loads(rows[1])
    record[field] = value
    out.write_text(rows[0] + "\n" + json.dumps(record) + "\n")
    before = out.read_bytes()
    with pytest.raises(DataError, match=rf"run\.jsonl:2: {where}"):
        read_run(out)
    assert run_cli(["report", str(out)]) == 2 and where in capsys.readouterr().err
    with pytest.raises(DataError, match=where):
        run_eval(EvalConfig(data=tmp_path / "eggs.jsonl", out=out, rollouts=(0, 1), model="m.gguf"),
                 solve_fn=fake_solve, progress=False, log=lambda m: None)
    assert out.read_bytes() == before


def test_a_header_whose_config_is_not_an_object(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    out.write_text(json.dumps({"type": "header", "format": "mctsr-eval/1", "config": "oops"}) + "\n")
    with pytest.raises(DataError, match=r"run\.jsonl:1: damaged run header"):
        read_run(out)


def test_report_streams_and_drops_trees(tmp_path: Path) -> None:
    from mctsr_native.report import load_runs

    out = Path(_run_file(tmp_path))
    with open(out, "a") as f:
        f.write(json.dumps({"type": "result", "id": "big", "rollouts": 0, "tree": {"nodes": ["x" * 100000]}}) + "\n")
    records = load_runs([out])
    assert len(records) == 2 and all("tree" not in r for r in records)


# ----- answers: linear extraction ----------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["The answer is flawed, it seems ", "final answer: final answer: ",
                                  "Answer: \n", "\\boxed{1} \\boxed{", "The answer is: $x"])
def test_extraction_reads_each_character_a_bounded_number_of_times(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts the characters handed to the per-match cleaner for a 1 MB and a 2 MB reply: linear work doubles,
    quadratic work (the tail copied per match) quadruples."""
    seen = [0]
    clean = answers._clean_line_answer

    def counting(raw: str) -> str:
        seen[0] += len(raw)
        return clean(raw)

    monkeypatch.setattr(answers, "_clean_line_answer", counting)
    work = []
    for size in (1 << 20, 2 << 20):
        seen[0] = 0
        answers.extract_answer(unit * (size // len(unit)))
        work.append(seen[0])
    assert work[1] <= 2.5 * max(work[0], 1), work
    matches = max(1, unit.lower().count("answer"))  # answer prefixes per unit
    assert work[1] <= 600 * matches * (2 << 20) / len(unit) + 1, work  # at most one answer window per match


def test_extraction_of_many_truncated_boxes_is_linear() -> None:
    """Unclosed \\boxed{ groups used to rescan to the end of the text each: count brace scans instead."""
    calls = []
    original = answers._brace_closes

    def counting(text: str) -> dict[int, int]:
        calls.append(len(text))
        return original(text)

    answers._brace_closes = counting  # type: ignore[assignment]
    try:
        assert answers.extract_answer("\\boxed{" * 200000 + "The answer is: 7") == "7"
    finally:
        answers._brace_closes = original  # type: ignore[assignment]
    assert calls == [len("\\boxed{") * 200000 + len("The answer is: 7")]  # one pass over the text


# ----- the Python API: typed errors that name the value ---------------------------------------------------

API_ROWS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("solveconfig-max-seconds-str", lambda: SolveConfig(max_seconds="10").validate(), InvalidConfigError, "'10'"),
    ("solveconfig-tree-str", lambda: SolveConfig(tree="paper").validate(), InvalidConfigError, "'paper'"),
    ("solveconfig-temperature-str", lambda: SolveConfig(temperature="hot").validate(), InvalidConfigError, "'hot'"),
    ("solveconfig-temperature-nan", lambda: SolveConfig(temperature=math.nan).validate(), InvalidConfigError, "nan"),
    ("solveconfig-seed-too-large", lambda: SolveConfig(seed=2**40).validate(), InvalidConfigError, str(2**40)),
    ("solveconfig-max-tokens-too-large", lambda: SolveConfig(refine_max_tokens=2**31).validate(),
     InvalidConfigError, str(2**31)),
    ("solveconfig-bool-flag", lambda: SolveConfig(use_grammar="no").validate(), InvalidConfigError, "'no'"),
    ("tree-str-config", lambda: Tree("paper"), InvalidConfigError, "'paper'"),
    ("tree-add-child-bool", lambda: _tree().add_child(True), InvalidArgumentError, "True"),
    ("tree-add-child-float", lambda: _tree().add_child(0.0), InvalidArgumentError, "0.0"),
    ("tree-q-str", lambda: _tree().q("0"), InvalidArgumentError, "'0'"),
    ("engine-n-ctx-wraps", lambda: _engine_options(n_ctx=4294967596), InvalidConfigError, "4294967596"),
    ("engine-n-batch-wraps", lambda: _engine_options(n_batch=2**32), InvalidConfigError, str(2**32)),
    ("engine-threads-str", lambda: _engine_options(n_threads="4"), InvalidConfigError, "'4'"),
    ("http-timeout-nan", lambda: _http(timeout=math.nan), InvalidConfigError, "nan"),
    ("http-api-key-newline", lambda: _http(api_key="sk-1\n"), InvalidConfigError, "line break"),
    ("http-url-ftp", lambda: _http(url="ftp://h/v1"), InvalidConfigError, "ftp://h/v1"),
    # issue 22
    ("prompts-format-spec", lambda: SolveConfig(prompts=Prompts(problem_block="{problem:>200000000}")).validate(),
     InvalidConfigError, "prompts.problem_block may use only {problem}"),
    ("prompts-attribute", lambda: Prompts(problem_block="{problem.__class__.__mro__}").validate(), InvalidConfigError,
     "'{problem.__class__.__mro__}'"),
    ("prompts-unknown-name", lambda: Prompts(refine_task="{secret}").validate(), InvalidConfigError, "'{secret}'"),
    ("prompts-index", lambda: Prompts(answer_block="{answer[99999]}").validate(), InvalidConfigError,
     "'{answer[99999]}'"),
    ("prompts-not-str", lambda: Prompts(system=5).validate(), InvalidConfigError, "prompts.system must be a string"),
    ("prompts-build-unvalidated", lambda: Prompts(problem_block="{problem.__class__}").build("answer", "x"),
     InvalidConfigError, "{problem.__class__}"),
    ("solveconfig-reward-samples", lambda: SolveConfig(reward_samples=300).validate(), InvalidConfigError,
     "reward_samples must be an int in [1, 256], got 300"),
    ("solveconfig-reward-retries", lambda: SolveConfig(reward_retries=2**31 - 1).validate(), InvalidConfigError,
     "reward_retries must be an int in [0, 16]"),
    ("solve-problem-nul", lambda: check_problem("1 + 1 = ?\x00"), InvalidProblemError, "NUL byte"),
    ("solve-problem-surrogate", lambda: check_problem("1 + \ud800 = ?"), InvalidProblemError, "lone surrogate"),
    ("engine-threads-too-many", lambda: _engine_options(n_threads=2**31 - 1), InvalidConfigError, "[1, 512]"),
    ("engine-slots-too-many", lambda: _engine_options(max_sequences=250), InvalidConfigError,
     "250 + max_cached_prefixes=8 + 1 = 259 sequence slots"),
    ("tree-suppress-replacement", lambda: TreeConfig(suppress_replacement=1e300).validate(), InvalidConfigError,
     "suppress_replacement = 1e+300"),
    ("eval-seed-negative", lambda: EvalConfig(data=Path("d"), out=Path("o"), seed=-1).validate(), InvalidConfigError,
     "seed must be an integer in [0, 4294967295], got -1"),
    ("eval-rollouts-too-large", lambda: EvalConfig(data=Path("d"), out=Path("o"), rollouts=(2**31,)).validate(),
     InvalidConfigError, "rollouts must be integers in [0, 2147483647]"),
]


def _tree() -> Tree:
    t = Tree(TreeConfig.paper())
    t.initialize()
    return t


def _engine_options(**kw: Any) -> None:
    from mctsr_native.generation.llama.engine import LlamaOptions

    LlamaOptions(**kw).validate()


def _http(url: str = "http://127.0.0.1:9", **kw: Any) -> None:
    from mctsr_native.generation.http import HttpBackend

    HttpBackend([url], **kw).close()


@pytest.mark.parametrize(("row", "call", "error", "named"), API_ROWS, ids=[r[0] for r in API_ROWS])
def test_api_row(row: str, call: Callable[[], Any], error: type[Exception], named: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert named in str(e.value)
