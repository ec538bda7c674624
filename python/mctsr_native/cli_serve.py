"""`mctsr serve`: MCTSr behind an OpenAI-compatible endpoint (serve.py), on the local GGUF or in front of
OpenAI-compatible servers. Binds 127.0.0.1 unless told otherwise; the API key comes from --api-key or the
environment variable MCTSR_API_KEY."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys

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
    p = sub.add_parser(
        "serve", help="serve MCTSr as an OpenAI-compatible chat-completions endpoint",
        description="Serve POST /v1/chat/completions and GET /v1/models; the model name picks the search "
                    "(mctsr, mctsr-8, mctsr-4-p2 = 4 rollouts of width 2). Searches run concurrently on one "
                    "model, their calls merged into one batch.")
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", default=None, metavar="PATH.gguf",
                   help="GGUF model file (default: the SmolLM2-135M-Instruct model installed with the package)")
    g.add_argument("--server", default=None, metavar="URL",
                   help="OpenAI-compatible server(s) to search with instead (comma-separated)")
    g.add_argument("--n-ctx", type=_positive(int), default=None, help="context size in tokens [engine default]")
    g.add_argument("--n-gpu-layers", type=int, default=None, help="layers to offload to the GPU (-1 = all) [0]")
    g.add_argument("--threads", type=_positive(int), default=None, help="CPU threads for llama.cpp [auto]")
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1: this machine only]")
    s.add_argument("--port", type=_positive(int), default=8000, help="port [8000]")
    s.add_argument("--api-key", default=None,
                   help=f"require 'Authorization: Bearer KEY' on every request [environment {API_KEY_ENV}]")
    s.add_argument("--max-seconds", type=_positive(float), default=300.0,
                   help="time limit of one search, checked between its steps [300]")
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
    p.set_defaults(func=cmd_serve)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .cli_solve import backend_from_args
    from .serve import ServeOptions, create_app
    from .serve_http import uvicorn_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s", stream=sys.stderr)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not _loopback(args.host) and api_key is None:
        logging.getLogger("mctsr_native.serve").warning(
            "serving on %s without an API key: anyone who reaches this address can spend the model's time "
            "(give --api-key or %s)", args.host, API_KEY_ENV)
    options = ServeOptions(api_key=api_key, max_seconds=args.max_seconds, max_concurrency=args.max_concurrency,
                           max_request_bytes=args.max_request_bytes, header_timeout=args.header_timeout,
                           body_timeout=args.body_timeout, prompt_override=args.prompt_override)
    options.validate()  # before the model loads
    backend = backend_from_args(args)
    try:
        print(f"mctsr serve: {getattr(backend, 'name', '')} on http://{args.host}:{args.port}/v1", file=sys.stderr,
              flush=True)
        config = uvicorn_config(create_app(backend, options), host=args.host, port=args.port, log_level="info",
                                timeout_graceful_shutdown=5, header_timeout=options.header_timeout)
        uvicorn.Server(config).run()
    finally:
        backend.close()
    return 0
