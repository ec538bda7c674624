"""The README stays true: its commands exist and CI runs them; its tree example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_the_two_commands_are_what_ci_runs():
    setup, test = code_blocks("bash")[:2]
    assert setup.strip().startswith("bash scripts/setup.sh && .venv/bin/mctsr solve ")
    assert test.strip() == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci and "bash scripts/test.sh" in ci
    for script in ("scripts/setup.sh", "scripts/test.sh"):
        assert (ROOT / script).is_file()


def test_the_tree_example_runs_as_written(capsys):
    [tree_example] = [b for b in code_blocks("python") if "from mctsr_native import Tree" in b]
    scope: dict = {}
    exec(compile(tree_example, "README.md", "exec"), scope)
    assert "'nodes'" in capsys.readouterr().out
    tree, answer = scope["tree"], scope["answer"]
    assert list(tree.rewards(answer)) == [80, 60, 91]  # as the comment in the README says
    assert tree.parent(scope["child"]) == scope["parent"]


def test_the_user_docs_never_point_outside_the_repository():
    """README.md and models/README.md travel with the package: every relative path they name (a link or a
    `../x` path) stays inside the repository and exists."""
    for doc in (ROOT / "README.md", ROOT / "models" / "README.md"):
        text = doc.read_text()
        links = re.findall(r"\]\(([^)#\s]+)", text)
        paths = [t for t in links if not re.match(r"[a-z]+:", t)] + re.findall(r"(?<![\w/])(\.\./[\w./-]+)", text)
        for target in paths:
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{doc.relative_to(ROOT)}: {target}"
