"""A run as saved in the store, and its export (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lib.compare.grid import Cell, GridPlan, GridSpec
from lib.compare.metrics import column_diversity
from lib.compare.runner import ERROR, METRICS, SKIPPED, STOPPED, CellResult, GridRunner
from lib.core.i18n import Msg
from lib.storage.store import Store

# A saved run's status (stored in English) as shown.
STATUS_LABELS: dict[str, str] = {"complete": Msg("complete"), "stopped": Msg("stopped")}

# --- a saved run ------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run as saved: its spec, layout, and each cell with its result."""

    spec: GridSpec
    plan: GridPlan
    results: list[CellResult]
    status: str = "complete"  # complete / stopped
    id: str | None = None
    created_at: float = field(default_factory=time.time)
    elapsed_s: float | None = None

    @property
    def title(self) -> str:
        return title_of(self.spec)

    def cell_rows(self) -> list[dict[str, Any]]:
        """What the store keeps per cell."""
        return [
            {"index": c.index, "cell": c.to_dict(), "text": r.text, "status": r.status, "metrics": r.metrics(), "error": r.error}
            for c, r in zip(self.plan.cells, self.results, strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "columns": self.plan.columns,
            "rows": self.plan.rows,
            "column_axis": self.plan.column_axis,
            "elapsed_s": self.elapsed_s,
            "calls": len(self.plan.cells),
            "failed": sum(r.status == ERROR for r in self.results),
        }

    @classmethod
    def from_stored(
        cls,
        run_id: str,
        created_at: float,
        status: str,
        spec: Mapping[str, Any],
        summary: Mapping[str, Any],
        cells: Sequence[Mapping[str, Any]],
    ) -> RunRecord:
        grid = GridSpec.from_dict(spec)
        ordered = sorted(cells, key=lambda c: c["index"])
        plan_cells = [Cell.from_dict(c["cell"]) for c in ordered]
        results = [
            CellResult.from_saved(c["index"], c["status"], c["text"], c.get("metrics") or {}, c.get("error")) for c in ordered
        ]
        plan = GridPlan(
            summary.get("column_axis", grid.column_axis),
            list(summary.get("columns", [])),
            list(summary.get("rows", [])),
            plan_cells,
        )
        return cls(grid, plan, results, status, run_id, created_at, summary.get("elapsed_s"))


def save_run(store: Store, record: RunRecord) -> str:
    record.id = store.save_compare_run(
        title=record.title,
        status=record.status,
        spec=record.spec.to_dict(),
        summary=record.summary(),
        cells=record.cell_rows(),
        created_at=record.created_at,
    )
    remember_prompts(store, record)
    return record.id


def remember_prompts(store: Store, record: RunRecord) -> None:
    """The saved prompt versions the run's cells ran (`name@version`) are referenced by the run, so deleting
    their prompt keeps them (lib.storage.prompts)."""
    for ref in dict.fromkeys(c.prompt_ref for c in record.plan.cells if c.prompt_ref):
        name, _, number = ref.rpartition("@")
        version = store.version_by_name(name, number=int(number)) if number.isdigit() else None
        if version is not None:
            store.add_prompt_reference(version.prompt_id, version.number, "compare_run", record.id)


def load_run(store: Store, run_id: str) -> RunRecord | None:
    stored = store.get_compare_run(run_id)
    if stored is None:
        return None
    return RunRecord.from_stored(stored.id, stored.created_at, stored.status, stored.spec, stored.summary, stored.cells)


def title_of(spec: GridSpec) -> str:
    line = " ".join(spec.prompt.split()) or " vs ".join(str(v.get("ref")) for v in spec.versions)
    return line if len(line) <= 60 else line[:59] + "…"


def record_of(spec: GridSpec, plan: GridPlan, runner: GridRunner) -> RunRecord:
    results = [replace(r) for r in runner.results]
    status = "stopped" if runner.stopping or any(r.status in (STOPPED, SKIPPED) for r in results) else "complete"
    return RunRecord(spec, plan, results, status, elapsed_s=round(runner.elapsed(), 3))


# --- export ---------------------------------------------------------------------------------------

EXPORT_FORMAT = "yoake.compare"
# The cell's axes, its outcome and its metrics (the logprob count is the perplexity's base, not a column).
CSV_FIELDS = (
    "index", "row", "column", "row_label", "column_label", "provider", "model", "temperature", "top_p",
    "variant", "prompt_ref", "system_prompt", "inputs", "sample", "seed", "prompt", "max_tokens", "status", "text",
    *(m for m in METRICS if m not in ("logprob_tokens", "verdicts")), "error",
)  # fmt: skip


Extra = Sequence[Mapping[str, Any]] | None  # per cell, columns added after the cell's own (e.g. its score)


def _extra_fields(extra: Extra) -> list[str]:
    return list(dict.fromkeys(k for row in extra or () for k in row if k not in CSV_FIELDS))


def export_rows(record: RunRecord, extra: Extra = None) -> list[dict[str, Any]]:
    """One flat row per cell: its axes, the text and its metrics, then `extra`'s columns (lib.evals adds the
    scores: lib/compare sits below it)."""
    extra_fields = _extra_fields(extra)
    rows = []
    for cell, res in zip(record.plan.cells, record.results, strict=True):
        row = cell.to_dict() | res.metrics() | {"status": res.status, "text": res.text, "error": res.error}
        row["row_label"] = record.plan.rows[cell.row] if cell.row < len(record.plan.rows) else ""
        row["column_label"] = record.plan.columns[cell.column] if cell.column < len(record.plan.columns) else ""
        more = extra[cell.index] if extra else {}
        rows.append({k: row.get(k) for k in CSV_FIELDS} | {k: more.get(k) for k in extra_fields})
    return rows


def export_csv(record: RunRecord, extra: Extra = None) -> str:
    rows = export_rows(record, extra)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else CSV_FIELDS)  # every row has the same columns
    writer.writeheader()
    for row in rows:
        writer.writerow(row | {"inputs": json.dumps(row["inputs"], ensure_ascii=False) if row["inputs"] else ""})
    return buf.getvalue()


def export_json(record: RunRecord, extra: Extra = None) -> str:
    cols = column_diversity(record.plan, record.results)
    doc = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "run": {
            "id": record.id,
            "created_at": record.created_at,
            "status": record.status,
            "elapsed_s": record.elapsed_s,
            "spec": record.spec.to_dict(),
        },
        "columns": [{"label": label} | d.as_dict() for label, d in zip(record.plan.columns, cols, strict=True)],
        "cells": export_rows(record, extra),
    }
    return json.dumps(doc, ensure_ascii=False, indent=1)


class ActiveRun:
    """A run in flight, kept in session state so a rerun (Stop, any widget) picks it up again."""

    def __init__(self, spec: GridSpec, plan: GridPlan, runner: GridRunner) -> None:
        self.spec, self.plan, self.runner = spec, plan, runner
        self._saved: str | None = None
        self._lock = threading.Lock()

    def save_once(self, store: Store) -> str:
        """The finished run's id, saved by whichever run of the page gets here first: using the page
        as a run ends starts a new script run beside the old one, and both may see it finish."""
        with self._lock:
            if self._saved is None:
                self._saved = save_run(store, record_of(self.spec, self.plan, self.runner))
            return self._saved
