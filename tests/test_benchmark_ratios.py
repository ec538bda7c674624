"""benchmarks/ratios.py on a small synthetic pytest-benchmark JSON: ratios from times and from rates, groups
of one, natural group order, the Markdown form, and clear errors for a missing or foreign file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

RATIOS_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "ratios.py"


@pytest.fixture(scope="module")
def ratios() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ratios", RATIOS_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def bench(name: str, group: str, median: float, **extra) -> dict:
    return {"name": name, "group": group, "extra_info": extra,
            "stats": {"median": median, "rounds": 3, "mean": median, "min": median, "max": median}}


SAVED = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU"}},
    "commit_info": {"id": "0123456789abcdef", "dirty": False},
    "datetime": "2025-01-01T00:00:00",
    "benchmarks": [
        bench("test_rollout[1000-cpp]", "tree rollout n=1000", 2e-6, side="ours"),
        bench("test_rollout[1000-python]", "tree rollout n=1000", 5e-4, side="baseline"),
        bench("test_rollout[100-cpp]", "tree rollout n=100", 1e-6, side="ours"),
        bench("test_rollout[100-python]", "tree rollout n=100", 5e-5, side="baseline"),
        # rate-based: ours took longer per round but produced 4x the tokens per second
        bench("test_gen[8-ours]", "generate N=8", 2.0, side="ours", rate=400.0, rate_unit="generated tokens/s"),
        bench("test_gen[8-baseline]", "generate N=8", 1.0, side="baseline", rate=100.0,
              rate_unit="generated tokens/s"),
        bench("test_solve_overhead", "overhead: solve", 9.5, overhead_share=0.031, rollouts=4),
        bench("test_lonely", "solve P=4", 3.0, side="ours"),
    ],
}


def test_ratio_from_times_is_baseline_over_ours(ratios) -> None:
    rows = {r.group: r for r in ratios.rows(SAVED)}
    value, basis = rows["tree rollout n=1000"].ratio
    assert basis == "time"
    assert value == pytest.approx(250.0)


def test_ratio_from_rates_when_both_sides_have_one(ratios) -> None:
    rows = {r.group: r for r in ratios.rows(SAVED)}
    value, basis = rows["generate N=8"].ratio
    assert (value, basis) == (pytest.approx(4.0), "rate")


def test_groups_of_one_have_no_ratio(ratios) -> None:
    rows = {r.group: r for r in ratios.rows(SAVED)}
    assert rows["overhead: solve"].ratio is None
    assert rows["overhead: solve"].others[0].extra["overhead_share"] == 0.031
    assert rows["solve P=4"].ratio is None  # a side without its counterpart


def test_groups_in_natural_order(ratios) -> None:
    groups = [r.group for r in ratios.rows(SAVED)]
    assert groups.index("tree rollout n=100") < groups.index("tree rollout n=1000")
    assert groups == sorted(groups, key=ratios.natural_key)


def test_table_shows_ratios_and_figures(ratios) -> None:
    text = ratios.table(ratios.rows(SAVED))
    line = next(x for x in text.splitlines() if x.startswith("tree rollout n=1000"))
    assert "250.00x" in line and "2 us" in line and "500 us" in line
    assert "4.00x (rate)" in text and "400 generated tokens/s" in text
    assert "overhead_share=3.1%" in text and "rollouts=4" in text


def test_markdown_table(ratios) -> None:
    text = ratios.table(ratios.rows(SAVED), markdown=True)
    assert text.splitlines()[0] == "| group | ours (median) | baseline (median) | x faster |"
    assert "| tree rollout n=100 | 1 us | 50 us | 50.00x |" in text


def test_main_reads_a_saved_file(ratios, tmp_path: Path, capsys) -> None:
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(SAVED), encoding="utf-8")
    assert ratios.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "Test CPU" in out and "commit 0123456789" in out and "250.00x" in out


def test_main_rejects_missing_and_foreign_files(ratios, tmp_path: Path, capsys) -> None:
    assert ratios.main([str(tmp_path / "nope.json")]) == 2
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"results": []}', encoding="utf-8")
    assert ratios.main([str(foreign)]) == 2
    assert "not a pytest-benchmark JSON" in capsys.readouterr().err


def test_mark_side_sets_group_side_and_figures(ratios) -> None:
    class Fake:
        group = None
        extra_info: dict = {}

    b = Fake()
    b.extra_info = {}
    ratios.mark_side(b, "prefix reuse", ratios.OURS, prompt_tokens_reused=120)
    assert b.group == "prefix reuse" and b.extra_info == {"side": "ours", "prompt_tokens_reused": 120}
    with pytest.raises(ValueError, match="side must be"):
        ratios.mark_side(b, "g", "mine")
