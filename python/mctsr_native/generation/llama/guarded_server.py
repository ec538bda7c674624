"""llama-cpp-python's OpenAI-compatible server, with the AMX load guard (see `mctsr_native.hardware`).

    python -m mctsr_native.generation.llama.guarded_server --model PATH.gguf ...   # `llama_cpp.server`'s arguments

The server builds its model with `llama_cpp.Llama(...)`, looked up when it loads; in this process that name is
our `GuardedLlama`, so the server loads without llama.cpp's extra CPU buffer types on AMX CPUs (where the
plain server crashes). Used by the tests' real server; nothing else in the server changes.
"""

from __future__ import annotations

import runpy

import llama_cpp

from .sequential import GuardedLlama

if __name__ == "__main__":
    llama_cpp.Llama = GuardedLlama  # this process only: it exists to run the server
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
