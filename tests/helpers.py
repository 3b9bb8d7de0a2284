"""Small helpers the tests share (importable because tests/ is on sys.path, like browser.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from streamlit.delta_generator import DeltaGenerator

from lib.storage.store import Store


def usage_lines(data_dir: Path) -> list[dict]:
    """Every record of the usage log in `data_dir`, in order (none when there is no log yet)."""
    path = data_dir / "usage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trace_sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the store runs from now on, in order (each new connection traced): the owner-scoping
    tests check that every statement on an owned table names the owner."""
    statements: list[str] = []
    connect = Store._connect

    def traced(self: Store) -> sqlite3.Connection:
        conn = connect(self)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(Store, "_connect", traced)
    return statements


def rerun_without(at, keys: set[str]) -> None:
    """Rerun an AppTest as a browser still drawing the previous run would: it sends no value for the widgets
    (whose keys end in one of `keys`) it has not drawn yet."""
    states = at._tree.get_widget_states()
    kept = [w for w in states.widgets if not any(w.id.endswith(key) for key in keys)]
    assert len(kept) == len(states.widgets) - len(keys), "a key that names no widget, or several"
    del states.widgets[:]
    states.widgets.extend(kept)
    at._run(states)


def capture_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What the page's download buttons offer from now on, by file name (AppTest does not expose their data)."""
    offered: dict[str, object] = {}
    original = DeltaGenerator.download_button

    def capture(self, label, data, *args, **kwargs):
        offered[kwargs.get("file_name") or args[0]] = data
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", capture)
    return offered
