"""The probability reward mode (one forward pass per answer) and anytime evaluation (one search per problem,
recorded at each budget), on the scripted backend, plus one real run of the engine's probability hook."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from mctsr_native.cli_eval import solve_identity
from mctsr_native.errors import BackendError
from mctsr_native.evaluate import EvalConfig, run_eval
from mctsr_native.runfile import read_run
from mctsr_native.solver import SolveConfig, solve
from mctsr_native.tree import TreeConfig

sys.path.insert(0, str(Path(__file__).parent))
from solver_fakes import FakeBackend  # noqa: E402

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes 4. She sells the rest at $2. How many dollars?"


def p_of(request) -> float:
    """P(yes) that depends on the answer graded: 0.9 for an answer of 18, 0.2 otherwise."""
    return 0.9 if "is: 18" in request.messages[-1].content else 0.2


def test_probability_mode_reads_one_verdict_per_answer() -> None:
    backend = FakeBackend(verdict_p=p_of)
    result = solve(PROBLEM, backend=backend, rollouts=3, reward_mode="probability", reward_samples=3)
    kinds = [r.kind for call in backend.calls for r in call]
    # one forward pass per distinct answer text: a re-selected node, or a rewrite that repeats an answer word
    # for word, gets the value it already has (the verdict is deterministic) without a model call
    assert "reward" not in kinds and kinds.count("verdict") == len({n["text"] for n in result.nodes})
    for call in backend.calls:
        for r in call:
            if r.kind == "verdict":
                assert r.params.max_tokens == 1 and r.n == 1 and r.params.logprobs_of
    for node in result.nodes:
        want = 200 * (0.9 if "is: 18" in node["text"] else 0.2) - 100
        assert node["rewards_raw"] == [pytest.approx(want)] * node["visits"]
    # a node selected for refinement is visited again: N(a) grows, Q stays (UCT's exploration needs N)
    selected = [n for n in result.nodes if n["selections"]]
    assert selected and all(n["visits"] == 1 + n["selections"] for n in selected if n["kind"] == "answer")


def test_a_verdict_is_a_one_token_read_never_counted_as_cut() -> None:
    """The verdict asks for one token and always stops at it: that is the read, not a reply cut by its cap
    (a real run's report listed 115 'cut' verdicts beside 43 truly cut replies)."""
    backend = FakeBackend(verdict_p=p_of, finish_reason="length")
    result = solve(PROBLEM, backend=backend, rollouts=2, reward_mode="probability")
    assert result.stats["capped_replies"].keys() == {"answer", "critique", "refine"}
    assert result.stats["by_kind"]["verdict"] >= 3


def test_probability_mode_without_logprobs_says_what_to_do() -> None:
    with pytest.raises(BackendError, match="logprobs"):
        solve(PROBLEM, backend=FakeBackend(), rollouts=1, reward_mode="probability")


def _data(tmp_path: Path, n: int = 2) -> Path:
    path = tmp_path / "eggs.jsonl"
    path.write_text("".join(json.dumps({"id": f"e{i}", "problem": f"{PROBLEM} (farm {i})", "answer": "18"}) + "\n"
                            for i in range(n)))
    return path


def _eval(tmp_path: Path, name: str, schedule: str, config: SolveConfig, rollouts=(0, 1, 3)):
    backend = FakeBackend()
    cfg = EvalConfig(data=_data(tmp_path), out=tmp_path / name, rollouts=rollouts, model="fake",
                     solve=solve_identity(config), schedule=schedule)
    notes: list[str] = []
    run_eval(cfg, backend=backend, solve_kwargs={"config": config}, progress=False, log=notes.append)
    return read_run(tmp_path / name), backend, notes


@pytest.mark.parametrize("config", [SolveConfig(reward_samples=2), SolveConfig(reward_samples=2, fresh_every=2)],
                         ids=["paper", "fresh_every"])
def test_anytime_records_equal_separate_searches_at_the_cost_of_the_largest(tmp_path: Path, config) -> None:
    anytime, b_any, _ = _eval(tmp_path, "anytime.jsonl", "anytime", config)
    separate, b_sep, _ = _eval(tmp_path, "separate.jsonl", "separate", config)
    assert anytime.header["config"]["schedule"] == "anytime" and separate.header["config"]["schedule"] == "separate"
    a = {(r["id"], r["rollouts"]): r for r in anytime.records}
    s = {(r["id"], r["rollouts"]): r for r in separate.records}
    assert a.keys() == s.keys()
    for key, rec in a.items():  # the same answers, trees and (for the largest budget) cost as separate searches
        other = s[key]
        assert [rec[f] for f in ("answer", "answer_max_q", "correct", "pass_at_tree", "answer_nodes")] == \
               [other[f] for f in ("answer", "answer_max_q", "correct", "pass_at_tree", "answer_nodes")]
        strip = lambda t: [(n["text"], n["rewards_raw"]) for n in t["nodes"]]  # noqa: E731
        assert strip(rec["tree"]) == strip(other["tree"])
        if key[1] in (0, 3):
            assert rec["tokens_generated"] == other["tokens_generated"]
    for pid in ("e0", "e1"):  # cumulative cost along the one search
        assert a[(pid, 0)]["tokens_generated"] < a[(pid, 1)]["tokens_generated"] < a[(pid, 3)]["tokens_generated"]
    assert b_any.usage.generated_tokens < b_sep.usage.generated_tokens  # 3 rollouts, not 4, per problem


def test_a_run_file_from_before_an_option_existed_resumes_at_its_default(tmp_path: Path) -> None:
    _eval(tmp_path, "run.jsonl", "anytime", SolveConfig(reward_samples=2), rollouts=(0, 1))
    path = tmp_path / "run.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["config"]["solve"]["fresh_every"]  # as a file written before the option was added
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    run, _, notes = _eval(tmp_path, "run.jsonl", "anytime", SolveConfig(reward_samples=2), rollouts=(0, 1, 3))
    assert len(run.records) == 6 and any("resuming" in n for n in notes)
    from mctsr_native.errors import RunMismatchError

    before = path.read_bytes()
    with pytest.raises(RunMismatchError, match="fresh_every"):
        _eval(tmp_path, "run.jsonl", "anytime", SolveConfig(reward_samples=2, fresh_every=2), rollouts=(0, 1, 3))
    assert path.read_bytes() == before


def test_anytime_resumes_only_the_missing_budgets(tmp_path: Path) -> None:
    config = SolveConfig(reward_samples=2)
    _eval(tmp_path, "run.jsonl", "anytime", config, rollouts=(0, 1))
    run, _, notes = _eval(tmp_path, "run.jsonl", "anytime", config, rollouts=(0, 1, 3))
    assert sorted((r["id"], r["rollouts"]) for r in run.records) == [(f"e{i}", b) for i in range(2) for b in (0, 1, 3)]
    assert any("resuming" in n for n in notes)


def test_a_budget_dependent_rule_runs_separately_and_says_so(tmp_path: Path) -> None:
    tree = TreeConfig.paper()
    import dataclasses

    config = SolveConfig(reward_samples=1, tree=dataclasses.replace(tree, c_schedule="linear_decay"))
    run, _, notes = _eval(tmp_path, "run.jsonl", "anytime", config, rollouts=(1, 2))
    assert run.header["config"]["schedule"] == "separate"
    assert any("linear_decay" in n for n in notes)


def test_budget_zero_is_the_first_answer_before_any_reward() -> None:
    from mctsr_native.anytime import anytime_search

    backend = FakeBackend()
    out = anytime_search(PROBLEM, backend, (0, 2), seed=5, config=SolveConfig(reward_samples=2))
    zero = out[0][1]
    alone = solve(PROBLEM, backend=FakeBackend(), rollouts=0, seed=5).to_dict()
    assert zero["answer"] == alone["answer"] and zero["stats"]["generated_tokens"] == alone["stats"]["generated_tokens"]
    assert all(not n["rewards"] for n in zero["nodes"])


@pytest.mark.model
def test_engine_reports_verdict_token_probabilities() -> None:
    """The real engine's probability hook: finite log-probabilities of the verdict tokens, a proper P(yes),
    and a probability-mode search on the default model whose rewards are 200 P - 100."""
    from mctsr_native.generation import open_backend
    from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams
    from mctsr_native.rewards import VERDICT_TOKENS, verdict_probability

    with open_backend(None, seed=0) as backend:
        req = GenerationRequest(messages=(Message(role="user", content="Is 2 + 2 = 4 correct? Reply Yes or No."),),
                                params=SamplingParams(max_tokens=1, temperature=0.0, logprobs_of=VERDICT_TOKENS))
        c = backend.generate([req])[0].completions[0]
        assert len(c.candidate_logprobs) == len(VERDICT_TOKENS)
        assert all(v is not None and v <= 0 and math.isfinite(v) for v in c.candidate_logprobs)
        assert sum(math.exp(v) for v in set(c.candidate_logprobs)) <= 1.0 + 1e-6
        p = verdict_probability(c.candidate_logprobs)
        assert p is not None and 0.0 < p < 1.0
        plain = backend.generate([GenerationRequest(messages=req.messages, params=SamplingParams(max_tokens=1))])
        assert plain[0].completions[0].candidate_logprobs == ()
        r = solve(PROBLEM, backend=backend, rollouts=1, reward_mode="probability", answer_max_tokens=32,
                  critique_max_tokens=16, refine_max_tokens=32)
        for node in r.nodes:  # one value per answer, recorded again on each re-selection
            assert len(set(node["rewards_raw"])) == 1 and -100 <= node["rewards_raw"][0] <= 100
            assert node["reward_replies"][0].startswith("[P(correct)]")


def test_http_reads_verdict_logprobs_from_top_logprobs() -> None:
    """Over HTTP the probability mode asks for logprobs and reads the first position's top tokens; a server
    that returns none gives () so the solver's error names the fix."""
    from mctsr_native.generation.http import _candidate_logprobs

    choice = {"message": {"content": "Yes"}, "logprobs": {"content": [{"token": "Yes", "logprob": -0.2,
              "top_logprobs": [{"token": "Yes", "logprob": -0.2}, {"token": "No", "logprob": -1.9}]}]}}
    got = _candidate_logprobs(choice, ("Yes", " Yes", "No"))
    assert got == (-0.2, None, -1.9)
    assert _candidate_logprobs({"message": {"content": "Yes"}}, ("Yes",)) == ()


@pytest.mark.model
def test_anytime_eval_on_the_default_model(tmp_path: Path) -> None:
    """One real anytime run: budgets 0, 1 and 2 from one search per problem, cumulative cost, the tree of
    budget 1 a prefix of budget 2's, budget 0 the first answer unscored."""
    from mctsr_native.generation import open_backend

    config = SolveConfig(reward_samples=1, answer_max_tokens=32, critique_max_tokens=16, refine_max_tokens=32,
                         reward_max_tokens=24)
    data = _data(tmp_path, n=1)
    with open_backend(None, seed=0) as backend:
        run_eval(EvalConfig(data=data, out=tmp_path / "run.jsonl", rollouts=(0, 1, 2), solve=solve_identity(config)),
                 backend=backend, solve_kwargs={"config": config}, progress=False, log=lambda m: None)
    run = read_run(tmp_path / "run.jsonl")
    assert run.header["config"]["schedule"] == "anytime"
    r0, r1, r2 = sorted(run.records, key=lambda r: r["rollouts"])
    assert [r["rollouts_done"] for r in (r0, r1, r2)] == [0, 1, 2]
    assert r0["tokens_generated"] < r1["tokens_generated"] < r2["tokens_generated"]
    assert all(not n["rewards"] for n in r0["tree"]["nodes"])
    texts = lambda r: [n["text"] for n in r["tree"]["nodes"]]  # noqa: E731
    assert texts(r1) == texts(r2)[: len(texts(r1))] and set(texts(r0)) <= set(texts(r1))
