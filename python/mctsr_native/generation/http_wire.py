"""What crosses the wire to an OpenAI-compatible server: how a failed attempt is classified (and what to tell
the user), the server's error message, and token estimates when the server gives no counts. Used by `http.py`."""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from typing import Any, Iterator, Sequence

import httpcore
import httpx

from ..errors import BackendError, ContextOverflowError, InvalidConfigError
from .base import Completion, FinishReason, Message

_TEMPLATE_TOKENS_PER_MESSAGE = 6  # role header and end-of-turn tokens of one chat turn (ChatML: 5)
_TEMPLATE_TOKENS = 4  # BOS and the assistant header that opens the reply
_CHARS_PER_TOKEN = 3  # the estimate when the server cannot tokenize (English prose runs ~4)


def _base_url(url: str) -> str:
    """The server root: "http://h:8000/v1/" and "http://h:8000" both give "http://h:8000"."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidConfigError(f"server URL must start with http:// or https://, got {url!r}")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class _AttemptError(Exception):
    """One attempt failed: `kind` names how, `retry` whether another attempt may help."""

    def __init__(self, kind: str, detail: str, *, retry: bool, error_type: type = BackendError,
                 retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.retry = kind, detail, retry
        self.error_type, self.retry_after = error_type, retry_after
        self.final: Exception | None = None  # the error the request ends with, once no attempt is left


_HINTS = {
    "unreachable": "is the server running at that address? Start it (e.g. `llama-server -m MODEL.gguf --port 8080`, "
                   "`python -m llama_cpp.server --model MODEL.gguf`, `vllm serve MODEL`) or fix the URL",
    "connection": "the connection broke mid-request: check that the server is still up (see its log)",
    "timeout": "the server did not answer within the timeout: raise it (--timeout SECONDS, or "
               "HttpOptions(timeout=...)), lower max_tokens or concurrency, or check the server's load",
    "oversize": "the reply is far larger than max_tokens allows: check that the URL points at an OpenAI-compatible "
                "server and that it honours max_tokens",
    "server": "the server failed: see its log",
    "overloaded": "the server is rate-limiting (429): lower concurrency or add endpoints",
    "garbage": "the reply is not an OpenAI chat completion: check that the URL points at an OpenAI-compatible "
               "server (it must serve POST /v1/chat/completions)",
    "context": "shorten the prompt or lower max_tokens, or give the server a larger context (and set context_size)",
    "rejected": "the server refused the request: its message says why",
}


def _status_error(r: httpx.Response) -> _AttemptError:
    """What a non-200 reply means: 429 and 5xx may pass, other 4xx will not."""
    message = _server_message(r)
    code = r.status_code
    if code == 429:
        after = r.headers.get("retry-after", "")
        after = float(after) if re.fullmatch(r"\d+(\.\d+)?", after.strip()) else None
        return _AttemptError("overloaded", f"HTTP 429: {message}", retry=True, retry_after=after)
    if code >= 500:
        return _AttemptError("server", f"HTTP {code}: {message}", retry=True)
    if re.search(r"context (length|window|size)|maximum context|too long|exceeds? the available context", message,
                 re.I):
        return _AttemptError("context", f"HTTP {code}: {message}", retry=False, error_type=ContextOverflowError)
    hint = " (check api_key / $MCTSR_API_KEY)" if code in (401, 403) else ""
    return _AttemptError("rejected", f"HTTP {code}{hint}: {message}", retry=False)


def _server_message(r: httpx.Response) -> str:
    """The error message in a reply body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    try:
        data = r.json()
    except ValueError:
        return r.text.strip()[:300] or r.reason_phrase
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        for value in (err, data.get("detail"), data.get("message")):
            if value:
                return str(value)[:500]
    return str(data)[:300]


def _split_tokens(texts: list[tuple[str, FinishReason]], total: int | None) -> list[tuple[str, FinishReason, int]]:
    """Per-sample generated tokens: the server's count (split by text length among n samples), or an estimate."""
    if total is None:
        return [(t, f, math.ceil(len(t) / _CHARS_PER_TOKEN)) for t, f in texts]
    weights = [len(t) for t, _ in texts]
    if not any(weights):
        weights = [1] * len(texts)
    shares = [total * w // sum(weights) for w in weights]
    shares[-1] += total - sum(shares)
    return [(t, f, s) for (t, f), s in zip(texts, shares)]


def _estimate(messages: Sequence[Message], prefix: str) -> int:
    chars = sum(len(m.content) for m in messages) + len(prefix)
    return math.ceil(chars / _CHARS_PER_TOKEN) + _TEMPLATE_TOKENS + _TEMPLATE_TOKENS_PER_MESSAGE * len(messages)


def _error_completion(why: str) -> Completion:
    return Completion(text="", finish_reason="error", generated_tokens=0, error=why)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# ----- an overall deadline per HTTP request ------------------------------------------------------------------
# httpx's timeouts bound each socket operation, so a server that dribbles one byte per second never times out.
# Every socket read and write of a request made inside `deadline(seconds)` gets at most the time left until
# that request's deadline (per thread: each request runs on its own thread), so the whole request ends by then.

_local = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests made by this thread inside the block must finish within `seconds` in all."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = previous


def _left(timeout: float | None, exc: type[Exception]) -> float | None:
    end = getattr(_local, "deadline", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise exc("the request's overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout), local_address,
                                           socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # pragma: no cover
        return _DeadlineStream(self._backend.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                                 socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport with every socket operation bounded by the request's `deadline` (see above). httpx has
    no public hook for a network backend, so the connection pool it builds is rebuilt with one."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )


def read_capped(response: httpx.Response, cap: int) -> httpx.Response:
    """The response with its body read, refusing (an `_AttemptError`) a body over `cap` bytes: the body is read
    in chunks and never held beyond the cap."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise _AttemptError("oversize", f"the reply is over {cap:,} bytes; stopped reading it", retry=False)
        chunks.append(chunk)
    return httpx.Response(response.status_code, headers=response.headers, content=b"".join(chunks),
                          request=response.request)


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be an HTTP header value (a newline, a control or non-Latin-1 character), or None."""
    for ch in value:
        if ch in "\r\n":
            return "contains a line break"
        if ord(ch) < 0x20 and ch != "\t" or ord(ch) == 0x7F:
            return f"contains the control character {ch!r}"
        if ord(ch) > 0xFF:
            return f"contains the non-Latin-1 character {ch!r}"
    return None
