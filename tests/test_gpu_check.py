"""The GPU check cannot rot between GPU runs (issue 24): its dry run runs here end to end, its bad inputs stop it in
one line before any long work, every pytest selection it makes collects a test, and its table names the suspect.

The dry run (`scripts/gpu-check.sh --dry-run`) is the GPU run without the CUDA build and the offload: the same
probes, benchmark selections and table, on the installed CPU build. With the gpu-kit beside the checkout it runs on
the 128k-vocabulary proxy; without it (a clean clone) on the default model, and says what it skipped.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


probe = _module("gpu_probe")
report = _module("gpu_check_report")


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


# ----- bad input: one line, exit 2, before any long work ------------------------------------------------------


def make_wheelhouse(root: Path) -> Path:
    """A folder laid out as scripts/gpu-wheelhouse.sh lays one out (the files' contents do not matter here)."""
    files = {"wheels/diskcache-5.6.3-py3-none-any.whl": b"w", "llama_cpp_python-0.3.36-slim.tar.gz": b"s",
             "gpu-kit/synth_llama3.py": b"k", "gpu-kit/smollm2_tok.json.gz": b"t"}
    lines = []
    for name, data in sorted(files.items()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (root / "MANIFEST.sha256").write_text("".join(lines))
    return root


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A folder first on PATH whose nvidia-smi finds no GPU (whatever the host has)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 9\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    return bin_dir


def _env(tmp_path: Path, fake_bin: Path, **more: str) -> dict[str, str]:
    return {"PATH": f"{fake_bin}:{os.environ['PATH']}", "PYTHON": sys.executable,
            "GPU_CACHE": str(tmp_path / "cache"), "NVCC": str(tmp_path / "no-nvcc"), **more}


def _one_line_refusal(out: subprocess.CompletedProcess, says: str) -> None:
    assert out.returncode == 2, out.stderr + out.stdout
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("gpu-check: ")
    assert says in out.stderr


def test_no_wheelhouse_is_refused(tmp_path, fake_bin):
    _one_line_refusal(_run(env=_env(tmp_path, fake_bin)), "no --wheelhouse DIR")


def test_a_wheelhouse_missing_a_file_is_refused(tmp_path, fake_bin):
    wh = make_wheelhouse(tmp_path / "wh")
    (wh / "wheels" / "diskcache-5.6.3-py3-none-any.whl").unlink()
    _one_line_refusal(_run("--wheelhouse", str(wh), env=_env(tmp_path, fake_bin)),
                      "lacks wheels/diskcache-5.6.3-py3-none-any.whl")


def test_a_wheelhouse_that_does_not_match_its_manifest_is_refused(tmp_path, fake_bin):
    wh = make_wheelhouse(tmp_path / "wh")
    (wh / "gpu-kit" / "synth_llama3.py").write_bytes(b"changed")
    _one_line_refusal(_run("--wheelhouse", str(wh), env=_env(tmp_path, fake_bin)), "does not match its MANIFEST")


def test_a_wheelhouse_without_the_source_archive_is_refused(tmp_path, fake_bin):
    wh = make_wheelhouse(tmp_path / "wh")
    manifest = wh / "MANIFEST.sha256"
    manifest.write_text("".join(l for l in manifest.read_text().splitlines(True) if "slim" not in l))
    _one_line_refusal(_run("--wheelhouse", str(wh), env=_env(tmp_path, fake_bin)),
                      "does not list llama_cpp_python-0.3.36-slim.tar.gz")


def test_bad_options_are_refused(tmp_path, fake_bin):
    _one_line_refusal(_run("--dry-run", "--only", "everything", env=_env(tmp_path, fake_bin)), "--only takes load or")
    _one_line_refusal(_run("--dry-run", "--deadline", "9m", env=_env(tmp_path, fake_bin)), "whole seconds")


def test_no_gpu_is_refused(tmp_path, fake_bin):
    wh = make_wheelhouse(tmp_path / "wh")
    _one_line_refusal(_run("--wheelhouse", str(wh), env=_env(tmp_path, fake_bin)), "no NVIDIA GPU visible")


def test_no_nvcc_is_refused(tmp_path, fake_bin):
    (fake_bin / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Fake GPU (UUID: GPU-0)'\n")
    wh = make_wheelhouse(tmp_path / "wh")
    _one_line_refusal(_run("--wheelhouse", str(wh), env=_env(tmp_path, fake_bin)), "no nvcc")


# ----- every pytest selection of the script collects a test ---------------------------------------------------


def bench_selections() -> list[list[str]]:
    """The pytest arguments of each `bench NAME WANT SECONDS ENV ARGS...` line of gpu-check.sh."""
    found = []
    for line in SCRIPT.read_text().splitlines():
        call = re.match(r"\s*(?:want \w+ && )?(bench \".*)", line)
        if call:
            found.append(shlex.split(call.group(1))[5:])
    return found


def test_the_script_makes_the_issue_s_benchmark_selections():
    joined = [" ".join(s) for s in bench_selections()]
    assert len(joined) == 5
    assert "benchmarks/bench_overhead.py::test_solve_overhead -k r8_p4" in joined
    assert "benchmarks/bench_overhead.py::test_solve_overhead -k r8_p1" in joined
    assert any("test_generate_tokens_per_second" in s and "8-ours" in s for s in joined)
    assert any("test_generate_overhead" in s for s in joined)


@pytest.mark.parametrize("selection", bench_selections(), ids=lambda s: " ".join(s))
def test_every_benchmark_selection_collects_a_test(selection):
    out = subprocess.run([sys.executable, "-m", "pytest", *selection, "--co", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]  # 5: it collected nothing
    found = re.search(r"^(\d+)(/\d+)? tests? collected", out.stdout, re.M)
    assert found and int(found.group(1)) >= 1, out.stdout[-500:]


# ----- the table: verdicts and the suspect ----------------------------------------------------------------------


@pytest.mark.parametrize("rc, words", [(0, "pass"), (-11, "crash (SIGSEGV)"), (139, "crash (SIGSEGV)"),
                                       (-6, "crash (SIGABRT)"), (124, "timeout (90 s)"), (1, "failed (exit 1)")])
def test_probe_verdicts(rc, words):
    assert probe.verdict(rc, 90) == words


def _rows(results: dict[str, str]) -> list[list[str]]:
    return [["load", name, "", result, "1.0", ""] for name, result in results.items()]


def test_the_table_names_the_suspect_whose_change_alone_passes():
    rows = _rows({p.name: "pass" for p in probe.SUITE} | {"old engine settings": "crash (SIGSEGV)",
                                                        "ngl INT32_MAX": "crash (SIGSEGV)",
                                                        "llama-cpp-python sink": "crash (SIGSEGV)",
                                                        "llama.cpp default sink": "crash (SIGSEGV)",
                                                        "no import first": "crash (SIGSEGV)",
                                                        "only the C++ core first": "crash (SIGSEGV)"})
    said = report.suspects(rows)
    assert said.startswith("old settings: crash (SIGSEGV)")
    assert "load_mode AUTO (mmap passes)" in said and "n_gpu_layers" not in said


def test_the_table_says_when_the_crash_does_not_reproduce_or_no_single_suspect_clears_it():
    assert "did not reproduce" in report.suspects(_rows({p.name: "pass" for p in probe.SUITE}))
    crashed = {p.name: "crash (SIGSEGV)" for p in probe.SUITE}
    assert "the file or the build" in report.suspects(_rows(crashed))
    assert "all of them together" in report.suspects(_rows(crashed | {"as Llama loads": "pass"}))
    assert "did not run" in report.suspects(_rows({"old engine settings": "not run (deadline)"}))


@pytest.mark.parametrize("result, fails", [
    ("pass", False), ("ok", False), ("built in 312 s on 16 cores", False), ("written (4.6G)", False),
    ("reused (built 312 s by an earlier call)", False), ("clean", False), ("skipped (--only load)", False),
    ("not run (deadline)", False), ("crash (SIGSEGV)", True), ("timeout (90 s)", True), ("errors found (see log)", True),
    ("failed (exit 1)", True), ("failed (0 of 1 figures: a test skipped, see log)", True)])
def test_which_results_fail_the_run(result, fails):
    assert report.failed(result) is fails


def test_report_exit_status_counts_failures_not_skips(tmp_path, capsys):
    rows = tmp_path / "rows.tsv"
    rows.write_text("build\tCUDA wheel\t-\tskipped (dry run)\t0\t\nload\tx\t-\tnot run (deadline)\t0\t\n"
                    "overhead\ty\t-\tpass\t3\t\n")
    assert report.main(["--rows", str(rows), "--out", str(tmp_path / "t.md")]) == 0
    assert "| load | x | - | not run (deadline) | 0.0 |" in (tmp_path / "t.md").read_text()
    with rows.open("a") as f:
        f.write("overhead\tz\t-\tfailed (the selection collected no test)\t1\t\n")
    assert report.main(["--rows", str(rows)]) == 1
    assert "| overhead | z | - | failed (the selection collected no test) | 1.0 |" in capsys.readouterr().out


# ----- the dry run, end to end -----------------------------------------------------------------------------------


def _gpu_kit_present() -> bool:
    """What benchmarks/conftest.py finds (the same lookup as the script's)."""
    spec = importlib.util.spec_from_file_location("bench_conftest", ROOT / "benchmarks" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.find_gpu_kit() is not None


@pytest.mark.model
def test_dry_run_prints_the_one_table(tmp_path):
    """The whole script on the CPU: every probe, `mctsr info`, the benchmark selections and their figures, the
    suspects row; with the gpu-kit, on the synthetic proxy, without it on the default model (and it says so)."""
    out = _run("--dry-run", "--out", str(tmp_path / "out"), "--deadline", "900",
               env={"PYTHON": sys.executable, "GPU_CACHE": str(tmp_path / "cache")}, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    table = (tmp_path / "out" / "table.md").read_text()
    assert table.strip() in out.stdout
    cells = [line.split(" | ") for line in table.splitlines()[4:] if line.startswith("| ")]  # after the header
    result = {(c[0][2:], c[1]): c[3] for c in cells}
    for p in probe.SUITE:
        assert result["load", p.name] == "pass", p.name
    for name in ("mctsr info", "mctsr solve P=1", "mctsr solve P=4"):
        assert result["load", name] == "pass", name
    info = next(c[2] for c in cells if c[1] == "mctsr info")
    assert re.fullmatch(r"GPU offload no \(none\); CPU AMX (yes|no); build AMX kernels (yes|no); guard (ON|off)", info)
    for name in ("solve 8 rollouts P=4", "generate N=8", "overhead: generate", "solve 8 rollouts P=1"):
        assert result["bench", name] == "pass", name
    for name in ("overhead: solve 8 rollouts P=4", "overhead: solve 8 rollouts P=1", "overhead: generate"):
        assert "outside llama_decode" in result["overhead", name], name
    assert re.match(r"\d+ vs \d+: [\d.]+x", result["batched", "generate N=8"])
    assert "did not reproduce" in result["load", "crash suspects"]
    assert "not run (deadline)" not in table
    if _gpu_kit_present():
        assert result["build", "synthetic GGUF"].startswith(("written", "reused"))
        assert "model llama3-vocab-proxy.gguf" in table
    else:
        assert result["build", "synthetic GGUF"].startswith("skipped")


@pytest.mark.parametrize("old_rc, all_probes, isolated", [(0, False, False), (0, True, True), (-11, False, True)])
def test_the_suite_isolates_only_a_crash_unless_asked(old_rc, all_probes, isolated, tmp_path, monkeypatch):
    """GPU time is short: the one-suspect probes run when the old settings crash (or with --all, as the dry run
    asks); the real load paths always run."""
    ran: list[str] = []

    def fake_run(argv, log, limit, env):
        ran.append(argv[argv.index("--path") + 1] + " " + " ".join(argv[argv.index("--ngl"):]))
        return (old_rc if len(ran) == 1 else 0), 0.1

    monkeypatch.setattr(probe, "_run", fake_run)
    args = probe.parse(["suite", "model.gguf", "--rows", str(tmp_path / "rows.tsv"), "--logs", str(tmp_path)]
                       + (["--all"] if all_probes else []))
    assert probe.run_suite(args, probe.SUITE) == (1 if old_rc else 0)
    rows = report.read_rows(tmp_path / "rows.tsv")
    assert [r[1] for r in rows] == [p.name for p in probe.SUITE]
    skipped = [r[1] for r in rows if r[3].startswith("skipped")]
    assert len(ran) == len(probe.SUITE) - len(skipped)
    assert skipped == ([] if isolated else [p.name for p in probe.SUITE[1:probe.ISOLATING]])
