"""Issue 17, the data half: every stored thing has an owner (lib/core/identity.py). The store scopes every
statement by owner (behaviour per public method, a guard that lists the methods, and a trace of the
SQL each one runs), the answer cache is per owner unless shared, a database from before owners is
migrated to `local` without loss, Docs Q&A collections are per owner, and the usage log holds only
a hash of the owner. Plain pytest, no model server."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import trace_sql
from openai.types import CompletionUsage

from lib.conversation.io import export_json, parse_import
from lib.conversation.service import ChatSettings, ConversationService, Reply, Target, Turn, cache_key
from lib.core.config import load_settings
from lib.core.identity import LOCAL_OWNER, Identity, is_admin, owner_hash
from lib.docs_qa import DocsError, create_collection, delete_collection, list_collections, open_collection
from lib.docs_qa.__main__ import main as docs_cli
from lib.docs_qa.index import DB_FILE as COLLECTION_DB
from lib.docs_qa.index import OWNERS_DIR, Collection, check_name, collection_path, collections_root
from lib.llm.chat import CallContext, ChatParams, ChatResult, finalize_and_log
from lib.llm.providers import PROVIDERS, client_for
from lib.storage.compare_votes import CompareVoteRepository
from lib.storage.conversations import Conversation, StoredMessage
from lib.storage.db import StoreError
from lib.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from lib.storage.prompts import PromptRepository
from lib.storage.store import DB_FILE, Store
from lib.usage.reader import LOCAL_OWNER_HASH, UsageLog, read_table
from lib.usage.view import Filters, build_view, options

ALICE = Identity("https://issuer.example", "alice-sub-123", email="Alice@Example.com", name="Alice")
BOB = Identity("https://issuer.example", "bob-sub-456", email="bob@example.com")
OWNED_TABLES = ("conversations", "messages", "personas", "presets", "answer_cache", "compare_runs", "compare_cells")
OWNED_SINCE_6 = ("preferences",)  # (not in a version-4 database: the migration test builds one)


# --- identity and settings ---------------------------------------------------------------------------


def test_identity_owner_is_issuer_and_subject_and_its_hash_is_short_and_stable() -> None:
    assert ALICE.owner == "https://issuer.example|alice-sub-123" and "Alice@" not in ALICE.owner
    same_mail_elsewhere = Identity("https://other-issuer.example", "x", email=ALICE.email)
    assert same_mail_elsewhere.owner != ALICE.owner  # an e-mail alone never makes an owner
    assert ALICE.display == "Alice" and BOB.display == "bob@example.com" and Identity("i", "s").display == "s"
    h = owner_hash(ALICE.owner)
    assert re.fullmatch(r"[0-9a-f]{16}", h) and h == owner_hash(ALICE.owner) != owner_hash(BOB.owner)
    assert owner_hash(LOCAL_OWNER) == LOCAL_OWNER_HASH


def test_admins_setting_and_is_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().admins == () and not load_settings().shared_answer_cache
    monkeypatch.setenv("YOAKE_ADMINS", " Alice@Example.com , ,ops@example.com,alice@example.com")
    monkeypatch.setenv("YOAKE_SHARED_ANSWER_CACHE", "1")
    cfg = load_settings()
    assert cfg.admins == ("alice@example.com", "ops@example.com") and cfg.shared_answer_cache
    assert is_admin(" ALICE@example.COM ", cfg.admins) and is_admin("ops@example.com", ["  OPS@example.com "])
    assert not is_admin("bob@example.com", cfg.admins) and not is_admin(None, cfg.admins) and not is_admin("", cfg.admins)
    assert not is_admin("alice@example.com", [])


# --- the store: every public method, table-driven -----------------------------------------------------


@dataclass
class Things:
    cid: str  # a conversation
    mid: int  # one of its messages
    pid: int  # a persona
    preset_id: int
    key: str  # an answer-cache key
    rid: str  # a compare run


MISSING = Things(cid="0" * 32, mid=10**9, pid=10**9, preset_id=10**9, key="f" * 64, rid="0" * 32)
PERSONA, PRESET = "Bob's tutor", "Bob's preset"


def _give_bob_one_of_everything(bob: Store) -> Things:
    cid = bob.create_conversation(title="Bob's secret plan", system_prompt="Be Bob's.", provider="local", model="m")
    bob.add_message(cid, "user", "my secret question")
    mid = bob.add_message(cid, "assistant", "my secret answer", meta={"model": "m"})
    pid = bob.save_persona(PERSONA, "Teach Bob.", 0.4)
    preset_id = bob.save_preset(PRESET, "local", "bob-model", {"temperature": 0.1})
    bob.set_preference("language", "ja")
    bob.cache_put("k" * 64, "local", "m", ChatResult(text="Bob's cached answer", finish_reason="stop"))
    rid = bob.save_compare_run(
        title="Bob's run",
        status="complete",
        spec={"prompt": "secret"},
        summary={},
        cells=[{"index": 0, "cell": {}, "text": "cell text", "status": "done", "metrics": {}}],
    )
    return Things(cid, mid, pid, preset_id, "k" * 64, rid)


def _rows_of(path: Path, owner: str) -> dict[str, list[tuple]]:
    """Everything `owner` has, read beside the store (hits included: a peek must not count)."""
    with sqlite3.connect(path) as conn:
        mine = "(SELECT id FROM conversations WHERE owner = ?)"
        runs = "(SELECT id FROM compare_runs WHERE owner = ?)"
        return {
            "conversations": conn.execute("SELECT * FROM conversations WHERE owner = ? ORDER BY id", (owner,)).fetchall(),
            "messages": conn.execute(f"SELECT * FROM messages WHERE conversation_id IN {mine} ORDER BY id", (owner,)).fetchall(),
            "personas": conn.execute("SELECT * FROM personas WHERE owner = ? ORDER BY id", (owner,)).fetchall(),
            "presets": conn.execute("SELECT * FROM presets WHERE owner = ? ORDER BY id", (owner,)).fetchall(),
            "answer_cache": conn.execute("SELECT * FROM answer_cache WHERE owner = ? ORDER BY key", (owner,)).fetchall(),
            "compare_runs": conn.execute("SELECT * FROM compare_runs WHERE owner = ? ORDER BY id", (owner,)).fetchall(),
            "compare_cells": conn.execute(f"SELECT * FROM compare_cells WHERE run_id IN {runs}", (owner,)).fetchall(),
            "preferences": conn.execute("SELECT * FROM preferences WHERE owner = ? ORDER BY name", (owner,)).fetchall(),
        }


def _import_copy() -> Conversation:
    return parse_import(
        json.dumps({"messages": [{"role": "user", "content": "imported"}, {"role": "assistant", "content": "ok"}]}).encode()
    )


# (method, call). Alice calls each on Bob's ids; the outcome must equal the outcome on an id that does
# not exist (None / False / the same StoreError), and Bob's rows must not change.
ON_SOMEONE_ELSES: list[tuple[str, Callable[[Store, Things], Any]]] = [
    ("get_conversation", lambda s, t: s.get_conversation(t.cid)),
    (
        "update_settings",
        lambda s, t: s.update_settings(t.cid, persona="x", system_prompt="x", provider="p", model="m", params={}),
    ),
    ("rename_conversation", lambda s, t: s.rename_conversation(t.cid, "Stolen")),
    ("delete_conversation", lambda s, t: s.delete_conversation(t.cid)),
    ("add_message", lambda s, t: s.add_message(t.cid, "user", "injected")),
    ("add_message", lambda s, t: s.add_message(t.cid, "assistant", "injected", incomplete=True)),
    ("update_message", lambda s, t: s.update_message(t.mid, content="overwritten", incomplete=True, meta={"x": 1})),
    ("save_persona", lambda s, t: s.save_persona("Renamed", "Hijacked.", 1.0, persona_id=t.pid)),
    ("delete_persona", lambda s, t: s.delete_persona(t.pid)),
    ("delete_preset", lambda s, t: s.delete_preset(t.preset_id)),
    ("cache_get", lambda s, t: s.cache_get(t.key)),
    ("get_compare_run", lambda s, t: s.get_compare_run(t.rid)),
    ("delete_compare_run", lambda s, t: s.delete_compare_run(t.rid)),
    ("get_preference", lambda s, t: s.get_preference("language")),
]
# Lists: Alice sees none of Bob's things.
LISTS: list[tuple[str, Callable[[Store], list]]] = [
    ("list_conversations", lambda s: s.list_conversations()),
    ("list_personas", lambda s: s.list_personas()),
    ("list_presets", lambda s: s.list_presets()),
    ("list_compare_runs", lambda s: s.list_compare_runs()),
]
# Writes that create or replace: with Bob's names and keys they make Alice's own thing, never touch Bob's.
CREATES: list[tuple[str, Callable[[Store, Things], Any]]] = [
    ("create_conversation", lambda s, t: s.create_conversation(title="Alice's")),
    ("import_conversation", lambda s, t: s.import_conversation(_import_copy())),
    ("save_persona", lambda s, t: s.save_persona(PERSONA.upper(), "Alice's own.", 0.2)),  # Bob's name, any case
    ("save_preset", lambda s, t: s.save_preset(PRESET, "local", "alice-model", {})),  # an upsert by Bob's name
    ("cache_put", lambda s, t: s.cache_put(t.key, "local", "m", ChatResult(text="Alice's answer", finish_reason="stop"))),
    ("cache_clear", lambda s, t: s.cache_clear()),
    ("save_compare_run", lambda s, t: s.save_compare_run(title="Alice's run", status="complete", spec={}, summary={}, cells=[])),
    ("set_preference", lambda s, t: s.set_preference("language", "en")),  # Bob's name for a preference
]
NOT_OWNED = {"schema_version", "for_owner", "in_dir"}  # no stored thing: the database's version, constructors
# Prompts (lib/storage/prompts.py) have owner tests of their own, with the same guard: tests/test_prompts_store.py.
PROMPT_METHODS = {n for n in vars(PromptRepository) if not n.startswith("_")}
# Votes on compare runs (lib/storage/compare_votes.py) too: tests/test_evals_store.py.
VOTE_METHODS = {n for n in vars(CompareVoteRepository) if not n.startswith("_")}


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "returned", fn()
    except StoreError as exc:
        return "raised", str(exc)


def test_every_public_store_method_is_covered_by_the_owner_tests() -> None:
    # the Store's own methods and its repositories' (lib/storage/*.py)
    public = {n for cls in Store.__mro__[:-1] for n in vars(cls) if not n.startswith("_") and callable(getattr(Store, n))}
    covered = (
        {n for n, _ in ON_SOMEONE_ELSES}
        | {n for n, _ in LISTS}
        | {n for n, _ in CREATES}
        | NOT_OWNED
        | PROMPT_METHODS
        | VOTE_METHODS
    )
    assert public - covered == set(), "a new Store method: add it to the owner tests in tests/test_owners.py"
    assert covered - public == set()


def test_alice_cannot_see_open_change_export_or_delete_bobs_things(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    assert (bob.owner, alice.owner, base.owner) == (BOB.owner, ALICE.owner, LOCAL_OWNER) and bob.path == alice.path
    things = _give_bob_one_of_everything(bob)
    before = _rows_of(base.path, BOB.owner)
    assert all(before[t] for t in OWNED_TABLES + OWNED_SINCE_6)  # Bob really has one of everything

    for name, call in ON_SOMEONE_ELSES:
        on_bobs = _outcome(lambda call=call: call(alice, things))
        on_missing = _outcome(lambda call=call: call(alice, MISSING))
        assert on_bobs == on_missing, f"{name}: Bob's id behaves unlike a missing one: {on_bobs} vs {on_missing}"
        assert on_bobs[1] in (None, False) or on_bobs[0] == "raised", f"{name} returned {on_bobs[1]!r}"
        assert _rows_of(base.path, BOB.owner) == before, f"{name} changed Bob's things"
    # Export starts from opening: nothing to export (the ?c= link path opens with get_conversation too).
    assert alice.get_conversation(things.cid) is None

    for name, listing in LISTS:
        assert listing(alice) == [], name
        assert listing(base) == [], f"{name}: the laptop owner sees Bob's things"
        assert listing(bob), f"{name}: Bob lost his"

    for name, call in CREATES:
        call(alice, things)
        assert _rows_of(base.path, BOB.owner) == before, f"{name} changed Bob's things"
    mine = _rows_of(base.path, ALICE.owner)
    assert len(mine["conversations"]) == 2 and len(mine["personas"]) == 1 and len(mine["presets"]) == 1
    assert mine["answer_cache"] == [] and len(mine["compare_runs"]) == 1  # cache_clear ran after cache_put
    assert (alice.get_preference("language"), bob.get_preference("language")) == ("en", "ja")
    # ...and the other way round: Bob sees none of Alice's.
    assert {c.title for c in bob.list_conversations()} == {"Bob's secret plan"}
    assert [p.name for p in bob.list_personas()] == [PERSONA] and [p.model for p in bob.list_presets()] == ["bob-model"]
    assert [r.title for r in bob.list_compare_runs()] == ["Bob's run"]
    assert [p.name for p in alice.list_personas()] == [PERSONA.upper()]
    conv = bob.get_conversation(things.cid)
    assert conv is not None and "my secret answer" in export_json(conv)  # Bob still exports his own
    assert bob.delete_conversation(things.cid) and bob.get_conversation(things.cid) is None


def test_a_persona_id_alice_owns_is_still_hers_to_change_and_names_clash_per_owner(data_dir: Path) -> None:
    alice = Store.in_dir(data_dir, ALICE.owner)
    pid = alice.save_persona("Tutor", "Teach.", 0.3)
    assert alice.save_persona("Tutor 2", "Teach more.", 0.5, persona_id=pid) == pid
    with pytest.raises(StoreError, match="already exists"):
        alice.save_persona("tutor 2", "Again.", 0.5)
    alice.for_owner(BOB.owner).save_persona("Tutor 2", "Bob's.", 0.5)  # another owner may use the name
    assert [(p.name, p.temperature) for p in alice.list_personas()] == [("Tutor 2", 0.5)]


def test_every_statement_on_an_owned_table_names_the_owner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL itself is scoped: a new statement without an owner check fails here even if no
    behaviour test thinks of it."""
    base = Store.in_dir(data_dir)  # migrations ran (CREATE TABLE has no owner to name)
    statements = trace_sql(monkeypatch)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    things = _give_bob_one_of_everything(bob)
    bob.cache_get(things.key)  # a hit: the hits counter's UPDATE runs too
    Store(base.path, BOB.owner, shared_answer_cache=True).cache_get(things.key)
    for _, call in ON_SOMEONE_ELSES + CREATES:
        _outcome(lambda call=call: call(alice, things))
        _outcome(lambda call=call: call(bob, things))
    for _, listing in LISTS:
        listing(bob)
    owned = re.compile(r"\b(" + "|".join(OWNED_TABLES + OWNED_SINCE_6) + r")\b", re.IGNORECASE)
    checked = [s for s in statements if owned.search(s)]
    assert len(checked) > 40
    unscoped = [s for s in checked if not re.search(r"\bowner\b", s)]
    assert unscoped == []


# --- the answer cache ---------------------------------------------------------------------------------


DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens: a cache miss would have to call a model
QUESTION = "What is the capital of France?"
PARAMS = ChatParams(model="m", temperature=0.0, seed=1)
KEY = cache_key(f"local@{DEAD_URL}", [{"role": "user", "content": QUESTION}], PARAMS)


def _target(data_dir: Path, owner: str) -> Target:
    client = client_for(PROVIDERS["local"], load_settings(), base_url=DEAD_URL, api_key="x").with_options(max_retries=0)
    ctx = CallContext(page="chat", provider_id="local", local=True, log_path=data_dir / "usage.jsonl", owner=owner)
    return Target(PROVIDERS["local"], DEAD_URL, client, ctx)


def _ask(store: Store, data_dir: Path, owner: str) -> Reply:
    """The chat flow's own path: a saved conversation, then a reply that may come from the cache
    (nothing is sent until the reply is iterated)."""
    service = ConversationService(store)
    turns = [Turn("user", QUESTION)]
    cid = service.ensure_saved(None, turns, ChatSettings(provider="local", model="m"))
    return service.reply(cid, turns, PARAMS, _target(data_dir, owner), system_prompt=None, use_cache=True)


def _seed_bobs_answer(store: Store, data_dir: Path) -> None:
    assert KEY and not _ask(store, data_dir, BOB.owner).cache_hit  # nothing cached yet
    store.cache_put(KEY, "local", "m", ChatResult(text="Paris.", finish_reason="stop"))


def test_the_answer_cache_never_replays_one_owners_answer_to_another(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    _seed_bobs_answer(bob, data_dir)
    again = _ask(bob, data_dir, BOB.owner)
    assert again.cache_hit and "".join(again) == "Paris."  # Bob's own answer comes back
    theirs = _ask(alice, data_dir, ALICE.owner)
    assert not theirs.cache_hit  # Alice's identical question goes to the model
    assert not _ask(base, data_dir, LOCAL_OWNER).cache_hit
    assert alice.cache_clear() == 0 and bob.cache_clear() == 1


def test_a_shared_answer_cache_replays_across_owners_and_prefers_your_own(data_dir: Path) -> None:
    bob = Store.in_dir(data_dir, BOB.owner, shared_answer_cache=True)
    alice = bob.for_owner(ALICE.owner)
    assert alice.shared_answer_cache  # the flag travels with for_owner
    _seed_bobs_answer(bob, data_dir)
    shared = _ask(alice, data_dir, ALICE.owner)
    assert shared.cache_hit and "".join(shared) == "Paris."
    key = KEY
    alice.cache_put(key, "local", "m", ChatResult(text="Paris, France.", finish_reason="stop"))
    assert alice.cache_get(key).text == "Paris, France." and bob.cache_get(key).text == "Paris."
    assert alice.cache_clear() == 1 and bob.cache_get(key).text == "Paris."  # clearing is per owner
    # The same database without the flag: back to per-owner.
    assert Store.in_dir(data_dir, ALICE.owner).cache_get(key) is None


# --- the migration ------------------------------------------------------------------------------------


def test_a_database_from_before_owners_is_given_to_local_without_loss(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.executescript(
        """
        INSERT INTO conversations (id, title, created_at, updated_at, persona, params) VALUES
            ('c1', 'First', 1, 5, 'Tutor', '{"temperature":0.5}'), ('c2', 'Second', 2, 3, NULL, '{}');
        INSERT INTO messages (conversation_id, role, content, created_at, updated_at) VALUES
            ('c1', 'user', 'hello', 1, 1), ('c1', 'assistant', 'hi', 2, 2), ('c2', 'user', 'again', 3, 3);
        INSERT INTO personas (id, name, system_prompt, temperature, created_at, updated_at) VALUES
            (3, 'Tutor', 'Teach.', 0.3, 1, 1), (7, 'Pirate', 'Arr.', 0.9, 1, 1);
        INSERT INTO presets (id, name, provider, model, params, created_at) VALUES
            (4, 'Fast', 'local', 'small', '{}', 1);
        INSERT INTO answer_cache (key, provider, model, text, created_at, hits) VALUES
            ('k1', 'local', 'm', 'cached', 1, 2);
        INSERT INTO compare_runs (id, title, created_at, status, spec) VALUES ('r1', 'Run', 1, 'complete', '{}');
        INSERT INTO compare_cells (run_id, idx, cell, text, status) VALUES ('r1', 0, '{}', 'a', 'done'),
            ('r1', 1, '{}', 'b', 'done');
        PRAGMA user_version = 4;
        """
    )
    conn.commit()
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in OWNED_TABLES}
    conn.close()
    assert SCHEMA_VERSION >= 5 and all(counts.values())

    local = Store(path)
    assert local.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in OWNED_TABLES} == counts
        for table in ("conversations", "personas", "presets", "answer_cache", "compare_runs"):
            assert conn.execute(f"SELECT DISTINCT owner FROM {table}").fetchall() == [("local",)], table
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"conversations_by_owner", "compare_runs_by_owner", "answer_cache_by_key"} <= indexes

    assert [c.id for c in local.list_conversations()] == ["c1", "c2"]
    c1 = local.get_conversation("c1")
    assert c1 is not None and c1.params == {"temperature": 0.5} and [m.content for m in c1.messages] == ["hello", "hi"]
    assert [(p.id, p.name) for p in local.list_personas()] == [(7, "Pirate"), (3, "Tutor")]  # ids kept
    assert [(p.id, p.name) for p in local.list_presets()] == [(4, "Fast")]
    assert local.cache_get("k1").text == "cached"
    run = local.get_compare_run("r1")
    assert run is not None and [c["text"] for c in run.cells] == ["a", "b"]
    # The rebuilt tables keep their rules: names unique per owner, upserts by name, new ids after the old.
    with pytest.raises(StoreError, match="already exists"):
        local.save_persona("tutor", "Again.", 0.1)
    assert local.save_preset("Fast", "local", "bigger", {}) == 4 and local.list_presets()[0].model == "bigger"
    assert local.save_persona("New", "x", 0.1) > 7
    local.add_message("c2", "assistant", "still writable")
    # Nobody else sees any of it.
    alice = local.for_owner(ALICE.owner)
    assert alice.list_conversations() == [] and alice.list_personas() == [] and alice.list_presets() == []
    assert alice.get_conversation("c1") is None and alice.cache_get("k1") is None and alice.get_compare_run("r1") is None
    assert Store(path).schema_version() == SCHEMA_VERSION  # opening again is a no-op


def test_a_store_needs_an_owner(data_dir: Path) -> None:
    with pytest.raises(ValueError):
        Store.in_dir(data_dir, "")
    with pytest.raises(ValueError):
        Store.in_dir(data_dir).for_owner("  ")


# --- Docs Q&A collections -----------------------------------------------------------------------------


def test_collections_are_per_owner_and_local_keeps_its_old_place(data_dir: Path) -> None:
    # A collection made before owners existed: docs/<name>/ is the local owner's.
    (data_dir / "docs" / "legacy").mkdir(parents=True)
    Collection(data_dir / "docs" / "legacy").add_upload("old.md", b"# Old\n\nKept notes about zeppelins.\n")
    assert list_collections(data_dir) == ["legacy"] and open_collection(data_dir, "legacy").search("zeppelins")
    assert collections_root(data_dir) == data_dir / "docs"

    a = create_collection(data_dir, "manuals", owner=ALICE.owner)
    a.add_upload("alice.md", b"# Alice\n\nAlice's private notes about walruses.\n")
    create_collection(data_dir, "bobs-only", owner=BOB.owner)
    create_collection(data_dir, "manuals", owner=BOB.owner)  # the same name, another owner: no clash
    assert list_collections(data_dir, ALICE.owner) == ["manuals"]
    assert list_collections(data_dir, owner=BOB.owner) == ["bobs-only", "manuals"]
    assert list_collections(data_dir) == ["legacy"]  # local sees neither, and no owners' folder
    assert open_collection(data_dir, "manuals", owner=BOB.owner).search("walruses") == []
    assert open_collection(data_dir, "manuals", ALICE.owner).search("walruses")[0].name == "alice.md"

    # Another owner's collection is "no such collection", and the message names only your own.
    with pytest.raises(DocsError) as theirs:
        open_collection(data_dir, "bobs-only", owner=ALICE.owner)
    assert "no collection named 'bobs-only'" in theirs.value.detail and "collections: manuals)" in theirs.value.detail
    with pytest.raises(DocsError, match="no collection named 'legacy'"):
        open_collection(data_dir, "legacy", owner=ALICE.owner)
    assert not delete_collection(data_dir, "bobs-only", owner=ALICE.owner)
    assert list_collections(data_dir, BOB.owner) == ["bobs-only", "manuals"]

    # Layout: a hashed folder under docs/.owners/, never the subject or e-mail.
    assert a.path == data_dir / "docs" / OWNERS_DIR / owner_hash(ALICE.owner) / "manuals"
    assert collection_path(data_dir, "manuals", ALICE.owner) == a.path
    every_path = "\n".join(str(p) for p in (data_dir / "docs").rglob("*"))
    assert "alice-sub" not in every_path and "Example.com" not in every_path and "bob-sub" not in every_path

    assert delete_collection(data_dir, "manuals", owner=ALICE.owner) and list_collections(data_dir, ALICE.owner) == []
    assert list_collections(data_dir, BOB.owner) == ["bobs-only", "manuals"]


def test_a_collection_name_cannot_reach_the_owners_folder(data_dir: Path) -> None:
    with pytest.raises(DocsError):
        check_name(OWNERS_DIR)
    with pytest.raises(DocsError):
        create_collection(data_dir, OWNERS_DIR)
    create_collection(data_dir, "notes", owner=ALICE.owner)
    # A local collection named like Alice's hash is just a local collection.
    squatter = create_collection(data_dir, owner_hash(ALICE.owner))
    assert squatter.path.parent == data_dir / "docs"
    assert list_collections(data_dir, ALICE.owner) == ["notes"]
    assert list_collections(data_dir) == [owner_hash(ALICE.owner)]
    with pytest.raises(DocsError):
        open_collection(data_dir, f"{OWNERS_DIR}/{owner_hash(ALICE.owner)}/notes")
    with pytest.raises(ValueError):
        collections_root(data_dir, "")


def test_a_damaged_collection_of_yours_can_be_deleted(data_dir: Path) -> None:
    path = collection_path(data_dir, "broken", ALICE.owner)
    path.mkdir(parents=True)
    (path / COLLECTION_DB).write_bytes(b"not a database at all" * 100)
    with pytest.raises(DocsError, match="cannot be read"):
        open_collection(data_dir, "broken", ALICE.owner)
    assert not delete_collection(data_dir, "broken", BOB.owner) and path.exists()
    assert delete_collection(data_dir, "broken", ALICE.owner) and not path.exists()


def test_the_docs_command_line_takes_an_owner(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "kb.md"
    doc.write_text("# KB\n\nThe office plants are watered on Mondays.\n")
    assert docs_cli(["index", "--collection", "kb", "--owner", ALICE.owner, str(doc)]) == 0
    capsys.readouterr()
    assert docs_cli(["list"]) == 0 and capsys.readouterr().out == ""
    assert docs_cli(["list", "--owner", ALICE.owner]) == 0 and capsys.readouterr().out == "kb\n"
    assert docs_cli(["search", "--collection", "kb", "--owner", ALICE.owner, "--json", "plants watered"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["source"] == str(doc)
    assert docs_cli(["search", "--collection", "kb", "plants"]) == 2
    assert "no collection named 'kb'" in capsys.readouterr().err


# --- usage --------------------------------------------------------------------------------------------


def _log_call(data_dir: Path, owner: str | None, tokens: int) -> None:
    kwargs = {} if owner is None else {"owner": owner}
    ctx = CallContext(page="chat", provider_id="openai", local=False, log_path=data_dir / "usage.jsonl", **kwargs)
    res = ChatResult(text="x", finish_reason="stop", resolved_model="gpt-4o-mini")
    res.usage = CompletionUsage(prompt_tokens=tokens, completion_tokens=1, total_tokens=tokens + 1)
    finalize_and_log(ctx, ChatParams(model="gpt-4o-mini"), [{"role": "user", "content": "x"}], res, stream=True)


def test_usage_records_a_hash_of_the_owner_and_never_the_owner(data_dir: Path) -> None:
    log = data_dir / "usage.jsonl"
    data_dir.mkdir(parents=True, exist_ok=True)
    # A line from before owners existed (no "owner" field at all).
    old = {"id": "old", "ts": "2020-03-01T12:00:00.000Z", "page": "chat", "provider": "openai", "model": "gpt-4o-mini",
           "input_tokens": 5, "output_tokens": 1, "total_tokens": 6}  # fmt: skip
    log.write_text(json.dumps(old) + "\n")
    _log_call(data_dir, ALICE.owner, 100)
    _log_call(data_dir, BOB.owner, 200)
    _log_call(data_dir, None, 300)  # a CallContext without an owner is the laptop's
    raw = log.read_text()
    for secret in (ALICE.owner, ALICE.subject, "alice", "Alice", BOB.subject, "bob@", ALICE.issuer):
        assert secret not in raw, secret
    written = [json.loads(line).get("owner") for line in raw.splitlines()]
    assert written == [None, owner_hash(ALICE.owner), owner_hash(BOB.owner), owner_hash(LOCAL_OWNER)]

    table, bad = read_table(log)
    assert bad == 0 and table["owner"].to_pylist() == [LOCAL_OWNER_HASH, owner_hash(ALICE.owner), owner_hash(BOB.owner),
                                                       LOCAL_OWNER_HASH]  # fmt: skip
    snap = UsageLog(log).snapshot()  # the incremental reader fills the old line in the same way
    assert snap.table["owner"].to_pylist() == table["owner"].to_pylist()

    today = datetime.now(UTC).date()

    def view(owners: frozenset[str] | None):
        return build_view(table, Filters(owners=owners), prices={}, local_providers=(), today=today)

    everyone, hers = view(None), view(frozenset({owner_hash(ALICE.owner)}))
    assert everyone.rows == 4 and everyone.input_tokens == 605
    assert hers.rows == 1 and hers.input_tokens == 100 and hers.today_tokens == 101
    assert set(hers.recent["owner"]) == {owner_hash(ALICE.owner)}
    assert view(frozenset({owner_hash(ALICE.owner), LOCAL_OWNER_HASH})).input_tokens == 405
    assert view(frozenset()).rows == 0 and view(frozenset()).today_tokens == 0
    assert everyone.today_tokens == 603  # the old line is from another day
    assert options(table, frozenset({"0" * 16})) == {"provider": [], "model": [], "page": [], "prompt": []}
    assert options(table)["model"] == ["gpt-4o-mini"]
    assert build_view(table, Filters(start=date(2020, 3, 1), end=date(2020, 3, 1), owners=frozenset({LOCAL_OWNER_HASH})),
                      prices={}, local_providers=(), today=today).rows == 1  # fmt: skip


def test_a_replayed_cache_answer_is_logged_under_the_askers_hash(data_dir: Path) -> None:
    bob = Store.in_dir(data_dir, BOB.owner)
    _seed_bobs_answer(bob, data_dir)
    replay = _ask(bob, data_dir, BOB.owner)
    assert "".join(replay) == "Paris." and replay.finish() is not None
    line = json.loads((data_dir / "usage.jsonl").read_text().splitlines()[-1])
    assert line["cache_hit"] and line["owner"] == owner_hash(BOB.owner)
    assert BOB.subject not in (data_dir / "usage.jsonl").read_text()
    conv = bob.get_conversation(bob.list_conversations()[0].id)
    assert conv is not None and isinstance(conv.messages[-1], StoredMessage) and conv.messages[-1].content == "Paris."
