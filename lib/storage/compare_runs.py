"""Saved compare runs and their cells, per owner."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.core.i18n import Msg
from lib.storage.conversations import UNTITLED, title_from
from lib.storage.db import Database, dumps, loads_dict


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


class CompareRunRepository(Database):
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
                    dumps(dict(spec)),
                    dumps(dict(summary)),
                ),
            )
            conn.executemany(
                "INSERT INTO compare_cells (run_id, idx, cell, text, status, metrics, error)"
                " SELECT id, ?, ?, ?, ?, ?, ? FROM compare_runs WHERE id = ? AND owner = ?",
                [
                    (
                        int(c["index"]),
                        dumps(dict(c.get("cell") or {})),
                        c.get("text") or "",
                        c["status"],
                        dumps(dict(c.get("metrics") or {})),
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
        return [CompareRunSummary(r["id"], r["title"] or Msg(UNTITLED), r["created_at"], r["status"], r["n"]) for r in rows]

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
            id=row["id"], title=row["title"] or Msg(UNTITLED), created_at=row["created_at"], status=row["status"],
            spec=loads_dict(row["spec"]), summary=loads_dict(row["summary"]),
            cells=[{"index": c["idx"], "cell": loads_dict(c["cell"]), "text": c["text"], "status": c["status"],
                    "metrics": loads_dict(c["metrics"]), "error": c["error"]} for c in cells],
        )  # fmt: skip

    def delete_compare_run(self, run_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM compare_runs WHERE id = ? AND owner = ?", (run_id, self.owner)).rowcount > 0
