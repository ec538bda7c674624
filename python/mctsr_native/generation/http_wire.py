"""What crosses the wire to an OpenAI-compatible server: how a failed attempt is classified (and what to tell
the user), the server's error message, and token estimates when the server gives no counts. Used by `http.py`."""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

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
    "timeout": "the server did not answer within the timeout: raise timeout=, lower max_tokens or concurrency, "
               "or check the server's load",
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
