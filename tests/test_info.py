"""`mctsr info`: run for real (a fresh process, the real llama-cpp-python and the real default model)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from mctsr_native import hardware

pytestmark = pytest.mark.model  # it hashes the real default model


def _info(*args: str, **env: str) -> subprocess.CompletedProcess:
    ours = (hardware.CPU_FLAGS_ENV, hardware.EXTRA_BUFTS_ENV, hardware.BUILD_AMX_ENV)
    full = {k: v for k, v in os.environ.items() if k not in ours}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "mctsr_native.cli", "info", *args], env=full,
                          capture_output=True, text=True, timeout=120)


def test_info_json_reports_versions_build_devices_guard_and_model(default_model_path):
    import llama_cpp

    out = _info("--json", MCTSR_CPU_FLAGS="sse2 avx2 amx_tile amx_int8", MCTSR_BUILD_AMX="1")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["mctsr_native"] == importlib.metadata.version("mctsr-native")
    llama = info["llama_cpp"]
    assert llama["version"] == llama_cpp.__version__
    assert llama["system_info"].startswith("CPU :") and "|" in llama["system_info"]
    assert llama["gpu_offload"] is bool(llama_cpp.llama_supports_gpu_offload())
    assert any(d["type"] == "CPU" and d["memory_total"] > 0 for d in llama["devices"])
    assert info["cpu"]["amx"] == ["amx_int8", "amx_tile"] and info["cpu"]["flags_source"] == "$MCTSR_CPU_FLAGS"
    assert info["load_guard"]["active"] is True and info["load_guard"]["use_extra_bufts"] is False
    assert "AMX" in info["load_guard"]["reason"]
    assert info["load_guard"]["cpu_amx"] is True and info["load_guard"]["build_amx"] is True
    assert info["load_guard"]["build_amx_source"] == "$MCTSR_BUILD_AMX"
    assert llama["build_has_amx"] is ("AMX" in llama["cpu_buffer_types"])  # the real build, asked
    model = info["default_model"]
    assert model["path"] == str(default_model_path)
    assert model["checksum_ok"] is True and model["sha256"] == model["expected_sha256"]


def test_info_text_says_which_guard_is_active_and_why():
    plain = _info(MCTSR_CPU_FLAGS="sse2 avx2")
    assert plain.returncode == 0, plain.stderr
    row = {line[:17].strip(): line[17:].strip() for line in plain.stdout.splitlines()}  # "label  value"
    assert row["load guard"].startswith("off: no AMX")
    assert "sha256 matches" in row["default model"]
    assert row["llama-cpp-python"] and row["llama.cpp build"].startswith("CPU :")
    forced = _info(MCTSR_EXTRA_BUFTS="off", MCTSR_CPU_FLAGS="sse2")
    assert "load guard        ON: MCTSR_EXTRA_BUFTS=off" in forced.stdout


@pytest.mark.parametrize("cpu_flags, build_amx, says", [
    ("sse2 amx_int8", "1", "ON: the CPU has AMX"),
    ("sse2 amx_int8", "0", "off: the CPU has AMX (amx_int8, from $MCTSR_CPU_FLAGS) but this llama.cpp build has no"),
    ("sse2", "1", "off: no AMX on this CPU"),
    ("sse2", "0", "off: no AMX on this CPU"),
])
def test_info_says_cpu_amx_build_amx_and_the_guard(cpu_flags, build_amx, says):
    out = _info(MCTSR_CPU_FLAGS=cpu_flags, MCTSR_BUILD_AMX=build_amx)
    assert out.returncode == 0, out.stderr
    row = {line[:17].strip(): line[17:].strip() for line in out.stdout.splitlines()}
    assert row["load guard"].startswith(says)
    cpu = "yes" if "amx" in cpu_flags else "no"
    assert row["load guard"].endswith(f"CPU AMX: {cpu}; build AMX kernels: {'yes' if build_amx == '1' else 'no'}]")
    assert row["AMX kernels"].startswith(("yes, in this build", "none in this build"))  # the real build's


def test_info_still_reports_when_a_part_is_broken():
    """A bad setting is reported in its place (with what the valid ones are); the other parts still print."""
    out = _info("--json", MCTSR_EXTRA_BUFTS="sometimes")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert "MCTSR_EXTRA_BUFTS='sometimes'" in info["load_guard"]["error"]
    assert info["default_model"]["checksum_ok"] is True and "version" in info["llama_cpp"]


def test_info_flags_a_checksum_mismatch(monkeypatch, capsys):
    from mctsr_native import cli, models

    monkeypatch.setattr(models, "DEFAULT_MODEL_SHA256", "0" * 64)
    assert cli.main(["info"]) == 0
    assert f"MISMATCH (expected {'0' * 64})" in capsys.readouterr().out
