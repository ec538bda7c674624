"""See a search: one self-contained HTML page (or a Graphviz DOT file) of a search tree.

Input: a `mctsr solve --json` result, a tree file written by `mctsr eval --trees DIR`, or an eval run file
plus a problem id (`runfile.py`; the record's ground truth is then shown and used to mark the nodes whose
extracted answer is correct, by `answers.equivalent`; the search never saw it).

The page needs nothing but itself: CSS and JavaScript are inline (`view_page.html`, hand-written), a
Content-Security-Policy forbids every network request, and the tree travels as JSON inside a
`<script type="application/json">` block with `<`, `>` and `&` escaped, so model text can never close the
block or inject markup; the page's script writes model text with `textContent` only.

Layout: a tidy tree computed here (`tidy_layout`): each subtree is placed as close to its previous sibling as
their contours allow at every depth, and a parent sits centred beside its first and last child. The page
draws it left to right (depth across, siblings down) or top down (siblings across), whichever shows the whole
tree larger in the window (MCTSr's trees are wide and shallow: on a landscape screen, usually top down), and
opens it whole when it can be drawn at 0.3 of full size or more (a 60-node tree); a larger tree opens at the
chosen node, and "fit" shows it all. A circle's number is the node's own Q (the Q `mctsr solve` prints and
max-Q picks by), its answer is written under it, and the node's panel says how its backed-up Q differs.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import DataError, InvalidConfigError
from .record import is_finite_number, node_answer
from .runfile import MAX_LINE_BYTES, atomic_write_text, check_writable, read_run, read_tree_text, record_tree
from .safe_io import loads, open_regular
from .wording import plural

__all__ = [
    "TreeView",
    "load_view",
    "view_from_result",
    "tidy_layout",
    "page_data",
    "render_html",
    "render_dot",
    "write_view",
    "view_from_record",
    "run_records",
    "problem_texts",
]

FORMATS = ("html", "dot")


@dataclass
class TreeView:
    """What a page shows: the search's nodes and picks, plus what is known around it (problem, ground truth)."""

    nodes: list[dict[str, Any]]  # SolveResult.to_dict()["nodes"]
    selectors: dict[str, Any] = field(default_factory=dict)  # {"vote": {...}, "max_q": {...}}
    chosen: int | None = None  # the node the configured selector returned
    selector: str | None = None  # "vote" | "max_q"
    stats: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # the problem text, where the input has it
    gold: str | None = None  # ground truth (eval runs only): shown and used to mark nodes, never by the search
    title: str = "MCTSr search tree"
    source: str = ""  # where it came from, for the page's footer


# ------------------------------------------------------------------------------------------------- loading


def _is_run_file(path: Path) -> bool:
    """Whether `path` is an eval run file: JSONL whose first line is the run's header."""
    try:
        with open_regular(path) as f:
            head = f.readline(MAX_LINE_BYTES + 1)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        obj = loads(head.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("type") == "header"


def _read_json(path: Path, text: str | None = None) -> Any:
    text = read_tree_text(path) if text is None else text
    try:
        return loads(text)
    except ValueError as e:
        raise DataError(f"{path}: not JSON ({e}); give a `mctsr solve --json` file, a tree file "
                        "from `mctsr eval --trees DIR` or an eval run file") from None


def view_from_result(result: Mapping[str, Any], *, gold: str | None = None, problem: str | None = None,
                     title: str | None = None, source: str = "") -> TreeView:
    """A TreeView of a `SolveResult.to_dict()` (or an eval tree, which is the same without problem and config)."""
    nodes = result.get("nodes")
    if result.get("method") == "sc" and nodes is None:
        raise DataError(f"{source or 'result'}: a self-consistency result (`mctsr solve --method sc`) has no "
                        "search tree to draw; its answers are in its `samples` list")
    if not isinstance(nodes, list) or not all(isinstance(n, Mapping) and "id" in n for n in nodes):
        raise DataError(f"{source or 'result'}: no search tree in it (a `nodes` list is missing or malformed)")
    for i, n in enumerate(nodes):
        for key in ("id", "parent"):
            v = n.get(key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0) and not (key == "parent" and v is None):
                raise DataError(f"{source or 'result'}: nodes[{i}].{key} must be a node id (an integer >= 0"
                                f"{' or null' if key == 'parent' else ''}), got {json.dumps(v)[:60]}")
    problem = problem if problem is not None else result.get("problem")
    return TreeView(
        nodes=[dict(n) for n in nodes],
        selectors=dict(result.get("selectors") or {}),
        chosen=result.get("node"),
        selector=result.get("selector"),
        stats=dict(result.get("stats") or {}),
        problem=problem if isinstance(problem, str) else None,
        gold=gold,
        title=title or "MCTSr search tree",
        source=source,
    )


def run_records(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    contents = read_run(path)
    return contents.header or {}, contents.records


def problem_texts(header: Mapping[str, Any]) -> dict[str, str]:
    """Problem statements from the run's data file when it is still where the run read it (else none)."""
    data_path = (header.get("plan") or {}).get("data_path")
    if not data_path or not Path(data_path).is_file():
        return {}
    try:
        from .data import load_problems

        return {p.id: p.problem for p in load_problems(Path(data_path))}
    except Exception:  # noqa: BLE001 - the text is a nicety; the tree is the point
        return {}


def view_from_record(run_path: Path, record: Mapping[str, Any], problem: str | None = None) -> TreeView:
    """A TreeView of one eval record, with its ground truth."""
    tree = record_tree(run_path, record)
    return view_from_result(tree, gold=record.get("gold"), problem=problem,
                            title=f"{record.get('id')} · {plural(int(record.get('rollouts') or 0), 'rollout')}",
                            source=f"{run_path.name}: {record.get('id')} (rollouts {record.get('rollouts')})")


def load_view(path: str | os.PathLike[str], problem_id: str | None = None,
              rollouts: int | None = None) -> TreeView:
    """Read a solve result, an eval tree file, or an eval run file (then `problem_id` is needed; the
    record with the largest rollouts is shown unless `rollouts` is given)."""
    p = Path(path)
    if _is_run_file(p):
        header, records = run_records(p)
        ids = list(dict.fromkeys(str(r["id"]) for r in records))
        if problem_id is None:
            listed = ", ".join(ids[:50]) + (f", ... ({len(ids)} in all)" if len(ids) > 50 else "")
            raise InvalidConfigError(f"{p} is an eval run file: give the problem with --id ID "
                                     f"(ids: {listed or 'none recorded yet'})")
        mine = [r for r in records if str(r["id"]) == problem_id]
        if not mine:
            raise InvalidConfigError(f"{p}: no problem {problem_id!r} (ids: {', '.join(ids[:50]) or 'none'})")
        if rollouts is not None:
            mine = [r for r in mine if int(r["rollouts"]) == rollouts]
            if not mine:
                have = sorted(int(r["rollouts"]) for r in records if str(r["id"]) == problem_id)
                raise InvalidConfigError(f"{p}: problem {problem_id!r} has no record at {rollouts} rollouts "
                                         f"(recorded: {have})")
        record = max(mine, key=lambda r: int(r["rollouts"]))
        return view_from_record(p, record, problem_texts(header).get(problem_id))
    if problem_id is not None:
        raise InvalidConfigError(f"--id is for eval run files; {p} holds one search")
    obj = _read_json(p)
    if not isinstance(obj, dict):
        raise DataError(f"{p}: not a search result (a JSON object with `nodes` expected)")
    return view_from_result(obj, title=None, source=p.name)


# -------------------------------------------------------------------------------------------------- layout


class _Contour:
    """A subtree's left and right x per depth, stored deepest first (so a parent adds its own level at the
    end) with a common offset `dx` (so shifting a whole subtree is one addition): depth d from the subtree's
    root is at index len - 1 - d, and its x is the stored value + dx."""

    __slots__ = ("lo", "hi", "dx")

    def __init__(self) -> None:
        self.lo, self.hi, self.dx = [0.0], [0.0], 0.0


def _merge_right(left: _Contour, right: _Contour) -> tuple[_Contour, float]:
    """Place `right` as close beside `left` as their common depths allow (at least 1 apart at each); return
    the merged contour (in left's frame) and right's shift. Work: O(min of the two heights), so a whole
    layout is linear in the number of nodes (a chain of 20,000 nodes is one merge-free pass)."""
    nl, nr = len(left.lo), len(right.lo)
    common = min(nl, nr)
    shift = max(left.hi[nl - 1 - d] + left.dx - right.lo[nr - 1 - d] - right.dx + 1.0 for d in range(common))
    if nr <= nl:  # fold right's levels into left's
        delta = right.dx + shift - left.dx
        for d in range(common):
            i, j = nl - 1 - d, nr - 1 - d
            left.lo[i] = min(left.lo[i], right.lo[j] + delta)
            left.hi[i] = max(left.hi[i], right.hi[j] + delta)
        return left, shift
    right.dx += shift  # the deeper one keeps its lists: fold left's levels into it
    delta = left.dx - right.dx
    for d in range(common):
        i, j = nr - 1 - d, nl - 1 - d
        right.lo[i] = min(right.lo[i], left.lo[j] + delta)
        right.hi[i] = max(right.hi[i], left.hi[j] + delta)
    return right, shift


def tidy_layout(parents: Mapping[int, int | None]) -> dict[int, float]:
    """x of every node (in sibling-separation units; y is the depth) of a forest given as node -> parent.

    Children keep id order; roots are laid side by side like siblings. Nodes at the same depth are always at
    least 1 apart, and a parent is centred over its first and last child. Linear time (`_merge_right`)."""
    children: dict[int | None, list[int]] = {}
    for node in sorted(parents):
        children.setdefault(parents[node], []).append(node)
    for node, parent in parents.items():
        if parent is not None and parent not in parents:
            raise DataError(f"node {node} names a parent {parent} that is not in the tree")
    # Post-order without recursion (a search can be a chain hundreds deep).
    order: list[int | None] = []
    stack: list[int | None] = [None]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children.get(node, []))
    if len(order) - 1 != len(parents):
        raise DataError("the tree's parent links form a cycle: not a search tree")
    offset: dict[int, float] = {}  # node -> x relative to its parent
    contour: dict[int | None, _Contour] = {}  # subtree's contour, relative to its root
    for node in reversed(order):
        kids = children.get(node, [])
        if not kids:
            contour[node] = _Contour()
            continue
        merged = contour.pop(kids[0])
        shifts = [0.0]
        for kid in kids[1:]:
            merged, shift = _merge_right(merged, contour.pop(kid))
            shifts.append(shift)
        mid = (shifts[0] + shifts[-1]) / 2
        for kid, shift in zip(kids, shifts):
            offset[kid] = shift - mid
        merged.dx -= mid  # relative to this node, which sits at 0 on its own level
        merged.lo.append(-merged.dx)
        merged.hi.append(-merged.dx)
        contour[node] = merged
    forest = contour.pop(None)
    below = forest.lo[:-1]  # every level but the virtual root's
    left = min(below) + forest.dx if below else 0.0  # the leftmost node goes to x = 0
    x: dict[int, float] = {}
    for node in order[1:]:  # pre-order: a parent before its children
        assert node is not None
        parent = parents[node]
        x[node] = offset[node] + (x[parent] if parent is not None else -left)
    return x


# ------------------------------------------------------------------------------------------------ the data


def _correctness(answers: Iterable[str | None], gold: str | None) -> list[bool | None]:
    """Per answer: equivalent to the gold answer (None where there is no gold or no answer)."""
    from .answers import equivalent

    seen: dict[str, bool] = {}
    out: list[bool | None] = []
    for a in answers:
        if gold is None or a is None:
            out.append(None)
            continue
        if a not in seen:
            seen[a] = equivalent(a, gold)
        out.append(seen[a])
    return out


def _num(x: Any) -> float | None:
    return float(x) if is_finite_number(x) else None


def page_data(view: TreeView) -> dict[str, Any]:
    """The JSON the page draws: every node with its layout position, numbers, texts and marks."""
    parents = {int(n["id"]): (None if n.get("parent") is None else int(n["parent"])) for n in view.nodes}
    if len(parents) != len(view.nodes):
        raise DataError(f"{view.source or 'tree'}: node ids repeat")
    xs = tidy_layout(parents)
    answers = [node_answer(n) for n in view.nodes]
    correct = _correctness(answers, view.gold)
    depth: dict[int, int] = {}  # from the parent chain (tidy_layout has checked that every parent exists)
    for node in xs:  # xs is in pre-order: a parent comes before its children
        parent = parents[node]
        depth[node] = 0 if parent is None else depth[parent] + 1
    picks = {}
    for name in ("vote", "max_q"):
        pick = view.selectors.get(name) or {}
        node = pick.get("node")
        picks[name] = {
            "node": node, "answer": pick.get("answer"),
            "score": _num(pick.get("support" if name == "vote" else "q")),
            "correct": None if view.gold is None else bool(
                pick.get("answer") is not None and _correctness([pick.get("answer")], view.gold)[0]),
        }
    nodes = []
    for n, answer, ok in zip(view.nodes, answers, correct):
        i = int(n["id"])
        nodes.append({
            "id": i, "parent": parents[i], "kind": n.get("kind", "answer"), "depth": depth[i], "slot": xs[i],
            "q": _num(n.get("q")), "q_own": _num(n.get("q_own")), "visits": n.get("visits"),
            "uct": _num(n.get("uct")), "uct_at_selection": _num(n.get("uct_at_selection")), "rewards_raw": list(n.get("rewards_raw") or []),
            "rewards": list(n.get("rewards") or []), "step": n.get("step"), "answer": answer, "correct": ok,
            "text": n.get("text") or "", "critique": n.get("critique"),
            "reward_replies": list(n.get("reward_replies") or []),
        })
    qs = [n["q_own"] for n in nodes if n["q_own"] is not None and n["kind"] != "dummy"]
    keep = ("rollouts", "steps", "stop_reason", "model_calls", "prompt_tokens", "reused_tokens", "generated_tokens",
            "model_seconds", "wall_seconds")
    return {
        "title": view.title, "problem": view.problem, "gold": view.gold, "source": view.source,
        "selector": view.selector, "chosen": view.chosen, "picks": picks,
        "stats": {k: view.stats[k] for k in keep if k in view.stats},
        "q_range": [min(qs), max(qs)] if qs else [0.0, 0.0],
        "nodes": nodes,
    }


# ------------------------------------------------------------------------------------------------- writing


def _script_json(obj: Any) -> str:
    """JSON that is safe inside a <script> element: no `<`, `>` or `&` survives as itself."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _template() -> str:
    return resources.files("mctsr_native").joinpath("view_page.html").read_text(encoding="utf-8")


def render_html(view: TreeView) -> str:
    """The self-contained page."""
    page = _template()
    return (page.replace("{{TITLE}}", html.escape(view.title))
            .replace("{{DATA}}", _script_json(page_data(view))))


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _hex(q: float | None, lo: float, hi: float) -> str:
    """The page's colour scale (viridis, sampled) at q, as #rrggbb."""
    if q is None:
        return "#c8c8c8"
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    t = 0.5 if hi <= lo else min(max((q - lo) / (hi - lo), 0.0), 1.0)
    k = min(int(t * 4), 3)
    f = t * 4 - k
    rgb = [round(a + (b - a) * f) for a, b in zip(stops[k], stops[k + 1])]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def render_dot(view: TreeView) -> str:
    """A Graphviz digraph: one node per search node (Q, visits, UCT, rewards; colour by Q), parent -> child."""
    data = page_data(view)
    lo, hi = data["q_range"]
    picks = {name: p["node"] for name, p in data["picks"].items()}
    lines = ["digraph mctsr {", f"  label={_dot_string(data['title'])};", "  labelloc=t;", "  rankdir=LR;",
             '  node [style=filled, fontname="Helvetica", fontsize=10];', "  edge [arrowsize=0.6];"]
    for n in data["nodes"]:
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        parts = [f"#{n['id']}" + (" dummy" if n["kind"] == "dummy" else ""),
                 f"Q {fmt(n['q'])} (own {fmt(n['q_own'])})", f"visits {n['visits']}  UCT {fmt(n['uct'])}",
                 "rewards " + " ".join(f"{r:g}" for r in n["rewards_raw"])]
        if n["rewards"] != n["rewards_raw"]:
            parts.append("suppressed " + " ".join(f"{r:g}" for r in n["rewards"]))
        if n["answer"] is not None:
            parts.append("answer " + (n["answer"] if len(n["answer"]) <= 40 else n["answer"][:39] + "…"))
        marks = [name for name in ("vote", "max_q") if picks.get(name) == n["id"]]
        if n["id"] == data["chosen"]:
            marks.insert(0, "chosen")
        if n["correct"]:
            marks.append("correct")
        if marks:
            parts.append("[" + ", ".join(marks) + "]")
        light = _hex(n["q_own"], lo, hi) if n["kind"] != "dummy" else "#eeeeee"
        attrs = [f"label={_dot_string(chr(10).join(parts))}", f'fillcolor="{light}"',
                 f"shape={'box' if n['kind'] == 'dummy' else 'ellipse'}"]
        if n["kind"] != "dummy" and n["q_own"] is not None and hi > lo and (n["q_own"] - lo) / (hi - lo) < 0.55:
            attrs.append('fontcolor="white"')
        if n["id"] == data["chosen"]:
            attrs.append('penwidth=3, color="#d4a017"')
        if n["kind"] == "dummy":
            attrs.append('style="filled,dashed"')
        lines.append(f"  n{n['id']} [{', '.join(attrs)}];")
    for n in data["nodes"]:
        if n["parent"] is not None:
            lines.append(f"  n{n['parent']} -> n{n['id']};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_view(view: TreeView, path: str | os.PathLike[str], fmt: str = "html") -> Path:
    """Write `view` as an HTML page or a DOT file."""
    if fmt not in FORMATS:
        raise InvalidConfigError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    p = check_writable(path, what="output")
    atomic_write_text(p, render_html(view) if fmt == "html" else render_dot(view))
    return p
