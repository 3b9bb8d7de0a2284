"""Real Chromium against `streamlit run`: the compare page's cells fill in side by side while they
stream, the finished run is saved with its figures, and Stop keeps what arrived."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from browser import artifacts_dir, chromium_page, streamlit_app
from helpers import usage_lines

from lib.storage.store import Store
from tests.support.hosted_api_sim import ServeModel

pytestmark = pytest.mark.browser

CELLS = 4  # 2 temperatures x 2 samples
OUTCOMES = ("✅", "✂️", "⏹", "⚠️")  # how a finished cell's status line begins (ui/compare_grid.py)


def _cells(page) -> list[str]:
    return [
        page.locator(f".st-key-cmp_cell_{i}").first.inner_text() if page.locator(f".st-key-cmp_cell_{i}").count() else ""
        for i in range(CELLS)
    ]


def _shown_cells(page, timeout: float = 60) -> list[str]:
    """The cells once the browser has drawn each one's outcome: the saved run's header can be on screen
    while the cells below it are still empty boxes (a browser behind on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        cells = _cells(page)
        if all(any(mark in t for mark in OUTCOMES) for t in cells) or time.monotonic() > deadline:
            return cells
        time.sleep(0.05)


def _streamed_tokens(text: str) -> int:
    match = re.search(r"streaming · (\d+) tokens?", text)
    return int(match.group(1)) if match else 0


def _commit(page, label: str, value: str, sidebar: bool = False) -> None:
    scope = page.get_by_test_id("stSidebar") if sidebar else page.get_by_test_id("stMain")
    box = scope.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter" if box.evaluate("e => e.tagName") == "INPUT" else "Tab")
    page.wait_for_timeout(400)  # let the rerun the change triggers settle


def test_cells_stream_side_by_side_then_stop_keeps_what_arrived(serve_model: ServeModel, data_dir: Path) -> None:
    serve_model(tokens_per_s=20)  # paced, so the browser sees cells part-way
    env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir))  # YOAKE_LOCAL_BASE_URL: that model
    with streamlit_app(env) as (url, _proc), chromium_page() as page:
        page.set_viewport_size({"width": 1400, "height": 2200})  # the whole grid in the screenshots
        page.goto(f"{url}/compare")
        page.get_by_test_id("stMain").get_by_label("Prompt", exact=True).wait_for(timeout=120_000)
        _commit(page, "Max tokens per answer", "48", sidebar=True)
        _commit(page, "Temperatures", "0, 1")
        _commit(page, "Prompt", "Write three sentences about the sea.")
        page.get_by_text("4 calls").wait_for(timeout=30_000)
        page.get_by_role("button", name="▶ Run").click()

        # Watch the cells: each is seen part-way, and several stream at the same time.
        history: list[list[str]] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            snap = _cells(page)
            if not history or snap != history[-1]:
                history.append(snap)
                if sum(_streamed_tokens(t) > 0 for t in snap) >= 2 and not (artifacts_dir() / "compare-streaming.png").exists():
                    page.screenshot(path=str(artifacts_dir() / "compare-streaming.png"))
            if page.get_by_role("button", name="↻ Re-run").count():  # the saved run is shown
                break
            time.sleep(0.03)
        final = _shown_cells(page)
        page.screenshot(path=str(artifacts_dir() / "compare.png"), full_page=True)
        assert all("✅" in t or "✂️" in t for t in final), final
        assert all("free (local)" in t and "perplexity" in t for t in final)
        streaming = [[t for t in snap if "streaming" in t and len(t.split("⏳")[0].strip()) > 1] for snap in history]
        assert any(len(s) >= 2 for s in streaming), "no two cells were seen filling at the same time"
        for i in range(CELLS):
            partial = [s[i] for s in history if "streaming" in s[i] and s[i].split("⏳")[0].strip() not in ("", "…")]
            assert partial, f"cell {i} was never seen part-way: {[s[i] for s in history]}"
        assert page.get_by_text("distinct-2").count() >= 2
        log = usage_lines(data_dir)
        assert len(log) == CELLS and {r["page"] for r in log} == {"compare"} and {r["status"] for r in log} == {"ok"}

        # Stop a longer run once text arrives: what arrived is kept, the run is saved as stopped.
        _commit(page, "Max tokens per answer", "2000", sidebar=True)
        _commit(page, "Prompt", "Write a very long story about the sea, at least a thousand words. [fake count=1000]")
        page.get_by_role("button", name="▶ Run").click()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(_streamed_tokens(t) > 0 for t in _cells(page)):
            time.sleep(0.05)
        page.get_by_role("button", name="⏹ Stop").click()
        page.get_by_role("button", name="↻ Re-run").wait_for(timeout=120_000)
        stopped = _shown_cells(page)
        page.screenshot(path=str(artifacts_dir() / "compare-stopped.png"), full_page=True)
        assert any("⏹ stopped" in t for t in stopped), stopped
        runs = Store.in_dir(data_dir).list_compare_runs()
        assert [r.status for r in runs] == ["stopped", "complete"]
        started = sum("not run" not in t for t in stopped)
        assert len(usage_lines(data_dir)) == CELLS + started
