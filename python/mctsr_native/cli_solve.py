"""`mctsr solve`: one problem in, the answer and a one-screen summary out (`--json PATH` for the whole tree).

The option helpers are shared: `add_model_options` / `backend_from_args` (which model, where) and
`add_search_options` / `solve_config_from_args` (the SolveConfig fields), so `mctsr eval` can reuse them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "add_parser",
    "add_model_options",
    "backend_from_args",
    "add_search_options",
    "solve_config_from_args",
    "format_summary",
    "cmd_solve",
]


def _int_at_least(low: int):
    """An argparse type: an integer >= low (argparse turns the error into a usage message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Which model runs the search: a GGUF file (default: the SmolLM2 model), or OpenAI-compatible servers."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, metavar="PATH.gguf",
                   help="GGUF model file, or http(s) URL(s) of OpenAI-compatible servers (comma-separated); "
                        "default: the SmolLM2-135M-Instruct model installed with the package")
    g.add_argument("--server", default=None, metavar="URL",
                   help="OpenAI-compatible server(s) (llama-server, vLLM, SGLang), comma-separated; "
                        "same as --model URL")
    g.add_argument("--n-gpu-layers", type=int, default=None, help="layers to offload to the GPU (-1 = all) [0]")
    g.add_argument("--n-ctx", type=_positive, default=None, help="context size in tokens [engine default]")
    g.add_argument("--threads", type=_positive, default=None, help="CPU threads for llama.cpp [auto]")


def backend_from_args(args: argparse.Namespace, *, seed: int = 0) -> Any:
    """Open the backend the model options describe (the caller closes it)."""
    from .errors import InvalidConfigError
    from .generation import open_backend

    model = getattr(args, "model", None)
    server = getattr(args, "server", None)
    if model and server:
        raise InvalidConfigError("give --model or --server, not both")
    options: dict[str, Any] = {"seed": seed}
    for flag, key in (("n_ctx", "n_ctx"), ("n_gpu_layers", "n_gpu_layers"), ("threads", "n_threads")):
        value = getattr(args, flag, None)
        if value is not None:
            options[key] = value
    return open_backend(server or model, **options)


# Search options: (flag, SolveConfig field, argparse keywords). Unset flags keep SolveConfig's default.
_SEARCH_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--rollouts", "rollouts", {"type": _non_negative, "help": "refinements to make; 0 = zero-shot CoT [8]"}),
    ("--parallel", "parallel", {"type": _positive, "help": "P: candidates refined per step in one batch [1]"}),
    ("--seed", "seed", {"type": int, "help": "seed of the search and of the model [0]"}),
    ("--rules", "rules", {"choices": ("paper", "reference"), "help": "tree rules preset [paper]"}),
    ("--selector", "selector", {"choices": ("vote", "max_q"), "help": "final-answer rule [vote]"}),
    ("--reward-samples", "reward_samples", {"type": _positive, "help": "k: reward samples per new answer [3]"}),
    ("--reselect-samples", "reselect_samples",
     {"type": _non_negative, "help": "extra reward samples of a node each time it is selected [1]"}),
    ("--answer-max-tokens", "answer_max_tokens", {"type": _positive, "help": "cap of the first answer [384]"}),
    ("--critique-max-tokens", "critique_max_tokens", {"type": _positive, "help": "cap of each critique [256]"}),
    ("--refine-max-tokens", "refine_max_tokens", {"type": _positive, "help": "cap of each rewrite [384]"}),
    ("--reward-max-tokens", "reward_max_tokens", {"type": _positive, "help": "cap of each reward reply [64]"}),
    ("--temperature", "temperature", {"type": float, "help": "sampling temperature of answers, critiques [0.7]"}),
    ("--patience", "patience",
     {"type": _non_negative, "help": "stop when the best Q has not improved for N rollouts (0 = off) [0]"}),
    ("--max-seconds", "max_seconds", {"type": float, "help": "wall-clock budget, checked between steps"}),
    ("--token-budget", "token_budget", {"type": _positive, "help": "budget of model tokens (evaluated+generated)"}),
]


def add_search_options(p: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """The SolveConfig flags (leave out those in `skip`, e.g. ("--rollouts", "--seed") for `mctsr eval`)."""
    g = p.add_argument_group("search")
    for flag, _, kw in _SEARCH_OPTIONS:
        if flag not in skip:
            g.add_argument(flag, default=None, **kw)
    g.add_argument("--max-tokens", type=_positive, default=None,
                   help="cap of answers, critiques and rewrites at once (the per-kind flags override it)")
    g.add_argument("--stop-on-agreement", action="store_true", default=None,
                   help="stop when every answer found so far agrees")
    g.add_argument("--no-grammar", dest="use_grammar", action="store_false", default=None,
                   help="parse reward replies without a GBNF grammar even if the backend supports one")


def solve_config_from_args(args: argparse.Namespace) -> Any:
    """The SolveConfig the flags describe (fields not given keep their defaults); validated."""
    from .solver import SolveConfig

    given: dict[str, Any] = {}
    if getattr(args, "max_tokens", None) is not None:
        given.update(answer_max_tokens=args.max_tokens, critique_max_tokens=args.max_tokens,
                     refine_max_tokens=args.max_tokens)
    for flag, field_name, _ in _SEARCH_OPTIONS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is not None:
            given[field_name] = value
    for field_name in ("stop_on_agreement", "use_grammar"):
        if getattr(args, field_name, None) is not None:
            given[field_name] = getattr(args, field_name)
    config = dataclasses.replace(SolveConfig(), **given)
    config.validate()
    return config


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `solve` on the `mctsr` command."""
    p = sub.add_parser(
        "solve", help="solve one math problem with MCTSr",
        description="Search for the best answer to one problem with Monte Carlo Tree Self-Refine and print it "
                    "with a summary. Ctrl-C stops the search and prints the best answer found so far.")
    p.add_argument("problem", nargs="?", default=None, help="the problem text, or - to read standard input")
    p.add_argument("--file", type=Path, default=None, help="read the problem from this file")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full result (with tree)")
    p.add_argument("--quiet", action="store_true", help="no per-step progress on standard error")
    p.add_argument("--show-text", action="store_true", help="also print the chosen answer's full text")
    add_model_options(p)
    add_search_options(p)
    from . import cli_view

    cli_view.add_solve_option(p)
    p.set_defaults(func=cmd_solve)


def _read_problem(args: argparse.Namespace) -> str:
    from .errors import InvalidProblemError

    if args.file is not None and args.problem is not None:
        raise InvalidProblemError("give the problem as an argument, with --file, or on standard input (-), once")
    if args.file is not None:
        try:
            return args.file.read_text(encoding="utf-8")
        except OSError as e:
            raise InvalidProblemError(f"cannot read {args.file}: {e.strerror or e}") from None
    if args.problem == "-" or (args.problem is None and not sys.stdin.isatty()):
        return sys.stdin.read()
    if args.problem is None:
        raise InvalidProblemError('no problem given: mctsr solve "PROBLEM", --file PATH, or - for standard input')
    return args.problem


def _fmt_q(q: float | None) -> str:
    return "-" if q is None else f"{q:.1f}"


def format_summary(result: Any, model_name: str = "") -> str:
    """The one-screen summary of a SolveResult."""
    s, sel = result.stats, result.selectors
    vote, best = sel["vote"], sel["max_q"]
    answers = [n for n in result.nodes if n["kind"] == "answer"]
    extracted = sum(1 for n in answers if n["answer"] is not None)
    depth = max((n["depth"] for n in result.nodes), default=0)
    lines = [
        f"answer: {result.answer if result.answer is not None else '(none extracted)'}",
        f"  chosen by {result.selector}: node {result.node}",
        f"  vote:  {vote['answer']} (node {vote['node']}, support {vote['support']:.2f}, "
        f"{len(vote.get('groups', []))} distinct answers)",
        f"  max_q: {best['answer']} (node {best['node']}, Q {_fmt_q(best['q'])})",
        f"tree: {len(result.nodes)} nodes ({len(answers)} answers, {extracted} with an extractable answer), "
        f"{s['rollouts']} rollouts in {s['steps']} steps, max depth {depth}",
        f"tokens: {s['prompt_tokens']} evaluated, {s['reused_tokens']} reused, {s['generated_tokens']} generated "
        f"in {s['model_calls']} model calls ({s['sequences']} sequences)",
        f"time: {s['model_seconds']:.1f} s in the model, {s['wall_seconds']:.1f} s wall; "
        f"stopped: {s['stop_reason']}",
    ]
    notes = []
    if s.get("reward_fallbacks"):
        notes.append(f"{s['reward_fallbacks']} answers got the fallback reward (no parseable score)")
    if s.get("reward_unparsed"):
        notes.append(f"{s['reward_unparsed']} reward replies without a score were retried")
    if s.get("prompts_shortened"):
        notes.append(f"{s['prompts_shortened']} prompts were shortened to fit the context")
    if s.get("error_replies"):
        notes.append(f"{s['error_replies']} model sequences failed")
    if notes:
        lines.append("notes: " + "; ".join(notes))
    if model_name:
        lines.append(f"model: {model_name}")
    return "\n".join(lines)


def cmd_solve(args: argparse.Namespace) -> int:
    from .errors import InvalidProblemError
    from .solver import solve

    problem = _read_problem(args)
    if not problem.strip():
        raise InvalidProblemError("the problem is empty: give the text of a math problem")
    config = solve_config_from_args(args)
    from . import cli_view

    cli_view.check_solve(args)  # a bad --view path fails before the model loads

    def progress(rec: Any) -> None:
        if not args.quiet:
            what = "initialized" if rec.step == 0 else f"step {rec.step}: rollouts {rec.rollouts}/{config.rollouts}"
            print(f"[mctsr] {what}, best answer {rec.best_answer}, best Q {_fmt_q(rec.best_q)} "
                  f"({rec.seconds:.1f} s)", file=sys.stderr, flush=True)

    backend = backend_from_args(args, seed=config.seed)
    try:
        result = solve(problem, backend=backend, config=config, progress=progress)
    finally:
        backend.close()
    if args.json is not None:
        data = result.to_dict()
        data["tree"] = result.tree
        args.json.write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                             encoding="utf-8")
    cli_view.after_solve(args, result)
    print(format_summary(result, getattr(backend, "name", "")))
    if args.show_text:
        print("\n--- chosen answer ---\n" + result.text)
    if args.json is not None:
        print(f"result written to {args.json}", file=sys.stderr)
    return 0 if result.stats["stop_reason"] != "cancelled" else 130
