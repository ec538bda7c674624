"""The solver loop on a deterministic fake backend: shape, batching, stats, budgets, bad input."""

from __future__ import annotations

import dataclasses

import pytest
from solver_fakes import FakeBackend, default_reply

from mctsr_native.errors import (BackendError, ContextOverflowError, InvalidConfigError, InvalidProblemError,
                                 SolverStateError)
from mctsr_native.solver import SolveConfig, Solver, solve

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each. How much?"


def run(rollouts=4, backend=None, **kw):
    backend = backend or FakeBackend()
    return solve(PROBLEM, backend=backend, rollouts=rollouts, **kw), backend


def test_tree_shape_and_stats_match_the_backend():
    result, backend = run(rollouts=4)
    d = result.to_dict()
    assert set(d) >= {"problem", "answer", "text", "node", "selector", "selectors", "nodes", "stats", "config"}
    assert len(d["nodes"]) == 2 + 4
    kinds = [n["kind"] for n in d["nodes"]]
    assert kinds.count("dummy") == 1
    ids = {n["id"] for n in d["nodes"]}
    for n in d["nodes"]:
        assert n["parent"] is None or n["parent"] in ids
        assert n["visits"] == len(n["rewards_raw"]) >= 1
        assert set(n) >= {"id", "parent", "kind", "text", "critique", "answer", "rewards_raw", "rewards", "q_own",
                          "q", "visits", "uct", "depth"}
        if n["critique"] is not None:
            assert n["parent"] is not None
    s, u = d["stats"], backend.usage
    assert s["rollouts"] == 4 and s["stop_reason"] == "rollouts"
    assert (s["model_calls"], s["prompt_tokens"], s["generated_tokens"]) == (u.calls, u.prompt_tokens,
                                                                             u.generated_tokens)
    assert s["model_calls"] == len(backend.calls)
    assert result.answer in ("18", "20") and d["text"]
    assert d["selectors"]["vote"]["node"] is not None and d["selectors"]["max_q"]["node"] is not None


def test_each_step_is_three_batched_calls():
    result, backend = run(rollouts=4, parallel=2, reward_samples=3, reselect_samples=1)
    shapes = [[(r.kind, r.n) for r in call] for call in backend.calls]
    assert shapes[0] == [("answer", 1)]
    assert shapes[1] == [("reward", 3), ("reward", 3)]  # first answer and dummy in one batch
    for step in (shapes[2:5], shapes[5:8]):
        assert step[0] == [("critique", 1)] * 2 and step[1] == [("refine", 1)] * 2
        assert step[2] == [("reward", 3), ("reward", 3), ("reward", 1), ("reward", 1)]  # children + parents
    assert len(shapes) == 8 and result.stats["steps"] == 3


def test_refine_prompt_holds_the_answer_and_its_critique():
    _, backend = run(rollouts=1)
    critique_req, refine_req = backend.calls[2][0], backend.calls[3][0]
    text = refine_req.messages[-1].content
    assert PROBLEM in text and "The answer never checks the subtraction." in text
    answered = critique_req.messages[-1].content.split("Answer:\n")[1].split("\n\n")[0]
    assert answered in text


def test_zero_rollouts_is_the_zero_shot_answer_alone():
    result, backend = run(rollouts=0)
    assert [[r.kind for r in c] for c in backend.calls] == [["answer"]]  # no reward is paid for
    assert result.answer == "18" and len(result.nodes) == 2 and result.stats["rollouts"] == 0
    assert result.selectors["max_q"]["answer"] == "18"
    assert all(n["visits"] == 0 for n in result.nodes)


def test_zero_rollouts_can_still_be_scored():
    result, backend = run(rollouts=0, score_zero_shot=True)
    assert [[r.kind for r in c] for c in backend.calls] == [["answer"], ["reward", "reward"]]
    assert result.answer == "18" and all(n["visits"] > 0 for n in result.nodes)


def test_same_seed_same_search_and_every_request_gets_its_own_seed():
    a, b1 = run(rollouts=3, seed=5)
    b, _ = run(rollouts=3, seed=5)
    assert a.nodes == b.nodes and a.selectors == b.selectors
    seeds = [r.params.seed for call in b1.calls for r in call]
    assert None not in seeds and len(set(seeds)) == len(seeds)
    c, _ = run(rollouts=3, seed=6)
    assert c.nodes != a.nodes


@pytest.mark.parametrize("problem", ["", "   \n\t", None])
def test_empty_problem_is_refused(problem):
    with pytest.raises(InvalidProblemError):
        solve(problem, backend=FakeBackend())


@pytest.mark.parametrize(
    "kw", [{"rollouts": -1}, {"parallel": 0}, {"reward_samples": 0}, {"selector": "best"}, {"rules": "mine"},
           {"max_seconds": 0}, {"reward_max_tokens": 4}, {"answer": "18"}, {"fresh_every": -1},
           {"fresh_every": True}]
)
def test_bad_options_are_refused_before_any_model_call(kw):
    backend = FakeBackend()
    with pytest.raises(InvalidConfigError):
        solve(PROBLEM, backend=backend, **kw)
    assert backend.calls == []


def test_ground_truth_cannot_be_passed_in():
    with pytest.raises(InvalidConfigError, match="unknown"):
        solve(PROBLEM, backend=FakeBackend(), ground_truth="18")


def test_a_model_that_returns_nothing_gives_a_documented_fallback():
    result, backend = run(rollouts=2, backend=FakeBackend(lambda r, i: ""), reward_retries=1)
    s = result.stats
    assert result.answer is None and s["stop_reason"] == "rollouts"
    assert s["reward_fallbacks"] == 4 and s["empty_replies"] > 0  # 2 roots + 2 children
    assert all(n["rewards_raw"] == [0.0] for n in result.nodes if n["kind"] == "answer")
    assert result.selectors["vote"]["node"] is None and result.node == result.selectors["max_q"]["node"]


def test_a_backend_whose_every_sequence_fails_is_a_clear_error():
    with pytest.raises(BackendError, match="every sequence failed"):
        run(backend=FakeBackend(finish_reason="error"))


def test_replies_without_a_score_are_retried_then_dropped():
    def reply(r, i):
        return "no score here" if r.kind == "reward" and i == 0 else default_reply(r, i)

    result, backend = run(rollouts=2, backend=FakeBackend(reply), reward_retries=2)
    assert result.stats["reward_unparsed"] > 0 and result.stats["reward_fallbacks"] == 0


def test_ctrl_c_returns_the_best_answer_so_far():
    class Interrupting(FakeBackend):
        def generate(self, requests):
            if len(self.calls) == 5:
                raise KeyboardInterrupt
            return super().generate(requests)

    result, backend = run(rollouts=8, backend=Interrupting())
    assert result.stats["stop_reason"] == "cancelled"
    assert result.answer == "18" and len(result.nodes) == 3  # roots + the first step's child
    assert not any(n.get("pending") for n in result.tree["nodes"])


def test_patience_stops_when_the_best_q_stalls():
    flat = FakeBackend(lambda r, i: "[Score] 50" if r.kind == "reward" else default_reply(r, i))
    result, _ = run(rollouts=8, backend=flat, patience=2)
    assert result.stats["stop_reason"] == "patience" and result.stats["rollouts"] == 2


def test_agreement_stops_when_every_answer_agrees():
    same = FakeBackend(lambda r, i: "The answer is: 18" if r.kind in ("answer", "refine") else default_reply(r, i))
    result, _ = run(rollouts=8, backend=same, stop_on_agreement=True, agreement_min=3)
    assert result.stats["stop_reason"] == "agreement" and result.stats["rollouts"] == 2


def test_token_and_time_budgets():
    r1, _ = run(rollouts=50, token_budget=1)
    assert r1.stats["stop_reason"] == "tokens" and r1.stats["rollouts"] == 0
    r2, _ = run(rollouts=50, max_seconds=1e-9)
    assert r2.stats["stop_reason"] == "time"


def test_progress_reports_each_step():
    seen = []
    run(rollouts=4, parallel=2, progress=seen.append)
    assert [r.step for r in seen] == [0, 1, 2]
    assert [r.rollouts for r in seen] == [0, 2, 4]
    assert all(r.best_answer in ("18", "20") and r.best_q is not None for r in seen)


def test_grammar_only_when_the_backend_supports_it():
    _, plain = run(rollouts=1)
    _, constrained = run(rollouts=1, backend=FakeBackend(supports_grammar=True))
    assert all(r.params.grammar is None for c in plain.calls for r in c)
    rewards = [r for c in constrained.calls for r in c if r.kind == "reward"]
    assert rewards and all("[Score]" in r.params.grammar for r in rewards)
    assert all(r.params.grammar is None for c in constrained.calls for r in c if r.kind != "reward")


def test_step_api():
    backend = FakeBackend()
    solver = Solver(PROBLEM, backend, SolveConfig(rollouts=2))
    first = solver.initialize()
    assert first.step == 0 and len(first.children) == 2 and solver.stop_reason() is None
    rec = solver.step()
    assert rec.selected and len(rec.children) == 1
    assert solver.tree.parent(rec.children[0]) == rec.selected[0]
    solver.step()
    assert solver.stop_reason() == "rollouts"
    assert solver.result().stats["rollouts"] == 2
    with pytest.raises(SolverStateError, match="already"):
        solver.initialize()


def test_fresh_every_n_th_rollout_is_a_new_answer_under_the_dummy():
    result, backend = run(rollouts=5, fresh_every=2, reward_samples=1, reselect_samples=1)
    d = result.to_dict()
    dummy = next(n for n in d["nodes"] if n["kind"] == "dummy")
    by_step = sorted((n for n in d["nodes"] if n["kind"] == "answer" and n["step"] >= 1), key=lambda n: n["id"])
    assert len(by_step) == 5 and d["stats"]["rollouts"] == 5
    fresh = [i for i, n in enumerate(by_step, 1) if n["critique"] is None]
    assert fresh == [2, 4]  # rollouts 2 and 4, by their number
    assert all(by_step[i - 1]["parent"] == dummy["id"] for i in fresh)
    shapes = [[(r.kind, r.n) for r in call] for call in backend.calls]
    # a fresh rollout is one answer request (no critique) and its reward; the dummy draws no re-selection sample
    assert shapes[2:4] == [[("critique", 1)], [("refine", 1)]]
    assert shapes[5:7] == [[("answer", 1)], [("reward", 1)]]
    answers = [r.params.seed for call in backend.calls for r in call if r.kind == "answer"]
    assert len(answers) == 3 and len(set(answers)) == 3  # each fresh answer is its own sample


@pytest.mark.parametrize("parallel", [2, 3])
def test_fresh_answers_share_a_parallel_step_with_refinements(parallel):
    result, backend = run(rollouts=6, parallel=parallel, fresh_every=2, reward_samples=1)
    d = result.to_dict()
    dummy = next(n["id"] for n in d["nodes"] if n["kind"] == "dummy")
    fresh = [n for n in d["nodes"] if n["step"] >= 1 and n["critique"] is None]
    assert len(fresh) == 3 and {n["parent"] for n in fresh} == {dummy} and d["stats"]["rollouts"] == 6
    steps = [call for call in backend.calls if any(r.kind == "refine" for r in call)]
    for call in steps:  # fresh answers ride in the refine batch
        kinds = [r.kind for r in call]
        assert kinds == sorted(kinds, key=lambda k: k != "refine")


def test_fresh_rollouts_depend_on_the_rollout_number_alone():
    solver = Solver(PROBLEM, FakeBackend(), SolveConfig(rollouts=12, fresh_every=3))
    for width in (1, 2, 4, 5):
        counts, done = [], 0
        while done < 12:
            w = min(width, 12 - done)
            counts.append(solver.fresh_rollouts(done, w))
            done += w
        assert sum(counts) == 4  # rollouts 3, 6, 9 and 12, however the steps cut them
    assert Solver(PROBLEM, FakeBackend(), SolveConfig(rollouts=4)).fresh_rollouts(0, 4) == 0


def test_only_fresh_answers_when_every_rollout_is_fresh():
    result, backend = run(rollouts=3, fresh_every=1, reward_samples=1)
    d = result.to_dict()
    dummy = next(n["id"] for n in d["nodes"] if n["kind"] == "dummy")
    assert [n["parent"] for n in d["nodes"] if n["step"] >= 1] == [dummy] * 3
    assert not any(r.kind in ("critique", "refine") for call in backend.calls for r in call)


def test_steps_out_of_order_and_bad_arguments_are_typed_errors():
    fresh = Solver(PROBLEM, FakeBackend(), SolveConfig(rollouts=2))
    with pytest.raises(SolverStateError, match="initialize"):
        fresh.step()
    with pytest.raises(SolverStateError, match="initialize"):
        fresh.result()
    with pytest.raises(InvalidProblemError, match="int"):
        Solver(123, FakeBackend())  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="Backend"):
        Solver(PROBLEM, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="SolveConfig"):
        Solver(PROBLEM, FakeBackend(), {"rollouts": 2})  # type: ignore[arg-type]


def test_a_problem_longer_than_the_context_is_a_clear_error():
    with pytest.raises(ContextOverflowError, match="n-ctx"):
        solve("How many? " * 2000, backend=FakeBackend(context_size=1024))


def test_long_answers_are_shortened_and_counted():
    wordy = FakeBackend(lambda r, i: ("blah " * 900 + "The answer is: 18") if r.kind in ("answer", "refine")
                        else default_reply(r, i), context_size=1400)
    result, _ = run(rollouts=2, backend=wordy, answer_max_tokens=1000, refine_max_tokens=1000)
    assert result.stats["prompts_shortened"] > 0


def test_config_records_the_tree_rules_and_backend_is_left_open():
    result, backend = run(rollouts=1, rules="reference")
    assert result.config["rules"] == "reference" and result.config["tree"]["rollout_budget"] == 1
    assert not backend.closed
    cfg = SolveConfig(rollouts=3)
    assert dataclasses.replace(cfg, parallel=2).parallel == 2


def test_ctrl_c_before_any_answer_returns_an_empty_result():
    class Interrupted(FakeBackend):
        def generate(self, requests):
            raise KeyboardInterrupt

    result, _ = run(rollouts=3, backend=Interrupted())
    assert result.stats["stop_reason"] == "cancelled" and result.answer is None and result.node is None
    assert result.nodes == [] and result.text == ""


def test_stats_count_only_this_search_on_a_shared_backend():
    backend = FakeBackend()
    a, b = (Solver(PROBLEM, backend, SolveConfig(rollouts=2)) for _ in range(2))
    a.initialize()
    b.initialize()
    a.step()
    b.step()
    a.step()
    ra, rb = a.result(), b.result()
    assert ra.stats["model_calls"] == 2 + 3 * 2 and rb.stats["model_calls"] == 2 + 3
    assert ra.stats["model_calls"] + rb.stats["model_calls"] == backend.usage.calls
    assert ra.stats["generated_tokens"] + rb.stats["generated_tokens"] == backend.usage.generated_tokens


def test_each_refined_node_keeps_its_uct_at_selection():
    result = solve(PROBLEM, backend=FakeBackend(), rollouts=4, parallel=2)
    for n in result.nodes:
        if n["children"] and n["kind"] == "answer":
            assert isinstance(n["uct_at_selection"], float)
        elif not n["children"]:
            assert n["uct_at_selection"] is None  # never selected
