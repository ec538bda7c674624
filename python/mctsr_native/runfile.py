"""The evaluation run file: JSONL, a header line with the run's configuration, then one record per
(problem, rollouts) pair, appended as the work completes.

Crash safety. Each record is one line written with a single `write` on an `O_APPEND` descriptor, then
`fsync`ed, so a run killed at any point (even `kill -9`) leaves every finished record whole and at most one
torn line at the end. On reopening, a torn last line (no final newline, or not JSON) is reported and cut off
(the file is truncated back to its last complete line) before anything is appended; a damaged line anywhere
else is an error, never silently dropped. While a run appends, it holds an exclusive `flock` on the file, so
two runs can never interleave lines. A header that does not match the current configuration raises
`RunMismatchError` naming every difference, and the file is left exactly as it was; so does a file whose
first line is not a run header (a torn tail is repaired only after a valid header). A header with no record
after it is replaced (nothing is lost: the run that wrote it never finished a problem).

Durability (docs/bad-input.md): an appended record is fsynced before `append` returns; a new run file's
directory entry is fsynced on creation; tree files and other whole-file outputs go through
`atomic_write_text` (temporary file, fsync, rename, fsync of the directory). After a power loss a run file
holds every record whose `append` returned, and at most one torn line, which the next run cuts off.

Replacement. Another program can put a new file at the path while a run appends (`git stash` or `git checkout`
of a committed run file, an editor's save-by-rename, a sync tool, `rm`); appending on to the old, nameless file
would write records nobody can read. Before each record the run checks that the path still names the file it
holds. If not, it continues in the file now at the path when that file is this run's (same configuration, or a
new empty one where the old was removed), first copying in the records of this run it lacks; otherwise it saves
this run's records in a new file beside it (`<name>.saved-<pid>-<time>`) and stops with `RunMismatchError`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .data import bounded_lines, open_input
from .errors import DataError, RunMismatchError
from .generation import is_server
from .wording import plural
from .safe_io import (JSONSyntaxError, atomic_write_text, check_writable, fsync_dir, loads,
                      read_regular)

__all__ = ["RunFile", "model_name", "RunContents", "read_run", "read_tree", "record_tree", "tree_ref_problem", "tree_file_name", "check_tree_names", "config_differences",
           "atomic_write_text", "check_writable", "fsync_dir", "FORMAT"]

FORMAT = "mctsr-eval/1"  # the header's "format": bump when records change incompatibly
# Output options that older versions wrote into the header's identity ("config"): how the results are stored or
# shown, not what they are, so a resume may change them (`--trees`, `--view`); left out of the comparison.
OUTPUT_KEYS = ("tree_storage",)


MAX_LINE_BYTES = 256 << 20  # a longer line is not a record this package wrote (inline trees stay far below)
MAX_TREE_BYTES = MAX_LINE_BYTES  # a tree file (`--trees DIR`) is the same tree a record would hold inline
MAX_ROLLOUTS = 2**31 - 1  # the largest budget `mctsr eval --rollouts` takes (the C++ core's 32-bit counts)
_HEADER_START = b'{"type": "header"'  # how every header line begins (json.dumps keeps the key order)

# What a result record's fields must be, when present: report, resume and the progress bar read them.
_INT = (int,)
_RECORD_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {  # name -> (types, None allowed)
    "id": ((str,), False),
    "rollouts": (_INT, False),
    "dataset": ((str,), True),
    "level": ((str, int), True),
    "subject": ((str,), True),
    "correct": ((bool,), True),
    "correct_max_q": ((bool,), True),
    "pass_at_tree": ((bool,), True),
    "tokens_evaluated": (_INT, True),
    "tokens_reused": (_INT, True),
    "tokens_generated": (_INT, True),
    "model_calls": (_INT, True),
    "seconds": ((int, float), True),
    "model_seconds": ((int, float), True),
    "error": ((str,), True),
    "tree_path": ((str,), True),
    "method": ((str,), False),
    "tokens_target": (_INT, True),
}


@dataclass
class RunContents:
    """What a run file holds: its header, its complete records, and whether a torn tail was found."""

    path: Path
    header: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    torn_bytes: int = 0  # size of an incomplete last line (0 when the file ends cleanly)
    good_size: int = 0  # bytes up to and including the last complete line

    def keys(self) -> set[tuple[str, int, str]]:
        """The (problem id, rollouts, method) triples already done (method "mctsr" or a baseline's name)."""
        return record_keys(self.records)


def record_keys(records: Any) -> set[tuple[str, int, str]]:
    """(problem id, rollouts, method) of each record; records written before baselines existed are "mctsr"."""
    return {(r["id"], int(r["rollouts"]), str(r.get("method") or "mctsr")) for r in records}


def _check_record(obj: dict[str, Any], where: str) -> None:
    """A result record's fields have the types the readers rely on; DataError naming line and field if not."""
    for name in ("id", "rollouts"):
        if name not in obj:
            raise DataError(f"{where}: damaged run record (a result record without {name!r}); the file was not changed")
    for name, (types, nullable) in _RECORD_FIELDS.items():
        if name not in obj or (nullable and obj[name] is None):
            continue
        value = obj[name]
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if ok and types is _INT:
            ok = value >= 0
        if ok and isinstance(value, float):
            ok = value == value and value not in (float("inf"), float("-inf"))
        if not ok:
            want = {(str,): "a string", _INT: "an integer >= 0", (bool,): "true or false",
                    (int, float): "a number", (str, int): "a string or an integer"}[types]
            raise DataError(f"{where}: field {name!r} must be {want}, got {json.dumps(value)[:80]}; "
                            "the file was not changed")
    rollouts, done = obj["rollouts"], obj.get("rollouts_done")
    if rollouts > MAX_ROLLOUTS:
        raise DataError(f"{where}: field 'rollouts' is {rollouts}, beyond any budget `mctsr eval` plans "
                        f"(at most {MAX_ROLLOUTS}); the file was not changed")
    if done is not None and not (isinstance(done, int) and not isinstance(done, bool) and 0 <= done <= rollouts):
        raise DataError(f"{where}: field 'rollouts_done' must be an integer in [0, rollouts={rollouts}], got "
                        f"{json.dumps(done)[:80]} (a search never does more rollouts than its budget); "
                        "the file was not changed")


def read_run(path: str | os.PathLike[str], *, keep_trees: bool = True,
             not_a_run: str = "give a run file that `mctsr eval` wrote") -> RunContents:
    """Parse a run file without changing it, line by line (a record's inline tree is dropped unless
    `keep_trees`, so a large run is never held in memory whole). A torn last line is left out and measured
    in `torn_bytes`. Raises RunMismatchError when the first line is not a run header (the file is someone
    else's; `not_a_run` is the message's advice), DataError naming the line and field for a damaged or
    ill-typed record."""
    p = Path(path)
    f = open_input(p, "run file", "run file")
    contents = RunContents(path=p, header=None)
    with f:
        offset = 0
        bad: tuple[int, int] | None = None  # (line number, length) of a complete line that is not JSON
        for lineno, line in bounded_lines(f, p, MAX_LINE_BYTES):
            if bad is not None:  # a damaged line with more after it: not a torn write
                raise DataError(f"{p}:{bad[0]}: damaged run record (not a JSON object); the file was not changed")
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE_BYTES:
                    raise DataError(f"{p}:{lineno}: a line longer than {MAX_LINE_BYTES >> 20} MiB: not a run file "
                                    "this program wrote")
                if contents.header is None and not _HEADER_START.startswith(line[: len(_HEADER_START)]):
                    _not_a_run_file(p, not_a_run)
                contents.torn_bytes = len(line)  # the last write was cut short
                break
            try:
                obj = loads(line.decode("utf-8")) if line.strip() else None
            except (UnicodeDecodeError, JSONSyntaxError):
                if contents.header is None:
                    _not_a_run_file(p, not_a_run)
                bad = (lineno, len(line))
                continue
            except ValueError as e:  # JSON this program never writes: nested too deeply, a huge integer, ...
                if contents.header is None:
                    _not_a_run_file(p, not_a_run)
                raise DataError(f"{p}:{lineno}: damaged run record ({e}); the file was not changed") from None
            offset += len(line)
            contents.good_size = offset
            if obj is None:
                continue
            where = f"{p}:{lineno}"
            if contents.header is None:
                if not isinstance(obj, dict) or obj.get("type") != "header":
                    _not_a_run_file(p, not_a_run)
                if obj.get("format") != FORMAT:
                    raise RunMismatchError(f"{p}: run file format {obj.get('format')!r}, this version reads {FORMAT!r}")
                if not isinstance(obj.get("config"), dict) or not isinstance(obj.get("plan", {}), dict):
                    raise DataError(f"{where}: damaged run header (its 'config' is not an object); "
                                    "the file was not changed")
                contents.header = obj
                continue
            if not isinstance(obj, dict) or obj.get("type") != "result":
                raise DataError(f"{where}: damaged run record (not a result record); the file was not changed")
            _check_record(obj, where)
            if not keep_trees:
                obj.pop("tree", None)
            contents.records.append(obj)
        if bad is not None:  # a complete-looking last line that is not JSON: a torn write (its newline came later)
            contents.torn_bytes += bad[1]
    return contents


_TREE_ID_CHARS = 80  # of a problem id in a tree file's name: with the hash and budget, far below NAME_MAX (255)


def tree_file_name(problem_id: str, rollouts: int, suffix: str = ".json") -> str:
    """The tree file of one record: the id made file-safe and cut to 80 characters, a hash of the whole id
    (so cut ids stay apart), the budget: "gsm8k-12-1a2b3c4d-r4.json". Bounded whatever the id's length."""
    import re
    import zlib

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", problem_id).strip("_")[:_TREE_ID_CHARS] or "problem"
    return f"{safe}-{zlib.crc32(problem_id.encode('utf-8', 'surrogatepass')):08x}-r{rollouts}{suffix}"


def check_tree_names(ids: list[str], rollouts: tuple[int, ...], folder: Path) -> None:
    """Before any model work: every (id, rollouts) gets its own tree file name, and the longest one can be
    created in `folder` (a file system with shorter names fails now, not after a search)."""
    from .errors import InvalidConfigError

    seen: dict[str, str] = {}
    for pid in ids:
        name = tree_file_name(pid, 0)
        if seen.setdefault(name, pid) != pid:
            raise InvalidConfigError(f"problems {seen[name]!r:.100} and {pid!r:.100} would share tree files "
                                     f"({name}): give one of them another id")
    longest = max((tree_file_name(pid, max(rollouts)) for pid in ids), key=len, default=None)
    if longest is None:
        return
    probe = folder / f".{longest}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as e:
        raise InvalidConfigError(f"--trees {folder}: cannot create the tree file {longest}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


def tree_ref_problem(ref: str) -> str | None:
    """Why a record's `tree_path` is not one `mctsr eval` writes (a relative path to a .json file that stays
    inside the run file's folder), or None when it is one."""
    if "\x00" in ref or not ref.endswith(".json"):
        return "not the path of a .json tree file"
    norm = os.path.normpath(ref)
    if os.path.isabs(ref) or norm == os.pardir or norm.startswith(os.pardir + os.sep):
        return "outside the run file's folder (tree files are kept beside their run)"
    return None


def record_tree(run_path: str | os.PathLike[str], record: Mapping[str, Any]) -> dict[str, Any]:
    """The tree of a run record, the one lookup every reader uses: inline (`tree`), else the file its
    `tree_path` names inside the run file's folder (read_tree's checks); DataError when it has neither."""
    if isinstance(record.get("tree"), Mapping):
        return dict(record["tree"])
    return read_tree(run_path, record)


def read_tree_text(path: Path, *, what: str = "file") -> str:
    """A tree or search-result file as text, the one reader of both: a regular file (never a device, a FIFO or a
    folder) of at most MAX_TREE_BYTES, UTF-8; DataError naming the path and the `what` it was read as otherwise."""
    try:
        raw = read_regular(path, MAX_TREE_BYTES)
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_TREE_BYTES:
        raise DataError(f"{path}: longer than {MAX_TREE_BYTES >> 20} MiB: not a tree file or search result this "
                        "program wrote")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot read: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_tree(run_path: str | os.PathLike[str], record: Mapping[str, Any]) -> dict[str, Any]:
    """The tree of a run record written to a file (`tree_path`, relative to the run file's folder): only a
    regular file inside that folder, at most MAX_TREE_BYTES, holding a JSON object; DataError otherwise."""
    ref = record.get("tree_path")
    where = f"{run_path}: problem {record.get('id')!r} (rollouts {record.get('rollouts')})"
    if not isinstance(ref, str) or not ref:
        reason = f": the search failed ({record['error']})" if record.get("error") else ""
        raise DataError(f"{where} has no tree{reason}")
    why = tree_ref_problem(ref)
    if why:
        raise DataError(f"{where}: its tree_path {ref[:200]!r} is {why}; refused")
    tree_file = Path(os.path.abspath(run_path)).parent / ref
    text = read_tree_text(tree_file, what=f"tree file ({where})")
    try:
        tree = loads(text)
    except ValueError as e:
        raise DataError(f"{tree_file}: not a tree file: {e}") from None
    if not isinstance(tree, dict):
        raise DataError(f"{tree_file}: not a tree file (a JSON object expected)")
    return tree


def _not_a_run_file(p: Path, advice: str) -> None:
    raise RunMismatchError(f"{p} exists and is not an mctsr eval run file (its first line is not a run header); "
                           f"it was left untouched: {advice}")


def _model_names(old: Mapping[str, Any], new: Mapping[str, Any], diffs: list[str]) -> list[str]:
    """`diffs` with the model's said by name ("model: a.gguf in the file, b.gguf now (another file by content)")
    instead of its identity's fields (a size and a content hash), when the models differ."""
    if old.get("config", {}).get("model") == new.get("config", {}).get("model"):
        return diffs
    a, b = ((h.get("plan") or {}).get("model") for h in (old, new))
    name = lambda m: "the default model" if m is None else str(m)  # noqa: E731
    rest = [d for d in diffs if not d.startswith(("model:", "model."))]
    return [f"model: {name(a)} in the file, {name(b)} now (another model by content)", *rest]


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "",
                       defaults: Mapping[str, Any] | None = None) -> list[str]:
    """Human-readable differences between two nested configurations ("seed: 0 in the file, 1 now").

    `defaults` (same nesting) holds what a key absent from `old` stands for: an option added after the file
    was written, set now to the value its absence meant then, is the same search, not a difference."""
    diffs: list[str] = []
    defaults = defaults if isinstance(defaults, Mapping) else {}
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs.extend(config_differences(a, b, prefix=f"{name}.", defaults=defaults.get(key)))
        elif key not in old and key in defaults and b == defaults[key]:
            continue
        elif a != b:
            diffs.append(f"{name}: {json.dumps(a, default=str)[:80]} in the file, {json.dumps(b, default=str)[:80]} now")
    return diffs


def _refuse_special(mode: int, path: Path) -> None:
    import stat

    from .safe_io import file_kind

    if not stat.S_ISREG(mode):
        raise DataError(f"--out {path} is {file_kind(mode)}, not a regular file: a run file is appended to and "
                        "repaired in place; give a regular file's path")


class RunFile:
    """An open run file for appending: locked, header checked (or written), torn tail repaired."""

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], *, log: Any = None,
                 defaults: Mapping[str, Any] | None = None) -> None:
        """Open `path` for `header["config"]`: create it, or check it was written by the same configuration
        (`defaults`: what options absent from an older file stood for, see `config_differences`).

        Raises RunMismatchError (nothing changed) when the file's configuration differs, or when the file is
        not a run file at all. A file holding only a header (a run that failed before its first record, e.g.
        on a mistyped --model) has nothing to lose: it is rewritten with the new header."""
        self.path = Path(path)
        say = self._say = log or (lambda message: None)
        self._defaults = defaults
        if self.path.is_dir():
            raise DataError(f"{self.path} is a directory: give a file name for the run's records")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists()
            if existed:  # a FIFO or a device is not a run file: refused before it is opened
                _refuse_special(os.stat(self.path).st_mode, self.path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o644)
        except OSError as e:
            raise DataError(f"cannot open the run file {self.path}: {e.strerror or e}") from None
        try:
            _refuse_special(os.fstat(self._fd).st_mode, self.path)  # the file opened is the file checked
            os.set_blocking(self._fd, True)
            self._lock()
            if not existed:
                fsync_dir(self.path.parent)  # the new file's name survives a power loss too
            contents = (read_run(self.path, keep_trees=False, not_a_run="give another --out file")
                        if os.fstat(self._fd).st_size
                        else RunContents(self.path, None))
            if contents.header is not None:
                old, new = ({k: v for k, v in h.get("config", {}).items() if k not in OUTPUT_KEYS}
                            for h in (contents.header, header))
                diffs = config_differences(old, new, defaults=defaults)
                if diffs and contents.records:
                    raise RunMismatchError(
                        f"{self.path} was written by a different configuration "
                        f"({'; '.join(_model_names(contents.header, header, diffs))}); use another --out file, or "
                        "the same options as that run"
                    )
                if diffs:
                    say(f"{self.path}: replacing a header with no records (a run that never finished a problem)")
                    contents = RunContents(self.path, None)
                    os.ftruncate(self._fd, 0)
                    os.fsync(self._fd)
            if contents.torn_bytes:
                say(f"{self.path}: dropped an incomplete last line ({contents.torn_bytes} bytes) "
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
        """Append one record as one line and make it durable before returning (to the file at the path, see
        "Replacement" in the module doc)."""
        if self._replaced():
            self._follow_replacement()
        self._write_line(record)
        self.records.append({k: v for k, v in record.items() if k != "tree"})

    def keys(self) -> set[tuple[str, int, str]]:
        return record_keys(self.records)

    def _replaced(self) -> bool:
        """Whether the path no longer names the file this run holds open."""
        try:
            now = os.stat(self.path)
        except OSError:
            return True
        held = os.fstat(self._fd)
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def _held_lines(self) -> list[bytes]:
        """The complete lines of the file this run holds (its header and records), read through its descriptor."""
        data, offset = bytearray(), 0
        while chunk := os.pread(self._fd, 1 << 20, offset):
            data += chunk
            offset += len(chunk)
        return [line + b"\n" for line in bytes(data).split(b"\n")[:-1]]

    def _follow_replacement(self) -> None:
        """Move to the file now at the path, copying in this run's records it lacks; save them and stop if that
        file is not this run's (module doc, "Replacement")."""
        lines = self._held_lines()
        try:
            new = RunFile(self.path, self.header, log=self._say, defaults=self._defaults)
        except (DataError, RunMismatchError) as e:  # another run's file, a special file, a folder, one in use
            raise RunMismatchError(f"{self.path} was replaced while this run was writing it, by a file it may not "
                                   f"append to ({e}); {self._save(lines)}") from None
        have, copied = new.keys(), 0
        for raw in lines[1:]:
            try:
                obj = loads(raw.decode("utf-8"))
            except ValueError:
                continue  # not a record this run wrote whole
            if not (isinstance(obj, dict) and obj.get("type") == "result"):
                continue
            keys = record_keys([obj])
            if not keys <= have:
                new.append(obj)
                have |= keys
                copied += 1
        os.close(self._fd)
        self._fd, new._fd = new._fd, -1
        self.header, self.records = new.header, new.records
        self._say(f"{self.path} was replaced while this run was writing it (git stash or checkout, an editor, a sync "
                  f"tool?): continuing in the file now there, with {plural(copied, 'record')} of this run that it "
                  "lacked copied in")

    def _save(self, lines: list[bytes]) -> str:
        """Write this run's lines to a new file beside the path (never an existing name, never through a link);
        say where, or that they could not be saved."""
        saved = self.path.with_name(f"{self.path.name}.saved-{os.getpid()}-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                view = memoryview(b"".join(lines))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            return (f"this run's {plural(len(lines) - 1, 'record')} could not be saved ({e.strerror or e}); the run "
                    "stops rather than write records nobody can read")
        return (f"this run's header and {plural(len(lines) - 1, 'record')} are saved in {saved}: move it to "
                f"{self.path.name} (or give it as --out) and run the same command again to resume")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1

    def __enter__(self) -> "RunFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def model_name(header: Mapping[str, Any]) -> str:
    """The run's model as a person reads it: the file name or server URL it was given, else the default's name
    (the header's identity holds a content hash, not a name)."""
    plan = header.get("plan") or {}
    model = plan.get("model") if "model" in plan else (header.get("config") or {}).get("model")
    if model is None or isinstance(model, dict):
        return "the default model (SmolLM2-135M-Instruct)" if model is None else "a GGUF file (name not recorded)"
    return str(model) if is_server(model) else Path(str(model)).name
