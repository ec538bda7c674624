"""The `mctsr` command: `mctsr solve`, `mctsr eval`, `mctsr report`, `mctsr view`, `mctsr info`, `mctsr serve`.

Each subcommand lives in its own module (`cli_solve`, `cli_eval`, `cli_view`), which provides
`add_parser(subparsers)` and sets `func` on its parser.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mctsr", description="Monte Carlo Tree Self-Refine on a local GGUF model."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from . import cli_eval, cli_info, cli_serve, cli_solve, cli_view

    cli_solve.add_parser(sub)
    cli_eval.add_parser(sub)
    cli_info.add_parser(sub)
    cli_view.add_parser(sub)
    cli_serve.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import MctsrError

    parser = build_parser()
    args = parser.parse_args(argv)
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
