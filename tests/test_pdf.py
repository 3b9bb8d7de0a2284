"""PDFs by URL (the loopback fixture site) and by upload: text page by page, metadata, the PDFs that
cannot be read get their own message, and a long PDF's chunks know their pages. No model calls."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fixtures.fixture_site import FixtureSite
from fixtures.pdfs import PAPER_PAGES, encrypted, image_only_pdf, paper_pdf, text_pdf

from lib.summarize import (
    EstimateCounter,
    SummaryOptions,
    chunk_messages,
    final_messages,
    page_spans,
    plan,
)
from lib.summarize.document import Document
from lib.summarize.fetch import FetchError, FetchLimits, load_upload, load_url
from lib.summarize.pdf import read_pdf

LIMITS = FetchLimits(timeout=5, allow_private=True)  # the fixture site is on loopback


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as s:
        yield s


def _error(call) -> FetchError:
    with pytest.raises(FetchError) as info:
        call()
    return info.value


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_pdf_is_read_page_by_page_with_its_metadata() -> None:
    doc = read_pdf(paper_pdf(), name="paper.pdf")
    assert (doc.title, doc.author, doc.date, doc.page_count) == ("Tidal Energy at Kestrel Point", "R. Penhale", "2024-03-15", 3)
    assert doc.pages is not None
    for page, source in zip(doc.pages, PAPER_PAGES, strict=True):
        assert _squash(source) == _squash(page)  # every word, on its own page
    assert _squash(doc.text) == _squash("".join(PAPER_PAGES))
    preview = doc.preview()
    assert [int(n) for n in re.findall(r"── Page (\d+) ──", preview)] == [1, 2, 3]
    assert preview.index("── Page 2 ──") < preview.index("In its first full year") < preview.index("── Page 3 ──")


def test_a_pdf_without_title_is_named_after_its_file_and_blank_pages_keep_their_numbers() -> None:
    doc = read_pdf(text_pdf(["First page has some words on it.", "", "Third page also has some words."]), name="notes.pdf")
    assert doc.title == "notes.pdf" and doc.author is None and doc.page_count == 3
    assert doc.pages is not None and doc.pages[1].strip() == ""
    assert "── Page 2 ──\n(no text on this page)" in doc.preview()
    assert "── Page 3 ──\nThird page" in doc.preview()


def test_a_pdf_by_url_and_as_a_download(site: FixtureSite) -> None:
    doc = load_url(site.url("/paper.pdf"), LIMITS)
    assert doc.page_count == 3 and doc.title == "Tidal Energy at Kestrel Point" and doc.source == "url"
    assert doc.url == site.url("/paper.pdf") and "enough for about 5,800" in doc.text
    # Served as application/octet-stream: recognised by its bytes.
    assert load_url(site.url("/paper-download"), LIMITS).page_count == 3


@pytest.mark.parametrize(
    ("path", "kind", "words"),
    [
        ("/scan.pdf", "pdf_no_text", "has no text layer"),
        ("/locked.pdf", "pdf_encrypted", "password-protected"),
        ("/doc.pdf", "pdf_unreadable", "cannot be read"),
    ],
)
def test_pdfs_that_cannot_be_read_by_url_say_why(site: FixtureSite, path: str, kind: str, words: str) -> None:
    err = _error(lambda: load_url(site.url(path), LIMITS))
    assert err.kind == kind and words in err.title


def test_scanned_and_encrypted_uploads_say_why() -> None:
    scan = _error(lambda: load_upload(image_only_pdf(3), "scan.pdf", LIMITS))
    assert scan.kind == "pdf_no_text" and scan.title == "'scan.pdf' has no text layer."
    assert "3 pages are images" in scan.detail and "OCR" in scan.detail
    locked = _error(lambda: load_upload(encrypted(paper_pdf(), "open-sesame"), "locked.pdf", LIMITS))
    assert locked.kind == "pdf_encrypted" and locked.title == "'locked.pdf' is a password-protected PDF."
    assert "password" in locked.detail
    # Encrypted with an owner password only (copying "forbidden"): it opens without one, so it is read.
    doc = load_upload(encrypted(paper_pdf(), ""), "restricted.pdf", LIMITS)
    assert doc.page_count == 3 and "enough for about 5,800" in doc.text


def test_a_pdf_upload_is_recognised_by_its_bytes_and_text_uploads_still_work() -> None:
    doc = load_upload(paper_pdf(), "report.txt", LIMITS)
    assert doc.page_count == 3 and doc.source == "upload"
    text = load_upload(b"Plain notes about the harbour and its six turbines.", "notes.txt", LIMITS)
    assert text.pages is None and text.page_count is None and text.title == "notes.txt"


def test_size_and_page_limits_hold_for_pdfs(site: FixtureSite) -> None:
    small = FetchLimits(timeout=5, allow_private=True, max_bytes=1_000)
    assert _error(lambda: load_url(site.url("/paper.pdf"), small)).kind == "too_large"
    err = _error(lambda: load_upload(paper_pdf(), "paper.pdf", small))
    assert err.kind == "too_large" and "YOAKE_FETCH_MAX_MB" in err.detail
    two_pages = FetchLimits(timeout=5, allow_private=True, max_pages=2)
    err = _error(lambda: load_url(site.url("/paper.pdf"), two_pages))
    assert err.kind == "too_many_pages" and "3 pages" in err.detail and "YOAKE_FETCH_MAX_PAGES" in err.detail
    assert _error(lambda: load_upload(paper_pdf(), "paper.pdf", two_pages)).kind == "too_many_pages"


def _long_pdf(pages: int = 12) -> bytes:
    texts = [
        f"Page marker P{n:02d}. "
        + " ".join(f"On page {n} the survey counted {n * 7 + i} boats near buoy {i}." for i in range(30))
        for n in range(1, pages + 1)
    ]
    return text_pdf(texts, title="Harbour survey")


def test_a_long_pdfs_chunks_know_their_pages() -> None:
    doc = read_pdf(_long_pdf(12), name="survey.pdf")
    assert doc.pages is not None
    opts = SummaryOptions(context_tokens=1024, chunk_tokens=300)
    the_plan = plan(doc, opts, EstimateCounter(), model="gpt-4.1-mini", local=False)
    spans = the_plan.chunk_pages
    assert spans is not None and len(spans) == len(the_plan.chunks) > 4
    assert spans[0][0] == 1 and spans[-1][1] == 12
    for (first, last), (next_first, _) in zip(spans, spans[1:], strict=False):
        assert first <= last and next_first in (last, last + 1)  # consecutive, none skipped
    for chunk, (first, last) in zip(the_plan.chunks, spans, strict=True):
        # The chunk's text is found within its pages, and its page markers are in range.
        assert _squash(chunk) in _squash("".join(doc.pages[first - 1 : last]))
        assert all(first <= int(m) <= last for m in re.findall(r"P(\d\d)\.", chunk))
    prompt = str(chunk_messages(the_plan.chunks[1], 1, len(spans), doc, opts, spans[1])[1]["content"])
    label = f"(page {spans[1][0]})" if spans[1][0] == spans[1][1] else f"(pages {spans[1][0]}–{spans[1][1]})"
    assert f"part 2 of {len(spans)} {label}" in prompt and f"Part 2 {label}:" in prompt
    final = str(final_messages(["a", "b"], doc, opts, [(1, 3), (4, 4)])[1]["content"])
    assert "Part 1 (pages 1–3): a" in final and "Part 2 (page 4): b" in final


def test_page_spans_follow_text_across_whitespace_changes() -> None:
    pages = ["alpha beta\n\ngamma", "", "delta  epsilon", "zeta"]
    assert page_spans(["alpha beta", "gamma delta", "epsilon zeta"], pages) == [(1, 1), (1, 3), (3, 4)]
    # A web page has no pages: its plan has none either.
    assert plan(Document(text="word " * 50), SummaryOptions(), EstimateCounter(), model="m", local=True).chunk_pages is None
