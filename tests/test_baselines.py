"""Baselines at equal compute (baselines.py) on the scripted fake model: the answers are drawn from the search's
answer prompt until they hold the search's tokens, self-consistency votes, best-of-N picks by the search's
reward, and `mctsr eval --baseline` records them paired with the search, resumably."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mctsr_native.baselines import Baselines, Sample, baseline_seed, check_baselines
from mctsr_native.errors import InvalidConfigError
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.generation.base import GenerationRequest
from mctsr_native.solve_config import SolveConfig

from solver_fakes import FakeBackend

PROBLEM = "Janet has 16 eggs, eats 3 and bakes 4. She sells the rest for $2 each. How much does she make?"


def numbered(request: GenerationRequest, i: int) -> str:
    """Answers whose final number follows the seed: 18 two times in three, else 20 (ten words each)."""
    seed = request.params.seed or 0
    if request.kind == "answer":
        return f"one two three four five six\nThe answer is: {20 if seed % 3 == 0 else 18}"
    if request.kind == "reward":
        return f"Fine.\n[Score] {(seed * 7 + i * 13) % 150 - 40}"
    return "?"


def test_baseline_names_are_checked_and_normalised() -> None:
    assert check_baselines(["sc", "best-of-n", "SC"]) == ("sc", "best_of_n")
    with pytest.raises(InvalidConfigError, match="unknown baseline 'majority': choose from sc, best-of-n"):
        check_baselines(["majority"])


def test_answers_are_drawn_until_they_hold_the_search_tokens() -> None:
    backend = FakeBackend(numbered)
    draws = Baselines(PROBLEM, SolveConfig(), backend, seed=7)
    results = {(m, b): r for m, b, r in draws.results(["sc"], {0: 10, 4: 55, 8: 100})}
    # each answer is 10 tokens: 1 fits in 10, 5 in 55, 10 in 100; never more than the search spent
    assert [len(results["sc", b]["samples"]) for b in (0, 4, 8)] == [1, 5, 10]
    assert [results["sc", b]["tokens_generated"] for b in (0, 4, 8)] == [10, 50, 100]
    assert all(r["tokens_generated"] <= r["tokens_target"] for r in results.values())
    # the budgets share one stream: a smaller budget's answers are a prefix of a larger one's
    assert results["sc", 8]["answers"][:5] == results["sc", 4]["answers"]
    # only the answer prompt was sent, with distinct seeds derived from the problem's seed, not the search's
    sent = [r for call in backend.calls for r in call]
    assert {r.kind for r in sent} == {"answer"}
    assert len({r.params.seed for r in sent}) == len(sent) == 10
    assert baseline_seed(7) != 7


def test_self_consistency_takes_the_majority_and_at_least_one_answer() -> None:
    s = [Sample("", a, 10, "stop") for a in ("20", "18", "18.0", None, "20", "18")]
    assert Baselines.choose("sc", s).answer == "18"  # 18 and 18.0 are one group of three
    assert Baselines.choose("sc", s[:2]).answer == "20"  # a tie goes to the group seen first
    assert Baselines.choose("sc", [Sample("", None, 5, "length")]).answer is None
    draws = Baselines(PROBLEM, SolveConfig(), FakeBackend(numbered), seed=1)
    (_, _, r), = draws.results(["sc"], {4: 3})  # a target below one answer's tokens still gets one answer
    assert len(r["samples"]) == 1 and r["tokens_generated"] == 10


def test_best_of_n_counts_its_reward_tokens_and_picks_the_highest_q() -> None:
    backend = FakeBackend(numbered)
    draws = Baselines(PROBLEM, SolveConfig(reward_samples=2), backend, seed=3)
    results = {(m, b): r for m, b, r in draws.results(["sc", "best_of_n"], {8: 60})}
    best = results["best_of_n", 8]
    # an answer costs 10 tokens and its two reward replies 3 tokens each: 16 a scored answer, so 3 fit in 60
    assert [s["tokens"] + s["reward_tokens"] for s in best["samples"]] == [16, 16, 16]
    assert best["tokens_generated"] == 48 <= 60
    assert len(results["sc", 8]["samples"]) == 6
    top = max(best["samples"], key=lambda s: s["q"])
    assert best["answer"] == top["answer"]
    # the rewards came from the search's own reward prompt (the sampled mode: k replies each)
    reward_requests = [r for call in backend.calls for r in call if r.kind == "reward"]
    assert reward_requests and all(r.n == 2 for r in reward_requests)


def test_best_of_n_uses_the_probability_reward_when_the_search_does() -> None:
    backend = FakeBackend(numbered, verdict_p=lambda r: 0.9 if "is: 20" in r.messages[-1].content else 0.2)
    draws = Baselines(PROBLEM, SolveConfig(reward_mode="probability"), backend, seed=3)
    (_, _, best), = draws.results(["best_of_n"], {4: 200})
    assert best["answer"] == "20"  # the verdict prefers 20, though 18 is the majority
    assert {r.kind for call in backend.calls for r in call} == {"answer", "verdict"}


def test_a_stated_number_of_samples_replaces_the_token_target() -> None:
    draws = Baselines(PROBLEM, SolveConfig(), FakeBackend(numbered), seed=2)
    results = draws.results(["sc", "best_of_n"], {0: 1, 8: 1000}, samples=3)
    assert all(len(r["samples"]) == 3 and r["tokens_target"] is None for _, _, r in results)


def _data(tmp_path: Path, n: int = 2) -> Path:
    path = tmp_path / "data.jsonl"
    rows = [{"id": f"p{i}", "problem": f"{PROBLEM} ({i})", "answer": "18"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_eval_records_baselines_beside_the_search_and_resumes_them(tmp_path: Path) -> None:
    data, out = _data(tmp_path), tmp_path / "run.jsonl"
    backend = FakeBackend(numbered)
    config = EvalConfig(data=data, out=out, rollouts=(0, 2), solve={"reward_samples": 1},
                        baselines=("sc", "best-of-n"))
    summary = run_eval(config, backend=backend, solve_kwargs={"config": SolveConfig(reward_samples=1)},
                       progress=False)
    assert summary.written == 2 * 2 * 3
    records = _records(out)
    search = {(r["id"], r["rollouts"]): r for r in records if "method" not in r}
    for r in records:
        if r.get("method") in ("sc", "best_of_n"):
            target = search[r["id"], r["rollouts"]]["tokens_generated"]
            assert r["tokens_target"] == target and r["tokens_generated"] <= max(target, r["samples"][0]["tokens"]
                                                                                 + r["samples"][0].get("reward_tokens", 0))
            assert r["correct"] == (r["answer"] == "18")
    # resuming does nothing; adding a baseline to a finished run computes it alone, from the search's records
    again = run_eval(config, backend=backend, solve_kwargs={"config": SolveConfig(reward_samples=1)}, progress=False)
    assert again.written == 0
    only_sc = EvalConfig(data=data, out=out, rollouts=(0, 2), solve={"reward_samples": 1}, baselines=("sc",))
    assert run_eval(only_sc, backend=backend, solve_kwargs={"config": SolveConfig(reward_samples=1)},
                    progress=False).written == 0
    out.write_text("\n".join(out.read_text().splitlines()[: 1 + 4 + 2]) + "\n")  # header, 4 searches, 2 baselines
    calls_before = len(backend.calls)
    resumed = run_eval(config, backend=backend, solve_kwargs={"config": SolveConfig(reward_samples=1)},
                       progress=False)
    assert resumed.written == 6
    sent = [r for call in backend.calls[calls_before:] for r in call]
    assert {r.kind for r in sent} <= {"answer", "reward"}  # no search was run again


def test_a_bad_baseline_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="unknown baseline"):
        EvalConfig(data=_data(tmp_path), out=tmp_path / "o.jsonl", baselines=("vote",)).validate()
    with pytest.raises(InvalidConfigError, match="baseline samples"):
        EvalConfig(data=_data(tmp_path), out=tmp_path / "o.jsonl", baseline_samples=0).validate()


def test_the_report_shows_no_max_q_for_a_baseline(tmp_path: Path) -> None:
    """A baseline has one answer per budget and no tree: its max-Q cell is "-", not 0% of its problems."""
    from mctsr_native.report import build_table, format_table, load_runs

    data, out = _data(tmp_path), tmp_path / "run.jsonl"
    config = EvalConfig(data=data, out=out, rollouts=(0, 2), solve={"reward_samples": 1}, baselines=("sc",))
    run_eval(config, backend=FakeBackend(numbered), solve_kwargs={"config": SolveConfig(reward_samples=1)},
             progress=False)
    table = build_table(load_runs([out]))
    sc = next(row for row in table.rows if row.label.endswith("· sc"))
    search = next(row for row in table.rows if "·" not in row.label)
    assert all(c.count("correct_max_q") == 0 and c.rate("correct_max_q") != c.rate("correct_max_q")  # NaN
               for c in sc.cells.values())
    assert all(c.count("correct_max_q") == c.n == 2 for c in search.cells.values())
    line = next(line for line in format_table(table).splitlines() if "· sc" in line)
    assert line.split()[6:9] == ["/", "-", "/"], line  # label, n, vote (lo-hi) / - / tree
