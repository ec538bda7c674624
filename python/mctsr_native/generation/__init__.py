"""Generation: the `Backend` interface (base.py), the backends (`llama/`, the only importer of llama_cpp;
`http.py`; `replay.py`), and the model client that searches talk to (client.py, shared.py)."""

from .base import (
    Backend,
    Completion,
    GenerationRequest,
    GenerationResult,
    Message,
    SamplingParams,
    Usage,
)

__all__ = [
    "Backend",
    "Completion",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "SamplingParams",
    "Usage",
    "is_server",
    "open_backend",
]


def is_server(model: object) -> bool:
    """Whether a model argument names OpenAI-compatible servers rather than a local GGUF: any URL (one, or
    several separated by commas) does, whatever its scheme (the HTTP backend refuses one other than http(s)
    by name). None, the default model, is local. The one rule `open_backend` and the CLI share."""
    return model is not None and "://" in str(model)


def open_backend(model: str | None = None, **options):
    """Open a backend: a GGUF path (or None for the default model) runs in-process on llama.cpp;
    an http(s) URL, or several separated by commas, uses OpenAI-compatible servers."""
    from .factory import open_backend as _open

    return _open(model, **options)
