"""AppTest round trips of the chat page against the real embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import usage_lines as _usage_lines
from streamlit.testing.v1 import AppTest

from lib.text import md_text

pytestmark = pytest.mark.model  # talks to the embedded model server

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")


def test_chat_round_trip_renders_reply_and_logs_usage(data_dir: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="chat_provider").value == "local"
    at.session_state["chat_temperature"] = 0.0
    at.sidebar.text_input(key="chat_seed").set_value("42")
    at.chat_input(key="chat_input").set_value("What is the capital of France? Answer in one word.").run()
    assert not at.exception

    history = at.session_state["chat_history"]
    assert [m.role for m in history] == ["user", "assistant"]
    reply = history[1].content
    assert reply.strip()
    # The reply is rendered in an assistant chat message, with its usage caption under it.
    rendered = [md.value.strip() for md in at.chat_message[1].markdown]  # markdown drops a trailing newline
    assert reply.strip() in rendered
    captions = " ".join(c.value for c in at.chat_message[1].caption)
    assert md_text("smollm2-135m-instruct") in captions and "free (local)" in captions  # the model id, as text

    lines = _usage_lines(data_dir)
    assert len(lines) == 1
    rec = lines[0]
    assert rec["page"] == "chat" and rec["provider"] == "local" and rec["status"] == "ok"
    assert rec["stream"] is True and rec["usage_estimated"] is False
    assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0
    assert rec["total_tokens"] == rec["input_tokens"] + rec["output_tokens"]
    assert rec["cost_usd"] == 0 and rec["ttft_ms"] > 0 and rec["duration_ms"] >= rec["ttft_ms"]
    assert history[1].meta["output_tokens"] == rec["output_tokens"]
    # No message text reaches the log.
    assert "France" not in (data_dir / "usage.jsonl").read_text()


def test_persona_sets_system_prompt_and_temperature() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="chat_persona").set_value("Linux / DevOps assistant").run()
    assert "DevOps" in at.sidebar.text_area(key="chat_system_prompt").value
    assert at.sidebar.slider(key="chat_temperature").value == 0.2


def test_new_chat_clears_history(data_dir: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.number_input(key="chat_max_tokens").set_value(8)
    at.chat_input(key="chat_input").set_value("Hi").run()
    assert len(at.session_state["chat_history"]) == 2
    at.sidebar.button(key="chat_new").click().run()
    assert at.session_state["chat_history"] == []
    assert not at.chat_message
