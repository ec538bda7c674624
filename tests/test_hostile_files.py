"""Hostile files (issue 22): outputs never replace a FIFO or a device and write through a symbolic link;
run files, tree files and view inputs that this program never writes (huge integers, deep nesting, lone
surrogates, a tree_path out of the run's folder, a node id that is not an integer) are refused by name; a long
problem id gets a bounded tree file name; the tree page's layout is linear in the number of nodes."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from solver_fakes import FakeBackend

from mctsr_native import cli, cli_solve, view
from mctsr_native.errors import DataError, InvalidConfigError
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.runfile import read_run, tree_file_name
from mctsr_native.safe_io import SpecialFileError, atomic_write_text, check_writable, loads

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each. How much?"


def run_cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:
        return int(e.code or 0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    backend = FakeBackend()
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    return backend


def fake_solve(problem: str, **kw: Any) -> dict[str, Any]:
    return {"selectors": {"vote": {"answer": "18"}, "max_q": {"answer": "18"}}, "node": 0,
            "nodes": [{"id": 0, "parent": None, "kind": "answer", "text": "The answer is: 18", "answer": "18"}],
            "stats": {"rollouts": kw["rollouts"], "stop_reason": "rollouts"}}


def eval_run(tmp_path: Path, ids: list[str], trees: bool = True) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": i, "problem": PROBLEM, "answer": "18"}) + "\n" for i in ids))
    out = tmp_path / "run.jsonl"
    run_eval(EvalConfig(data=data, out=out, rollouts=(0, 1), model="m.gguf",
                        trees_dir=tmp_path / "trees" if trees else None),
             solve_fn=fake_solve, progress=False, log=lambda m: None)
    return out


# ----- outputs: never replace a special file; write through a link --------------------------------------------


def test_the_atomic_writer_refuses_a_fifo_and_leaves_it_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    for target in (fifo, link):
        with pytest.raises(SpecialFileError, match="FIFO"):
            atomic_write_text(target, "{}")
        with pytest.raises(InvalidConfigError, match="is a FIFO"):
            check_writable(target, what="--json")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(link)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "pipe"]  # no temporary file left behind


@pytest.mark.parametrize("dangling", [False, True])
def test_solve_json_and_view_write_through_a_symlink(fake: FakeBackend, tmp_path: Path, dangling: bool,
                                                     capsys: pytest.CaptureFixture) -> None:
    real, page = tmp_path / "store" / "result.json", tmp_path / "store" / "tree.html"
    real.parent.mkdir()
    if not dangling:
        real.write_text("old")
        page.write_text("old")
    (tmp_path / "r.json").symlink_to(real)
    (tmp_path / "t.html").symlink_to(page)
    argv = ["solve", PROBLEM, "--rollouts", "1", "--quiet", "--json", str(tmp_path / "r.json"),
            "--view", str(tmp_path / "t.html")]
    assert run_cli(argv) == 0, capsys.readouterr().err
    assert os.path.islink(tmp_path / "r.json") and os.path.islink(tmp_path / "t.html")  # the links stay
    assert json.loads(real.read_text())["answer"] and "<html" in page.read_text()
    assert run_cli(["view", str(tmp_path / "r.json"), "-o", str(tmp_path / "t.html")]) == 0
    assert os.path.islink(tmp_path / "t.html") and "<html" in page.read_text()


def test_a_planted_temporary_name_is_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old temporary name was predictable (.NAME.PID.tmp): a link planted there was written through."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / f".out.json.{os.getpid()}.tmp").symlink_to(victim)
    atomic_write_text(tmp_path / "out.json", "{}")
    assert victim.read_text() == "keep" and (tmp_path / "out.json").read_text() == "{}"


def test_a_fifo_as_the_model_does_not_hang_the_run_identity(tmp_path: Path) -> None:
    """eval hashes the model file for the run header before the model opens: a FIFO there used to block."""
    from test_bad_input import _fifo  # a FIFO with a watchdog writer: a regression fails instead of hanging

    from mctsr_native.provenance import model_identity

    assert model_identity(_fifo(tmp_path)) == "pipe"  # opening the model then says "model path is not a file"


# ----- run files and their tree files -------------------------------------------------------------------------


def _rewrite_record(out: Path, index: int, **changes: Any) -> None:
    lines = out.read_text().splitlines()
    record = json.loads(lines[index])
    record.update(changes)
    lines[index] = json.dumps(record)
    out.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("ref", "why"), [
    ("/dev/zero", "not the path of a .json tree file"),
    ("/dev/zero.json", "outside the run file's folder"),
    ("../outside.json", "outside the run file's folder"),
    ("trees/../../outside.json", "outside the run file's folder"),
    ("/etc/passwd", "not the path of a .json tree file"),
    ("trees/pipe.json", "is a FIFO (named pipe), not a regular file"),
    ("trees/latin1.json", "cannot read: not UTF-8 text (invalid start byte at byte 11)"),
    ("trees/missing.json", "no such tree file ("),
])
def test_a_tree_path_is_read_only_inside_the_run_folder_and_only_as_a_regular_file(
        tmp_path: Path, ref: str, why: str, capsys: pytest.CaptureFixture) -> None:
    out = eval_run(tmp_path, ["e1"])
    os.mkfifo(tmp_path / "trees" / "pipe.json")
    (tmp_path / "trees" / "latin1.json").write_bytes(b'{"nodes": "\xfb"}')
    (tmp_path.parent / "outside.json").write_text(json.dumps({"nodes": [{"id": 0, "parent": None}]}))
    _rewrite_record(out, 1, tree_path=ref)
    assert run_cli(["view", str(out), "--id", "e1", "--rollouts", "0", "-o", str(tmp_path / "p.html")]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err
    assert run_cli(["report", str(out), "--rewards"]) == 0  # the diagnostics skip a tree they may not read
    assert run_cli(["view", str(out), "--id", "e1", "--rollouts", "1", "-o", str(tmp_path / "p.html")]) == 0


@pytest.mark.parametrize(("change", "message"), [
    ({"rollouts": 2**31}, "beyond any budget `mctsr eval` plans (at most 2147483647)"),
    ({"rollouts_done": 5}, "field 'rollouts_done' must be an integer in [0, rollouts=1]"),
    ({"rollouts_done": -1}, "field 'rollouts_done' must be an integer in [0, rollouts=1]"),
])
def test_a_record_outside_the_plan_is_refused(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    out = eval_run(tmp_path, ["e1"], trees=False)
    _rewrite_record(out, 2, **change)
    with pytest.raises(DataError, match=r"run\.jsonl:3: ") as e:
        read_run(out)
    assert message in str(e.value)


@pytest.mark.parametrize(("line", "message"), [
    (b'{"type": "result", "id": "x", "rollouts": ' + b"9" * 5000 + b"}", "an integer of 5000 digits (at most 4300)"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'{"type": "result", "id": "\\ud800", "rollouts": 0}', "lone surrogate"),
])
@pytest.mark.parametrize("last", [True, False])
def test_json_this_program_never_writes_is_damage_not_a_torn_tail(tmp_path: Path, line: bytes, message: str,
                                                                 last: bool) -> None:
    out = eval_run(tmp_path, ["e1"], trees=False)
    good = out.read_bytes()
    out.write_bytes(good + line + b"\n" + (b"" if last else good.split(b"\n", 1)[1]))
    before = out.read_bytes()
    with pytest.raises(DataError, match=re.escape(message)):
        read_run(out)
    with pytest.raises(DataError, match=re.escape(message)):  # resuming never cuts such a line off as a torn write
        run_eval(EvalConfig(data=tmp_path / "data.jsonl", out=out, rollouts=(0, 1), model="m.gguf"),
                 solve_fn=fake_solve, progress=False, log=lambda m: None)
    assert out.read_bytes() == before


def test_a_long_problem_id_gets_a_bounded_tree_file_and_resumes(tmp_path: Path) -> None:
    long_a, long_b = "q" * 10000 + "a", "q" * 10000 + "b"  # the same first 80 characters
    out = eval_run(tmp_path, [long_a, long_b, "short/id"])
    names = sorted(p.name for p in (tmp_path / "trees").iterdir())
    assert len(names) == 6 and max(len(n) for n in names) <= 120
    assert tree_file_name("short/id", 1) in names  # short ids keep the name they always had
    records = read_run(out).records
    assert {r["id"] for r in records} == {long_a, long_b, "short/id"}
    v = view.load_view(out, long_b, 1)
    assert v.nodes and v.title.startswith("q")


# ----- view inputs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ('{"nodes": [{"id": "abc", "parent": null}]}', 'nodes[0].id must be a node id (an integer >= 0), got "abc"'),
    ('{"nodes": [{"id": 0, "parent": "x"}]}', 'nodes[0].parent must be a node id (an integer >= 0 or null)'),
    ('{"nodes": [{"id": 0, "parent": null, "visits": ' + "1" * 4500 + "}]}", "an integer of 4500 digits"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"nodes": [{"id": 0, "parent": null, "text": "x\\udc80"}]}', "lone surrogate"),
])
def test_view_input_is_refused_by_name(tmp_path: Path, text: str, message: str,
                                       capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    assert run_cli(["view", str(path), "-o", str(tmp_path / "p.html")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "p.html").exists()


def test_json_loads_refusals_are_value_errors_naming_the_reason() -> None:
    assert loads('{"a": [1, "\\ud83d\\ude00"]}') == {"a": [1, "\U0001F600"]}  # a proper pair is text
    for text, why in (('"\\udfff"', "lone surrogate"), ("1" * 4301, "4301 digits"), ("[" * 50000, "too deeply"),
                      ("{", "Expecting property name")):
        with pytest.raises(ValueError, match=why):
            loads(text)


# ----- the tree page's layout: linear ---------------------------------------------------------------------------


def _traced_lines(parents: dict[int, int | None]) -> int:
    """Lines of Python executed by one layout: a count of work, not of time."""
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        view.tidy_layout(parents)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("shape", ["chain", "comb"])
def test_the_layout_work_grows_linearly(shape: str) -> None:
    def tree(n: int) -> dict[int, int | None]:
        if shape == "chain":
            return {i: (i - 1 if i else None) for i in range(n)}
        return {i: (None if i == 0 else i - 1 if i % 2 else max(i - 2, 0)) for i in range(n)}  # a spine with leaves

    small, large = _traced_lines(tree(1000)), _traced_lines(tree(4000))
    assert large <= 4.6 * small, (small, large)  # quadratic work would be 16x


def test_a_20000_node_chain_is_drawn(tmp_path: Path) -> None:
    nodes = [{"id": i, "parent": i - 1 if i else None, "kind": "answer", "text": f"step {i}"} for i in range(20000)]
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"nodes": nodes}))
    assert run_cli(["view", str(path), "-o", str(tmp_path / "chain.html")]) == 0
    data = view.page_data(view.load_view(path))
    assert data["nodes"][-1]["depth"] == 19999 and {n["slot"] for n in data["nodes"]} == {0.0}
