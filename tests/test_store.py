"""lib/storage/ (the Store and its repositories) directly: schema migrations, conversations, personas,
presets, the answer cache, saving a reply while it streams (against the fake model), and concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import usage_lines as _usage

from lib.conversation.persisted import PersistedReply
from lib.conversation.service import cache_key
from lib.core.config import load_settings
from lib.llm.chat import CallContext, ChatParams, ChatResult
from lib.llm.providers import LOCAL_MODEL_ALIAS, PROVIDERS, client_for
from lib.llm.streams import CachedStream, ChatStream
from lib.storage.conversations import title_from
from lib.storage.db import StoreError
from lib.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from lib.storage.store import DB_FILE, Store
from tests.support.hosted_api_sim import HostedAPISim

ROOT = Path(__file__).resolve().parents[1]


def _client():
    return client_for(PROVIDERS["local"], load_settings(), base_url=os.environ["YOAKE_LOCAL_BASE_URL"])


def _ctx(data_dir: Path) -> CallContext:
    return CallContext(page="test", provider_id="local", local=True, log_path=data_dir / "usage.jsonl")


# --- schema ------------------------------------------------------------------------------------------


def test_fresh_database_is_wal_and_current(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    with sqlite3.connect(data_dir / DB_FILE) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "personas", "presets", "answer_cache"} <= tables


def test_old_database_is_migrated_without_losing_data(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    # A database as schema version 1 left it, with a conversation in it.
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO conversations (id, title, created_at, updated_at, params) VALUES ('abc', 'Old one', 1, 2, '{}')")
    conn.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at, updated_at) VALUES ('abc', 'user', 'hello', 1, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    conv = store.get_conversation("abc")
    assert conv is not None and conv.title == "Old one" and [m.content for m in conv.messages] == ["hello"]
    store.save_persona("Pirate", "Talk like a pirate.", 0.9)  # tables of later migrations exist
    assert [p.name for p in store.list_personas()] == ["Pirate"]
    # Opening again is a no-op.
    assert Store(path).get_conversation("abc") is not None


def test_newer_database_is_refused_and_left_alone(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    Store(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer Yoake"):
        Store(path)
    assert path.read_bytes() == before


# --- conversations -----------------------------------------------------------------------------------


def test_conversation_lifecycle(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    first = store.create_conversation(
        persona="Helpful assistant",
        system_prompt="Be nice.",
        provider="local",
        model=LOCAL_MODEL_ALIAS,
        params={"temperature": 0.3},
    )
    store.add_message(first, "user", "\n  How do I list   files?\nWith details please")
    store.add_message(first, "assistant", "Use ls -l.")
    store.add_message(first, "user", "Thanks, something else entirely")
    second = store.create_conversation()
    store.add_message(second, "user", "x" * 200)

    listed = store.list_conversations()
    assert [c.id for c in listed] == [second, first]  # most recently active first
    assert listed[1].title == "How do I list files?" and listed[1].message_count == 3
    assert len(listed[0].title) == 80 and listed[0].title.endswith("…")

    store.add_message(first, "assistant", "You're welcome")
    assert store.list_conversations()[0].id == first

    assert store.rename_conversation(first, "  Shell   tips ") == "Shell tips"
    store.add_message(first, "user", "a new first line")  # a title, once set, stays
    conv = store.get_conversation(first)
    assert conv is not None and conv.title == "Shell tips"
    assert conv.persona == "Helpful assistant" and conv.system_prompt == "Be nice."
    assert conv.provider == "local" and conv.params == {"temperature": 0.3}
    assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant", "user"]
    with pytest.raises(StoreError):
        store.rename_conversation(first, "   ")

    store.update_settings(
        first, persona="Casual friend", system_prompt="Hey.", provider="local", model="m", params={"temperature": 1.0}
    )
    conv = store.get_conversation(first)
    assert conv is not None and conv.persona == "Casual friend" and conv.params == {"temperature": 1.0}

    assert store.delete_conversation(first)
    assert store.get_conversation(first) is None
    assert not store.delete_conversation(first)
    with sqlite3.connect(data_dir / DB_FILE) as conn:  # messages went with it
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (first,)).fetchone()[0] == 0
    assert [c.id for c in store.list_conversations()] == [second]
    assert title_from("") == ""


def test_message_update_and_bad_role(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    mid = store.add_message(cid, "assistant", "par", incomplete=True)
    store.update_message(mid, content="partial reply", incomplete=False, meta={"model": "x"})
    msg = store.get_conversation(cid).messages[0]  # type: ignore[union-attr]
    assert (msg.content, msg.incomplete, msg.meta) == ("partial reply", False, {"model": "x"})
    with pytest.raises(StoreError):
        store.add_message(cid, "tool", "x")


def test_personas(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = store.save_persona("Pirate", "Talk like a pirate.", 0.9, reserved=["Helpful assistant"])
    assert [(p.name, p.temperature) for p in store.list_personas()] == [("Pirate", 0.9)]
    store.save_persona("Old pirate", "Talk like an old pirate.", 0.4, persona_id=pid)
    assert [(p.id, p.name, p.system_prompt) for p in store.list_personas()] == [(pid, "Old pirate", "Talk like an old pirate.")]
    for bad in [("", "x", 0.5), ("helpful ASSISTANT", "x", 0.5), ("Nice", "   ", 0.5), ("Nice", "x", 3.0)]:
        with pytest.raises(StoreError):
            store.save_persona(*bad, reserved=["Helpful assistant"])
    store.save_persona("Sailor", "Ahoy.", 0.5)
    with pytest.raises(StoreError, match="already exists"):
        store.save_persona("old pirate", "dup", 0.5)
    assert store.delete_persona(pid)
    assert [p.name for p in store.list_personas()] == ["Sailor"]


def test_presets(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    store.save_preset("Precise", "local", LOCAL_MODEL_ALIAS, {"temperature": 0.0, "max_tokens": 64})
    store.save_preset("Precise", "openai", "gpt-4.1-mini", {"temperature": 0.1})  # same name: replaced
    store.save_preset("Creative", "local", LOCAL_MODEL_ALIAS, {"temperature": 1.2})
    presets = store.list_presets()
    assert [(p.name, p.provider, p.params) for p in presets] == [
        ("Creative", "local", {"temperature": 1.2}),
        ("Precise", "openai", {"temperature": 0.1}),
    ]
    with pytest.raises(StoreError):
        store.save_preset("  ", "local", "m", {})
    assert store.delete_preset(presets[0].id)
    assert [p.name for p in store.list_presets()] == ["Precise"]


# --- answer cache ------------------------------------------------------------------------------------


def test_cache_key_only_at_temperature_zero_and_exact() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    base = ChatParams(model="m", temperature=0.0, max_tokens=8)
    key = cache_key("local", msgs, base)
    assert key and key == cache_key(
        "local", [{"role": "user", "content": "hi"}], ChatParams(model="m", temperature=0.0, max_tokens=8)
    )
    assert cache_key("local", msgs, ChatParams(model="m", temperature=0.7)) is None
    assert cache_key("local", msgs, ChatParams(model="m")) is None
    others = {
        cache_key("openai", msgs, base),
        cache_key("local", [{"role": "user", "content": "hi!"}], base),
        cache_key("local", msgs, ChatParams(model="m2", temperature=0.0, max_tokens=8)),
        cache_key("local", msgs, ChatParams(model="m", temperature=0.0, max_tokens=9)),
        cache_key("local", msgs, ChatParams(model="m", temperature=0.0, max_tokens=8, seed=1)),
    }
    assert key not in others and len(others) == 5


def test_cached_stream_replays_and_logs_a_free_cache_hit(data_dir: Path, fake_model: HostedAPISim) -> None:
    store = Store.in_dir(data_dir)
    msgs = [{"role": "user", "content": "Say hi"}]
    params = ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=8)
    key = cache_key("local", msgs, params)
    assert key and store.cache_get(key) is None
    live = ChatStream(_client(), msgs, params, _ctx(data_dir))
    text = "".join(live)
    assert live.result.complete and text == fake_model.expected(msgs, 8, temperature=0.0)
    store.cache_put(key, "local", params.model, live.result)

    cached = store.cache_get(key)
    assert cached is not None and cached.text == text
    replay = CachedStream(cached, msgs, params, _ctx(data_dir))
    assert "".join(replay) == text and replay.result.complete
    assert len(fake_model.calls()) == 1
    lines = _usage(data_dir)
    assert len(lines) == 2  # the replay made no model call: a ChatStream would have logged its own line
    assert lines[0]["cache_hit"] is False
    assert lines[1]["cache_hit"] is True and lines[1]["cost_usd"] == 0 and lines[1]["status"] == "ok"
    assert lines[1]["output_tokens"] == lines[0]["output_tokens"]
    assert store.cache_clear() == 1 and store.cache_get(key) is None


# --- saving a reply while it streams -----------------------------------------------------------------


def test_persisted_reply_saves_a_complete_reply_with_meta(data_dir: Path, fake_model: HostedAPISim) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    store.add_message(cid, "user", "Name a colour.")
    stream = ChatStream(
        _client(),
        [{"role": "user", "content": "Name a colour."}],
        ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=16),
        _ctx(data_dir),
    )
    reply = PersistedReply(store, cid, stream, meta=lambda res: {"output_tokens": res.usage.completion_tokens})
    text = "".join(reply)
    msgs = store.get_conversation(cid).messages  # type: ignore[union-attr]
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].id == reply.message_id and msgs[1].content == text and not msgs[1].incomplete
    assert text == fake_model.expected([{"role": "user", "content": "Name a colour."}], 16, temperature=0.0)
    assert msgs[1].meta == {"output_tokens": stream.result.usage.completion_tokens}


def test_persisted_reply_stopped_by_the_consumer_is_kept_incomplete_and_marked_stopped(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    stream = ChatStream(
        _client(),
        [{"role": "user", "content": "Count from 1 to 50."}],
        ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=64),
        _ctx(data_dir),
    )
    reply = PersistedReply(store, cid, stream)
    it = iter(reply)
    got = "".join(next(it) for _ in range(3))
    it.close()  # what becomes of the generator when Streamlit ends the run showing it (a rerun, its Stop)
    msg = store.get_conversation(cid).messages[0]  # type: ignore[union-attr]
    assert msg.content == got and msg.incomplete and msg.meta and msg.meta["stopped"]
    assert reply.stopped
    reply.stop()  # the newer run's stop, arriving after: nothing changes
    assert store.get_conversation(cid).messages[0] == msg  # type: ignore[union-attr]
    assert len(_usage(data_dir)) == 1  # the stream's own finaliser ran


class _Paced:
    """A stream whose consumer pulls at its own pace (a test double of the consumer side, not a model)."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        self.result = ChatResult()

    def __iter__(self):
        for part in self.parts:
            self.result.text += part
            yield part
        self.result.finish_reason = "stop"


def test_text_that_arrived_before_a_pause_is_flushed_without_a_new_delta(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    reply = PersistedReply(store, cid, _Paced(["Hello", ", wor", "ld"]))
    it = iter(reply)
    assert next(it) == "Hello"  # the row is created on the first delta
    assert store.get_conversation(cid).messages[0].content == "Hello"  # type: ignore[union-attr]
    next(it)  # within the interval: not written inline, a timer will flush it
    deadline = time.monotonic() + 20
    while store.get_conversation(cid).messages[0].content != "Hello, wor" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    msg = store.get_conversation(cid).messages[0]  # type: ignore[union-attr]
    assert msg.content == "Hello, wor" and msg.incomplete  # flushed during the pause, still marked incomplete
    assert list(it) == ["ld"]
    msg = store.get_conversation(cid).messages[0]  # type: ignore[union-attr]
    assert msg.content == "Hello, world" and not msg.incomplete


def test_no_reply_row_when_the_call_fails_before_any_text(data_dir: Path) -> None:
    import socket

    import openai

    from lib.llm.providers import make_client

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    stream = ChatStream(
        make_client(f"http://127.0.0.1:{port}/v1", "x", max_retries=0),
        [{"role": "user", "content": "hi"}],
        ChatParams(model=LOCAL_MODEL_ALIAS, max_tokens=8),
        _ctx(data_dir),
    )
    reply = PersistedReply(store, cid, stream)
    with pytest.raises(openai.APIConnectionError):
        list(reply)
    assert reply.message_id is None and store.get_conversation(cid).messages == []  # type: ignore[union-attr]
    assert _usage(data_dir)[0]["status"] == "error"


# --- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_threads_lose_nothing(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    shared = Store(path).create_conversation()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            store = Store(path)  # each "session" opens the store itself, as a fresh app thread would
            own = store.create_conversation()
            for i in range(40):
                store.add_message(shared, "user", f"t{n}-{i}")
                mid = store.add_message(own, "assistant", "", incomplete=True)
                store.update_message(mid, content=f"own{n}-{i}", incomplete=False)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store(path)
    shared_msgs = store.get_conversation(shared).messages  # type: ignore[union-attr]
    assert sorted(m.content for m in shared_msgs) == sorted(f"t{n}-{i}" for n in range(8) for i in range(40))
    for n in range(8):  # each thread's order is kept
        mine = [m.content for m in shared_msgs if m.content.startswith(f"t{n}-")]
        assert mine == [f"t{n}-{i}" for i in range(40)]
    owns = [store.get_conversation(c.id) for c in store.list_conversations() if c.id != shared]
    assert len(owns) == 8
    assert sorted(m.content for c in owns for m in c.messages) == sorted(f"own{n}-{i}" for n in range(8) for i in range(40))


_WRITER = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from lib.storage.store import Store
store = Store(Path(sys.argv[2]))  # several processes migrate a brand-new file at once
tag = sys.argv[3]
shared = sys.argv[4] if len(sys.argv) > 4 else None
own = store.create_conversation(title=tag)
for i in range(30):
    store.add_message(own, "user", f"{tag}-{i}")
    store.save_preset(f"{tag}-{i % 3}", "local", "m", {"temperature": i / 100})
print("ok")
"""


def test_concurrent_processes_lose_nothing_even_while_migrating(data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    path = data_dir / DB_FILE
    assert not path.exists()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(path), f"p{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-2000:] for o in outs]
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    convs = {c.title: store.get_conversation(c.id) for c in store.list_conversations()}
    assert sorted(convs) == [f"p{n}" for n in range(4)]
    for n in range(4):
        assert [m.content for m in convs[f"p{n}"].messages] == [f"p{n}-{i}" for i in range(30)]  # type: ignore[union-attr]
    assert len(store.list_presets()) == 12
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
