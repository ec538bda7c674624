"""MCTSr, the search loop (arXiv 2406.07394, Algorithm 1): initialize, then repeat select -> self-refine
(critique, rewrite) -> self-evaluate (reward samples) -> back-propagate until the budget ends.

Selection, Q and back-propagation live in the C++ tree (`Tree`); this module only drives it and calls the
model between the tree's steps, batching each phase across the P candidates of a step:

    step:  parents = tree.select_batch(P)                         (C++, distinct, marked pending)
           critiques = model([critique(p) for p in parents])      (one generate call)
           answers   = model([refine(p, c) for ...])              (one generate call)
           rewards   = model([k x reward(a) for a in answers] + [r x reward(p) for p in parents])  (one call)
           tree.add_child / record_rewards / backpropagate        (C++)

A rollout is one refinement (one new child), so a step of width P counts P rollouts, as `Tree.add_child` does.
Ground truth never enters this module. The final answer comes from `selectors.py` (vote [default] or max_q).

Stop reasons: "rollouts" (budget spent), "patience" (the best own Q of an answer has not improved for
`patience` rollouts), "agreement" (every answer node's extracted answer is equivalent, with at least
`agreement_min` of them), "time" / "tokens" (budget, checked between steps: a started step completes),
"exhausted" (no candidate left to select), "cancelled" (KeyboardInterrupt: the best answer so far is returned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .generation.base import Backend, GenerationRequest, GenerationResult, SamplingParams, Usage
from .prompts import AnswerKind, CallKind, fit_prompt
from .rewards import RewardJob, RewardOutcome, reason_chars_for, sample_rewards, score_grammar
from .selectors import Choice, NodeView, select_max_q, select_vote
from .solve_config import Selector, SolveConfig
from .tree import Tree

__all__ = ["SolveConfig", "Solver", "SolveResult", "Rollout", "solve"]


@dataclass(frozen=True)
class Rollout:
    """What one step did (step 0 is the initialization), as passed to the progress callback."""

    step: int  # 0 = initialization
    selected: tuple[int, ...]  # parents refined in this step
    children: tuple[int, ...]  # nodes created in this step
    rollouts: int  # rollouts done so far (refinements)
    best_node: int | None  # the current choice of the configured selector
    best_answer: str | None
    best_q: float | None  # best own Q over answer nodes
    seconds: float  # wall seconds of this step


@dataclass
class _NodeText:
    kind: str  # "answer" | "dummy"
    text: str
    critique: str | None  # the critique that produced this answer (None for roots and the first answer)
    answer: str | None  # extracted final answer (None for the dummy or when none could be extracted)
    step: int
    reward_replies: list[str] = field(default_factory=list)


@dataclass
class SolveResult:
    """The answer, the whole tree and the accounting of one search. `to_dict()` is the documented shape."""

    problem: str
    answer: str | None
    text: str
    node: int | None
    selector: Selector
    selectors: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]]
    stats: dict[str, Any]
    config: dict[str, Any]
    tree: dict[str, Any]  # Tree.to_dict(): the C++ tree's own view (config + arrays)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "answer": self.answer,
            "text": self.text,
            "node": self.node,
            "selector": self.selector,
            "selectors": self.selectors,
            "nodes": self.nodes,
            "stats": self.stats,
            "config": self.config,
        }


def _finite(x: Any) -> Any:
    """JSON-safe number: inf / nan become None."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


@contextlib.contextmanager
def _defer_interrupt():
    """Hold Ctrl-C until the block ends, so a tree update is never left half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught:
            if callable(old):
                old(signal.SIGINT, caught[0])
            else:
                raise KeyboardInterrupt


class Solver:
    """The step-level API: `initialize()`, then `step()` until `stop_reason()` says why to stop, then
    `result()`. `run()` does exactly that. The lower-level pieces (`initial_answer`, `critique`, `refine`,
    `score`, `generate`) are public so a user can drive their own loop against `solver.tree`."""

    def __init__(self, problem: str, backend: Backend, config: SolveConfig | None = None) -> None:
        from .answers import answer_kind
        from .errors import InvalidProblemError

        if not isinstance(problem, str) or not problem.strip():
            raise InvalidProblemError("the problem is empty: give the text of a math problem")
        self.config = config if config is not None else SolveConfig()
        self.config.validate()
        self.problem = problem.strip()
        self.backend = backend
        self.answer_kind: AnswerKind = (
            answer_kind(self.problem) if self.config.answer_kind == "auto" else self.config.answer_kind
        )
        self.tree = Tree(self.config.tree_config())
        self.texts: dict[int, _NodeText] = {}  # node id -> its texts; the numbers live in the tree
        self.steps = 0  # steps done, initialization included
        self.counters = {"reward_unparsed": 0, "reward_dropped": 0, "reward_fallbacks": 0,
                         "prompts_shortened": 0, "empty_replies": 0, "error_replies": 0}
        self._requests = 0
        self._usage = Usage()  # the model work of this search, counted from its own calls
        self._t0 = time.perf_counter()
        self._best_q: float | None = None
        self._best_at = 0  # rollouts done when the best Q last improved
        self._cancelled = False

    # ------------------------------------------------------------------------------------ model calls

    def params(self, call: CallKind) -> SamplingParams:
        """Sampling parameters of one call kind (seed filled in per request by `generate`)."""
        c = self.config
        if call == "reward":
            grammar = None
            if c.use_grammar and getattr(self.backend, "supports_grammar", False):
                grammar = score_grammar(reason_chars_for(c.reward_max_tokens))
            return SamplingParams(max_tokens=c.reward_max_tokens, temperature=c.reward_temperature,
                                  top_p=c.top_p, grammar=grammar)
        caps = {"answer": c.answer_max_tokens, "critique": c.critique_max_tokens, "refine": c.refine_max_tokens}
        cap = caps[call]
        return SamplingParams(max_tokens=cap, temperature=c.temperature, top_p=c.top_p)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One backend call: seeds each request from (config.seed, request index), checks the reply shape,
        turns errored sequences into empty replies (counted) and raises BackendError if all of them failed."""
        from .errors import BackendError

        seeded = []
        for r in requests:
            if r.params.seed is None:
                seed = (self.config.seed * 1_000_003 + self._requests) % 2**31
                r = dataclasses.replace(r, params=dataclasses.replace(r.params, seed=seed))
            self._requests += 1
            seeded.append(r)
        before, t = self.backend.usage.copy(), time.perf_counter()
        results = self.backend.generate(seeded)
        self._account(seeded, results, time.perf_counter() - t, self.backend.usage.minus(before).decode_seconds)
        if len(results) != len(seeded) or any(len(res.completions) != r.n for res, r in zip(results, seeded)):
            raise BackendError(f"{self.backend.name}: the backend returned the wrong number of completions")
        completions = [c for res in results for c in res.completions]
        errors = [c for c in completions if c.finish_reason == "error"]
        if errors and len(errors) == len(completions):
            raise BackendError(f"{self.backend.name}: every sequence failed: {errors[0].error or 'no message'}")
        self.counters["error_replies"] += len(errors)
        self.counters["empty_replies"] += sum(1 for c in completions if not c.text.strip())
        if errors:
            results = [dataclasses.replace(res, completions=tuple(
                dataclasses.replace(c, text="") if c.finish_reason == "error" else c for c in res.completions))
                for res in results]
        return results

    def _account(self, requests: Sequence[GenerationRequest], results: Sequence[GenerationResult],
                 seconds: float, decode_seconds: float) -> None:
        """Count one call's work from its own results, so a backend shared with other searches (threads of
        `mctsr eval`) does not leak their work into this search's stats; decode seconds come from the backend's
        running total, which is exact only when it serves this search alone."""
        u = self._usage
        u.calls += 1
        u.wall_seconds += seconds
        u.decode_seconds += decode_seconds
        for r, res in zip(requests, results):
            u.count(r, res)

    def prompt(self, call: CallKind, answer: str = "", critique: str = "") -> GenerationRequest:
        """The request of one call, shortened to fit the context if needed (prompts.fit_prompt)."""
        params = self.params(call)
        fitted = fit_prompt(self.backend, self.config.prompts, call, self.problem, answer=answer,
                            critique=critique, answer_kind=self.answer_kind, max_tokens=params.max_tokens)
        if fitted.omitted:
            self.counters["prompts_shortened"] += 1
        return GenerationRequest(messages=fitted.messages, params=params, kind=call)

    def initial_answer(self) -> str:
        """The zero-shot chain-of-thought answer."""
        return self.generate([self.prompt("answer")])[0].texts[0]

    def critique(self, nodes: Sequence[int]) -> list[str]:
        """A strict critique of each node's answer, in one batch."""
        return [r.texts[0] for r in self.generate([self.prompt("critique", self.texts[n].text) for n in nodes])]

    def refine(self, nodes: Sequence[int], critiques: Sequence[str]) -> list[str]:
        """A rewrite of each node's answer that follows its critique, in one batch."""
        reqs = [self.prompt("refine", self.texts[n].text, c) for n, c in zip(nodes, critiques)]
        return [r.texts[0] for r in self.generate(reqs)]

    def score(
        self, answers: Sequence[str], samples: Sequence[int], fallback_ok: Sequence[bool]
    ) -> list[RewardOutcome]:
        """`samples[i]` reward samples of `answers[i]`, all in one call (plus bounded retries); `fallback_ok[i]`
        False for an answer that already has rewards (a repeat sample needs no fallback)."""
        jobs = [RewardJob(self.prompt("reward", text).messages, n, ok)
                for text, n, ok in zip(answers, samples, fallback_ok)]
        outcomes = sample_rewards(self.generate, jobs, self.params("reward"),
                                  retries=self.config.reward_retries, fallback=self.config.fallback_reward)
        for o in outcomes:
            self.counters["reward_unparsed"] += o.unparsed
            self.counters["reward_dropped"] += o.dropped
            self.counters["reward_fallbacks"] += int(o.fallback)
        return outcomes

    # ------------------------------------------------------------------------------------------ steps

    def initialize(self) -> Rollout:
        """The first answer and the dummy answer, both scored in one reward batch, placed per `tree.init`."""
        from .answers import extract_answer
        from .errors import InvalidConfigError

        if len(self.tree):
            raise InvalidConfigError("initialize() was already called")
        t = time.perf_counter()
        text = self.initial_answer()
        dummy = self.config.prompts.dummy_answer
        k = self.config.reward_samples
        if self.zero_shot_unscored:  # zero-shot CoT costs the answer alone, as the baseline it is
            outcomes = [RewardOutcome(), RewardOutcome()]
        else:
            outcomes = self.score([text, dummy], [k, k], [True, True])
        with _defer_interrupt():
            answer_node, dummy_node = self.tree.initialize()
            self.texts[answer_node] = _NodeText("answer", text, None, extract_answer(text), 0, outcomes[0].replies)
            self.texts[dummy_node] = _NodeText("dummy", dummy, None, None, 0, outcomes[1].replies)
            for node, o in ((answer_node, outcomes[0]), (dummy_node, outcomes[1])):
                if o.rewards:
                    self.tree.record_rewards(node, o.rewards)
            for node in (answer_node, dummy_node):
                self.tree.backpropagate(node)
        self.steps = 1
        self._note_best()
        return self._record((), (answer_node, dummy_node), t)

    def step(self) -> Rollout | None:
        """One step of width min(P, rollouts left): select, critique, refine, score, back-propagate.
        Returns None when no candidate can be selected."""
        from .answers import extract_answer

        width = max(1, min(self.config.parallel, self.config.rollouts - self.tree.rollouts()))
        t = time.perf_counter()
        parents = list(self.tree.select_batch(width))
        if not parents:
            return None
        try:
            critiques = self.critique(parents)
            refined = self.refine(parents, critiques)
            r = self.config.reselect_samples
            texts = refined + ([self.texts[p].text for p in parents] if r else [])
            samples = [self.config.reward_samples] * len(refined) + ([r] * len(parents) if r else [])
            outcomes = self.score(texts, samples, [True] * len(refined) + [False] * (len(parents) if r else 0))
        except BaseException:
            for p in parents:
                self.tree.cancel(p)
            raise
        children = []
        with _defer_interrupt():
            for p, crit, text, o in zip(parents, critiques, refined, outcomes):
                child = self.tree.add_child(p)
                self.texts[child] = _NodeText("answer", text, crit, extract_answer(text), self.steps, o.replies)
                self.tree.record_rewards(child, o.rewards)
                children.append(child)
            for p, o in zip(parents, outcomes[len(refined):]):
                self.texts[p].reward_replies.extend(o.replies)
                if o.rewards:
                    self.tree.record_rewards(p, o.rewards)
            for node in children:
                self.tree.backpropagate(node)
        self.steps += 1
        self._note_best()
        return self._record(tuple(parents), tuple(children), t)

    def _note_best(self) -> None:
        best = self.best_q()
        if best is not None and (self._best_q is None or best > self._best_q + 1e-9):
            self._best_q, self._best_at = best, self.tree.rollouts()

    def best_q(self) -> float | None:
        """The best own Q among answer (non-dummy) nodes."""
        node = self.tree.best(by="own")
        return None if node is None else self.tree.own_q(node)

    def _record(self, selected: tuple[int, ...], children: tuple[int, ...], t: float) -> Rollout:
        node, answer = self._choice()
        return Rollout(self.steps - 1, selected, children, self.tree.rollouts(), node, answer, self.best_q(),
                       time.perf_counter() - t)

    def usage(self) -> Usage:
        """Model work done by this search (calls, tokens from its own results, seconds inside generate)."""
        return self._usage.copy()

    def stop_reason(self) -> str | None:
        """Why the search should stop now, or None to go on (module doc lists the reasons)."""
        from .answers import group_answers

        c = self.config
        done = self.tree.rollouts()
        if self._cancelled:
            return "cancelled"
        if done >= c.rollouts:
            return "rollouts"
        if c.patience and done - self._best_at >= c.patience:
            return "patience"
        if c.stop_on_agreement:
            answers = [t.answer for t in self.texts.values() if t.kind == "answer"]
            if len(answers) >= c.agreement_min and None not in answers and len(group_answers(answers)) == 1:
                return "agreement"
        if c.max_seconds is not None and time.perf_counter() - self._t0 >= c.max_seconds:
            return "time"
        if c.token_budget is not None:
            u = self.usage()
            if u.prompt_tokens + u.generated_tokens >= c.token_budget:
                return "tokens"
        return None

    def run(self, progress: Callable[[Rollout], None] | None = None) -> SolveResult:
        """Initialize (if not yet), step until a stop reason, and return the result. Ctrl-C stops the search
        and returns the best answer so far (stop_reason "cancelled")."""
        reason = None
        try:
            if not len(self.tree):
                rec = self.initialize()
                if progress:
                    progress(rec)
            while (reason := self.stop_reason()) is None:
                rec = self.step()
                if rec is None:
                    reason = "exhausted"
                    break
                if progress:
                    progress(rec)
        except KeyboardInterrupt:
            self._cancelled = True
            reason = "cancelled"
        return self.result(reason or "rollouts")

    # ----------------------------------------------------------------------------------------- result

    @property
    def zero_shot_unscored(self) -> bool:
        """Rollouts 0 without `score_zero_shot`: the first answer is the result, no reward is drawn."""
        return self.config.rollouts == 0 and not self.config.score_zero_shot

    def views(self) -> list[NodeView]:
        """Every scored node as the selectors see it: id, kind, extracted answer, own Q (an unscored
        zero-shot answer counts with Q 0: it is the only candidate)."""
        unscored = self.zero_shot_unscored
        return [NodeView(n, t.kind, t.answer, self.tree.own_q(n) if self.tree.visits(n) else 0.0)
                for n, t in self.texts.items() if self.tree.visits(n) > 0 or unscored]

    def selections(self) -> tuple[Choice, Choice, Choice]:
        """(vote, max_q, chosen): both selectors' picks and the configured one's (vote falls back to max_q
        when no answer node has an extractable answer)."""
        views = self.views()
        vote, best = select_vote(views), select_max_q(views)
        chosen = vote if self.config.selector == "vote" and vote.node is not None else best
        return vote, best, chosen

    def _choice(self) -> tuple[int | None, str | None]:
        chosen = self.selections()[2]
        return chosen.node, chosen.answer

    def _node_dict(self, n: dict[str, Any]) -> dict[str, Any]:
        """One node of the result: the tree's numbers and this solver's texts."""
        t = self.texts.get(n["id"])
        return {
            "id": n["id"], "parent": n["parent"], "kind": n["kind"],
            "text": t.text if t else "", "critique": t.critique if t else None, "answer": t.answer if t else None,
            "rewards_raw": n["rewards_raw"], "rewards": n["rewards"], "q_own": _finite(n["q_own"]),
            "q": _finite(n["q"]), "visits": n["visits"], "uct": _finite(n["uct"]), "depth": n["depth"],
            "children": n["children"], "step": t.step if t else None,
            "reward_replies": t.reward_replies if t else [],
        }

    def result(self, stop_reason: str = "rollouts") -> SolveResult:
        """The answer chosen by the configured selector, both selectors' choices, every node and the stats."""
        vote, best, chosen = self.selections()
        tree = self.tree.to_dict()
        nodes = [self._node_dict(n) for n in tree["nodes"]]
        u = self.usage()
        stats = {
            "rollouts": self.tree.rollouts(), "steps": self.steps, "model_calls": u.calls,
            "requests": u.requests, "sequences": u.sequences,
            "prompt_tokens": u.prompt_tokens, "reused_tokens": u.reused_tokens,
            "generated_tokens": u.generated_tokens, "model_seconds": u.wall_seconds,
            "decode_seconds": u.decode_seconds, "wall_seconds": time.perf_counter() - self._t0,
            "stop_reason": stop_reason, "answer_kind": self.answer_kind, "by_kind": dict(u.by_kind),
            **self.counters,
        }
        return SolveResult(
            problem=self.problem,
            answer=chosen.answer,
            text=self.texts[chosen.node].text if chosen.node is not None else "",
            node=chosen.node,
            selector=self.config.selector,
            selectors={
                "vote": {"node": vote.node, "answer": vote.answer, "support": vote.score, "groups": vote.groups},
                "max_q": {"node": best.node, "answer": best.answer, "q": _finite(best.score)},
            },
            nodes=nodes,
            stats=stats,
            config=self.config.to_dict(),
            tree=tree,
        )


def solve(
    problem: str,
    *,
    model: str | None = None,
    backend: Backend | None = None,
    rollouts: int | None = None,
    parallel: int | None = None,
    seed: int | None = None,
    config: SolveConfig | None = None,
    progress: Callable[[Rollout], None] | None = None,
    backend_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> SolveResult:
    """Solve one problem with MCTSr and return the honest best answer (ground truth is never an input).

    `config` (default `SolveConfig()`: 8 rollouts, P = 1, seed 0) is the base; `rollouts`, `parallel`, `seed`
    and any other SolveConfig field given as a keyword override it. The model is `backend` if given (left
    open), else `open_backend(model, seed=seed, **backend_options)` on the default model (closed at the end).
    """
    from .errors import InvalidConfigError, InvalidProblemError

    if not isinstance(problem, str) or not problem.strip():
        raise InvalidProblemError("the problem is empty: give the text of a math problem")
    given = {k: v for k, v in (("rollouts", rollouts), ("parallel", parallel), ("seed", seed)) if v is not None}
    given.update(overrides)
    base = config if config is not None else SolveConfig()
    try:
        cfg = dataclasses.replace(base, **given)
    except TypeError as e:
        raise InvalidConfigError(f"unknown solve option: {e}") from None
    cfg.validate()
    own = backend is None
    if own:
        from .generation import open_backend

        backend = open_backend(model, **{"seed": cfg.seed, **(backend_options or {})})
    try:
        return Solver(problem, backend, cfg).run(progress)
    finally:
        if own:
            backend.close()
