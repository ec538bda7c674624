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


INT32_MAX = 2**31 - 1  # integers that reach llama.cpp or the C++ core are 32-bit there
SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit in llama.cpp's samplers
MAX_PROBLEM_BYTES = 1 << 20  # a longer problem cannot fit any model's context: refused before reading more


def _int_at_least(low: int, high: int = INT32_MAX):
    """An argparse type: an integer in [low, high] (argparse turns the error into a usage message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"expected an integer <= {high}, got {value}")
        return value

    return parse


def _finite(low: float, *, strict: bool = False):
    """An argparse type: a finite number >= low (> low when strict); "nan" and "inf" are refused by name."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"expected a number {'>' if strict else '>='} {low:g}, got {text!r}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)
_seed = _int_at_least(0, SEED_MAX)
_seconds = _finite(0.0, strict=True)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Which model runs the search: a GGUF file (default: the SmolLM2 model), or OpenAI-compatible servers."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, metavar="PATH.gguf",
                   help="GGUF model file, or http(s) URL(s) of OpenAI-compatible servers (comma-separated); "
                        "default: the SmolLM2-135M-Instruct model installed with the package")
    g.add_argument("--server", default=None, metavar="URL",
                   help="OpenAI-compatible server(s) (llama-server, vLLM, SGLang), comma-separated; "
                        "same as --model URL")
    g.add_argument("--n-gpu-layers", type=_int_at_least(-1), default=None,
                   help="layers to offload to the GPU (-1 = all) [0]")
    g.add_argument("--n-ctx", type=_positive, default=None, help="context size in tokens [engine default]")
    g.add_argument("--threads", type=_positive, default=None, help="CPU threads for llama.cpp [auto]")
    g.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="with --server: the most one HTTP request may take, start to end, before it is retried "
                        "or fails [120]")


def check_model_options(args: argparse.Namespace) -> str | None:
    """The model argument (a path, URLs, or None for the default), after the checks that need no model:
    --model and --server together, --server without an http(s) URL, --timeout without a server."""
    from .errors import InvalidConfigError

    model = getattr(args, "model", None)
    server = getattr(args, "server", None)
    if model and server:
        raise InvalidConfigError("give --model or --server, not both")
    target = server or model
    is_url = target is not None and "://" in target
    urls = [u.strip() for u in (target or "").split(",") if u.strip()] if is_url or server else []
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise InvalidConfigError(f"servers need http:// or https:// URLs, got {bad[0]!r}")
    if getattr(args, "timeout", None) is not None and not is_url:
        raise InvalidConfigError("--timeout applies to --server (HTTP requests); the in-process model has none")
    return target


def backend_from_args(args: argparse.Namespace, *, seed: int = 0) -> Any:
    """Open the backend the model options describe (the caller closes it)."""
    from .generation import open_backend

    target = check_model_options(args)
    options: dict[str, Any] = {"seed": seed}
    if getattr(args, "timeout", None) is not None:
        options["timeout"] = args.timeout
    for flag, key in (("n_ctx", "n_ctx"), ("n_gpu_layers", "n_gpu_layers"), ("threads", "n_threads")):
        value = getattr(args, flag, None)
        if value is not None:
            options[key] = value
    return open_backend(target, **options)


# Search options: (flag, SolveConfig field, argparse keywords). Unset flags keep SolveConfig's default.
_SEARCH_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--rollouts", "rollouts", {"type": _non_negative, "help": "refinements to make; 0 = zero-shot CoT [8]"}),
    ("--parallel", "parallel", {"type": _positive, "help": "P: candidates refined per step in one batch [1]"}),
    ("--seed", "seed", {"type": _seed, "help": "seed of the search and of the model [0]"}),
    ("--rules", "rules", {"choices": ("paper", "reference"), "help": "tree rules preset [paper]"}),
    ("--selector", "selector", {"choices": ("vote", "max_q"), "help": "final-answer rule [vote]"}),
    ("--reward-mode", "reward_mode",
     {"choices": ("sampled", "probability"), "help": "sampled: k graded replies per answer (the paper); "
      "probability: P(Yes) of a yes/no question from one forward pass [sampled]"}),
    ("--reward-samples", "reward_samples", {"type": _positive, "help": "k: reward samples per new answer [3]"}),
    ("--reselect-samples", "reselect_samples",
     {"type": _non_negative, "help": "extra reward samples of a node each time it is selected [1]"}),
    ("--answer-max-tokens", "answer_max_tokens", {"type": _positive, "help": "cap of the first answer [384]"}),
    ("--critique-max-tokens", "critique_max_tokens", {"type": _positive, "help": "cap of each critique [256]"}),
    ("--refine-max-tokens", "refine_max_tokens", {"type": _positive, "help": "cap of each rewrite [384]"}),
    ("--reward-max-tokens", "reward_max_tokens", {"type": _positive,
      "help": "cap of each reward reply; the analysis length follows it [160]"}),
    ("--temperature", "temperature",
     {"type": _finite(0.0), "help": "sampling temperature of answers, critiques [0.7]"}),
    ("--patience", "patience",
     {"type": _non_negative, "help": "stop when the best Q has not improved for N rollouts (0 = off) [0]"}),
    ("--max-seconds", "max_seconds", {"type": _seconds, "help": "wall-clock budget, checked between steps"}),
    ("--token-budget", "token_budget",
     {"type": _int_at_least(1, 2**63 - 1), "help": "budget of model tokens (evaluated+generated)"}),
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
        if args.file.is_dir():
            raise InvalidProblemError(f"cannot read {args.file}: it is a directory")
        try:
            with open(args.file, "rb") as f:
                return _decode_problem(f.read(MAX_PROBLEM_BYTES + 1), str(args.file))
        except OSError as e:
            raise InvalidProblemError(f"cannot read {args.file}: {e.strerror or e}") from None
    if args.problem == "-" or (args.problem is None and not sys.stdin.isatty()):
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream (tests, embedding): bounded all the same
            return _check_size(sys.stdin.read(MAX_PROBLEM_BYTES + 1), "standard input")
        return _decode_problem(stream.read(MAX_PROBLEM_BYTES + 1), "standard input")
    if args.problem is None:
        raise InvalidProblemError('no problem given: mctsr solve "PROBLEM", --file PATH, or - for standard input')
    return _check_size(args.problem, "the problem argument")


def _check_size(text: str, source: str) -> str:
    from .errors import InvalidProblemError

    if len(text.encode("utf-8", "surrogatepass")) > MAX_PROBLEM_BYTES:
        raise InvalidProblemError(f"{source} is longer than {MAX_PROBLEM_BYTES >> 20} MiB: not a math problem "
                                  "(no model context holds it)")
    return text


def _decode_problem(raw: bytes, source: str) -> str:
    """The problem as text: at most MAX_PROBLEM_BYTES, UTF-8 (a BOM is dropped), no NUL bytes."""
    from .errors import InvalidProblemError

    if len(raw) > MAX_PROBLEM_BYTES:
        raise InvalidProblemError(f"{source} is longer than {MAX_PROBLEM_BYTES >> 20} MiB: not a math problem "
                                  "(no model context holds it)")
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise InvalidProblemError(
            f"{source} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}): convert it, e.g. "
            "`iconv -f latin1 -t utf-8`"
        ) from None
    if "\x00" in text:
        raise InvalidProblemError(f"{source} holds NUL bytes: it is binary data, not a problem's text")
    return text


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
    from .errors import InvalidProblemError, MctsrError
    from .runfile import atomic_write_text, check_writable
    from .solver import check_problem, solve

    problem = check_problem(_read_problem(args))
    config = solve_config_from_args(args)
    check_model_options(args)
    from . import cli_view

    cli_view.check_solve(args)  # a bad --view path fails before the model loads

    def progress(rec: Any) -> None:
        if not args.quiet:
            what = "initialized" if rec.step == 0 else f"step {rec.step}: rollouts {rec.rollouts}/{config.rollouts}"
            print(f"[mctsr] {what}, best answer {rec.best_answer}, best Q {_fmt_q(rec.best_q)} "
                  f"({rec.seconds:.1f} s)", file=sys.stderr, flush=True)

    if args.json is not None:  # before any model work: a bad path must not cost the whole search
        check_writable(args.json, what="--json")
    backend = backend_from_args(args, seed=config.seed)
    try:
        result = solve(problem, backend=backend, config=config, progress=progress)
    finally:
        backend.close()
    print(format_summary(result, getattr(backend, "name", "")), flush=True)  # first: a late failure keeps it
    if args.show_text:
        print("\n--- chosen answer ---\n" + result.text, flush=True)
    if args.json is not None:
        data = result.to_dict()
        data["tree"] = result.tree
        try:
            atomic_write_text(args.json, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
        except OSError as e:
            raise MctsrError(f"cannot write --json {args.json}: {e.strerror or e} (the summary above is the "
                             "result)") from None
    cli_view.after_solve(args, result)
    if args.json is not None:
        print(f"result written to {args.json}", file=sys.stderr)
    return 0 if result.stats["stop_reason"] != "cancelled" else 130
