"""The `mctsr` command: `mctsr solve`, `mctsr eval`, `mctsr report`, `mctsr info`, `mctsr view`, ...

Each subcommand lives in its own module (`cli_solve`, `cli_eval`, `cli_info`, `cli_view`, ...), which provides
`add_parser(subparsers)` and sets `func` on its parser; a module listed in `SUBCOMMANDS` that is not there (a
subcommand of an optional part) is skipped. Subcommand parsers get examples in their help (`epilog`).

Every parser is a `Parser`: no abbreviated flags (`allow_abbrev=False`: argparse would read llama.cpp's `-n 64`
as `--n-gpu-layers 64`), and a usage error is three lines, not the full usage: the short usage line, the error,
and the closest flag or choice ("did you mean --rollouts?", difflib), then where the help is.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import re
import signal
import sys
from typing import Any, Iterator, NoReturn

SUBCOMMANDS = ("cli_solve", "cli_eval", "cli_info", "cli_view", "cli_serve")

EXAMPLES = {
    "solve": ['mctsr solve "What is 17 * 23?"',
              'mctsr solve -m model.gguf -ngl 99 -c 8192 --rollouts 4 --json result.json "Solve x^2 = 4"',
              "mctsr solve --config my.toml --print-config > effective.toml"],
    "eval": ["mctsr eval --data gsm8k.jsonl --out run.jsonl --rollouts 0,1,4 --limit 50",
             "mctsr eval --data math.jsonl --out run.jsonl --server http://127.0.0.1:8080 --progress json"],
    "report": ["mctsr report run.jsonl", "mctsr report run.jsonl --format markdown --plot run.png",
               "mctsr report a.jsonl b.jsonl --format csv > table.csv"],
    "info": ["mctsr info", "mctsr info --json > info.json"],
    "view": ["mctsr view result.json", "mctsr view run.jsonl --id gsm8k-12 --rollouts 4 -o tree.html"],
    "serve": ["mctsr serve --port 8080", "mctsr serve -m model.gguf -ngl 99 -c 8192 --api-key KEY --host 0.0.0.0",
              "mctsr serve --config my.toml --progress json   # one JSON object per request on stderr"],
}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser without abbreviations whose usage errors are short and suggest the closest match."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def short_usage(self) -> str:
        """"usage: mctsr eval --data DATA --out OUT [options]": required options and positionals only."""
        formatter = self._get_formatter()
        parts = []
        for a in self._actions:
            if a.help is argparse.SUPPRESS or (a.option_strings and not a.required):
                continue
            if isinstance(a, argparse._SubParsersAction):
                parts.append("COMMAND ...")
            elif a.option_strings:
                parts.append(f"{a.option_strings[-1]} "
                             f"{formatter._format_args(a, formatter._get_default_metavar_for_optional(a))}")
            else:
                parts.append(formatter._format_args(a, formatter._get_default_metavar_for_positional(a)))
        return " ".join(["usage:", self.prog, "[options]", *parts])

    def suggestion(self, message: str) -> str | None:
        """The flag or choice closest to what the error names, or None."""
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
            return close[0] if close else None
        m = re.search(r"unrecognized arguments: (.*)", message)
        if m:
            flags = {s.lstrip("-"): s for a in self._actions for s in a.option_strings
                     if a.help is not argparse.SUPPRESS}
            for word in m.group(1).split():
                name = word.split("=", 1)[0].lstrip("-")
                if not word.startswith("-") or not name:
                    continue
                longer = sorted((f for f in flags if f.startswith(name)), key=len)  # an abbreviation
                close = longer[:1] or difflib.get_close_matches(name, flags, n=1, cutoff=0.7)
                if close:
                    return flags[close[0]]
        return None

    def error(self, message: str) -> NoReturn:
        hint = self.suggestion(message)
        lines = [self.short_usage(), f"{self.prog}: error: {message}"]
        if hint:
            lines.append(f"did you mean {hint}?")
        lines.append(f"(`{self.prog} --help` lists every option)")
        self.exit(2, "\n".join(lines) + "\n")


class _Subparsers(argparse._SubParsersAction):
    """Subparsers that keep the help's layout and end each subcommand's help with its examples."""

    def add_parser(self, name: str, **kwargs):  # type: ignore[override]
        examples = EXAMPLES.get(name)
        if examples and "epilog" not in kwargs:
            kwargs["epilog"] = "examples:\n" + "\n".join(f"  {e}" for e in examples)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return super().add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = Parser(
        prog="mctsr", description="Monte Carlo Tree Self-Refine on a local GGUF model.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES["solve"][:1] + EXAMPLES["eval"][:1] + EXAMPLES["report"][:1])
        + "\n\n`mctsr COMMAND --help` lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mctsr-native {__version__}")
    parser.register("action", "parsers", _Subparsers)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise
            continue
        module.add_parser(sub)
    parser._mctsr_subparsers = sub  # type: ignore[attr-defined]
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, a job scheduler, `docker stop`), handled as Ctrl-C is: a search stops at a safe
    point and its best answer so far is printed (an eval keeps its records); the exit status is then 143."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[bool]]:
    """While the command runs in the main thread, SIGTERM raises `Terminated`; yields [whether one came]."""
    came = [False]

    def terminate(signum: int, frame: Any) -> None:
        came[0] = True
        raise Terminated()

    try:
        old = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread (an embedding): SIGTERM keeps its handler
        yield came
        return
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: list[str] | None = None) -> int:
    from .errors import MctsrError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand's usage, not the top-level one
        sub = parser._mctsr_subparsers.choices.get(getattr(args, "command", None), parser)  # type: ignore[attr-defined]
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    with _sigterm_as_interrupt() as terminated:
        try:
            rc = int(args.func(args) or 0)
            return 143 if terminated[0] else rc  # a search stopped by SIGTERM printed its best answer so far
        except MctsrError as e:
            print(f"mctsr: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # the file system or a device said no: name the path, no traceback
            where = f" {e.filename}" if getattr(e, "filename", None) else ""
            print(f"mctsr: error:{where} {e.strerror or e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("mctsr: terminated (SIGTERM)" if terminated[0] else "mctsr: interrupted", file=sys.stderr)
            return 143 if terminated[0] else 130


if __name__ == "__main__":
    sys.exit(main())
