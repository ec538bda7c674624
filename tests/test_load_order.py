"""llama.cpp's library is loaded before numpy (load_order.py, issue 24): on an H200 a CUDA build crashed at model
load whenever numpy came first. Each check runs in a fresh interpreter, since the order is per process."""

from __future__ import annotations

import subprocess
import sys



def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_package_loads_llama_cpp_before_numpy() -> None:
    out = _run("import sys, mctsr_native\n"
               "maps = open('/proc/self/maps').read()\n"
               "print('numpy' in sys.modules, 'libllama' in maps, mctsr_native.load_order.numpy_first())")
    assert out == "False True False"
    # every entry point goes through the package: the tree (which imports numpy) and the command line
    out = _run("import sys, mctsr_native.tree, mctsr_native.cli\n"
               "print(mctsr_native.load_order.numpy_first(), 'numpy' in sys.modules)")
    assert out == "False True"


def test_numpy_first_is_recorded_and_warned_about_only_for_a_gpu_load() -> None:
    out = _run("import numpy, mctsr_native.load_order as o\n"
               "print(o.numpy_first(), o.numpy_first_warning(gpu_offload=True, n_gpu_layers=-1) is not None, "
               "o.numpy_first_warning(gpu_offload=True, n_gpu_layers=0), "
               "o.numpy_first_warning(gpu_offload=False, n_gpu_layers=-1))")
    assert out == "True True None None"


def test_the_library_is_found_without_importing_llama_cpp() -> None:
    out = _run("import sys\nfrom mctsr_native.load_order import llama_library\n"
               "print(llama_library().name, 'llama_cpp' in sys.modules)")
    assert out == "libllama.so False"
