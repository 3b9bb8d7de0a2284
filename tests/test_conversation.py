"""The chat flow as a library (lib/conversation/service.py), without Streamlit: against the fake model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import usage_lines as _usage

from lib.conversation.service import ChatSettings, ConversationService, Target, Turn, meta_caption, turns_of
from lib.core.config import load_settings
from lib.llm.chat import AUTO_MODEL, CallContext, ChatParams
from lib.llm.providers import LOCAL_MODEL_ALIAS, PROVIDERS, Provider, client_for
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim


def _target(data_dir: Path, provider: Provider = PROVIDERS["local"]) -> Target:
    base_url = os.environ["YOAKE_LOCAL_BASE_URL"]
    client = client_for(provider, load_settings(), base_url=base_url, api_key="not-needed")
    ctx = CallContext(page="chat", provider_id=provider.id, local=True, log_path=data_dir / "usage.jsonl")
    return Target(provider, base_url, client, ctx)


def test_a_message_is_saved_sent_streamed_persisted_and_logged(data_dir: Path, fake_model: HostedAPISim) -> None:
    store = Store.in_dir(data_dir)
    service = ConversationService(store)
    turns = [Turn("user", "Name a colour.")]
    settings = ChatSettings(
        persona="Helpful assistant",
        system_prompt="Be brief.",
        provider="local",
        model=LOCAL_MODEL_ALIAS,
        params={"temperature": 0.0},
    )
    cid = service.ensure_saved(None, turns, settings)
    assert turns[0].id is not None  # saved before the model is called
    saved = store.get_conversation(cid)
    assert saved is not None and saved.system_prompt == "Be brief." and [m.role for m in saved.messages] == ["user"]

    reply = service.reply(
        cid,
        turns,
        ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, seed=1, max_tokens=16),
        _target(data_dir),
        system_prompt="Be brief.",
    )
    deltas = list(reply)
    turn = reply.finish()
    assert turn is not None and turn.role == "assistant" and turn.content == "".join(deltas) and deltas
    [sent] = fake_model.calls()
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    assert turn.content == fake_model.reply_to(sent)
    assert turn.meta is not None and turn.meta["output_tokens"] == reply.result.usage.completion_tokens
    assert turn.meta["cost_usd"] == 0 and not turn.meta["cache_hit"]
    assert "free (local)" in meta_caption(turn.meta)
    stored = turns_of(store.get_conversation(cid))
    assert [(t.role, t.content, t.id) for t in stored] == [
        ("user", "Name a colour.", turns[0].id),
        ("assistant", turn.content, turn.id),
    ]
    (line,) = _usage(data_dir)
    assert line["page"] == "chat" and line["status"] == "ok" and line["output_tokens"] == turn.meta["output_tokens"]


def test_the_answer_cache_replays_an_identical_temperature_zero_request(data_dir: Path, fake_model: HostedAPISim) -> None:
    service = ConversationService(Store.in_dir(data_dir))
    turns = [Turn("user", "Say hello.")]
    cid = service.ensure_saved(None, turns, ChatSettings(provider="local"))
    params = ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=8)
    first = service.reply(cid, turns, params, _target(data_dir), system_prompt=None, use_cache=True)
    text = "".join(first)
    assert first.finish() is not None and not first.cache_hit
    again = service.reply(cid, turns, params, _target(data_dir), system_prompt=None, use_cache=True)
    assert "".join(again) == text == fake_model.expected([{"role": "user", "content": "Say hello."}], 8, temperature=0.0)
    assert len(fake_model.calls()) == 1  # the repeat made no model call
    turn = again.finish()
    assert again.cache_hit and turn is not None and turn.meta["cache_hit"] and "answer cache" in meta_caption(turn.meta)
    assert [line["cache_hit"] for line in _usage(data_dir)] == [False, True]


def test_history_limits_and_auto_routing(data_dir: Path, fake_model: HostedAPISim) -> None:
    service = ConversationService(Store.in_dir(data_dir))
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(6)] + [
        Turn("user", "Explain why the sky is blue.")
    ]
    cid = service.ensure_saved(None, turns, ChatSettings())
    # A provider whose small and large models differ (both served by the fake model here).
    two_models = Provider(
        id="local",
        label="Local",
        base_url=None,
        key_env=None,
        models=(LOCAL_MODEL_ALIAS,),
        small_model="small-alias",
        large_model=LOCAL_MODEL_ALIAS,
        local=True,
    )
    reply = service.reply(
        cid, turns, ChatParams(model=AUTO_MODEL, max_tokens=4), _target(data_dir, two_models), system_prompt="sys", max_messages=3
    )
    list(reply)
    turn = reply.finish()
    assert reply.model == LOCAL_MODEL_ALIAS and "reasoning" in (reply.route or "")
    assert reply.dropped == 4  # 7 turns, 3 sent
    [sent] = fake_model.calls()
    assert sent["model"] == LOCAL_MODEL_ALIAS and [m["content"] for m in sent["messages"]] == [
        "sys",
        "m4",
        "m5",
        turns[-1].content,
    ]
    assert turn is not None and turn.meta["route"] == reply.route and "auto →" in meta_caption(turn.meta)
    assert _usage(data_dir)[-1]["model"] == LOCAL_MODEL_ALIAS


def test_a_failed_call_leaves_no_reply_and_keeps_the_error(data_dir: Path) -> None:
    service = ConversationService(Store.in_dir(data_dir))
    turns = [Turn("user", "Hi")]
    cid = service.ensure_saved(None, turns, ChatSettings())
    target = _target(data_dir)
    target = Target(
        target.provider,
        "http://127.0.0.1:9/v1",
        client_for(target.provider, load_settings(), base_url="http://127.0.0.1:9/v1", api_key="x").with_options(max_retries=0),
        target.ctx,
    )
    reply = service.reply(cid, turns, ChatParams(model=LOCAL_MODEL_ALIAS), target, system_prompt=None)
    with pytest.raises(Exception):  # noqa: B017 - the SDK's connection error, as the page sees it
        list(reply)
    assert reply.finish() is None and reply.result.error_kind == "connection"
    assert [m.role for m in service.store.get_conversation(cid).messages] == ["user"]
    assert _usage(data_dir)[-1]["status"] == "error"
