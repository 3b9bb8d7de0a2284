"""Every page, opened fresh, in each language: in Japanese no visible label, caption, button or
message is one of our English message ids; in English none is one of our Japanese translations.
(Each area's own tests drive its page further: tests/test_i18n_<area>.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.i18n import ROOT, english_left, japanese_left

PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def _open(page: str, locale: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60)
    at.context = {"locale": locale, "timezone": "Asia/Tokyo"}
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_a_fresh_page_in_japanese_shows_no_english_message(page: str, data_dir: Path) -> None:
    at = _open(page, "ja-JP")
    assert at.session_state["app_language_current"] == "ja"
    assert english_left(at) == []


@pytest.mark.parametrize("page", PAGES)
def test_a_fresh_page_in_english_shows_no_japanese_message(page: str, data_dir: Path) -> None:
    at = _open(page, "en-US")
    assert at.session_state["app_language_current"] == "en"
    assert japanese_left(at) == []
