"""The store: conversations, messages, user personas, parameter presets, the
answer cache, compare runs and votes on them, preferences and prompts with their versions, in one SQLite database (`$YOAKE_DATA_DIR/yoake.db`).

Concurrency: Streamlit runs each session's script in its own thread and several app processes may
share a data dir, so every call opens its own short-lived connection (WAL journal, busy timeout);
writes take the write lock up front (`BEGIN IMMEDIATE`) so two writers queue instead of failing.
Durability: a committed write survives the app process being killed (WAL + synchronous=NORMAL
only risks the last transactions on an OS crash or power loss, not on a process kill).
Schema: `PRAGMA user_version` counts the migrations applied; `Store()` applies the missing ones
in order, each in its own transaction, so an older database is upgraded in place without loss.
Owners: a `Store` acts for one owner (`lib.core.identity`: a signed-in identity, or `local` without
sign-in) and every statement it runs is scoped to that owner in SQL. Another owner's id behaves
exactly like a missing one (None, False, "no longer exists"), so nothing tells a visitor that it
exists. Migration 5 gave everything stored before owners to `local`.
"""

from __future__ import annotations

from pathlib import Path

from lib.core.identity import LOCAL_OWNER
from lib.storage.answer_cache import AnswerCacheRepository
from lib.storage.compare_runs import CompareRunRepository
from lib.storage.compare_votes import CompareVoteRepository
from lib.storage.conversations import ConversationRepository
from lib.storage.migrations import MIGRATIONS
from lib.storage.personas import PersonaRepository
from lib.storage.preferences import PreferenceRepository
from lib.storage.presets import PresetRepository
from lib.storage.prompts import PromptRepository

DB_FILE = "yoake.db"


class Store(
    ConversationRepository,
    PersonaRepository,
    PresetRepository,
    AnswerCacheRepository,
    CompareRunRepository,
    CompareVoteRepository,
    PreferenceRepository,
    PromptRepository,
):
    """Thread-safe by construction: no connection is shared between calls.

    `owner`: whose things this store reads and writes (see the module's docstring).
    `shared_answer_cache`: `cache_get` may replay any owner's answer (Settings.shared_answer_cache);
    off, an owner only ever gets their own cached answers back.
    """

    migrations = MIGRATIONS

    @classmethod
    def in_dir(cls, data_dir: Path, owner: str = LOCAL_OWNER, *, shared_answer_cache: bool = False) -> Store:
        return cls(Path(data_dir) / DB_FILE, owner, shared_answer_cache=shared_answer_cache)

    def for_owner(self, owner: str) -> Store:
        """The same database acting for another owner (no migration check: cheap per session)."""
        return super().for_owner(owner)  # type: ignore[return-value]
