"""Progress events, the one vocabulary of every long job (solve, eval, serve): `Progress(mode).event(type, text,
**fields)` writes a human line, a JSON object or nothing. A library module: eval and serve report through it,
and the command line (cli_progress) only chooses the mode from its flags.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any, TextIO

from .record import json_safe

__all__ = ["MODES", "Progress", "iso_now"]

MODES = ("bar", "lines", "json", "none")


def iso_now() -> str:
    """The current time, ISO-8601 in UTC with seconds (2026-11-26T06:13:46+00:00)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")



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
            record = {"type": type_, "time": iso_now(), **json_safe(fields)}
            out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        else:
            out.write(f"[mctsr] {text}\n")
        out.flush()
