"""`mctsr serve`: MCTSr behind an OpenAI-compatible endpoint (FastAPI on uvicorn, sse-starlette for streams).

    POST /v1/chat/completions   the model name picks the search, or self-consistency (serve_protocol.py has
                                the wire rules)
    GET  /v1/models             the ready names and the forms of every other name
    GET  /v1/mctsr/stats        searches running, queued, done, cancelled, failed; engine calls merged
    GET  /health                llama-server's: 200 {"status": "ok"}, or 503 while the model loads

The HTTP edge (the model slot behind /health, one log line per request, OpenAI-shaped errors on every status)
is serve_edge.py. Given a `loader` instead of a backend, the server answers at once and loads the model in
a thread, as llama-server does; every endpoint but /health is a 503 until it is loaded.

Each search runs in a worker thread (at most `max_concurrency` at once; more wait their turn) and drives
the Solver's step API itself, so that between two steps it can see that its client went away and stop: a
started step always completes, nothing else is spent. The searches share the model through
`generation.client.BackendShare`: an HTTP backend is called directly, the in-process engine through one
`SharedBackend` that merges the calls of the searches in flight into one batch. Progress crosses from the
worker to the event loop through `loop.call_soon_threadsafe` into an asyncio queue.

Limits: the per-request time limit is the search's `max_seconds` stop rule (checked between steps: the reply
comes with the best answer so far, stop reason "time"; a step in progress completes, and a reply that ran
past the limit says by how much in `mctsr.time_limit`); a request body over `max_request_bytes` is a 413,
one slower than `body_timeout` a 408, and a connection whose request headers take longer than
`header_timeout` is closed (serve_http.py); options the model cannot serve (capacity.py) are a 400 before
any work; with an API key, a request without `Authorization: Bearer KEY` is a 401 (compared in constant time).
"""

# no `from __future__ import annotations`: FastAPI reads the route signatures at run time

import asyncio
import concurrent.futures as cf
import contextlib
import hmac
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from .capacity import capacity_of
from .consistency import READS
from .errors import BackendError, MctsrError
from .safe_io import loads
from .serve_edge import ModelSlot, RequestLog, format_request, install_error_handlers, note
from .serve_protocol import (RequestError, SearchRequest, chunk, completion, error_body, finish_reason,
                             listed_models, parse_chat_request, progress_chunk, summary, usage)
from .driver import drive
from .solve_config import SolveConfig
from .solver import SolveResult, Solver, StepReport
from .wording import plural

__all__ = ["ServeOptions", "SearchPool", "create_app", "drive_search", "drive_request"]

log = logging.getLogger("mctsr_native.serve")


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """What the server allows each request."""

    api_key: str | None = None  # requests must carry `Authorization: Bearer <api_key>` (None = open)
    max_seconds: float | None = 300.0  # time limit of one search (None = none); a request may ask for less
    max_concurrency: int = 4  # searches running at once; more requests wait for a free worker
    max_request_bytes: int = 1 << 20  # largest request body; a larger one is a 413
    poll_seconds: float = 0.25  # how often a plain (non-streaming) request checks that its client is there
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers (serve_http.py)
    body_timeout: float = 30.0  # seconds a request's body may take to arrive; a slower one is a 408
    prompt_override: bool = True  # whether `mctsr.prompts` may replace the templates (named fields only)

    def validate(self) -> None:
        from .errors import InvalidConfigError

        for name in ("max_concurrency", "max_request_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("max_seconds", "poll_seconds", "header_timeout", "body_timeout"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
            if not (value is None and name == "max_seconds") and not ok:
                raise InvalidConfigError(f"{name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.prompt_override, bool):
            raise InvalidConfigError(f"prompt_override must be True or False, got {self.prompt_override!r}")
        if self.api_key is not None and not (isinstance(self.api_key, str) and self.api_key):
            raise InvalidConfigError("api_key must be a non-empty string or None")


def drive_search(problem: str, backend: Any, config: Any, cancel: threading.Event,
                 progress: Callable[[StepReport], None]) -> SolveResult | None:
    """The search of one request through the driver: it stops at the next step once `cancel` is set (its
    client went away). None when it was cancelled before it started."""
    solver = Solver(problem, backend, config)
    if cancel.is_set():
        return None
    return drive(solver, cancel=cancel, on_step=progress)


def drive_request(request: SearchRequest, backend: Any, cancel: threading.Event,
                  progress: Callable[[Any], None]) -> Any:
    """What a request asked for: its search (drive_search), or self-consistency for an mctsr-sc-N name (its
    ScResult; the draw stops between batches once `cancel` is set). None when cancelled before it started."""
    if not request.samples:
        return drive_search(request.problem, backend, request.config, cancel, progress)
    from .consistency import self_consistency

    if cancel.is_set():
        return None
    return self_consistency(request.problem, backend=backend, config=request.config, samples=request.samples,
                            cancel=cancel, progress=progress)


@dataclass
class _Search:
    """One request's search as the event loop sees it."""

    request: SearchRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue = field(default_factory=asyncio.Queue)  # ("progress", StepReport) ... ("done"|"error", x)
    rid: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


class SearchPool:
    """The worker threads, the shared model, and the counters of /v1/mctsr/stats."""

    def __init__(self, backend: Any, options: ServeOptions) -> None:
        from .generation.client import BackendShare

        self.backend = backend
        self.options = options
        self.share = BackendShare(backend)
        self.executor = cf.ThreadPoolExecutor(max_workers=options.max_concurrency, thread_name_prefix="mctsr-search")
        self._lock = threading.Lock()
        self._live: set[threading.Event] = set()
        self.counts = {"queued": 0, "running": 0, "completed": 0, "cancelled": 0, "failed": 0}

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                self.counts[k] += v

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
        merger = self.share.merger
        return {**counts, "merged_calls": merger.merged_calls if merger is not None else 0,
                "max_concurrency": self.options.max_concurrency, "backend": self.backend.name}

    def submit(self, search: _Search) -> None:
        """Start the search on a worker; its events arrive in `search.events`."""
        loop = asyncio.get_running_loop()

        def post(kind: str, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the server is shutting down
                loop.call_soon_threadsafe(search.events.put_nowait, (kind, value))

        def work() -> None:
            self._count(queued=-1, running=1)
            outcome = "failed"
            try:
                with self.share.lease() as backend:
                    result = drive_request(search.request, backend, search.cancel, lambda rec: post("progress", rec))
                    merged = backend.merged_calls
                stopped = result is None or result.stats["stop_reason"] == "cancelled"
                outcome = "cancelled" if stopped else "completed"
                if stopped:
                    done = "" if result is None else " after " + (
                        plural(result.stats["samples"], "answer") if search.request.samples
                        else plural(result.stats["rollouts"], "rollout"))
                    log.info("%s: search cancelled (its client went away)%s", search.rid, done)
                post("done", (result, merged))
            except BaseException as e:  # every failure reaches the client
                if not isinstance(e, MctsrError):
                    log.exception("%s: the search failed", search.rid)
                post("error", e)
            finally:
                self._count(running=-1, **{outcome: 1})
                with self._lock:
                    self._live.discard(search.cancel)

        with self._lock:
            self._live.add(search.cancel)
            self.counts["queued"] += 1
        self.executor.submit(work)

    def close(self) -> None:
        """Cancel every search, wait for the steps in flight to end (the model is still open)."""
        with self._lock:
            for cancel in self._live:
                cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=False)


def _status_of(error: BaseException) -> tuple[int, str]:
    if isinstance(error, BackendError):
        return 502, "model_error"
    if isinstance(error, (MctsrError, ValueError)):  # a problem too long for the context, a bad option
        return 400, "invalid_request_error"
    return 500, "server_error"


def create_app(backend: Any = None, options: ServeOptions | None = None, *, loader: Callable[[], Any] | None = None,
               defaults: SolveConfig | None = None,
               log_request: Callable[[dict[str, Any]], None] | None = None) -> Any:
    """The ASGI app serving MCTSr on `backend` (left open: the caller closes it after the app stops), or on the
    backend `loader()` opens in a thread when the app starts (closed by the app when it stops; /health is 503
    until then). `defaults`: the search of a request before its own fields (the config file's); `log_request`
    gets one dict per request (default: a log line)."""
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse
    from sse_starlette.sse import EventSourceResponse

    from .errors import InvalidConfigError

    if (backend is None) == (loader is None):
        raise InvalidConfigError("create_app needs a backend or a loader, one of them")
    options = options or ServeOptions()
    options.validate()
    slot = ModelSlot()
    if backend is not None:
        slot.ready(backend, SearchPool(backend, options))
    started = int(time.time())

    def load() -> None:
        try:
            opened = loader()  # type: ignore[misc]
        except BaseException as e:  # the server cannot serve: say why; the caller stops the server
            log.error("the model could not be loaded: %s", e)
            slot.failed(e)
            return
        slot.ready(opened, SearchPool(opened, options))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        loading = loop.run_in_executor(None, load) if loader is not None else None
        yield
        if loading is not None:
            await loading  # a load in progress cannot be interrupted: let it end, then close what it opened
        if slot.pool is not None:
            await loop.run_in_executor(None, slot.pool.close)
        if loader is not None and slot.backend is not None:
            slot.backend.close()

    app = FastAPI(title="mctsr serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.slot = slot
    install_error_handlers(app)
    app.add_middleware(RequestLog, report=log_request or (lambda entry: log.info("%s", format_request(entry))))

    async def ready() -> Any:
        return slot.require()

    async def authorized(request: Request) -> None:
        if options.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), options.api_key.encode()):
            raise RequestError(401, "missing or wrong API key: send the header Authorization: Bearer <key>",
                               kind="authentication_error", code="invalid_api_key")

    async def read_body(request: Request) -> Any:
        limit = options.max_request_bytes
        too_big = RequestError(413, f"the request body is larger than {limit} bytes", code="request_too_large")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
            raise too_big

        async def collect() -> bytearray:
            data = bytearray()
            async for part in request.stream():
                data += part
                if len(data) > limit:
                    raise too_big
            return data

        try:  # a client that sends its body slowly must not hold a worker of the event loop's forever
            data = await asyncio.wait_for(collect(), options.body_timeout)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the request body did not arrive within {options.body_timeout:g} s "
                                    "(the server's --body-timeout)", code="request_timeout") from None
        try:
            return loads(bytes(data))  # every failure a ValueError: syntax, nesting, huge integers, surrogates
        except ValueError as e:
            raise RequestError(400, f"the request body is not JSON: {e}") from None

    @app.get("/health")
    @app.get("/v1/health")
    async def health() -> JSONResponse:
        status, body = slot.health()
        return JSONResponse(body, status_code=status)

    @app.get("/v1/models", dependencies=[Depends(authorized), Depends(ready)])
    async def models() -> dict[str, Any]:
        return listed_models(started)

    @app.get("/v1/mctsr/stats", dependencies=[Depends(authorized)])
    async def stats() -> dict[str, Any]:
        return slot.require().stats()

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    async def chat(request: Request) -> Any:
        pool = slot.require()
        capacity = capacity_of(slot.backend)  # every request's options are checked against it before any work
        body = await read_body(request)
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            note(request, model=body["model"][:80])
        search = _Search(parse_chat_request(body, max_seconds=options.max_seconds, capacity=capacity,
                                            allow_prompts=options.prompt_override, defaults=defaults))
        note(request, id=search.rid)
        pool.submit(search)
        config = search.request.config.to_dict()
        config.pop("prompts", None)
        if search.request.samples:  # self-consistency: only what shaped its answers
            config = {k: config[k] for k in READS}
        extra = {"backend": getattr(slot.backend, "name", ""), "config": config}
        if search.request.ignored_fields:
            extra["ignored_fields"] = list(search.request.ignored_fields)
        if search.request.stream:
            return EventSourceResponse(_stream(search, extra, request), ping=15, send_timeout=30)
        while True:
            try:
                kind, value = await asyncio.wait_for(search.events.get(), options.poll_seconds)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    search.cancel.set()
                    log.info("%s: client disconnected; the search stops at its next step", search.rid)
                    return JSONResponse(error_body("client disconnected", "cancelled"), status_code=499)
                continue
            if kind == "progress":
                continue
            if kind == "error":
                status, what = _status_of(value)
                message = str(value) if status != 500 else f"internal error: {type(value).__name__}"
                note(request, error=message)
                return JSONResponse(error_body(message, what), status_code=status)
            result, merged = value
            note(request, usage=usage(result.stats))
            return completion(search.rid, search.created, search.request.model, result,
                              merged_calls=merged, **extra)

    async def _stream(search: _Search, extra: dict[str, Any], request: Any) -> AsyncIterator[dict[str, str]]:
        rid, created, model = search.rid, search.created, search.request.model
        data = lambda body: {"data": json.dumps(body, ensure_ascii=False)}  # noqa: E731
        finished = False
        try:
            yield data(chunk(rid, created, model, {"role": "assistant", "content": ""}))
            while True:
                kind, value = await search.events.get()
                if kind == "progress":
                    yield data(progress_chunk(rid, created, model, value, search.request.config.rollouts))
                    continue
                finished = True
                if kind == "error":
                    status, what = _status_of(value)
                    message = str(value) if status != 500 else f"internal error: {type(value).__name__}"
                    note(request, error=message)
                    yield data(error_body(message, what, code=str(status)))
                    return
                result, merged = value
                note(request, usage=usage(result.stats))
                yield data(chunk(rid, created, model, {"content": result.text}))
                yield data(chunk(rid, created, model, {}, finish_reason(result),
                                 mctsr=summary(result, merged_calls=merged, **extra)))
                if search.request.include_usage:
                    yield data(chunk(rid, created, model, None, usage=usage(result.stats)))
                yield {"data": "[DONE]"}
                return
        finally:
            if not finished:  # the client went away (sse-starlette cancelled this generator)
                search.cancel.set()
                log.info("%s: client disconnected; the search stops at its next step", rid)

    return app
