"""Conversations and their messages, per owner."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.core.i18n import N_, Msg
from lib.storage.db import Database, StoreError, dumps, loads_dict

_CONVERSATION_GONE = N_("That conversation no longer exists.")
UNTITLED = N_("Untitled")  # shown for a conversation without a title (never stored)
TITLE_MAX = 80


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
    prompt: str | None = None  # the prompt version it was started from, `name@version` (lib.prompts)


def title_from(text: str) -> str:
    """A list title from a first message: its first non-blank line, whitespace collapsed, capped."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"


class ConversationRepository(Database):
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
        prompt: str | None = None,
    ) -> str:
        with self._write() as conn:
            return self._insert_conversation(
                conn, title_from(title), created_at, persona, system_prompt, provider, model, dict(params or {}), prompt
            )

    def _insert_conversation(
        self,
        conn: sqlite3.Connection,
        title: str,
        created_at: float | None,
        persona: str | None,
        system_prompt: str | None,
        provider: str | None,
        model: str | None,
        params: dict[str, Any],
        prompt: str | None,
    ) -> str:
        """The conversation's row (created and imported alike); returns its new id."""
        cid, now = uuid.uuid4().hex, time.time()
        conn.execute(
            "INSERT INTO conversations"
            " (id, owner, title, created_at, updated_at, persona, system_prompt, provider, model, params, prompt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cid,
                self.owner,
                title,
                created_at or now,
                now,
                persona,
                system_prompt,
                provider,
                model,
                dumps(params),
                prompt or None,
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
        prompt: str | None = None,
    ) -> None:
        """The sidebar settings a conversation reopens with (does not reorder the list)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE conversations SET persona = ?, system_prompt = ?, provider = ?, model = ?, params = ?, prompt = ?"
                " WHERE id = ? AND owner = ?",
                (persona, system_prompt, provider, model, dumps(dict(params)), prompt or None, conversation_id, self.owner),
            )

    def rename_conversation(self, conversation_id: str, title: str) -> str:
        clean = title_from(title)
        if not clean:
            raise StoreError(Msg("A conversation title cannot be empty."))
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (clean, conversation_id, self.owner)
            )
            if cur.rowcount == 0:
                raise StoreError(Msg(_CONVERSATION_GONE))
        return clean

    def delete_conversation(self, conversation_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, self.owner))
            return cur.rowcount > 0

    def list_conversations(self, limit: int = 500, *, prompt: str | None = None) -> list[ConversationSummary]:
        """Most recently active first; with `prompt` (`name@version`), only those started from that version."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
                " FROM conversations c WHERE c.owner = ? AND (? IS NULL OR c.prompt = ?)"
                " ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ?",
                (self.owner, prompt, prompt, limit),
            ).fetchall()
        return [ConversationSummary(r["id"], r["title"] or Msg(UNTITLED), r["created_at"], r["updated_at"], r["n"]) for r in rows]

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
            title=row["title"] or Msg(UNTITLED),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            persona=row["persona"],
            system_prompt=row["system_prompt"],
            provider=row["provider"],
            model=row["model"],
            params=loads_dict(row["params"]),
            prompt=row["prompt"],
            messages=[
                StoredMessage(m["id"], m["role"], m["content"], bool(m["incomplete"]), loads_dict(m["meta"]) or None)
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
            raise StoreError(Msg("Unsupported message role {role}.", role=repr(role)))
        now = time.time()
        with self._write() as conn:
            # INSERT ... SELECT: the owner check and the insert are one statement.
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, incomplete, meta, created_at, updated_at)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM conversations WHERE id = ? AND owner = ?",
                (role, content, int(incomplete), dumps(dict(meta)) if meta else None, now, now, conversation_id, self.owner),
            )
            if cur.rowcount == 0:
                raise StoreError(Msg(_CONVERSATION_GONE))
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
            args.append(dumps(dict(meta)))
        with self._write() as conn:  # a message that is gone (or another owner's) is left alone
            conn.execute(
                f"UPDATE messages SET {', '.join(sets)} WHERE id = ?"
                " AND conversation_id IN (SELECT id FROM conversations WHERE owner = ?)",
                (*args, message_id, self.owner),
            )

    def import_conversation(self, conv: Conversation) -> str:
        """Insert a whole (validated) conversation in one transaction: all of it or nothing."""
        now = time.time()
        with self._write() as conn:
            cid = self._insert_conversation(
                conn,
                title_from(conv.title) or "Imported conversation",
                conv.created_at,
                conv.persona,
                conv.system_prompt,
                conv.provider,
                conv.model,
                conv.params,
                conv.prompt,
            )
            conn.executemany(
                "INSERT INTO messages (conversation_id, role, content, incomplete, meta, created_at, updated_at)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM conversations WHERE id = ? AND owner = ?",
                [
                    (m.role, m.content, int(m.incomplete), dumps(m.meta) if m.meta else None, now, now, cid, self.owner)
                    for m in conv.messages
                ],
            )
        return cid
