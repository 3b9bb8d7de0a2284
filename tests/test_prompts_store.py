"""The prompt store (lib/storage/prompts.py, migration 7): versions are immutable, labels move, restore and
duplicate add rather than change, delete keeps the versions saved results refer to, a database with personas
and presets is migrated without losing anything, and every query is scoped to its owner (behaviour per
public method, and a trace of the SQL). Plain pytest, no model server."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import trace_sql

from lib.core.identity import LOCAL_OWNER, Identity
from lib.prompts import PromptContent, PromptError, record_use, resolve
from lib.storage.db import StoreError, dumps
from lib.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from lib.storage.prompts import PromptRepository
from lib.storage.store import DB_FILE, Store
from tests.support.i18n import ja

ALICE = Identity("https://issuer.example", "alice-sub-123", email="alice@example.com")
BOB = Identity("https://issuer.example", "bob-sub-456", email="bob@example.com")
PROMPT_TABLES = ("prompts", "prompt_versions", "prompt_labels", "prompt_refs")

V1 = PromptContent(system="You are a support agent for {{product}}.", template="{{question}}", temperature=0.3)
V2 = PromptContent(system="You are a patient support agent for {{product}}.", template="{{question}}", temperature=0.3)
V3 = PromptContent(system="You are a patient support agent for {{product}}.", template="Q: {{question}}", max_tokens=128)


def _rows(path: Path, table: str, owner: str | None = None) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        if owner is None:
            return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        return conn.execute(f"SELECT * FROM {table} WHERE owner = ? ORDER BY 1, 2", (owner,)).fetchall()


def _three(store: Store, name: str = "support") -> int:
    pid = store.create_prompt(name, V1.to_dict(), "first")
    assert store.save_version(pid, V2.to_dict(), "more patient") == 2
    assert store.save_version(pid, V3.to_dict(), "shorter") == 3
    return pid


# --- versions ----------------------------------------------------------------------------------------------


def test_each_save_is_a_new_immutable_version(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three(store)
    versions = store.list_versions(pid)
    assert [(v.number, v.note, PromptContent.from_dict(v.content)) for v in versions] == [
        (1, "first", V1),
        (2, "more patient", V2),
        (3, "shorter", V3),
    ]
    assert all(v.owner == LOCAL_OWNER and not v.deleted and v.prompt_name == "support" for v in versions)
    assert versions[0].created_at <= versions[1].created_at <= versions[2].created_at
    before = _rows(store.path, "prompt_versions")

    # Nothing the store offers changes a saved version: saves, restores, labels and copies only add.
    with pytest.raises(StoreError, match="Nothing changed since version 3") as same:
        store.save_version(pid, V3.to_dict())
    assert same.value.detail.render("ja") == ja("Nothing changed since version {n}: no new version was saved.").format(n=3)
    store.set_label(pid, "demo", 1)
    store.restore_version(pid, 1)
    store.duplicate_prompt(pid, "support copy")
    store.add_prompt_reference(pid, 2, "conversation", "c1")
    after = _rows(store.path, "prompt_versions")
    assert after[: len(before)] == before and len(after) == len(before) + 2  # v4 and the copy's v1
    assert not hasattr(PromptRepository, "update_version") and not any(
        "version" in n and n.startswith(("update", "edit", "set_version")) for n in vars(PromptRepository)
    )

    summary = store.get_prompt(pid)
    assert (summary.latest, summary.labels, PromptContent.from_dict(summary.content)) == (4, {"demo": 1}, V1)


def test_restore_adds_a_version_equal_to_an_old_one(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three(store)
    assert store.restore_version(pid, 1, "back to the original") == 4
    v4 = store.get_version(pid, 4)
    assert v4.content == store.get_version(pid, 1).content and v4.restored_from == 1 and v4.note == "back to the original"
    with pytest.raises(StoreError, match="Nothing changed since version 4"):
        store.restore_version(pid, 4)  # the newest already says that
    with pytest.raises(StoreError, match="Version 9 does not exist"):
        store.restore_version(pid, 9)


def test_labels_point_at_one_version_and_move(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three(store)
    assert store.set_label(pid, "本番", 2) is None  # new
    assert store.set_label(pid, "demo", 3) is None
    assert store.get_prompt(pid).labels == {"demo": 3, "本番": 2}
    assert store.set_label(pid, " 本番 ", 3) == 2  # moved from v2
    assert store.get_prompt(pid).labels == {"demo": 3, "本番": 3}
    assert store.version_by_name("support", label="本番").number == 3
    v, content = resolve(store, "SUPPORT@本番")  # names are found in any case
    assert v.number == 3 and content == V3
    assert resolve(store, "support")[0].number == 3 and resolve(store, "support@1")[1] == V1
    assert store.remove_label(pid, "demo") and not store.remove_label(pid, "demo")
    assert store.get_prompt(pid).labels == {"本番": 3}
    for bad in ("", "3", "v2", "a@b", "x" * 41):
        with pytest.raises(StoreError):
            store.set_label(pid, bad, 1)
    with pytest.raises(StoreError, match="Version 7 does not exist"):
        store.set_label(pid, "demo", 7)
    with pytest.raises(PromptError, match="no prompt version support@demo"):
        resolve(store, "support@demo")


def test_names_are_unique_per_owner_in_any_case_and_search_finds_name_and_text(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    _three(store)
    with pytest.raises(StoreError, match="already exists"):
        store.create_prompt("SUPPORT", V1.to_dict())
    with pytest.raises(StoreError, match="needs a name"):
        store.create_prompt("  ", V1.to_dict())
    store.create_prompt("翻訳", PromptContent(template="次の文を英語に: {{text}}").to_dict())
    assert [p.name for p in store.list_prompts()] == ["support", "翻訳"]
    assert [p.name for p in store.list_prompts("PATIENT")] == ["support"]  # the newest version's system prompt
    assert [p.name for p in store.list_prompts("英語")] == ["翻訳"]  # the template
    assert [p.name for p in store.list_prompts("翻")] == ["翻訳"]  # the name
    assert store.list_prompts("nothing like this") == []
    assert store.find_prompt(" Support ").name == "support" and store.find_prompt("nope") is None


def test_duplicate_starts_a_new_prompt_from_the_newest_version(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three(store)
    store.set_label(pid, "demo", 1)
    copy = store.duplicate_prompt(pid, "support (copy)")
    dup = store.get_prompt(copy)
    assert dup.latest == 1 and dup.labels == {} and dup.source == f"duplicate:{pid}@3"
    assert PromptContent.from_dict(dup.content) == V3 and store.get_prompt(pid).latest == 3
    with pytest.raises(StoreError, match="already exists"):
        store.duplicate_prompt(pid, "Support (COPY)")


def test_delete_keeps_the_versions_saved_results_refer_to(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three(store)
    store.set_label(pid, "demo", 2)
    version = store.get_version(pid, 2)
    assert record_use(store, version, "conversation", "conv-1") == "support@2"
    assert store.add_prompt_reference(pid, 2, "compare_run", "run-1")
    assert store.add_prompt_reference(pid, 2, "compare_run", "run-1")  # recorded once, still true
    assert not store.add_prompt_reference(pid, 9, "conversation", "x")  # no such version
    assert [(r.number, r.kind, r.target) for r in store.list_prompt_references(pid)] == [
        (2, "conversation", "conv-1"),
        (2, "compare_run", "run-1"),
    ]

    assert store.delete_prompt(pid) and not store.delete_prompt(pid)
    assert store.list_prompts() == [] and store.get_prompt(pid) is None and store.find_prompt("support") is None
    gone = store.get_prompt(pid, include_deleted=True)
    assert gone.deleted and gone.labels == {}
    kept = store.list_versions(pid)
    assert [(v.number, v.deleted) for v in kept] == [(2, True)]  # v1 and v3 went; v2 is referenced
    assert PromptContent.from_dict(kept[0].content) == V2
    assert resolve(store, "support@2")[0].deleted  # a saved result still finds what it ran
    with pytest.raises(PromptError):
        resolve(store, "support@3")
    with pytest.raises(PromptError):
        resolve(store, "support")  # the newest of a live prompt: there is none
    for action in (lambda: store.save_version(pid, V1.to_dict()), lambda: store.restore_version(pid, 2),
                   lambda: store.set_label(pid, "demo", 2), lambda: store.duplicate_prompt(pid, "again")):  # fmt: skip
        with pytest.raises(StoreError, match="no longer exists"):
            action()

    # The name is free again; a number still finds the kept version, the new prompt comes first.
    new = store.create_prompt("support", V3.to_dict())
    assert resolve(store, "support")[0].prompt_id == new and resolve(store, "support@2")[0].prompt_id == pid
    store.save_version(new, V1.to_dict())
    assert resolve(store, "support@2")[0].prompt_id == new

    # When the last result that used it goes, the kept version goes too.
    assert store.remove_prompt_references("conversation", "conv-1") == 1
    assert [v.number for v in store.list_versions(pid)] == [2]
    assert store.remove_prompt_references("compare_run", "run-1") == 1
    assert store.list_versions(pid) == [] and store.get_prompt(pid, include_deleted=True) is None
    assert store.delete_prompt(new) and _rows(store.path, "prompts") == [] and _rows(store.path, "prompt_versions") == []


def test_import_keeps_numbers_times_notes_and_labels(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    versions = [
        {"number": 1, "content": V1.to_dict(), "note": "a", "created_at": 100.0},
        {"number": 2, "content": V2.to_dict(), "note": "b", "created_at": 200.0, "restored_from": None},
        {"number": 5, "content": V1.to_dict(), "note": "c", "created_at": 300.0, "restored_from": 1},
    ]
    pid = store.import_prompt("imported", versions, {"demo": 5})
    got = store.list_versions(pid)
    assert [(v.number, v.created_at, v.note, v.restored_from) for v in got] == [(1, 100.0, "a", None), (2, 200.0, "b", None),
                                                                                 (5, 300.0, "c", 1)]  # fmt: skip
    assert store.get_prompt(pid).labels == {"demo": 5} and store.get_prompt(pid).source == "import"
    assert store.save_version(pid, V3.to_dict()) == 6
    for bad_versions, bad_labels in (([], {}), ([{"number": 2}, {"number": 1}], {}), (versions, {"demo": 4})):
        with pytest.raises(StoreError):
            store.import_prompt("other", bad_versions, bad_labels)
    assert store.find_prompt("other") is None  # all or nothing


# --- owners ---------------------------------------------------------------------------------------------


@dataclass
class Bobs:
    pid: int
    name: str = "Bob's prompt"


MISSING = Bobs(pid=10**9, name="no such prompt")

# Alice calls each on Bob's prompt: the outcome equals the outcome on a prompt that does not exist, and Bob's
# rows stay as they were.
ON_SOMEONE_ELSES: list[tuple[str, Callable[[Store, Bobs], Any]]] = [
    ("get_prompt", lambda s, b: s.get_prompt(b.pid)),
    ("get_prompt", lambda s, b: s.get_prompt(b.pid, include_deleted=True)),
    ("find_prompt", lambda s, b: s.find_prompt(b.name)),
    ("list_versions", lambda s, b: s.list_versions(b.pid) or None),
    ("get_version", lambda s, b: s.get_version(b.pid, 1)),
    ("version_by_name", lambda s, b: s.version_by_name(b.name)),
    ("version_by_name", lambda s, b: s.version_by_name(b.name, number=1)),
    ("version_by_name", lambda s, b: s.version_by_name(b.name, label="demo")),
    ("save_version", lambda s, b: s.save_version(b.pid, V3.to_dict(), "hijack")),
    ("restore_version", lambda s, b: s.restore_version(b.pid, 1)),
    ("duplicate_prompt", lambda s, b: s.duplicate_prompt(b.pid, "stolen copy")),
    ("set_label", lambda s, b: s.set_label(b.pid, "demo", 1)),
    ("remove_label", lambda s, b: s.remove_label(b.pid, "demo")),
    ("delete_prompt", lambda s, b: s.delete_prompt(b.pid)),
    ("add_prompt_reference", lambda s, b: s.add_prompt_reference(b.pid, 1, "conversation", "alice-conv")),
    ("list_prompt_references", lambda s, b: s.list_prompt_references(b.pid) or None),
    ("remove_prompt_references", lambda s, b: s.remove_prompt_references("conversation", "bob-conv") or None),
]
LISTS: list[tuple[str, Callable[[Store], list]]] = [("list_prompts", lambda s: s.list_prompts()),
                                                    ("list_prompts", lambda s: s.list_prompts("Bob"))]  # fmt: skip
# Writes that create: with Bob's names they make Alice's own prompt, never touch Bob's.
CREATES: list[tuple[str, Callable[[Store, Bobs], Any]]] = [
    ("create_prompt", lambda s, b: s.create_prompt(b.name, V1.to_dict())),
    ("import_prompt", lambda s, b: s.import_prompt(b.name + " 2", [{"number": 1, "content": V2.to_dict()}], {"demo": 1})),
]


def _give_bob_a_prompt(bob: Store) -> Bobs:
    pid = bob.create_prompt("Bob's prompt", V1.to_dict(), "Bob's secret note")
    bob.save_version(pid, V2.to_dict())
    bob.set_label(pid, "demo", 1)
    bob.add_prompt_reference(pid, 1, "conversation", "bob-conv")
    return Bobs(pid)


def _bobs_rows(path: Path) -> dict[str, list[tuple]]:
    return {t: _rows(path, t, BOB.owner) for t in PROMPT_TABLES}


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "returned", fn()
    except StoreError as exc:
        return "raised", str(exc)


def test_every_public_prompt_method_is_covered_by_the_owner_tests() -> None:
    public = {n for n in vars(PromptRepository) if not n.startswith("_") and callable(getattr(PromptRepository, n))}
    covered = {n for n, _ in ON_SOMEONE_ELSES} | {n for n, _ in LISTS} | {n for n, _ in CREATES}
    assert public == covered, "a new PromptRepository method: add it to the owner tests here"


def test_alice_cannot_see_use_change_or_delete_bobs_prompts(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    bobs = _give_bob_a_prompt(bob)
    before = _bobs_rows(base.path)
    assert all(before.values())  # Bob has a row in every table

    for name, call in ON_SOMEONE_ELSES:
        on_bobs = _outcome(lambda call=call: call(alice, bobs))
        on_missing = _outcome(lambda call=call: call(alice, MISSING))
        assert on_bobs == on_missing, f"{name}: Bob's prompt behaves unlike a missing one: {on_bobs} vs {on_missing}"
        assert on_bobs[1] in (None, False) or on_bobs[0] == "raised", f"{name} returned {on_bobs[1]!r}"
        assert _bobs_rows(base.path) == before, f"{name} changed Bob's prompts"
    with pytest.raises(PromptError):
        resolve(alice, "Bob's prompt@1")
    for name, listing in LISTS:
        assert listing(alice) == [] and listing(base) == [], name
        assert listing(bob), f"{name}: Bob lost his"
    for name, call in CREATES:
        call(alice, bobs)
        assert _bobs_rows(base.path) == before, f"{name} changed Bob's prompts"
    assert [p.name for p in alice.list_prompts()] == ["Bob's prompt", "Bob's prompt 2"]  # Alice's own, same name
    assert [p.name for p in bob.list_prompts()] == ["Bob's prompt"] and bob.get_prompt(bobs.pid).labels == {"demo": 1}
    assert alice.find_prompt("Bob's prompt").id != bobs.pid
    assert PromptContent.from_dict(resolve(bob, "Bob's prompt@demo")[0].content) == V1


def test_every_statement_on_a_prompt_table_names_the_owner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Store.in_dir(data_dir)  # migrations ran (CREATE TABLE has no owner to name)
    statements = trace_sql(monkeypatch)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    bobs = _give_bob_a_prompt(bob)
    for _, call in ON_SOMEONE_ELSES + CREATES:
        _outcome(lambda call=call: call(alice, bobs))
        _outcome(lambda call=call: call(bob, bobs))
    for _, listing in LISTS:
        listing(bob)
    owned = re.compile(r"\b(" + "|".join(PROMPT_TABLES) + r")\b", re.IGNORECASE)
    checked = [s for s in statements if owned.search(s)]
    assert len(checked) > 40
    assert [s for s in checked if not re.search(r"\bowner\b", s)] == []


# --- the migration -------------------------------------------------------------------------------------------


def test_a_database_with_personas_and_presets_is_migrated_without_loss(data_dir: Path) -> None:
    path = data_dir / DB_FILE
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        conn.executescript(script)
    conn.executescript(
        f"""
        INSERT INTO personas (id, owner, name, system_prompt, temperature, created_at, updated_at) VALUES
            (3, 'local', 'Tutor', 'Teach step by step; it''s fine to say "I don''t know".', 0.3, 10, 20),
            (7, 'local', '海賊', 'あなたは海賊です。{{{{name}}}}さんに話しかけます。', 1.0, 11, 21),
            (8, '{BOB.owner}', 'Tutor', 'Bob''s tutor.', 0.5, 12, 22);
        INSERT INTO presets (id, owner, name, provider, model, params, created_at) VALUES
            (4, 'local', 'Fast', 'local', 'small', '{{"temperature":0.1}}', 1),
            (5, '{BOB.owner}', 'Big', 'openai', 'gpt-6-sol', '{{}}', 2);
        INSERT INTO conversations (id, title, created_at, updated_at, persona, params, owner) VALUES
            ('c1', 'First', 1, 5, 'Tutor', '{{}}', 'local');
        PRAGMA user_version = 6;
        """
    )
    conn.commit()
    old = {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("personas", "presets", "conversations")}
    conn.close()

    local = Store(path)
    assert local.schema_version() == SCHEMA_VERSION >= 7
    with sqlite3.connect(path) as conn:  # nothing of before changed (later migrations only add columns at the end)
        now = {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in old}
        assert {t: [row[: len(old[t][0])] for row in rows] for t, rows in now.items()} == old
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [(p.name, p.temperature) for p in local.list_personas()] == [("Tutor", 0.3), ("海賊", 1.0)]
    assert [(p.name, p.model, p.params) for p in local.list_presets()] == [("Fast", "small", {"temperature": 0.1})]

    # Every persona is now also a prompt of its owner: version 1 = its system prompt and temperature.
    prompts = local.list_prompts()
    assert [(p.name, p.latest, p.source) for p in prompts] == [("Tutor", 1, "persona:3"), ("海賊", 1, "persona:7")]
    tutor = PromptContent.from_dict(prompts[0].content)
    assert tutor == PromptContent(system="Teach step by step; it's fine to say \"I don't know\".", temperature=0.3)
    assert prompts[0].content == tutor.to_dict()  # stored in the canonical form the app writes
    pirate = local.list_versions(prompts[1].id)[0]
    assert (pirate.created_at, pirate.note, pirate.owner) == (21, "", LOCAL_OWNER)
    assert PromptContent.from_dict(pirate.content).messages({"name": "Aki"}) == [
        {"role": "system", "content": "あなたは海賊です。Akiさんに話しかけます。"}
    ]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT content FROM prompt_versions WHERE prompt_id = ?", (prompts[0].id,)).fetchone()[0] == dumps(
            tutor.to_dict()
        )
    bobs = local.for_owner(BOB.owner).list_prompts()
    assert [(p.name, PromptContent.from_dict(p.content).system) for p in bobs] == [("Tutor", "Bob's tutor.")]
    # The migrated prompts are ordinary prompts: new versions, labels, and new prompts beside them.
    assert local.save_version(prompts[0].id, V1.to_dict()) == 2
    assert local.create_prompt("Fresh", V2.to_dict()) > prompts[1].id
    assert Store(path).schema_version() == SCHEMA_VERSION  # opening again is a no-op
