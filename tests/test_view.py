"""`mctsr view` without a browser: inputs (solve result, eval tree file, eval run file), the tidy layout,
escaping of model text, DOT export, the `--view` hooks of solve and eval (fake backend), and fail-fast paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solver_fakes import FakeBackend
from view_trees import INJECTION, synthetic_result

from mctsr_native import cli, cli_eval, cli_solve
from mctsr_native.errors import DataError, InvalidConfigError
from mctsr_native.view import (
    load_view,
    page_data,
    render_dot,
    render_html,
    tidy_layout,
    view_from_result,
)

PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each. How much?"


def _page_json(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="tree-data">(.*?)</script>', page, re.S)
    assert block is not None
    return json.loads(block.group(1))


# ------------------------------------------------------------------------------------------------- layout


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=80))
def test_tidy_layout_never_overlaps_and_centres_parents(choices: list[int]) -> None:
    parents: dict[int, int | None] = {0: None}
    for i, c in enumerate(choices, start=1):
        parents[i] = None if c % 11 == 0 else c % i  # a forest: some extra roots
    x = tidy_layout(parents)
    depth = {}
    for n in sorted(parents):
        depth[n] = 0 if parents[n] is None else depth[parents[n]] + 1
    for d in set(depth.values()):
        row = sorted(x[n] for n in parents if depth[n] == d)
        assert all(b - a >= 1.0 - 1e-9 for a, b in zip(row, row[1:]))
    for n in parents:
        kids = sorted(k for k in parents if parents[k] == n)
        if kids:
            assert x[n] == pytest.approx((x[kids[0]] + x[kids[-1]]) / 2)
    assert min(x.values()) == pytest.approx(0.0)


def test_tidy_layout_of_a_deep_chain_and_bad_links() -> None:
    chain = {i: (i - 1 if i else None) for i in range(3000)}  # deeper than Python's recursion limit
    assert set(tidy_layout(chain).values()) == {0.0}
    with pytest.raises(DataError, match="parent 7"):
        tidy_layout({0: None, 1: 7})
    with pytest.raises(DataError, match="cycle"):
        tidy_layout({0: None, 1: 2, 2: 1})


# ------------------------------------------------------------------------------------------------ the page


def test_page_marks_picks_correct_nodes_and_escapes_model_text() -> None:
    result = synthetic_result(60, injected_node=7)
    view = view_from_result(result, gold="3.0")
    page = render_html(view)
    # the injection never appears as markup: only our own two </script> tags close script elements
    assert INJECTION not in page and "<img src=x" not in page
    assert page.count("</script>") == 2 and page.count("<script") == 2
    data = _page_json(page)  # ... and it round-trips to the very same text
    assert data["nodes"][7]["text"].startswith(INJECTION)
    assert len(data["nodes"]) == 60 and data["gold"] == "3.0"
    by_id = {n["id"]: n for n in data["nodes"]}
    for n in result["nodes"]:
        assert by_id[n["id"]]["correct"] == (None if n["answer"] is None else n["answer"] == "3")
    assert data["picks"]["vote"]["node"] == result["selectors"]["vote"]["node"]
    assert data["picks"]["max_q"]["correct"] == (result["selectors"]["max_q"]["answer"] == "3")
    assert data["chosen"] == result["node"]
    # self-contained: a CSP forbids the network, and nothing is fetched
    assert "default-src 'none'" in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    # without ground truth nothing is marked
    plain = page_data(view_from_result(result))
    assert {n["correct"] for n in plain["nodes"]} == {None} and plain["picks"]["vote"]["correct"] is None


def test_dot_export_is_a_well_formed_digraph() -> None:
    result = synthetic_result(40)
    dot = render_dot(view_from_result(result, gold="3"))
    assert dot.startswith("digraph mctsr {") and dot.rstrip().endswith("}")
    nodes = re.findall(r"^  n(\d+) \[(.*)\];$", dot, re.M)
    edges = re.findall(r"^  n(\d+) -> n(\d+);$", dot, re.M)
    assert sorted(int(i) for i, _ in nodes) == [n["id"] for n in result["nodes"]]
    assert sorted((int(a), int(b)) for a, b in edges) == sorted(
        (n["parent"], n["id"]) for n in result["nodes"] if n["parent"] is not None)
    for _, attrs in nodes:  # every quoted string closes (escaped quotes and backslashes inside)
        assert len(re.sub(r'\\.', "", attrs).split('"')) % 2 == 1
    assert "chosen" in dot and "correct" in dot


def test_dot_output_renders_with_graphviz(tmp_path: Path) -> None:
    dot_bin = shutil.which("dot")
    if dot_bin is None:
        if os.environ.get("CI"):
            pytest.fail("graphviz `dot` is missing; scripts/setup.sh installs it")
        pytest.skip("graphviz `dot` is not installed (scripts/setup.sh installs it)")
    result = synthetic_result(30, injected_node=3)
    result["nodes"][5]["answer"] = 'a "quoted" \\ answer'
    (tmp_path / "t.dot").write_text(render_dot(view_from_result(result)), encoding="utf-8")
    done = subprocess.run([dot_bin, "-Tsvg", str(tmp_path / "t.dot")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    edges = sum(1 for n in result["nodes"] if n["parent"] is not None)
    assert done.stdout.count('class="node"') == 30 and done.stdout.count('class="edge"') == edges


# --------------------------------------------------------------------------------------------- the inputs


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(cli_solve, "backend_from_args", lambda args, *, seed=0: backend)
    monkeypatch.setattr(cli_eval, "backend_from_args", lambda args, *, seed=0: backend)
    return backend


def _eval(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}<b>", "problem": PROBLEM, "answer": ans}) + "\n"
                            for i, ans in enumerate(["18", "20"])), encoding="utf-8")
    out, trees = tmp_path / "run.jsonl", tmp_path / "trees"
    rc = cli.main(["eval", "--data", str(data), "--out", str(out), "--rollouts", "0,2", "--no-progress",
                   "--trees", str(trees), *extra])
    assert rc == 0
    return out, trees


def test_solve_view_writes_the_page_and_view_reads_the_json(fake, tmp_path, capsys):
    page, js = tmp_path / "tree.html", tmp_path / "r.json"
    assert cli.main(["solve", PROBLEM, "--rollouts", "3", "--quiet", "--json", str(js), "--view", str(page)]) == 0
    data = _page_json(page.read_text(encoding="utf-8"))
    result = json.loads(js.read_text())
    assert [n["id"] for n in data["nodes"]] == [n["id"] for n in result["nodes"]]
    assert data["problem"] == PROBLEM and data["gold"] is None
    assert cli.main(["view", str(js)]) == 0  # default output: beside the input
    assert _page_json((tmp_path / "r.html").read_text())["nodes"] == data["nodes"]
    assert cli.main(["view", str(js), "--format", "dot", "-o", str(tmp_path / "t.dot")]) == 0
    assert (tmp_path / "t.dot").read_text().startswith("digraph")


def test_bad_view_path_fails_before_the_model_loads(monkeypatch, tmp_path, capsys):
    def no_model(*a, **k):
        raise AssertionError("the model was opened")

    monkeypatch.setattr(cli_solve, "backend_from_args", no_model)
    monkeypatch.setattr(cli_eval, "backend_from_args", no_model)
    assert cli.main(["solve", PROBLEM, "--view", str(tmp_path / "missing" / "t.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["solve", PROBLEM, "--view", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": PROBLEM, "answer": "18"}) + "\n")
    argv = ["eval", "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--view"]
    assert cli.main(argv) == 2 and "--trees" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main([*argv, "--trees", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_eval_view_writes_an_index_and_a_page_per_record(fake, tmp_path, capsys):
    out, trees = _eval(tmp_path, "--view")
    index = (trees / "index.html").read_text(encoding="utf-8")
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert len(records) == 4
    links = re.findall(r'<a href="([^"]+)">', index)
    assert len(links) == 4 and "p0&lt;b&gt;" in index and "p0<b>" not in index
    for r, link in zip(records, links):
        data = _page_json((trees / link).read_text(encoding="utf-8"))
        assert data["gold"] == r["gold"] and data["problem"] == PROBLEM
        assert len(data["nodes"]) == r["answer_nodes"] + 1  # the dummy too
        marked = {n["answer"]: n["correct"] for n in data["nodes"] if n["answer"] is not None}
        assert marked and all(ok == (a == r["gold"]) for a, ok in marked.items())
        assert data["picks"]["vote"]["correct"] == r["correct"]
    assert index.count("✓ correct") + index.count("✗ wrong") == 12  # vote, max-Q, pass@tree per record
    footer = index.split("<tfoot>")[1]  # one line per budget: counts are never added across budgets
    assert footer.count("<tr>") == 2 and footer.count("2 problems") == 2 and "/ 4" not in footer
    assert "None" not in index and "model the default model (SmolLM2-135M-Instruct)" in index


def test_index_cells_and_model_name_never_show_python_values() -> None:
    from mctsr_native.view_eval import _text, model_name

    assert _text(None) == "–" and _text(None, "(none extracted)") == "(none extracted)"
    assert _text("<b>") == "&lt;b&gt;"
    identity = {"size": 1, "sample_sha256": "ab"}  # what the header's identity holds for a GGUF file
    assert model_name({"config": {"model": identity}, "plan": {"model": "/m/qwen.gguf"}}) == "qwen.gguf"
    assert model_name({"config": {"model": identity}, "plan": {}}) == "a GGUF file (name not recorded)"
    assert model_name({"plan": {"model": "http://h:1/v1"}}) == "http://h:1/v1"


def test_view_of_a_run_file_needs_an_id_and_lists_them(fake, tmp_path, capsys):
    out, trees = _eval(tmp_path)
    assert cli.main(["view", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--id" in err and "p0<b>" in err and "p1<b>" in err
    with pytest.raises(InvalidConfigError, match="no problem 'nope'"):
        load_view(out, "nope")
    with pytest.raises(InvalidConfigError, match=r"recorded: \[0, 2\]"):
        load_view(out, "p1<b>", rollouts=5)
    assert len(load_view(out, "p1<b>", rollouts=0).nodes) == 2
    view = load_view(out, "p1<b>")  # the largest rollouts by default
    assert view.gold == "20" and len(view.nodes) == 4
    tree_file = sorted(trees.glob("p1*-r2.json"))[0]
    from_file = load_view(tree_file)  # a tree file alone: no ground truth in it
    assert from_file.gold is None and from_file.nodes == view.nodes
    assert cli.main(["view", str(out), "--id", "p1<b>", "-o", str(tmp_path / "p1.html")]) == 0


def test_unreadable_inputs_are_clear_errors(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "nonodes.json").write_text('{"answer": "3"}')
    for name, words in (("missing.json", "no such file"), ("bad.json", "not JSON"),
                        ("list.json", "not a search result"), ("nonodes.json", "no search tree")):
        assert cli.main(["view", str(tmp_path / name), "-o", str(tmp_path / "o.html")]) == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / "o.html").exists()
