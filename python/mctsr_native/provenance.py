"""Where a result came from, as it matters for comparing and resuming runs: installed package versions and
a model's identity by content."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path
from typing import Any

from .generation import is_server
from .models import default_model_path
from .safe_io import open_regular

__all__ = ["installed_version", "model_identity"]


def installed_version(dist: str) -> str | None:
    """The installed version of a distribution (llama_cpp_python, ...), None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


_SAMPLE_BYTES = 1 << 20  # a model file is identified by its size and a hash of its first and last MiB


def model_identity(model: str | None) -> str | dict[str, Any]:
    """The model as it matters for results: a GGUF file by content (its size and a hash of its first and last
    MiB: the header, tensor index and a sample of the weights; fast on an 8B file), so the same file at
    another path resumes and another file of the same name does not; a server by URL."""
    if is_server(model):
        return model
    path: Path | None = Path(model) if model is not None else None
    if path is None:
        try:
            path = Path(default_model_path())
        except Exception:  # noqa: BLE001 - the default not installed: opening it will say so
            return "default"
    try:
        with open_regular(path) as f:  # a FIFO given as --model must not hang the run before the model opens
            size = os.fstat(f.fileno()).st_size
            h = hashlib.sha256(f"{size}:".encode())
            h.update(f.read(_SAMPLE_BYTES))
            if size > _SAMPLE_BYTES:
                f.seek(max(_SAMPLE_BYTES, size - _SAMPLE_BYTES))
                h.update(f.read(_SAMPLE_BYTES))
    except OSError:  # missing or unreadable: opening the model will say so (the header is then replaced)
        return path.name
    return {"size": size, "sample_sha256": h.hexdigest()}
