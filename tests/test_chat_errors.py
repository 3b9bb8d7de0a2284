"""The chat page under injected faults: a specific message, nothing lost, the SDK's retries, a log row.

A fault proxy of our own sits on loopback between the app's client and the real embedded server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy
from streamlit.testing.v1 import AppTest

from lib.local_server import free_port

pytestmark = pytest.mark.model  # talks to the embedded model server

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")
USER_TEXT = "Tell me a short story about a lighthouse."


@pytest.fixture
def proxy(local_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(local_server.url) as px:
        monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", px.base_url)
        monkeypatch.setenv("YOAKE_TIMEOUT", "8")  # a stall of 12 s is past it
        yield px


def _log(data_dir: Path) -> list[dict]:
    path = data_dir / "usage.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _send(max_tokens: int = 48) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.number_input(key="chat_max_tokens").set_value(max_tokens)
    at.chat_input(key="chat_input").set_value(USER_TEXT).run()
    assert not at.exception, at.exception
    return at


def _turns(at: AppTest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in at.session_state["chat_history"]]


def _shown_error(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


@pytest.mark.parametrize(
    ("fault", "expected_text", "kind", "attempts"),
    [
        (Fault("status", 429, headers={"Retry-After": "0"}), "Rate limit", "rate_limit", 3),
        (Fault("status", 500), "server error", "server_error", 3),
        (Fault("status", 401, body={"error": {"message": "Invalid key"}}), "API key was rejected", "authentication", 1),
        (Fault("status", 403, body={"error": {"message": "no access to model"}}), "may not use that model", "permission", 1),
        (Fault("status", 404, body={"error": {"message": "model 'x' not found"}}), "not found", "not_found", 1),
        (
            Fault("status", 400, body={"error": {"message": "the request exceeds the available context size"}}),
            "too long for this model",
            "context_length",
            1,
        ),
        (
            Fault("status", 400, body={"error": {"message": "Unsupported parameter: 'seed'"}}),
            "Unsupported parameter",
            "bad_request",
            1,
        ),
    ],
)
def test_http_errors_are_specific_keep_the_message_and_are_logged(
    proxy: FaultProxy, data_dir: Path, fault: Fault, expected_text: str, kind: str, attempts: int
) -> None:
    proxy.reset(fault)
    at = _send()
    assert expected_text.lower() in _shown_error(at).lower()
    assert "Traceback" not in _shown_error(at)
    # The user's message stays, with no reply, and can be re-sent.
    assert _turns(at) == [("user", USER_TEXT)]
    assert at.button(key="chat_resend")
    # The SDK retried exactly where it should (429/5xx), not on client errors.
    assert proxy.count() == attempts
    rows = _log(data_dir)
    assert len(rows) == 1 and rows[0]["status"] == "error" and rows[0]["error_type"] == kind


def test_transient_503_is_retried_by_the_sdk_and_the_reply_arrives(proxy: FaultProxy, data_dir: Path) -> None:
    proxy.reset(Fault("status", 503, times=1))
    at = _send()
    assert not at.error
    assert [m.role for m in at.session_state["chat_history"]] == ["user", "assistant"]
    assert proxy.count() == 2
    assert [r["status"] for r in _log(data_dir)] == ["ok"]


def test_dropped_stream_keeps_partial_reply_marked_incomplete(proxy: FaultProxy, data_dir: Path) -> None:
    proxy.reset(Fault("drop_midstream", after_chunks=4))
    at = _send(max_tokens=200)
    assert "could not reach" in _shown_error(at).lower()
    history = at.session_state["chat_history"]
    assert _turns(at)[0] == ("user", USER_TEXT)
    assert history[1].role == "assistant" and history[1].content and history[1].incomplete is True
    assert any("Incomplete" in c.value for c in at.caption)
    rows = _log(data_dir)
    assert rows[-1]["status"] == "error" and rows[-1]["error_type"] == "connection"
    assert rows[-1]["output_tokens"] >= 1  # what arrived is counted (estimated)


def test_stall_past_read_timeout_shows_timeout(proxy: FaultProxy, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
    proxy.reset(Fault("stall", stall_s=12))
    at = _send()
    assert "took too long" in _shown_error(at)
    assert _turns(at) == [("user", USER_TEXT)]
    assert _log(data_dir)[-1]["error_type"] == "timeout"


def test_malformed_events_keep_what_arrived(proxy: FaultProxy, data_dir: Path) -> None:
    proxy.reset(Fault("malformed_sse"))
    at = _send()
    assert "could not read" in _shown_error(at)
    history = at.session_state["chat_history"]
    assert history[1].content == "Partial" and history[1].incomplete is True
    assert _log(data_dir)[-1]["error_type"] == "bad_response"


def test_refused_connection_then_resend_succeeds(proxy: FaultProxy, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "1")
    at = _send()
    assert "could not reach" in _shown_error(at).lower()
    assert _log(data_dir)[-1]["error_type"] == "connection"
    # The server is back: re-send the kept message without retyping it.
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", proxy.base_url)
    at.run()
    at.button(key="chat_resend").click().run()
    history = at.session_state["chat_history"]
    assert [m.role for m in history] == ["user", "assistant"] and history[0].content == USER_TEXT
    assert not at.error
    assert [r["status"] for r in _log(data_dir)] == ["error", "ok"]
