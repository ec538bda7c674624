#!/usr/bin/env bash
# Builds and runs every test: the C++ core on its own (ctest: unit tests, the C ABI test, a find_package
# consumer), the same under ASan+UBSan, then pytest (bindings, engine, solver and evaluation on the real default model, and the
# benchmark suite in quick mode so that it never rots). Exits non-zero on any failure or on zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/cpp -DMCTSR_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/cpp -j2 >/dev/null
ctest --test-dir build/cpp --output-on-failure --no-tests=error
# The same C/C++ tests under ASan+UBSan with recovery off (any finding fails), in their own build dir.
cmake -S . -B build/asan -DMCTSR_BUILD_TESTS=ON -DMCTSR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j2 >/dev/null
ctest --test-dir build/asan --output-on-failure --no-tests=error
.venv/bin/python -m pytest tests -q "$@"
.venv/bin/python -m pytest benchmarks -q --benchmark-disable -p no:cacheprovider
