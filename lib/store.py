"""The conversation store: conversations, messages, user personas, parameter presets, the
answer cache and compare runs, in one SQLite database (`$YOAKE_DATA_DIR/yoake.db`).

Concurrency: Streamlit runs each session's script in its own thread and several app processes may
share a data dir, so every call opens its own short-lived connection (WAL journal, busy timeout);
writes take the write lock up front (`BEGIN IMMEDIATE`) so two writers queue instead of failing.
Durability: a committed write survives the app process being killed (WAL + synchronous=NORMAL
only risks the last transactions on an OS crash or power loss, not on a process kill).
Schema: `PRAGMA user_version` counts the migrations applied; `Store()` applies the missing ones
in order, each in its own transaction, so an older database is upgraded in place without loss.
Owners: a `Store` acts for one owner (`lib.identity`: a signed-in identity, or `local` without
sign-in) and every statement it runs is scoped to that owner in SQL. Another owner's id behaves
exactly like a missing one (None, False, "no longer exists"), so nothing tells a visitor that it
exists. Migration 5 gave everything stored before owners to `local`.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai.types import CompletionUsage

from lib.chat import ChatResult
from lib.errors import YoakeError
from lib.identity import LOCAL_OWNER

DB_FILE = "yoake.db"
_CONVERSATION_GONE = "That conversation no longer exists."
BUSY_TIMEOUT_S = 30.0
TITLE_MAX = 80

# Append-only: a released migration is never edited; a schema change is a new entry.
MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their messages
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        persona TEXT,
        system_prompt TEXT,
        provider TEXT,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        incomplete INTEGER NOT NULL DEFAULT 0,
        meta TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_activity ON conversations(updated_at DESC);
    """,
    # 2: user personas and parameter presets
    """
    CREATE TABLE personas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        system_prompt TEXT NOT NULL,
        temperature REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    # 3: the answer cache (key = hash of provider, model, messages and parameters)
    """
    CREATE TABLE answer_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        resolved_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        finish_reason TEXT,
        created_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: compare runs (pages/compare.py) and their cells
    """
    CREATE TABLE compare_runs (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        status TEXT NOT NULL,
        spec TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE compare_cells (
        run_id TEXT NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        cell TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        PRIMARY KEY (run_id, idx)
    );
    CREATE INDEX compare_runs_by_time ON compare_runs(created_at DESC);
    """,
    # 5: owners (issue 17). Everything stored so far belongs to `local`. Messages and compare cells
    # belong to their conversation / run. Names and cache keys become unique per owner, which
    # needs new tables for personas, presets and the answer cache (ids are kept).
    """
    ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    DROP INDEX conversations_by_activity;
    CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC);
    ALTER TABLE compare_runs ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    DROP INDEX compare_runs_by_time;
    CREATE INDEX compare_runs_by_owner ON compare_runs(owner, created_at DESC);
    CREATE TABLE personas_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL DEFAULT 'local',
        name TEXT NOT NULL,
        system_prompt TEXT NOT NULL,
        temperature REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (owner, name)
    );
    INSERT INTO personas_v5 (id, owner, name, system_prompt, temperature, created_at, updated_at)
        SELECT id, 'local', name, system_prompt, temperature, created_at, updated_at FROM personas;
    DROP TABLE personas;
    ALTER TABLE personas_v5 RENAME TO personas;
    CREATE TABLE presets_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL DEFAULT 'local',
        name TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        UNIQUE (owner, name)
    );
    INSERT INTO presets_v5 (id, owner, name, provider, model, params, created_at)
        SELECT id, 'local', name, provider, model, params, created_at FROM presets;
    DROP TABLE presets;
    ALTER TABLE presets_v5 RENAME TO presets;
    CREATE TABLE answer_cache_v5 (
        owner TEXT NOT NULL DEFAULT 'local',
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        resolved_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        finish_reason TEXT,
        created_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (owner, key)
    );
    INSERT INTO answer_cache_v5 (owner, key, provider, model, text, resolved_model, prompt_tokens,
            completion_tokens, finish_reason, created_at, hits)
        SELECT 'local', key, provider, model, text, resolved_model, prompt_tokens,
            completion_tokens, finish_reason, created_at, hits FROM answer_cache;
    DROP TABLE answer_cache;
    ALTER TABLE answer_cache_v5 RENAME TO answer_cache;
    CREATE INDEX answer_cache_by_key ON answer_cache(key)
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers wait (busy_timeout)
    instead of failing on upgrade; any exception rolls the whole transaction back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class StoreError(YoakeError):
    """A store operation the user asked for cannot be done (the message says why)."""

    kind = "store"
    title = "That could not be saved."


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    created_at: float
    updated_at: float
    message_count: int


@dataclass
class StoredMessage:
    id: int
    role: str
    content: str
    incomplete: bool = False
    meta: dict[str, Any] | None = None


@dataclass
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    persona: str | None = None
    system_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[StoredMessage] = field(default_factory=list)


@dataclass(frozen=True)
class UserPersona:
    id: int
    name: str
    system_prompt: str
    temperature: float


@dataclass(frozen=True)
class Preset:
    id: int
    name: str
    provider: str
    model: str
    params: dict[str, Any]


@dataclass(frozen=True)
class CompareRunSummary:
    id: str
    title: str
    created_at: float
    status: str  # complete / stopped
    cell_count: int


@dataclass
class StoredCompareRun:
    id: str
    title: str
    created_at: float
    status: str
    spec: dict[str, Any]
    summary: dict[str, Any]
    cells: list[dict[str, Any]]  # index, cell, text, status, metrics, error


def title_from(text: str) -> str:
    """A list title from a first message: its first non-blank line, whitespace collapsed, capped."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _loads_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _check_owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError("a store needs a non-empty owner")
    return owner


class Store:
    """Thread-safe by construction: no connection is shared between calls.

    `owner`: whose things this store reads and writes (see the module's docstring).
    `shared_answer_cache`: `cache_get` may replay any owner's answer (Settings.shared_answer_cache);
    off, an owner only ever gets their own cached answers back.
    """

    def __init__(self, path: Path, owner: str = LOCAL_OWNER, *, shared_answer_cache: bool = False) -> None:
        self.path = Path(path)
        self.owner = _check_owner(owner)
        self.shared_answer_cache = bool(shared_answer_cache)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @classmethod
    def in_dir(cls, data_dir: Path, owner: str = LOCAL_OWNER, *, shared_answer_cache: bool = False) -> Store:
        return cls(Path(data_dir) / DB_FILE, owner, shared_answer_cache=shared_answer_cache)

    def for_owner(self, owner: str) -> Store:
        """The same database acting for another owner (no migration check: cheap per session)."""
        other = copy.copy(self)
        other.owner = _check_owner(owner)
        return other

    # --- connections and schema -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so a write takes the lock up front.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            with _transaction(conn):
                yield conn
        finally:
            conn.close()

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            # WAL is a property of the file: set once, every later connection uses it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The database {self.path.name} was written by a newer Yoake (schema {version}, "
                    f"this version knows {SCHEMA_VERSION}). Upgrade Yoake; the file was not changed."
                )
            while version < SCHEMA_VERSION:
                with _transaction(conn):
                    # Re-read under the write lock: another process may have migrated meanwhile.
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version < SCHEMA_VERSION:
                        for statement in _split_sql(MIGRATIONS[version]):
                            conn.execute(statement)
                        version += 1
                        conn.execute(f"PRAGMA user_version = {version}")
        finally:
            conn.close()

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # --- conversations ----------------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        title: str = "",
        persona: str | None = None,
        system_prompt: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        created_at: float | None = None,
    ) -> str:
        cid = uuid.uuid4().hex
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversations (id, owner, title, created_at, updated_at, persona, system_prompt, provider, model, params)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    self.owner,
                    title_from(title),
                    created_at or now,
                    now,
                    persona,
                    system_prompt,
                    provider,
                    model,
                    _dumps(dict(params or {})),
                ),
            )
        return cid

    def update_settings(
        self,
        conversation_id: str,
        *,
        persona: str | None,
        system_prompt: str | None,
        provider: str | None,
        model: str | None,
        params: Mapping[str, Any],
    ) -> None:
        """The sidebar settings a conversation reopens with (does not reorder the list)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE conversations SET persona = ?, system_prompt = ?, provider = ?, model = ?, params = ?"
                " WHERE id = ? AND owner = ?",
                (persona, system_prompt, provider, model, _dumps(dict(params)), conversation_id, self.owner),
            )

    def rename_conversation(self, conversation_id: str, title: str) -> str:
        clean = title_from(title)
        if not clean:
            raise StoreError("A conversation title cannot be empty.")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (clean, conversation_id, self.owner)
            )
            if cur.rowcount == 0:
                raise StoreError(_CONVERSATION_GONE)
        return clean

    def delete_conversation(self, conversation_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, self.owner))
            return cur.rowcount > 0

    def list_conversations(self, limit: int = 500) -> list[ConversationSummary]:
        """Most recently active first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
                " FROM conversations c WHERE c.owner = ? ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ?",
                (self.owner, limit),
            ).fetchall()
        return [ConversationSummary(r["id"], r["title"] or "Untitled", r["created_at"], r["updated_at"], r["n"]) for r in rows]

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot for the row and its messages
            row = conn.execute("SELECT * FROM conversations WHERE id = ? AND owner = ?", (conversation_id, self.owner)).fetchone()
            if row is None:
                return None
            msgs = conn.execute(
                "SELECT m.id, m.role, m.content, m.incomplete, m.meta FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE m.conversation_id = ? AND c.owner = ? ORDER BY m.id",
                (conversation_id, self.owner),
            ).fetchall()
            conn.execute("COMMIT")
        return Conversation(
            id=row["id"],
            title=row["title"] or "Untitled",
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            persona=row["persona"],
            system_prompt=row["system_prompt"],
            provider=row["provider"],
            model=row["model"],
            params=_loads_dict(row["params"]),
            messages=[
                StoredMessage(m["id"], m["role"], m["content"], bool(m["incomplete"]), _loads_dict(m["meta"]) or None)
                for m in msgs
            ],
        )

    # --- messages ---------------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        incomplete: bool = False,
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Append a message; the first user message titles an untitled conversation. A conversation
        that is gone (or another owner's) raises StoreError."""
        if role not in ("user", "assistant"):
            raise StoreError(f"Unsupported message role {role!r}.")
        now = time.time()
        with self._write() as conn:
            # INSERT ... SELECT: the owner check and the insert are one statement.
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, incomplete, meta, created_at, updated_at)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM conversations WHERE id = ? AND owner = ?",
                (role, content, int(incomplete), _dumps(dict(meta)) if meta else None, now, now, conversation_id, self.owner),
            )
            if cur.rowcount == 0:
                raise StoreError(_CONVERSATION_GONE)
            if role == "user":
                conn.execute(
                    "UPDATE conversations SET updated_at = ?, title = CASE WHEN title = '' THEN ? ELSE title END"
                    " WHERE id = ? AND owner = ?",
                    (now, title_from(content), conversation_id, self.owner),
                )
            else:
                conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ? AND owner = ?", (now, conversation_id, self.owner)
                )
            return int(cur.lastrowid or 0)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        incomplete: bool | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [time.time()]
        if content is not None:
            sets.append("content = ?")
            args.append(content)
        if incomplete is not None:
            sets.append("incomplete = ?")
            args.append(int(incomplete))
        if meta is not None:
            sets.append("meta = ?")
            args.append(_dumps(dict(meta)))
        with self._write() as conn:  # a message that is gone (or another owner's) is left alone
            conn.execute(
                f"UPDATE messages SET {', '.join(sets)} WHERE id = ?"
                " AND conversation_id IN (SELECT id FROM conversations WHERE owner = ?)",
                (*args, message_id, self.owner),
            )

    def import_conversation(self, conv: Conversation) -> str:
        """Insert a whole (validated) conversation in one transaction: all of it or nothing."""
        cid = uuid.uuid4().hex
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversations (id, owner, title, created_at, updated_at, persona, system_prompt, provider, model, params)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    self.owner,
                    title_from(conv.title) or "Imported conversation",
                    conv.created_at or now,
                    now,
                    conv.persona,
                    conv.system_prompt,
                    conv.provider,
                    conv.model,
                    _dumps(conv.params),
                ),
            )
            conn.executemany(
                "INSERT INTO messages (conversation_id, role, content, incomplete, meta, created_at, updated_at)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM conversations WHERE id = ? AND owner = ?",
                [
                    (m.role, m.content, int(m.incomplete), _dumps(m.meta) if m.meta else None, now, now, cid, self.owner)
                    for m in conv.messages
                ],
            )
        return cid

    # --- user personas ----------------------------------------------------------------------------

    def list_personas(self) -> list[UserPersona]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, name, system_prompt, temperature FROM personas WHERE owner = ? ORDER BY name COLLATE NOCASE",
                (self.owner,),
            ).fetchall()
        return [UserPersona(r["id"], r["name"], r["system_prompt"], r["temperature"]) for r in rows]

    def save_persona(
        self, name: str, system_prompt: str, temperature: float, *, persona_id: int | None = None, reserved: Iterable[str] = ()
    ) -> int:
        """Create (persona_id None) or update a persona. `reserved`: names it may not take (built-ins)."""
        name = " ".join(name.split())
        if not name:
            raise StoreError("A persona needs a name.")
        if len(name) > TITLE_MAX:
            raise StoreError(f"A persona name can be at most {TITLE_MAX} characters.")
        if name.casefold() in {r.casefold() for r in reserved}:
            raise StoreError(f"'{name}' is a built-in name; choose another.")
        if not system_prompt.strip():
            raise StoreError("A persona needs a system prompt.")
        if not 0.0 <= float(temperature) <= 2.0:
            raise StoreError("A persona's temperature must be between 0 and 2.")
        now = time.time()
        with self._write() as conn:
            clash = conn.execute(
                "SELECT id FROM personas WHERE owner = ? AND name = ? COLLATE NOCASE", (self.owner, name)
            ).fetchone()
            if clash and clash["id"] != persona_id:
                raise StoreError(f"A persona named '{name}' already exists.")
            if persona_id is None:
                cur = conn.execute(
                    "INSERT INTO personas (owner, name, system_prompt, temperature, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (self.owner, name, system_prompt, float(temperature), now, now),
                )
                return int(cur.lastrowid or 0)
            cur = conn.execute(
                "UPDATE personas SET name = ?, system_prompt = ?, temperature = ?, updated_at = ? WHERE id = ? AND owner = ?",
                (name, system_prompt, float(temperature), now, persona_id, self.owner),
            )
            if cur.rowcount == 0:
                raise StoreError("That persona no longer exists.")
            return persona_id

    def delete_persona(self, persona_id: int) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM personas WHERE id = ? AND owner = ?", (persona_id, self.owner)).rowcount > 0

    # --- parameter presets ------------------------------------------------------------------------

    def list_presets(self) -> list[Preset]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, name, provider, model, params FROM presets WHERE owner = ? ORDER BY name COLLATE NOCASE",
                (self.owner,),
            ).fetchall()
        return [Preset(r["id"], r["name"], r["provider"], r["model"], _loads_dict(r["params"])) for r in rows]

    def save_preset(self, name: str, provider: str, model: str, params: Mapping[str, Any]) -> int:
        """Save under a name; an existing preset of that name is replaced."""
        name = " ".join(name.split())
        if not name:
            raise StoreError("A preset needs a name.")
        if len(name) > TITLE_MAX:
            raise StoreError(f"A preset name can be at most {TITLE_MAX} characters.")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO presets (owner, name, provider, model, params, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(owner, name) DO UPDATE SET provider = excluded.provider, model = excluded.model,"
                " params = excluded.params",
                (self.owner, name, provider, model, _dumps(dict(params)), time.time()),
            )
            row = conn.execute("SELECT id FROM presets WHERE owner = ? AND name = ?", (self.owner, name)).fetchone()
            return int(row["id"])

    def delete_preset(self, preset_id: int) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM presets WHERE id = ? AND owner = ?", (preset_id, self.owner)).rowcount > 0

    # --- answer cache -----------------------------------------------------------------------------

    def cache_get(self, key: str) -> ChatResult | None:
        """This owner's cached answer for `key`; with a shared cache, anyone's (this owner's first)."""
        with self._read() as conn:
            if self.shared_answer_cache:
                row = conn.execute(
                    "SELECT * FROM answer_cache WHERE key = ? ORDER BY owner = ? DESC, created_at DESC LIMIT 1",
                    (key, self.owner),
                ).fetchone()
            else:
                row = conn.execute("SELECT * FROM answer_cache WHERE owner = ? AND key = ?", (self.owner, key)).fetchone()
        if row is None:
            return None
        with self._write() as conn:
            conn.execute("UPDATE answer_cache SET hits = hits + 1 WHERE owner = ? AND key = ?", (row["owner"], key))
        usage = None
        if row["prompt_tokens"] is not None and row["completion_tokens"] is not None:
            usage = CompletionUsage(
                prompt_tokens=row["prompt_tokens"],
                completion_tokens=row["completion_tokens"],
                total_tokens=row["prompt_tokens"] + row["completion_tokens"],
            )
        return ChatResult(
            text=row["text"], usage=usage, resolved_model=row["resolved_model"], finish_reason=row["finish_reason"] or "stop"
        )

    def cache_put(self, key: str, provider: str, model: str, result: ChatResult) -> None:
        usage = result.usage
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answer_cache (owner, key, provider, model, text, resolved_model, prompt_tokens,"
                " completion_tokens, finish_reason, created_at, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    self.owner,
                    key,
                    provider,
                    model,
                    result.text,
                    result.resolved_model,
                    usage.prompt_tokens if usage and not result.usage_estimated else None,
                    usage.completion_tokens if usage and not result.usage_estimated else None,
                    result.finish_reason,
                    time.time(),
                ),
            )

    def cache_clear(self) -> int:
        """Forget this owner's cached answers (never another owner's, shared cache or not)."""
        with self._write() as conn:
            return conn.execute("DELETE FROM answer_cache WHERE owner = ?", (self.owner,)).rowcount

    # --- compare runs -----------------------------------------------------------------------------

    def save_compare_run(
        self,
        *,
        title: str,
        status: str,
        spec: Mapping[str, Any],
        summary: Mapping[str, Any],
        cells: Iterable[Mapping[str, Any]],
        created_at: float | None = None,
    ) -> str:
        """A compare run and its cells (each: index, cell, text, status, metrics, error), in one
        transaction: all of it or nothing."""
        rid = uuid.uuid4().hex
        with self._write() as conn:
            conn.execute(
                "INSERT INTO compare_runs (id, owner, title, created_at, status, spec, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    self.owner,
                    title_from(title),
                    created_at or time.time(),
                    status,
                    _dumps(dict(spec)),
                    _dumps(dict(summary)),
                ),
            )
            conn.executemany(
                "INSERT INTO compare_cells (run_id, idx, cell, text, status, metrics, error)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM compare_runs WHERE id = ? AND owner = ?",
                [
                    (
                        int(c["index"]),
                        _dumps(dict(c.get("cell") or {})),
                        c.get("text") or "",
                        c["status"],
                        _dumps(dict(c.get("metrics") or {})),
                        c.get("error"),
                        rid,
                        self.owner,
                    )
                    for c in cells
                ],
            )
        return rid

    def list_compare_runs(self, limit: int = 200) -> list[CompareRunSummary]:
        """Newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT r.id, r.title, r.created_at, r.status,"
                " (SELECT COUNT(*) FROM compare_cells c WHERE c.run_id = r.id) AS n"
                " FROM compare_runs r WHERE r.owner = ? ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?",
                (self.owner, limit),
            ).fetchall()
        return [CompareRunSummary(r["id"], r["title"] or "Untitled", r["created_at"], r["status"], r["n"]) for r in rows]

    def get_compare_run(self, run_id: str) -> StoredCompareRun | None:
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot for the run and its cells
            row = conn.execute("SELECT * FROM compare_runs WHERE id = ? AND owner = ?", (run_id, self.owner)).fetchone()
            if row is None:
                return None
            cells = conn.execute(
                "SELECT c.idx, c.cell, c.text, c.status, c.metrics, c.error FROM compare_cells c"
                " JOIN compare_runs r ON r.id = c.run_id WHERE c.run_id = ? AND r.owner = ? ORDER BY c.idx",
                (run_id, self.owner),
            ).fetchall()
            conn.execute("COMMIT")
        return StoredCompareRun(
            id=row["id"], title=row["title"] or "Untitled", created_at=row["created_at"], status=row["status"],
            spec=_loads_dict(row["spec"]), summary=_loads_dict(row["summary"]),
            cells=[{"index": c["idx"], "cell": _loads_dict(c["cell"]), "text": c["text"], "status": c["status"],
                    "metrics": _loads_dict(c["metrics"]), "error": c["error"]} for c in cells],
        )  # fmt: skip

    def delete_compare_run(self, run_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM compare_runs WHERE id = ? AND owner = ?", (run_id, self.owner)).rowcount > 0


def _split_sql(script: str) -> list[str]:
    # Our migrations hold no literal semicolons, so a plain split is exact (and, unlike
    # executescript, it does not COMMIT our transaction behind our back).
    return [s.strip() for s in script.split(";") if s.strip()]
