"""Parameter presets (provider, model and parameters under a name), per owner."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.core.i18n import Msg
from lib.storage.conversations import TITLE_MAX
from lib.storage.db import Database, StoreError, dumps, loads_dict


@dataclass(frozen=True)
class Preset:
    id: int
    name: str
    provider: str
    model: str
    params: dict[str, Any]


class PresetRepository(Database):
    # --- parameter presets ------------------------------------------------------------------------

    def list_presets(self) -> list[Preset]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, name, provider, model, params FROM presets WHERE owner = ? ORDER BY name COLLATE NOCASE",
                (self.owner,),
            ).fetchall()
        return [Preset(r["id"], r["name"], r["provider"], r["model"], loads_dict(r["params"])) for r in rows]

    def save_preset(self, name: str, provider: str, model: str, params: Mapping[str, Any]) -> int:
        """Save under a name; an existing preset of that name is replaced."""
        name = " ".join(name.split())
        if not name:
            raise StoreError(Msg("A preset needs a name."))
        if len(name) > TITLE_MAX:
            raise StoreError(Msg("A preset name can be at most {limit} characters.", limit=TITLE_MAX))
        with self._write() as conn:
            conn.execute(
                "INSERT INTO presets (owner, name, provider, model, params, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(owner, name) DO UPDATE SET provider = excluded.provider, model = excluded.model,"
                " params = excluded.params",
                (self.owner, name, provider, model, dumps(dict(params)), time.time()),
            )
            row = conn.execute("SELECT id FROM presets WHERE owner = ? AND name = ?", (self.owner, name)).fetchone()
            return int(row["id"])

    def delete_preset(self, preset_id: int) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM presets WHERE id = ? AND owner = ?", (preset_id, self.owner)).rowcount > 0
