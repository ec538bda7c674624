"""The evaluation run file: JSONL, a header line with the run's configuration, then one record per
(problem, rollouts) pair, appended as the work completes.

Crash safety. Each record is one line written with a single `write` on an `O_APPEND` descriptor, then
`fsync`ed, so a run killed at any point (even `kill -9`) leaves every finished record whole and at most one
torn line at the end. On reopening, a torn last line (no final newline, or not JSON) is reported and cut off
(the file is truncated back to its last complete line) before anything is appended; a damaged line anywhere
else is an error, never silently dropped. While a run appends, it holds an exclusive `flock` on the file, so
two runs can never interleave lines. A header that does not match the current configuration raises
`RunMismatchError` naming every difference, and the file is left exactly as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import DataError, RunMismatchError

__all__ = ["RunFile", "RunContents", "read_run", "config_differences", "FORMAT"]

FORMAT = "mctsr-eval/1"  # the header's "format": bump when records change incompatibly


@dataclass
class RunContents:
    """What a run file holds: its header, its complete records, and whether a torn tail was found."""

    path: Path
    header: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    torn_bytes: int = 0  # size of an incomplete last line (0 when the file ends cleanly)
    good_size: int = 0  # bytes up to and including the last complete line

    def keys(self) -> set[tuple[str, int]]:
        """The (problem id, rollouts) pairs already done."""
        return {(r["id"], int(r["rollouts"])) for r in self.records}


def _lines(raw: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, end offset incl. newline, line bytes) of every newline-terminated line."""
    start = 0
    lineno = 0
    while True:
        nl = raw.find(b"\n", start)
        if nl < 0:
            return
        lineno += 1
        yield lineno, nl + 1, raw[start:nl]
        start = nl + 1


def read_run(path: str | os.PathLike[str]) -> RunContents:
    """Parse a run file without changing it. A torn last line is left out and measured in `torn_bytes`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{p}: no such run file") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
    contents = RunContents(path=p, header=None)
    parsed: list[tuple[int, int, dict[str, Any] | None]] = []
    for lineno, end, line in _lines(raw):
        try:
            obj = json.loads(line.decode("utf-8")) if line.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = False  # type: ignore[assignment]
        parsed.append((lineno, end, obj))  # type: ignore[arg-type]
    tail = len(raw) - (parsed[-1][1] if parsed else 0)
    # A complete-looking last line that is not JSON is a torn write too (its newline came from a later write).
    if parsed and parsed[-1][2] is False:
        tail += len(raw[(parsed[-2][1] if len(parsed) > 1 else 0) : parsed[-1][1]])
        parsed.pop()
    contents.torn_bytes = tail
    contents.good_size = parsed[-1][1] if parsed else 0
    for lineno, _, obj in parsed:
        if obj is None:
            continue
        if obj is False or not isinstance(obj, dict):
            raise DataError(f"{p}:{lineno}: damaged run record (not a JSON object); the file was not changed")
        if contents.header is None:
            if obj.get("type") != "header":
                raise RunMismatchError(f"{p}:{lineno}: not an mctsr eval run file (no header line)")
            if obj.get("format") != FORMAT:
                raise RunMismatchError(
                    f"{p}: run file format {obj.get('format')!r}, this version reads {FORMAT!r}"
                )
            contents.header = obj
            continue
        if obj.get("type") != "result" or "id" not in obj or "rollouts" not in obj:
            raise DataError(f"{p}:{lineno}: damaged run record (not a result record)")
        contents.records.append(obj)
    return contents


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested configurations ("seed: 0 in the file, 1 now")."""
    diffs: list[str] = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs.extend(config_differences(a, b, prefix=f"{name}."))
        elif a != b:
            diffs.append(f"{name}: {json.dumps(a, default=str)[:80]} in the file, {json.dumps(b, default=str)[:80]} now")
    return diffs


class RunFile:
    """An open run file for appending: locked, header checked (or written), torn tail repaired."""

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], *, log: Any = None) -> None:
        """Open `path` for `header["config"]`: create it, or check it was written by the same configuration.

        Raises RunMismatchError (nothing changed) when the file's configuration differs."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._lock()
            contents = read_run(self.path) if os.fstat(self._fd).st_size else RunContents(self.path, None)
            if contents.header is not None:
                diffs = config_differences(contents.header.get("config", {}), header["config"])
                if diffs:
                    raise RunMismatchError(
                        f"{self.path} was written by a different configuration ({'; '.join(diffs)}); "
                        "use another --out file, or the same options as that run"
                    )
            if contents.torn_bytes:
                if log:
                    log(f"{self.path}: dropped an incomplete last line ({contents.torn_bytes} bytes) "
                        "left by an interrupted run")
                os.ftruncate(self._fd, contents.good_size)
                os.fsync(self._fd)
            self.header = contents.header or header
            self.records = contents.records
            self.repaired_bytes = contents.torn_bytes
            if contents.header is None:
                self._write_line(header)
        except BaseException:
            os.close(self._fd)
            raise

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunMismatchError(f"{self.path} is in use by another running `mctsr eval`") from None

    def _write_line(self, obj: Mapping[str, Any]) -> None:
        data = (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # one write normally; a short write continues the same line
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line and make it durable before returning."""
        self._write_line(record)
        self.records.append(dict(record))

    def keys(self) -> set[tuple[str, int]]:
        return {(r["id"], int(r["rollouts"])) for r in self.records}

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1

    def __enter__(self) -> "RunFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
