"""Golden tree: a seeded search replayed from recorded model traffic must rebuild the stored tree exactly.

Re-record with `python tests/golden/record_golden.py` after a deliberate change (prompts, seeds, rules).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mctsr_native.generation.replay import ReplayBackend
from mctsr_native.solver import solve

GOLDEN = Path(__file__).resolve().parent / "golden"
_spec = importlib.util.spec_from_file_location("record_golden", GOLDEN / "record_golden.py")
record_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_golden)


def test_replayed_search_rebuilds_the_golden_tree():
    expected = json.loads(record_golden.EXPECTED.read_text(encoding="utf-8"))
    result = solve(record_golden.problem(), backend=ReplayBackend(record_golden.TRAFFIC), **record_golden.OPTIONS)
    got = json.loads(json.dumps(record_golden.comparable(result)))
    assert got["tree"]["nodes"] == expected["tree"]["nodes"]  # parents, rewards, Q, visits, UCT: exact
    assert got["nodes"] == expected["nodes"]
    assert got == expected


def test_a_different_seed_is_not_in_the_recording():
    from mctsr_native.generation.replay import ReplayMismatchError

    options = dict(record_golden.OPTIONS, seed=record_golden.OPTIONS["seed"] + 1)
    with pytest.raises(ReplayMismatchError):
        solve(record_golden.problem(), backend=ReplayBackend(record_golden.TRAFFIC), **options)
