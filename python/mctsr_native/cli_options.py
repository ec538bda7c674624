"""The option flags of `mctsr solve` / `mctsr eval`, generated from the config dataclasses, and `--config FILE`.

Every field of `ModelSource` ("model": `-m/--model`, `--server`), `SolveConfig` ("search"), `TreeConfig`
("tree"), `LlamaOptions` ("llama") and `HttpOptions` ("http") becomes a flag named after it (`reward_samples`
-> `--reward-samples`), with the field's comment (or attribute docstring), read whole, as help and its default
shown. The comments are read from the source with the standard library's `ast` and `tokenize`, so a field
documented once is documented on the command line too.

Why argparse and not tyro / jsonargparse: both own the whole parser and nest names (`--tree.max-children`),
which would break every existing flag and the `add_parser(sub)` plug-in of subcommands (`mctsr serve` and the
rest); building argparse actions from `dataclasses.fields` keeps the flags flat and the subcommands pluggable.

A config file (TOML, or YAML with PyYAML) holds the same field names, in sections `[model]`, `[search]`,
`[tree]`, `[llama]`, `[http]`, `[prompts]`, or flat at the top when exactly one section has the name (a name that
several sections have, like `model` = `[model]` or `[http] model`, is refused as ambiguous). Flags given on the
command line win over the file. `--print-config` prints the effective config, model included, as TOML that
`--config` reads back.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import json
import math
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Literal

__all__ = ["SECTIONS", "long_flag", "ModelSource", "field_docs", "sort_config", "int_type", "finite_type", "add_config_options",
           "add_dataclass_flags", "effective_config", "to_toml", "load_config_file"]

INT32_MAX = 2**31 - 1  # integers that reach llama.cpp or the C++ core are 32-bit there
SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit in llama.cpp's samplers


def int_type(low: int, high: int = INT32_MAX):
    """An argparse type: an integer in [low, high] (argparse turns the error into a usage message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"expected an integer <= {high}, got {value}")
        return value

    return parse


def finite_type(low: float = -math.inf, *, strict: bool = False):
    """An argparse type: a finite number >= low (> low when strict); "nan" and "inf" are refused by name."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"expected a number {'>' if strict else '>='} {low:g}, got {text!r}")
        return value

    return parse


@dataclasses.dataclass(frozen=True)
class Section:
    """One config dataclass on the command line: its config-file section and how its fields become flags."""

    name: str  # config-file section, and the prefix of the flags' dests ("search.rollouts")
    title: str  # argparse group title
    load: typing.Callable[[], type]  # the dataclass (imported late: llama_cpp must not load for --help)
    no_flag: tuple[str, ...] = ()  # fields set only in a config file (or by another flag)
    names: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # flag spellings, if not --field
    ints: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # integer bounds, if not [0, 2^31)
    floats: dict[str, tuple[float, bool]] = dataclasses.field(default_factory=dict)  # (low, strict)
    derived: dict[str, str] = dataclasses.field(default_factory=dict)  # fields set from another option: its name
    metavars: dict[str, str] = dataclasses.field(default_factory=dict)  # metavar of a flag, if not N / X / TEXT
    shown: dict[str, str] = dataclasses.field(default_factory=dict)  # the default as help shows it, if not its value


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSource:
    """Which model runs the search (the command line's `-m/--model` and `--server`, a config file's [model])."""

    path: str | None = None  # GGUF model file, or http(s) URL(s) of OpenAI-compatible servers (comma-separated)
    server: str | None = None  # OpenAI-compatible server(s) (llama-server, vLLM, SGLang), comma-separated; the
    # same as a URL in path


def _model_source() -> type:
    return ModelSource


def _solve_config() -> type:
    from .solve_config import SolveConfig

    return SolveConfig


def _tree_config() -> type:
    from .tree import TreeConfig

    return TreeConfig


def _llama_options() -> type:
    from .generation.llama.engine import LlamaOptions

    return LlamaOptions


def _http_options() -> type:
    from .generation.http import HttpOptions

    return HttpOptions


def _prompts() -> type:
    from .prompts import Prompts

    return Prompts


DEFAULT_MODEL = "the SmolLM2-135M-Instruct model installed with the package"

SECTIONS: tuple[Section, ...] = (
    Section("model", "model", _model_source, names={"path": ("-m", "--model"), "server": ("--server",)},
            metavars={"path": "PATH.gguf", "server": "URL"}, shown={"path": DEFAULT_MODEL}),
    Section("search", "search (SolveConfig)", _solve_config, no_flag=("tree", "prompts"),
            names={"seed": ("-s", "--seed"), "temperature": ("--temp", "--temperature")},
            ints={"parallel": (1, 256), "reward_samples": (1, 256), "reselect_samples": (0, 256),
                  "reward_retries": (0, 16), "agreement_min": (1, INT32_MAX),
                  "answer_max_tokens": (1, INT32_MAX), "critique_max_tokens": (1, INT32_MAX),
                  "refine_max_tokens": (1, INT32_MAX), "reward_max_tokens": (12, INT32_MAX),
                  "seed": (0, SEED_MAX), "token_budget": (1, 2**63 - 1)},
            floats={"temperature": (0.0, False), "reward_temperature": (0.0, False), "max_seconds": (0.0, True),
                    "top_p": (0.0, True)}),
    Section("tree", "tree rules (TreeConfig; unset fields keep the --rules preset's)", _tree_config,
            ints={"max_children": (1, INT32_MAX)}),
    Section("llama", "in-process engine (LlamaOptions)", _llama_options, no_flag=("seed",),
            names={"n_gpu_layers": ("-ngl", "--n-gpu-layers", "--gpu-layers"),
                   "n_ctx": ("-c", "--ctx-size", "--n-ctx"), "n_threads": ("-t", "--threads", "--n-threads"),
                   "n_batch": ("-b", "--batch-size", "--n-batch"), "flash_attn": ("-fa", "--flash-attn")},
            ints={"n_gpu_layers": (-1, INT32_MAX), "n_ctx": (1, INT32_MAX), "n_threads": (1, INT32_MAX),
                  "n_batch": (1, INT32_MAX), "max_sequences": (1, INT32_MAX)},
            derived={"seed": "[search] seed"}),
    Section("http", "OpenAI-compatible servers (HttpOptions, with --server)", _http_options,
            no_flag=("seed", "api_key", "extra_body", "context_size"),
            names={"model": ("--server-model",), "concurrency": ("--server-concurrency",)},
            ints={"concurrency": (1, INT32_MAX)},
            floats={"timeout": (0.0, True), "backoff": (0.0, False)},
            derived={"seed": "[search] seed"}),
    Section("prompts", "prompts", _prompts, no_flag=("*",)),
)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation, read whole: its attribute docstring; else the `#` comment on its line(s)
    with the comment-only lines that continue it; else the block of comment-only lines just above it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source shipped (a frozen app): flags without their comments
        return {}
    comments: dict[int, str] = {}
    alone: set[int] = set()  # lines that hold nothing but a comment
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
            if not tok.line[: tok.start[1]].strip():
                alone.add(tok.start[0])
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    claimed: set[int] = set()  # comment-only lines that continue the comment of the field before them
    for i, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        after = body[i + 1] if i + 1 < len(body) else None
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[node.target.id] = " ".join(after.value.value.split())
            continue
        end = node.end_lineno or node.lineno
        lines = [n for n in range(node.lineno, end + 1) if n in comments and n not in alone]
        if lines:  # a trailing comment, and the comment-only lines right after it
            n = end + 1
            while n in alone:
                lines.append(n)
                claimed.add(n)
                n += 1
        else:  # the block of comment-only lines just above the field
            n = node.lineno - 1
            while n in alone and n not in claimed:
                lines.insert(0, n)
                n -= 1
        docs[node.target.id] = " ".join(comments[n] for n in lines)
    return docs


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else hint), True
    return hint, False


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def add_dataclass_flags(p: argparse.ArgumentParser, section: Section, *, skip: tuple[str, ...] = (),
                        defaults: Any = None) -> None:
    """One flag per field of the section's dataclass (dest "section.field", default None = not given)."""
    if "*" in section.no_flag:
        return
    cls = section.load()
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    base = defaults if defaults is not None else cls()
    g = p.add_argument_group(section.title)
    for f in dataclasses.fields(cls):
        if f.name in section.no_flag or f.name in section.derived or f.name in skip:
            continue
        names = section.names.get(f.name, (f"--{f.name.replace('_', '-')}",))
        hint, optional = _strip_optional(hints[f.name])
        default = getattr(base, f.name)
        shown = section.shown.get(f.name, _show(default))
        help_text = (docs.get(f.name) or f.name).replace("%", "%%") + f" [default: {shown.replace('%', '%%')}]"
        kw: dict[str, Any] = {"dest": f"{section.name}.{f.name}", "default": None, "help": help_text}
        if hint is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is Literal:
            kw["choices"] = typing.get_args(hint)
        elif hint is int:
            kw["type"] = int_type(*section.ints.get(f.name, (0, INT32_MAX)))
            kw["metavar"] = "N"
        elif hint is float:
            low, strict = section.floats.get(f.name, (-math.inf, False))
            kw["type"] = finite_type(low, strict=strict)
            kw["metavar"] = "X"
        elif hint is str:
            kw["metavar"] = "TEXT"
        else:
            continue  # a structured field (mappings, nested configs): config file only
        if f.name in section.metavars:
            kw["metavar"] = section.metavars[f.name]
        g.add_argument(*names, **kw)


def long_flag(section: str, name: str) -> str:
    """The `--long-name` of a field's flag, as messages name it (a field with only a short flag: that one)."""
    spelled = next(s for s in SECTIONS if s.name == section).names.get(name, (f"--{name.replace('_', '-')}",))
    return next((n for n in spelled if n.startswith("--")), spelled[0])


def add_config_options(p: argparse.ArgumentParser) -> None:
    """`--config FILE` and `--print-config`."""
    g = p.add_argument_group("config file")
    g.add_argument("--config", type=Path, default=None, metavar="FILE.toml|FILE.yaml",
                   help="read options from a TOML or YAML file (sections [model] [search] [tree] [llama] [http] "
                        "[prompts], or flat keys that only one section has, named as the fields); flags given "
                        "here win")
    g.add_argument("--print-config", action="store_true",
                   help="print the effective config as TOML (loadable with --config) and exit")


MAX_CONFIG_BYTES = 1 << 20  # a config file holds options and prompt templates: a larger one is refused unread


def _no_alias_loader() -> type:
    """PyYAML's safe loader, refusing aliases (`*name`): a few lines of nested aliases expand to billions of
    values (the "billion laughs"), and options never need them."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not supported", mark)
            return super().compose_node(parent, index)

    return Loader


def _parse_config(raw: bytes, path: Path) -> Any:
    from .errors import InvalidConfigError

    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InvalidConfigError("YAML config files need PyYAML (pip install pyyaml), or use TOML") from None
        try:
            return yaml.load(raw.decode("utf-8"), Loader=_no_alias_loader()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InvalidConfigError(f"--config {path} is not valid YAML: {' '.join(str(e).split())}") from None
        except RecursionError:
            raise InvalidConfigError(f"--config {path} is nested too deeply (lists or tables inside each other)") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidConfigError(f"--config {path} is not valid TOML: {e} (YAML files end in .yaml)") from None
    except RecursionError:
        raise InvalidConfigError(f"--config {path} is nested too deeply (arrays or tables inside each other)") from None


def _type_problem(hint: Any, value: Any) -> str | None:
    """Why `value` does not fit a field annotated `hint` (what it must be), or None when it fits."""
    hint, optional = _strip_optional(hint)
    if value is None:
        return None if optional else "must not be null"
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return None if isinstance(value, str) and value in choices else f"must be one of {', '.join(choices)}"
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if hint is str:
        return None if isinstance(value, str) else "must be a string"
    origin = typing.get_origin(hint)
    if origin is not None and isinstance(origin, type) and issubclass(origin, typing.Mapping):  # type: ignore[arg-type]
        return None if isinstance(value, dict) else "must be a table"
    return None


def load_config_file(path: Path) -> dict[str, dict[str, Any]]:
    """The file's values by section; unknown sections or fields, and values of the wrong type, are an
    InvalidConfigError naming them. Only a regular file of at most MAX_CONFIG_BYTES is read."""
    from .errors import InvalidConfigError
    from .safe_io import read_regular

    try:
        raw = read_regular(path, MAX_CONFIG_BYTES)
    except OSError as e:
        raise InvalidConfigError(f"cannot read --config {path}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidConfigError(f"--config {path} is longer than {MAX_CONFIG_BYTES >> 20} MiB: not a config file")
    data = _parse_config(raw, path)
    if not isinstance(data, dict):
        raise InvalidConfigError(f"--config {path} must hold a table of options, got {type(data).__name__}")
    return sort_config(data, f"--config {path}")


def sort_config(data: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """A config file's table by section: `[section]` tables, and flat keys moved to the one section that has
    them. A flat key that several sections have (or that names a section) is refused as ambiguous, naming
    them; so are unknown names, fields set from another option (`[llama] seed` is `[search] seed`) and values
    of the wrong type."""
    from .errors import InvalidConfigError

    classes = {s.name: s.load() for s in SECTIONS}
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in classes.items()}
    derived = {s.name: s.derived for s in SECTIONS}
    out: dict[str, dict[str, Any]] = {s.name: {} for s in SECTIONS}

    def put(section: str, key: str, value: Any) -> None:
        if key in derived[section]:
            raise InvalidConfigError(f"{where}: [{section}] {key} is set from {derived[section][key]}; "
                                     f"set that instead")
        out[section][key] = value

    for key, value in data.items():
        if key in fields and isinstance(value, dict):
            unknown = sorted(str(k) for k in set(value) - fields[key])
            if unknown:
                raise InvalidConfigError(f"{where}: [{key}] has no field(s) {', '.join(unknown)}; "
                                         f"known: {', '.join(sorted(fields[key]))}")
            for name, v in value.items():
                put(key, name, v)
            continue
        homes = [s.name for s in SECTIONS if key in fields[s.name] and key not in derived[s.name]]
        if key in fields:  # a section's name used as a flat key (`model = "x.gguf"`)
            homes.insert(0, key)
        if len(homes) > 1:
            meant = " or ".join(f"[{h}]" if h == key else f"[{h}] {key}" for h in homes)
            raise InvalidConfigError(f"{where}: {key!r} at the top level is ambiguous: it could be {meant}; "
                                     f"put it under its section (see `--print-config`)")
        if not homes or homes[0] == key:
            raise InvalidConfigError(f"{where}: unknown option {str(key)[:80]!r} (sections: "
                                     f"{', '.join(s.name for s in SECTIONS)}; see `--print-config`)")
        put(homes[0], key, value)
    for section, values in out.items():
        hints = typing.get_type_hints(classes[section])
        for name, value in values.items():
            why = _type_problem(hints[name], value)
            if why:
                raise InvalidConfigError(f"{where}: [{section}] {name} {why}, got {_short(value)}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def effective_config(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The options given, by section: the config file's, overridden by the flags given on the command line
    (read once per parsed command line; each call returns a fresh copy)."""
    cached = getattr(args, "_effective_config", None)
    if cached is None:
        cached = load_config_file(args.config) if getattr(args, "config", None) is not None else {
            s.name: {} for s in SECTIONS}
        for dest, value in vars(args).items():
            section, _, name = dest.partition(".")
            if name and section in cached and value is not None:
                cached[section][name] = value
        args._effective_config = cached
    return {name: dict(values) for name, values in cached.items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def to_toml(sections: dict[str, dict[str, Any]], docs: dict[str, dict[str, str]] | None = None) -> str:
    """TOML for flat sections of scalars (a None value is written as a comment: TOML has no null)."""
    out: list[str] = []
    for name, values in sections.items():
        out.append(f"[{name}]")
        for key, value in values.items():
            note = (docs or {}).get(name, {}).get(key)
            if note and name != "prompts":
                out.extend(f"# {line}" for line in textwrap.wrap(note, 110))
            if value is None:
                out.append(f"# {key} = (none)")
            elif isinstance(value, dict):
                out.append(f"{key} = {{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }")
            else:
                out.append(f"{key} = {_toml_value(value)}")
        out.append("")
    return "\n".join(out)
