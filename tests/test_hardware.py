"""The AMX load guard and the native boundary's safety (issue: SIGSEGV on Intel AMX CPUs and CUDA builds).

The CPU's flags are injected ($MCTSR_CPU_FLAGS or an argument), so every test runs the same on any CPU: the
guard is proven on a machine without AMX by checking the `llama_model_params` that reach
`llama_model_load_from_file`, captured at the ctypes call, on both load paths (our engine and the sequential
baseline on llama-cpp-python's `Llama`).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mctsr_native import hardware
from mctsr_native.errors import InvalidConfigError

AMX = "fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8"
NO_AMX = "fpu sse2 avx2 avx512f avx512_vnni"
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f amx_bf16 avx512_fp16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f amx_bf16 avx512_fp16 amx_tile amx_int8
"""

# ----- reading the CPU ------------------------------------------------------------------------------------


def test_cpu_info_reads_model_and_amx_flags_from_a_cpuinfo_file(tmp_path, monkeypatch):
    monkeypatch.delenv(hardware.CPU_FLAGS_ENV, raising=False)
    f = tmp_path / "cpuinfo"
    f.write_text(CPUINFO)
    cpu = hardware.cpu_info(cpuinfo=f)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu.amx == ("amx_bf16", "amx_int8", "amx_tile")
    assert cpu.source == str(f)


def test_cpu_flags_injected_by_argument_or_environment_win_over_the_real_cpu(tmp_path, monkeypatch):
    f = tmp_path / "cpuinfo"
    f.write_text(CPUINFO)
    monkeypatch.setenv(hardware.CPU_FLAGS_ENV, NO_AMX)
    assert hardware.cpu_info(cpuinfo=f).amx == ()
    assert hardware.cpu_info(cpuinfo=f).source == "$MCTSR_CPU_FLAGS"
    assert hardware.cpu_info("AVX2,AMX_TILE", cpuinfo=f).amx == ("amx_tile",)  # comma separated, any case
    monkeypatch.delenv(hardware.CPU_FLAGS_ENV)
    missing = hardware.cpu_info(cpuinfo=tmp_path / "absent")  # not Linux: no flags, no guard
    assert missing.flags == frozenset() and missing.source == "unavailable"


# ----- deciding the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flags, setting, expected", [
    (AMX, "auto", False), (NO_AMX, "auto", None),   # auto: off only where the CPU has AMX
    (AMX, "on", None), (NO_AMX, "off", False),      # the user's override wins either way
    ("amx_tile", "auto", False),                    # any one AMX feature is enough
])
def test_load_guard_decision(flags, setting, expected):
    guard = hardware.load_guard(hardware.cpu_info(flags), setting, hardware.build_info(amx=True))
    assert guard.use_extra_bufts is expected
    assert guard.active is (expected is False)
    assert guard.setting == setting and guard.reason


@pytest.mark.parametrize("cpu_amx, build_amx, guarded", [
    (True, True, True),     # the crash's setting: AMX CPU, AMX kernels in the build
    (True, False, False),   # AMX CPU, a build without AMX kernels (made elsewhere): nothing to guard
    (False, True, False),   # AMX kernels that this CPU never runs
    (False, False, False),
])
def test_guard_asks_the_cpu_and_the_build(cpu_amx, build_amx, guarded, monkeypatch):
    """All four combinations, injected through the environment as a test machine would set them."""
    monkeypatch.delenv(hardware.EXTRA_BUFTS_ENV, raising=False)
    monkeypatch.setenv(hardware.CPU_FLAGS_ENV, AMX if cpu_amx else NO_AMX)
    monkeypatch.setenv(hardware.BUILD_AMX_ENV, "1" if build_amx else "0")
    build = hardware.build_info(probe=lambda: pytest.fail("the environment wins over asking the build"))
    assert build.amx is build_amx and build.source == "$MCTSR_BUILD_AMX"
    guard = hardware.load_guard(build=build)
    assert guard.active is guarded
    assert (guard.cpu_amx, guard.build_amx) == (cpu_amx, build_amx)
    assert guard.to_dict()["build_amx"] is build_amx
    if cpu_amx and not build_amx:
        assert "no AMX kernels" in guard.reason


def test_an_unknown_build_keeps_the_guard_on_an_amx_cpu(monkeypatch):
    monkeypatch.delenv(hardware.BUILD_AMX_ENV, raising=False)
    cpu = hardware.cpu_info(AMX)

    def broken() -> bool:
        raise OSError("no libllama")

    unknown = hardware.build_info(probe=broken)
    assert unknown.amx is None and "OSError: no libllama" in unknown.source
    assert hardware.load_guard(cpu, "auto", unknown).active
    assert hardware.load_guard(cpu, "auto").active  # no build given, none in the environment: not asked
    assert hardware.build_info(probe=lambda: False).amx is False
    monkeypatch.setenv(hardware.BUILD_AMX_ENV, "maybe")
    with pytest.raises(InvalidConfigError, match="MCTSR_BUILD_AMX='maybe'"):
        hardware.build_info()


def test_the_real_build_answers_from_its_cpu_buffer_types(monkeypatch):
    """The probe reads llama.cpp's own list of CPU buffer types; AMX kernels need the compiler's AMX-INT8, so
    "AMX" among the types implies `AMX_INT8 = 1` in the system info."""
    from mctsr_native.generation.llama import build

    monkeypatch.delenv(hardware.BUILD_AMX_ENV, raising=False)
    types = build.cpu_buffer_types()
    assert all(isinstance(t, str) and t for t in types)
    assert build.build_has_amx() is ("AMX" in types)
    assert build.build_info() == hardware.BuildInfo(amx="AMX" in types, source="llama.cpp's CPU buffer types")
    if "AMX" in types:
        assert "AMX_INT8 = 1" in build.system_info()


def test_load_guard_reads_the_environment_and_rejects_a_bad_setting(monkeypatch):
    monkeypatch.setenv(hardware.CPU_FLAGS_ENV, AMX)
    monkeypatch.setenv(hardware.BUILD_AMX_ENV, "1")
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, " AUTO ")
    assert hardware.load_guard().use_extra_bufts is False
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "on")
    assert hardware.load_guard().use_extra_bufts is None
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "sometimes")
    with pytest.raises(InvalidConfigError, match="MCTSR_EXTRA_BUFTS='sometimes'.*auto.*on.*off"):
        hardware.load_guard()


def test_hardware_imports_without_llama_cpp_or_the_compiled_core():
    code = ("import sys; sys.modules['llama_cpp'] = None; sys.modules['mctsr_native._core'] = None\n"
            "from mctsr_native import hardware\n"
            "print(hardware.load_guard(hardware.cpu_info('amx_int8'), 'auto').use_extra_bufts)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_apply_sets_the_real_ctypes_field_only_when_guarding():
    import llama_cpp as L

    default = L.llama_model_default_params()
    assert default.use_extra_bufts is True  # llama.cpp's default: the field the guard turns off exists here
    params = L.llama_model_default_params()
    hardware.load_guard(hardware.cpu_info(NO_AMX), "auto").apply(params)
    assert params.use_extra_bufts is True
    hardware.load_guard(hardware.cpu_info(AMX), "auto").apply(params)
    assert params.use_extra_bufts is False


# ----- the native boundary: struct layouts against the vendored header -------------------------------------

STRUCTS = ["llama_model_params", "llama_context_params", "llama_batch", "llama_sampler_chain_params",
           "llama_token_data", "llama_token_data_array"]  # every struct the engine fills or passes


def _header_dir() -> Path | None:
    import llama_cpp

    pkg = Path(llama_cpp.__file__).resolve().parent
    for d in (pkg / "include", pkg.parent / "include"):
        if (d / "llama.h").is_file():
            return d
    return None


def test_ctypes_struct_layouts_match_the_vendored_llama_h(tmp_path):
    """Every field of the ctypes structs the engine passes by value or pointer has the offset and size that the
    C compiler gives the same field in llama-cpp-python's own llama.h; the struct sizes agree too. A field the
    header lacks fails the compilation; a reordered, resized or missing field fails the comparison."""
    import llama_cpp as L

    cc = shutil.which("cc") or shutil.which("gcc")
    include = _header_dir()
    if cc is None or include is None:
        pytest.skip(f"needs a C compiler (found {cc}) and llama.h from llama-cpp-python (found {include})")
    lines, expected = [], []
    for name in STRUCTS:
        cls = getattr(L, name)
        for field, *_ in cls._fields_:
            desc = getattr(cls, field)
            lines.append(f'printf("{name}.{field} %zu %zu\\n", offsetof(struct {name}, {field}), '
                         f"sizeof(((struct {name} *)0)->{field}));")
            expected.append(f"{name}.{field} {desc.offset} {desc.size}")
        lines.append(f'printf("{name} %zu\\n", sizeof(struct {name}));')
        expected.append(f"{name} {ctypes.sizeof(cls)}")
    src = tmp_path / "layout.c"
    src.write_text('#include <stddef.h>\n#include <stdio.h>\n#include "llama.h"\nint main(void) {\n'
                   + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "layout"
    build = subprocess.run([cc, f"-I{include}", str(src), "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, f"the ctypes fields do not exist in llama.h as named:\n{build.stderr[-3000:]}"
    actual = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    assert [a for a in actual if a] == expected


def test_token_data_numpy_dtype_matches_the_ctypes_struct():
    import llama_cpp as L

    from mctsr_native.generation.llama import native

    dtype = native._TOKEN_DATA
    assert dtype.itemsize == ctypes.sizeof(L.llama_token_data)
    assert [(n, dtype.fields[n][1]) for n in dtype.names] == [
        (n, getattr(L.llama_token_data, n).offset) for n, _ in L.llama_token_data._fields_]


# ----- the log callback ------------------------------------------------------------------------------------


def test_log_sink_is_native_takes_null_and_split_characters_and_joins_continuations():
    """The sink llama.cpp holds is the native one (no Python runs inside llama.cpp's calls, so no signal
    handler runs where ctypes would swallow what it raises). Called here through that same C address."""
    import llama_cpp as L

    from mctsr_native import _llama_log
    from mctsr_native.generation.llama import runtime as native

    native.backend_init()
    cb, ud = L.llama_log_callback(), ctypes.c_void_p()
    L.llama_log_get(ctypes.byref(cb), ctypes.byref(ud))
    assert ctypes.cast(cb, ctypes.c_void_p).value == _llama_log.sink_address()
    native.log_clear()
    native._SINK(2, None, None)  # a NULL const char *
    native._SINK(5, None, None)  # GGML_LOG_LEVEL_CONT, NULL
    native._SINK(1, b"loading", None)
    native._SINK(5, b"...", None)
    native._SINK(5, b"\n", None)
    native._SINK(2, b"caf\xc3", None)  # a line cut inside a UTF-8 character, completed by its continuation
    native._SINK(5, b"\xa9\n", None)
    assert native.log_lines() == ["loading...\n", "caf\u00e9\n"]
    for i in range(100):
        native._SINK(2, f"line {i}\n".encode(), None)
    assert len(native.log_lines()) == 64 and native.log_tail(1) == "line 99"  # the last lines are kept
    native.log_clear()
    assert native.log_lines() == []


# ----- the guard on every load path (real model) ----------------------------------------------------------


@pytest.fixture
def captured_loads(monkeypatch):
    """Records use_extra_bufts of every llama_model_load_from_file call, at both names llama-cpp-python binds
    it under (our engine calls `llama_cpp.X`, its high-level Llama calls `llama_cpp.llama_cpp.X`)."""
    import llama_cpp
    import llama_cpp.llama_cpp as raw

    real = raw.llama_model_load_from_file
    seen: list[tuple[bytes, bool]] = []

    def record(path, params):
        seen.append((bytes(path), bool(params.use_extra_bufts)))
        return real(path, params)

    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", record)
    monkeypatch.setattr(raw, "llama_model_load_from_file", record)
    return seen


def _open(mode: str):
    from mctsr_native.generation import open_backend

    return open_backend(None, mode=mode, n_ctx=1024, n_threads=1)


def _guard_of(backend) -> hardware.LoadGuard:
    """The guard a backend loaded with: our engine keeps it on its native.Model, the baseline on itself."""
    return backend.model.load_guard if hasattr(backend, "model") else backend.load_guard


@pytest.mark.model
@pytest.mark.parametrize("mode", ["batched", "sequential"])
def test_amx_cpu_loads_without_extra_buffer_types_on_every_path(mode, captured_loads, monkeypatch):
    monkeypatch.setenv(hardware.CPU_FLAGS_ENV, AMX)
    monkeypatch.setenv(hardware.BUILD_AMX_ENV, "1")
    monkeypatch.delenv(hardware.EXTRA_BUFTS_ENV, raising=False)
    backend = _open(mode)
    try:
        assert _guard_of(backend).active
    finally:
        backend.close()
    assert [flag for _, flag in captured_loads] == [False]


@pytest.mark.model
@pytest.mark.parametrize("mode", ["batched", "sequential"])
def test_cpu_without_amx_keeps_llama_cpp_default(mode, captured_loads, monkeypatch):
    import llama_cpp as L

    monkeypatch.setenv(hardware.CPU_FLAGS_ENV, NO_AMX)
    monkeypatch.setenv(hardware.BUILD_AMX_ENV, "1")
    monkeypatch.delenv(hardware.EXTRA_BUFTS_ENV, raising=False)
    _open(mode).close()
    assert [flag for _, flag in captured_loads] == [L.llama_model_default_params().use_extra_bufts]


def _greedy(backend) -> str:
    from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams

    request = GenerationRequest(messages=[Message(role="user", content="What is 12 times 7? Answer briefly.")],
                                params=SamplingParams(max_tokens=16, temperature=0.0))
    (result,) = backend.generate([request])
    result.raise_for_error()
    return result.completions[0].text


@pytest.mark.model
def test_guarded_load_of_the_default_model_generates_the_same_text(monkeypatch):
    """The guard changes where weights live, not what the model computes: greedy text is unchanged. The
    unguarded side runs only where the real CPU has no AMX (there it is the crash this guard prevents)."""
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "off")
    guarded = _open("batched")
    try:
        assert _guard_of(guarded).active
        text = _greedy(guarded)
    finally:
        guarded.close()
    assert text.strip()
    monkeypatch.delenv(hardware.CPU_FLAGS_ENV, raising=False)
    monkeypatch.delenv(hardware.BUILD_AMX_ENV, raising=False)
    from mctsr_native.generation.llama.build import build_has_amx

    if hardware.cpu_info().amx and build_has_amx():  # the unguarded load is the crash here
        return
    monkeypatch.setenv(hardware.EXTRA_BUFTS_ENV, "on")
    plain = _open("batched")
    try:
        assert _greedy(plain) == text
    finally:
        plain.close()


@pytest.mark.model
def test_model_path_that_is_not_utf8_loads(tmp_path, default_model_path):
    """The path reaches llama.cpp as the file system's bytes (os.fsencode), so any file name loads."""
    from mctsr_native.generation import open_backend

    odd = tmp_path / os.fsdecode(b"mod\xffel.gguf")
    odd.symlink_to(default_model_path)
    backend = open_backend(odd, n_ctx=512, n_threads=1)
    backend.close()


@pytest.mark.model
@pytest.mark.parametrize("flags, expected", [(AMX, "False"), (NO_AMX, "True")])
def test_the_tests_llama_server_loads_with_the_guard(flags, expected, tmp_path, default_model_path):
    """The real server of the HTTP tests is llama-cpp-python's, started through `guarded_server`: its load
    gets the guard too. The load is intercepted at the ctypes call, which records the flag and stops the
    process before the server starts."""
    seen = tmp_path / "seen"
    code = (
        "import runpy, sys, llama_cpp.llama_cpp as raw\n"
        "def record(path, params):\n"
        f"    open({str(seen)!r}, 'w').write(str(params.use_extra_bufts))\n"
        "    raise SystemExit(0)\n"
        "raw.llama_model_load_from_file = record\n"
        f"sys.argv = ['guarded_server', '--model', {str(default_model_path)!r}, '--port', '0']\n"
        "runpy.run_module('mctsr_native.generation.llama.guarded_server', run_name='__main__', alter_sys=True)\n")
    env = {**os.environ, hardware.CPU_FLAGS_ENV: flags, hardware.BUILD_AMX_ENV: "1"}
    env.pop(hardware.EXTRA_BUFTS_ENV, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert seen.read_text() == expected
