"""Self-consistency as a way to answer (consistency.py, `mctsr solve --method sc`): the majority of
independent answers, the same draws and vote as `mctsr eval --baseline sc`, stops between batches, bad input
refused before any model work; and end to end on the real default model."""

from __future__ import annotations

import json
import threading

import pytest

from mctsr_native import cli, cli_solve
from mctsr_native.answers import group_answers
from mctsr_native.baselines import Baselines
from mctsr_native.errors import InvalidConfigError
from mctsr_native.generation.base import GenerationRequest
from mctsr_native.consistency import SC_FORMAT, self_consistency
from mctsr_native.solve_config import SolveConfig

from solver_fakes import FakeBackend

PROBLEM = "Janet has 16 eggs, eats 3 and bakes 4. She sells the rest for $2 each. How much does she make?"


def numbered(request: GenerationRequest, i: int) -> str:
    """Answers whose final number follows the request's seed: 20 one time in three, else 18 (ten words)."""
    seed = request.params.seed or 0
    if request.kind == "answer":
        return f"one two three four five six\nThe answer is: {20 if seed % 3 == 0 else 18}"
    return "?"


def minority(request: GenerationRequest, i: int) -> str:
    """20 two times in three: the answer the `numbered` majority is not."""
    seed = request.params.seed or 0
    return f"one two three four five six\nThe answer is: {18 if seed % 3 == 0 else 20}"


def test_the_majority_of_independent_answers_is_returned() -> None:
    for reply, want in ((numbered, "18"), (minority, "20")):
        backend = FakeBackend(reply)
        r = self_consistency(PROBLEM, backend=backend, config=SolveConfig(seed=3), samples=12)
        answers = [s.answer for s in r.samples]
        assert len(answers) == 12 and r.stats["stop_reason"] == "samples"
        counts = {a: answers.count(a) for a in set(answers)}
        assert r.answer == want and r.votes == counts[want] > counts[{"18": "20", "20": "18"}[want]]
        assert r.chosen == answers.index(want) and r.text == r.samples[r.chosen].text
        assert [len(g) for g in r.groups] == sorted(counts.values(), reverse=True)
        sent = [q for call in backend.calls for q in call]  # only the answer prompt: no critique, no reward
        assert {q.kind for q in sent} == {"answer"} and len({q.params.seed for q in sent}) == 12
        assert r.stats["generated_tokens"] == sum(s.tokens for s in r.samples) == 12 * 10


def test_it_draws_and_votes_exactly_as_the_eval_baseline() -> None:
    config = SolveConfig(seed=11, temperature=0.5)
    ours = self_consistency(PROBLEM, backend=FakeBackend(numbered), config=config, samples=9)
    (method, _, theirs), = Baselines(PROBLEM, config, FakeBackend(numbered), seed=11).results(["sc"], {4: 0},
                                                                                                samples=9)
    assert method == "sc"
    assert [s.answer for s in ours.samples] == theirs["answers"] and ours.answer == theirs["answer"]


def test_a_tie_goes_to_the_answer_seen_first_and_none_votes_for_nothing() -> None:
    texts = iter(["The answer is: 7", "no answer here", "The answer is: 5", "The answer is: 5.0",
                  "The answer is: 7"])
    r = self_consistency(PROBLEM, backend=FakeBackend(lambda q, i: next(texts)), samples=5)
    assert (r.answer, r.votes, r.chosen) == ("7", 2, 0)  # 7 and 5 (= 5.0) tie at two: 7 came first
    assert r.stats["extracted"] == 4
    empty = self_consistency(PROBLEM, backend=FakeBackend(lambda q, i: "no idea"), samples=3)
    assert (empty.answer, empty.chosen, empty.groups, empty.votes) == (None, 0, [], 0)


def test_cancel_ctrl_c_and_budgets_stop_between_batches_keeping_the_answers_drawn() -> None:
    cancel = threading.Event()
    r = self_consistency(PROBLEM, backend=FakeBackend(numbered), samples=20, cancel=cancel,
                         progress=lambda p: cancel.set())
    assert (len(r.samples), r.stats["stop_reason"], r.answer) == (8, "cancelled", "18")

    class Interrupted(FakeBackend):
        def generate(self, requests):
            if self.calls:  # the second batch is interrupted in flight
                raise KeyboardInterrupt
            return super().generate(requests)

    r = self_consistency(PROBLEM, backend=Interrupted(numbered), samples=20)
    assert (len(r.samples), r.stats["stop_reason"], r.answer) == (8, "cancelled", "18")
    r = self_consistency(PROBLEM, backend=FakeBackend(numbered), config=SolveConfig(token_budget=1), samples=20)
    assert (len(r.samples), r.stats["stop_reason"]) == (8, "tokens")


def test_progress_reports_each_batch() -> None:
    seen = []
    self_consistency(PROBLEM, backend=FakeBackend(numbered), samples=19, progress=seen.append)
    assert [(p.drawn, p.of) for p in seen] == [(8, 19), (16, 19), (19, 19)]
    assert all(p.answer == "18" and p.votes > 0 for p in seen)


def test_progress_compares_each_pair_of_distinct_answers_once(monkeypatch) -> None:
    from mctsr_native import answers

    calls: list[tuple[str, str]] = []
    real = answers.equivalent
    monkeypatch.setattr(answers, "equivalent", lambda a, b: calls.append((a, b)) or real(a, b))
    distinct = lambda q, i: f"The answer is: $x^{{{(q.params.seed or 0) % 12}}}$"  # noqa: E731 — 12 answers, 64 draws
    seen = []
    r = self_consistency(PROBLEM, backend=FakeBackend(distinct), samples=64, progress=seen.append)
    k = len(r.groups)
    assert len(seen) == 8 and 8 <= k <= 12
    assert len(calls) == len(set(calls)) == k * (k - 1) // 2  # regrouping every batch would pay again each time


@pytest.mark.parametrize("samples", [0, -1, True, "8", 4097, 2.0])
def test_a_bad_sample_count_is_refused_before_any_model_work(samples) -> None:
    backend = FakeBackend(numbered)
    with pytest.raises(InvalidConfigError, match=r"samples must be an int in \[1, 4096\]"):
        self_consistency(PROBLEM, backend=backend, samples=samples)
    assert backend.calls == []


def test_the_record_is_strict_json_with_every_draw() -> None:
    r = self_consistency(PROBLEM, backend=FakeBackend(numbered), samples=4)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["format"] == SC_FORMAT and d["method"] == "sc" and d["answer"] == r.answer
    assert [s["text"] for s in d["samples"]] == [s.text for s in r.samples]
    assert sum(g["count"] for g in d["groups"]) == 4 and "rollouts" not in d["config"]


# ------------------------------------------------------------------------------------ mctsr solve --method sc


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend(numbered)
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    return backend


def test_solve_method_sc_prints_the_majority_and_writes_every_draw(fake, tmp_path, capsys) -> None:
    out = tmp_path / "sc.json"
    rc = cli.main(["solve", PROBLEM, "--method", "sc", "--samples", "6", "--seed", "2", "--json", str(out),
                   "--show-text"])
    stdout, stderr = capsys.readouterr()
    assert rc == 0 and fake.closed
    data = json.loads(out.read_text())
    assert stdout.startswith(f"answer: {data['answer']}\n")
    assert f"chosen by self-consistency: {data['votes']} of 6 answers give it" in stdout
    assert "stopped: samples (6 of 6 answers drawn)" in stdout and "--- chosen answer ---" in stdout
    assert "[mctsr] answers 6/6, majority so far" in stderr
    assert len(data["samples"]) == 6 and data["provenance"]["config"]["method"] == "sc"
    assert {q.kind for call in fake.calls for q in call} == {"answer"}


@pytest.mark.parametrize("argv, message", [
    (["--method", "sc", "--rollouts", "4"], "--rollouts does not apply to --method sc"),
    (["--method", "sc", "--reward-mode", "probability"], "--reward-mode does not apply to --method sc"),
    (["--method", "sc", "--exploration-c", "0.5"], "--exploration-c does not apply to --method sc"),
    (["--method", "sc", "--no-use-grammar"], "--no-use-grammar does not apply to --method sc"),
    (["--method", "sc", "--view", "t.html"], "--view draws the search tree"),
    (["--samples", "4"], "--samples applies to --method sc"),
])
def test_an_option_the_method_would_ignore_is_refused_by_name(fake, argv, message, capsys) -> None:
    rc = cli.main(["solve", PROBLEM, *argv])
    assert rc != 0 and message in capsys.readouterr().err
    assert fake.calls == []


@pytest.mark.parametrize("argv, flag", [(["--method", "vote"], "--method"),
                                        (["--method", "sc", "--samples", "0"], "--samples"),
                                        (["--method", "sc", "--samples", "many"], "--samples")])
def test_a_bad_method_or_sample_count_is_a_usage_error(fake, argv, flag, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["solve", PROBLEM, *argv])
    assert e.value.code == 2 and f"argument {flag}" in capsys.readouterr().err
    assert fake.calls == []


def test_the_options_it_reads_reach_the_answers(fake, capsys) -> None:
    assert cli.main(["solve", PROBLEM, "--method", "sc", "--samples", "2", "--temp", "0.3", "--top-p", "0.5",
                     "-n", "7", "--quiet"]) == 0
    params = [q.params for call in fake.calls for q in call]
    assert {(p.temperature, p.top_p, p.max_tokens) for p in params} == {(0.3, 0.5, 7)}


@pytest.mark.model
def test_solve_method_sc_on_the_real_default_model(tmp_path, capsys) -> None:
    out = tmp_path / "sc.json"
    argv = ["solve", PROBLEM, "--method", "sc", "--samples", "3", "-n", "24", "--seed", "5", "--quiet"]
    assert cli.main([*argv, "--json", str(out)]) == 0
    first = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert len(data["samples"]) == 3 and data["provenance"]["model"]["default"] is True
    assert data["stats"]["generated_tokens"] == sum(s["tokens"] for s in data["samples"]) > 0
    assert all(s["tokens"] <= 24 for s in data["samples"])
    groups = group_answers([s["answer"] for s in data["samples"]])  # the vote, recounted from the draws
    assert data["votes"] == max((len(g) for g in groups), default=0)
    assert first.startswith(f"answer: {data['answer'] if data['answer'] is not None else '(none extracted)'}\n")
    assert cli.main(argv) == 0  # seeded: the same draws again
    assert capsys.readouterr().out.splitlines()[0] == first.splitlines()[0]


def test_mctsr_view_says_a_self_consistency_result_has_no_tree(fake, tmp_path, capsys) -> None:
    out = tmp_path / "sc.json"
    assert cli.main(["solve", PROBLEM, "--method", "sc", "--samples", "2", "--quiet", "--json", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["view", str(out), "-o", str(tmp_path / "sc.html")]) == 2
    assert "a self-consistency result (`mctsr solve --method sc`) has no search tree" in capsys.readouterr().err
    assert not (tmp_path / "sc.html").exists()


def test_the_package_exports_the_function_even_after_its_module_is_imported() -> None:
    import mctsr_native
    import mctsr_native.consistency  # noqa: F401  (a submodule of the function's name would shadow it)

    assert mctsr_native.self_consistency is self_consistency


def test_a_config_file_shared_with_the_search_neither_refuses_nor_misfits_it(fake, tmp_path, capsys) -> None:
    # a file tuned for the search: its reward samples do not fit 4 sequences, and sc draws no reward
    config = tmp_path / "search.toml"
    config.write_text("[search]\nrollouts = 4\nreward_samples = 12\ntemperature = 0.4\n")
    argv = ["solve", PROBLEM, "--config", str(config), "--max-sequences", "4", "--quiet"]
    assert cli.main(argv) == 2 and "reward_samples=12" in capsys.readouterr().err  # the search: refused by name
    assert cli.main([*argv, "--method", "sc", "--samples", "3"]) == 0
    assert {q.params.temperature for call in fake.calls for q in call} == {0.4}  # what it reads, it uses


@pytest.mark.model
def test_ctrl_c_in_the_cli_prints_the_majority_of_the_answers_drawn(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "sc.json"
    cmd = [sys.executable, "-m", "mctsr_native.cli", "solve", PROBLEM, "--method", "sc", "--samples", "400", "-n",
           "16", "--json", str(out)]
    # SIGINT's default disposition in the child (a shell's background job starts with it ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stderr:  # after the first batch, press Ctrl-C
        if "[mctsr] answers 8/400" in line:
            proc.send_signal(signal.SIGINT)
            break
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "stopped: cancelled" in stdout
    data = json.loads(out.read_text())
    assert data["stats"]["stop_reason"] == "cancelled" and 8 <= len(data["samples"]) < 400
    assert stdout.startswith("answer: ") and data["stats"]["samples"] == len(data["samples"])


def test_a_device_as_the_json_path_is_refused_before_any_answer_is_drawn(fake, capsys) -> None:
    assert cli.main(["solve", PROBLEM, "--method", "sc", "--samples", "2", "--json", "/dev/null"]) == 2
    assert "--json /dev/null: it is a character device" in capsys.readouterr().err
    assert fake.calls == []
