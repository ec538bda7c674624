"""llama.cpp's process-wide set-up, done once: its log routed to our sink (kept for error messages, printed
only with MCTSR_LLAMA_VERBOSE=1), then its backend initialised. Below native.py and build.py, which both
need it."""

from __future__ import annotations

import atexit
import collections
import ctypes
import os
import threading

import llama_cpp as L

__all__ = ["backend_init", "log_tail"]

_init_lock = threading.Lock()
_initialised = False
_LOG_TAIL: collections.deque[str] = collections.deque(maxlen=64)  # recent llama.cpp log lines
_VERBOSE = os.environ.get("MCTSR_LLAMA_VERBOSE", "") not in ("", "0")
_LOG_CONT = 5  # GGML_LOG_LEVEL_CONT: the text continues the previous line (load progress dots)


def _log(level: int, text: bytes | None, user_data: ctypes.c_void_p) -> None:
    """llama.cpp's (and ggml's) log sink. It runs inside native calls, possibly on a native thread, so it
    must never raise: a NULL text arrives as None and is ignored."""
    if not text:
        return
    line = text.decode("utf-8", errors="replace")
    if level == _LOG_CONT and _LOG_TAIL:
        _LOG_TAIL[-1] += line
    else:
        _LOG_TAIL.append(line)
    if _VERBOSE:
        print(line, end="", flush=True)


# The ctypes thunk llama.cpp calls: a module global, so it lives as long as the interpreter, and
# `_log_reset` hands logging back to llama.cpp's own sink before the interpreter goes away.
_log_callback = L.llama_log_callback(_log)


def _log_reset() -> None:
    if _initialised:
        L.llama_log_set(L.llama_log_callback(), ctypes.c_void_p(0))  # a NULL pointer: llama.cpp's own sink


def log_tail(n: int = 8) -> str:
    """The last llama.cpp log lines: attached to errors so that the cause is visible."""
    return "".join(list(_LOG_TAIL)[-n:]).strip()


def backend_init() -> None:
    """Route llama.cpp's log to our sink, then initialise its backend, once per process. The order is
    llama-cpp-python's: it installs its own sink when `llama_cpp` is imported, before `Llama` calls
    `llama_backend_init`; ours replaces that sink at the same point, before the init."""
    global _initialised
    with _init_lock:
        if not _initialised:
            L.llama_log_set(_log_callback, ctypes.c_void_p(0))
            L.llama_backend_init()
            _initialised = True
            atexit.register(_log_reset)  # no call into a freed Python callback from a late native log line
