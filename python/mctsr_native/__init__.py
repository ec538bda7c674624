"""mctsr-native: Monte Carlo Tree Self-Refine (arXiv 2406.07394) with a C++ tree and batched llama.cpp generation.

High level: `solve(problem)` (and `self_consistency(problem, backend=...)`, its baseline). Low level: `Tree` (the C++ search tree) and `Solver` (the step API).
Names are imported lazily so that `import mctsr_native` stays cheap. It does load llama.cpp's shared library
(not the llama_cpp package) when numpy is not loaded yet: CUDA builds crashed at model load when numpy came
first (load_order.py, issue 24).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import load_order

load_order.load_llama_first()

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "MctsrError": "errors",
    "InvalidConfigError": "errors",
    "InvalidArgumentError": "errors",
    "InvalidNodeError": "errors",
    "InvalidRewardError": "errors",
    "InvalidRequestError": "errors",
    "ModelNotFoundError": "errors",
    "InvalidModelError": "errors",
    "ContextOverflowError": "errors",
    "GrammarError": "errors",
    "BackendError": "errors",
    "InvalidProblemError": "errors",
    "DataError": "errors",
    "RunMismatchError": "errors",
    # tree
    "Tree": "tree",
    "TreeConfig": "tree",
    # model
    "default_model_path": "models",
    "resolve_model": "models",
    "open_backend": "generation",
    # solver
    "solve": "solver",
    "Solver": "solver",
    "SolveConfig": "solver",
    "SolveResult": "solver",
    # self-consistency: the baseline the search is measured against, as an answer
    "self_consistency": "consistency",
    "ScResult": "consistency",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mctsr_native' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
