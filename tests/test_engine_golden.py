"""The engine's outputs on the default model stay exactly what they were when recorded (greedy and seeded,
several requests per call, n > 1, stop strings, a grammar, prefix cache on and off): speed work on the decode
loop and the samplers must not change a token. Re-record (tests/golden/record_engine_outputs.py) only for a
deliberate change of what is generated."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

GOLDEN = Path(__file__).resolve().parent / "golden"
_spec = importlib.util.spec_from_file_location("record_engine_outputs", GOLDEN / "record_engine_outputs.py")
recorder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recorder)


@pytest.fixture(scope="module")
def outputs(default_model_path) -> dict:
    return recorder.run(default_model_path)


def test_the_recording_covers_what_it_claims():
    expected = json.loads(recorder.EXPECTED.read_text(encoding="utf-8"))
    reasons = {c[1] for call in expected.values() for r in call for c in r}
    assert reasons == {"stop", "length"}  # both ends occur: a stop string or EOG, and the cap
    sampled = expected["seeded samples, n > 1 (prefix cache on)"][0]
    assert len({c[0] for c in sampled}) == 3  # the n samples differ


def test_outputs_match_the_recording(outputs):
    expected = json.loads(recorder.EXPECTED.read_text(encoding="utf-8"))
    assert outputs.keys() == expected.keys()
    for name in expected:
        assert outputs[name] == expected[name], name
