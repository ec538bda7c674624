"""The llama.cpp backends: the only place in the package that imports `llama_cpp`."""

from .engine import LlamaBackend, LlamaOptions
from .sequential import SequentialLlamaBackend

__all__ = ["LlamaBackend", "LlamaOptions", "SequentialLlamaBackend"]
