"""The tree page in a real headless Chromium (Debian's, installed by scripts/setup.sh), driven by playwright:
it loads without a console error or a network request, draws every node, shows a node's texts on a click,
renders model text as text, and paints pixels (checked on a screenshot, with a blank page as the control).

Trees: one from a real search on the default model (`mctsr solve --view`, tiny caps) and a 500-node one
grown by the C++ tree with made-up texts. A missing browser fails under CI=true and skips otherwise.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from view_trees import INJECTION, synthetic_result

from mctsr_native import cli
from mctsr_native.view import view_from_result, write_view

pytestmark = pytest.mark.browser

PROBLEM = "Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples are left?"
SCREENSHOTS = Path(os.environ.get("MCTSR_VIEW_SCREENSHOTS", "")) if os.environ.get("MCTSR_VIEW_SCREENSHOTS") else None


def _chromium() -> str | None:
    for name in (os.environ.get("MCTSR_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # nothing may download a browser here
    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        reason = "no headless browser: scripts/setup.sh installs Debian's chromium and playwright"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Page:
    """A page of ours opened in the browser, with every console message, error, dialog and request kept."""

    def __init__(self, browser, path: Path) -> None:
        self.messages: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 850})
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    def click_node(self, node_id: int) -> str:
        self.page.locator(f"#nodes .node[data-id='{node_id}']").click()
        self.page.wait_for_function(
            f"document.querySelector('#panel h2') && document.querySelector('#panel h2').textContent.startsWith("
            f"'Node #{node_id}')", timeout=10_000)
        return self.page.inner_text("#panel")

    def panel_blocks(self) -> list[str]:
        return self.page.eval_on_selector_all("#panel pre", "els => els.map(e => e.textContent)")

    def drawn_pixels(self) -> int:
        """Pixels of the tree area that differ clearly from its white background (legend and buttons hidden,
        a 3-pixel margin cut off so that the neighbouring borders never count)."""
        import numpy as np
        from PIL import Image

        self.page.add_style_tag(content=".legend, .tools { display: none !important; }")
        png = self.page.locator("#canvas").screenshot()
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)[3:-3, 3:-3]
        return int(((255 - rgb).sum(axis=2) > 90).sum())

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory) -> tuple[dict, Path]:
    """A real search on the default model, written by `mctsr solve --json --view` (small caps: quick)."""
    pytest.importorskip("llama_cpp")
    d = tmp_path_factory.mktemp("real")
    js, page = d / "r.json", d / "tree.html"
    rc = cli.main(["solve", PROBLEM, "--rollouts", "2", "--quiet", "--answer-max-tokens", "40",
                   "--critique-max-tokens", "24", "--refine-max-tokens", "40", "--reward-max-tokens", "16",
                   "--reward-samples", "1", "--reselect-samples", "0", "--n-ctx", "1024", "--fresh-every", "2",
                   "--json", str(js), "--view", str(page)])
    assert rc == 0
    return json.loads(js.read_text(encoding="utf-8")), page


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> tuple[dict, Path]:
    result = synthetic_result(500, injected_node=7)
    page = tmp_path_factory.mktemp("big") / "big.html"
    write_view(view_from_result(result, gold="3"), page)
    return result, page


@pytest.mark.model
def test_real_search_page_loads_draws_every_node_and_shows_texts(browser, real_tree) -> None:
    result, path = real_tree
    page = Page(browser, path)
    try:
        assert page.messages == [] and page.dialogs == []
        assert page.requests == [page.url]  # the page alone: no network, nothing else fetched
        assert page.page.locator("#nodes .node").count() == len(result["nodes"]) >= 3
        assert page.page.locator("#edges .edge").count() == sum(n["parent"] is not None for n in result["nodes"])
        child = next(n for n in result["nodes"] if n["critique"])  # a refined answer (the first has none)
        panel = page.click_node(child["id"])
        blocks = page.panel_blocks()
        assert child["critique"] in blocks and child["text"] in blocks
        assert all(reply in blocks for reply in child["reward_replies"])
        assert (child["answer"] or "none") in panel
        dummy = next(n["id"] for n in result["nodes"] if n["kind"] == "dummy")
        first, fresh = (next(n for n in result["nodes"] if n["parent"] == dummy and n["step"] == s) for s in (0, 2))
        assert fresh["critique"] is None and "A fresh answer" in page.click_node(fresh["id"])
        assert "The first answer" in page.click_node(first["id"]) and fresh["text"] not in page.panel_blocks()
        chosen = page.page.locator("#nodes .node .ring").count()
        assert chosen == (1 if result["node"] is not None else 0)
        assert page.drawn_pixels() > 2000
        if SCREENSHOTS:
            page.page.screenshot(path=str(SCREENSHOTS / "view-real.png"))
        assert page.messages == []
    finally:
        page.close()


def test_large_tree_loads_and_responds_and_model_text_stays_text(browser, big_tree) -> None:
    result, path = big_tree
    page = Page(browser, path)
    try:
        assert page.messages == [] and page.requests == [page.url]
        assert page.page.locator("#nodes .node").count() == len(result["nodes"]) == 500
        assert page.page.locator("#nodes .badge.right").count() == sum(n["answer"] == "3" for n in result["nodes"])
        deep = max(result["nodes"], key=lambda n: (n["depth"], n["id"]))
        page.page.evaluate(f"document.querySelector(\"#nodes .node[data-id='{deep['id']}']\")"
                           ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.page.wait_for_function(f"document.querySelector('#panel h2').textContent === 'Node #{deep['id']}'")
        assert deep["text"] in page.panel_blocks()
        # the injected node: its text is shown literally, no script ran, no element was injected
        page.page.evaluate("document.querySelector(\"#nodes .node[data-id='7']\")"
                           ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.page.wait_for_function("document.querySelector('#panel h2').textContent === 'Node #7'")
        assert INJECTION + "\nThe answer is: 3" in page.panel_blocks()
        assert page.dialogs == []
        assert page.page.locator("#panel script, #panel img, #panel b").count() == 0
        assert page.page.locator("script").count() == 2
        assert "<i>markup stays text</i>" in page.page.inner_text("#problem")
        page.page.click("#fit")
        assert page.drawn_pixels() > 500
        assert page.messages == []
    finally:
        page.close()


def test_a_60_node_tree_fits_the_window_when_the_page_opens(browser, tmp_path) -> None:
    """Every node of a wide 60-node search is inside the drawing area on opening, not only the chosen one's
    neighbourhood; the circles say what their number is, and the panel why its two Qs differ."""
    result = synthetic_result(60, seed=0, injected_node=-1)
    path = tmp_path / "sixty.html"
    write_view(view_from_result(result, gold="3"), path)
    page = Page(browser, path)
    try:
        assert page.messages == []
        canvas = page.page.locator("#canvas").bounding_box()
        boxes = page.page.eval_on_selector_all("#nodes .node .shape", "els => els.map(e => {"
                                               "const r = e.getBoundingClientRect(); return [r.left, r.top, r.right,"
                                               " r.bottom]; })")
        assert len(boxes) == 60
        outside = [b for b in boxes if b[0] < canvas["x"] or b[1] < canvas["y"]
                   or b[2] > canvas["x"] + canvas["width"] or b[3] > canvas["y"] + canvas["height"]]
        assert outside == [], (len(outside), canvas)
        state = json.loads(page.page.evaluate("document.body.dataset.view"))
        assert state["mode"] == "down" and state["k"] >= 0.3  # the wide tree lies across the wide window
        assert "the node's own Q" in page.page.inner_text("#legend")
        answered = next(n for n in result["nodes"] if n["kind"] == "answer" and n["children"])
        panel = page.click_node(answered["id"])
        assert "own Q" in panel and "Q (backed up)" in panel and "UCT uses it" in panel
        assert page.page.locator(f"#nodes .node[data-id='{answered['id']}'] .ans").text_content() == answered["answer"]
        page.page.click("#rotate")  # the other layout, fitted to the window
        assert json.loads(page.page.evaluate("document.body.dataset.view"))["mode"] == "across"
        assert page.page.locator("#nodes .node").count() == 60 and page.messages == []
    finally:
        page.close()


def test_screenshot_check_fails_on_a_blank_page(browser, big_tree, tmp_path) -> None:
    _, path = big_tree
    page = Page(browser, path)
    try:
        drawn = page.drawn_pixels()
        page.page.evaluate("document.getElementById('nodes').replaceChildren();"
                           "document.getElementById('edges').replaceChildren()")
        blank = page.drawn_pixels()
        assert blank < 50 < 2000 < drawn  # the same check that passes above cannot pass on an empty tree
    finally:
        page.close()
