"""What the summariser reads (a `Document`: text plus metadata, pages for a PDF) and the error every
failure to read one raises. Shared by lib/summarize/fetch.py (web pages, pasted text) and lib/summarize/pdf.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lib.core.errors import YoakeError
from lib.core.i18n import Msg, gettext
from lib.core.text import CJK_CHARS

MIN_WORDS = 5


class FetchError(YoakeError):
    """An expected failure of fetching or reading a document, with a message fit for the page (title
    and detail are `Msg`s where worded here: English as text, the visitor's language on the page)."""

    kind = "fetch"
    title = Msg("The page could not be read.")

    def __init__(self, kind: str, title: str, detail: str) -> None:
        super().__init__(detail, kind=kind, title=title)

    def __str__(self) -> str:
        return f"{self.title} {self.detail}"


def clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def count_words(text: str) -> int:
    # CJK text has no spaces: count its characters as words, roughly
    cjk = len(re.findall(f"[{CJK_CHARS}]", text))
    return len(re.findall(rf"[^\s{CJK_CHARS}]+", text)) + cjk


@dataclass
class Document:
    text: str  # markdown (a PDF: its pages' text, one blank line between pages)
    title: str | None = None
    author: str | None = None
    date: str | None = None
    sitename: str | None = None
    url: str | None = None  # final URL for fetched pages
    source: str = "url"  # url | paste | upload
    language: str | None = None
    requested_url: str | None = None  # differs from url when redirected
    pages: list[str] | None = None  # a PDF's text page by page (page n is pages[n - 1]; "" for a page without text)

    @property
    def word_count(self) -> int:
        return count_words(self.text)

    @property
    def page_count(self) -> int | None:
        return None if self.pages is None else len(self.pages)

    def preview(self, limit: int = 30_000, lang: str = "en") -> str:
        """The extracted text for the page's preview, a PDF's with a line naming each page (in `lang`)."""
        if self.pages is None:
            text = self.text
        else:
            head, empty = gettext("── Page {n} ──", lang), gettext("(no text on this page)", lang)
            text = "\n\n".join(f"{head.format(n=n)}\n{page.strip() or empty}" for n, page in enumerate(self.pages, 1))
        return text[:limit] + ("\n…" if len(text) > limit else "")
