"""`mctsr info`: what a user (and a bug report) needs when something is off.

Versions, llama.cpp's build line, GPU offload and the devices ggml sees, the CPU, whether the build has AMX
kernels, the load guard chosen for both, the default model and whether its checksum matches. Every part is
collected on its own: a part that fails (llama-cpp-python not importable, the default model missing) is reported
as an error in its place, and the rest is still printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any, Callable

from . import hardware
from .generation import is_server
from .provenance import installed_version, model_identity

_GIB = 1 << 30


def _part(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # a report must come out whatever is broken; the error is the finding
        return {"error": f"{type(e).__name__}: {e}"}


def _cpu() -> dict[str, Any]:
    cpu = hardware.cpu_info()
    return {"model": cpu.model, "amx": list(cpu.amx), "flags_source": cpu.source}


def _build_amx() -> bool:
    from .generation.llama import build

    return build.build_has_amx()


def _guard() -> dict[str, Any]:
    """The guard every load would take: from the CPU, and from the build (asked here; unknown when
    llama-cpp-python cannot be imported, which keeps the guard on an AMX CPU)."""
    build = hardware.build_info(probe=_build_amx)
    return {**hardware.load_guard(build=build).to_dict(), "build_amx_source": build.source}


def _llama() -> dict[str, Any]:
    from .generation.llama import build

    line = build.system_info()
    return {
        "version": installed_version("llama_cpp_python"),
        "system_info": line,
        "compiled_for_amx": "AMX_INT8 = 1" in line,  # the compiler targeted AMX-INT8 (not yet: kernels usable)
        "cpu_buffer_types": build.cpu_buffer_types(),  # "AMX" here: the AMX kernels exist and the OS allows them
        "build_has_amx": build.build_has_amx(),
        "gpu_offload": build.supports_gpu_offload(),
        "devices": build.devices(),
    }


def _model() -> dict[str, Any]:
    from .models import DEFAULT_MODEL_SHA256, MODEL_ENV, default_model_path, sha256_file

    path = default_model_path()
    digest = sha256_file(path)
    return {"path": str(path), "size": path.stat().st_size, "sha256": digest, "expected_sha256": DEFAULT_MODEL_SHA256,
            "checksum_ok": digest == DEFAULT_MODEL_SHA256, "env_override": os.environ.get(MODEL_ENV)}


def provenance(model: str | None, config: dict[str, Any], started: str) -> dict[str, Any]:
    """Where a result came from: the model (file name and checksum: SHA-256 for the default model, whose
    expected sum is known; the eval's content id, size and a hash of the first and last MiB, for other files;
    the URL for servers), the package and llama.cpp versions, the full config and ISO-8601 times."""
    from . import __version__
    from .cli_progress import iso_now

    if is_server(model):
        model_info: dict[str, Any] = {"server": model}
    elif model is None:
        model_info = _part(_model)
        model_info = {"file": os.path.basename(model_info.get("path", "")) or None, "default": True,
                      **{k: model_info[k] for k in ("sha256", "size", "checksum_ok", "error") if k in model_info}}
    else:
        model_info = {"file": os.path.basename(model), "content_id": model_identity(model)}
    return {"model": model_info, "mctsr_native": __version__, "llama_cpp_python": installed_version("llama_cpp_python"),
            "python": platform.python_version(), "config": config, "started": started, "finished": iso_now()}


def collect() -> dict[str, Any]:
    """Everything `mctsr info` reports, as a JSON-serialisable dict."""
    from . import __version__

    return {
        "mctsr_native": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _part(_cpu),
        "load_guard": _part(_guard),
        "llama_cpp": _part(_llama),
        "default_model": _part(_model),
    }


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _devices(devs: list[dict[str, Any]]) -> str:
    return "; ".join(f"{d['name']} ({d['type']}, {d['description']}, {d['memory_total'] / _GIB:.1f} GiB)"
                     for d in devs) or "none"


def format_info(info: dict[str, Any]) -> str:
    rows = [("mctsr-native", f"{info['mctsr_native']} (Python {info['python']}, {info['platform']})")]
    llama = info["llama_cpp"]
    if "error" in llama:
        rows.append(("llama-cpp-python", f"ERROR {llama['error']}"))
    else:
        offload = "yes" if llama["gpu_offload"] else 'no (CPU build; for CUDA: CMAKE_ARGS="-DGGML_CUDA=on" scripts/setup.sh)'
        kernels = "yes, in this build" if llama["build_has_amx"] else "none in this build"
        rows += [("llama-cpp-python", str(llama["version"])), ("llama.cpp build", llama["system_info"]),
                 ("AMX kernels", f"{kernels} (CPU buffer types: {', '.join(llama['cpu_buffer_types']) or 'none'})"),
                 ("GPU offload", offload), ("devices", _devices(llama["devices"]))]
    cpu = info["cpu"]
    rows.append(("CPU", f"ERROR {cpu['error']}" if "error" in cpu else
                 f"{cpu['model']}; AMX: {' '.join(cpu['amx']) or 'none'} (flags from {cpu['flags_source']})"))
    guard = info["load_guard"]
    facts = (f"[{hardware.EXTRA_BUFTS_ENV}={guard.get('setting')}; CPU AMX: {_yes(guard.get('cpu_amx'))}; "
             f"build AMX kernels: {_yes(guard.get('build_amx'))}]")
    rows.append(("load guard", f"ERROR {guard['error']}" if "error" in guard else
                 f"{'ON' if guard['active'] else 'off'}: {guard['reason']} {facts}"))
    model = info["default_model"]
    if "error" in model:
        rows.append(("default model", f"ERROR {model['error']}"))
    else:
        check = "matches" if model["checksum_ok"] else f"MISMATCH (expected {model['expected_sha256']}): reinstall it"
        rows.append(("default model", f"{model['path']} (sha256 {check})"))
        if model["env_override"]:
            rows.append(("$MCTSR_MODEL", f"{model['env_override']} (used instead of the default)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def run(args: argparse.Namespace) -> int:
    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    sys.stdout.flush()
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "info", help="print versions, the llama.cpp build, devices, the CPU's load guard and the model check",
        description="What to look at, and to paste into a bug report, when something goes wrong.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
