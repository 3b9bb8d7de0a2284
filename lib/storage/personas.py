"""A user's own personas (a named system prompt and temperature), per owner."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from lib.core.i18n import Msg
from lib.storage.conversations import TITLE_MAX
from lib.storage.db import Database, StoreError


@dataclass(frozen=True)
class UserPersona:
    id: int
    name: str
    system_prompt: str
    temperature: float


class PersonaRepository(Database):
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
            raise StoreError(Msg("A persona needs a name."))
        if len(name) > TITLE_MAX:
            raise StoreError(Msg("A persona name can be at most {limit} characters.", limit=TITLE_MAX))
        if name.casefold() in {r.casefold() for r in reserved}:
            raise StoreError(Msg("'{name}' is a built-in name; choose another.", name=name))
        if not system_prompt.strip():
            raise StoreError(Msg("A persona needs a system prompt."))
        if not 0.0 <= float(temperature) <= 2.0:
            raise StoreError(Msg("A persona's temperature must be between 0 and 2."))
        now = time.time()
        with self._write() as conn:
            clash = conn.execute(
                "SELECT id FROM personas WHERE owner = ? AND name = ? COLLATE NOCASE", (self.owner, name)
            ).fetchone()
            if clash and clash["id"] != persona_id:
                raise StoreError(Msg("A persona named '{name}' already exists.", name=name))
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
                raise StoreError(Msg("That persona no longer exists."))
            return persona_id

    def delete_persona(self, persona_id: int) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM personas WHERE id = ? AND owner = ?", (persona_id, self.owner)).rowcount > 0
