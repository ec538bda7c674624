"""Named files in and out, and untrusted JSON and text, handled so that no input hangs, crashes or replaces
anything (docs/bad-input.md).

- **Inputs** (`open_regular`, `read_regular`) must be regular files: a FIFO, a device or a socket is refused
  by its type before anything blocks on it or reads it whole (the check is made on the open descriptor, which
  is opened non-blocking, so a FIFO without a writer cannot hang the open either). Standard input is `-`,
  where a command takes it.
- **Outputs** (`output_target`, `check_writable`, `atomic_write_text`) are written by atomic replacement
  (a temporary file beside the target, fsync, rename, fsync of the folder), which would replace a device or
  a FIFO with a regular file: such a target is refused. A symbolic link is written through: its target is
  resolved first and replaced, and the link stays. The temporary file gets a random name created with
  O_EXCL, so a planted file or link of a guessable name is never followed.
- **JSON** (`loads`): every failure is a `ValueError` with a one-line reason: bad syntax, nesting deeper than
  the parser's stack (`RecursionError`), integers over Python's 4,300-digit conversion limit, and lone
  surrogates (`"\\ud800"`, which no UTF-8 file can hold and which would fail later, when written or tokenized).
- **Text** (`text_problem`): a string that cannot be encoded as UTF-8 (a lone surrogate, e.g. from a command
  line argument that was not UTF-8) or that holds NUL bytes is refused up front, by name.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InvalidConfigError

__all__ = ["SpecialFileError", "file_kind", "open_regular", "read_regular", "output_target", "check_writable",
           "atomic_write_text", "fsync_dir", "loads", "JSONSyntaxError", "text_problem", "MAX_INT_DIGITS"]

MAX_INT_DIGITS = 4300  # Python's own limit on int('...'): a longer integer is refused by name, not by traceback


class SpecialFileError(OSError):
    """A named file that is not a regular file where one is needed (a FIFO, a device, a socket)."""


class JSONSyntaxError(ValueError):
    """Text that is not JSON (possibly a line cut short); other refusals of `loads` are plain ValueErrors."""


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, in words ("a FIFO (named pipe)", "a character device", ...)."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a special file"


def _refuse_kind(mode: int, path: str | os.PathLike[str], hint: str) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    if not stat.S_ISREG(mode):
        raise SpecialFileError(errno.EINVAL, f"it is {file_kind(mode)}, not a regular file{hint}", os.fspath(path))


def open_regular(path: str | os.PathLike[str], *, hint: str = "") -> BinaryIO:
    """Open a regular file for reading in binary mode. A directory raises IsADirectoryError; a FIFO, device or
    socket raises SpecialFileError (an OSError whose strerror says what the file is, then `hint`) without
    blocking or reading from it; other failures are the OSError of the open."""
    _refuse_kind(os.stat(path).st_mode, path, hint)  # before the open: a device is not even opened
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _refuse_kind(os.fstat(fd).st_mode, path, hint)  # the file opened is the file checked
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int, *, hint: str = "") -> bytes:
    """At most `limit` + 1 bytes of a regular file (`open_regular`): a caller sees a longer file as too long
    without reading it whole."""
    with open_regular(path, hint=hint) as f:
        return f.read(limit + 1)


# ------------------------------------------------------------------------------------------------- outputs


def output_target(path: str | os.PathLike[str]) -> Path:
    """The file an output to `path` replaces: symbolic links resolved (the link stays, its target is
    rewritten). SpecialFileError when that file exists and is not a regular file or a directory (callers
    refuse directories with their own words)."""
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as e:  # a link loop (ELOOP), a path through a non-directory: name the path given
        raise OSError(e.errno, e.strerror, os.fspath(path)) from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise SpecialFileError(
            errno.EINVAL, f"it is {file_kind(mode)}, not a regular file: outputs are written by replacing the "
            "file, which would replace the device or pipe; give a regular file's path (to discard an output, "
            "leave its option out)", os.fspath(path))
    return real


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a directory's entries (a new or renamed file's name) durable; a no-op where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _new_temp(folder: Path) -> tuple[int, Path]:
    """A new file in `folder` with a random name, created exclusively (never an existing file or link)."""
    while True:
        tmp = folder / f".mctsr-{secrets.token_hex(8)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `path` so that a crash or power loss leaves either the old file or the whole new one: a temporary
    file beside it, fsynced, renamed over it, and the directory fsynced. A symbolic link is written through
    (its target replaced); a target that is a device, FIFO or socket is refused (SpecialFileError)."""
    target = output_target(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    data = text.encode("utf-8")
    fd, tmp = _new_temp(target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def check_writable(path: str | os.PathLike[str], *, what: str, directory: bool = False) -> Path:
    """Fail now, before any model work, if `path` cannot be written later: a missing or read-only parent, a
    directory where a file is wanted (or a file where a directory is), a device, FIFO or socket (which the
    atomic write would replace), a folder that accepts no new files (/proc). Creates a wanted directory.
    Returns `path`."""
    target = Path(path)
    try:
        if directory:
            if target.exists() and not target.is_dir():
                raise InvalidConfigError(f"{what} {target} exists and is not a directory: give a directory")
            target.mkdir(parents=True, exist_ok=True)
            folder = target
        else:
            if target.is_dir():
                raise InvalidConfigError(f"{what} {target} is a directory: give a file name (inside it, say)")
            try:
                real = output_target(target)
            except SpecialFileError as e:
                raise InvalidConfigError(f"{what} {target}: {e.strerror}") from None
            folder = real.parent
            if not folder.is_dir():
                raise InvalidConfigError(f"{what} {target}: the directory {folder} does not exist (create it first)")
        try:
            fd, probe = _new_temp(folder)
        except OSError as e:
            why = e.strerror or str(e)
            if e.errno in (errno.ENOENT, errno.ENOTDIR):  # the folder is there: it takes no new files
                why = f"the folder {folder} takes no new files ({why}; a virtual file system such as /proc?)"
            raise InvalidConfigError(f"{what} {target} cannot be written: {why}") from None
        os.close(fd)
        probe.unlink()
        if not directory and target.exists() and not os.access(target, os.W_OK):
            raise InvalidConfigError(f"{what} {target} is not writable")
    except OSError as e:
        raise InvalidConfigError(f"{what} {target} cannot be written: {e.strerror or e}") from None
    return target


# ---------------------------------------------------------------------------------------------------- JSON

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how a surrogate gets into a JSON text


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _lone_surrogate(value: Any) -> str | None:
    """The first string in `value` (nested) that UTF-8 cannot encode, shortened for a message; else None."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                return f"{v[max(0, e.start - 20):e.start + 1]!a}"
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def loads(text: str | bytes) -> Any:
    """`json.loads`, with every failure a ValueError naming the reason in one line (module doc)."""
    try:
        value = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise JSONSyntaxError(f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply (arrays or objects inside each other beyond Python's stack)") from None
    except ValueError as e:  # an integer over the digit limit
        raise ValueError(str(e).split("; use sys.")[0]) from None
    raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
    if _SURROGATE_ESCAPE.search(raw):
        bad = _lone_surrogate(value)
        if bad is not None:
            raise ValueError(f"a string holds a lone surrogate (near {bad}): not valid Unicode text")
    return value


def text_problem(text: str, what: str) -> str | None:
    """Why `text` cannot be given to a model (a lone surrogate, a NUL byte), in words naming `what`; None if
    it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"{what} is not valid Unicode text: character {e.start} is a lone surrogate "
                f"({text[e.start]!a}; was the input UTF-8?)")
    if "\x00" in text:
        return f"{what} holds a NUL byte (character {text.index(chr(0))}): it is binary data, not text"
    return None
