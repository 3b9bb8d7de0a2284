"""SQLite plumbing, one copy for the store and the Docs Q&A collections.

Every call opens its own short-lived connection (Streamlit runs each session in its own thread and
several app processes may share a data dir), with a busy timeout; writes take the write lock up front
(`BEGIN IMMEDIATE`) so two writers queue instead of failing. WAL + synchronous=NORMAL: a committed
write survives the process being killed. `migrate` applies the missing migrations in order, each in
its own transaction, counted by `PRAGMA user_version`.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.core.identity import LOCAL_OWNER

BUSY_TIMEOUT_S = 30.0


class StoreError(YoakeError):
    """A store operation the user asked for cannot be done (the message says why)."""

    kind = "store"
    title = Msg("That could not be saved.")


def connect(path: Path, *, rows: bool = True) -> sqlite3.Connection:
    """A connection of our own: autocommit (we BEGIN ourselves), busy timeout, foreign keys;
    `rows`: sqlite3.Row results (by name), else plain tuples."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    if rows:
        conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    """WAL is a property of the file: set once, every later connection uses it."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers wait (busy_timeout)
    instead of failing on upgrade; any exception rolls the whole transaction back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def split_sql(script: str) -> list[str]:
    # Our migrations hold no literal semicolons, so a plain split is exact (and, unlike
    # executescript, it does not COMMIT our transaction behind our back).
    return [s.strip() for s in script.split(";") if s.strip()]


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], name: str) -> None:
    """Bring the database up to `len(migrations)`; a newer one than this code knows is refused untouched."""
    use_wal(conn)
    target = len(migrations)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > target:
        raise StoreError(
            f"The database {name} was written by a newer Yoake (schema {version}, "
            f"this version knows {target}). Upgrade Yoake; the file was not changed."
        )
    while version < target:
        with transaction(conn):
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < target:
                for statement in split_sql(migrations[version]):
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError("a store needs a non-empty owner")
    return owner


class Database:
    """One SQLite file acting for one owner; the repositories (lib/storage/*.py) build on it.

    `shared_answer_cache`: `cache_get` may replay any owner's answer (Settings.shared_answer_cache);
    off, an owner only ever gets their own cached answers back.
    """

    migrations: Sequence[str] = ()

    def __init__(self, path: Path, owner: str = LOCAL_OWNER, *, shared_answer_cache: bool = False) -> None:
        self.path = Path(path)
        self.owner = check_owner(owner)
        self.shared_answer_cache = bool(shared_answer_cache)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            migrate(conn, self.migrations, self.path.name)
        finally:
            conn.close()

    def for_owner(self, owner: str) -> Database:
        """The same database acting for another owner (no migration check: cheap per session)."""
        other = copy.copy(self)
        other.owner = check_owner(owner)
        return other

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

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
            with transaction(conn):
                yield conn
        finally:
            conn.close()

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
