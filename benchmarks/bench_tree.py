"""One rollout's tree work — select + add_child + record_rewards + backpropagate — on trees of 10^2..10^5 nodes:
the C++ tree (mctsr_native.Tree, called from Python as the solver calls it) against the plain-Python dict tree
(benchmarks/pytree.py, the reference code's way of keeping a tree). Both get the same tree and the same
operation sequence; one benchmark group per size ("tree rollout n=..."; the C++ tree is side "ours", the
dict tree "baseline": see benchmarks/ratios.py).

    pytest benchmarks/bench_tree.py --benchmark-group-by=group -s

The trees are grown by attaching each new node to a uniformly random earlier node (seeded) with three rewards,
under the paper's default config. The ratio python/cpp of median seconds per rollout is printed at the end
and stored in each C++ benchmark's extra_info. Timings are compared, never asserted.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mctsr_native.tree import Tree, TreeConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytree import PyTree  # noqa: E402
from ratios import BASELINE, OURS, mark_side  # noqa: E402

SIZES = [100, 1_000, 10_000, 100_000]
ROUNDS = {100: 500, 1_000: 300, 10_000: 60, 100_000: 15}
IMPLS: dict[str, Callable[[TreeConfig], Any]] = {"cpp": Tree, "python": PyTree}
_medians: dict[tuple[int, str], float] = {}


def grow(tree: Any, size: int, seed: int = 0) -> Any:
    """A tree of `size` nodes: each node under a random earlier one, scored and backed up."""
    rng = random.Random(seed)
    answer, dummy = tree.initialize()
    tree.record_rewards(answer, [rng.randint(-100, 100) for _ in range(3)])
    tree.record_rewards(dummy, [rng.randint(-100, 100) for _ in range(3)])
    while len(tree) < size:
        child = tree.add_child(rng.randrange(len(tree)))
        tree.record_and_backpropagate(child, [rng.randint(-100, 100) for _ in range(3)])
    return tree


def reward_stream(seed: int = 1) -> Iterator[list[int]]:
    rng = random.Random(seed)
    while True:
        yield [rng.randint(-100, 100) for _ in range(3)]


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    lines = ["", "median seconds per rollout (select + add_child + record_rewards + backpropagate)"]
    for size in SIZES:
        cpp, py = _medians.get((size, "cpp")), _medians.get((size, "python"))
        if cpp and py:
            lines.append(f"  n={size:>7}: cpp {cpp * 1e6:8.2f} us   python {py * 1e6:10.1f} us   ratio {py / cpp:7.1f}x")
    print("\n".join(lines))


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("size", SIZES)
def test_rollout(benchmark: Any, size: int, impl: str) -> None:
    tree = grow(IMPLS[impl](TreeConfig()), size)
    rewards = reward_stream()

    def rollout() -> None:
        node = tree.select()
        child = tree.add_child(node)
        tree.record_rewards(child, next(rewards))
        tree.backpropagate(child)

    mark_side(benchmark, f"tree rollout n={size}", OURS if impl == "cpp" else BASELINE, size=size, impl=impl)
    benchmark.pedantic(rollout, rounds=ROUNDS[size], iterations=1, warmup_rounds=min(5, ROUNDS[size]))
    if benchmark.stats is None:  # --benchmark-disable: ran once, untimed
        return
    _medians[(size, impl)] = benchmark.stats.stats.median
    if impl == "python" and (size, "cpp") in _medians:
        benchmark.extra_info["ratio_python_over_cpp"] = benchmark.stats.stats.median / _medians[(size, "cpp")]
