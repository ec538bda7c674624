"""`mctsr serve`: MCTSr behind an OpenAI-compatible endpoint (serve.py), on the local GGUF or in front of
OpenAI-compatible servers. Binds 127.0.0.1 unless told otherwise; the API key comes from --api-key or the
environment variable MCTSR_API_KEY.

It takes what `mctsr solve` takes: the model and engine flags (`-m`, `-ngl`, `-c`, `-t`, `-fa`, `--server`, ...),
`--config FILE` / `--print-config`, the search flags and `--progress` / `-q`. The search flags and a config
file's [search] / [tree] / [prompts] are the server's search: what the model name `mctsr` means, and where
every request starts before its own fields. As llama-server does, it answers from the first second and loads
the model meanwhile (`GET /health` is 503 until then), and writes one line per request on standard error
(`--progress json`: one JSON object per request, for programs).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from typing import Any

__all__ = ["add_parser", "cmd_serve", "API_KEY_ENV"]

API_KEY_ENV = "MCTSR_API_KEY"


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `serve` on the `mctsr` command."""
    from .cli_progress import add_progress_options
    from .cli_solve import add_model_options, add_search_options

    p = sub.add_parser(
        "serve", help="serve MCTSr as an OpenAI-compatible chat-completions endpoint",
        description="Serve POST /v1/chat/completions, GET /v1/models and GET /health; the model name picks the "
                    "search (mctsr, mctsr-8, mctsr-4-p2 = 4 rollouts of width 2), or self-consistency "
                    "(mctsr-sc-8 = the majority of 8 independent answers). Searches run concurrently on "
                    "one model, their calls merged into one batch. Model, engine and search options are those of "
                    "`mctsr solve` (flags or --config); the search options are where every request starts.")
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1: this machine only]")
    s.add_argument("--port", type=_positive(int), default=8000, help="port [8000]")
    s.add_argument("--api-key", default=None,
                   help=f"require 'Authorization: Bearer KEY' on every request but /health [environment "
                        f"{API_KEY_ENV}]")
    s.add_argument("--max-seconds", type=_positive(float), default=300.0,
                   help="time limit of one search, checked between its steps; a request may ask for less [300]")
    s.add_argument("--max-concurrency", type=_positive(int), default=4,
                   help="searches running at once (more wait their turn) [4]")
    s.add_argument("--max-request-bytes", type=_positive(int), default=1 << 20,
                   help="largest request body; a larger one gets 413 [1048576]")
    s.add_argument("--header-timeout", type=_positive(float), default=10.0,
                   help="seconds a connection may take to send a request's headers, then it is closed [10]")
    s.add_argument("--body-timeout", type=_positive(float), default=30.0,
                   help="seconds a request's body may take to arrive; a slower one gets 408 [30]")
    s.add_argument("--no-prompt-override", dest="prompt_override", action="store_false",
                   help="refuse mctsr.prompts in requests (templates are always limited to their named fields)")
    add_progress_options(p, default="lines")
    add_model_options(p)
    # --max-seconds above is the server's limit per search; the search's own is a request's mctsr.max_seconds
    add_search_options(p, skip=("--max-seconds",))
    p.set_defaults(func=cmd_serve)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def request_reporter(progress: Any) -> Any:
    """One progress event per request: a line (`lines`), a JSON object (`json`), or nothing (`none`)."""
    from .serve_edge import format_request

    def report(entry: dict[str, Any]) -> None:
        progress.event("request", format_request(entry), **entry)

    return report


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .cli_progress import Progress, progress_mode
    from .cli_solve import check_model_options, print_config, solve_config_from_args
    from .generation import is_server
    from .errors import InvalidConfigError
    from .serve import ServeOptions, create_app
    from .serve_http import uvicorn_config

    defaults = solve_config_from_args(args)
    if args.print_config:
        print_config(args, defaults, skip=("max_seconds",))
        return 0
    if defaults.max_seconds is not None and defaults.max_seconds > args.max_seconds:
        raise InvalidConfigError(f"the config's max_seconds {defaults.max_seconds:g} is above the server's limit "
                                 f"--max-seconds {args.max_seconds:g}")
    mode = progress_mode(args)
    quiet = mode == "none"
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s:     %(name)s: %(message)s")
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not _loopback(args.host) and api_key is None:
        logging.getLogger("mctsr_native.serve").warning(
            "serving on %s without an API key: anyone who reaches this address can spend the model's time "
            "(give --api-key or %s)", args.host, API_KEY_ENV)
    options = ServeOptions(api_key=api_key, max_seconds=args.max_seconds, max_concurrency=args.max_concurrency,
                           max_request_bytes=args.max_request_bytes, header_timeout=args.header_timeout,
                           body_timeout=args.body_timeout, prompt_override=args.prompt_override)
    options.validate()  # before the model loads
    target = check_model_options(args)  # a bad --server or option combination fails before the server starts
    if not is_server(target):
        from .models import resolve_model

        resolve_model(target)  # so does a missing or non-GGUF model file
    progress = Progress(mode)
    server: Any = None

    def load() -> Any:
        from .cli_solve import _model_loaded

        try:
            backend = _model_loaded(args, defaults, progress)
        except BaseException:
            if server is not None:
                server.should_exit = True  # nothing to serve: stop (the error is raised below)
            raise
        progress.event("ready", f"ready: http://{args.host}:{args.port}/v1 (one line per request follows)",
                       host=args.host, port=args.port)
        return backend

    app = create_app(loader=load, options=options, defaults=defaults, log_request=request_reporter(progress))
    # uvicorn says only what goes wrong (a port in use, ...): the requests are logged here, one line each
    config = uvicorn_config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5, header_timeout=options.header_timeout)
    server = uvicorn.Server(config)
    progress.event("starting", f"starting the server on http://{args.host}:{args.port}/v1 (GET /health is 503 "
                   "until the model is loaded)", host=args.host, port=args.port, model=target)
    server.run()
    error = app.state.slot.error
    if error is not None:  # logged in full above; the last line says why the server stopped
        from .errors import MctsrError

        raise MctsrError(f"the server stopped: the model could not be loaded ({str(error).splitlines()[0]})")
    return 0
