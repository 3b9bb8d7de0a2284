"""Translation and locale-aware formatting: gettext catalogs (`locales/<lang>/LC_MESSAGES/messages.po`,
compiled to `.mo`; `python scripts/i18n.py` extracts, updates and compiles them with Babel) and Babel's
number and date formats.

The English text is the message id, so English needs no catalog. `lib/` never knows the visitor: code
that words something for a person either takes `lang`, or returns a `Msg` (a message id with its
parameters) that the page renders in the visitor's language. A `Msg` *is* its English text as a `str`,
so logs, exceptions and the command line read English without doing anything.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Mapping
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

from babel import Locale
from babel import numbers as _numbers
from babel.dates import format_datetime as _format_datetime
from babel.dates import get_timezone

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
LANGUAGES: dict[str, str] = {"ja": "日本語", "en": "English"}  # code -> the language's own name
# Babel locale per language: the region decides number and date conventions.
_BABEL_LOCALES = {"ja": "ja_JP", "en": "en_US"}


def normalize(tag: str | None) -> str | None:
    """A language code we speak for a browser tag or setting ("ja-JP", "ja_JP", "EN"), else None."""
    if not tag:
        return None
    code = str(tag).strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    if lang == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, localedir=LOCALES_DIR, languages=[lang], fallback=True)


@cache
def message_ids() -> tuple[str, ...]:
    """Every message id the translated catalogs know (plural entries by their singular). gettext has no
    public listing: its compiled catalog is read here, the one place that does."""
    ids: set[str] = set()
    for lang in LANGUAGES:
        for key in getattr(translations(lang), "_catalog", {}) or {}:
            msgid = key[0] if isinstance(key, tuple) else key
            if isinstance(msgid, str) and msgid:
                ids.add(msgid)
    return tuple(sorted(ids))


def gettext(msgid: str, lang: str) -> str:
    return translations(lang).gettext(msgid) if msgid else msgid


def ngettext(singular: str, plural: str, n: int, lang: str) -> str:
    return translations(lang).ngettext(singular, plural, n)


def N_(msgid: str) -> str:
    """Marks a message for extraction where it is defined (a constant); translate it where it is shown."""
    return msgid


class Msg(str):
    """A message id and its parameters, worded later in any language. As a `str` it is the English
    text, so it can be raised, logged and compared like one; `render(lang)` words it for a visitor.
    Parameters that are themselves `Msg`s are translated too."""

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Msg:
        self = super().__new__(cls, _fill(msgid, params, SOURCE_LANGUAGE))
        self.msgid = msgid
        self.params = params
        return self

    def render(self, lang: str) -> str:
        return _fill(gettext(self.msgid, lang), self.params, lang)

    def __reduce__(self) -> tuple:  # survives pickling (st.cache_data) as the same message
        return (_rebuild, (self.msgid, dict(self.params)))


def _rebuild(msgid: str, params: dict[str, Any]) -> Msg:
    return Msg(msgid, **params)


def _fill(template: str, params: Mapping[str, Any], lang: str) -> str:
    if not params:
        return template
    return template.format(**{k: render(v, lang) for k, v in params.items()})


def render(value: Any, lang: str) -> Any:
    """A `Msg` in `lang`; anything else as it is."""
    return value.render(lang) if isinstance(value, Msg) else value


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a message (what a translation must keep)."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


# --- formatting -------------------------------------------------------------------------------------


def locale(lang: str) -> Locale:
    return Locale.parse(_BABEL_LOCALES.get(lang, "en_US"))


def format_number(value: float, lang: str, decimals: int | None = None) -> str:
    """Grouped digits in the visitor's convention; `decimals` fixes the count after the point."""
    if decimals is None:
        return _numbers.format_decimal(value, locale=locale(lang))
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return _numbers.format_decimal(value, format=pattern, locale=locale(lang))


def format_percent(fraction: float, lang: str, decimals: int = 0) -> str:
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
    return _numbers.format_percent(fraction, format=pattern, locale=locale(lang))


def format_datetime(moment: datetime, lang: str, tz: tzinfo | str | None = None, width: str = "medium") -> str:
    """A date and time in the visitor's convention and (when known) their time zone."""
    if isinstance(tz, str):
        try:
            tz = get_timezone(tz)
        except LookupError:  # a browser's zone name this tz database does not know: show UTC
            tz = None
    return _format_datetime(moment, format=width, tzinfo=tz, locale=locale(lang))


def format_usd(amount: float, lang: str, decimals: int = 5) -> str:
    """US dollars (as providers bill), digits in the visitor's convention: "$0.00042"."""
    return "$" + format_number(amount, lang, decimals)


def format_jpy(amount: float, lang: str) -> str:
    return _numbers.format_currency(amount, "JPY", format="¤#,##0.##", locale=locale(lang), currency_digits=False)
