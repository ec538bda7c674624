"""`mctsr report`: the table from run records, merging runs, the plot, and the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from mctsr_native import cli_eval, cli_solve
from mctsr_native.report import build_table, format_table, load_runs, plot_runs, table_json, wilson_interval


def rec(pid: str, rollouts: int, correct: bool, *, max_q: bool | None = None, tree: bool | None = None,
        dataset: str = "math500", level: str | None = "1", subject: str | None = "Algebra",
        tokens: int = 100, seconds: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"type": "result", "id": pid, "rollouts": rollouts, "dataset": dataset, "level": level,
            "subject": subject, "correct": correct, "correct_max_q": correct if max_q is None else max_q,
            "pass_at_tree": correct if tree is None else tree, "tokens_evaluated": tokens,
            "tokens_generated": tokens, "tokens_reused": 0, "seconds": seconds, **extra}


def write_run(path: Path, records: list[dict[str, Any]], seed: int = 0, torn: bytes = b"",
              data: str = "x") -> Path:
    header = {"type": "header", "format": "mctsr-eval/1", "config": {"seed": seed, "data": {"name": data}},
              "plan": {}}
    path.write_bytes(("\n".join(json.dumps(x) for x in [header, *records]) + "\n").encode() + torn)
    return path


RECORDS = [
    rec("a", 0, True), rec("a", 4, True),
    rec("b", 0, False, tree=True, level="2"), rec("b", 4, True, max_q=False, level="2"),
    rec("c", 0, False, level="2", subject="Geometry", tokens=300, seconds=3.0),
    rec("c", 4, False, tree=True, level="2", subject="Geometry", tokens=900, seconds=9.0),
    rec("g", 0, True, dataset="gsm8k", level=None, subject=None),
]


def test_build_table_rows_and_rates() -> None:
    table = build_table(RECORDS)
    assert table.rollouts == [0, 4]
    labels = [r.label for r in table.rows]
    assert labels == ["gsm8k", "math500", "math500 · level 1", "math500 · level 2", "math500 · Algebra",
                      "math500 · Geometry"]
    math = table.rows[1]
    cot, four = math.cells[0], math.cells[4]
    assert (cot.n, cot.correct, cot.pass_at_tree) == (3, 1, 2)
    assert (four.correct, four.correct_max_q, four.pass_at_tree) == (2, 1, 3)
    assert four.mean("tokens") == pytest.approx((200 + 200 + 1800) / 3)
    assert four.mean("seconds") == pytest.approx(11 / 3)
    level2 = table.rows[3]
    assert level2.cells[4].n == 2 and level2.cells[4].rate("correct") == 0.5


def test_breakdown_choice() -> None:
    assert [r.label for r in build_table(RECORDS, by="none").rows] == ["gsm8k", "math500"]
    assert all("level" not in r.label for r in build_table(RECORDS, by="subject").rows)


def test_format_table_text() -> None:
    text = format_table(build_table(RECORDS))
    assert "zero-shot CoT" in text and "4 rollouts" in text
    assert "pass@tree" in text and "not pass@1" in text
    math_line = next(line for line in text.splitlines() if line.startswith("math500 "))
    # each accuracy with its 95% Wilson interval: 1 of 3 -> 6-79 %; 3 of 3 is not certain: 44-100 %
    assert "33.3 (6-79) / 33.3 (6-79) / 66.7 (21-94)" in math_line
    assert "66.7 (21-94) / 33.3 (6-79) / 100.0 (44-100)" in math_line
    assert "Small samples: some cells have n < 10 problems (as few as 1)" in text
    assert "733 tok / 3.7 s" in text
    assert "n=" not in text  # every cell of a row has the same problems
    assert format_table(build_table([])) == "no records"


def test_wilson_interval_known_values_and_no_certainty_from_few_problems() -> None:
    assert wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0.0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)  # 0 of 3 is not "0 ± 0"
    assert wilson_interval(1.0, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)
    many = format_table(build_table([rec(str(i), 0, i % 2 == 0) for i in range(40)]))
    assert "50.0 (35-65)" in many and "Small samples" not in many


def test_capped_replies_share_per_row_and_budget() -> None:
    records = [rec("a", 0, False, capped_replies={"answer": 1}, replies={"answer": 1}),
               rec("b", 0, True, capped_replies={}, replies={"answer": 1}),
               rec("a", 4, True, capped_replies={"refine": 1, "reward": 3},
                   replies={"answer": 1, "critique": 4, "refine": 4, "reward": 31}),
               rec("b", 4, True, capped_replies={}, replies={"answer": 1, "critique": 4, "refine": 4, "reward": 30}),
               rec("c", 0, True, dataset="old", capped_replies={"answer": 2})]  # an older record: no reply counts
    text = format_table(build_table(records, by="none"))
    math_line = [line for line in text.splitlines() if line.startswith("math500 ")][-1]
    assert "50.0% (answer 1 of 2)" in math_line and "5.1% (refine 1 of 8, reward 3 of 61)" in math_line
    old_line = [line for line in text.splitlines() if line.startswith("old ")][-1]
    assert "2 cut (answer 2)" in old_line
    assert "Replies cut by their token cap" in text


def test_incomplete_cells_show_their_n() -> None:
    text = format_table(build_table(RECORDS + [rec("d", 0, True)]))
    assert "mixed" in text and "n=4" in text


def test_errors_and_duplicates_are_reported() -> None:
    table = build_table([rec("a", 0, False, error="InvalidProblemError: x"), rec("a", 0, True)])
    assert table.duplicates == 1 and table.rows[0].cells[0].n == 1
    text = format_table(table)
    assert "solver errors" in text and "duplicate" in text


def test_load_runs_merges_same_config_and_separates_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write_run(tmp_path / "a.jsonl", RECORDS[:2])
    b = write_run(tmp_path / "b.jsonl", RECORDS[2:4], torn=b'{"type": "res')
    labels = [r.label for r in build_table(load_runs([a, b]), by="none").rows]
    assert labels == ["math500"]
    assert "incomplete last line" in capsys.readouterr().err
    c = write_run(tmp_path / "c.jsonl", RECORDS[:2], seed=1)
    labels = [r.label for r in build_table(load_runs([a, c]), by="none").rows]
    assert labels == ["math500 [a]", "math500 [c]"]
    # Runs on different data files with one setup: no labels, and the same ids never merge across them.
    g = write_run(tmp_path / "g.jsonl", [rec("a", 0, False, dataset="gsm8k")], data="gsm8k")
    table = build_table(load_runs([a, g]), by="none")
    assert [r.label for r in table.rows] == ["gsm8k", "math500"] and table.duplicates == 0


def test_table_json(tmp_path: Path) -> None:
    data = json.loads(table_json(build_table(RECORDS)))
    assert data["rollouts"] == [0, 4]
    cell = data["rows"][1]["cells"]["4"]
    assert cell["pass@1_vote"] == pytest.approx(2 / 3) and cell["n"] == 3


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    plot_runs(build_table(RECORDS), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from mctsr_native.errors import MctsrError

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(MctsrError, match=r"mctsr-native\[plot\]"):
        plot_runs(build_table(RECORDS), tmp_path / "p.png")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mctsr")
    cli_eval.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = write_run(tmp_path / "run.jsonl", RECORDS)
    args = _parser().parse_args(["report", str(run), "--by", "level", "--json", str(tmp_path / "t.json"),
                                 "--plot", str(tmp_path / "p.png")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "math500 · level 2" in out and "Geometry" not in out
    assert json.loads((tmp_path / "t.json").read_text())["rollouts"] == [0, 4]
    assert (tmp_path / "p.png").exists()


def test_eval_command_options() -> None:
    parser = _parser()
    args = parser.parse_args(["eval", "--data", "d.jsonl", "--out", "o.jsonl", "--rollouts", "0, 2",
                              "--max-tokens", "32", "--reward-max-tokens", "16", "--rules", "reference",
                              "--concurrency", "3", "--n-ctx", "1024"])
    assert args.rollouts == (0, 2) and args.max_tokens == 32
    config = cli_solve.solve_config_from_args(args)  # the flags reach the SolveConfig
    assert config.rules == "reference" and config.refine_max_tokens == 32 and config.reward_max_tokens == 16
    assert cli_solve.backend_options(args) == {"n_ctx": 1024} and args.concurrency == 3
    assert args.func is cli_eval.cmd_eval
    for bad in (["--rollouts", "1,x"], ["--rollouts", "-1"], ["--rollouts", "2,2"], ["--limit", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["eval", "--data", "d", "--out", "o", *bad])
