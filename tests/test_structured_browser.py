"""Real Chromium against `streamlit run`: a JSON-schema reply shown coloured by per-field confidence, and
a tool call's card, with screenshots (the fake model: a JSON reply with logprobs, and tool calls)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import artifacts_dir, chromium_page, streamlit_app

from tests.support.hosted_api_sim import ServeModel, echo_reply

pytestmark = pytest.mark.browser

FORM_REPLY = '{"氏名": "田中 花子", "人数": 4, "席": "個室", "備考": "1名はベジタリアン"}'


def _reply(body: dict) -> str | list[str]:
    return list(FORM_REPLY) if body.get("response_format") else echo_reply(body)


def _pick(page, label: str, option: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(500)


def _open_controls(page) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    if not sidebar.get_by_text("Plain text", exact=True).is_visible():
        sidebar.get_by_text("Structured output and tools").click()
        page.wait_for_timeout(500)


def test_coloured_json_view_and_a_tool_card(serve_model: ServeModel, data_dir: Path) -> None:
    serve_model(_reply)
    env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir))  # YOAKE_LOCAL_BASE_URL: that model
    with streamlit_app(env) as (url, _proc), chromium_page() as page:
        page.set_viewport_size({"width": 1300, "height": 1800})
        page.goto(url)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=120_000)
        sidebar = page.get_by_test_id("stSidebar")
        _open_controls(page)
        sidebar.get_by_text("JSON schema", exact=True).click()
        page.wait_for_timeout(500)
        _pick(page, "Example schemas", "Form: a restaurant booking (Japanese values)")
        sidebar.get_by_role("button", name="Use example").first.click()
        page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('氏名'))")
        box.fill("予約をお願いします")
        box.press("Enter")
        view = page.get_by_test_id("stChatMessage").nth(1)
        view.get_by_text("田中 花子").first.wait_for(timeout=60_000)
        page.get_by_text("Valid JSON that matches the schema").wait_for(timeout=30_000)
        # the values are coloured: Streamlit draws a background directive as a span with a background colour
        coloured = view.locator("span", has_text="個室").evaluate_all(
            "els => els.map(e => getComputedStyle(e).backgroundColor).filter(c => c && c !== 'rgba(0, 0, 0, 0)')"
        )
        assert coloured, "the value 個室 has no background colour"
        view.screenshot(path=str(artifacts_dir() / "structured-json-view.png"))

        # tools: the weather example, a call shown as a card
        _open_controls(page)
        sidebar.get_by_text("Plain text", exact=True).click()
        sidebar.get_by_text("Example schemas").wait_for(state="detached", timeout=30_000)
        page.wait_for_timeout(500)
        _open_controls(page)
        sidebar.get_by_test_id("stCheckbox").filter(has_text="Send tools (function calling)").locator("label").click()
        sidebar.get_by_text("Example tools").wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        box.fill("東京の天気は？")
        box.press("Enter")
        card = page.get_by_test_id("stChatMessage").nth(3)
        card.get_by_text("get_weather").first.wait_for(timeout=60_000)
        page.get_by_text("The arguments match the tool's parameters").wait_for(timeout=30_000)
        card.screenshot(path=str(artifacts_dir() / "structured-tool-card.png"))
        page.get_by_text("Send tool results").first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir() / "structured-chat.png"), full_page=True)
