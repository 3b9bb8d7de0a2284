"""Real Chromium walks every page of a running `streamlit run`, uses its main control once against
the fake model, and saves a screenshot of each (CI artifacts: artifacts/screenshots/).
Then the same walk with hostile model output (a model that replies exactly HOSTILE) and a hostile web
page: everything shows as text and no script runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import artifacts_dir, chromium_page, streamlit_app
from fixtures.fixture_site import FixtureSite
from hostile import HOSTILE

from tests.support.hosted_api_sim import HostedAPISim, ServeModel

pytestmark = pytest.mark.browser


def _env(data_dir: Path) -> dict[str, str]:
    # YOAKE_LOCAL_BASE_URL: the test's model. The fixture site is on loopback: summarised as an intranet
    # page, with the setting on.
    return dict(os.environ, YOAKE_DATA_DIR=str(data_dir), YOAKE_FETCH_ALLOW_PRIVATE="1")


def _chat(page, url: str) -> None:
    page.goto(f"{url}/chat")
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(timeout=60_000)
    box.fill("Say hello to the team in one sentence.")
    box.press("Enter")
    page.get_by_text("first token").first.wait_for(timeout=180_000)


def _logprobs(page, url: str) -> None:
    page.goto(f"{url}/logprobs")
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.wait_for(timeout=60_000)
    prompt.fill("Name a colour.")
    prompt.press("Control+Enter")  # commit the text area before clicking
    page.get_by_role("button", name="Run").click()
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=180_000)


def _summarize(page, url: str, target: str) -> None:
    page.goto(f"{url}/summarize")
    box = page.get_by_label("Web page URL")
    box.wait_for(timeout=60_000)
    box.fill(target)
    box.press("Enter")
    page.get_by_role("button", name="Summarise").click()
    page.get_by_text("final pass").first.wait_for(timeout=240_000)  # the caption under a finished summary


def _usage(page, url: str) -> None:
    page.goto(f"{url}/usage")
    page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)


def _settle(page) -> None:
    # Wait until Streamlit has finished the run (no "Running…" widget) before looking.
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def test_walk_every_page_once_with_screenshots(data_dir: Path, fake_model: HostedAPISim) -> None:
    shots = artifacts_dir()
    with FixtureSite() as site, streamlit_app(_env(data_dir)) as (url, _), chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name, action in [
            ("chat", lambda: _chat(page, url)),
            ("logprobs", lambda: _logprobs(page, url)),
            ("summarize", lambda: _summarize(page, url, site.url("/article.html"))),
            ("usage", lambda: _usage(page, url)),
        ]:
            action()
            _settle(page)
            page.screenshot(path=str(shots / f"walk-{name}.png"), full_page=True)
            assert page.get_by_test_id("stException").count() == 0, name
        # The usage page counts the calls the walk just made (chat, logprobs probe + run, summary).
        calls = page.get_by_test_id("stMetric").first.inner_text()
        assert int(calls.split()[-1].replace(",", "")) == len(fake_model.calls()) >= 4
        assert not errors, errors


def test_hostile_model_output_and_web_page_run_no_script(data_dir: Path, serve_model: ServeModel) -> None:
    serve_model(HOSTILE)  # every model call answers exactly HOSTILE
    with FixtureSite() as site, streamlit_app(_env(data_dir)) as (url, _), chromium_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for name, action in [
            ("chat", lambda: _chat(page, url)),
            ("logprobs", lambda: _logprobs(page, url)),
            ("summarize", lambda: _summarize(page, url, site.url("/hostile.html"))),
        ]:
            action()
            _settle(page)
            page.screenshot(path=str(artifacts_dir() / f"hostile-{name}.png"), full_page=True)
            assert page.evaluate("() => window.__pwned") is None, name
            assert page.evaluate("() => document.querySelectorAll('iframe[srcdoc], img[src=\"x\"]').length") == 0, name
            assert (
                page.evaluate(
                    "() => [...document.querySelectorAll('a[href]')].filter(a => a.href.startsWith('javascript:')).length"
                )
                == 0
            ), name
            text = page.locator("main.stMain").first.inner_text()
            # Shown as text: the literal markup is visible to the reader.
            assert "window.__pwned" in text, name
        assert not dialogs
        assert HOSTILE  # (the exact text the model was made to emit)
