"""Open the right backend for a model argument."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidConfigError
from . import is_server
from .base import Backend


def open_backend(model: str | os.PathLike | None = None, *, mode: str = "batched", **options: Any) -> Backend:
    """A GGUF path (or None: the default model) runs in-process; http(s) URLs (comma-separated for a
    fleet) use OpenAI-compatible servers.

    mode: "batched" (our engine: one llama_batch, prefix reuse) or "sequential" (the baseline: one
    request at a time through llama-cpp-python's high-level API, no reuse).
    """
    if is_server(model):
        from .http import HttpBackend  # here, not at the top: the backends' imports (httpx, llama_cpp) load on use

        return HttpBackend([u.strip() for u in str(model).split(",") if u.strip()], **options)
    if mode == "sequential":
        from .llama import SequentialLlamaBackend

        return SequentialLlamaBackend(model, **options)
    if mode != "batched":
        raise InvalidConfigError(f"mode must be 'batched' or 'sequential', got {mode!r}")
    from .llama import LlamaBackend

    return LlamaBackend(model, **options)
