"""The `mctsr` command: `mctsr solve`, `mctsr eval`, `mctsr report`, `mctsr info`, `mctsr view`, ...

Each subcommand lives in its own module (`cli_solve`, `cli_eval`, `cli_info`, `cli_view`, ...), which provides
`add_parser(subparsers)` and sets `func` on its parser; a module listed in `SUBCOMMANDS` that is not there (a
subcommand of an optional part) is skipped. Subcommand parsers get examples in their help (`epilog`) and
report usage errors with their own usage line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
}


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

    parser = argparse.ArgumentParser(
        prog="mctsr", description="Monte Carlo Tree Self-Refine on a local GGUF model.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES["solve"][:1] + EXAMPLES["eval"][:1] + EXAMPLES["report"][:1])
        + "\n\n`mctsr COMMAND --help` lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mctsr-native {__version__}")
    parser.register("action", "parsers", _Subparsers)
    sub = parser.add_subparsers(dest="command", required=True)
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


def main(argv: list[str] | None = None) -> int:
    from .errors import MctsrError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand's usage, not the top-level one
        sub = parser._mctsr_subparsers.choices.get(getattr(args, "command", None), parser)  # type: ignore[attr-defined]
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except MctsrError as e:
        print(f"mctsr: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system or a device said no: name the path, no traceback
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"mctsr: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mctsr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
