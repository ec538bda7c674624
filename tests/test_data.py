"""Loading evaluation data: the shipped files, and every kind of bad input with its file and line named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mctsr_native.data import dataset_name, load_problems
from mctsr_native.errors import DataError, MctsrError

DATA = Path(__file__).resolve().parents[1] / "data"


def _write(tmp_path: Path, text: str | bytes, name: str = "probs.jsonl") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _line(**record: object) -> str:
    return json.dumps(record) + "\n"


@pytest.mark.parametrize(
    ("name", "count", "sha256"),
    [
        ("gsm8k_test.jsonl", 1319, "604b533f0563cd66e439cf24942e5c0bf8fae25689980ad10c54a792d59dea78"),
        ("math500_test.jsonl", 500, "b5282a05167e1bbf0a4a7e4885c63f3b7ca7e4b68359f8efd5145c6294748a90"),
    ],
)
def test_shipped_data(name: str, count: int, sha256: str) -> None:
    path = DATA / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    problems = load_problems(path)
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    assert "README.md" in {p.name for p in DATA.iterdir()}


def test_math500_keeps_level_and_subject() -> None:
    problems = load_problems(DATA / "math500_test.jsonl", limit=5)
    assert len(problems) == 5
    assert all(p.dataset == "math500" and p.level in {"1", "2", "3", "4", "5"} and p.subject for p in problems)
    assert "solution" in problems[0].extra


def test_dataset_name() -> None:
    assert dataset_name("data/gsm8k_test.jsonl") == "gsm8k"
    assert dataset_name("x/aime24.jsonl") == "aime24"
    assert dataset_name("_test.jsonl") == "_test"


def test_numbers_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, _line(id=1, problem="p", answer=72) + "\n   \n" + _line(id="b", problem="q", answer=2.5))
    a, b = load_problems(path, dataset="mine")
    assert (a.id, a.answer, a.line, a.dataset) == ("1", "72", 1, "mine")
    assert (b.answer, b.line) == ("2.5", 4)


def test_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, "".join(_line(id=str(i), problem="p", answer="1") for i in range(5)))
    assert [p.id for p in load_problems(path, limit=2)] == ["0", "1"]
    with pytest.raises(DataError, match="limit"):
        load_problems(path, limit=0)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", r"empty data file"),
        ("\n\n  \n", r"empty data file"),
        (_line(id="a", problem="p", answer="1") + '{"id": "b", "problem": "p"', r":2: malformed JSON"),
        (_line(id="a", problem="p", answer="1") + "[1, 2]\n", r":2: expected a JSON object"),
        (_line(id="a", problem="p"), r":1: missing field answer"),
        (_line(problem="p"), r":1: missing fields id, answer"),
        (_line(id="a", problem="  ", answer="1"), r":1: field 'problem' is empty"),
        (_line(id="a", problem="p", answer=None), r":1: field 'answer' must be a string or a number"),
        (_line(id="a", problem=["p"], answer="1"), r":1: field 'problem' must be a string"),
        (_line(id="a", problem=3, answer="1"), r":1: field 'problem' must be a string"),
        (_line(id="a", problem="p", answer="1") * 2, r":2: duplicate id 'a' \(first used on line 1\)"),
        (_line(id=1, problem="p", answer="1") + _line(id="1", problem="q", answer="2"), r":2: duplicate id '1'"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, content: str, pattern: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(DataError, match=pattern) as info:
        load_problems(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, MctsrError)


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, b'{"id": "a", "problem": "\xff", "answer": "1"}\n')
    with pytest.raises(DataError, match=r":1: not UTF-8"):
        load_problems(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data file"):
        load_problems(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is a directory"):
        load_problems(tmp_path)


def test_bad_line_found_beyond_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, _line(id="a", problem="p", answer="1") + "oops\n")
    with pytest.raises(DataError, match=":2: malformed JSON"):
        load_problems(path, limit=1)
