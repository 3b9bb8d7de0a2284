"""lib/structured: response formats and schemas, per-field confidence, tool calls through the fake model,
the user's results sent back as `tool` messages, and the conversation's export/import round trip."""

from __future__ import annotations

import json
import math

import openai
import pytest
from openai.types.chat import ChatCompletionTokenLogprob
from openai.types.chat.chat_completion_token_logprob import TopLogprob

from lib.conversation.io import export_json, export_markdown, parse_import
from lib.conversation.service import ChatSettings, ConversationService, Target, Turn
from lib.core.i18n import render
from lib.llm.chat import CallContext, ChatParams
from lib.llm.providers import PROVIDERS
from lib.logprobs import build_table
from lib.storage.store import Store
from lib.structured import confidence, schema, tools
from lib.structured.request import StructuredRequest, look, refusal
from lib.structured.schema import Mode, ResponseFormat, SchemaInvalid
from tests.support.hosted_api_sim import HostedAPISim

# --- schemas ----------------------------------------------------------------------------------------


def test_a_schema_is_checked_before_sending() -> None:
    with pytest.raises(SchemaInvalid, match="not valid JSON") as bad_json:
        schema.load_schema('{"type": "object",')
    assert "行" in render(bad_json.value.detail, "ja")
    with pytest.raises(SchemaInvalid, match=r"At /properties/age/type of the schema: 'integr' is not valid") as meta:
        schema.load_schema('{"type": "object", "properties": {"age": {"type": "integr"}}}')
    assert "スキーマ" in render(meta.value.detail, "ja")
    with pytest.raises(SchemaInvalid, match="empty"):
        schema.load_schema("  ")
    with pytest.raises(SchemaInvalid, match="must be an object"):
        schema.load_schema("[1]")
    for ex in schema.EXAMPLES:
        assert schema.load_schema(ex.text()) == ex.schema


def test_response_format_request_fields() -> None:
    assert ResponseFormat().request() is None and ResponseFormat().kwargs() == {}
    assert ResponseFormat(Mode.JSON_OBJECT).request() == {"type": "json_object"}
    s = schema.example("form").schema
    assert ResponseFormat(Mode.JSON_SCHEMA, s, "booking").request() == {
        "type": "json_schema",
        "json_schema": {"name": "booking", "schema": s, "strict": True},
    }
    assert "strict" not in ResponseFormat(Mode.JSON_SCHEMA, s, strict=False).request()["json_schema"]
    assert ResponseFormat.from_dict(ResponseFormat(Mode.JSON_SCHEMA, s).as_dict()) == ResponseFormat(Mode.JSON_SCHEMA, s)
    assert ResponseFormat.from_dict({"mode": "xml"}).mode is Mode.TEXT


def test_a_reply_is_parsed_and_validated_with_the_place_it_breaks() -> None:
    s = schema.example("classification").schema
    good = schema.parse_reply('{"category": "bug", "urgency": 3, "summary": "crash"}', s)
    assert good.valid and good.headline is None
    bad = schema.parse_reply('{"category": "spam", "urgency": 9, "summary": "x"}', s)
    assert not bad.valid and [p.pointer for p in bad.problems] == ["/category", "/urgency"]
    assert "'spam' is not one of" in bad.problems[0].complaint
    assert str(bad.problems[1].message).startswith("At /urgency: 9 is greater than the maximum of 5")
    assert "2" in render(bad.headline, "ja")
    fenced = schema.parse_reply('```json\n{"category": "bug", "urgency": 1, "summary": ""}\n```', s)
    assert fenced.valid
    cut = schema.parse_reply('{"category": "bug", "urg', s, finish_reason="length")
    assert not cut.parsed and cut.truncated and "max tokens" in cut.headline and cut.text == '{"category": "bug", "urg'
    assert "max tokens" in render(cut.headline, "ja")  # the setting's name stays
    broken = schema.parse_reply("not json", s)
    assert "not valid JSON" in broken.headline and "JSON" in render(broken.headline, "ja")
    assert schema.pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"


# --- per-field confidence ----------------------------------------------------------------------------


def _table(pieces: list[bytes], probs: list[float] | None = None):
    probs = probs or [0.9] * len(pieces)
    content = []
    for raw, p in zip(pieces, probs, strict=True):
        token = raw.decode("utf-8", "replace")
        alts = [TopLogprob(token=token, logprob=math.log(p), bytes=list(raw)),
                TopLogprob(token=" alt", logprob=math.log((1 - p) / 2), bytes=list(b" alt"))]  # fmt: skip
        content.append(ChatCompletionTokenLogprob(token=token, logprob=math.log(p), bytes=list(raw), top_logprobs=alts))
    return build_table(content, 5)


def test_leaves_are_located_by_character_offsets() -> None:
    text = '{"a": [1, -2.5e3, true, null], "b\\"": {"c": "x\\ny", "d": ""}, "東": "京都"}'
    found = confidence.leaves(text)
    assert [(leaf.pointer, leaf.value) for leaf in found] == [
        ("/a/0", 1), ("/a/1", -2500.0), ("/a/2", True), ("/a/3", None),
        ('/b"/c', "x\ny"), ('/b"/d', ""), ("/東", "京都"),
    ]  # fmt: skip
    assert [text[leaf.start : leaf.end] for leaf in found] == ["1", "-2.5e3", "true", "null", "x\\ny", "", "京都"]
    with pytest.raises(ValueError):
        confidence.leaves('{"a": 1} x')


def test_field_tokens_join_back_to_the_value_even_when_a_character_is_split() -> None:
    # 東京 = e6 9d b1 e4 ba ac: split mid-character on both sides, and a token shared with the quote
    text = '{"city": "東京", "n": 42}'
    raw = text.encode()
    cut_at = [0, 9, 11, 13, 15, 17, len(raw) - 3, len(raw)]
    pieces = [raw[a:b] for a, b in zip(cut_at, cut_at[1:], strict=False)]
    probs = [0.99, 0.5, 0.8, 0.9, 0.7, 0.95, 0.6][: len(pieces)]
    table = _table(pieces, probs)
    fields = confidence.field_confidence(table, text)
    assert fields is not None
    city, n = fields
    assert city.pointer == "/city" and city.value == "東京" and city.token_text == "東京" == city.text
    assert n.value == 42 and n.token_text == "42"
    expected = math.prod(probs[i] for i in city.tokens)
    assert city.joint_prob == pytest.approx(expected)
    assert city.min_prob == pytest.approx(min(probs[i] for i in city.tokens))
    assert city.alternatives == [("␣alt", pytest.approx((1 - city.min_prob) / 2))]
    rows = list(confidence.rows(fields))
    assert rows[0]["joint_probability"] <= rows[1]["joint_probability"]
    csv_text = confidence.export_csv(fields)
    assert csv_text.splitlines()[0] == ",".join(confidence.CSV_COLUMNS) and "東京" in csv_text
    assert confidence.mean_confidence(fields) == pytest.approx((city.joint_prob + n.joint_prob) / 2)
    # tokens that do not spell the text: no honest mapping
    assert confidence.field_confidence(table, text.replace("42", "43")) is None


def test_field_confidence_of_a_long_reply_is_fast_enough_to_build() -> None:
    doc = {"items": [{"name": f"品目{i}", "qty": i, "ok": i % 2 == 0} for i in range(150)]}
    text = json.dumps(doc, ensure_ascii=False)
    raw = text.encode()
    pieces = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    fields = confidence.field_confidence(_table(pieces), text)
    assert fields is not None and len(fields) == 450
    assert all(f.token_text == f.text for f in fields)


# --- tools ----------------------------------------------------------------------------------------------


def test_tool_definitions_are_checked() -> None:
    for ex in tools.TOOL_EXAMPLES:
        defs = tools.load_tools(ex.text())
        assert [t.request() for t in defs] == ex.tools
    bare = tools.load_tools('[{"name": "ping", "parameters": {"type": "object"}}]')
    assert bare[0].request() == {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}
    assert tools.load_tools("") == []
    for text, needle in [
        ("[", "not valid JSON"),
        ('[{"name": "bad name"}]', "letters, digits"),
        ('[{"name": "a"}, {"name": "a"}]', "Two tools"),
        ('[{"name": "a", "parameters": {"type": 5}}]', "at /type of its parameters"),
        ("5", "JSON list"),
    ]:
        with pytest.raises(tools.ToolsInvalid, match=needle) as info:
            tools.load_tools(text)
        assert render(info.value.detail, "ja") != str(info.value.detail)
    assert tools.tool_choice("get_weather", bare) == "auto"
    assert tools.tool_choice("ping", bare) == {"type": "function", "function": {"name": "ping"}}
    assert tools.template_supports_tools("{% if tools %}...{% endif %}") is True
    assert tools.template_supports_tools("{{ bos_token }}{% for m in messages %}") is False
    assert tools.template_supports_tools(None) is None
    assert tools.mock_results("get_weather")


def test_tool_call_arguments_are_validated() -> None:
    defs = tools.load_tools(tools.TOOL_EXAMPLES[0].text())
    ok = tools.check_call({"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "東京"}'}}, defs)
    assert ok.valid and ok.value == {"city": "東京"}
    bad = tools.check_call({"id": "c2", "function": {"name": "get_weather", "arguments": '{"unit": "kelvin"}'}}, defs)
    assert [p.pointer for p in bad.problems] == ["", "/unit"]
    malformed = tools.check_call({"id": "c3", "function": {"name": "get_weather", "arguments": '{"city": "東'}}, defs)
    assert not malformed.valid and "not valid JSON" in malformed.error and malformed.arguments == '{"city": "東'
    assert "JSON" in render(malformed.error, "ja")
    unknown = tools.check_call({"id": "c4", "function": {"name": "nope", "arguments": "{}"}}, defs)
    assert "not among the tools" in unknown.error
    assert tools.result_message("c1", "18度") == {"role": "tool", "tool_call_id": "c1", "content": "18度"}


# --- through the fake model -----------------------------------------------------------------------


@pytest.fixture
def chat(fake_model: HostedAPISim, data_dir):
    store = Store.in_dir(data_dir)
    service = ConversationService(store)
    provider = PROVIDERS["custom"]
    client = openai.OpenAI(base_url=fake_model.base_url, api_key="sim", max_retries=0)
    target = Target(provider, fake_model.base_url, client, CallContext("chat", "custom", False, data_dir / "usage.jsonl"))
    return store, service, target, fake_model


def _send(service, store, target, turns, request: StructuredRequest, cid=None):
    cid = service.ensure_saved(cid, turns, ChatSettings())
    reply = service.reply(cid, turns, ChatParams(model="m"), target, system_prompt=None, extra=request.kwargs())
    list(reply)
    return cid, reply, reply.finish()


def test_single_and_parallel_tool_calls_and_results_sent_back(chat) -> None:
    store, service, target, sim = chat
    defs = tools.load_tools(tools.TOOL_EXAMPLES[1].text())
    request = StructuredRequest(tools=defs)
    turns = [Turn("user", "A-100")]
    cid, reply, turn = _send(service, store, target, turns, request)
    assert turn is not None and turn.content == "" and len(turn.tool_calls) == 1
    looked = look(reply.result, request)
    assert [c.name for c in looked.calls] == ["check_stock"] and looked.calls[0].value == {"sku": "A-100"}
    assert sim.calls()[-1]["tool_choice"] == "auto" and len(sim.calls()[-1]["tools"]) == 2

    # parallel: both tools called at once, streamed in pieces
    turns = [Turn("user", "A-100 [fake tools=parallel]")]
    cid, reply, turn = _send(service, store, target, turns, request)
    calls = look(reply.result, request).calls
    assert [c.name for c in calls] == ["check_stock", "place_order"]
    assert calls[0].valid and not calls[1].valid  # quantity must be an integer: the fake wrote text
    assert [p.pointer for p in calls[1].problems] == ["/quantity"]
    turns.append(turn)
    for call in calls:
        turns.append(Turn.tool_result(call.id, call.name, '{"ok": true}'))
    cid, reply, final = _send(service, store, target, turns, request, cid)
    sent = sim.calls()[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["tool_calls"][1]["function"]["name"] == "place_order" and sent[1]["content"] is None
    assert sent[2] == {"role": "tool", "tool_call_id": calls[0].id, "content": '{"ok": true}'}
    assert final is not None and final.content == 'The tool said: {"ok": true}'

    # the conversation reloads with its calls and results, and survives export/import
    conv = store.get_conversation(cid)
    exported = json.loads(export_json(conv))
    roles = [m["role"] for m in exported["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    assert exported["messages"][1]["tool_calls"] == turn.tool_calls
    markdown = export_markdown(conv, "ja")
    assert "## 🔧 ツールの結果" in markdown and "ツール呼び出し `place_order`：" in markdown and '"quantity"' in markdown
    again = parse_import(json.dumps(exported).encode())
    new_id = store.import_conversation(again)
    back = store.get_conversation(new_id)
    assert [Turn.from_stored(m).message() for m in back.messages] == [Turn.from_stored(m).message() for m in conv.messages]
    usage = [json.loads(line) for line in (target.ctx.log_path).read_text().splitlines()]
    assert [u["tool_calls"] for u in usage] == [1, 2, None] and usage[-1]["tool_results"] == 2


def test_malformed_arguments_get_their_own_message(chat) -> None:
    store, service, target, sim = chat
    request = StructuredRequest(tools=tools.load_tools(tools.TOOL_EXAMPLES[0].text()))
    _, reply, turn = _send(service, store, target, [Turn("user", "東京 [fake tools=bad_args]")], request)
    (call,) = look(reply.result, request).calls
    assert call.error is not None and "not valid JSON" in call.error and call.arguments.startswith('{"city": "unterminated')


def test_a_json_reply_with_confidence_and_a_refusal(chat, serve_model) -> None:
    store, service, target, sim = chat
    s = schema.example("form").schema
    reply_text = '{"氏名": "田中", "人数": 4, "席": "個室", "備考": "ベジタリアン1名"}'
    json_sim = serve_model(lambda body: list(reply_text), first_byte_s=0, tokens_per_s=None)  # one character a token
    client = openai.OpenAI(base_url=json_sim.base_url, api_key="sim", max_retries=0)
    jtarget = Target(target.provider, json_sim.base_url, client, target.ctx)
    request = StructuredRequest(ResponseFormat(Mode.JSON_SCHEMA, s), logprobs=True)
    _, reply, _ = _send(service, store, jtarget, [Turn("user", "予約")], request)
    assert json_sim.calls()[-1]["response_format"]["json_schema"]["schema"] == s
    looked = look(reply.result, request)
    assert looked.parsed is not None and looked.parsed.valid
    assert [f.pointer for f in looked.fields] == ["/氏名", "/人数", "/席", "/備考"]
    assert all(f.token_text == f.text for f in looked.fields)

    refusing = serve_model(refuse=("response_format",), first_byte_s=0, tokens_per_s=None)
    rclient = openai.OpenAI(base_url=refusing.base_url, api_key="sim", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        rclient.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], **request.kwargs())
    refused = refusal(info.value, request, "Custom")
    assert refused is not None and "refused response_format json_schema" in refused.detail
    assert "response_format" in render(refused.detail, "ja")
    tool_request = StructuredRequest(tools=tools.load_tools(tools.TOOL_EXAMPLES[0].text()))
    assert "tool definitions" in refusal(info.value, tool_request, "Custom").detail
    assert refusal(info.value, StructuredRequest(), "Custom") is None


def test_a_reply_without_logprobs_says_so() -> None:
    from lib.llm.chat import ChatResult

    request = StructuredRequest(ResponseFormat(Mode.JSON_OBJECT))
    looked = look(ChatResult(text='{"a": 1}', finish_reason="stop"), request)
    assert looked.parsed.valid and looked.fields is None and "No token probabilities" in looked.confidence_note
    cut = look(ChatResult(text='{"a": ', finish_reason="length"), request)
    assert cut.parsed.truncated and not cut.parsed.parsed


def test_a_compare_columns_valid_rate_and_mean_confidence() -> None:
    from lib.structured.request import column_figures

    s = schema.example("classification").schema
    good = '{"category": "bug", "urgency": 2, "summary": "x"}'
    table_content = []
    for ch in good:
        raw = ch.encode()
        table_content.append(
            ChatCompletionTokenLogprob(token=ch, logprob=math.log(0.5), bytes=list(raw),
                                       top_logprobs=[TopLogprob(token=ch, logprob=math.log(0.5), bytes=list(raw))])
        )  # fmt: skip
    fmt = ResponseFormat(Mode.JSON_SCHEMA, s)
    figures = column_figures([(good, table_content), (good, None), ('{"category": "spam"}', None), ("oops", None)], fmt)
    assert figures.answers == 4 and figures.valid_rate == 0.5
    # fields: "bug" (3 tokens), 2 (1), "x" (1): mean of 0.125, 0.5, 0.5
    assert figures.mean_confidence == pytest.approx((0.125 + 0.5 + 0.5) / 3)
    assert column_figures([(good, None)], ResponseFormat()).valid_rate is None
