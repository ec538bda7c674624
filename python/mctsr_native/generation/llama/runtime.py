"""llama.cpp's process-wide set-up, done once: its log routed to our native sink (the last lines kept for error
messages, written to standard error only with MCTSR_LLAMA_VERBOSE=1), then its backend initialised. Below
native.py and build.py, which both need it."""

from __future__ import annotations

import ctypes
import os
import threading

import llama_cpp as L

from ... import _llama_log

__all__ = ["backend_init", "log_clear", "log_lines", "log_tail"]

_init_lock = threading.Lock()
_initialised = False
_llama_log.set_verbose(os.environ.get("MCTSR_LLAMA_VERBOSE", "") not in ("", "0"))
# The sink llama.cpp calls is native (cpp/bindings/llama_log.cpp), never a Python callback: Python run inside
# llama.cpp's calls would run a Ctrl-C's or SIGTERM's handler there, and ctypes swallows what it raises.
_SINK = L.llama_log_callback(_llama_log.sink_address())


def log_lines() -> list[str]:
    """The last llama.cpp log lines (up to 64), oldest first."""
    return [line.decode("utf-8", errors="replace") for line in _llama_log.lines()]


def log_clear() -> None:
    """Forget the kept lines, before a call whose failure the next lines will explain."""
    _llama_log.clear()


def log_tail(n: int = 8) -> str:
    """The last llama.cpp log lines: attached to errors so that the cause is visible."""
    return "".join(log_lines()[-n:]).strip()


def backend_init() -> None:
    """Route llama.cpp's log to our sink, then initialise its backend, once per process. The order is
    llama-cpp-python's: it installs its own sink when `llama_cpp` is imported, before `Llama` calls
    `llama_backend_init`; ours replaces that sink at the same point, before the init."""
    global _initialised
    with _init_lock:
        if not _initialised:
            L.llama_log_set(_SINK, ctypes.c_void_p(0))
            L.llama_backend_init()
            _initialised = True
