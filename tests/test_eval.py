"""`mctsr eval` with an injected fake solver: records, resumption, mismatch, torn lines, errors, concurrency."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from mctsr_native.errors import BackendError, DataError, InvalidProblemError, RunMismatchError
from mctsr_native.evaluate import EvalConfig, problem_seed, run_eval, score_result
from mctsr_native.runfile import RunFile, read_run

PROBLEMS = [("p0", "What is 2 + 3?", "5"), ("p1", "What is 10 + 7?", "17"), ("p2", "What is 1 + 1?", "2"),
            ("p3", "What is 4 + 4?", "8")]


def write_data(tmp_path: Path, rows: list[tuple[str, str, str]] = PROBLEMS, name: str = "toy_test.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": i, "problem": p, "answer": a, "level": 1 + n % 2})
                            + "\n" for n, (i, p, a) in enumerate(rows)))
    return path


class FakeSolve:
    """Adds the two numbers of the problem: right at rollouts >= 1, off by one at rollouts 0 for p1; the
    tree holds a right answer for p1 even at rollouts 0 (pass@tree). Records every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, problem: str, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append({"problem": problem, **kwargs})
        a, b = (int(t.strip("?")) for t in problem.split() if t.strip("?").isdigit())
        right = a + b
        vote = right - 1 if (kwargs["rollouts"] == 0 and right == 17) else right
        nodes = [
            {"id": 0, "kind": "answer", "text": f"The answer is: {vote}", "answer": str(vote)},
            {"id": 1, "kind": "dummy", "text": "I don't know", "answer": None},
            {"id": 2, "kind": "answer", "text": f"so \\boxed{{{right}}}", "answer": None},
        ]
        return {
            "problem": problem, "answer": str(vote), "text": "", "node": 0, "selector": "vote",
            "selectors": {"vote": {"node": 0, "answer": str(vote), "support": 1.0},
                          "max_q": {"node": 0, "answer": str(vote), "q": float("nan")}},
            "nodes": nodes,
            "stats": {"rollouts": kwargs["rollouts"], "model_calls": 1 + 3 * kwargs["rollouts"],
                      "prompt_tokens": 100, "reused_tokens": 40, "generated_tokens": 50,
                      "model_seconds": 0.01, "wall_seconds": 0.01, "stop_reason": "rollouts"},
            "config": {"seed": kwargs["seed"]},
        }


def config(tmp_path: Path, data: Path, **kw: Any) -> EvalConfig:
    base = dict(data=data, out=tmp_path / "run.jsonl", rollouts=(0, 2), seed=0, model="toy.gguf",
                solve={"parallel": 1})
    base.update(kw)
    return EvalConfig(**base)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_records_and_header(tmp_path: Path) -> None:
    fake = FakeSolve()
    data = write_data(tmp_path)
    summary = run_eval(config(tmp_path, data), solve_fn=fake, progress=False, log=lambda m: None)
    assert (summary.planned, summary.written, summary.already_done, summary.errors) == (8, 8, 0, 0)
    header, *records = lines(tmp_path / "run.jsonl")
    assert header["type"] == "header" and header["config"]["seed"] == 0 and header["config"]["model"] == "toy.gguf"
    assert header["config"]["data"]["name"] == "toy"
    assert [(r["id"], r["rollouts"]) for r in records] == [(p, r) for p, _, _ in PROBLEMS for r in (0, 2)]
    p1_cot = next(r for r in records if r["id"] == "p1" and r["rollouts"] == 0)
    assert p1_cot["answer"] == "16" and not p1_cot["correct"] and not p1_cot["correct_max_q"]
    assert p1_cot["pass_at_tree"]  # node 2's \boxed{17}, extracted from its text
    assert all(r["correct"] for r in records if r != p1_cot)
    r0 = records[0]
    assert (r0["tokens_evaluated"], r0["tokens_reused"], r0["tokens_generated"]) == (100, 40, 50)
    assert r0["level"] == "1" and r0["dataset"] == "toy" and r0["seed"] == problem_seed(0, "p0")
    assert r0["tree"]["nodes"][0]["answer"] == "5" and "problem" not in r0["tree"]
    assert r0["tree"]["selectors"]["max_q"]["q"] is None  # NaN is not JSON: stored as null


def test_ground_truth_never_reaches_the_solver(tmp_path: Path) -> None:
    fake = FakeSolve()
    data = tmp_path / "secret.jsonl"
    data.write_text(json.dumps({"id": "s", "problem": "What is 2 + 2?", "answer": "4",
                                "solution": "SECRET-SOLUTION"}) + "\n")
    run_eval(config(tmp_path, data, rollouts=(1,)), solve_fn=fake, solve_kwargs={"config": "CFG"},
             progress=False, log=lambda m: None)
    (call,) = fake.calls
    assert call["problem"] == "What is 2 + 2?"
    assert set(call) == {"problem", "backend", "rollouts", "seed", "config"}
    assert "SECRET" not in json.dumps({k: str(v) for k, v in call.items()})


def test_resume_skips_done_pairs(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    first = FakeSolve()
    run_eval(config(tmp_path, data, limit=2), solve_fn=first, progress=False, log=lambda m: None)
    assert len(first.calls) == 4
    second = FakeSolve()
    summary = run_eval(config(tmp_path, data), solve_fn=second, progress=False, log=lambda m: None)
    assert (summary.already_done, summary.written) == (4, 4)
    assert {c["problem"] for c in second.calls} == {p for _, p, _ in PROBLEMS[2:]}
    third = FakeSolve()
    again = run_eval(config(tmp_path, data, rollouts=(0, 2, 4)), solve_fn=third, progress=False, log=lambda m: None)
    assert again.written == 4 and all(c["rollouts"] == 4 for c in third.calls)
    run = read_run(tmp_path / "run.jsonl")
    assert len(run.records) == len(run.keys()) == 12


@pytest.mark.parametrize(
    ("change", "named"),
    [({"seed": 1}, "seed: 0 in the file, 1 now"), ({"model": "other.gguf"}, "model"),
     ({"solve": {"parallel": 2}}, "solve.parallel"), ({"backend_options": {"n_ctx": 512}}, "n_ctx")],
)
def test_mismatched_configuration_is_refused_untouched(tmp_path: Path, change: dict, named: str) -> None:
    data = write_data(tmp_path)
    run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    before = (tmp_path / "run.jsonl").read_bytes()
    fake = FakeSolve()
    with pytest.raises(RunMismatchError, match=named.replace(".", r"\.")):
        run_eval(config(tmp_path, data, **change), solve_fn=fake, progress=False, log=lambda m: None)
    assert (tmp_path / "run.jsonl").read_bytes() == before and not fake.calls


def test_changed_data_file_is_refused(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    write_data(tmp_path, PROBLEMS[:3])
    with pytest.raises(RunMismatchError, match=r"data\.sha256"):
        run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)


def test_not_a_run_file_is_refused(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_text(data.read_text())
    before = other.read_bytes()
    with pytest.raises(RunMismatchError, match="not an mctsr eval run file"):
        run_eval(config(tmp_path, data, out=other), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert other.read_bytes() == before
    with pytest.raises(Exception, match="data file itself"):
        run_eval(config(tmp_path, data, out=data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)


@pytest.mark.parametrize("tail", [b'{"type": "result", "id": "p3", "roll', b'{"type": "res\n', b"\x00\x00\x00"])
def test_torn_last_line_is_dropped_and_redone(tmp_path: Path, tail: bytes) -> None:
    data = write_data(tmp_path)
    run_eval(config(tmp_path, data, limit=2), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    out = tmp_path / "run.jsonl"
    good = out.read_bytes()
    with open(out, "ab") as f:
        f.write(tail)
    assert len(read_run(out).records) == 4 and read_run(out).torn_bytes == len(tail)
    messages: list[str] = []
    summary = run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=messages.append)
    assert summary.repaired_bytes == len(tail) and summary.written == 4
    assert any("incomplete last line" in m for m in messages)
    text = out.read_bytes()
    assert text.startswith(good) and text.endswith(b"\n")
    run = read_run(out)
    assert len(run.records) == len(run.keys()) == 8 and run.torn_bytes == 0


def test_torn_header_restarts_the_file(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    out = tmp_path / "run.jsonl"
    out.write_bytes(b'{"type": "header", "form')
    run_eval(config(tmp_path, data, limit=1), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert len(read_run(out).records) == 2


def test_damaged_middle_line_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    run_eval(config(tmp_path, data, limit=2), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    out = tmp_path / "run.jsonl"
    rows = out.read_text().splitlines(keepends=True)
    rows[2] = "garbage\n"
    out.write_text("".join(rows))
    before = out.read_bytes()
    with pytest.raises(DataError, match=r"run\.jsonl:3: damaged run record"):
        run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert out.read_bytes() == before


def test_rejected_problem_is_recorded_as_an_error(tmp_path: Path) -> None:
    data = write_data(tmp_path)

    def solve(problem: str, **kw: Any) -> Any:
        if "10 + 7" in problem:
            raise InvalidProblemError("too long for the context")
        return FakeSolve()(problem, **kw)

    summary = run_eval(config(tmp_path, data), solve_fn=solve, progress=False, log=lambda m: None)
    assert summary.errors == 2 and summary.written == 8
    bad = [r for r in read_run(tmp_path / "run.jsonl").records if r["id"] == "p1"]
    assert all(r["error"].startswith("InvalidProblemError") and r["correct"] is False for r in bad)


def test_backend_failure_stops_the_run_and_keeps_records(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    fake = FakeSolve()

    def solve(problem: str, **kw: Any) -> Any:
        if "1 + 1" in problem:
            raise BackendError("server down")
        return fake(problem, **kw)

    with pytest.raises(BackendError):
        run_eval(config(tmp_path, data), solve_fn=solve, progress=False, log=lambda m: None)
    assert read_run(tmp_path / "run.jsonl").keys() == {(p, r, "mctsr") for p in ("p0", "p1") for r in (0, 2)}
    summary = run_eval(config(tmp_path, data), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert summary.written == 4


def test_cancelled_search_is_not_recorded(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    fake = FakeSolve()

    def solve(problem: str, **kw: Any) -> Any:
        result = fake(problem, **kw)
        if "1 + 1" in problem:
            result["stats"]["stop_reason"] = "cancelled"
        return result

    with pytest.raises(KeyboardInterrupt):
        run_eval(config(tmp_path, data), solve_fn=solve, progress=False, log=lambda m: None)
    assert len(read_run(tmp_path / "run.jsonl").records) == 4


class _Backend:
    supports_grammar = False
    thread_safe = False

    def __init__(self, name: str, thread_safe: bool | None = None) -> None:
        self.name = name
        if thread_safe is not None:
            self.thread_safe = thread_safe

    def close(self) -> None:
        pass


def test_concurrency_with_a_concurrent_backend(tmp_path: Path) -> None:
    data = write_data(tmp_path, [(f"q{i}", f"What is {i} + 1?", str(i + 1)) for i in range(12)])
    threads: set[str] = set()
    fake = FakeSolve()

    def solve(problem: str, **kw: Any) -> Any:
        threads.add(threading.current_thread().name)
        return fake(problem, **kw)

    run_eval(config(tmp_path, data, concurrency=4), backend=_Backend("http://a,http://b", thread_safe=True),
             solve_fn=solve,
             progress=False, log=lambda m: None)
    run = read_run(tmp_path / "run.jsonl")
    assert len(run.records) == len(run.keys()) == 24 and all(r["correct"] for r in run.records)
    assert all(t.startswith("mctsr-eval") for t in threads)


def test_concurrency_in_process_shares_one_engine(tmp_path: Path) -> None:
    from mctsr_native.generation.shared import SharedClient

    data = write_data(tmp_path)
    seen: list[tuple[str, type]] = []

    def solve(problem: str, *, backend: Any, **kw: Any) -> Any:
        seen.append((threading.current_thread().name, type(backend)))
        return FakeSolve()(problem, backend=backend, **kw)

    run_eval(config(tmp_path, data, concurrency=4), backend=_Backend("llama.cpp:x.gguf"), solve_fn=solve,
             progress=False, log=lambda m: None)
    assert len(seen) == 8 and all(t.startswith("mctsr-eval") and kind is SharedClient for t, kind in seen)


def test_trees_written_to_files(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    run_eval(config(tmp_path, data, trees_dir=tmp_path / "trees", limit=1), solve_fn=FakeSolve(),
             progress=False, log=lambda m: None)
    for r in read_run(tmp_path / "run.jsonl").records:
        assert "tree" not in r
        tree = json.loads((tmp_path / r["tree_path"]).read_text())
        assert tree["nodes"][0]["kind"] == "answer"


def test_output_options_are_not_identity_a_resume_may_change_them(tmp_path: Path) -> None:
    """--trees (and so --view) changes how trees are stored, not the results: resuming with or without it works,
    and a run file of an older version, whose header held `tree_storage` in its identity, still resumes."""
    from mctsr_native.view_eval import write_eval_views

    data = write_data(tmp_path)
    run_eval(config(tmp_path, data, limit=1), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    more = run_eval(config(tmp_path, data, limit=2, trees_dir=tmp_path / "trees"), solve_fn=FakeSolve(),
                    progress=False, log=lambda m: None)
    assert (more.already_done, more.written) == (2, 2)
    path = tmp_path / "run.jsonl"
    header, *records = lines(path)
    assert "tree_storage" not in header["config"]
    assert ["tree" in r for r in records] == [True, True, False, False]
    header["config"]["tree_storage"] = "inline"  # as older versions wrote it
    path.write_text("".join(json.dumps(x) + "\n" for x in (header, *records)))
    last = run_eval(config(tmp_path, data, limit=3), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert (last.already_done, last.written) == (4, 2)
    index = write_eval_views(path, tmp_path / "trees").read_text()
    assert index.count("<tr><td><a href=") == 6  # every record has its page, inline tree or tree file


def test_second_writer_is_refused(tmp_path: Path) -> None:
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": 0}}
    with RunFile(tmp_path / "run.jsonl", header):
        with pytest.raises(RunMismatchError, match="in use"):
            RunFile(tmp_path / "run.jsonl", header)
    with RunFile(tmp_path / "run.jsonl", header) as again:
        assert again.records == []


def test_score_result_ignores_dummy_and_falls_back_to_text() -> None:
    result = {"selectors": {"vote": {"answer": "3"}, "max_q": {"answer": "4"}},
              "nodes": [{"kind": "dummy", "answer": "7", "text": "7"},
                        {"kind": "answer", "answer": None, "text": "The answer is: 4"},
                        {"kind": "answer", "answer": "3", "text": ""}]}
    s = score_result(result, "4")
    assert (s["correct"], s["correct_max_q"], s["pass_at_tree"], s["distinct_answers"]) == (False, True, True, 2)
    assert not score_result(result, "7")["pass_at_tree"]
    assert score_result({}, "1")["answer"] is None


def test_bad_configuration(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    for bad in ({"rollouts": ()}, {"rollouts": (-1,)}, {"rollouts": (1, 1)}, {"concurrency": 0}):
        with pytest.raises(ValueError):
            run_eval(config(tmp_path, data, **bad), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    assert not (tmp_path / "run.jsonl").exists()


def test_concurrent_searches_share_one_backend_and_count_their_own_work(tmp_path: Path) -> None:
    """One backend for every search in flight (thread-safe: called directly); each record's accounting is its
    search's alone, equal to the same search run on its own."""
    from solver_fakes import FakeBackend

    data = write_data(tmp_path, [(f"q{i}", f"What is {i} + 1?", str(i + 1)) for i in range(6)])
    opened: list[FakeBackend] = []

    def open_backend() -> FakeBackend:
        b = FakeBackend()
        b.thread_safe = True  # type: ignore[attr-defined]
        opened.append(b)
        return b

    quiet = dict(progress=False, log=lambda m: None)
    # separate searches: each record is one whole search (anytime records are cumulative, tested apart)
    together = config(tmp_path, data, concurrency=3, out=tmp_path / "together.jsonl", schedule="separate")
    alone = config(tmp_path, data, concurrency=1, out=tmp_path / "alone.jsonl", schedule="separate")
    run_eval(together, open_backend_fn=open_backend, **quiet)
    assert len(opened) == 1 and opened[0].closed
    run_eval(alone, open_backend_fn=open_backend, **quiet)
    a, b = read_run(together.out).records, read_run(alone.out).records
    key = lambda r: (r["id"], r["rollouts"])  # noqa: E731
    fields = ("model_calls", "tokens_generated", "tokens_evaluated", "answer")
    assert [[r[f] for f in fields] for r in sorted(a, key=key)] == [[r[f] for f in fields] for r in sorted(b, key=key)]
    assert sum(r["tokens_generated"] for r in a) == opened[0].usage.generated_tokens


def _result(i: int) -> dict:
    return {"type": "result", "id": f"p{i}", "rollouts": 0, "correct": False, "tree": {"nodes": []}}


@pytest.mark.parametrize("how", ["older version", "removed"])
def test_a_run_file_replaced_mid_run_loses_no_record(tmp_path: Path, how: str) -> None:
    # git checkout of a committed run file, or rm: the run moves to the file now at the path and copies in
    # the records of its own that it lacks, instead of appending to a file that no longer has a name
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": 0}}
    path, said = tmp_path / "run.jsonl", []
    with RunFile(path, header, log=said.append) as run:
        run.append(_result(0))
        older = path.read_bytes()
        run.append(_result(1))
        if how == "removed":
            path.unlink()
        else:
            (tmp_path / "checkout").write_bytes(older)
            os.replace(tmp_path / "checkout", path)
        run.append(_result(2))
        run.append(_result(3))
        assert [r["id"] for r in run.records] == ["p0", "p1", "p2", "p3"]
    header_line, *records = lines(path)
    assert header_line["config"] == {"seed": 0}
    assert [r["id"] for r in records] == ["p0", "p1", "p2", "p3"] and all("tree" in r for r in records)
    assert any("was replaced" in m and ("with 2 records of" if how == "removed" else "with 1 record of") in m for m in said)
    with RunFile(path, header) as again:  # and the file is whole: it resumes
        assert len(again.records) == 4


@pytest.mark.parametrize("replacement", ["another run", "a device", "a folder", "one in use"])
def test_a_run_file_replaced_by_what_it_may_not_append_to_saves_the_records_and_stops(
        tmp_path: Path, replacement: str) -> None:
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": 0}}
    path = tmp_path / "run.jsonl"
    other = json.dumps({**header, "config": {"seed": 1}}) + "\n" + json.dumps(_result(9)) + "\n"
    with RunFile(path, header) as run:
        run.append(_result(0))
        path.unlink()
        if replacement == "another run":
            path.write_text(other)
        elif replacement == "a device":
            path.symlink_to("/dev/null")
        elif replacement == "a folder":
            path.mkdir()
        else:  # the same configuration, held by another running eval
            holder = RunFile(path, header)
        with pytest.raises(RunMismatchError, match="was replaced while this run was writing it") as e:
            run.append(_result(1))
        if replacement == "one in use":
            assert "in use" in str(e.value) and holder.records == []
            holder.close()
    saved = list(tmp_path.glob("run.jsonl.saved-*"))
    assert len(saved) == 1 and str(saved[0]) in str(e.value)
    assert [r["id"] for r in lines(saved[0])[1:]] == ["p0"]  # what the run wrote; the new record is not lost
    # either: the run stopped before it, and a resume from the saved file recomputes it
    if replacement == "another run":
        assert path.read_text() == other  # the other run's file is untouched
    elif replacement == "a device":
        assert path.is_symlink() and os.readlink(path) == "/dev/null"


def test_an_eval_whose_run_file_is_checked_out_from_under_it_finishes_whole(tmp_path: Path) -> None:
    # What `git stash` did to a measurement: the run file replaced by its committed version mid-run. Every
    # record must end up in the file at the path, once.
    data = write_data(tmp_path)
    out = tmp_path / "run.jsonl"
    run_eval(config(tmp_path, data, limit=1), solve_fn=FakeSolve(), progress=False, log=lambda m: None)
    committed = out.read_bytes()
    fake, said = FakeSolve(), []

    def solve(problem: str, **kwargs: Any) -> dict[str, Any]:
        if len(fake.calls) == 3:  # two records of this run are written by now
            (tmp_path / "checkout").write_bytes(committed)
            os.replace(tmp_path / "checkout", out)
        return fake(problem, **kwargs)

    summary = run_eval(config(tmp_path, data), solve_fn=solve, progress=False, log=said.append)
    assert (summary.already_done, summary.written) == (2, 6)
    header, *records = lines(out)
    assert sorted((r["id"], r["rollouts"]) for r in records) == sorted(
        (p, r) for p, _, _ in PROBLEMS for r in (0, 2))
    assert any("was replaced" in m for m in said)
