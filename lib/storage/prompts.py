"""Prompts with versions, per owner (issue 24).

A prompt is a name; each save adds an immutable version (number, time, owner, note, content as JSON —
`lib.prompts.model.PromptContent.to_dict()`); nothing is overwritten. Labels (`demo`, `本番`) point at one
version each and move. Restore adds a new version equal to an old one; duplicate starts a new prompt from
the newest version. Results that used a version record it (`add_prompt_reference`: a kind such as
"conversation" and the result's id); deleting a prompt removes its unreferenced versions and keeps the
referenced ones, marked deleted, so `name@version` still says what a saved result ran. Live names are unique
per owner (case-insensitively); a deleted prompt's name is free again.

Every statement names the owner (tests/test_prompts_store.py traces them); another owner's prompt behaves
exactly like a missing one."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.core.i18n import Msg
from lib.storage.conversations import TITLE_MAX
from lib.storage.db import Database, StoreError, dumps, loads_dict

LABEL_MAX = 40
KIND_MAX, TARGET_MAX = 40, 200


@dataclass(frozen=True)
class StoredPrompt:
    id: int
    name: str
    created_at: float
    updated_at: float
    latest: int  # the newest version's number
    content: dict[str, Any]  # the newest version's content
    labels: dict[str, int]  # label -> version
    source: str  # where it came from: "" (written here), "persona:<id>", "duplicate:<id>@<n>", "import", "promptfoo"
    deleted: bool


@dataclass(frozen=True)
class StoredVersion:
    prompt_id: int
    prompt_name: str
    number: int
    created_at: float
    owner: str  # who saved it
    note: str
    content: dict[str, Any]
    restored_from: int | None  # the version it restored, if it is a restore
    deleted: bool  # its prompt was deleted and a saved result still refers to it


@dataclass(frozen=True)
class PromptReference:
    prompt_id: int
    number: int
    kind: str
    target: str
    created_at: float


def _name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise StoreError(Msg("A prompt needs a name."))
    if len(name) > TITLE_MAX:
        raise StoreError(Msg("A prompt name can be at most {n} characters.", n=TITLE_MAX))
    return name


def _label(label: str) -> str:
    label = " ".join(str(label or "").split())
    if not label:
        raise StoreError(Msg("A label needs a name."))
    if len(label) > LABEL_MAX or "@" in label or label.isdigit() or (label[:1] in "vV" and label[1:].isdigit()):
        raise StoreError(
            Msg("A label is a word of up to {n} characters without @, and not a version number (such as 3 or v3).", n=LABEL_MAX)
        )
    return label


def _content(content: Mapping[str, Any]) -> str:
    if not isinstance(content, Mapping):
        raise StoreError(Msg("A prompt version needs its content."))
    return dumps(dict(content))


_GONE = Msg("That prompt no longer exists.")
_VERSIONS = (
    "SELECT v.prompt_id, p.name AS prompt_name, v.number, v.created_at, v.owner, v.note, v.content, v.restored_from,"
    " v.deleted_at FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id AND p.owner = v.owner"
)


def _version(r: sqlite3.Row) -> StoredVersion:
    return StoredVersion(
        r["prompt_id"],
        r["prompt_name"],
        r["number"],
        r["created_at"],
        r["owner"],
        r["note"],
        loads_dict(r["content"]),
        r["restored_from"],
        r["deleted_at"] is not None,
    )


class PromptRepository(Database):
    # --- reading ------------------------------------------------------------------------------------

    def _prompts(self, conn: sqlite3.Connection, where: str, args: tuple) -> list[StoredPrompt]:
        rows = conn.execute(
            "SELECT p.id, p.name, p.created_at, p.updated_at, p.source, p.deleted_at, v.number, v.content"
            " FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id AND v.owner = p.owner"
            " AND v.number = (SELECT MAX(number) FROM prompt_versions WHERE prompt_id = p.id AND owner = p.owner)"
            f" WHERE p.owner = ? AND {where} ORDER BY p.name COLLATE NOCASE, p.id",
            (self.owner, *args),
        ).fetchall()
        labels: dict[int, dict[str, int]] = {}
        if rows:
            for r in conn.execute(
                "SELECT prompt_id, name, version FROM prompt_labels WHERE owner = ? ORDER BY name", (self.owner,)
            ).fetchall():
                labels.setdefault(r["prompt_id"], {})[r["name"]] = r["version"]
        return [
            StoredPrompt(
                r["id"],
                r["name"],
                r["created_at"],
                r["updated_at"],
                r["number"],
                loads_dict(r["content"]),
                labels.get(r["id"], {}),
                r["source"],
                r["deleted_at"] is not None,
            )
            for r in rows
        ]

    def list_prompts(self, search: str = "") -> list[StoredPrompt]:
        """The owner's prompts (not deleted) by name; `search`: those whose name, system prompt or template
        (of the newest version) holds it, case-insensitively."""
        with self._read() as conn:
            found = self._prompts(conn, "p.deleted_at IS NULL", ())
        needle = " ".join(search.split()).casefold()
        if not needle:
            return found
        return [
            p
            for p in found
            if needle
            in "\n".join(str(x) for x in (p.name, p.content.get("system", ""), p.content.get("template", ""))).casefold()
        ]

    def get_prompt(self, prompt_id: int, *, include_deleted: bool = False) -> StoredPrompt | None:
        with self._read() as conn:
            found = self._prompts(conn, "p.id = ?" + ("" if include_deleted else " AND p.deleted_at IS NULL"), (prompt_id,))
        return found[0] if found else None

    def find_prompt(self, name: str) -> StoredPrompt | None:
        """The live prompt of this name (any case)."""
        with self._read() as conn:
            found = self._prompts(conn, "p.deleted_at IS NULL AND p.name = ? COLLATE NOCASE", (" ".join(name.split()),))
        return found[0] if found else None

    def list_versions(self, prompt_id: int) -> list[StoredVersion]:
        """A prompt's versions, oldest first (for a deleted prompt: the versions kept for saved results)."""
        with self._read() as conn:
            rows = conn.execute(f"{_VERSIONS} WHERE v.owner = ? AND v.prompt_id = ? ORDER BY v.number", (self.owner, prompt_id))
            return [_version(r) for r in rows.fetchall()]

    def get_version(self, prompt_id: int, number: int) -> StoredVersion | None:
        with self._read() as conn:
            row = conn.execute(
                f"{_VERSIONS} WHERE v.owner = ? AND v.prompt_id = ? AND v.number = ?", (self.owner, prompt_id, number)
            ).fetchone()
        return None if row is None else _version(row)

    def version_by_name(self, name: str, *, number: int | None = None, label: str | None = None) -> StoredVersion | None:
        """The version `name@number`, `name@label` or `name` (the newest) names. The live prompt of that name
        comes first; a number may also name a version kept from a deleted prompt of that name (the latest deleted)."""
        name = " ".join(name.split())
        with self._read() as conn:
            if label is not None:
                row = conn.execute(
                    f"{_VERSIONS} JOIN prompt_labels l ON l.prompt_id = v.prompt_id AND l.version = v.number AND l.owner = v.owner"
                    " WHERE v.owner = ? AND p.deleted_at IS NULL AND p.name = ? COLLATE NOCASE AND l.name = ?",
                    (self.owner, name, " ".join(label.split())),
                ).fetchone()
            else:
                row = conn.execute(
                    f"{_VERSIONS} WHERE v.owner = ? AND p.name = ? COLLATE NOCASE AND (? IS NULL OR v.number = ?)"
                    " AND (p.deleted_at IS NULL OR ? IS NOT NULL)"
                    " ORDER BY p.deleted_at IS NOT NULL, p.deleted_at DESC, v.number DESC LIMIT 1",
                    (self.owner, name, number, number, number),
                ).fetchone()
        return None if row is None else _version(row)

    # --- writing ------------------------------------------------------------------------------------

    def _live(self, conn: sqlite3.Connection, prompt_id: int) -> sqlite3.Row:
        row = conn.execute(
            "SELECT id, name FROM prompts WHERE id = ? AND owner = ? AND deleted_at IS NULL", (prompt_id, self.owner)
        ).fetchone()
        if row is None:
            raise StoreError(_GONE)
        return row

    def _check_free(self, conn: sqlite3.Connection, name: str) -> None:
        clash = conn.execute(
            "SELECT id FROM prompts WHERE owner = ? AND deleted_at IS NULL AND name = ? COLLATE NOCASE", (self.owner, name)
        ).fetchone()
        if clash:
            raise StoreError(Msg("A prompt named '{name}' already exists.", name=name))

    def _new_prompt(self, conn: sqlite3.Connection, name: str, source: str, now: float) -> int:
        self._check_free(conn, name)
        cur = conn.execute(
            "INSERT INTO prompts (owner, name, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (self.owner, name, source, now, now),
        )
        return int(cur.lastrowid or 0)

    def _add_version(
        self,
        conn: sqlite3.Connection,
        prompt_id: int,
        number: int,
        content: str,
        note: str,
        created_at: float,
        restored_from: int | None = None,
    ) -> int:
        conn.execute(
            "INSERT INTO prompt_versions (prompt_id, number, owner, created_at, note, content, restored_from)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (prompt_id, number, self.owner, created_at, " ".join(str(note or "").split())[:500], content, restored_from),
        )
        conn.execute("UPDATE prompts SET updated_at = ? WHERE id = ? AND owner = ?", (time.time(), prompt_id, self.owner))
        return number

    def create_prompt(self, name: str, content: Mapping[str, Any], note: str = "", *, source: str = "") -> int:
        """A new prompt with `content` as its version 1; returns the prompt's id."""
        name, text, now = _name(name), _content(content), time.time()
        with self._write() as conn:
            pid = self._new_prompt(conn, name, source, now)
            self._add_version(conn, pid, 1, text, note, now)
            return pid

    def _append(self, conn: sqlite3.Connection, prompt_id: int, text: str, note: str, restored_from: int | None) -> int:
        self._live(conn, prompt_id)
        latest = conn.execute(
            "SELECT number, content FROM prompt_versions WHERE prompt_id = ? AND owner = ? ORDER BY number DESC LIMIT 1",
            (prompt_id, self.owner),
        ).fetchone()
        if loads_dict(latest["content"]) == loads_dict(text):
            raise StoreError(Msg("Nothing changed since version {n}: no new version was saved.", n=latest["number"]))
        return self._add_version(conn, prompt_id, latest["number"] + 1, text, note, time.time(), restored_from)

    def save_version(self, prompt_id: int, content: Mapping[str, Any], note: str = "") -> int:
        """A new version (the next number) with `content`; returns its number. The same content as the newest
        version is refused: nothing would change."""
        text = _content(content)
        with self._write() as conn:
            return self._append(conn, prompt_id, text, note, None)

    def restore_version(self, prompt_id: int, number: int, note: str = "") -> int:
        """A new version equal to version `number`; returns the new number."""
        with self._write() as conn:
            self._live(conn, prompt_id)
            row = conn.execute(
                "SELECT content FROM prompt_versions WHERE prompt_id = ? AND number = ? AND owner = ?",
                (prompt_id, number, self.owner),
            ).fetchone()
            if row is None:
                raise StoreError(Msg("Version {n} does not exist.", n=number))
            return self._append(conn, prompt_id, row["content"], note, number)

    def duplicate_prompt(self, prompt_id: int, name: str) -> int:
        """A new prompt named `name` whose version 1 is this prompt's newest version; returns its id."""
        name, now = _name(name), time.time()
        with self._write() as conn:
            self._live(conn, prompt_id)
            latest = conn.execute(
                "SELECT number, content, note FROM prompt_versions WHERE prompt_id = ? AND owner = ? ORDER BY number DESC LIMIT 1",
                (prompt_id, self.owner),
            ).fetchone()
            pid = self._new_prompt(conn, name, f"duplicate:{prompt_id}@{latest['number']}", now)
            self._add_version(conn, pid, 1, latest["content"], latest["note"], now)
            return pid

    def import_prompt(
        self, name: str, versions: Iterable[Mapping[str, Any]], labels: Mapping[str, int] | None = None, *, source: str = "import"
    ) -> int:
        """A new prompt with the given versions (each: number, content, note, created_at, restored_from; numbers
        increasing) and labels, all in one transaction; returns its id."""
        name, now = _name(name), time.time()
        rows = [dict(v) for v in versions]
        if not rows:
            raise StoreError(Msg("A prompt needs at least one version."))
        numbers = [int(v.get("number") or i) for i, v in enumerate(rows, 1)]
        if any(n < 1 for n in numbers) or numbers != sorted(set(numbers)):
            raise StoreError(Msg("Version numbers must be whole numbers from 1 up, each larger than the last."))
        with self._write() as conn:
            pid = self._new_prompt(conn, name, source, now)
            for number, v in zip(numbers, rows, strict=True):
                restored = v.get("restored_from")
                self._add_version(
                    conn, pid, number, _content(v.get("content") or {}), v.get("note") or "", float(v.get("created_at") or now),
                    restored if isinstance(restored, int) else None,
                )  # fmt: skip
            for label, number in (labels or {}).items():
                if number not in numbers:
                    raise StoreError(Msg("Version {n} does not exist.", n=number))
                conn.execute(
                    "INSERT INTO prompt_labels (prompt_id, name, owner, version, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (pid, _label(label), self.owner, number, now),
                )
            return pid

    def set_label(self, prompt_id: int, label: str, number: int) -> int | None:
        """Point `label` at version `number` (a new label, or moved from where it was); returns the version it
        pointed at before (None for a new label)."""
        label = _label(label)
        with self._write() as conn:
            self._live(conn, prompt_id)
            if (
                conn.execute(
                    "SELECT 1 FROM prompt_versions WHERE prompt_id = ? AND number = ? AND owner = ?",
                    (prompt_id, number, self.owner),
                ).fetchone()
                is None
            ):
                raise StoreError(Msg("Version {n} does not exist.", n=number))
            before = conn.execute(
                "SELECT version FROM prompt_labels WHERE prompt_id = ? AND name = ? AND owner = ?", (prompt_id, label, self.owner)
            ).fetchone()
            conn.execute(
                "INSERT INTO prompt_labels (prompt_id, name, owner, version, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(prompt_id, name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at"
                " WHERE prompt_labels.owner = excluded.owner",
                (prompt_id, label, self.owner, number, time.time()),
            )
            return None if before is None else int(before["version"])

    def remove_label(self, prompt_id: int, label: str) -> bool:
        with self._write() as conn:
            return (
                conn.execute(
                    "DELETE FROM prompt_labels WHERE prompt_id = ? AND name = ? AND owner = ?",
                    (prompt_id, " ".join(label.split()), self.owner),
                ).rowcount
                > 0
            )

    def delete_prompt(self, prompt_id: int) -> bool:
        """Delete a prompt: its labels and unreferenced versions go; versions a saved result refers to stay,
        marked deleted (and the prompt with them, marked deleted). False if there is no such prompt."""
        now = time.time()
        with self._write() as conn:
            try:
                self._live(conn, prompt_id)
            except StoreError:
                return False
            conn.execute("DELETE FROM prompt_labels WHERE prompt_id = ? AND owner = ?", (prompt_id, self.owner))
            conn.execute("UPDATE prompts SET deleted_at = ? WHERE id = ? AND owner = ?", (now, prompt_id, self.owner))
            conn.execute(
                "UPDATE prompt_versions SET deleted_at = ? WHERE prompt_id = ? AND owner = ?", (now, prompt_id, self.owner)
            )
            self._collect(conn)
            return True

    def _collect(self, conn: sqlite3.Connection) -> None:
        """Remove the owner's deleted versions no result refers to, then deleted prompts with no version left."""
        conn.execute(
            "DELETE FROM prompt_versions WHERE owner = ? AND deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prompt_refs r"
            " WHERE r.owner = prompt_versions.owner AND r.prompt_id = prompt_versions.prompt_id AND r.version = prompt_versions.number)",
            (self.owner,),
        )
        conn.execute(
            "DELETE FROM prompts WHERE owner = ? AND deleted_at IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM prompt_versions v WHERE v.prompt_id = prompts.id AND v.owner = prompts.owner)",
            (self.owner,),
        )

    # --- results that used a version ----------------------------------------------------------------------

    def add_prompt_reference(self, prompt_id: int, number: int, kind: str, target: str) -> bool:
        """Record that a result (`kind`, e.g. "conversation", "compare_run", and its id `target`) used version
        `number`: deleting the prompt then keeps that version. False when there is no such version."""
        kind, target = str(kind)[:KIND_MAX], str(target)[:TARGET_MAX]
        if not kind or not target:
            raise StoreError(Msg("A reference needs the kind and id of the result."))
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO prompt_refs (owner, prompt_id, version, kind, target, created_at)"
                " SELECT owner, prompt_id, number, ?, ?, ? FROM prompt_versions WHERE owner = ? AND prompt_id = ? AND number = ?",
                (kind, target, time.time(), self.owner, prompt_id, number),
            )
            return cur.rowcount > 0 or (
                conn.execute(
                    "SELECT 1 FROM prompt_refs WHERE owner = ? AND prompt_id = ? AND version = ? AND kind = ? AND target = ?",
                    (self.owner, prompt_id, number, kind, target),
                ).fetchone()
                is not None
            )

    def list_prompt_references(self, prompt_id: int) -> list[PromptReference]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT prompt_id, version, kind, target, created_at FROM prompt_refs WHERE owner = ? AND prompt_id = ?"
                " ORDER BY version, created_at",
                (self.owner, prompt_id),
            ).fetchall()
        return [PromptReference(r["prompt_id"], r["version"], r["kind"], r["target"], r["created_at"]) for r in rows]

    def remove_prompt_references(self, kind: str, target: str) -> int:
        """The result `kind`/`target` is gone (e.g. a deleted conversation): forget what it used, and remove
        versions of deleted prompts nothing refers to any more. Returns the references removed."""
        with self._write() as conn:
            n = conn.execute(
                "DELETE FROM prompt_refs WHERE owner = ? AND kind = ? AND target = ?", (self.owner, kind, target)
            ).rowcount
            self._collect(conn)
            return n
