"""What this llama.cpp build is and sees: its devices, its CPU features and buffer types, GPU offload.

For `mctsr info` and for the AMX load guard (`build_info`). ggml functions that llama-cpp-python does not bind
are looked up in the loaded library by name.
"""

from __future__ import annotations

import ctypes
import functools
import itertools

import llama_cpp as L

from ... import hardware
from .runtime import backend_init

DEVICE_TYPES = ("CPU", "GPU", "IGPU", "ACCEL", "META")  # enum ggml_backend_dev_type, in order


def _ggml_function(name: str, restype, argtypes: list) -> ctypes._CFuncPtr:
    """A ggml function llama-cpp-python does not bind. libllama is loaded with RTLD_GLOBAL and links libggml,
    so dlsym on its handle finds ggml's symbols; `_lib[name]` is a fresh function object, not a shared one."""
    fn = L.llama_cpp._lib[name]
    fn.restype, fn.argtypes = restype, argtypes
    return fn


def devices() -> list[dict]:
    """The devices ggml's registry sees (after backend_init): name, description, type and memory in bytes."""
    backend_init()
    dev_p = ctypes.c_void_p
    count = _ggml_function("ggml_backend_dev_count", ctypes.c_size_t, [])
    get = _ggml_function("ggml_backend_dev_get", dev_p, [ctypes.c_size_t])
    name = _ggml_function("ggml_backend_dev_name", ctypes.c_char_p, [dev_p])
    description = _ggml_function("ggml_backend_dev_description", ctypes.c_char_p, [dev_p])
    kind = _ggml_function("ggml_backend_dev_type", ctypes.c_int, [dev_p])
    memory = _ggml_function("ggml_backend_dev_memory", None,
                            [dev_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)])
    found = []
    for i in range(count()):
        dev = get(i)
        if not dev:
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        memory(dev, ctypes.byref(free), ctypes.byref(total))
        t = kind(dev)
        found.append({
            "name": (name(dev) or b"").decode("utf-8", errors="replace"),
            "description": (description(dev) or b"").decode("utf-8", errors="replace"),
            "type": DEVICE_TYPES[t] if 0 <= t < len(DEVICE_TYPES) else str(t),
            "memory_free": int(free.value),
            "memory_total": int(total.value),
        })
    return found


def cpu_buffer_types() -> list[str]:
    """The names of the extra buffer types llama.cpp's CPU backend offers (e.g. "AMX", "CPU_REPACK"): what a
    model load with `use_extra_bufts` may place weights in. Asked through the CPU device's
    `ggml_backend_dev_get_extra_bufts`, the function llama.cpp's loader itself uses."""
    backend_init()
    dev_p = ctypes.c_void_p
    by_type = _ggml_function("ggml_backend_dev_by_type", dev_p, [ctypes.c_int])
    reg_of = _ggml_function("ggml_backend_dev_backend_reg", dev_p, [dev_p])
    proc = _ggml_function("ggml_backend_reg_get_proc_address", dev_p, [dev_p, ctypes.c_char_p])
    buft_name = _ggml_function("ggml_backend_buft_name", ctypes.c_char_p, [dev_p])
    cpu = by_type(DEVICE_TYPES.index("CPU"))
    address = proc(reg_of(cpu), b"ggml_backend_dev_get_extra_bufts") if cpu else None
    if not address:
        return []
    get_extra = ctypes.CFUNCTYPE(ctypes.POINTER(dev_p), dev_p)(address)
    bufts = get_extra(cpu)
    names = []
    for i in itertools.count():
        if not bufts or not bufts[i]:
            break
        names.append((buft_name(bufts[i]) or b"").decode("utf-8", errors="replace"))
    return names


@functools.cache
def build_has_amx() -> bool:
    """True when this llama.cpp build has AMX kernels: its CPU backend offers the AMX buffer type, which exists
    only when ggml-cpu was compiled with AMX-INT8 and AVX512-VNNI and the kernel let it use the AMX tiles.
    (`llama_print_system_info`'s `AMX_INT8 = 1` says only that the compiler targeted AMX.)"""
    return "AMX" in cpu_buffer_types()


def build_info() -> hardware.BuildInfo:
    """The build facts the load guard needs ($MCTSR_BUILD_AMX, when set, instead of asking the library)."""
    return hardware.build_info(probe=build_has_amx)


def system_info() -> str:
    """llama.cpp's one-line summary of the CPU features it was compiled for (llama_print_system_info)."""
    backend_init()
    return (L.llama_print_system_info() or b"").decode("utf-8", errors="replace").strip()


def supports_gpu_offload() -> bool:
    return bool(L.llama_supports_gpu_offload())
