"""Access control for a deployed demo, and many processes appending to one usage log."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.auth import AttemptThrottle, password_matches

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")


def test_password_comparison_and_growing_delay() -> None:
    assert password_matches("s3cret-ü", "s3cret-ü")
    assert not password_matches("s3cret", "s3cret-ü") and not password_matches("", "x")
    slept: list[float] = []
    throttle = AttemptThrottle(base_s=0.5, max_s=4)
    for _ in range(5):
        assert not throttle.check("guess", "right", sleep=slept.append)
    assert slept == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert throttle.check("right", "right", sleep=slept.append) and throttle.failures == 0
    assert len(slept) == 5  # no delay after a correct password


def test_password_gate_then_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD", "open-sesame-42")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.text_input(key="auth_password")
    assert not at.chat_input  # the chat page did not run
    # (Direct URLs of the other pages are checked in real Chromium: tests/test_browser_auth.py.)
    at.text_input(key="auth_password").set_value("wrong").run()
    at.button(key="auth_submit").click().run()
    assert "Wrong password" in at.error[0].value and not at.chat_input
    at.text_input(key="auth_password").set_value("open-sesame-42").run()
    at.button(key="auth_submit").click().run()
    assert at.chat_input  # in: the chat page runs
    assert "auth_password" not in at.session_state  # the typed password is not kept


def test_no_password_set_changes_nothing() -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.chat_input
    assert "auth_password" not in at.session_state


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from lib.core.usage_log import UsageRecord, append
    path, worker = Path(sys.argv[2]), int(sys.argv[3])
    for i in range(2000):
        append(path, UsageRecord(page="bench", provider="local", model=f"w{worker}", input_tokens=i,
                                 request_id="x" * (i % 700)))  # varied line lengths, some > PIPE_BUF
    """
)


def test_eight_processes_append_16000_untorn_lines(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT), str(path), str(w)]) for w in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline: no torn last line
    records = [json.loads(line) for line in lines[:-1]]  # raises on any torn/interleaved line
    assert len(records) == 16_000
    for w in range(8):
        mine = [r["input_tokens"] for r in records if r["model"] == f"w{w}"]
        assert mine == list(range(2000))  # each writer's lines complete and in order
    assert len({r["id"] for r in records}) == 16_000
