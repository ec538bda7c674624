"""Evaluation data: any JSONL file with one problem per line (`id`, `problem`, `answer`; optional `level`,
`subject` and other fields), validated up front so a bad file fails before any model work.

Every error is a `DataError` naming the file and the line: malformed JSON, a line that is not an object, a
missing or empty field, a duplicate id (with the line of its first use), an empty file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .errors import DataError
from .safe_io import loads, open_regular, text_problem

__all__ = ["Problem", "load_problems", "dataset_name", "REQUIRED_FIELDS"]

REQUIRED_FIELDS = ("id", "problem", "answer")
MAX_LINE_BYTES = 1 << 20  # one problem record; a longer line (or /dev/zero) is refused, never read whole


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One evaluation problem. `answer` is ground truth: it is for scoring only, never shown to the solver."""

    id: str  # unique within its file
    problem: str  # the problem statement given to the solver
    answer: str  # the reference final answer
    dataset: str  # short dataset name (the file's stem, without a "_test" suffix)
    level: str | None = None  # difficulty level where the source has one (MATH: "1".."5")
    subject: str | None = None  # subject or type where the source has one (MATH: "Algebra", ...)
    line: int = 0  # 1-based line in the file
    extra: dict[str, Any] = field(default_factory=dict)  # every other field of the record, unchanged


def dataset_name(path: str | os.PathLike[str]) -> str:
    """"data/gsm8k_test.jsonl" -> "gsm8k"; any other stem is kept as it is."""
    stem = Path(path).name
    for suffix in (".jsonl", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    for suffix in ("_test", "-test", ".test"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _as_text(value: Any, name: str, where: str) -> str:
    """A field as a non-empty string; numbers (e.g. an answer stored as 72) become their shortest form."""
    if isinstance(value, bool) or value is None:
        raise DataError(f"{where}: field {name!r} must be a string or a number, got {json.dumps(value)}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{where}: field {name!r} is not a finite number: {value}")
        return str(int(value)) if value.is_integer() else repr(value)
    if not isinstance(value, str):
        raise DataError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value


def _optional_text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def load_problems(
    path: str | os.PathLike[str], *, limit: int | None = None, dataset: str | None = None
) -> list[Problem]:
    """Read and validate a whole JSONL file; return its first `limit` problems (all when None).

    Blank lines are skipped. The whole file is validated even with a limit, so a bad line is found now
    rather than in a later, larger run.
    """
    p = Path(path)
    if limit is not None and limit < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    with open_input(p, "data file", "JSONL file") as f:
        return _parse(f, p, dataset or dataset_name(p), limit)


def open_input(p: Path, what: str, wanted: str) -> BinaryIO:
    """`open_regular(p)` for an input the user named, its failures as DataErrors that say what `p` was meant
    to be: "no such {what}", "is a directory, not a {wanted}", or the OS's reason."""
    try:
        return open_regular(p)
    except FileNotFoundError:
        raise DataError(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory, not a {wanted}") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}") from None


def bounded_lines(f: Any, p: Path, max_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) of a binary file, each read up to `max_bytes` + 1 bytes (so a longer line, or
    /dev/zero, is seen as too long instead of filling memory); a read error becomes a DataError naming `p`."""
    lineno = 0
    while True:
        try:
            line = f.readline(max_bytes + 1)
        except OSError as e:
            raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
        if not line:
            return
        lineno += 1
        yield lineno, line


def _parse(f: Any, p: Path, name: str, limit: int | None) -> list[Problem]:
    problems: list[Problem] = []
    first_line_of: dict[str, int] = {}
    for lineno, line_bytes in bounded_lines(f, p, MAX_LINE_BYTES):
        where = f"{p}:{lineno}"
        if len(line_bytes) > MAX_LINE_BYTES:
            raise DataError(f"{where}: a line longer than {MAX_LINE_BYTES >> 20} MiB: not one problem record")
        try:
            line = line_bytes.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise DataError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None
        if lineno == 1:
            line = line.lstrip("\ufeff")
        if not line:
            continue
        try:
            record = loads(line)
        except ValueError as e:  # bad syntax, nested too deeply, a huge integer, a lone surrogate
            raise DataError(f"{where}: malformed JSON ({e})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [k for k in REQUIRED_FIELDS if k not in record]
        if missing:
            raise DataError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for key in REQUIRED_FIELDS:
            value = record[key]
            why = text_problem(value, f"field {key!r}") if isinstance(value, str) else None
            if why:
                raise DataError(f"{where}: {why}")
        pid = _as_text(record["id"], "id", where)
        if pid in first_line_of:
            raise DataError(f"{where}: duplicate id {pid!r} (first used on line {first_line_of[pid]})")
        first_line_of[pid] = lineno
        problem = _as_text(record["problem"], "problem", where)
        if not isinstance(record["problem"], str):
            raise DataError(f"{where}: field 'problem' must be a string")
        answer = _as_text(record["answer"], "answer", where)
        extra = {k: v for k, v in record.items() if k not in (*REQUIRED_FIELDS, "level", "subject")}
        problems.append(
            Problem(
                id=pid,
                problem=problem,
                answer=answer.strip(),
                dataset=name,
                level=_optional_text(record.get("level")),
                subject=_optional_text(record.get("subject")),
                line=lineno,
                extra=extra,
            )
        )
    if not problems:
        raise DataError(f"{p}: empty data file (no records)")
    return problems[:limit] if limit is not None else problems
