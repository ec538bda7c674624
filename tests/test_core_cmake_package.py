"""The C++ core is a CMake package: build it without Python, install it into a prefix, and build and run a
separate consumer project (tests/cmake_consumer) that does find_package(mctsr) and links mctsr::core."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CMAKE = shutil.which("cmake")

pytestmark = pytest.mark.skipif(CMAKE is None, reason="cmake is not installed")


def run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_find_package_consumer_builds_against_install_prefix(tmp_path: Path) -> None:
    build, prefix, consumer = tmp_path / "build", tmp_path / "prefix", tmp_path / "consumer"
    run(CMAKE, "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DMCTSR_BUILD_TESTS=OFF",
        "-DMCTSR_BUILD_PYTHON=OFF")
    run(CMAKE, "--build", build, "-j2")
    run(CMAKE, "--install", build, "--prefix", prefix)
    assert (prefix / "include" / "mctsr" / "mctsr.h").is_file()
    assert list(prefix.glob("lib*/cmake/mctsr/mctsrConfigVersion.cmake"))
    run(CMAKE, "-S", ROOT / "tests" / "cmake_consumer", "-B", consumer, f"-DCMAKE_PREFIX_PATH={prefix}",
        "-DCMAKE_BUILD_TYPE=Release")
    run(CMAKE, "--build", consumer)
    assert "mctsr consumer ok" in run(consumer / "mctsr_consumer")
