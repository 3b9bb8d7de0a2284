"""Structured output on the real embedded model (llama.cpp's JSON-schema grammar): every reply parses and
validates, and each field's tokens join back to exactly the value text. Which words the model writes is
never asserted, only that what it wrote validates and joins back."""

from __future__ import annotations

import openai
import pytest

from lib.llm.chat import CallContext, ChatParams, complete
from lib.llm.providers import make_client
from lib.logprobs import build_table
from lib.structured import schema
from lib.structured.confidence import field_confidence
from lib.structured.request import CONFIDENCE_TOP_K, StructuredRequest, look
from lib.structured.schema import Mode, ResponseFormat
from lib.structured.tools import server_tool_support

# Every example schema once, both languages among them (the form's Japanese values are its point); the
# grammar is the schema's whatever the prompt's language, and the engine's time is shared by every model test.
EXAMPLE_RUNS = [("extraction", "en"), ("classification", "ja"), ("form", "ja")]


def test_the_runs_cover_every_example_and_both_languages() -> None:
    assert {k for k, _ in EXAMPLE_RUNS} == {ex.key for ex in schema.EXAMPLES} and {lang for _, lang in EXAMPLE_RUNS} == {
        "ja",
        "en",
    }


@pytest.mark.model
@pytest.mark.parametrize(("key", "lang"), EXAMPLE_RUNS, ids=[f"{k}-{lang}" for k, lang in EXAMPLE_RUNS])
def test_every_reply_validates_and_its_fields_join_back(local_server, key: str, lang: str) -> None:
    ex = schema.example(key)
    request = StructuredRequest(ResponseFormat(Mode.JSON_SCHEMA, ex.schema), logprobs=True)
    client = openai.OpenAI(base_url=local_server.base_url, api_key="not-needed")
    ctx = CallContext("chat", "local", True, None)
    for seed in (1,):  # (one sample per schema and language: the suite's engine time is shared by every model test)
        params = ChatParams(model=local_server.alias, temperature=0.8, seed=seed, max_tokens=300)
        _, res = complete(client, [{"role": "user", "content": ex.prompt[lang]}], params, ctx, **request.kwargs())
        assert res.finish_reason == "stop", res.text
        looked = look(res, request)
        assert looked.parsed is not None and looked.parsed.valid, (res.text, looked.parsed.problems)
        fields = looked.fields
        assert fields is not None and [f.pointer for f in fields] == [f"/{k}" for k in ex.schema["properties"]]
        for f in fields:
            assert f.token_text == f.text, f
            assert 0.0 <= f.joint_prob <= f.min_prob <= 1.0 and f.tokens
        if key == "form":  # a Japanese value every time: the seat is one of カウンター / テーブル / 個室
            seat = next(f for f in fields if f.pointer == "/席")
            assert seat.value in ex.schema["properties"]["席"]["enum"] and not seat.text.isascii()
        # the same figures from the table alone (no message text): the tokens' own JSON
        again = field_confidence(build_table(res.logprobs or [], CONFIDENCE_TOP_K))
        assert again is not None and [f.text for f in again] == [f.text for f in fields]


@pytest.mark.model
def test_the_server_says_whether_its_template_knows_tools(local_server) -> None:
    assert isinstance(server_tool_support(make_client(local_server.base_url, "x"), local_server.base_url), bool)
