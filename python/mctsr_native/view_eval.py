"""`mctsr eval --trees DIR --view`: a tree page (`view.py`) for every record of an eval run, and an
`index.html` listing each problem and rollout budget with the vote and max-Q answers, whether each is right,
and pass@tree. Ground truth is shown here, as the run file recorded it after the search."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Mapping

from .errors import DataError
from .runfile import atomic_write_text, check_writable, model_name, tree_file_name
from .view import problem_texts, render_html, run_records, view_from_record

__all__ = ["write_eval_views"]

_INDEX_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330}
h1{font-size:20px;margin:0 0 4px}p.sub{color:#5b6372;margin:0 0 16px}
table{border-collapse:collapse}th,td{border-bottom:1px solid #e3e6ec;padding:5px 10px;text-align:left}
th{background:#f5f6f9;font-weight:600}td.ok{color:#17803d;font-weight:600}td.no{color:#b42318}
td.num{text-align:right;font-variant-numeric:tabular-nums}a{color:#2457c5}tfoot td{font-weight:600}
"""


def _page_name(record: Mapping[str, Any]) -> str:
    ref = record.get("tree_path")
    if ref:
        return Path(ref).with_suffix(".html").name
    return tree_file_name(str(record["id"]), int(record["rollouts"]), ".html")


def _mark(value: Any) -> tuple[str, str]:
    return ("ok", "✓ correct") if value else ("no", "✗ wrong")


def _text(value: Any, none: str = "–") -> str:
    """A cell's text: `none` for a missing value (never Python's "None")."""
    return none if value is None or value == "" else html.escape(str(value))



def _totals(rows: list[tuple[Mapping[str, Any], str | None]]) -> str:
    """One footer line per rollout budget: the records of a budget are one problem set, never summed across."""
    out = []
    for budget in sorted({int(r["rollouts"]) for r, _ in rows}):
        mine = [r for r, _ in rows if int(r["rollouts"]) == budget]
        n = len(mine)
        count = lambda key: sum(bool(r.get(key)) for r in mine)  # noqa: E731
        out.append(f"<tr><td>{n} problem{'' if n == 1 else 's'}</td><td class=num>{budget}</td><td colspan=2></td>"
                   f"<td>{count('correct')} / {n}</td><td></td><td>{count('correct_max_q')} / {n}</td>"
                   f"<td>{count('pass_at_tree')} / {n}</td></tr>")
    return "".join(out)


def write_eval_views(run_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """One page per record (problem, rollouts) of an eval run with a tree, and `index.html` listing every
    problem with its vote and max-Q correctness at each rollout budget. Returns the index's path."""
    run = Path(run_path)
    out = check_writable(out_dir, what="pages folder", directory=True)  # creates the folder
    header, records = run_records(run)
    texts = problem_texts(header)
    rows = []
    for r in records:
        link = None
        try:
            view = view_from_record(run, r, texts.get(str(r["id"])))
        except DataError:
            view = None  # an error record: listed without a page
        if view is not None:
            link = _page_name(r)
            atomic_write_text(out / link, render_html(view))
        rows.append((r, link))
    body = []
    for r, link in rows:
        vote, best, tree = _mark(r.get("correct")), _mark(r.get("correct_max_q")), _mark(r.get("pass_at_tree"))
        name = html.escape(str(r["id"]))
        why = html.escape(str(r.get("error") or "none recorded"))
        cell = f'<a href="{html.escape(link)}">{name}</a>' if link else f"{name} (no tree: {why})"
        body.append(
            f"<tr><td>{cell}</td><td class=num>{int(r['rollouts'])}</td><td>{_text(r.get('gold'))}</td>"
            f"<td>{_text(r.get('answer'), '(none extracted)')}</td><td class={vote[0]}>{vote[1]}</td>"
            f"<td>{_text(r.get('answer_max_q'), '(none extracted)')}</td><td class={best[0]}>{best[1]}</td>"
            f"<td class={tree[0]}>{tree[1]}</td></tr>")
    totals = _totals(rows)
    model = html.escape(model_name(header))
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>mctsr eval: {html.escape(run.name)}</title><style>{_INDEX_CSS}</style></head><body>"
        f"<h1>mctsr eval: {html.escape(run.name)}</h1><p class=sub>model {model} · ground truth is shown here "
        "and was never given to the search · click a problem to see its tree</p>"
        "<table><thead><tr><th>problem</th><th>rollouts</th><th>ground truth</th><th>vote answer</th>"
        "<th>vote</th><th>max-Q answer</th><th>max-Q</th><th>pass@tree</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody><tfoot>{totals}</tfoot></table></body></html>\n")
    index = out / "index.html"
    atomic_write_text(index, page)
    return index
