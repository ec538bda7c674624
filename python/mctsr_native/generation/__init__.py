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
    "open_backend",
]


def open_backend(model: str | None = None, **options):
    """Open a backend: a GGUF path (or None for the default model) runs in-process on llama.cpp;
    an http(s) URL, or several separated by commas, uses OpenAI-compatible servers."""
    from .factory import open_backend as _open

    return _open(model, **options)
