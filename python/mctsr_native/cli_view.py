"""`mctsr view`: a search tree as one self-contained HTML page (or Graphviz DOT), and the `--view` options
of `mctsr solve` and `mctsr eval` (`add_solve_option` / `add_eval_option`, checked before any model work by
`check_solve` / `check_eval`, written at the end by `after_solve` / `after_eval`)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_view", "add_solve_option", "check_solve", "after_solve", "add_eval_option",
           "check_eval", "after_eval"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `view` on the `mctsr` command."""
    p = sub.add_parser(
        "view", help="draw a search tree as a self-contained HTML page (or Graphviz DOT)",
        description="Draw the search tree of a `mctsr solve --json` file, a tree file from `mctsr eval --trees "
                    "DIR`, or one problem of an eval run file (--id): Q, visits, UCT and reward samples of "
                    "every node, both selectors' picks, and (for eval runs) which answers are correct. "
                    "Click a node for its critique, answer and reward replies. The page needs no network.")
    p.add_argument("result", type=Path, metavar="RESULT.json",
                   help="a solve --json file, an eval tree file, or an eval run file (JSONL)")
    p.add_argument("-o", "--out", type=Path, default=None, metavar="PATH",
                   help="where to write [RESULT's name with .html or .dot]")
    p.add_argument("--format", choices=("html", "dot"), default="html", help="HTML page or Graphviz DOT [html]")
    p.add_argument("--id", dest="problem_id", default=None, metavar="PROBLEM_ID",
                   help="the problem to draw from an eval run file")
    p.add_argument("--rollouts", type=int, default=None,
                   help="with --id: the record at this rollout budget [the largest recorded]")
    p.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    from .runfile import check_writable
    from .view import load_view, write_view

    out = args.out
    if out is None:
        safe_id = re.sub(r"[^A-Za-z0-9._-]+", "_", args.problem_id or "")[:80]  # a name stays under NAME_MAX
        stem = args.result.stem[:120] + (f"-{safe_id}" if safe_id else "")
        out = args.result.with_name(f"{stem}.{args.format}")
    check_writable(out, what="--out")
    view = load_view(args.result, args.problem_id, args.rollouts)
    path = write_view(view, out, args.format)
    from .wording import plural

    print(f"{plural(len(view.nodes), 'node')} drawn to {path}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- mctsr solve --view


def add_solve_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--view", type=Path, default=None, metavar="PATH.html",
                   help="also write the search tree as a self-contained HTML page (see `mctsr view`)")


def check_solve(args: argparse.Namespace) -> None:
    """Before the model loads: the page's path must be writable."""
    if getattr(args, "view", None) is not None:
        from .runfile import check_writable

        check_writable(args.view, what="--view")


def after_solve(args: argparse.Namespace, result: Any) -> None:
    if getattr(args, "view", None) is None:
        return
    from .view import view_from_result, write_view

    path = write_view(view_from_result(result.to_dict(), source="mctsr solve"), args.view)
    print(f"tree page written to {path}", file=sys.stderr)


# ----------------------------------------------------------------------------------- mctsr eval --view


def add_eval_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--view", action="store_true",
                   help="with --trees DIR: also write DIR/index.html (every problem, correct or not per "
                        "selector) and one tree page per problem and rollout budget")


def check_eval(args: argparse.Namespace) -> None:
    """Before the model loads: --view needs --trees, whose folder must be creatable."""
    if not getattr(args, "view", False):
        return
    from .errors import InvalidConfigError
    from .runfile import check_writable

    if args.trees is None:
        raise InvalidConfigError("--view writes its pages beside the tree files: give --trees DIR too")
    check_writable(args.trees, what="--trees", directory=True)


def after_eval(args: argparse.Namespace) -> None:
    if not getattr(args, "view", False):
        return
    from .view_eval import write_eval_views

    index = write_eval_views(args.out, args.trees)
    print(f"tree pages written; open {index}", file=sys.stderr)
