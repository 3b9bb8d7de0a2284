"""Real Chromium against `streamlit run`: a browser reload brings the conversation back (from the
URL's `?c=`), and after the app process is SIGKILLed mid-reply and started again, the link shows
the partial reply marked incomplete."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from browser import artifacts_dir, chromium_page, streamlit_app

from tests.support.hosted_api_sim import ServeModel

pytestmark = pytest.mark.browser


def _href(page) -> str:
    return page.evaluate("document.location.href")  # the live URL, after the app's pushState


def _wait(predicate, timeout: float = 180, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_reload_and_app_kill_mid_reply_keep_the_conversation(data_dir: Path, serve_model: ServeModel) -> None:
    serve_model(tokens_per_s=25)  # paced: the second reply is still streaming when the app is killed
    env = dict(os.environ)  # YOAKE_LOCAL_BASE_URL: that model, which outlives the app
    env["YOAKE_DATA_DIR"] = str(data_dir)
    with chromium_page() as page:
        with streamlit_app(env) as (url, proc):
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=120_000)
            box.fill("Say hello in one short sentence.")
            box.press("Enter")
            messages = page.get_by_test_id("stChatMessage")
            _wait(lambda: messages.count() >= 2 and "first token" in messages.nth(1).inner_text(), what="the reply")
            _wait(lambda: "c=" in _href(page), what="?c= in the URL")
            reply = messages.nth(1).inner_text()

            page.reload()  # a new Streamlit session: only the URL remains
            page.get_by_test_id("stChatInputTextArea").wait_for(timeout=120_000)
            _wait(lambda: page.get_by_test_id("stChatMessage").count() >= 2, what="the restored messages")
            restored = page.get_by_test_id("stChatMessage")
            assert "Say hello in one short sentence." in restored.nth(0).inner_text()
            assert restored.nth(1).inner_text() == reply

            # A second conversation, and the app is killed while the reply streams.
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=120_000)
            box.fill("Write a long, detailed story about a dragon who lives in a lighthouse. [fake count=400]")
            box.press("Enter")
            messages = page.get_by_test_id("stChatMessage")
            _wait(lambda: "c=" in _href(page), what="?c= in the URL")
            link = _href(page)
            _wait(
                lambda: messages.count() >= 2 and len(messages.nth(1).inner_text().strip()) >= 60,
                what="a partial reply on screen",
            )
            seen = messages.nth(1).inner_text()
            assert "first token" not in seen, "the reply finished before the kill: nothing was tested"
            time.sleep(1.0)  # > the 0.5 s flush interval: what was on screen is on disk
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

        with streamlit_app(env) as (url, _proc):
            page.goto(f"{url}/?{link.split('?', 1)[1]}")  # same link; the restarted app has a new port
            _wait(lambda: page.get_by_test_id("stChatMessage").count() >= 2, what="the conversation after the kill")
            after = page.get_by_test_id("stChatMessage")
            text = after.nth(1).inner_text()
            page.screenshot(path=str(artifacts_dir() / "chat_after_kill.png"), full_page=True)
            assert "Incomplete" in text
            assert " ".join(seen.split())[:50] in " ".join(text.split())  # what was on screen survived
