"""The visitor's language on the page: `_()` and `ngettext()` translate our own strings, `tr()` words a
`lib` message (`lib.core.i18n.Msg`), `fmt_*` format numbers and dates the visitor's way.

The language is decided once per run by `ui.common.apply_language` (URL, the sidebar choice, a
signed-in user's stored choice, the browser, YOAKE_LANGUAGE) and kept in the session. Constants of
modules imported once (this folder) are marked with `N_` and translated where they are shown.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import streamlit as st

from lib.core import i18n
from lib.core.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, normalize

__all__ = ["N_", "LANGUAGES", "LANGUAGE_KEY", "_", "ngettext", "tr", "language", "fmt_number", "fmt_percent", "fmt_datetime"]

LANGUAGE_KEY = "app_language_current"  # session: the language this run speaks
# The language of the latest run in this process. Only read where no run is current: Streamlit's
# AppTest calls a widget's `format_func` from the test's own thread, where no session is visible, to
# match an option to its label. Every page run itself reads its own session.
_latest_run_language: str | None = None


def remember_run_language(lang: str) -> None:
    global _latest_run_language
    _latest_run_language = lang


def browser_language() -> str | None:
    try:
        return normalize(st.context.locale)
    except Exception:  # no browser behind this run (a bare script run)
        return None


def language() -> str:
    """The language of this run (see the module's docstring); outside a run, YOAKE_LANGUAGE or English."""
    try:
        chosen = st.session_state.get(LANGUAGE_KEY)
    except Exception:  # outside a Streamlit run
        return _latest_run_language or normalize(os.environ.get("YOAKE_LANGUAGE")) or SOURCE_LANGUAGE
    return chosen or browser_language() or normalize(os.environ.get("YOAKE_LANGUAGE")) or SOURCE_LANGUAGE


def _(msgid: str) -> str:
    return i18n.gettext(msgid, language())


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(singular, plural, n, language())


def tr(value: Any) -> Any:
    """A `lib` message in the visitor's language (anything else unchanged)."""
    return i18n.render(value, language())


def fmt_number(value: float, decimals: int | None = None) -> str:
    return i18n.format_number(value, language(), decimals)


def fmt_percent(fraction: float, decimals: int = 0) -> str:
    return i18n.format_percent(fraction, language(), decimals)


def fmt_datetime(moment: datetime, width: str = "medium") -> str:
    """In the browser's time zone when it says one."""
    try:
        tz = st.context.timezone
    except Exception:
        tz = None
    return i18n.format_datetime(moment, language(), tz, width)
