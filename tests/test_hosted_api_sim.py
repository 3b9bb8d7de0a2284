"""tests/support/hosted_api_sim.py: the loopback OpenAI-compatible server the benchmarks replay replies on
and page tests use as their fake model. Through the app's own call path (openai SDK, lib.llm.chat /
lib.llm.streams, lib.logprobs); no timing assertions."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from lib.llm.chat import CallContext, ChatParams, complete
from lib.llm.providers import make_client
from lib.llm.streams import ChatStream
from lib.logprobs import ProbeStatus, build_table, fork_prefix, probe_logprobs, run_logprobs
from lib.summarize import LlamaServerCounter
from tests.support.hosted_api_sim import FAKE_TEXT, Fault, HostedAPISim, echo_reply, split_pieces

REPLY = "The harbour opened at five. Traders sold mackerel, crab and oysters; the council built a sea wall."
FAST = {"first_byte_s": 0.01, "tokens_per_s": 2000.0}  # the pacing is not what these tests check


def _ctx(tmp_path: Path) -> CallContext:
    return CallContext(page="bench", provider_id="custom", local=False, log_path=tmp_path / "usage.jsonl")


def test_pieces_join_back_to_the_text() -> None:
    assert "".join(split_pieces(REPLY)) == REPLY and len(split_pieces(REPLY)) == len(REPLY.split())


def test_streamed_and_plain_replies_with_usage_through_the_apps_calls(tmp_path: Path) -> None:
    with HostedAPISim(REPLY, **FAST) as sim:
        client = make_client(sim.base_url, "sim", timeout=30)
        assert [m.id for m in client.models.list()] == ["hosted-sim"]
        stream = ChatStream(client, [{"role": "user", "content": "Summarise the harbour report, please."}],
                            ChatParams(model=sim.model), _ctx(tmp_path))  # fmt: skip
        assert "".join(stream) == REPLY
        res = stream.result
        assert res.error is None and res.complete and res.usage is not None
        assert res.usage.completion_tokens == len(split_pieces(REPLY)) and res.usage.prompt_tokens > 0
        # Non-streamed, cut at max_tokens: the first pieces, finish_reason "length".
        completion, res2 = complete(client, [{"role": "user", "content": "x"}], ChatParams(model=sim.model, max_tokens=4),
                                    _ctx(tmp_path))  # fmt: skip
        assert res2.text == "".join(split_pieces(REPLY)[:4])
        assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 4
        lines = [json.loads(line) for line in (tmp_path / "usage.jsonl").read_text().splitlines()]
        assert [r["stream"] for r in lines] == [True, False] and all(r["status"] == "ok" for r in lines)


def test_requests_overlap_and_are_counted() -> None:
    with HostedAPISim(REPLY, first_byte_s=0.5, tokens_per_s=200.0) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sim", max_retries=0)

        def call(_: int) -> int:
            return client.chat.completions.create(model=sim.model, messages=[{"role": "user", "content": "hi"}],
                                                  max_tokens=5).usage.completion_tokens  # fmt: skip

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(call, range(4))) == [5] * 4
        stats = sim.stats()
        # Every request waits 0.5 s before answering (sleeps), so four sent at once are in flight together.
        assert stats == {"requests": 4, "peak_concurrency": 4, "completion_tokens": 20}
        bad = openai.OpenAI(base_url=sim.base_url.replace("/v1", "/v2"), api_key="sim", max_retries=0)
        try:
            bad.models.list()
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError("an unknown route must answer 404")


# --- the fake model page tests use (the session's, through the `fake_model` fixture) --------------------


def _client(sim: HostedAPISim, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="fake", max_retries=retries, timeout=10)


def test_the_fake_replies_are_derived_from_the_request_and_cut_like_a_model(fake_model: HostedAPISim, tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Name a colour."}]
    expected = f"You said: Name a colour.\n\n{FAKE_TEXT}"
    assert fake_model.expected(messages) == echo_reply({"messages": messages}) == expected
    stream = ChatStream(_client(fake_model), messages, ChatParams(model=fake_model.model), _ctx(tmp_path))
    assert "".join(stream) == expected and stream.result.finish_reason == "stop"
    assert stream.result.usage.completion_tokens == len(split_pieces(expected))  # type: ignore[union-attr]
    _, res = complete(_client(fake_model), messages, ChatParams(model=fake_model.model, max_tokens=3), _ctx(tmp_path))
    assert res.text == "You said: Name" == fake_model.expected(messages, max_tokens=3) and res.finish_reason == "length"
    _, res = complete(_client(fake_model), messages, ChatParams(model=fake_model.model, stop=["fake"]), _ctx(tmp_path))
    assert res.text == expected[: expected.index("fake")] and res.finish_reason == "stop"
    assert [b.get("max_tokens") for b in fake_model.calls()] == [None, 3, None]


def test_the_fake_gives_logprobs_with_alternatives_the_probe_and_a_fork(fake_model: HostedAPISim, tmp_path: Path) -> None:
    client, ctx = _client(fake_model), _ctx(tmp_path)
    assert probe_logprobs(client, fake_model.model, ctx).status is ProbeStatus.SUPPORTED
    messages = [{"role": "user", "content": "Tell me about Café culture."}]
    run = run_logprobs(client, messages, ChatParams(model=fake_model.model, temperature=0.0), ctx, 5)
    assert run.text == fake_model.expected(messages) and run.table.text == run.text
    assert len(run.table) == len(split_pieces(run.text)) and run.table.k == 5
    for pos in run.content:
        assert [a.token for a in pos.top_logprobs][0] == pos.token and bytes(pos.bytes).decode() == pos.token
        lps = [a.logprob for a in pos.top_logprobs]
        assert lps == sorted(lps, reverse=True) and sum(math.exp(x) for x in lps) < 1
    assert (run.table.ranks == 1).all()
    # A fork: the prefix with the second alternative spliced in, continued and echoed like llama-server.
    prefix = fork_prefix(run.table, 2, 1)
    fork = run_logprobs(client, messages, ChatParams(model=fake_model.model), ctx, 3, prefix=prefix)
    assert fork.text == " and so the story goes on." == fork.table.text
    assert fake_model.calls()[-1]["messages"][-1] == {"role": "assistant", "content": prefix}
    # Streamed chunks carry their logprobs too.
    chunks = client.chat.completions.create(model="m", messages=messages, stream=True, logprobs=True, top_logprobs=2)
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert build_table(streamed).text == run.text


def test_the_fake_calls_tools_and_reads_their_results(fake_model: HostedAPISim) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "required": ["q"],
                                                                               "properties": {"q": {"type": "string"}}}}}]  # fmt: skip
    messages: list = [{"role": "user", "content": "weather in Oslo"}]
    done = _client(fake_model).chat.completions.create(model="m", messages=messages, tools=tools)
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert done.choices[0].finish_reason == "tool_calls" and call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "weather in Oslo"}
    stream = _client(fake_model).chat.completions.create(model="m", messages=messages, tools=tools, stream=True)
    deltas = [c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0][0].function.name == "lookup"  # type: ignore[index]
    messages += [
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    after = _client(fake_model).chat.completions.create(model="m", messages=messages, tools=tools)
    assert after.choices[0].message.content == "The tool said: sunny"


@pytest.mark.parametrize(("how", "error"), [("directive", openai.RateLimitError), ("header", openai.InternalServerError),
                                            ("queued", openai.BadRequestError)])  # fmt: skip
def test_errors_on_request(fake_model: HostedAPISim, how: str, error: type[Exception]) -> None:
    status = {"directive": 429, "header": 500, "queued": 400}[how]
    text, headers = "hi", {}
    if how == "directive":
        text = "hi [fake status=429 retry_after=0]"
    elif how == "header":
        headers = {"X-Fake": "status=500"}
    else:
        fake_model.fail(Fault(status=400, message="Unsupported parameter: 'seed'"))
    with pytest.raises(error) as raised:
        _client(fake_model, retries=2).chat.completions.create(model="m", messages=[{"role": "user", "content": text}],
                                                               extra_headers=headers)  # fmt: skip
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    # The SDK retries 429 and 5xx (every attempt fails again); a queued fault is used up by one request.
    assert len(fake_model.calls()) == (1 if how == "queued" else 3)
    if how == "queued":
        assert "Unsupported parameter" in str(raised.value)
        assert _client(fake_model).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices


def test_a_cut_stream_keeps_what_arrived_and_a_malformed_one_fails_to_parse(fake_model: HostedAPISim, tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Tell me a story [fake drop=3]"}]
    stream = ChatStream(_client(fake_model), messages, ChatParams(model="m"), _ctx(tmp_path))
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    assert stream.result.text == "".join(split_pieces(fake_model.expected(messages))[:3])
    fake_model.fail(Fault(malformed=True))
    broken = ChatStream(_client(fake_model), [{"role": "user", "content": "x"}], ChatParams(model="m"), _ctx(tmp_path))
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for an event that is not JSON
        list(broken)
    assert broken.result.text == "Partial"


def test_models_tokenize_and_a_record_of_every_request(fake_model: HostedAPISim) -> None:
    assert [m.id for m in _client(fake_model).models.list()] == fake_model.models
    counter = LlamaServerCounter(fake_model.base_url)
    assert counter.count("12345678") == 2 and counter.exact
    assert [(r.method, r.path) for r in fake_model.requests] == [("GET", "/v1/models"), ("POST", "/tokenize")]
    assert fake_model.calls() == []  # no chat completion: what a test checks when no model call may happen


def test_a_long_reply_and_a_context_limit_on_request() -> None:
    with HostedAPISim("short", first_byte_s=0.0, tokens_per_s=None, context_size=50) as sim:
        client = _client(sim)
        counted = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Count [fake count=30]"}])
        assert counted.choices[0].message.content == "1," + "".join(f" {i}," for i in range(2, 31))
        assert counted.usage.completion_tokens == 30  # type: ignore[union-attr]
        with pytest.raises(openai.BadRequestError, match="exceeds the available context size"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 400}])
        with pytest.raises(openai.BadRequestError, match="unknown fake directive"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "[fake explode]"}])


@pytest.mark.no_model
def test_no_model_gets_a_port_nothing_listens_on() -> None:
    client = make_client(os.environ["YOAKE_LOCAL_BASE_URL"], "x").with_options(max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError):  # any model call fails at once
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
