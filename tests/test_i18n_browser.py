"""Real Chromium with a Japanese browser (locale ja-JP) and no choice made: every page comes up in
Japanese; the sidebar switch to English survives a reload (the choice is in the link). A screenshot of
every page in Japanese (and two in English) is saved (CI artifacts: artifacts/screenshots/i18n-<lang>-<page>.png)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, artifacts_dir, streamlit_app

from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import english_patterns, ja

pytestmark = pytest.mark.browser

PAGES = ["chat", "logprobs", "summarize", "docs_qa", "compare", "prompts", "usage"]
NAV = ["Chat", "Logprobs explorer", "URL summariser", "Docs Q&A", "Compare", "Prompts", "Usage"]


def _settle(page) -> None:
    """The run has finished and drawn: no "Running…" indicator and no placeholder of a widget to come."""
    script = '() => !document.querySelector(\'[data-testid="stStatusWidget"], [data-testid="stSkeleton"]\')'
    for _ in range(2):  # (a rerun can follow a finished run at once: look twice)
        page.wait_for_function(script, timeout=120_000)
        page.wait_for_timeout(300)


def _english_lines(text: str) -> list[str]:
    """Lines of the page that are one of our English messages, untranslated."""
    left = []
    for line in {line.strip() for line in text.splitlines() if line.strip()}:
        for msgid, pattern in english_patterns():
            if pattern.match(line):
                left.append(f"{line!r} (message {msgid!r})")
                break
    return left


def _walk(page, url: str, lang: str, query: str = "", pages: list[str] = PAGES) -> dict[str, str]:
    texts = {}
    for name in pages:
        page.goto(f"{url}/{'' if name == 'chat' else name}{query}")  # chat, the default page, is the root
        # the navigation with our titles (a fresh process first serves pages/ the old way, then reruns)
        title = ja("Logprobs explorer") if lang == "ja" else "Logprobs explorer"
        page.get_by_test_id("stSidebarNav").get_by_text(title).wait_for(timeout=60_000)
        page.locator("main.stMain").first.wait_for(timeout=60_000)
        _settle(page)
        page.screenshot(path=str(artifacts_dir() / f"i18n-{lang}-{name}.png"), full_page=True)
        assert page.get_by_test_id("stException").count() == 0, name
        texts[name] = page.locator("main.stMain").first.inner_text() + "\n" + page.get_by_test_id("stSidebar").inner_text()
    return texts


def test_a_japanese_browser_sees_every_page_in_japanese_and_english_sticks_after_a_reload(
    data_dir: Path, fake_model: HostedAPISim
) -> None:
    from playwright.sync_api import sync_playwright

    env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir))
    env.pop("YOAKE_LANGUAGE", None)
    with streamlit_app(env) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            japanese = _walk(page, url, "ja")
            for name, text in japanese.items():
                nav = page.get_by_test_id("stSidebarNav").inner_text()
                assert all(ja(title) in nav for title in NAV), nav
                assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text), name
                assert _english_lines(text) == [], name

            # The switch: English, then a reload of the same link stays English.
            page.goto(f"{url}/")
            _settle(page)
            page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="言語 / Language").click()
            page.get_by_role("option", name="English").click()
            page.get_by_test_id("stSidebarNav").get_by_text("Logprobs explorer").wait_for(timeout=30_000)
            assert "lang=en" in page.url
            page.reload()
            _settle(page)
            page.get_by_test_id("stSidebarNav").get_by_text("Logprobs explorer").wait_for(timeout=30_000)
            assert ja("Logprobs explorer") not in page.get_by_test_id("stSidebarNav").inner_text()

            # The choice is in the link: other pages opened with it are English too (two of them: the
            # English of every page is seen by the other browser tests, which run in English).
            english = _walk(page, url, "en", "?lang=en", pages=["docs_qa", "usage"])
            for name, text in english.items():
                assert "Usage" in page.get_by_test_id("stSidebarNav").inner_text(), name
                assert ja("Chat") not in text.split("\n")[:3], name
        finally:
            browser.close()
