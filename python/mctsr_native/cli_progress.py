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
import datetime as dt
import json
import sys
from typing import Any, TextIO

__all__ = ["add_progress_options", "progress_mode", "Progress", "iso_now"]

MODES = ("bar", "lines", "json", "none")


def iso_now() -> str:
    """The current time, ISO-8601 in UTC with seconds (2026-11-26T06:13:46+00:00)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


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


class Progress:
    """Writes events in the chosen mode. `event(type, text, **fields)`: `text` for people, `fields` for programs."""

    def __init__(self, mode: str, stream: TextIO | None = None) -> None:
        self.mode = mode
        self.stream = stream

    def event(self, type_: str, text: str, **fields: Any) -> None:
        out = self.stream or sys.stderr
        if self.mode == "none":
            return
        if self.mode == "json":
            from .record import json_safe

            record = {"type": type_, "time": iso_now(), **json_safe(fields)}
            out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        else:
            out.write(f"[mctsr] {text}\n")
        out.flush()
