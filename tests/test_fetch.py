"""lib/fetch: every expected failure gets its own error, against a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.fixture_site import FIXTURES, FixtureSite, refused_url

from lib.summarize.fetch import (
    USER_AGENT,
    FetchError,
    FetchLimits,
    decode_upload,
    extract,
    fetch,
    from_text,
    load_url,
    normalize_url,
)

# The fixture site is on loopback: these tests run as a laptop user with YOAKE_FETCH_ALLOW_PRIVATE=1
# (tests/test_fetch_guard.py checks that the default refuses it).
LIMITS = FetchLimits(timeout=1.5, max_bytes=1_000_000, max_redirects=5, allow_private=True)


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as s:
        yield s


def _kind(call) -> FetchError:
    with pytest.raises(FetchError) as info:
        call()
    return info.value


def test_article_is_fetched_and_extracted_with_metadata(site: FixtureSite) -> None:
    doc = load_url(site.url("/article.html"), LIMITS)
    assert doc.title == "The Lighthouse Keepers of Kestrel Point"
    assert doc.author == "Mara Quill"
    assert doc.date == "2024-03-15"
    assert doc.sitename == "Coastal Chronicle"
    assert doc.url == site.url("/article.html")
    assert "Elsie Harrow" in doc.text
    # markdown output with the table kept, page furniture dropped
    assert doc.text.startswith("# The Lighthouse Keepers")
    assert "| Penhale | 1919–1950 | 3 |" in doc.text
    assert "Cookie settings" not in doc.text and "Subscribe" not in doc.text
    assert 150 < doc.word_count < 260
    assert site.user_agents[-1] == USER_AGENT and "Mozilla/5.0" in USER_AGENT


def test_redirect_is_followed_and_final_url_reported(site: FixtureSite) -> None:
    page = fetch(site.url("/moved"), LIMITS)
    assert page.final_url == site.url("/article.html")
    assert page.redirects == [site.url("/article.html")]
    doc = load_url(site.url("/moved"), LIMITS)
    assert doc.url == site.url("/article.html") and doc.requested_url == site.url("/moved")


def test_plain_text_page_is_taken_as_is(site: FixtureSite) -> None:
    doc = load_url(site.url("/notes.txt"), LIMITS)
    assert doc.text.startswith("# Field notes") and "212 pups" in doc.text


def test_declared_charset_is_honoured(site: FixtureSite) -> None:
    doc = load_url(site.url("/latin1.txt"), LIMITS)
    assert doc.text == "Le café était très animé ce matin-là, dit la serveuse naïve."


@pytest.mark.parametrize(
    ("path", "kind", "words"),
    [
        ("/doc.pdf", "pdf_unreadable", "PDF"),  # PDFs are read now (tests/test_pdf.py); this one is broken
        ("/pixel", "not_text", "PNG image"),  # declared text/html: caught by its magic bytes
        ("/archive.zip", "not_text", "ZIP"),
        ("/photo.jpg", "not_text", "an image"),
        ("/forbidden", "http_status", "403"),
        ("/missing-page", "http_status", "404"),
        ("/broken", "http_status", "500"),
        ("/loop-a", "redirect_loop", "loop"),
        ("/chain/0", "too_many_redirects", "5 redirects"),
        ("/to-file", "bad_scheme", "file:"),
        ("/huge", "too_large", "1 MB"),  # refused on its Content-Length
        ("/huge-chunked", "too_large", "1 MB"),  # no length: cut off while streaming
        ("/slow", "timeout", "1.5 s"),
        ("/js.html", "nothing_extracted", "paste"),
    ],
)
def test_fetch_failures_have_specific_errors(site: FixtureSite, path: str, kind: str, words: str) -> None:
    err = _kind(lambda: load_url(site.url(path), LIMITS))
    assert err.kind == kind
    assert words in f"{err.title} {err.detail}"


def test_nothing_extracted_hints_to_paste_text(site: FixtureSite) -> None:
    err = _kind(lambda: load_url(site.url("/js.html"), LIMITS))
    assert "JavaScript" in err.detail and "paste it here" in err.detail


def test_refused_connection_and_unknown_host() -> None:
    assert _kind(lambda: fetch(refused_url(), LIMITS)).kind == "connection_refused"
    err = _kind(lambda: fetch("http://no-such-host.invalid/page", LIMITS))
    assert err.kind == "unknown_host" and "no-such-host.invalid" in err.title


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("", "empty_url"),
        ("   ", "empty_url"),
        ("file:///etc/passwd", "bad_scheme"),
        ("ftp://example.com/file.txt", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("mailto:someone@example.com", "bad_scheme"),
        ("not a url at all", "malformed_url"),
        ("http://", "malformed_url"),
        ("https://exa mple.com/", "malformed_url"),
        ("http://example.com:99999/", "malformed_url"),
    ],
)
def test_bad_urls_are_rejected_before_any_request(raw: str, kind: str) -> None:
    assert _kind(lambda: normalize_url(raw)).kind == kind


def test_bare_host_gets_https_and_host_port_is_not_a_scheme() -> None:
    assert normalize_url(" example.com/news ") == "https://example.com/news"
    assert normalize_url("localhost:8501/x") == "https://localhost:8501/x"
    assert normalize_url("HTTP://Example.com") == "HTTP://Example.com"


def test_pasted_html_and_text() -> None:
    html = (FIXTURES / "article.html").read_text()
    doc = from_text(html, source="paste")
    assert doc.title.startswith("The Lighthouse") and doc.source == "paste"
    text_doc = from_text((FIXTURES / "notes.md").read_text(), source="paste")
    assert "212 pups" in text_doc.text and text_doc.title is None
    assert _kind(lambda: from_text("  \n ")).kind == "empty_text"
    assert _kind(lambda: from_text((FIXTURES / "js_only.html").read_text())).kind == "nothing_extracted"


def test_precision_and_recall_modes_are_passed_to_trafilatura() -> None:
    html = (FIXTURES / "article.html").read_text()
    assert "Elsie Harrow" in extract(html, None, "precision").text
    assert "Elsie Harrow" in extract(html, None, "recall").text


def test_uploads_that_are_not_text_are_refused() -> None:
    for name in ("sample.pdf", "pixel.png", "archive.zip"):
        err = _kind(lambda name=name: decode_upload((FIXTURES / name).read_bytes(), name))
        assert err.kind == "not_text" and name in err.title
    assert _kind(lambda: decode_upload(b"\x00\x01\x02binary", "data.txt")).kind == "not_text"
    assert decode_upload("café ☕".encode(), "a.txt") == "café ☕"
    assert decode_upload("テキスト".encode("utf-16"), "b.txt") == "テキスト"
    # a legacy encoding is guessed rather than refused
    assert decode_upload("Le café était très animé ce matin-là. ".encode("cp1252") * 3, "c.txt").startswith("Le caf")
