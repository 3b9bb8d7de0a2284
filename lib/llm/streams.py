"""Reply streams: everything a page iterates for a reply's text, behind one small protocol.

- `ChatStream`: a streamed chat completion from the model (usage via `stream_options`, time to
  first token, one usage-log line when it ends, however it ends).
- `CachedStream`: the answer cache replaying a stored reply (a cache hit, cost 0, logged too).
(`PersistedReply`, which saves a reply to the conversation store as it grows, is lib/conversation/persisted.py.)

Iterate for text deltas; when iteration ends (normally, by an error, or by the consumer closing it)
`.result` holds the text so far, usage, timing and any error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from lib.core.errors import describe_error
from lib.llm.chat import CallContext, ChatParams, ChatResult, finalize_and_log


class ReplyStream(Protocol):
    """Iterate for text deltas; `.result` is complete once iteration has ended."""

    result: ChatResult

    def __iter__(self) -> Iterator[str]: ...


def _rejects_stream_options(exc: openai.BadRequestError) -> bool:
    return "stream_options" in str(exc.message) or "include_usage" in str(exc.message)


class ChatStream:
    """Iterate for text deltas. `result` is filled as it goes and finalised when iteration ends."""

    def __init__(
        self,
        client: openai.OpenAI,
        messages: Sequence[ChatCompletionMessageParam],
        params: ChatParams,
        ctx: CallContext,
        **extra: Any,
    ) -> None:
        self.client = client
        self.messages = list(messages)
        self.params = params
        self.ctx = ctx
        self.extra = extra
        self.result = ChatResult()
        self._logged = False
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the stream to end, from any thread: it ends quietly (no error) at the next chunk, and
        closing the response lets the server free the slot."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def on_chunk(self, chunk: ChatCompletionChunk) -> None:
        """Called with every chunk as it arrives; a subclass may look at more than the text (logprobs)."""

    def _open(self, with_usage: bool) -> openai.Stream:
        kwargs = self.params.to_kwargs() | self.extra
        if with_usage:
            kwargs["stream_options"] = {"include_usage": True}
        raw = self.client.chat.completions.with_raw_response.create(messages=self.messages, stream=True, **kwargs)
        self.result.request_id = raw.request_id
        return raw.parse()

    def __iter__(self) -> Iterator[str]:
        res = self.result
        start = time.perf_counter()
        try:
            try:
                stream = self._open(with_usage=True)
            except openai.BadRequestError as exc:
                if not _rejects_stream_options(exc):
                    raise
                stream = self._open(with_usage=False)  # provider rejects stream_options: estimate
            with stream:
                for chunk in stream:
                    if self._cancelled.is_set():
                        break
                    self.on_chunk(chunk)
                    if chunk.usage is not None:
                        res.usage = chunk.usage
                    res.resolved_model = chunk.model or res.resolved_model
                    res.request_id = res.request_id or chunk.id
                    if not chunk.choices:  # usage-only and keep-alive chunks
                        continue
                    choice = chunk.choices[0]
                    if choice.finish_reason:
                        res.finish_reason = choice.finish_reason
                    if choice.delta and choice.delta.tool_calls:
                        if res.ttft_ms is None:
                            res.ttft_ms = (time.perf_counter() - start) * 1000
                        merge_tool_calls(res.tool_calls, choice.delta.tool_calls)
                    if choice.logprobs and choice.logprobs.content is not None:
                        res.logprobs = (res.logprobs or []) + list(choice.logprobs.content)
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        if res.ttft_ms is None:
                            res.ttft_ms = (time.perf_counter() - start) * 1000
                        res.text += delta
                        yield delta
        except BaseException as exc:
            if self._cancelled.is_set() and isinstance(exc, Exception):
                return  # cancelled: a failure now is no error of the reply's (it was stopped)
            if not isinstance(exc, GeneratorExit):
                res.error = exc
                res.error_kind = describe_error(exc).kind
            raise
        finally:
            res.duration_ms = (time.perf_counter() - start) * 1000
            self._finish()

    def _finish(self) -> None:
        if not self._logged:
            self._logged = True
            finalize_and_log(self.ctx, self.params, self.messages, self.result, stream=True)


def merge_tool_calls(calls: list[dict[str, Any]], deltas: Sequence[ChoiceDeltaToolCall]) -> None:
    """Add streamed tool-call pieces to `calls` (OpenAI message format): a call's id, name and the first
    piece of its arguments come with a new `index`; later pieces of the arguments follow with the same one."""
    for delta in deltas:
        while len(calls) <= delta.index:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[delta.index]
        if delta.id:
            call["id"] = delta.id
        if delta.function:
            if delta.function.name:
                call["function"]["name"] = delta.function.name  # sent whole, once (some servers repeat it)
            if delta.function.arguments:
                call["function"]["arguments"] += delta.function.arguments


class CachedStream:
    """A ChatStream look-alike replaying a cached answer: iterate for the text, then `.result`
    is filled and one usage-log line (cache_hit, cost 0) has been written."""

    def __init__(
        self, cached: ChatResult, messages: Sequence[ChatCompletionMessageParam], params: ChatParams, ctx: CallContext
    ) -> None:
        self.cached = cached
        self.messages = list(messages)
        self.params = params
        self.ctx = ctx
        self.result = ChatResult()
        self._logged = False

    def __iter__(self) -> Iterator[str]:
        res = self.result
        start = time.perf_counter()
        try:
            res.resolved_model = self.cached.resolved_model
            res.usage = self.cached.usage
            res.ttft_ms = (time.perf_counter() - start) * 1000
            res.text = self.cached.text
            if self.cached.text:
                yield self.cached.text
            res.finish_reason = self.cached.finish_reason or "stop"
        finally:
            res.duration_ms = (time.perf_counter() - start) * 1000
            if not self._logged:
                self._logged = True
                finalize_and_log(self.ctx, self.params, self.messages, res, stream=True, cache_hit=True)


# --- saving a reply while it streams ---------------------------------------------------------------
