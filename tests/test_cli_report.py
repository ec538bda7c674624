"""`mctsr report --format` and the plot: tables through tabulate/csv with standard errors, a titled two-panel PNG."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from mctsr_native import cli
from mctsr_native.report import build_table, format_table, standard_error

from test_report import RECORDS, write_run


def test_standard_error_is_binomial() -> None:
    assert standard_error(0.5, 100) == pytest.approx(0.05)
    assert standard_error(1.0, 7) == 0.0 and standard_error(0.0, 7) == 0.0


def test_csv_one_line_per_row_and_budget_with_standard_errors() -> None:
    rows = list(csv.DictReader(io.StringIO(format_table(build_table(RECORDS), "csv"))))
    math4 = next(r for r in rows if r["label"] == "math500" and r["rollouts"] == "4")
    assert float(math4["pass1_vote"]) == pytest.approx(2 / 3, abs=1e-6)
    assert float(math4["pass1_vote_se"]) == pytest.approx((2 / 9 / 3) ** 0.5, abs=1e-6)
    assert float(math4["pass_at_tree_se"]) == 0.0 and math4["n"] == "3"
    assert (float(math4["pass_at_tree_lo"]), float(math4["pass_at_tree_hi"])) == pytest.approx((0.4385, 1.0), abs=1e-4)


def test_markdown_is_a_github_table() -> None:
    text = format_table(build_table(RECORDS), "markdown")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert lines[0].startswith("|") and "zero-shot CoT" in lines[0] and set(lines[1]) <= set("|-: ")
    assert any("66.7 (21-94)" in line for line in lines)


def test_report_format_json_prints_the_table(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "r.jsonl", RECORDS)
    assert cli.main(["report", str(run), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cell = next(r for r in data["rows"] if r["label"] == "math500")["cells"]["0"]
    assert cell["se"]["vote"] == pytest.approx(standard_error(1 / 3, 3))


def test_plot_has_a_title_two_accuracy_panels_and_distinct_lines(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    run = write_run(tmp_path / "r.jsonl", RECORDS, data="math500.jsonl")
    assert cli.main(["report", str(run), "--by", "none", "--plot", str(tmp_path / "p.png")]) == 0
    fig = figures[0]
    title = fig._suptitle.get_text()
    assert "math500.jsonl" in title and "n = 4 problems" in title and "SmolLM2" in title
    ax_acc, ax_tradeoff = fig.axes[0], fig.axes[1]
    assert ax_tradeoff.get_xlabel().startswith("mean generated tokens")
    lines = [c.lines[0] for c in ax_acc.containers]  # the data line of each error-bar plot
    colours = {str(line.get_color()) for line in lines}
    assert len(lines) == 6 and len(colours) == 6  # 2 datasets x 3 metrics, each its own colour
    assert len({line.get_marker() for line in lines}) == 3  # and each metric its own marker
    assert (tmp_path / "p.png").stat().st_size > 10_000
    real_close(fig)


def test_the_plot_names_what_each_baseline_picks_by(tmp_path: Path, monkeypatch) -> None:
    """Self-consistency votes; best-of-N takes the highest reward: its line must not read "vote"."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    search = [r for r in RECORDS if r["dataset"] != "gsm8k"]
    base = [{**r, "method": m, "answer_max_q": None, "correct_max_q": None} for m in ("sc", "best_of_n")
            for r in search]
    run = write_run(tmp_path / "r.jsonl", search + base)
    assert cli.main(["report", str(run), "--plot", str(tmp_path / "p.png")]) == 0
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert "math500 · best-of-n: pass@1 highest reward" in labels and "math500 · sc: pass@1 vote" in labels
    assert "math500 · best-of-n: pass@1 vote" not in labels and "math500: pass@1 max-Q" in labels
    real_close(figures[0])
