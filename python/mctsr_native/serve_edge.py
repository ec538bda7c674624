"""The edge of `mctsr serve` that a client sees, shaped like llama-server's: the model slot behind `GET /health`, one
line per request, and OpenAI-shaped error bodies on every status.

- `ModelSlot`: the server answers from the first second; while the model loads, `GET /health` is 503
  `{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}` and every other endpoint
  503 too (llama-server's words); once loaded, `/health` is 200 `{"status": "ok"}`. `/health` and
  `/v1/health` need no API key (load balancers and container health checks call them).
- `RequestLog`: an ASGI middleware that reports each request once it is over (a stream when its last chunk
  is sent): method, path, model, status, tokens and seconds. Handlers add what they know to the request's
  `state.mctsr_log` dict (model, usage, error).
- `install_error_handlers`: 404, 405, 422 and unexpected 500s get the OpenAI error object
  (`{"error": {"message", "type", "param", "code"}}`), as every refusal of the endpoints already does.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

from .serve_protocol import RequestError, error_body

__all__ = ["ModelSlot", "RequestLog", "install_error_handlers", "format_request", "ENDPOINTS"]

ENDPOINTS = ("GET /health", "GET /v1/models", "GET /v1/mctsr/stats", "POST /v1/chat/completions")
_KIND = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
         422: "invalid_request_error", 429: "rate_limit_error", 503: "unavailable_error"}


class ModelSlot:
    """The server's model: loading until `ready` (or `failed`), then the search pool that serves requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pool: Any = None  # serve.SearchPool, once the model is loaded
        self.backend: Any = None
        self.error: BaseException | None = None  # why the model could not be loaded

    def ready(self, backend: Any, pool: Any) -> None:
        with self._lock:
            self.backend, self.pool = backend, pool

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self.error = error

    def require(self) -> Any:
        """The search pool; RequestError 503 while the model loads (or after it failed to)."""
        with self._lock:
            pool, error = self.pool, self.error
        if pool is not None:
            return pool
        if error is not None:
            raise RequestError(503, f"the model could not be loaded: {error}; the server is stopping",
                               kind="unavailable_error", code="model_load_failed")
        raise RequestError(503, "Loading model", kind="unavailable_error", code="model_loading")

    def health(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of GET /health, in llama-server's shape."""
        try:
            self.require()
        except RequestError as e:
            return 503, {"error": {"code": 503, "message": e.message, "type": "unavailable_error"}}
        return 200, {"status": "ok"}


def format_request(entry: Mapping[str, Any]) -> str:
    """A request's log line: "POST /v1/chat/completions mctsr-4: 200, 1834 tokens (1267 prompt + 567
    generated), 12.3 s"."""
    model = f" {entry['model']}" if entry.get("model") else ""
    parts = [str(entry["status"])]
    if entry.get("prompt_tokens") is not None:
        prompt, generated = entry["prompt_tokens"], entry.get("completion_tokens") or 0
        parts.append(f"{prompt + generated} tokens ({prompt} prompt + {generated} generated)")
    if entry.get("error"):
        parts.append(f"error: {str(entry['error'])[:120]}")
    return f"{entry['method']} {entry['path']}{model}: {', '.join(parts)}, {entry['seconds']:.1f} s"


class RequestLog:
    """ASGI middleware: `report(entry)` once per HTTP request, when its response is over (module doc)."""

    def __init__(self, app: Any, report: Callable[[dict[str, Any]], None]) -> None:
        self.app = app
        self.report = report

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info: dict[str, Any] = {}
        scope.setdefault("state", {})["mctsr_log"] = info
        status: list[int] = []

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            usage = info.get("usage") or {}
            self.report({"method": scope.get("method", ""), "path": scope.get("path", ""),
                         "model": info.get("model"), "status": status[0] if status else 500,
                         "prompt_tokens": usage.get("prompt_tokens"),
                         "completion_tokens": usage.get("completion_tokens"), "error": info.get("error"),
                         "id": info.get("id"), "seconds": time.perf_counter() - started})


def note(request: Any, **fields: Any) -> None:
    """Add what a handler knows (model, usage, error, id) to its request's log line."""
    log = getattr(request.state, "mctsr_log", None)
    if isinstance(log, dict):
        log.update({k: v for k, v in fields.items() if v is not None})


def install_error_handlers(app: Any) -> None:
    """OpenAI-shaped bodies for the statuses the framework answers itself (404, 405, 422) and for a failure no
    handler expected (500, without its details: they are in the server's log)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestError)
    async def refused(request: Any, e: RequestError) -> JSONResponse:
        note(request, error=e.message)
        return JSONResponse(error_body(e.message, e.kind, param=e.param, code=e.code), status_code=e.status)

    @app.exception_handler(HTTPException)
    async def framework(request: Any, e: HTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        if e.status_code == 404:
            message, code = f"no endpoint {where}; the endpoints are {', '.join(ENDPOINTS)}", "not_found"
        elif e.status_code == 405:
            allowed = (e.headers or {}).get("allow") or (e.headers or {}).get("Allow") or ""
            message, code = f"{where}: method not allowed{f' (allowed: {allowed})' if allowed else ''}", \
                "method_not_allowed"
        else:
            message, code = str(e.detail), None
        note(request, error=message)
        return JSONResponse(error_body(message, _KIND.get(e.status_code, "invalid_request_error"), code=code),
                            status_code=e.status_code, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, e: RequestValidationError) -> JSONResponse:
        first = (e.errors() or [{}])[0]
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or None
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
        note(request, error=message)
        return JSONResponse(error_body(message, "invalid_request_error", param=where, code="invalid_value"),
                            status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Any, e: Exception) -> JSONResponse:
        note(request, error=f"internal error: {type(e).__name__}")
        return JSONResponse(error_body(f"internal error: {type(e).__name__}", "server_error"), status_code=500)
