"""Real Chromium against `streamlit run` (issue 28): several visitors at once against an engine the
app starts itself (killed and restarted once for all of them, and gone when the app stops), and the
impatient presenter who types while the reply streams (a reply seen part-way, then stopped). Nothing here
depends on which words the model generates."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from browser import alive, artifacts_dir, chromium_browser, chromium_page, engine_children, streamlit_app
from fault_proxy import Fault, FaultProxy

from lib.conversation.service import Turn
from lib.storage.store import Store

VISITORS = 4  # what a 2-core CI machine bears beside the app and its engine
MESSAGES = 1  # each visitor's on the engine the first visit started (then one more each, after its kill)
REPLY_TOKENS = 24


def _wait(predicate, timeout: float = 900, what: str = "condition") -> None:  # (a loaded 2-core CI: slow replies)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.03)


def _send(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def _cap_replies(page) -> None:
    """Max tokens in the sidebar: the test's length does not depend on how long the model likes to talk
    (SmolLM2 once answered "Say hello." with 506 tokens, 88 s beside three other visitors)."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("More parameters").click()
    sidebar.get_by_label("Max tokens").fill(str(REPLY_TOKENS))
    sidebar.get_by_label("Max tokens").press("Enter")


def _bubbles(page) -> list[tuple[str, str]]:
    """(role, text) of each chat bubble on the page, in order."""
    out = []
    for bubble in page.get_by_test_id("stChatMessage").all():
        role = "user" if bubble.get_by_test_id("stChatMessageAvatarUser").count() else "assistant"
        out.append((role, " ".join(bubble.inner_text().split())))
    return out


def _finished(page, replies: int) -> bool:
    """`replies` replies shown, the last one complete (its caption shows the call's figures)."""
    shown = _bubbles(page)
    return sum(r == "assistant" for r, _ in shown) >= replies and shown[-1][0] == "assistant" and "first token" in shown[-1][1]


def _errors(page) -> list[str]:
    return [e.inner_text() for e in page.get_by_test_id("stAlertContainer").all() if "⚠️" in e.inner_text()]


def _conversation_id(page) -> str:
    href = page.evaluate("document.location.href")
    assert "c=" in href, href
    return href.split("c=", 1)[1].split("&", 1)[0]


def _stored(data_dir: Path, cid: str) -> list[Turn]:
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv is not None
    return [Turn.from_stored(m) for m in conv.messages]


def _agree(page, turns: list[Turn]) -> None:
    """The page shows the stored turns, in the store's order, each with its text."""
    shown = _bubbles(page)
    assert [r for r, _ in shown] == [t.role for t in turns], (shown, turns)
    for (_, text), turn in zip(shown, turns, strict=True):  # as markdown shows it: words, not markup
        assert " ".join(_words(turn.content)) in " ".join(_words(text))


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


@pytest.mark.browser
@pytest.mark.model
def test_several_visitors_at_once_on_a_fresh_engine_are_all_answered_in_order(data_dir: Path) -> None:
    env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir))
    env.pop("YOAKE_LOCAL_BASE_URL")  # the app starts its own engine, as on a fresh laptop or demo host
    with streamlit_app(env) as (url, proc), chromium_browser() as browser:
        # The app's code loaded first (the usage page calls no model), so the visitors' first runs
        # overlap the engine's start rather than a slow first import.
        warm = browser.new_page()
        warm.goto(f"{url}/usage")
        warm.get_by_test_id("stMain").get_by_text("Usage").first.wait_for(timeout=120_000)
        warm.close()
        pages = [browser.new_context().new_page() for _ in range(VISITORS)]
        for page in pages:  # all within a moment, before the engine has started
            page.goto(url, wait_until="commit")
        waiting = list(pages)
        deadline = time.monotonic() + 180
        while waiting:  # each sends the moment its chat box shows: while the engine may still be starting
            assert time.monotonic() < deadline, "a chat box never showed"
            for page in list(waiting):
                if page.get_by_test_id("stChatInputTextArea").count():
                    _cap_replies(page)
                    _send(page, "Say hello.")
                    waiting.remove(page)
            time.sleep(0.02)
        for n in range(1, MESSAGES + 1):
            for page in pages:
                _wait(lambda page=page, n=n: _finished(page, n) or _errors(page), what=f"reply {n}")
                assert not _errors(page)
                if n < MESSAGES:
                    _send(page, "Thank you. Now say goodbye.")

        # The engine dies (an out-of-memory kill) and every visitor sends at once: one session
        # restarts it, the others wait for that start rather than call a port nothing listens on.
        (engine,) = engine_children(proc.pid)
        os.kill(engine, signal.SIGKILL)
        _wait(lambda: not alive(engine), what="the engine's death")
        for page in pages:
            _send(page, "One more thing: say hello again.")
        for page in pages:
            _wait(lambda page=page: _finished(page, MESSAGES + 1) or _errors(page), what="the reply after the restart")
            assert not _errors(page)
        engines = engine_children(proc.pid)
        assert len(engines) == 1 and engines[0] != engine, "one engine restarted for every visitor"
        pages[0].screenshot(path=str(artifacts_dir() / "chat_visitors.png"), full_page=True)
        for page in pages:
            turns = _stored(data_dir, _conversation_id(page))
            assert [t.role for t in turns] == ["user", "assistant"] * (MESSAGES + 1)
            assert not any(t.incomplete for t in turns)
            _agree(page, turns)
    # Streamlit stopped (SIGTERM): its engine went with it.
    _wait(lambda: not alive(engines[0]), timeout=10, what="the engine to end with the app")
    log = [json.loads(line) for line in (data_dir / "usage.jsonl").read_text().splitlines()]
    assert len(log) == VISITORS * (MESSAGES + 1) and {r["status"] for r in log} == {"ok"}
    assert {r["max_tokens"] for r in log} == {REPLY_TOKENS}


@pytest.mark.browser
@pytest.mark.model
def test_a_message_typed_while_the_reply_streams_stops_it_in_place(local_server, data_dir: Path) -> None:
    with FaultProxy(local_server.url) as proxy:
        # The replies to be stopped run to max_tokens (llama.cpp's ignore_eos): the model may answer "a long
        # story" in one line, and a reply that ended on its own cannot be stopped (the browser shows it late).
        # The others are capped, so the test's length does not depend on how long the model likes to talk
        # (an uncapped "Shorter, please." can run to 512 tokens: 50 s on a busy 2-core machine).
        proxy.fault = Fault(mode="inject", body={"ignore_eos": True}, last_message="Write a long", other_body={"max_tokens": 32})
        env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir), YOAKE_LOCAL_BASE_URL=proxy.base_url)
        with streamlit_app(env) as (url, _proc), chromium_page() as page:
            page.goto(url)
            page.get_by_test_id("stChatInputTextArea").wait_for(timeout=120_000)
            messages = page.get_by_test_id("stChatMessage")

            # The worst moment: the second message the instant the first reply's bubble appears.
            _send(page, "Write a long, detailed story about a dragon who lives in a lighthouse.")
            _wait(lambda: messages.count() >= 2, what="the reply's bubble")
            _send(page, "Now tell it in one sentence.")
            _wait(lambda: _finished(page, 2), what="the second reply")

            # And mid-stream: text is on screen, the reply not finished.
            _send(page, "Write a long poem about the sea, with many verses.")
            _wait(lambda: messages.count() >= 6 and len(messages.nth(5).inner_text().strip()) >= 40, what="a partial reply")
            assert "first token" not in messages.nth(5).inner_text(), "the reply ended first: nothing was tested"
            _send(page, "Shorter, please.")
            _wait(lambda: _finished(page, 4), what="the fourth reply")
            page.screenshot(path=str(artifacts_dir() / "chat_typed_mid_reply.png"), full_page=True)

            turns = _stored(data_dir, _conversation_id(page))
            assert [t.role for t in turns] == ["user", "assistant"] * 4
            assert [t.stopped for t in turns] == [False, True, False, False, False, True, False, False]
            assert turns[5].content.strip() and turns[1].incomplete and turns[5].incomplete
            assert all(0 < (t.meta or {}).get("output_tokens", 0) <= 32 for t in (turns[3], turns[7])), "the proxy's cap"
            _agree(page, turns)
            shown = _bubbles(page)
            assert "Stopped" in shown[1][1] and "Stopped" in shown[5][1]

        # Each question went to the model with the stopped reply before it in its history.
        # (the proxy records an exchange once its response has ended: stopped ones may be missing)
        sent = [json.loads(body)["messages"] for path, body, _ in proxy.exchanges if "/chat/completions" in path]
        asked = {messages[-1]["content"]: messages for messages in sent}
        second, fourth = asked["Now tell it in one sentence."], asked["Shorter, please."]
        assert [m["role"] for m in second if m["role"] != "system"] == ["user", "assistant", "user"]
        assert [m["role"] for m in fourth if m["role"] != "system"] == ["user", "assistant"] * 3 + ["user"]
        assert fourth[-2]["content"] == turns[5].content
