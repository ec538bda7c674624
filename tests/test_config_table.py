"""The tree's settings are declared in five places; one table (cpp/include/mctsr/config_fields.h) generates the
C ABI's conversions and the Python binding, and this test checks the three declarations that cannot be
generated against it: the C++ struct (config.h), the C struct (mctsr.h) and the Python dataclass (tree.py).
A field added in one place and not the others fails here, naming the field and the place."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mctsr_native import _core
from mctsr_native.tree import TreeConfig

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "cpp" / "include" / "mctsr"


def _table() -> list[tuple[str, str]]:
    """(kind, name) of every entry of MCTSR_CONFIG_FIELDS, in order."""
    text = (INCLUDE / "config_fields.h").read_text(encoding="utf-8")
    body = text[text.index("#define MCTSR_CONFIG_FIELDS"):]
    return re.findall(r"^\s*(INT|REAL|BOOL|ENUM)\((\w+),", body, flags=re.MULTILINE)


def _struct_fields(path: Path, opening: str, closing: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    body = text[text.index(opening) + len(opening):]
    body = body[: body.index(closing)]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL)
    body = re.sub(r"//.*", "", body)
    declaration = re.compile(r"^[ \t]*[\w:]+(?:[ \t]+[\w:]+)*[ \t]+(\w+)[ \t]*(?:=[^;]*)?;")
    return [m.group(1) for line in body.splitlines() if (m := declaration.match(line))]


def test_the_table_lists_each_field_once() -> None:
    names = [name for _, name in _table()]
    assert names, "config_fields.h lists no field"
    assert len(names) == len(set(names)), "a field is listed twice"


def test_the_cpp_struct_matches_the_table() -> None:
    fields = _struct_fields(INCLUDE / "config.h", "struct Config {", "void validate() const;")
    assert sorted(fields) == sorted(name for _, name in _table())


def test_the_c_struct_matches_the_table() -> None:
    fields = _struct_fields(INCLUDE / "mctsr.h", "typedef struct mctsr_tree_params {", "} mctsr_tree_params;")
    assert sorted(fields) == sorted(name for _, name in _table())


def test_the_python_dataclass_and_the_binding_match_the_table() -> None:
    table = {name for _, name in _table()}
    assert {f.name for f in dataclasses.fields(TreeConfig)} == table
    bound = {name for name in dir(_core.Config) if not name.startswith("_")} - {"paper", "reference", "validate"}
    assert bound == table
    # Each strategy has a Literal type in tree.py and a documented default; each value round-trips through C++.
    for kind, name in _table():
        value = getattr(TreeConfig(), name)
        assert TreeConfig.from_core(TreeConfig().to_core()) == TreeConfig()
        if kind == "ENUM":
            assert isinstance(value, str), name
        elif kind == "BOOL":
            assert isinstance(value, bool), name
