"""An owner's preferences (name -> text), such as the interface language a signed-in user chose."""

from __future__ import annotations

import time

from lib.storage.db import Database


class PreferenceRepository(Database):
    def get_preference(self, name: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM preferences WHERE owner = ? AND name = ?", (self.owner, name)).fetchone()
        return None if row is None else str(row["value"])

    def set_preference(self, name: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO preferences (owner, name, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(owner, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (self.owner, name, value, time.time()),
            )
