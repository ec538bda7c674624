"""End to end on the real default model (SmolLM2-135M-Instruct Q4_1): a few rollouts on a GSM8K problem.

Small caps keep the whole file quick on 2 CPU cores. The model is weak, so these tests check the machinery
(tree shape, accounting, extraction or its documented fallback, honesty), not that the answer is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mctsr_native.generation.base import BackendWrapper
from mctsr_native.solver import SolveConfig, solve

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[1] / "data" / "gsm8k_test.jsonl"
CAPS = dict(answer_max_tokens=64, critique_max_tokens=48, refine_max_tokens=64, reward_max_tokens=24, reward_samples=2)


def gsm8k(index: int = 0) -> dict:
    with DATA.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == index:
                return json.loads(line)
    raise IndexError(index)


class Spy(BackendWrapper):
    """Passes calls through to a backend and keeps every request, so a test can read what the model saw."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.requests = []

    def generate(self, requests):
        self.requests.extend(requests)
        return self.inner.generate(requests)

    def close(self) -> None:
        pass  # the module's backend outlives each test's spy


@pytest.fixture(scope="module")
def backend():
    from mctsr_native.generation import open_backend

    b = open_backend(None, n_ctx=2048, seed=0)
    yield b
    b.close()


@pytest.mark.parametrize("parallel, rollouts", [(1, 1), (2, 2)])
def test_a_short_search_on_gsm8k(backend, parallel, rollouts):
    record = gsm8k(0)
    spy = Spy(backend)
    before = backend.usage.copy()
    result = solve(record["problem"], backend=spy, rollouts=rollouts, parallel=parallel, seed=1, **CAPS)
    spent = backend.usage.minus(before)
    d = result.to_dict()

    # tree shape: two initial nodes plus one per rollout, every child under an existing node
    assert len(d["nodes"]) == 2 + rollouts and d["stats"]["rollouts"] == rollouts
    assert sum(n["kind"] == "dummy" for n in d["nodes"]) == 1
    ids = {n["id"] for n in d["nodes"]}
    children = [n for n in d["nodes"] if n["critique"] is not None]
    assert len(children) == rollouts and all(n["parent"] in ids and n["depth"] >= 1 for n in children)
    assert all(n["visits"] >= 1 and all(-100 <= r <= 100 for r in n["rewards_raw"]) for n in d["nodes"])
    assert d["stats"]["steps"] == 2  # the initialization, then one step of width `parallel`

    # stats are the backend's own accounting of this search
    s = d["stats"]
    assert s["model_calls"] == spent.calls and s["generated_tokens"] == spent.generated_tokens
    assert s["prompt_tokens"] == spent.prompt_tokens and s["reused_tokens"] == spent.reused_tokens
    assert s["reused_tokens"] > 0  # the shared problem prefix is served from the KV cache
    assert 0 < s["model_seconds"] <= s["wall_seconds"]
    assert all(r.params.max_tokens <= 64 for r in spy.requests)

    # the answer: extracted, or the documented fallback (no extractable answer anywhere -> None, max_q node)
    if result.answer is None:
        assert all(n["answer"] is None for n in d["nodes"]) and result.node == d["selectors"]["max_q"]["node"]
    else:
        assert result.answer == next(n["answer"] for n in d["nodes"] if n["id"] == result.node)

    # honesty: the ground truth and the worked solution never reach the model
    prompts = "\n".join(m.content for r in spy.requests for m in r.messages)
    assert record["solution"].splitlines()[0] not in prompts and "####" not in prompts and "<<" not in prompts


def test_a_fresh_rollout_on_the_real_model_is_a_new_sample_under_the_dummy(backend):
    spy = Spy(backend)
    result = solve(gsm8k(1)["problem"], backend=spy, rollouts=2, parallel=2, fresh_every=2, seed=3, **CAPS)
    d = result.to_dict()
    dummy = next(n for n in d["nodes"] if n["kind"] == "dummy")
    fresh = [n for n in d["nodes"] if n["kind"] == "answer" and n["step"] == 1 and n["critique"] is None]
    assert len(fresh) == 1 and fresh[0]["parent"] == dummy["id"] and fresh[0]["rewards_raw"]
    answers = [r for r in spy.requests if r.kind == "answer"]
    assert len(answers) == 2 and answers[0].messages == answers[1].messages  # the same prompt, drawn again
    assert answers[0].params.seed != answers[1].params.seed
    assert sum(r.kind == "refine" for r in spy.requests) == 1 and d["stats"]["rollouts"] == 2


def test_zero_shot_on_the_real_model_is_scored_only_when_asked(backend):
    plain = solve(gsm8k(1)["problem"], backend=backend, config=SolveConfig(rollouts=0, seed=2, **CAPS))
    assert len(plain.nodes) == 2 and plain.stats["stop_reason"] == "rollouts"
    assert all(n["visits"] == 0 for n in plain.nodes)
    first = next(n for n in plain.nodes if n["kind"] == "answer")  # the dummy root comes first under the paper
    assert plain.node == first["id"] and plain.text == first["text"]
    scored = solve(gsm8k(1)["problem"], backend=backend,
                   config=SolveConfig(rollouts=0, seed=2, score_zero_shot=True, **CAPS))
    assert all(n["visits"] == 2 for n in scored.nodes)
    assert scored.stats["generated_tokens"] > plain.stats["generated_tokens"]


def test_ctrl_c_in_the_cli_prints_the_best_answer_so_far(tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "mctsr_native.cli", "solve", gsm8k(2)["problem"], "--rollouts", "50",
           "--max-tokens", "48", "--reward-max-tokens", "16", "--reward-samples", "1", "--json", str(out)]
    # Ctrl-C's default disposition in the child: a shell's background job (`cmd &`, nohup) starts with SIGINT
    # ignored, the child would inherit that, and Ctrl-C would then rightly do nothing (the search ran to the end)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stderr:  # wait for the first scored answers, then press Ctrl-C
        if "[mctsr] initialized" in line:
            proc.send_signal(signal.SIGINT)
            break
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert stdout.startswith("answer: ") and "stopped: cancelled" in stdout
    data = json.loads(out.read_text())
    assert data["stats"]["stop_reason"] == "cancelled" and len(data["nodes"]) >= 2
    assert not any(n["pending"] for n in data["tree"]["nodes"])
