"""The chat page under injected faults: a specific message, nothing lost, the SDK's retries, a log row.

The fake model (tests/support/hosted_api_sim.py) answers with the fault each test queues; it records
every request, so the SDK's retries are counted there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.engine.server import free_port
from tests.support.hosted_api_sim import Fault, HostedAPISim, split_pieces

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")
USER_TEXT = "Tell me a short story about a lighthouse."


@pytest.fixture
def fake(fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostedAPISim]:
    monkeypatch.setenv("YOAKE_TIMEOUT", "1")  # the fake answers at once; a stall of 2 s is past it
    yield fake_model


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
        (Fault(429, headers={"Retry-After": "0"}, times=None), "Rate limit", "rate_limit", 3),
        (Fault(500, times=None), "server error", "server_error", 3),
        (Fault(401, "Invalid key", times=None), "API key was rejected", "authentication", 1),
        (Fault(403, "no access to model", times=None), "may not use that model", "permission", 1),
        (Fault(404, "model 'x' not found", times=None), "not found", "not_found", 1),
        (
            Fault(400, "the request exceeds the available context size", times=None),
            "too long for this model",
            "context_length",
            1,
        ),
        (Fault(400, "Unsupported parameter: 'seed'", times=None), "Unsupported parameter", "bad_request", 1),
    ],
)
def test_http_errors_are_specific_keep_the_message_and_are_logged(
    fake: HostedAPISim, data_dir: Path, fault: Fault, expected_text: str, kind: str, attempts: int
) -> None:
    fake.fail(fault)
    at = _send()
    assert expected_text.lower() in _shown_error(at).lower()
    assert "Traceback" not in _shown_error(at)
    # The user's message stays, with no reply, and can be re-sent.
    assert _turns(at) == [("user", USER_TEXT)]
    assert at.button(key="chat_resend")
    # The SDK retried exactly where it should (429/5xx), not on client errors.
    assert len(fake.calls()) == attempts
    rows = _log(data_dir)
    assert len(rows) == 1 and rows[0]["status"] == "error" and rows[0]["error_type"] == kind


def test_transient_503_is_retried_by_the_sdk_and_the_reply_arrives(fake: HostedAPISim, data_dir: Path) -> None:
    fake.fail(Fault(503, times=1))
    at = _send()
    assert not at.error
    assert _turns(at) == [("user", USER_TEXT), ("assistant", fake.expected([{"role": "user", "content": USER_TEXT}], 48))]
    assert len(fake.calls()) == 2
    assert [r["status"] for r in _log(data_dir)] == ["ok"]


def test_dropped_stream_keeps_partial_reply_marked_incomplete(fake: HostedAPISim, data_dir: Path) -> None:
    fake.fail(Fault(drop=4))
    at = _send(max_tokens=200)
    assert "could not reach" in _shown_error(at).lower()
    history = at.session_state["chat_history"]
    assert _turns(at)[0] == ("user", USER_TEXT)
    # Exactly the four pieces that arrived before the cut are kept.
    expected = "".join(split_pieces(fake.expected([{"role": "user", "content": USER_TEXT}]))[:4])
    assert history[1].role == "assistant" and history[1].content == expected and history[1].incomplete is True
    assert any("Incomplete" in c.value for c in at.caption)
    rows = _log(data_dir)
    assert rows[-1]["status"] == "error" and rows[-1]["error_type"] == "connection"
    assert rows[-1]["output_tokens"] >= 1  # what arrived is counted (estimated)


def test_stall_past_read_timeout_shows_timeout(fake: HostedAPISim, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
    fake.fail(Fault(stall_s=2))
    at = _send()
    assert "took too long" in _shown_error(at)
    assert _turns(at) == [("user", USER_TEXT)]
    assert _log(data_dir)[-1]["error_type"] == "timeout"


def test_malformed_events_keep_what_arrived(fake: HostedAPISim, data_dir: Path) -> None:
    fake.fail(Fault(malformed=True))
    at = _send()
    assert "could not read" in _shown_error(at)
    history = at.session_state["chat_history"]
    assert history[1].content == "Partial" and history[1].incomplete is True
    assert _log(data_dir)[-1]["error_type"] == "bad_response"


def test_refused_connection_then_resend_succeeds(fake: HostedAPISim, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "1")
    at = _send()
    assert "could not reach" in _shown_error(at).lower()
    assert _log(data_dir)[-1]["error_type"] == "connection"
    # The server is back: re-send the kept message without retyping it.
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", fake.base_url)
    at.run()
    at.button(key="chat_resend").click().run()
    assert _turns(at) == [("user", USER_TEXT), ("assistant", fake.expected([{"role": "user", "content": USER_TEXT}], 48))]
    assert not at.error
    assert [r["status"] for r in _log(data_dir)] == ["error", "ok"]
