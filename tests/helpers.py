"""Small helpers the tests share (importable because tests/ is on sys.path, like browser.py)."""

from __future__ import annotations

import json
from pathlib import Path


def usage_lines(data_dir: Path) -> list[dict]:
    """Every record of the usage log in `data_dir`, in order (none when there is no log yet)."""
    path = data_dir / "usage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
