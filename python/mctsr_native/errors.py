"""The error hierarchy: everything this package raises on purpose is a `MctsrError`.

The base and the tree's errors are defined by the C++ core (so a C++ `InvalidConfig` arrives as
`InvalidConfigError`, a `ValueError`); the errors of the Python layers subclass the same base.
"""

from __future__ import annotations

from ._core import (  # noqa: F401  (re-exported)
    InvalidArgumentError,
    InvalidConfigError,
    InvalidNodeError,
    InvalidRewardError,
    MctsrError,
)


class InvalidRequestError(MctsrError, ValueError):
    """A generation request is malformed (bad sampling values, no messages, n < 1)."""


class ModelNotFoundError(MctsrError, FileNotFoundError):
    """The model file does not exist, or the default model is not installed."""


class InvalidModelError(MctsrError, ValueError):
    """The model file exists but is not a loadable GGUF (truncated, wrong format)."""


class ContextOverflowError(MctsrError, ValueError):
    """A prompt (plus its token cap) does not fit the model's context window."""


class GrammarError(MctsrError, ValueError):
    """A GBNF grammar does not parse."""


class BackendError(MctsrError, RuntimeError):
    """The model backend failed: a server down, slow, or answering garbage."""


class InvalidProblemError(MctsrError, ValueError):
    """The problem text is empty or cannot be used."""


class DataError(MctsrError, ValueError):
    """An evaluation data file is malformed: names the file and line."""


class RunMismatchError(MctsrError, ValueError):
    """An evaluation output file was written by a different configuration."""


__all__ = [
    "MctsrError",
    "InvalidConfigError",
    "InvalidArgumentError",
    "InvalidNodeError",
    "InvalidRewardError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "InvalidModelError",
    "ContextOverflowError",
    "GrammarError",
    "BackendError",
    "InvalidProblemError",
    "DataError",
    "RunMismatchError",
]
