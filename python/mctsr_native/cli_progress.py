"""Progress on standard error, one vocabulary for every subcommand: `--progress {bar,lines,json,none}` and
`-q/--quiet` (= none).

- `lines`: one human line per event (`[mctsr] loading model ...`).
- `bar`: a tqdm bar where the command has a known amount of work (`mctsr eval`); lines elsewhere, and lines
  when `bar` is the default and standard error is not a terminal (redirected to a file or a pipe).
- `json`: JSON lines for programs, one object per event: {"type": ..., "time": ISO-8601 UTC, ...fields}.
- `none`: nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .progress import MODES, Progress, iso_now

__all__ = ["add_progress_options", "progress_mode", "Progress", "iso_now"]  # the last two: progress.py's


def add_progress_options(p: argparse.ArgumentParser, *, default: str, old_quiet: str | None = None) -> None:
    """`--progress MODE` and `-q/--quiet`; `old_quiet` is a former spelling of quiet kept as a hidden alias."""
    g = p.add_argument_group("progress")
    g.add_argument("--progress", choices=MODES, default=None,
                   help=f"progress on standard error: a bar, lines, JSON lines for programs, or none [default: "
                        f"{default}]")
    g.add_argument("-q", "--quiet", dest="progress", action="store_const", const="none",
                   help="no progress (same as --progress none)")
    if old_quiet:
        g.add_argument(old_quiet, dest="progress", action="store_const", const="none", help=argparse.SUPPRESS)
    p.set_defaults(progress_default=default)


def progress_mode(args: argparse.Namespace, stream: TextIO | None = None) -> str:
    """The mode asked, else the command's default; a default bar becomes lines when standard error is not a
    terminal (a log file, a pipe, CI), where a bar's carriage returns would pile up in one long line."""
    asked = getattr(args, "progress", None)
    if asked:
        return asked
    default = getattr(args, "progress_default", "lines")
    out = stream or sys.stderr
    if default == "bar" and not (hasattr(out, "isatty") and out.isatty()):
        return "lines"
    return default
