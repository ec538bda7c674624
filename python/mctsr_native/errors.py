"""The error hierarchy: everything this package raises on purpose is a `MctsrError`.

Pure Python, so every layer (generation, data, run files) imports it without the compiled core. The C++
core raises these same classes: `_core` looks them up here when it loads and translates `mctsr::InvalidConfig`
to `InvalidConfigError` (a `ValueError`), `InvalidNode` to `InvalidNodeError` (an `IndexError`), and so on.
"""

from __future__ import annotations


class MctsrError(Exception):
    """Base of every error mctsr_native raises on purpose."""


class InvalidConfigError(MctsrError, ValueError):
    """A config field is out of range, NaN, of the wrong type, or an unknown strategy name."""


class InvalidNodeError(MctsrError, IndexError):
    """A node id that is not in the tree."""


class InvalidRewardError(MctsrError, ValueError):
    """A reward that is NaN, infinite, outside [-100, 100], or an empty reward list."""


class InvalidArgumentError(MctsrError, ValueError):
    """Any other bad argument to a tree call (k < 1, an unknown node kind)."""


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


class EngineClosedError(BackendError):
    """The backend was closed (or is closing, e.g. on SIGTERM) while a call wanted it: the call is abandoned."""


class InvalidProblemError(MctsrError, ValueError):
    """The problem text is empty or cannot be used."""


class SolverStateError(MctsrError, RuntimeError):
    """A Solver step called out of order (step() or result() before initialize(), initialize() twice)."""


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
    "SolverStateError",
    "DataError",
    "RunMismatchError",
]
