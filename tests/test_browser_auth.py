"""With YOAKE_PASSWORD set, every page's URL shows the password form first (real Chromium)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import chromium_page, streamlit_app

pytestmark = pytest.mark.browser
# A page URL first: a fresh server must not run that page before the entry point has run.
SLUGS = ["usage", "logprobs", "summarize", "chat", ""]


def test_every_page_url_is_gated_until_the_password_is_given(data_dir: Path) -> None:
    # YOAKE_LOCAL_BASE_URL (inherited): the fake model; no page runs before the password anyway.
    env = dict(os.environ, YOAKE_PASSWORD="canary-pass-7731", YOAKE_DATA_DIR=str(data_dir))
    with streamlit_app(env) as (url, _), chromium_page() as page:
        for slug in SLUGS:
            page.goto(f"{url}/{slug}")
            page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
            assert page.locator("h1").all_inner_texts() == ["🌅 Yoake"], slug
            assert page.get_by_test_id("stChatInput").count() == 0 and page.get_by_test_id("stMetric").count() == 0
        page.goto(url)  # an unknown page's URL also shows a "page not found" dialog over the form
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
        page.get_by_label("Password", exact=True).fill("wrong-guess")
        page.get_by_role("button", name="Enter").click()
        page.get_by_text("Wrong password.").wait_for(timeout=30_000)
        page.get_by_label("Password", exact=True).fill("canary-pass-7731")
        page.get_by_role("button", name="Enter").click()
        page.get_by_test_id("stChatInput").wait_for(timeout=60_000)
        assert "canary-pass-7731" not in page.content()
