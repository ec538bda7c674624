"""Our engine loads a model with the parameters llama-cpp-python's `Llama(...)` passes for the same options.

On a CUDA build the engine's load crashed where `Llama(path, n_gpu_layers=-1)` loaded the same file every time
(issue 24): the engine passed n_gpu_layers as a literal -1 and llama.cpp's AUTO load mode, Llama INT32_MAX and
mmap. Both loads are captured here at the ctypes call (`llama_model_load_from_file`) and every field of the
`llama_model_params` struct is compared; only the AMX guard's field differs by design (our loads apply it, a
plain `Llama` does not).
"""

from __future__ import annotations

import ctypes
from typing import Any

import pytest

from mctsr_native import hardware

pytestmark = pytest.mark.model

GUARD_FIELD = "use_extra_bufts"


def fields(params: Any) -> dict[str, Any]:
    """Every field of a ctypes struct: numbers and booleans as they are, pointers as NULL or not."""
    out = {}
    for name, kind in params._fields_:
        value = getattr(params, name)
        if isinstance(kind, type) and issubclass(kind, (ctypes._Pointer, ctypes._CFuncPtr, ctypes.c_void_p)):
            value = "set" if value else "NULL"
        out[name] = value
    return out


@pytest.fixture
def loads(monkeypatch) -> list[dict[str, Any]]:
    """The fields of every llama_model_load_from_file call, at both names llama-cpp-python binds it under."""
    import llama_cpp
    import llama_cpp.llama_cpp as raw

    real = raw.llama_model_load_from_file
    seen: list[dict[str, Any]] = []

    def record(path, params):
        seen.append(fields(params))
        return real(path, params)

    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", record)
    monkeypatch.setattr(raw, "llama_model_load_from_file", record)
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "on")  # no guard on either side: the comparison is the rest
    return seen


@pytest.mark.parametrize("n_gpu_layers", [0, -1, 3])
def test_engine_passes_what_llama_passes(n_gpu_layers, loads, default_model_path):
    from llama_cpp import Llama

    from mctsr_native.generation import open_backend

    open_backend(default_model_path, n_gpu_layers=n_gpu_layers, n_ctx=512, n_threads=1).close()
    Llama(str(default_model_path), n_gpu_layers=n_gpu_layers, n_ctx=512, n_threads=1, verbose=False).close()
    ours, theirs = loads
    assert ours == theirs
    if n_gpu_layers == -1:
        assert ours["n_gpu_layers"] == 0x7FFFFFFF  # "all layers" as Llama says it, never a literal -1


def test_guard_is_the_only_difference_on_a_guarded_machine(loads, monkeypatch, default_model_path):
    from llama_cpp import Llama

    from mctsr_native.generation import open_backend

    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "off")
    open_backend(default_model_path, n_gpu_layers=-1, n_ctx=512, n_threads=1).close()
    Llama(str(default_model_path), n_gpu_layers=-1, n_ctx=512, n_threads=1, verbose=False).close()
    ours, theirs = loads
    assert ours.pop(GUARD_FIELD) is False and theirs.pop(GUARD_FIELD) is True
    assert ours == theirs


def test_the_sequential_baseline_passes_the_same(loads, default_model_path):
    """The baseline is `Llama` with the guard (GuardedLlama): the engine and it load alike."""
    from mctsr_native.generation import open_backend

    for mode in ("batched", "sequential"):
        open_backend(default_model_path, mode=mode, n_gpu_layers=-1, n_ctx=512, n_threads=1).close()
    ours, baseline = loads
    assert ours == baseline


def test_log_sink_goes_in_before_the_backend_init_once():
    """llama-cpp-python installs its sink when `llama_cpp` is imported, before `Llama` runs
    `llama_backend_init`; ours takes its place at the same point, once per process (a fresh one here)."""
    import subprocess
    import sys

    code = (
        "import llama_cpp, llama_cpp.llama_cpp as raw\n"
        "calls = []\n"
        "for name in ('llama_log_set', 'llama_backend_init'):\n"
        "    def wrap(*a, _real=getattr(raw, name), _name=name):\n"
        "        calls.append(_name)\n"
        "        return _real(*a)\n"
        "    setattr(raw, name, wrap); setattr(llama_cpp, name, wrap)\n"
        "from mctsr_native.generation.llama import native\n"
        "native.backend_init(); native.backend_init()\n"
        "print(calls)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['llama_log_set', 'llama_backend_init']"
