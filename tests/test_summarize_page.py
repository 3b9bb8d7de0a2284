"""AppTest runs of the summariser page against fixture pages on loopback and the embedded model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.fixture_site import FIXTURES, FixtureSite, refused_url
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.model  # talks to the embedded model server

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "summarize.py")


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as s:
        yield s


@pytest.fixture(autouse=True)
def _patient_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_TIMEOUT", "900")  # the CPU is shared with other test runs


def _usage(data_dir: Path) -> list[dict]:
    path = data_dir / "usage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _page(**state: object) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    # Small outputs keep the model calls quick on a shared CPU.
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


def test_url_is_summarised_with_metadata_and_cached(site: FixtureSite, data_dir: Path) -> None:
    at = _page()
    at.text_input(key="sum_url").set_value(site.url("/moved"))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    shown = _texts(at)
    assert "The Lighthouse Keepers of Kestrel Point" in shown
    assert "by Mara Quill" in shown and "2024-03-15" in shown and "Coastal Chronicle" in shown and "words" in shown
    assert f"Final URL after redirects: {site.url('/article.html')}" in shown
    preview = next(e for e in at.main.expander if e.label == "Extracted text")
    assert "Elsie Harrow" in preview.text[0].value  # shown as text, never as HTML
    assert "#### Summary" in shown
    lines = _usage(data_dir)
    assert len(lines) == 1 and lines[0]["page"] == "summarize" and lines[0]["stream"] is True
    summary = next(iter(at.session_state["sum_summaries"].values()))["text"]
    summary = summary.strip()
    assert summary and summary in shown
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


def test_long_page_states_plan_and_runs_map_reduce(site: FixtureSite, data_dir: Path) -> None:
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
    at.file_uploader(key="sum_file").set_value(("report.txt", (FIXTURES / "sample.pdf").read_bytes(), "text/plain"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    assert "'report.txt' is a PDF document, not a text file" in _errors(at)
    assert _usage(data_dir) == []


def test_uploaded_markdown_is_summarised(data_dir: Path) -> None:
    at = _page(sum_source="Upload a file")
    at.file_uploader(key="sum_file").set_value(("notes.md", (FIXTURES / "notes.md").read_bytes(), "text/markdown"))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert "notes.md" in _texts(at)  # the file name stands in for a title
    assert len(_usage(data_dir)) == 1
