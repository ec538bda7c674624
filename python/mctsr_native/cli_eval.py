"""`mctsr eval` and `mctsr report`: their options, and the glue from options to `evaluate` / `report`.

Model and search flags are `mctsr solve`'s (`cli_solve.add_model_options` / `add_search_options`), so a
setting means the same in both commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_options import INT32_MAX, SEED_MAX, int_type
from .cli_progress import add_progress_options, progress_mode
from .generation import is_server
from .cli_solve import (
    _positive,
    add_model_options,
    add_search_options,
    backend_from_args,
    backend_options,
    check_capacity,
    check_model_options,
    print_config,
    solve_config_from_args,
)

__all__ = ["add_parser", "parse_rollouts", "solve_identity", "cmd_eval", "cmd_report"]


def parse_rollouts(text: str) -> tuple[int, ...]:
    """"0,1,4,8" -> (0, 1, 4, 8); argparse turns the ValueError into a usage error."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,4,8, got {text!r}") from None
    if not values or any(v < 0 or v > INT32_MAX for v in values):
        raise argparse.ArgumentTypeError(f"rollouts must be integers in [0, {INT32_MAX}], got {text[:80]!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"rollouts settings repeat: {text!r}")
    return values


def parse_baselines(text: str) -> tuple[str, ...]:
    """`--baseline sc,best-of-n`: the names, checked before any model work (a usage error names the choices)."""
    from .baselines import check_baselines
    from .errors import InvalidConfigError

    try:
        return check_baselines([t for t in text.split(",") if t.strip()])
    except InvalidConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `eval` and `report` on the `mctsr` command."""
    p = sub.add_parser("eval", help="evaluate the solver on a JSONL benchmark (resumable)",
                       description="Run the solver over a JSONL file of problems (id, problem, answer) at each "
                                   "rollout budget and append one record per problem and budget to --out. "
                                   "Re-running the same command resumes; a different configuration is refused.")
    p.add_argument("--data", required=True, type=Path, help="JSONL file with id, problem, answer per line")
    p.add_argument("--rollouts", type=parse_rollouts, default=(0, 1, 4, 8),
                   help="comma-separated rollout budgets; 0 = zero-shot chain of thought [0,1,4,8]")
    p.add_argument("--schedule", choices=("anytime", "separate"), default="anytime",
                   help="anytime: one search per problem to the largest budget, its state recorded at each "
                        "smaller one (paired budgets, the cost of the largest); separate: one search per budget "
                        "(used anyway when a rule depends on the budget) [anytime]")
    p.add_argument("--limit", type=_positive, default=None, help="only the first N problems")
    p.add_argument("--seed", type=int_type(0, SEED_MAX), default=0,
                   help="run seed; each problem's seed derives from it [0]")
    p.add_argument("--out", required=True, type=Path, help="run file (JSONL) to create or resume")
    p.add_argument("--concurrency", type=_positive, default=1,
                   help="problems in flight at once: spread over HTTP servers, or merged into one batch on the "
                        "in-process engine, where a run then no longer repeats exactly (shared batches change the "
                        "last bits of the logits) [1]")
    p.add_argument("--trees", type=Path, default=None, metavar="DIR",
                   help="write each search tree to DIR/<id>-r<rollouts>.json instead of inline in the record")
    p.add_argument("--baseline", type=parse_baselines, default=(), metavar="sc,best-of-n",
                   help="also run these baselines on every problem, paired with the search: sc (self-"
                        "consistency: independent answers, majority vote) and best-of-n (the same answers, the "
                        "highest reward of the search's reward mode), each drawn to the generated tokens the "
                        "search spent at each budget [none]")
    p.add_argument("--baseline-samples", type=_positive, default=None, metavar="N",
                   help="give the baselines N answers each instead of the search's tokens")
    add_progress_options(p, default="bar", old_quiet="--no-progress")
    add_model_options(p)
    # The solver's own flags; rollouts and seed are per record here, and both selectors are always scored.
    add_search_options(p, skip=("--rollouts", "--seed", "--selector"))
    from . import cli_view

    cli_view.add_eval_option(p)
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
    r.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text",
                   help="how to print the table on standard output [default: text]")
    r.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="also write the table as JSON to PATH (the same as --format json, into a file)")
    r.add_argument("--rewards", action="store_true",
                   help="also print whether the rewards carry information: AUROC of own Q and of each reward "
                        "sample against node correctness, samples equal to a number of the answer, their spread; "
                        "and within each problem, for the search's nodes and the baselines' draws, against the "
                        "shorter answer")
    r.add_argument("--search", action="store_true",
                   help="also print what the search did with its rollouts: selections exploration changed, tree "
                        "depth and branching, dummy picks, fresh answers, rewrites that keep the parent's answer, "
                        "right->wrong and wrong->right flips")
    r.add_argument("--compare", action="store_true",
                   help="also print paired comparisons of the rows (the search and its baselines, and several "
                        "runs) on their common problems: the difference ± its standard error and McNemar's exact "
                        "p-value, and each budget against the run's first answer")
    r.set_defaults(func=cmd_report)


def solve_identity(config: Any) -> dict[str, Any]:
    """The solver options as they identify a run: everything but the per-record rollouts and seed."""
    d = dict(config.to_dict())
    d.pop("rollouts", None)
    d.pop("seed", None)
    tree = d.get("tree")
    if isinstance(tree, dict):
        d["tree"] = {k: v for k, v in tree.items() if k != "rollout_budget"}
    return d


# Measured (2026-12-06, SmolLM2, 3 GSM8K problems, rollouts 0,1): two runs at --concurrency 1 wrote the same text,
# answers and token counts; a run at 3 differed in every record. llama.cpp's kernels and KV-cache layout depend
# on a batch's size and make-up, so a sequence's logits move in the last bits with its batch-mates.
SHARED_BATCH_NOTE = (
    "note: --concurrency > 1 on the in-process model merges the problems' sequences into shared llama.cpp batches, "
    "whose arithmetic depends on which sequences share them: the sampled text (and so a result) can differ from "
    "run to run. Each run's comparisons stay paired; --concurrency 1 repeats exactly on the same machine and build."
)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, run_eval

    from .errors import InvalidConfigError

    model = check_model_options(args)
    # --rollouts and --seed here are the eval's (a list, a run seed), not SolveConfig fields.
    solve_config = solve_config_from_args(args)
    if args.print_config:
        print_config(args, solve_config, skip=("rollouts", "seed", "selector"))
        return 0
    if args.out.is_dir():  # checked again when the run file opens; here so that nothing else runs first
        raise InvalidConfigError(f"--out {args.out} is a directory: give a file name for the run's records")
    check_capacity(args, solve_config)
    config = EvalConfig(
        data=args.data, out=args.out, rollouts=tuple(args.rollouts), limit=args.limit, seed=args.seed,
        model=model, solve=solve_identity(solve_config), backend_options=backend_options(args),
        concurrency=args.concurrency, trees_dir=args.trees, schedule=args.schedule,
        baselines=tuple(args.baseline), baseline_samples=args.baseline_samples,
    )
    config.validate()  # before --view creates the trees folder
    from . import cli_view

    cli_view.check_eval(args)  # a bad --view / --trees fails before the model loads
    if args.concurrency > 1 and not is_server(model):
        print(SHARED_BATCH_NOTE, file=sys.stderr)
    summary = run_eval(config, open_backend_fn=lambda: backend_from_args(args, seed=args.seed),
                       solve_kwargs={"config": solve_config}, progress=progress_mode(args))
    from .wording import plural

    print(f"{summary.path}: {plural(summary.written, 'record')} written, {summary.already_done} already there "
          f"({summary.planned} planned), {plural(summary.errors, 'error')}, {summary.seconds:.1f} s", file=sys.stderr)
    _say_verdicts(args.out)
    cli_view.after_eval(args)
    return 0


def _say_verdicts(out: Path) -> None:
    """After a run, whether its search beat its first answer and its baselines at the largest budget, in words
    (compare.verdicts); the table is `mctsr report OUT --compare`."""
    from .compare import outcomes_of, row_label, verdicts
    from .report import load_runs

    lines = verdicts(outcomes_of(load_runs([out], warn=lambda m: None), row_label))
    if lines:
        print("\n".join(lines) + f"\nThe paired table: mctsr report {out} --compare", flush=True)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_table, format_table, load_runs, plot_runs, run_title, table_json
    from .runfile import atomic_write_text, check_writable

    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:  # before reading the runs: a bad path fails now, not after the table
            check_writable(path, what=flag)
    records = load_runs(args.runs)
    table = build_table(records, by=args.by)
    print(format_table(table, args.format), flush=True)
    if args.rewards:
        from .reward_diagnostics import format_rewards

        print("\n" + format_rewards(args.runs), flush=True)
    if args.search:
        from .search_diagnostics import format_search

        print("\n" + format_search(args.runs), flush=True)
    if args.compare:
        from .compare import compare_rows, format_comparisons, outcomes_of, row_label, verdicts

        rows = outcomes_of(records, row_label)
        print("\n" + format_comparisons(compare_rows(rows)), flush=True)
        said = verdicts(rows)
        if said:
            print("\n" + "\n".join(said), flush=True)
    if args.json is not None:
        atomic_write_text(args.json, table_json(table))
    if args.plot is not None:
        plot_runs(table, args.plot, title=run_title(args.runs))
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0
