"""`mctsr eval`: run the solver over a benchmark at several rollout budgets and record, per problem and
budget, the chosen answer, its correctness, pass@tree and the cost.

Honesty. The solver sees only the problem text (`Problem.problem`); ground truth is read after `solve`
returns, to score: `correct` (the vote selector's answer, ours), `correct_max_q` (the paper's highest-Q
node) and `pass_at_tree` (any answer node of the tree is right: what the reference implementation reports,
which is not pass@1). Rollouts 0 is zero-shot chain of thought (the solver's first answer only).

Schedule (`EvalConfig.schedule`, recorded in the header's config): "anytime" (default) runs one search per
problem to the largest budget and records its state at each smaller one (`anytime.py`: budgets paired, cost
of the largest only); "separate" runs one search per (problem, budget), as a rule that depends on the budget
(c_schedule="linear_decay") or `score_zero_shot` requires (the run then says so and records "separate"), and
as an injected `solve_fn` does.

Resumable and crash-safe: see `runfile.py`. Work goes problem by problem, each problem at every rollout
budget in increasing order; a re-run skips the (id, rollouts) pairs already recorded (an anytime search
whose smaller budgets are already recorded runs again to the largest missing one and appends only those).
Each problem's seed is derived from the run seed and the problem id, so a resumed run matches an
uninterrupted one.

Scale-out: `concurrency` problems are solved at once in a thread pool, sharing one backend through
`generation.client.BackendShare`: HTTP backends (vLLM, SGLang, llama-server fleets) are thread-safe and
called directly, so the servers spread the load; the in-process llama.cpp engine is not, so the searches
reach it through one `SharedBackend`, which merges their model calls into one batch (P problems in flight
decode together as the P candidates of one search do). Each search counts its own work from its own
results. Scoring and writing happen on the main thread only.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import hashlib
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import __version__
from .answers import answer_key, equivalent
from .anytime import anytime_search, why_separate
from .baselines import Baselines, check_baselines
from .data import Problem, dataset_name, load_problems
from .errors import ContextOverflowError, InvalidConfigError, InvalidProblemError
from .generation import is_server, open_backend
from .generation.client import BackendShare
from .eval_progress import EvalProgress
from .provenance import installed_version, model_identity
from .record import json_safe, node_answer
from .runfile import FORMAT, RunFile, atomic_write_text, check_tree_names, check_writable, tree_file_name
from .safe_io import open_regular
from .solve_config import SolveConfig
from .solver import solve
from .wording import plural

__all__ = ["EvalConfig", "EvalSummary", "run_eval", "score_result", "problem_seed", "SolveFn"]

SolveFn = Callable[..., Any]  # solve(problem_text, *, backend, rollouts, seed, **solve_kwargs) -> SolveResult | dict


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """What an evaluation runs. Fields marked (identity) must match the run file's header on resume."""

    data: Path  # JSONL problems (identity: its name and sha256, not its path)
    out: Path  # the run file (JSONL) to create or resume
    rollouts: tuple[int, ...] = (0, 1, 4, 8)  # rollout budgets to run per problem (0 = zero-shot CoT)
    limit: int | None = None  # only the first N problems of the file
    seed: int = 0  # (identity) run seed; each problem's seed derives from it and the problem id
    model: str | None = None  # (identity, by content or URL) GGUF path or server URL(s); None = default model
    solve: Mapping[str, Any] = field(default_factory=dict)  # (identity) solver options as recorded (JSON)
    backend_options: Mapping[str, Any] = field(default_factory=dict)  # open_backend options (n_ctx is identity)
    concurrency: int = 1  # problems in flight at once (HTTP backends only)
    trees_dir: Path | None = None  # write each tree to a JSON file here instead of inline in the record
    schedule: str = "anytime"  # (identity) "anytime": one search per problem; "separate": one per budget
    baselines: tuple[str, ...] = ()  # "sc", "best_of_n": independent answers at the search's tokens (baselines.py)
    baseline_samples: int | None = None  # a stated number of baseline answers instead of the search's tokens

    def validate(self) -> None:
        if not self.rollouts:
            raise InvalidConfigError("give at least one rollouts setting, e.g. --rollouts 0,1,4,8")
        if any((not isinstance(r, int)) or isinstance(r, bool) or not 0 <= r <= 2**31 - 1 for r in self.rollouts):
            raise InvalidConfigError(f"rollouts must be integers in [0, {2**31 - 1}], got {list(self.rollouts)!r:.80}")
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= 2**32 - 1):
            raise InvalidConfigError(f"seed must be an integer in [0, {2**32 - 1}], got {self.seed!r:.60}")
        if len(set(self.rollouts)) != len(self.rollouts):
            raise InvalidConfigError(f"rollouts settings repeat: {list(self.rollouts)}")
        if self.limit is not None and self.limit < 1:
            raise InvalidConfigError(f"limit must be >= 1, got {self.limit}")
        if self.concurrency < 1:
            raise InvalidConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        object.__setattr__(self, "baselines", check_baselines(self.baselines))
        if self.baseline_samples is not None and not (
                isinstance(self.baseline_samples, int) and 1 <= self.baseline_samples <= 4096):
            raise InvalidConfigError(f"baseline samples must be an integer in [1, 4096], got {self.baseline_samples!r}")
        if self.schedule not in ("anytime", "separate"):
            raise InvalidConfigError(f"schedule must be 'anytime' or 'separate', got {self.schedule!r}")
        if Path(self.out).resolve() == Path(self.data).resolve():
            raise InvalidConfigError("--out is the data file itself; give a new file for the run's records")
        if self.trees_dir is not None:  # records name their trees relative to the run's folder, never outside it
            folder = Path(os.path.abspath(self.out)).parent
            ref = os.path.relpath(os.path.abspath(self.trees_dir), folder)
            if ref == os.pardir or ref.startswith(os.pardir + os.sep):
                raise InvalidConfigError(
                    f"--trees {self.trees_dir} is outside {folder}, the folder of --out {self.out}: tree files are "
                    f"kept beside their run (give a folder inside {folder}, e.g. {folder / 'trees'})")


@dataclass
class EvalSummary:
    """What one `run_eval` call did."""

    path: Path
    planned: int  # (problem, rollouts) pairs asked for
    already_done: int  # of those, found in the run file
    written: int  # records appended by this call
    errors: int  # of those, problems the solver rejected (recorded with "error")
    repaired_bytes: int  # torn tail cut from the run file before appending
    seconds: float


def problem_seed(run_seed: int, problem_id: str) -> int:
    """A stable per-problem seed (independent of order, limit and resumption)."""
    return zlib.crc32(f"{run_seed}:{problem_id}".encode()) & 0x7FFFFFFF


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:  # load_problems has read it as a regular file; still never a FIFO here
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _iso_now() -> str:
    """ISO-8601 UTC (headers written before this held a Unix float; readers take either)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def effective_schedule(config: EvalConfig, solve_config: Any, solve_fn: Any) -> tuple[str, str | None]:
    """The schedule the run uses and, when it differs from the one asked, why."""
    if config.schedule == "separate":
        return "separate", None
    if solve_fn is not None:
        return "separate", "a custom solve function runs one search per budget"
    why = why_separate(solve_config) if solve_config is not None else None
    return ("separate", why) if why else ("anytime", None)


def identity_defaults() -> dict[str, Any]:
    """What a search option absent from an older run file stood for: the default it had when it was added
    (every option is added with the default that keeps the earlier behaviour), for `RunFile`'s comparison."""
    return {"solve": json_safe(SolveConfig().to_dict())}


def build_header(config: EvalConfig, n_problems: int) -> dict[str, Any]:
    """The header line: `config` (compared on resume) and `plan` (what this invocation asked; informational)."""
    identity = {
        "data": {"name": dataset_name(config.data), "sha256": _sha256(Path(config.data))},
        "model": model_identity(config.model),
        "seed": config.seed,
        "n_ctx": config.backend_options.get("n_ctx"),
        "solve": json_safe(dict(config.solve)),
        "schedule": config.schedule,
    }
    plan = {
        "data_path": str(config.data),
        "rollouts": list(config.rollouts),
        "limit": config.limit,
        "problems": n_problems,
        "concurrency": config.concurrency,
        "tree_storage": "files" if config.trees_dir else "inline",  # output, not identity: a resume may change it
        "backend_options": json_safe(dict(config.backend_options)),
        "model": config.model if config.model is None or is_server(config.model) else str(config.model),
        "baselines": list(config.baselines),
        "baseline_samples": config.baseline_samples,
    }
    return {"type": "header", "format": FORMAT, "version": __version__, "created": _iso_now(),
            "llama_cpp_python": installed_version("llama_cpp_python"), "config": identity, "plan": plan}


# ----------------------------------------------------------------------------------------------- scoring


def _score_answers(answers: Sequence[str | None], gold: str) -> dict[str, Any]:
    """pass@k of a list of answers (any one right), their count and how many distinct ones they hold."""
    distinct: dict[str, str] = {}
    for a in answers:
        if a is not None:
            distinct.setdefault(answer_key(a), a)
    return {"pass_at_tree": any(equivalent(a, gold) for a in distinct.values()), "answer_nodes": len(answers),
            "distinct_answers": len(distinct)}


def score_result(result: Mapping[str, Any], gold: str) -> dict[str, Any]:
    """Correctness of a solve result against ground truth: vote, max-Q and any answer node (pass@tree)."""
    selectors = result.get("selectors") or {}
    vote = (selectors.get("vote") or {}).get("answer")
    max_q = (selectors.get("max_q") or {}).get("answer")
    if vote is None and not selectors:
        vote = result.get("answer")
    node_answers = [node_answer(n) for n in result.get("nodes") or [] if n.get("kind") != "dummy"]
    return {
        "answer": vote,
        "answer_max_q": max_q,
        "correct": equivalent(vote, gold),
        "correct_max_q": equivalent(max_q, gold),
        **_score_answers(node_answers, gold),
    }


def _baseline_record(problem: Problem, method: str, rollouts: int, seed: int, result: Mapping[str, Any],
                     usage: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """A baseline's record at one budget: its answer scored like the search's vote, pass@k over the answers it
    used, the tokens it spent against the search's (`tokens_target`), and the work of the problem's whole
    baseline draw (`stream`)."""
    return {
        "type": "result", "id": problem.id, "dataset": problem.dataset, "level": problem.level,
        "subject": problem.subject, "method": method, "rollouts": rollouts, "seed": seed, "gold": problem.answer,
        "answer": result["answer"], "answer_max_q": None, "correct": equivalent(result["answer"], problem.answer),
        "correct_max_q": None, **_score_answers(result["answers"], problem.answer),
        "tokens_generated": result["tokens_generated"], "tokens_target": result["tokens_target"],
        "samples": result["samples"], "stream": dict(usage),
        "stop_reason": "samples" if result["tokens_target"] is None else "tokens",
        # the draw's time in proportion to the tokens this budget used (its answers share one stream)
        "seconds": seconds * result["tokens_generated"] / max(int(usage.get("generated_tokens") or 0), 1),
    }


def _record(problem: Problem, rollouts: int, seed: int, result: Mapping[str, Any], seconds: float,
            tree_ref: dict[str, Any]) -> dict[str, Any]:
    stats = result.get("stats") or {}
    return {
        "type": "result",
        "id": problem.id,
        "dataset": problem.dataset,
        "level": problem.level,
        "subject": problem.subject,
        "rollouts": rollouts,
        "seed": seed,
        "gold": problem.answer,
        **score_result(result, problem.answer),
        "tokens_evaluated": int(stats.get("prompt_tokens") or 0),
        "tokens_reused": int(stats.get("reused_tokens") or 0),
        "tokens_generated": int(stats.get("generated_tokens") or 0),
        "model_calls": int(stats.get("model_calls") or 0),
        "rollouts_done": stats.get("rollouts"),
        "stop_reason": stats.get("stop_reason"),
        "model_seconds": stats.get("model_seconds"),
        "capped_replies": dict(stats.get("capped_replies") or {}),  # replies cut by their token cap, per kind
        "replies": dict(stats.get("by_kind") or {}),  # replies generated, per kind (the share's denominator)
        "seconds": seconds,
        **tree_ref,
    }


def _error_record(problem: Problem, rollouts: int, seed: int, error: Exception | str, seconds: float,
                  method: str = "mctsr") -> dict[str, Any]:
    what = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {
        "type": "result", "id": problem.id, "dataset": problem.dataset, "level": problem.level,
        "subject": problem.subject, **({"method": method} if method != "mctsr" else {}),
        "rollouts": rollouts, "seed": seed, "gold": problem.answer,
        "answer": None, "answer_max_q": None, "correct": False, "correct_max_q": False, "pass_at_tree": False,
        "answer_nodes": 0, "distinct_answers": 0, "tokens_evaluated": 0, "tokens_reused": 0,
        "tokens_generated": 0, "model_calls": 0, "rollouts_done": 0, "stop_reason": "error",
        "model_seconds": 0.0, "seconds": seconds, "error": what,
    }


def _tree_ref(config: EvalConfig, problem: Problem, rollouts: int, result: Mapping[str, Any]) -> dict[str, Any]:
    """The tree inline, or written atomically to `trees_dir` and referenced by a path relative to the run."""
    tree = {k: v for k, v in result.items() if k not in ("problem", "config")}
    if config.trees_dir is None:
        return {"tree": json_safe(tree)}
    trees = Path(config.trees_dir)
    trees.mkdir(parents=True, exist_ok=True)
    name = tree_file_name(problem.id, rollouts)  # bounded, whatever the id's length
    atomic_write_text(trees / name, json.dumps(json_safe(tree), ensure_ascii=False))
    try:
        ref = os.path.relpath(os.path.abspath(trees / name), os.path.dirname(os.path.abspath(config.out)))
    except ValueError:  # another drive (Windows)
        ref = str(trees / name)
    return {"tree_path": ref}


# ---------------------------------------------------------------------------------------------- running


def _say(message: str) -> None:
    """A note on stderr that does not break the progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(f"mctsr eval: {message}", file=sys.stderr)


def _as_dict(result: Any) -> dict[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def run_eval(
    config: EvalConfig,
    *,
    backend: Any = None,
    solve_fn: SolveFn | None = None,
    solve_kwargs: Mapping[str, Any] | None = None,
    open_backend_fn: Callable[[], Any] | None = None,
    progress: bool | str = True,
    log: Callable[[str], None] | None = None,
) -> EvalSummary:
    """Evaluate: load and validate the data, open (or resume) the run file, solve every pending
    (problem, rollouts) pair and append its record. Returns a summary; the records are in `config.out`.

    `solve_fn` defaults to `mctsr_native.solver.solve`; it is called as
    `solve_fn(problem_text, backend=backend, rollouts=r, seed=s, **solve_kwargs)` and must return a
    SolveResult (or its `to_dict()`). Without `backend` and `solve_fn`, the backend is `open_backend_fn()`
    (default: `open_backend(config.model, seed=config.seed, **backend_options)`), opened only after the run
    file's header has been checked and when work is pending, and closed at the end.
    """
    say = log or _say
    config.validate()
    started = time.perf_counter()
    problems = load_problems(config.data, limit=config.limit)
    if config.trees_dir is not None:  # before any model work, not at the first tree
        check_writable(config.trees_dir, what="--trees", directory=True)
        check_tree_names([p.id for p in problems], tuple(config.rollouts), Path(config.trees_dir))
    kwargs = dict(solve_kwargs or {})
    schedule, why = effective_schedule(config, kwargs.get("config"), solve_fn)
    if why and config.schedule != schedule:
        say(f"running each budget as a separate search: {why}")
    config = dataclasses.replace(config, schedule=schedule)
    header = build_header(config, len(problems))
    with RunFile(config.out, header, log=say, defaults=identity_defaults()) as run:
        done = run.keys()
        methods = ("mctsr", *config.baselines)
        planned = [(p, r, m) for p in problems for r in sorted(config.rollouts) for m in methods]
        pending = [(p, r, m) for p, r, m in planned if (p.id, r, m) not in done]
        summary = EvalSummary(path=Path(config.out), planned=len(planned), already_done=len(planned) - len(pending),
                              written=0, errors=0, repaired_bytes=run.repaired_bytes, seconds=0.0)
        if summary.already_done:
            say(f"resuming {config.out}: {summary.already_done} of {plural(len(planned), 'record')} already done")
        if not pending:
            summary.seconds = time.perf_counter() - started
            return summary
        # We open (and close) the model unless one is passed in, or an injected solve_fn brings its own.
        own_backend = backend is None and (solve_fn is None or open_backend_fn is not None)
        if solve_fn is None:
            solve_fn = solve
        if own_backend:
            if open_backend_fn is None:
                def open_backend_fn() -> Any:
                    return open_backend(config.model, **{"seed": config.seed, **dict(config.backend_options)})

            backend = open_backend_fn()
        workers = config.concurrency
        # Every search in flight gets the backend through the share: a thread-safe one (HTTP) directly, the
        # in-process engine through one SharedBackend that merges their calls into one batch. Each search
        # counts its own work from its own results, so sharing never mixes their records.
        share = BackendShare(backend)
        searches = [(p, r) for p, r, m in pending if m == "mctsr"]
        bar = EvalProgress([r for _, r in searches], [r for r in run.records if r.get("method", "mctsr") == "mctsr"],
                        progress, len(problems), sorted(config.rollouts))
        units: list[tuple[Problem, tuple[int, ...]]] = []  # (problem, budgets) solved by one unit of work
        for p, r in searches:
            if schedule == "anytime" and units and units[-1][0] is p:
                units[-1] = (p, units[-1][1] + (r,))
            else:
                units.append((p, (r,)))

        Outcome = tuple[int, "dict[str, Any] | None", "Exception | None", float]

        def solve_one(problem: Problem, budgets: tuple[int, ...]) -> list[Outcome]:
            seed = problem_seed(config.seed, problem.id)
            t0 = time.perf_counter()
            try:
                with share.lease() as client:
                    # Only the problem text crosses: never problem.answer nor the solution.
                    if schedule == "anytime":
                        return [(b, res, None, sec) for b, res, sec in
                                anytime_search(problem.problem, client, budgets, seed=seed, **kwargs)]
                    result = _as_dict(solve_fn(problem.problem, backend=client, rollouts=budgets[0], seed=seed,
                                               **kwargs))
            except (InvalidProblemError, ContextOverflowError) as e:
                return [(b, None, e, time.perf_counter() - t0) for b in budgets]
            return [(budgets[0], result, None, time.perf_counter() - t0)]

        def finish(problem: Problem, budgets: tuple[int, ...], outcomes: list[Outcome]) -> None:
            for rollouts, result, error, seconds in outcomes:
                finish_one(problem, rollouts, (result, error, seconds))

        def finish_one(problem: Problem, rollouts: int,
                       outcome: tuple[dict[str, Any] | None, Exception | None, float]) -> None:
            result, error, seconds = outcome
            seed = problem_seed(config.seed, problem.id)
            if error is not None:
                record = _error_record(problem, rollouts, seed, error, seconds)
                summary.errors += 1
                say(f"{problem.id} (rollouts {rollouts}): recorded as an error: {error}")
            else:
                assert result is not None
                if (result.get("stats") or {}).get("stop_reason") == "cancelled":
                    raise KeyboardInterrupt  # a search cut short is not a result: leave it undone
                record = _record(problem, rollouts, seed, result, seconds,
                                 _tree_ref(config, problem, rollouts, result))
            run.append(json_safe(record))
            summary.written += 1
            bar.update(record)

        # Phase 2, once every search of a problem is recorded: its baselines, drawn to the tokens each budget
        # of the search spent (baselines.py). They read the search's records only, so they can be added to a
        # finished run.
        wanted = {}  # problem id -> {method: [budgets]}
        for p, r, m in pending:
            if m != "mctsr":
                wanted.setdefault(p.id, {}).setdefault(m, []).append(r)
        by_id = {p.id: p for p in problems}
        base_units = [(by_id[pid], tuple(sorted(todo.items()))) for pid, todo in wanted.items()]

        def baselines_one(problem: Problem, todo: tuple[tuple[str, list[int]], ...]) -> list[dict[str, Any]]:
            seed = problem_seed(config.seed, problem.id)
            t0 = time.perf_counter()
            search = {int(r["rollouts"]): r for r in run.records
                      if r["id"] == problem.id and r.get("method", "mctsr") == "mctsr"}
            budgets = sorted({b for _, bs in todo for b in bs})
            failed = [b for b in budgets if b not in search or search[b].get("stop_reason") == "error"]
            if failed:
                why = f"no search record to match at rollouts {failed}: its search failed or is missing"
                return [_error_record(problem, b, seed, why, 0.0, method=m) for m, bs in todo for b in bs]
            targets = {b: int(search[b].get("tokens_generated") or 0) for b in budgets}
            with share.lease() as client:
                draws = Baselines(problem.problem, _baseline_config(kwargs), client, seed=seed)
                results = draws.results([m for m, _ in todo], targets, samples=config.baseline_samples)
            usage = draws.usage()
            seconds = time.perf_counter() - t0
            want = {(m, b) for m, bs in todo for b in bs}
            return [_baseline_record(problem, m, b, seed, res, usage, seconds) for m, b, res in results
                    if (m, b) in want]

        def finish_baselines(problem: Problem, todo: Any, records: list[dict[str, Any]]) -> None:
            for record in records:
                run.append(json_safe(record))
                summary.written += 1
                summary.errors += "error" in record
            bar.note(f"{problem.id}: baselines " + ", ".join(
                f"{r['method']}@{r['rollouts']} {'right' if r.get('correct') else 'wrong'}" for r in records))

        try:
            if workers == 1:
                for problem, budgets in units:
                    finish(problem, budgets, solve_one(problem, budgets))
                for problem, todo in base_units:
                    finish_baselines(problem, todo, baselines_one(problem, todo))
            else:
                _run_pool(units, workers, solve_one, finish)
                _run_pool(base_units, workers, baselines_one, finish_baselines)
        except BaseException:  # a late failure: the records written so far are safe; say so before the error
            say(f"stopped: {plural(summary.written, 'record')} written to {config.out} by this run "
                f"({summary.already_done + summary.written} of {summary.planned} done); re-run to resume")
            raise
        finally:
            bar.close()
            if own_backend:
                backend.close()
        summary.seconds = time.perf_counter() - started
        return summary


def _baseline_config(solve_kwargs: Mapping[str, Any]) -> Any:
    """The search configuration the baselines draw with (its prompts, temperature, caps and reward)."""
    base = solve_kwargs.get("config") or SolveConfig()
    overrides = {k: v for k, v in solve_kwargs.items() if k != "config"}
    return dataclasses.replace(base, **overrides) if overrides else base


def _run_pool(pending: Sequence[tuple[Problem, Any]], workers: int, solve_one: Callable, finish: Callable) -> None:
    """Keep `workers` searches in flight; score and write each on this (the main) thread as it completes.
    On an error or Ctrl-C, queued work is cancelled and the searches in flight are abandoned unrecorded."""
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mctsr-eval")
    todo = iter(pending)
    in_flight: dict[cf.Future, tuple[Problem, Any]] = {}
    try:
        for item in todo:
            in_flight[pool.submit(solve_one, *item)] = item
            if len(in_flight) >= workers:
                break
        while in_flight:
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                item = in_flight.pop(fut)
                finish(*item, fut.result())
                nxt = next(todo, None)
                if nxt is not None:
                    in_flight[pool.submit(solve_one, *nxt)] = nxt
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
