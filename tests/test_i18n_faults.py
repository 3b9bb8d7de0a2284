"""Errors injected by the fault proxy (tests/fault_proxy.py) between the SDK and the model, shown on the
chat page of a Japanese visitor: each in Japanese with its advice, the message kept for a re-send, and
what arrived of a cut reply kept (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy
from streamlit.testing.v1 import AppTest

from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import ROOT, english_left, ja

PAGE = str(ROOT / "pages" / "chat.py")
LOCAL = "Local (embedded SmolLM2)"


@pytest.fixture
def proxy(fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(fake_model.base_url) as proxy:
        monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", proxy.base_url)
        monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
        monkeypatch.delenv("YOAKE_LANGUAGE", raising=False)
        yield proxy


def _send(proxy: FaultProxy, fault: Fault) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.context = {"locale": "ja-JP"}
    at.run()
    proxy.reset(fault)
    at.chat_input(key="chat_input").set_value("東京の天気を教えてください。").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("fault", "title", "detail"),
    [
        (Fault("status", 429, times=None), "Rate limit or quota reached.", "{provider} is throttling requests (retried automatically). Wait a moment and re-send, or check your quota."),
        (Fault("status", 503, times=None), "{provider} had a server error.", "The server answered {status} (retried automatically). Re-send in a moment."),
        (Fault("malformed_sse"), "The server sent a reply we could not read.", None),
    ],
    ids=["rate-limit", "server-error", "malformed-stream"],
)  # fmt: skip
def test_a_fault_reads_in_japanese_and_keeps_the_message(
    data_dir: Path, proxy: FaultProxy, fault: Fault, title: str, detail: str | None
) -> None:
    at = _send(proxy, fault)
    [error] = at.error
    provider = ja(LOCAL)
    assert ja(title).format(provider=provider) in error.value
    if detail:
        assert ja(detail).format(provider=provider, status=fault.status) in error.value
    assert "Traceback" not in error.value and "rate" not in error.value.lower()
    if fault.mode == "status":  # nothing arrived: the message waits for a re-send
        assert at.button(key="chat_resend").label == ja("↻ Re-send last message")
    assert "東京の天気を教えてください。" in [m.markdown[0].value for m in at.chat_message if m.markdown]
    assert english_left(at) == []


def test_a_reply_cut_mid_stream_is_kept_and_the_failure_is_japanese(data_dir: Path, proxy: FaultProxy) -> None:
    at = _send(proxy, Fault("drop_midstream", after_chunks=4))
    [error] = at.error
    assert (
        ja("Could not reach {provider}.").format(provider=ja(LOCAL)) in error.value
        or ja("The server sent a reply we could not read.") in error.value
    )
    replies = [m for m in at.chat_message if m.name == "assistant"]
    assert replies and replies[-1].markdown and replies[-1].markdown[0].value.strip()  # what arrived stays
    assert english_left(at) == []
