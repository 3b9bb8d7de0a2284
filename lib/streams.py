"""Reply streams: everything a page iterates for a reply's text, behind one small protocol.

- `ChatStream`: a streamed chat completion from the model (usage via `stream_options`, time to
  first token, one usage-log line when it ends, however it ends).
- `CachedStream`: the answer cache replaying a stored reply (a cache hit, cost 0, logged too).
- `PersistedReply`: wraps either and saves the reply to the store as it grows.

Iterate for text deltas; when iteration ends (normally, by an error, or by the consumer closing it)
`.result` holds the text so far, usage, timing and any error.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from lib.chat import CallContext, ChatParams, ChatResult, finalize_and_log
from lib.errors import describe_error

if TYPE_CHECKING:
    from lib.storage.store import Store


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


class PersistedReply:
    """Wraps a ChatStream (or CachedStream): passes its deltas through and saves the reply as it
    grows - a row on the first delta (marked incomplete), the text whenever 0.5 s have passed
    (a timer flushes text that arrived since, so a pause in the stream does not hold it back),
    and the final text with its completeness and `meta(result)` when iteration ends, whether it
    ended normally, by an error or by the consumer stopping. `message_id` is set once a row exists.

    `stop()` (from any thread) ends it where it is: the row holds the text so far, marked incomplete
    and stopped, and is never written again, so whatever is saved after the stop comes after it.
    """

    def __init__(
        self,
        store: Store,
        conversation_id: str,
        stream: ReplyStream,
        *,
        interval: float = 0.5,
        meta: Callable[[ChatResult], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.stream = stream
        self.interval = interval
        self.meta = meta
        self.message_id: int | None = None
        self.text = ""
        self._written = ""
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.stopped = False

    @property
    def result(self) -> ChatResult:
        return self.stream.result

    def _flush_locked(self) -> None:
        if self.message_id is not None and self.text != self._written:
            self.store.update_message(self.message_id, content=self.text)
            self._written = self.text
            self._last_write = time.monotonic()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed:
                try:
                    self._flush_locked()
                except sqlite3.Error:
                    pass  # the next delta or the final write retries

    def _on_delta(self, delta: str) -> bool:
        """Save the delta; False once the reply was stopped (the delta is dropped)."""
        with self._lock:
            if self._closed:
                return False
            self.text += delta
            if self.message_id is None:
                self.message_id = self.store.add_message(self.conversation_id, "assistant", self.text, incomplete=True)
                self._written = self.text
                self._last_write = time.monotonic()
                return True
            wait = self._last_write + self.interval - time.monotonic()
            if wait <= 0:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._on_timer)
                self._timer.daemon = True
                self._timer.start()
            return True

    def stop(self) -> None:
        """End the reply now, from any thread (a newer run of the page). It keeps its place: its row
        (an empty one if no text had arrived) is final, marked incomplete and `meta["stopped"]`, and
        a reply not iterated yet never calls the model."""
        with self._lock:
            if self._closed:
                return  # already ended
            self._closed = True
            self.stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            cancel = getattr(self.stream, "cancel", None)
            if cancel:
                cancel()
            meta = (self.meta(self.stream.result) if self.meta else {}) | {"stopped": True}
            if self.message_id is None:
                self.message_id = self.store.add_message(self.conversation_id, "assistant", self.text, incomplete=True, meta=meta)
            else:
                self.store.update_message(self.message_id, content=self.text, incomplete=True, meta=meta)
            self._written = self.text

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            if self._closed:
                return  # stopped before it began
        it = iter(self.stream)
        try:
            for delta in it:
                if not self._on_delta(delta):
                    break  # stopped meanwhile
                yield delta
        finally:
            close = getattr(it, "close", None)
            if close:
                close()  # runs the stream's own finaliser (usage log) before we read its result
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self.stopped:
                return  # stop() wrote the row's final state
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.message_id is None:
                return
            res = self.stream.result
            self.store.update_message(
                self.message_id,
                content=self.text,
                incomplete=not res.complete,
                meta=self.meta(res) if self.meta else None,
            )
            self._written = self.text
