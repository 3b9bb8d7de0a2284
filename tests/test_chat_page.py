"""AppTest round trips of the chat page against the fake model (deterministic replies, tests/support/)."""

from __future__ import annotations

from pathlib import Path

from helpers import usage_lines as _usage_lines
from streamlit.string_util import clean_text
from streamlit.testing.v1 import AppTest

from lib.core.text import md_text
from tests.support.hosted_api_sim import HostedAPISim, split_pieces

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")


def test_chat_round_trip_renders_reply_and_logs_usage(data_dir: Path, fake_model: HostedAPISim) -> None:
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
    [sent] = fake_model.calls()
    assert sent["temperature"] == 0.0 and sent["seed"] == 42 and sent["stream"] is True
    assert sent["messages"][-1] == {"role": "user", "content": "What is the capital of France? Answer in one word."}
    reply = history[1].content
    assert reply == fake_model.reply_to(sent)  # every streamed piece, whitespace and all
    # The reply is rendered in an assistant chat message as st.markdown shows text, with its usage caption under it.
    assert [md.value for md in at.chat_message[1].markdown] == [clean_text(reply)]
    captions = " ".join(c.value for c in at.chat_message[1].caption)
    assert md_text("smollm2-135m-instruct") in captions and "free (local)" in captions  # the model id, as text

    lines = _usage_lines(data_dir)
    assert len(lines) == 1
    rec = lines[0]
    assert rec["page"] == "chat" and rec["provider"] == "local" and rec["status"] == "ok"
    assert rec["stream"] is True and rec["usage_estimated"] is False
    assert rec["input_tokens"] > 0 and rec["output_tokens"] == len(split_pieces(reply))  # the usage the fake reported
    assert rec["total_tokens"] == rec["input_tokens"] + rec["output_tokens"]
    assert rec["cost_usd"] == 0 and rec["ttft_ms"] > 0 and rec["duration_ms"] >= rec["ttft_ms"]
    assert history[1].meta["output_tokens"] == rec["output_tokens"]
    # No message text reaches the log.
    assert "France" not in (data_dir / "usage.jsonl").read_text()


def test_persona_sets_system_prompt_and_temperature(fake_model: HostedAPISim) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="chat_persona").set_value("Linux / DevOps assistant").run()
    assert "DevOps" in at.sidebar.text_area(key="chat_system_prompt").value
    assert at.sidebar.slider(key="chat_temperature").value == 0.2
    at.chat_input(key="chat_input").set_value("Hi").run()
    [sent] = fake_model.calls()  # and the request carries them
    assert sent["temperature"] == 0.2 and sent["messages"][0]["role"] == "system" and "DevOps" in sent["messages"][0]["content"]


def test_new_chat_clears_history(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.number_input(key="chat_max_tokens").set_value(8)
    at.chat_input(key="chat_input").set_value("Hi").run()
    assert len(at.session_state["chat_history"]) == 2
    assert at.session_state["chat_history"][1].content == fake_model.expected([{"role": "user", "content": "Hi"}], 8)
    at.sidebar.button(key="chat_new").click().run()
    assert at.session_state["chat_history"] == []
    assert not at.chat_message
