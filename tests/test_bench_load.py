"""bench/load.py runs end to end at its small size and ends with `load: <number>` (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.model
def test_the_load_benchmark_runs_at_its_small_size(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--small"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert re.fullmatch(r"load: \d+\.\d+", lines[-1]), out.stdout
    assert "8 answered, 0 failed" in out.stdout  # the cold start: every chat waited for the one start
