"""A reply stopped mid-stream (a newer run of the chat page stops it from another thread) keeps its
place: the text so far is saved final, marked stopped, and nothing the old stream does afterwards
writes to the conversation. No model: a scripted stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lib.conversation.persisted import PersistedReply
from lib.conversation.service import Turn, turns_of
from lib.llm.chat import ChatResult
from lib.storage.store import Store


class ScriptedStream:
    """Yields its deltas; `gate` holds it before each one after the first, like a model between tokens."""

    def __init__(self, deltas: list[str]) -> None:
        self.deltas = deltas
        self.result = ChatResult()
        self.cancelled = False
        self.gate = threading.Event()
        self.gate.set()

    def cancel(self) -> None:
        self.cancelled = True

    def __iter__(self) -> Iterator[str]:
        for delta in self.deltas:
            self.gate.wait()
            self.result.text += delta
            yield delta
        self.result.finish_reason = "stop"


def _setup(data_dir: Path) -> tuple[Store, str]:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    store.add_message(cid, "user", "Tell me a story.")
    return store, cid


def test_a_reply_stopped_mid_stream_keeps_its_text_in_place_marked_stopped(data_dir: Path) -> None:
    store, cid = _setup(data_dir)
    stream = ScriptedStream(["Once", " upon", " a", " time"])
    reply = PersistedReply(store, cid, stream, meta=lambda res: {"model": "m"})
    it = iter(reply)
    assert next(it) == "Once"
    reply.stop()  # the newer run: then it saves the message typed meanwhile
    store.add_message(cid, "user", "And then?")
    assert stream.cancelled and reply.stopped
    assert list(it) == []  # the old run's stream yields nothing more, and writes nothing more
    turns = turns_of(store.get_conversation(cid))
    assert [(t.role, t.content) for t in turns] == [("user", "Tell me a story."), ("assistant", "Once"), ("user", "And then?")]
    assert turns[1].incomplete and turns[1].stopped and turns[1].meta["model"] == "m"


def test_a_reply_stopped_before_its_first_token_keeps_an_empty_stopped_turn(data_dir: Path) -> None:
    store, cid = _setup(data_dir)
    stream = ScriptedStream(["Hello"])
    stream.gate.clear()  # the model has not answered yet
    reply = PersistedReply(store, cid, stream)
    got: list[str] = []
    consumer = threading.Thread(target=lambda: got.extend(reply))
    consumer.start()
    time.sleep(0.05)  # the consumer waits for the first token (either way the result is the same)
    reply.stop()
    store.add_message(cid, "user", "Hello?")
    stream.gate.set()  # the first token arrives after the stop
    consumer.join(timeout=10)
    turns = turns_of(store.get_conversation(cid))
    assert [(t.role, t.content) for t in turns] == [("user", "Tell me a story."), ("assistant", ""), ("user", "Hello?")]
    assert turns[1].stopped and got == []


def test_a_reply_stopped_before_it_began_never_calls_the_model_and_one_that_ended_is_untouched(data_dir: Path) -> None:
    store, cid = _setup(data_dir)
    unstarted = PersistedReply(store, cid, ScriptedStream(["never"]))
    unstarted.stop()  # its run was ended before it streamed: it keeps its place, empty
    assert list(unstarted) == []
    stopped = Turn.from_stored(store.get_conversation(cid).messages[-1])
    assert (stopped.role, stopped.content, stopped.stopped) == ("assistant", "", True)

    done = PersistedReply(store, cid, ScriptedStream(["All", " done"]))
    assert "".join(done) == "All done"
    done.stop()  # too late: nothing changes
    last = Turn.from_stored(store.get_conversation(cid).messages[-1])
    assert (last.content, last.incomplete, last.stopped) == ("All done", False, False)
