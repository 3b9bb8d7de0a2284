"""AppTest of the chat page with a response format (JSON schema, coloured by confidence) and with tools
(cards, results sent back), in English and Japanese, against fake models."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lib.storage.store import Store
from lib.structured.schema import example
from tests.support.hosted_api_sim import HostedAPISim, echo_reply
from tests.support.i18n import english_left, japanese_left

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")
LOGPROBS_PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "logprobs.py")
FORM_REPLY = '{"氏名": "田中", "人数": 4, "席": "個室", "備考": ""}'


def json_or_echo(body: dict) -> str | list[str]:
    """JSON, one character a token, when a response format is asked for; else the usual fake reply."""
    return list(FORM_REPLY) if body.get("response_format") else echo_reply(body)


def _page(locale: str = "en-US") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.context = {"locale": locale}
    return at.run()


def _texts(at: AppTest) -> str:
    return "\n".join(
        str(e.value) for kind in ("markdown", "caption", "code", "warning", "error", "info") for e in getattr(at, kind)
    )


def test_a_json_schema_reply_is_validated_and_coloured_by_confidence(serve_model, data_dir: Path) -> None:
    sim: HostedAPISim = serve_model(json_or_echo)
    at = _page()
    at.sidebar.radio(key="chat_rf_mode").set_value("json_schema").run()
    at.sidebar.selectbox(key="chat_rf_example").set_value("form").run()
    at.sidebar.button(key="chat_rf_use").click().run()
    assert json.loads(at.sidebar.text_area(key="chat_rf_schema").value) == example("form").schema
    at.chat_input(key="chat_input").set_value("予約をお願いします").run()
    assert not at.exception
    [sent] = sim.calls()
    assert sent["response_format"]["json_schema"]["schema"] == example("form").schema
    assert sent["logprobs"] is True and sent["top_logprobs"] == 5
    reply = at.chat_message[1]
    assert [c.value for c in reply.code] == [FORM_REPLY]
    coloured = "\n".join(m.value for m in reply.markdown)
    for name in ("氏名", "人数", "席", "備考"):
        assert f"**{name}**" in coloured
    assert "-background[田中]" in coloured and "-background[4]" in coloured
    assert any("Valid JSON that matches the schema" in c.value for c in reply.caption)
    [table] = reply.dataframe
    assert list(table.value.iloc[:, 0]) and set(table.value.iloc[:, 0]) == {"/氏名", "/人数", "/席", "/備考"}
    assert reply.get("download_button")  # the CSV
    # kept with the reply: shown again after a reload (a fresh session opening the conversation)
    cid = at.session_state["chat_conversation_id"]
    meta = Store.in_dir(data_dir).get_conversation(cid).messages[1].meta
    assert meta["response_format"]["mode"] == "json_schema" and len(meta["fields"]) == 4


def test_an_invalid_schema_is_not_sent_and_a_text_reply_says_it_is_not_json(serve_model) -> None:
    sim: HostedAPISim = serve_model(echo_reply)
    at = _page()
    at.sidebar.radio(key="chat_rf_mode").set_value("json_schema").run()
    at.sidebar.text_area(key="chat_rf_schema").set_value('{"type": "strin"}').run()
    assert any("At / of the schema" in e.value or "/type" in e.value for e in at.sidebar.error), [
        e.value for e in at.sidebar.error
    ]
    at.chat_input(key="chat_input").set_value("hello").run()
    assert sim.calls() == [] and at.session_state["chat_pending"] == ["hello"]
    at.sidebar.text_area(key="chat_rf_schema").set_value('{"type": "object"}').run()
    assert len(sim.calls()) == 1  # sent once the schema is fixed
    assert any("not valid JSON" in w.value for w in at.chat_message[1].warning)


def test_a_refused_response_format_has_its_own_message(serve_model) -> None:
    serve_model(echo_reply, refuse=("response_format",))
    at = _page()
    at.sidebar.radio(key="chat_rf_mode").set_value("json_object").run()
    at.chat_input(key="chat_input").set_value("hello").run()
    assert any("refused response_format json_object" in e.value for e in at.error)
    assert at.session_state["chat_history"][-1].content == "hello"  # the message stays, to re-send


def test_a_reply_cut_off_mid_json_is_kept_and_says_why(serve_model) -> None:
    serve_model(json_or_echo)
    at = _page()
    at.sidebar.radio(key="chat_rf_mode").set_value("json_object").run()
    at.sidebar.number_input(key="chat_max_tokens").set_value(10).run()
    at.chat_input(key="chat_input").set_value("hello").run()
    reply = at.chat_message[1]
    assert reply.code[0].value == FORM_REPLY[:10]
    assert any("cut off by max tokens in the middle of the JSON" in w.value for w in reply.warning), (
        _texts(at),
        at.session_state["chat_history"][-1],
    )


def _use_tools(at: AppTest, example_key: str = "weather") -> None:
    at.sidebar.toggle(key="chat_tools_on").set_value(True).run()
    at.sidebar.selectbox(key="chat_tools_example").set_value(example_key).run()
    at.sidebar.button(key="chat_tools_use").click().run()


def test_tool_calls_show_as_cards_and_results_continue_the_chat(fake_model: HostedAPISim, data_dir: Path) -> None:
    at = _page()
    _use_tools(at, "booking")
    at.chat_input(key="chat_input").set_value("A-100 [fake tools=parallel]").run()
    assert not at.exception
    [sent] = fake_model.calls()
    assert [t["function"]["name"] for t in sent["tools"]] == ["check_stock", "place_order"] and sent["tool_choice"] == "auto"
    text = _texts(at)
    assert "check_stock" in text and "place_order" in text
    assert "The arguments match the tool's parameters" in text  # check_stock
    assert any("/quantity" in t.value for t in at.text)  # place_order's quantity is not an integer
    form = f"chat_tr_{at.session_state['chat_history'][1].id}"
    at.text_area(key=f"{form}_0_result").input('{"in_stock": 12}')
    at.selectbox(key=f"{form}_1_mock").select('{"order_id": "ORD-0042", "status": "受付済み"}')
    next(b for b in at.button if b.label == "Send tool results").click().run()
    assert not at.exception
    last = fake_model.calls()[-1]["messages"]
    assert [m["role"] for m in last][-4:] == ["user", "assistant", "tool", "tool"]
    assert last[-2]["content"] == '{"in_stock": 12}' and "受付済み" in last[-1]["content"]
    history = at.session_state["chat_history"]
    assert [t.role for t in history] == ["user", "assistant", "tool", "tool", "assistant"]
    assert history[-1].content.startswith("The tool said:")
    usage = [json.loads(line) for line in (data_dir / "usage.jsonl").read_text().splitlines()]
    assert usage[0]["tool_calls"] == 2 and usage[1]["tool_results"] == 2


def test_the_chat_page_with_a_schema_and_tools_in_japanese(serve_model) -> None:
    serve_model(json_or_echo)
    at = _page("ja-JP")
    at.sidebar.radio(key="chat_rf_mode").set_value("json_schema").run()
    at.chat_input(key="chat_input").set_value("連絡先を抜き出して").run()
    assert not at.exception
    assert english_left(at) == []
    at.sidebar.text_area(key="chat_rf_schema").set_value("{").run()
    assert any("スキーマ" in e.value for e in at.sidebar.error)
    assert english_left(at) == []
    at.sidebar.text_area(key="chat_rf_schema").set_value(example("extraction").text())
    at.sidebar.radio(key="chat_rf_mode").set_value("text").run()
    _use_tools(at)
    at.chat_input(key="chat_input").set_value("東京").run()
    assert not at.exception
    assert any("get_weather" in str(m.value) for m in at.markdown)
    assert english_left(at) == []


def test_the_english_page_has_no_japanese_left(serve_model) -> None:
    serve_model(json_or_echo)
    at = _page()
    at.sidebar.radio(key="chat_rf_mode").set_value("json_schema").run()
    _use_tools(at)
    assert japanese_left(at) == []


def test_the_logprobs_explorer_sends_a_response_format_and_shows_field_confidence(serve_model) -> None:
    sim: HostedAPISim = serve_model(json_or_echo)
    for locale in ("en-US", "ja-JP"):
        at = AppTest.from_file(LOGPROBS_PAGE, default_timeout=120)
        at.context = {"locale": locale}
        at.run()
        at.sidebar.radio(key="lp_rf_mode").set_value("json_schema").run()
        at.sidebar.selectbox(key="lp_rf_example").set_value("form").run()
        at.sidebar.button(key="lp_rf_use").click().run()
        at.text_area(key="lp_prompt").set_value("予約").run()
        at.button(key="lp_run_button").click().run()
        assert not at.exception
        assert sim.calls()[-1]["response_format"]["json_schema"]["schema"] == example("form").schema
        coloured = "\n".join(m.value for m in at.markdown)
        assert "**席**" in coloured and "-background[個室]" in coloured
        assert any(set(df.value.iloc[:, 0]) == {"/氏名", "/人数", "/席", "/備考"} for df in at.dataframe)
        if locale == "ja-JP":
            assert english_left(at) == []


def test_the_usage_page_counts_tool_calls_and_results(data_dir: Path) -> None:
    from lib.core import usage_log
    from lib.core.usage_log import UsageRecord

    path = usage_log.usage_path(data_dir)
    usage_log.append(path, UsageRecord(page="chat", provider="local", model="m", input_tokens=5, output_tokens=1, tool_calls=2))
    usage_log.append(path, UsageRecord(page="chat", provider="local", model="m", input_tokens=9, output_tokens=4, tool_results=2))
    usage_log.append(path, UsageRecord(page="chat", provider="local", model="m", input_tokens=3, output_tokens=3))
    for locale, words in (("en-US", "Tool calls made by the models: 2 · tool results sent back: 2"), ("ja-JP", "ツール")):
        at = AppTest.from_file(str(Path(PAGE).with_name("usage.py")), default_timeout=120)
        at.context = {"locale": locale}
        at.run()
        assert not at.exception
        assert any(words in c.value for c in at.caption), [c.value for c in at.caption]
        if locale == "ja-JP":
            assert english_left(at) == []


def test_a_compare_column_shows_its_schema_valid_rate_and_mean_field_confidence(serve_model, data_dir: Path) -> None:
    from lib.compare import load_run
    from lib.structured.request import ColumnFigures

    def reply(body: dict) -> list[str]:  # seed 7 answers by the schema, seed 8 does not
        return list(FORM_REPLY) if body.get("seed") == 7 else list('{"氏名": 1}')

    sim: HostedAPISim = serve_model(reply)
    for locale in ("en-US", "ja-JP"):
        at = AppTest.from_file(str(Path(PAGE).parents[1] / "streamlit_app.py"), default_timeout=600)
        at.context = {"locale": locale}
        at.run()
        at.switch_page("pages/compare.py").run()
        at.text_area(key="cmp_prompt").set_value("予約")
        at.text_input(key="cmp_temperatures").set_value("0")
        at.text_input(key="cmp_seed").set_value("7")
        at.number_input(key="cmp_samples").set_value(2)
        at.sidebar.number_input(key="cmp_max_tokens").set_value(64)
        at.sidebar.radio(key="cmp_rf_mode").set_value("json_schema").run()
        at.sidebar.selectbox(key="cmp_rf_example").set_value("form").run()
        at.sidebar.button(key="cmp_rf_use").click().run()
        at.button(key="cmp_run").click().run()
        assert not at.exception, at.exception
        assert sim.calls()[-1]["response_format"]["json_schema"]["schema"] == example("form").schema
        record = load_run(Store.in_dir(data_dir), at.session_state["cmp_view_id"])
        assert [r.schema_valid for r in record.results] == [True, False]
        figures = ColumnFigures.of([(r.schema_valid, r.field_confidence) for r in record.results])
        assert figures.valid_rate == 0.5 and figures.mean_confidence == record.results[0].field_confidence
        captions = "\n".join(c.value for c in at.main.caption)
        if locale == "en-US":
            # one column a sample: the first answered by the schema, the second not
            assert "100% schema-valid · mean field confidence" in captions and "0% schema-valid\n" in captions, captions
        else:
            assert english_left(at) == []
