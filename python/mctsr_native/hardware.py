"""The CPU this runs on, and the guards a model load needs on it.

llama.cpp's CPU backend repacks weights into "extra buffer types". On Intel CPUs with AMX (Sapphire Rapids
and later) one of them, the AMX buffer, crashes the process (SIGSEGV in `ggml_backend_amx_mul_mat` on the
first multi-token `llama_decode`; upstream llama.cpp issue 20824). Loading with
`llama_model_params.use_extra_bufts = false` avoids it, at the price of the CPU repacking speed-ups, so the
guard applies only where it can matter: the CPU has AMX AND the llama.cpp build has AMX kernels (its CPU
backend offers the AMX buffer type; a build made without `-march` support for AMX, e.g. on another machine,
has none, and guarding it would only lose the repacked kernels). Every path that loads a model asks
`load_guard()`, passing what the build says (`generation.llama.native.build_info()`).

This module imports neither llama_cpp nor the compiled core: `mctsr info` and the tests read it alone.
Both facts are injectable (`cpu_info(flags=...)` or $MCTSR_CPU_FLAGS; `build_info(amx=...)` or
$MCTSR_BUILD_AMX), so every combination of the guard is tested on any machine, with or without AMX.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import InvalidConfigError

AMX_FLAGS = ("amx_bf16", "amx_int8", "amx_tile")  # Linux /proc/cpuinfo names of Intel AMX features
CPU_FLAGS_ENV = "MCTSR_CPU_FLAGS"  # flags (space or comma separated) used instead of the real CPU's: for tests
BUILD_AMX_ENV = "MCTSR_BUILD_AMX"  # "1"/"0": whether the llama.cpp build has AMX kernels, instead of asking it
EXTRA_BUFTS_ENV = "MCTSR_EXTRA_BUFTS"  # "auto" (default), "on" (llama.cpp's default) or "off" (always guard)
EXTRA_BUFTS_SETTINGS = ("auto", "on", "off")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True, kw_only=True)
class CpuInfo:
    """What the guards need to know about the CPU."""

    model: str  # "model name" from /proc/cpuinfo, or "unknown"
    flags: frozenset[str]  # feature flags, lower case
    source: str  # where the flags came from: "/proc/cpuinfo", "$MCTSR_CPU_FLAGS", "argument" or "unavailable"

    @property
    def amx(self) -> tuple[str, ...]:
        """The AMX features the CPU has (empty when none)."""
        return tuple(f for f in AMX_FLAGS if f in self.flags)


def _split_flags(text: str) -> frozenset[str]:
    return frozenset(f.lower() for f in re.split(r"[\s,]+", text) if f)


def _read_cpuinfo(path: Path) -> tuple[str, frozenset[str]] | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    model, flags = "unknown", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:  # the first processor's; all cores of a machine share them
            flags = _split_flags(value)
        if model != "unknown" and flags:
            break
    return model, flags


def cpu_info(flags: Iterable[str] | str | None = None, *, cpuinfo: Path = CPUINFO) -> CpuInfo:
    """The CPU's model and flags: from `flags` if given, else $MCTSR_CPU_FLAGS if set, else /proc/cpuinfo.

    Where none of them is available (not Linux), the flags are empty: no guard is needed on macOS, whose
    CPUs have no AMX, and on other systems llama.cpp's defaults stay in force.
    """
    read = _read_cpuinfo(cpuinfo)
    model = read[0] if read else "unknown"
    if flags is not None:
        found = _split_flags(flags) if isinstance(flags, str) else frozenset(f.lower() for f in flags)
        return CpuInfo(model=model, flags=found, source="argument")
    env = os.environ.get(CPU_FLAGS_ENV)
    if env is not None:
        return CpuInfo(model=model, flags=_split_flags(env), source=f"${CPU_FLAGS_ENV}")
    if read is None:
        return CpuInfo(model=model, flags=frozenset(), source="unavailable")
    return CpuInfo(model=model, flags=read[1], source=str(cpuinfo))


@dataclass(frozen=True, kw_only=True)
class BuildInfo:
    """What the guard needs to know about the llama.cpp build."""

    amx: bool | None  # the CPU backend has AMX kernels (offers its AMX buffer type); None = not known
    source: str  # where that came from: "llama.cpp's CPU buffer types", "$MCTSR_BUILD_AMX", "argument", ...


_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")


def build_info(amx: bool | None = None, *, probe: Callable[[], bool] | None = None) -> BuildInfo:
    """Whether the llama.cpp build has AMX kernels: `amx` if given, else $MCTSR_BUILD_AMX if set, else
    `probe()` (which asks the loaded library), else unknown. A probe that fails leaves it unknown."""
    if amx is not None:
        return BuildInfo(amx=bool(amx), source="argument")
    env = os.environ.get(BUILD_AMX_ENV, "").strip().lower()
    if env:
        if env not in _TRUE + _FALSE:
            raise InvalidConfigError(f"{BUILD_AMX_ENV}={env!r} is not a setting: use 1 (the build has AMX kernels) "
                                     "or 0 (it has none)")
        return BuildInfo(amx=env in _TRUE, source=f"${BUILD_AMX_ENV}")
    if probe is None:
        return BuildInfo(amx=None, source="not asked")
    try:
        return BuildInfo(amx=bool(probe()), source="llama.cpp's CPU buffer types")
    except Exception as e:  # an unknown build keeps the guard where the CPU has AMX
        return BuildInfo(amx=None, source=f"unknown ({type(e).__name__}: {e})")


@dataclass(frozen=True, kw_only=True)
class LoadGuard:
    """How a model is loaded on this machine; `apply()` sets it on a `llama_model_params`."""

    use_extra_bufts: bool | None  # value for llama_model_params.use_extra_bufts; None = keep llama.cpp's default
    setting: str  # the $MCTSR_EXTRA_BUFTS setting it came from: "auto", "on" or "off"
    reason: str  # one sentence for `mctsr info` and bug reports
    cpu_amx: bool = False  # the CPU has AMX (as `cpu_info` read it; False when the setting decided alone)
    build_amx: bool | None = None  # the llama.cpp build has AMX kernels (None: not known or not asked)

    @property
    def active(self) -> bool:
        """True when the load differs from llama.cpp's default (extra buffer types turned off)."""
        return self.use_extra_bufts is False

    def apply(self, params) -> None:
        """Set the guard on a ctypes `llama_model_params` (any object with a `use_extra_bufts` field)."""
        if self.use_extra_bufts is not None:
            params.use_extra_bufts = self.use_extra_bufts

    def to_dict(self) -> dict:
        return {"use_extra_bufts": self.use_extra_bufts, "setting": self.setting, "active": self.active,
                "reason": self.reason, "cpu_amx": self.cpu_amx, "build_amx": self.build_amx}


def extra_bufts_setting(setting: str | None = None) -> str:
    """`setting`, else $MCTSR_EXTRA_BUFTS, else "auto"; a value other than auto/on/off is a typed error."""
    raw = setting if setting is not None else os.environ.get(EXTRA_BUFTS_ENV, "auto")
    value = raw.strip().lower() or "auto"
    if value not in EXTRA_BUFTS_SETTINGS:
        raise InvalidConfigError(
            f"{EXTRA_BUFTS_ENV}={raw!r} is not a setting: use auto (turn llama.cpp's extra CPU buffer types "
            "off only on AMX CPUs), on (llama.cpp's default) or off (always off)"
        )
    return value


def load_guard(cpu: CpuInfo | None = None, setting: str | None = None, build: BuildInfo | None = None) -> LoadGuard:
    """The guard for loading a model on `cpu` (default: this machine's) with the llama.cpp `build` (default: as
    $MCTSR_BUILD_AMX says, else unknown) under `setting` (default: the env).

    auto: off (llama.cpp's default) unless the CPU has AMX and the build has AMX kernels; an unknown build on
    an AMX CPU is guarded, since the crash costs more than the repacked kernels."""
    value = extra_bufts_setting(setting)
    if value == "on":
        return LoadGuard(use_extra_bufts=None, setting=value,
                         reason=f"{EXTRA_BUFTS_ENV}=on: llama.cpp's default (extra CPU buffer types on), even on AMX")
    if value == "off":
        return LoadGuard(use_extra_bufts=False, setting=value,
                         reason=f"{EXTRA_BUFTS_ENV}=off: extra CPU buffer types off on any CPU")
    cpu = cpu or cpu_info()
    build = build or build_info()
    facts = dict(setting=value, cpu_amx=bool(cpu.amx), build_amx=build.amx)
    if not cpu.amx:
        return LoadGuard(use_extra_bufts=None, **facts,
                         reason=f"no AMX on this CPU (flags from {cpu.source}): llama.cpp's default load")
    has = f"the CPU has AMX ({' '.join(cpu.amx)}, from {cpu.source})"
    if build.amx is False:
        return LoadGuard(use_extra_bufts=None, **facts,
                         reason=f"{has} but this llama.cpp build has no AMX kernels (from {build.source}): nothing "
                                "to guard, llama.cpp's default load keeps its repacked CPU kernels")
    built = ("the build has AMX kernels" if build.amx else f"the build was not checked for AMX ({build.source})")
    return LoadGuard(use_extra_bufts=False, **facts,
                     reason=f"{has} and {built}: extra CPU buffer types off, because llama.cpp's AMX buffer crashes "
                            "(SIGSEGV in ggml_backend_amx_mul_mat)")
