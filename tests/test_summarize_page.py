"""AppTest runs of the summariser page against fixture pages on loopback and the fake model."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fixtures.fixture_site import FIXTURES, FixtureSite, refused_url
from fixtures.pdfs import encrypted, image_only_pdf, paper_pdf
from net_trap import NetTrap, trap
from streamlit.testing.v1 import AppTest

from lib.core.text import md_text
from tests.support.hosted_api_sim import HostedAPISim

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "summarize.py")


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as s:
        yield s


@pytest.fixture(autouse=True)
def _allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixture site is on loopback: reached as an intranet page would be, with the setting on.
    monkeypatch.setenv("YOAKE_FETCH_ALLOW_PRIVATE", "1")


def _usage(data_dir: Path) -> list[dict]:
    path = data_dir / "usage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _page(**state: object) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    at.sidebar.number_input(key="sum_max_tokens").set_value(12)
    at.sidebar.number_input(key="sum_chunk_max").set_value(12)
    at.sidebar.slider(key="sum_temperature").set_value(0.0)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def _texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader])


def test_url_is_summarised_with_metadata_and_cached(site: FixtureSite, data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(site.url("/moved"))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    shown = _texts(at)
    assert "The Lighthouse Keepers of Kestrel Point" in shown
    assert "by Mara Quill" in shown and "2024-03-15" in shown and "Coastal Chronicle" in shown and "words" in shown
    assert f"Final URL after redirects: {md_text(site.url('/article.html'))}" in shown  # a URL is shown as text
    preview = next(e for e in at.main.expander if e.label == "Extracted text")
    assert "Elsie Harrow" in preview.text[0].value  # shown as text, never as HTML
    assert "#### Summary" in shown
    lines = _usage(data_dir)
    assert len(lines) == 1 and lines[0]["page"] == "summarize" and lines[0]["stream"] is True
    summary = next(iter(at.session_state["sum_summaries"].values()))["text"]
    [sent] = fake_model.calls()
    assert summary == fake_model.reply_to(sent) and "Elsie Harrow" in sent["messages"][-1]["content"]
    summary = summary.strip()
    assert summary in shown
    fetched = site.hits["/article.html"]

    # Same URL and options again: neither fetched nor summarised again.
    at.button(key="sum_go").click().run()
    assert site.hits["/article.html"] == fetched and len(_usage(data_dir)) == 1
    assert summary in _texts(at)

    # Another widget interaction keeps the result on the page.
    at.selectbox(key="sum_language").set_value("Japanese").run()
    assert summary in _texts(at)

    # Refresh bypasses the cache: one more fetch, one more call.
    at.selectbox(key="sum_language").set_value("Same as the page")
    at.button(key="sum_refresh").click().run()
    assert not at.exception
    assert site.hits["/article.html"] == fetched + 1 and len(_usage(data_dir)) == 2


def test_long_page_states_plan_and_runs_map_reduce(site: FixtureSite, data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page(sum_context_local=1024, sum_chunk=300)
    at.text_input(key="sum_url").set_value(site.url("/long.html"))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    info = " ".join(i.value for i in at.info)
    assert "chunks" in info and "tokens" in info and "free (local)" in info
    lines = _usage(data_dir)
    chunk_calls = [r for r in lines if not r["stream"]]
    assert len(chunk_calls) >= 3 and len(lines) == len(chunk_calls) + 1
    assert f"**{len(chunk_calls)} chunks**" in info
    assert all(r["page"] == "summarize" for r in lines)
    assert f"({len(chunk_calls)} chunks)" in _texts(at)
    # The final pass combines what every chunk call returned (they run concurrently: arrival order varies).
    *chunks, final = fake_model.calls()
    assert len(chunks) == len(chunk_calls) and all(not c.get("stream") for c in chunks) and final["stream"] is True
    combined = final["messages"][-1]["content"]
    positions = [combined.find(fake_model.reply_to(c).strip()) for c in chunks]
    assert -1 not in positions and len(set(positions)) == len(positions)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/doc.pdf", "PDF document"),
        ("/pixel", "PNG image"),
        ("/archive.zip", "ZIP archive"),
        ("/forbidden", "HTTP 403"),
        ("/missing", "HTTP 404"),
        ("/broken", "HTTP 500"),
        ("/loop-a", "redirects in a loop"),
        ("/to-file", "redirects to a 'file:' link"),
        ("/huge", "too large"),
        ("/js.html", "paste it here instead"),
    ],
)
def test_fetch_failures_show_a_specific_message(site: FixtureSite, data_dir: Path, path: str, expected: str) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(site.url(path))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert expected in _errors(at)
    assert _usage(data_dir) == []  # no model call for a page that could not be read
    assert at.text_input(key="sum_url").value == site.url(path)  # the input is kept


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "No URL given."),
        ("not a url", "does not look like a web address"),
        ("file:///etc/passwd", "'file:' links cannot be summarised"),
        ("ftp://example.org/x", "'ftp:' links cannot be summarised"),
        ("javascript:alert(1)", "'javascript:' links cannot be summarised"),
        ("http://no-such-host.invalid/", "could not be found"),
        ("REFUSED", "refused the connection"),
    ],
)
def test_bad_urls_show_a_specific_message(url: str, expected: str) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(refused_url() if url == "REFUSED" else url)
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert expected in _errors(at)


def test_timeout_shows_a_message(site: FixtureSite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_FETCH_TIMEOUT", "1")
    at = _page()
    at.text_input(key="sum_url").set_value(site.url("/slow"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert "took too long" in _errors(at)


def test_pasted_text_is_summarised(data_dir: Path) -> None:
    at = _page(sum_source="Paste text or HTML")
    at.text_area(key="sum_text").set_value((FIXTURES / "notes.md").read_text())
    at.selectbox(key="sum_style").set_value("tldr")
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert "#### Summary" in _texts(at)
    assert [r["page"] for r in _usage(data_dir)] == ["summarize"]


def test_uploaded_file_that_is_not_text_is_refused(data_dir: Path) -> None:
    at = _page(sum_source="Upload a file")
    # PDFs are read now, recognised by their bytes whatever the name: this one is broken.
    at.file_uploader(key="sum_file").set_value(("report.txt", (FIXTURES / "sample.pdf").read_bytes(), "text/plain"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert "'report.txt' is a PDF document that cannot be read" in _errors(at)
    assert _usage(data_dir) == []
    at.file_uploader(key="sum_file").set_value(("photo.txt", (FIXTURES / "pixel.png").read_bytes(), "text/plain"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert "'photo.txt' is a PNG image, not a text file" in _errors(at)
    assert _usage(data_dir) == []


def test_uploaded_markdown_is_summarised(data_dir: Path) -> None:
    at = _page(sum_source="Upload a file")
    at.file_uploader(key="sum_file").set_value(("notes.md", (FIXTURES / "notes.md").read_bytes(), "text/markdown"))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert "notes.md" in _texts(at)  # the file name stands in for a title
    assert len(_usage(data_dir)) == 1


# --- PDFs -----------------------------------------------------------------------------------------


def _preview(at: AppTest) -> str:
    return next(e for e in at.main.expander if e.label == "Extracted text").text[0].value


def _assert_paper_summarised(at: AppTest, data_dir: Path) -> None:
    assert not at.exception and not at.error
    shown = _texts(at)
    assert "Tidal Energy at Kestrel Point" in shown
    assert "by R. Penhale" in shown and "2024-03-15" in shown and "PDF, 3 pages" in shown
    preview = _preview(at)
    assert "── Page 1 ──" in preview and "── Page 2 ──" in preview and "── Page 3 ──" in preview
    assert preview.index("── Page 2 ──") < preview.index("In its first full year") < preview.index("── Page 3 ──")
    assert "#### Summary" in shown and "final pass" in shown
    summary = next(iter(at.session_state["sum_summaries"].values()))["text"].strip()
    assert summary and summary in shown and "You said:" in summary  # the fake model's reply
    lines = _usage(data_dir)
    assert len(lines) == 1 and lines[0]["page"] == "summarize" and lines[0]["status"] == "ok"


def test_pdf_by_url_is_summarised_with_page_numbers(site: FixtureSite, data_dir: Path) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(site.url("/paper.pdf"))
    at.button(key="sum_go").click().run()
    _assert_paper_summarised(at, data_dir)
    assert f"URL: {md_text(site.url('/paper.pdf'))}" in _texts(at)


def test_pdf_upload_is_summarised_with_page_numbers(data_dir: Path) -> None:
    at = _page(sum_source="Upload a file")
    at.file_uploader(key="sum_file").set_value(("kestrel-report.pdf", paper_pdf(), "application/pdf"))
    at.button(key="sum_go").click().run()
    _assert_paper_summarised(at, data_dir)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/scan.pdf", "This PDF has no text layer."),
        ("/locked.pdf", "This link is a password-protected PDF."),
    ],
)
def test_scanned_and_encrypted_pdf_links_get_their_messages(site: FixtureSite, data_dir: Path, path: str, expected: str) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(site.url(path))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert expected in _errors(at)
    assert _usage(data_dir) == []


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("scan.pdf", image_only_pdf(2), "**'scan.pdf' has no text layer.** Its 2 pages are images"),
        ("locked.pdf", encrypted(paper_pdf(), "open-sesame"), "'locked.pdf' is a password-protected PDF."),
    ],
    ids=["scan.pdf", "locked.pdf"],  # the encrypted bytes differ per process: pytest-xdist workers must agree on ids
)
def test_scanned_and_encrypted_pdf_uploads_get_their_messages(data_dir: Path, name: str, data: bytes, expected: str) -> None:
    at = _page(sum_source="Upload a file")
    at.file_uploader(key="sum_file").set_value((name, data, "application/pdf"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert expected in _errors(at)
    assert _usage(data_dir) == []


# --- addresses the app must not reach -----------------------------------------------------------


def _loopback_trap(monkeypatch: pytest.MonkeyPatch, *sites: FixtureSite) -> NetTrap:
    """Only the model server and the given fixture sites may be reached; every other connect attempt
    is counted and refused before a packet leaves."""
    model = urlsplit(os.environ["YOAKE_LOCAL_BASE_URL"])
    allow = {("127.0.0.1", model.port or 80)} | {("127.0.0.1", s.server.server_address[1]) for s in sites}
    return trap(monkeypatch, allow=allow, dns={"intranet.example": ["10.0.0.5"]})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata service address"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata service"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://2130706433/", "a loopback address"),
        ("https://intranet.example/wiki", "'intranet.example' resolves to 10.0.0.5, a private-network address"),
    ],
)
def test_refused_addresses_are_explained_on_the_page(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.delenv("YOAKE_FETCH_ALLOW_PRIVATE")  # a deployed demo: the default
    net = _loopback_trap(monkeypatch)
    at = _page()
    at.text_input(key="sum_url").set_value(url)
    at.button(key="sum_go").click().run()
    assert not at.exception
    errors = _errors(at)
    assert "This address is not allowed." in errors and expected in errors
    assert "YOAKE_FETCH_ALLOW_PRIVATE" in errors  # what the setting does (or that it does not help)
    assert net.refused() == []  # no connection was even attempted off the allowed loopback ports


def test_a_redirect_to_the_metadata_service_is_refused_on_the_page(
    monkeypatch: pytest.MonkeyPatch, site: FixtureSite, data_dir: Path
) -> None:
    net = _loopback_trap(monkeypatch, site)
    at = _page()
    at.text_input(key="sum_url").set_value(site.url("/to-metadata"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    errors = _errors(at)
    assert "The page redirects to an address that is not allowed." in errors
    assert "refused even with YOAKE_FETCH_ALLOW_PRIVATE=1" in errors
    assert net.refused() == [] and _usage(data_dir) == []


def test_fetch_errors_are_redacted_on_the_page(monkeypatch: pytest.MonkeyPatch, site: FixtureSite) -> None:
    secret = "s3cr3t-intranet-token-value"
    monkeypatch.setenv("INTRANET_TOKEN", secret)  # a configured secret (name ends in TOKEN)
    at = _page()
    url = site.url(f"/missing?t={secret}")
    at.text_input(key="sum_url").set_value(url)
    at.button(key="sum_go").click().run()
    assert not at.exception
    errors = _errors(at)
    assert "HTTP 404" in errors and "***" in errors
    assert secret not in errors and secret[:8] not in errors
