"""The chat flow, out of the page: typed turns, and a service that sends a message.

A send trims the history, routes an `auto` model, answers from the cache or the model, streams,
saves the reply as it grows and logs the call. The page only reads widgets, iterates the reply
(`st.write_stream`) and renders; everything here is tested without Streamlit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.conversation.persisted import PersistedReply
from lib.core.i18n import format_number, gettext, render
from lib.core.text import format_cost, md_text
from lib.llm.chat import AUTO_MODEL, CallContext, ChatParams, ChatResult, route_model, route_reason, trim_history
from lib.llm.providers import Provider
from lib.llm.streams import CachedStream, ChatStream, ReplyStream
from lib.storage.conversations import Conversation, StoredMessage
from lib.storage.store import Store

Role = Literal["user", "assistant", "tool"]


@dataclass
class Turn:
    """One message of a conversation as the page holds it."""

    role: Role
    content: str
    id: int | None = None  # the store's row, once saved
    incomplete: bool = False  # a reply cut off (error, stop, killed app)
    meta: dict[str, Any] | None = None  # a reply's model, tokens, timing and cost (see `reply_meta`)

    @property
    def stopped(self) -> bool:
        """A reply stopped before it ended (a new message was sent, or the page was used meanwhile)."""
        return self.role == "assistant" and bool(self.meta and self.meta.get("stopped"))

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The model's tool calls in this reply (OpenAI message format)."""
        calls = (self.meta or {}).get("tool_calls") if self.role == "assistant" else None
        return list(calls) if isinstance(calls, list) else []

    @property
    def tool_call_id(self) -> str | None:
        """For a tool result: the call it answers."""
        return str((self.meta or {}).get("tool_call_id") or "") if self.role == "tool" else None

    @classmethod
    def from_stored(cls, message: StoredMessage) -> Turn:
        role: Role = "assistant" if message.role == "assistant" else "user"
        if role == "user" and message.meta and message.meta.get("tool_call_id"):
            role = "tool"  # a tool's result, typed by the user: stored as a user row that says which call
        return cls(role, message.content, message.id, message.incomplete, message.meta)

    @classmethod
    def tool_result(cls, call_id: str, name: str, content: str) -> Turn:
        return cls("tool", content, meta={"tool_call_id": call_id, "name": name})

    def message(self) -> ChatCompletionMessageParam:
        if self.role == "assistant":
            if self.tool_calls:
                return {"role": "assistant", "content": self.content or None, "tool_calls": self.tool_calls}  # type: ignore[typeddict-item]
            return {"role": "assistant", "content": self.content}
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id or "", "content": self.content}
        return {"role": "user", "content": self.content}


def turns_of(conversation: Conversation, after_id: int = 0) -> list[Turn]:
    return [Turn.from_stored(m) for m in conversation.messages if m.id > after_id]


@dataclass(frozen=True)
class ChatSettings:
    """What a conversation is saved with and reopens with."""

    persona: str | None = None
    system_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None  # the prompt version it was started from (`name@version`)

    def as_dict(self) -> dict[str, Any]:
        return {
            "persona": self.persona,
            "system_prompt": self.system_prompt,
            "provider": self.provider,
            "model": self.model,
            "params": dict(self.params),
            "prompt": self.prompt,
        }


@dataclass(frozen=True)
class Target:
    """Where a request goes: the provider preset, its base URL (part of the cache key: two custom
    servers are different providers), the client and the usage-log context."""

    provider: Provider
    base_url: str
    client: openai.OpenAI
    ctx: CallContext


def cache_key(
    provider_id: str, messages: Sequence[ChatCompletionMessageParam], params: ChatParams, extra: dict[str, Any] | None = None
) -> str | None:
    """The answer cache's key of a request, or None when it must not be cached (only temperature 0 is
    deterministic enough to replay). `extra`: other request fields (response format, tools)."""
    if params.temperature is None or params.temperature != 0:
        return None
    payload: dict[str, Any] = {"provider": provider_id, "messages": list(messages), "params": params.to_kwargs()}
    if extra:
        payload["extra"] = extra
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reply_meta(res: ChatResult, model: str, route: str | None, cache_hit: bool) -> dict[str, Any]:
    """What is saved and shown under a reply."""
    usage = res.usage
    return {
        "model": res.resolved_model or model,
        "route": route,
        "input_tokens": usage.prompt_tokens if usage else None,
        "output_tokens": usage.completion_tokens if usage else None,
        "estimated": res.usage_estimated,
        "duration_ms": res.duration_ms,
        "ttft_ms": res.ttft_ms,
        "cost_usd": res.cost_usd,
        "cache_hit": cache_hit,
    } | ({"tool_calls": res.tool_calls} if res.tool_calls else {})


def meta_caption(meta: dict[str, Any], lang: str = "en", usd_jpy: float | None = None) -> str:
    """The one-line caption under a reply, in `lang`: model, tokens, time, cost (dollars; with `usd_jpy`
    also an estimate in yen)."""
    model = md_text(meta.get("model"))  # a provider's model id is shown as text, never as markdown
    parts = [model]
    if meta.get("route"):
        reason = md_text(render(route_reason(str(meta["route"])), lang))
        parts[0] = gettext("auto → {model} ({reason})", lang).format(model=model, reason=reason)

    def count(key: str) -> str:
        value = meta.get(key)
        return format_number(value, lang) if isinstance(value, (int, float)) else "?"

    if meta.get("estimated"):
        tokens = gettext("{input} in / {output} out tokens (est.)", lang)
    else:
        tokens = gettext("{input} in / {output} out tokens", lang)
    parts.append(tokens.format(input=count("input_tokens"), output=count("output_tokens")))
    if meta.get("duration_ms") is not None:
        parts.append(format_number(meta["duration_ms"] / 1000, lang, 2) + " s")  # units stay as they are
    if meta.get("ttft_ms") is not None:
        parts.append(gettext("first token {ms} ms", lang).format(ms=format_number(meta["ttft_ms"], lang, 0)))
    cost = meta.get("cost_usd")
    if meta.get("cache_hit"):
        parts.append(gettext("⚡ from the answer cache, free", lang))
    else:
        parts.append(format_cost(cost, lang=lang, usd_jpy=usd_jpy))
    return " · ".join(parts)


class Reply:
    """A reply in flight: iterate for its text (it is saved as it grows), then `finish()`."""

    def __init__(
        self,
        service: ConversationService,
        conversation_id: str,
        stream: ReplyStream,
        *,
        model: str,
        route: str | None,
        dropped: int,
        cache_key: str | None,
        cache_hit: bool,
        target: Target,
    ) -> None:
        self._service = service
        self.model = model
        self.route = route
        self.dropped = dropped  # older messages not sent (history limits)
        self.cache_hit = cache_hit
        self._cache_key = cache_key
        self._target = target
        self._saved = PersistedReply(service.store, conversation_id, stream, meta=self.meta)

    @property
    def result(self) -> ChatResult:
        return self._saved.result

    def meta(self, res: ChatResult) -> dict[str, Any]:
        return reply_meta(res, self.model, self.route, self.cache_hit)

    def __iter__(self) -> Iterator[str]:
        return iter(self._saved)

    def stop(self) -> None:
        """End the reply where it is, from any thread; what arrived stays saved in its place, marked
        stopped (see `PersistedReply.stop`)."""
        self._saved.stop()

    @property
    def stopped(self) -> bool:
        return self._saved.stopped

    def finish(self) -> Turn | None:
        """After iteration: cache a complete answer, and the reply as a turn (None when nothing
        arrived; the error, if any, is in `result.error`)."""
        res = self.result
        if self.stopped:
            return None  # its saved row is final; whoever stopped it shows it from the store
        if self._cache_key and not self.cache_hit and res.complete and res.text and not res.tool_calls:
            self._service.store.cache_put(self._cache_key, self._target.provider.id, self.model, res)
        if not res.text and not res.tool_calls:
            return None
        return Turn("assistant", res.text, self._saved.message_id, not res.complete, self.meta(res))


class ConversationService:
    """Sends messages of saved conversations: the one chat pipeline the pages share."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ensure_saved(self, conversation_id: str | None, turns: list[Turn], settings: ChatSettings) -> str:
        """The conversation to write to, created on first use; turns not saved yet are saved now
        (in place: their `id` is set), so the user's message is on disk before the model is called."""
        if conversation_id is None:
            conversation_id = self.store.create_conversation(**settings.as_dict())
        for turn in turns:
            if turn.id is None:
                role = "user" if turn.role == "tool" else turn.role  # a tool result: a user row with its call id
                turn.id = self.store.add_message(conversation_id, role, turn.content, incomplete=turn.incomplete, meta=turn.meta)
        return conversation_id

    def reply(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        params: ChatParams,
        target: Target,
        *,
        system_prompt: str | None,
        max_messages: int = 40,
        history_tokens: int = 6000,
        use_cache: bool = False,
        extra: dict[str, Any] | None = None,
        stream_class: type[ChatStream] = ChatStream,
    ) -> Reply:
        """Answer the last turn. `params.model` may be AUTO_MODEL: the provider's small or large
        model is chosen by `route_model`'s rule. `extra`: more request fields (response_format,
        tools, tool_choice, logprobs), part of the cache key."""
        model, route = params.model, None
        if model == AUTO_MODEL:
            last_user = next((t.content for t in reversed(turns) if t.role == "user"), "")
            model, route = route_model(last_user, target.provider.small_model, target.provider.large_model)
        params = replace(params, model=model)
        trimmed = trim_history(system_prompt, [t.message() for t in turns], max_messages=max_messages, max_tokens=history_tokens)
        extra = extra or {}
        # A reply that calls tools is not cached (the cache keeps text only).
        key = cache_key(f"{target.provider.id}@{target.base_url}", trimmed.messages, params, extra) if use_cache else None
        cached = self.store.cache_get(key) if key else None
        stream: ReplyStream = (
            CachedStream(cached, trimmed.messages, params, target.ctx)
            if cached
            else stream_class(target.client, trimmed.messages, params, target.ctx, **extra)
        )
        return Reply(
            self,
            conversation_id,
            stream,
            model=model,
            route=route,
            dropped=trimmed.dropped,
            cache_key=key,
            cache_hit=cached is not None,
            target=target,
        )
