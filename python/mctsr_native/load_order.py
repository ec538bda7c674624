"""llama.cpp's shared libraries are loaded before numpy (issue 24).

Measured on an NVIDIA H200 (CUDA build of llama-cpp-python 0.3.36, numpy 2.5 with scipy-openblas64, Python 3.12),
2026-12-04, each in a fresh process through llama.cpp's C API: a model load crashed with SIGSEGV in llama.cpp's
tokenizer initialisation (`init_tokenizer`, right after the CUDA device was chosen) whenever `import numpy` had
run before llama.cpp's libraries were loaded, and loaded whenever numpy came after them (numpy imported after
`llama_cpp`, or not at all; sympy, mpmath, math-verify and tqdm imported first did not crash). This was the
"CUDA load crash" of the first release: every path of this package imported numpy (through the tree) before
the engine loaded llama.cpp, while llama-cpp-python's `Llama` loads its library first. Why the order matters was
not established in the time the GPU machine was lent; the CPU builds tested here load in either order.

So `import mctsr_native` loads llama.cpp's library first when numpy is not loaded yet (a dlopen of the library
llama-cpp-python would load, found without importing the package; a no-op where llama-cpp-python is not
installed). A program that imported numpy before this package cannot be reordered: the engine then says so in
a warning when it offloads layers to a GPU (`numpy_first_warning`).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["load_llama_first", "numpy_first", "numpy_first_warning", "llama_library"]

_state: dict[str, bool | None] = {"numpy_first": None}  # None: not known (llama_cpp was imported before us)


def llama_library() -> Path | None:
    """The libllama that llama-cpp-python would load ($LLAMA_CPP_LIB_PATH, else its package's lib folder), found
    without importing llama_cpp; None when there is none."""
    names = {"win32": ("llama.dll", "libllama.dll"), "darwin": ("libllama.so", "libllama.dylib")}
    folder = os.environ.get("LLAMA_CPP_LIB_PATH")
    if not folder:
        try:
            spec = importlib.util.find_spec("llama_cpp")
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = str(Path(next(iter(spec.submodule_search_locations))) / "lib")
    for name in names.get(sys.platform, ("libllama.so",)):
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def load_llama_first() -> None:
    """Load llama.cpp's library now unless numpy is loaded already (then record that it came first)."""
    if "llama_cpp.llama_cpp" in sys.modules or _state["numpy_first"] is not None:
        return
    if "numpy" in sys.modules:
        _state["numpy_first"] = True
        return
    path = llama_library()
    if path is None:
        return
    try:
        ctypes.CDLL(str(path))  # the mode llama-cpp-python uses on this platform: the same handle is shared
    except OSError:
        return  # llama_cpp's own import will report a library that cannot load
    _state["numpy_first"] = False


def numpy_first() -> bool | None:
    """True when numpy was loaded before llama.cpp's library, False when after, None when not known."""
    return _state["numpy_first"]


def numpy_first_warning(*, gpu_offload: bool, n_gpu_layers: int) -> str | None:
    """The warning for a model load that offloads layers to a GPU after numpy was loaded first, else None."""
    if not gpu_offload or n_gpu_layers == 0 or numpy_first() is not True:
        return None
    return ("numpy was imported before llama.cpp's libraries were loaded; CUDA builds of llama-cpp-python 0.3.36 "
            "crashed at model load in that order (issue 24): import mctsr_native (or llama_cpp) before numpy, "
            "or run on the CPU with --n-gpu-layers 0")
