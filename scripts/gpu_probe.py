#!/usr/bin/env python3
"""Load probes for the CUDA load crash (issue 24): every way a model gets loaded, each in its own fresh process.

On an H200 with a CUDA build, the engine's load died with SIGSEGV inside `llama_model_load_from_file` in 8 runs
of 8, while llama-cpp-python's `Llama(path, n_gpu_layers=-1)` loaded the same file every time. The engine differed
in four ways, each a suspect: n_gpu_layers a literal -1 (Llama: INT32_MAX), load_mode AUTO (Llama: mmap), our
Python log sink (Llama: its own; llama.cpp's default is stderr; ours is native now, cpp/bindings/llama_log.cpp,
and the probe sets the one we ship), and the package imported before the first load.
The suite starts from the engine's old settings and changes ONE suspect per probe, so the probes that pass name
the cause (when the old settings load, there is nothing to isolate and those probes are skipped, unless `--all`:
GPU time is short); then it runs the real load paths (our engine now, `Llama(...)`, the sequential baseline).
Every probe loads without llama.cpp's extra CPU buffer types (the AMX guard, forced), so that the AMX decode crash of issue 9
cannot stand in for this one on an AMX host; with every layer on the GPU they hold no weights that matter.

    python scripts/gpu_probe.py suite MODEL --rows ROWS.tsv --logs DIR [--n-gpu-layers -1] [--timeout 90]
    python scripts/gpu_probe.py sanitizer MODEL --rows ROWS.tsv --logs DIR   # the old settings under compute-sanitizer
    python scripts/gpu_probe.py one MODEL --path c-api --ngl -1 --load-mode auto --sink ours --first solver

`one` is a single probe (load, a context, a few greedy tokens, free); it prints `PROBE {json}` and exits 0, so
a crash shows as its signal. `suite` and `sanitizer` append one row per probe to ROWS.tsv (section, check,
settings, verdict, seconds, log), which scripts/gpu_check_report.py turns into the GPU check's table.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ALL_LAYERS = 0x7FFFFFFF  # what llama-cpp-python's Llama passes for n_gpu_layers=-1
PROMPT = "The capital of France is"


@dataclass(frozen=True)
class Probe:
    """One fresh-process load: which path, and the suspects' settings (c-api probes only)."""

    name: str
    path: str  # "c-api" (llama.cpp's C API through ctypes), "engine", "llama" (Llama(...)), "sequential"
    ngl: str = "all"  # "all" = the suite's n_gpu_layers; "-1" / "max" = that literal for "all layers"
    load_mode: str = "auto"  # "auto" (llama.cpp's default), "mmap" (Llama's), "none"
    sink: str = "ours"  # "ours" (mctsr_native's), "llama-cpp-python" (installed by `import llama_cpp`), "default"
    first: str = "none"  # imported before the first load: "none", "package", "core", "solver", "numpy"

    def settings(self) -> str:
        if self.path != "c-api":
            return f"{self.path}; import {self.first} first" if self.first != "none" else self.path
        return f"ngl {self.ngl}, load_mode {self.load_mode}, sink {self.sink}, import {self.first} first"


OLD = dict(path="c-api", ngl="-1", load_mode="auto", sink="ours", first="solver")  # the engine before issue 24
ISOLATING = 8  # SUITE[1:ISOLATING] exist to isolate a crash of SUITE[0]
SUITE = [
    Probe("old engine settings", **OLD),
    Probe("ngl INT32_MAX", **{**OLD, "ngl": "max"}),
    Probe("load_mode mmap", **{**OLD, "load_mode": "mmap"}),
    Probe("llama-cpp-python sink", **{**OLD, "sink": "llama-cpp-python"}),
    Probe("llama.cpp default sink", **{**OLD, "sink": "default"}),
    Probe("no import first", **{**OLD, "first": "none"}),
    Probe("only the C++ core first", **{**OLD, "first": "core"}),
    Probe("as Llama loads", path="c-api", ngl="max", load_mode="mmap", sink="llama-cpp-python", first="none"),
    Probe("engine, solver first", path="engine", first="solver"),
    Probe("engine", path="engine"),
    Probe("Llama(...)", path="llama"),
    Probe("sequential baseline", path="sequential", first="solver"),
    # issue 24's cause, found on an H200: numpy loaded before llama.cpp's library (load_order.py)
    Probe("numpy first", path="c-api", ngl="max", load_mode="mmap", sink="default", first="numpy"),
    Probe("engine, numpy first", path="engine", first="numpy"),
]
SUSPECTS = {  # probe that flips one suspect -> the suspect's name in the verdict
    "ngl INT32_MAX": "n_gpu_layers -1 (INT32_MAX passes)",
    "load_mode mmap": "load_mode AUTO (mmap passes)",
    "llama-cpp-python sink": "our log sink (llama-cpp-python's passes)",
    "llama.cpp default sink": "our log sink (llama.cpp's default passes)",
    "no import first": "importing the package first (no import passes)",
    "only the C++ core first": "the solver's imports beyond the C++ core (the core alone passes)",
}
# A crash of these alone, with the old settings passing, is numpy loaded before llama.cpp: what the package now
# avoids (load_order.py) and warns about when a program imported numpy first.
ORDER_PROBES = ("numpy first", "engine, numpy first")


def _import_first(first: str) -> None:
    if first == "package":
        import mctsr_native  # noqa: F401
    elif first == "core":
        import mctsr_native._core  # noqa: F401
    elif first == "solver":
        import mctsr_native.solver  # noqa: F401
    elif first == "numpy":
        import numpy  # noqa: F401  (before llama.cpp's library: the order issue 24 found crashing)


def _c_api(args: argparse.Namespace) -> dict:
    """llama.cpp through llama-cpp-python's raw ctypes bindings, with the suspects set as asked."""
    import llama_cpp.llama_cpp as L  # importing llama_cpp installs llama-cpp-python's log sink

    if args.sink == "ours":
        from mctsr_native.generation.llama import runtime

        L.llama_log_set(runtime._SINK, ctypes.c_void_p(0))
    elif args.sink == "default":
        L.llama_log_set(L.llama_log_callback(), ctypes.c_void_p(0))
    L.llama_backend_init()
    p = L.llama_model_default_params()
    p.n_gpu_layers = ALL_LAYERS if args.ngl == "max" else int(args.ngl)
    p.load_mode = {"auto": L.LLAMA_LOAD_MODE_AUTO, "mmap": L.LLAMA_LOAD_MODE_MMAP, "none": L.LLAMA_LOAD_MODE_NONE}[
        args.load_mode]
    p.use_extra_bufts = False  # the AMX guard, forced (see the module's docstring)
    t0 = time.perf_counter()
    model = L.llama_model_load_from_file(os.fsencode(args.model), p)
    if not model:
        raise SystemExit("llama_model_load_from_file returned NULL")
    loaded = time.perf_counter() - t0
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch = args.n_ctx, 512
    if args.threads:
        cp.n_threads = cp.n_threads_batch = args.threads
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise SystemExit("llama_init_from_model returned NULL")
    tokens = _greedy_c_api(L, model, ctx, args.tokens)
    L.llama_free(ctx)
    L.llama_model_free(model)
    return {"load_seconds": round(loaded, 2), "tokens": tokens}


def _greedy_c_api(L, model, ctx, count: int) -> list[int]:
    """Decode the prompt, then `count` greedy tokens (argmax of the logits), one llama_decode each."""
    if count <= 0:
        return []
    import numpy as np

    vocab = L.llama_model_get_vocab(model)
    text = PROMPT.encode()
    buf = (L.llama_token * 64)()
    n = L.llama_tokenize(vocab, text, len(text), buf, 64, True, True)
    ids, out = list(buf[:max(n, 0)]), []
    n_vocab = L.llama_vocab_n_tokens(vocab)
    for _ in range(count):
        arr = (L.llama_token * len(ids))(*ids)
        if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(ids))) != 0:
            raise SystemExit("llama_decode failed")
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        ids = [int(logits.argmax())]
        out.append(ids[0])
    return out


def _backend(args: argparse.Namespace, mode: str) -> dict:
    from mctsr_native import open_backend
    from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams

    ngl = -1 if args.ngl in ("-1", "max") else int(args.ngl)
    t0 = time.perf_counter()
    backend = open_backend(args.model, mode=mode, n_gpu_layers=ngl, n_ctx=args.n_ctx, n_threads=args.threads or None)
    loaded = time.perf_counter() - t0
    request = GenerationRequest(messages=[Message(role="user", content="What is 12 times 7?")],
                                params=SamplingParams(max_tokens=max(args.tokens, 1), temperature=0.0))
    results = backend.generate([request, request])
    for r in results:
        r.raise_for_error()
    backend.close()
    return {"load_seconds": round(loaded, 2), "generated": [r.completions[0].generated_tokens for r in results]}


def _llama(args: argparse.Namespace) -> dict:
    from llama_cpp import Llama as Plain

    class Llama(Plain):  # plain Llama with the AMX guard forced, without importing mctsr_native
        @property
        def model_params(self):
            return self.__dict__["model_params"]

        @model_params.setter
        def model_params(self, params) -> None:
            params.use_extra_bufts = False
            self.__dict__["model_params"] = params

    ngl = -1 if args.ngl in ("-1", "max") else int(args.ngl)
    t0 = time.perf_counter()
    llm = Llama(args.model, n_gpu_layers=ngl, n_ctx=args.n_ctx, n_threads=args.threads or None, verbose=False)
    loaded = time.perf_counter() - t0
    out = llm.create_completion(PROMPT, max_tokens=max(args.tokens, 1), temperature=0.0)
    llm.close()
    return {"load_seconds": round(loaded, 2), "generated": out["usage"]["completion_tokens"]}


def run_one(args: argparse.Namespace) -> int:
    """One probe in this (fresh) process."""
    import faulthandler

    faulthandler.enable()
    _import_first(args.first)
    if args.path == "c-api":
        found = _c_api(args)
    elif args.path in ("engine", "sequential"):
        found = _backend(args, "batched" if args.path == "engine" else "sequential")
    else:
        found = _llama(args)
    print("PROBE " + json.dumps({"path": args.path, **found}), flush=True)
    return 0


# ----- the suite: one fresh process per probe, a row each ---------------------------------------------------


def verdict(rc: int, limit: float) -> str:
    """A probe's exit status in words: pass, crash (SIGNAL), timeout or failed."""
    if rc == 0:
        return "pass"
    if rc in (124, -signal.SIGKILL):
        return f"timeout ({limit:.0f} s)"
    if rc < 0 or rc > 128:
        sig = -rc if rc < 0 else rc - 128
        try:
            return f"crash ({signal.Signals(sig).name})"
        except ValueError:
            return f"crash (signal {sig})"
    return f"failed (exit {rc})"


def write_row(rows: Path, section: str, check: str, settings: str, result: str, seconds: float, log: str) -> None:
    clean = [str(x).replace("\t", " ").replace("\n", " ") for x in (section, check, settings, result)]
    with rows.open("a", encoding="utf-8") as f:
        f.write("\t".join([*clean, f"{seconds:.1f}", log]) + "\n")


def _probe_argv(probe: Probe, args: argparse.Namespace) -> list[str]:
    ngl = args.n_gpu_layers if probe.ngl == "all" else probe.ngl
    if str(args.n_gpu_layers) == "0":  # a CPU run: the suspects' "all layers" values are 0 layers here
        ngl = "0" if probe.ngl == "all" else probe.ngl
    return [sys.executable, "-X", "faulthandler", __file__, "one", args.model, "--path", probe.path, "--ngl", str(ngl),
            "--load-mode", probe.load_mode, "--sink", probe.sink, "--first", probe.first, "--tokens",
            str(args.tokens), "--threads", str(args.threads), "--n-ctx", str(args.n_ctx)]


def _run(argv: list[str], log: Path, limit: float, env: dict[str, str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        try:
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=limit, env=env).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.perf_counter() - t0


def _left(args: argparse.Namespace) -> float:
    return args.deadline - time.time() if args.deadline else float("inf")


def run_suite(args: argparse.Namespace, probes: Sequence[Probe]) -> int:
    """Each probe in a fresh process with its own timeout; a row each. Exit 1 if any failed."""
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MCTSR_LLAMA_VERBOSE": "1", "PYTHONFAULTHANDLER": "1", "MCTSR_EXTRA_BUFTS": "off"}
    failed = 0
    old_passed = False
    for i, probe in enumerate(probes, 1):
        log = logs / f"probe-{i:02d}.log"
        if 1 < i <= ISOLATING and old_passed and not args.all:
            write_row(Path(args.rows), "load", probe.name, probe.settings(),
                      "skipped (the old settings loaded: nothing to isolate)", 0.0, "")
            continue
        limit = min(args.timeout, _left(args))
        if limit < args.min_seconds:
            write_row(Path(args.rows), "load", probe.name, probe.settings(), "not run (deadline)", 0.0, "")
            continue
        rc, seconds = _run(_probe_argv(probe, args), log, limit, env)
        result = verdict(rc, limit)
        failed |= rc != 0
        old_passed = old_passed or (i == 1 and rc == 0)
        write_row(Path(args.rows), "load", probe.name, probe.settings(), result, seconds, str(log))
        print(f"gpu-check: load  {probe.name:<26} {result}", flush=True)
    return int(bool(failed))


def run_sanitizer(args: argparse.Namespace) -> int:
    """The old settings' load (no tokens) under compute-sanitizer's memcheck, when the host has it."""
    tool = shutil.which("compute-sanitizer") or next(
        (str(p) for p in sorted(Path("/usr/local").glob("cuda*/bin/compute-sanitizer")) if p.is_file()), None)
    probe = SUITE[0]
    if tool is None:
        write_row(Path(args.rows), "load", "compute-sanitizer", probe.settings(), "not run (no compute-sanitizer)",
                  0.0, "")
        return 0
    limit = min(args.timeout, _left(args))
    if limit < args.min_seconds:
        write_row(Path(args.rows), "load", "compute-sanitizer", probe.settings(), "not run (deadline)", 0.0, "")
        return 0
    args.tokens = 0
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    log = Path(args.logs) / "probe-sanitizer.log"
    argv = [tool, "--tool", "memcheck", "--error-exitcode", "99", *_probe_argv(probe, args)]
    rc, seconds = _run(argv, log, limit, {**os.environ, "PYTHONFAULTHANDLER": "1", "MCTSR_EXTRA_BUFTS": "off"})
    result = "clean" if rc == 0 else "errors found (see log)" if rc == 99 else verdict(rc, limit)
    write_row(Path(args.rows), "load", "compute-sanitizer", probe.settings(), result, seconds, str(log))
    print(f"gpu-check: load  {'compute-sanitizer':<26} {result}", flush=True)
    return 0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["one", "suite", "sanitizer", "list"])
    parser.add_argument("model", nargs="?", default="")
    parser.add_argument("--path", choices=["c-api", "engine", "llama", "sequential"], default="c-api")
    parser.add_argument("--ngl", default="-1", help="one: n_gpu_layers ('max' = INT32_MAX)")
    parser.add_argument("--load-mode", choices=["auto", "mmap", "none"], default="auto")
    parser.add_argument("--sink", choices=["ours", "llama-cpp-python", "default"], default="ours")
    parser.add_argument("--first", choices=["none", "package", "core", "solver", "numpy"], default="none")
    parser.add_argument("--n-gpu-layers", default="-1", help="suite: 'all layers' for this run (0 on a CPU)")
    parser.add_argument("--tokens", type=int, default=4, help="greedy tokens generated after the load")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = llama.cpp's default)")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--rows", default="rows.tsv")
    parser.add_argument("--logs", default=".")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per probe")
    parser.add_argument("--deadline", type=float, default=0.0, help="epoch seconds after which no probe starts")
    parser.add_argument("--min-seconds", type=float, default=15.0, help="a probe with less time left is not run")
    parser.add_argument("--all", action="store_true", help="suite: run the isolating probes even when the old "
                        "settings load (the dry run does, so that they cannot rot)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "list":
        for p in SUITE:
            print(f"{p.name}: {p.settings()}")
        return 0
    if not args.model:
        raise SystemExit("gpu_probe: a GGUF path is needed")
    if args.command == "one":
        return run_one(args)
    if args.command == "sanitizer":
        return run_sanitizer(args)
    return run_suite(args, SUITE)


if __name__ == "__main__":
    sys.exit(main())
