"""A reply saved to the conversation store as it streams (any ReplyStream: the model or the answer cache)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from lib.llm.chat import ChatResult
from lib.llm.streams import ReplyStream
from lib.storage.store import Store


class PersistedReply:
    """Wraps a ChatStream (or CachedStream): passes its deltas through and saves the reply as it
    grows - a row on the first delta (marked incomplete), the text whenever 0.5 s have passed
    (a timer flushes text that arrived since, so a pause in the stream does not hold it back),
    and the final text with its completeness and `meta(result)` when iteration ends, normally or by
    an error. A consumer that lets go mid-reply stops it (below). `message_id` is set once a row exists.

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
        self._lock = threading.RLock()  # (the garbage collector may close our generator in a thread holding it)
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
        except GeneratorExit:
            # The consumer let go mid-reply: Streamlit ended the run showing it (a new message, the page
            # used meanwhile, its Stop). That is a stop, whether this comes before or after the newer
            # run's `stop()` (the abandoned generator is closed whenever the garbage collector gets to it).
            self.stop()
            raise
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
            res = self.stream.result
            if self.message_id is None:
                if not res.tool_calls:
                    return
                # A reply that only calls tools has no text: its row holds the calls (in `meta`).
                self.message_id = self.store.add_message(
                    self.conversation_id, "assistant", "", incomplete=not res.complete, meta=self.meta(res) if self.meta else None
                )
                return
            self.store.update_message(
                self.message_id,
                content=self.text,
                incomplete=not res.complete,
                meta=self.meta(res) if self.meta else None,
            )
            self._written = self.text
