"""Benchmarks cannot rot: every bench/*.py runs once at its small size (`--small`) and must exit 0 with a
last line `<name>: <figure>`, name being the script's stem. No timing is asserted: the figures are for
docs/benchmarks.md, measured at full size.

A benchmark that starts the embedded model (llama.cpp) is marked `model`; the others run in the fast tier.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))


def _needs_engine(path: Path) -> bool:
    # Whoever starts llama.cpp through LocalServer needs the embedded model (a new bench file is classified too).
    return re.search(r"\bLocalServer\s*\(", path.read_text(encoding="utf-8")) is not None


@pytest.mark.parametrize(
    "script", [pytest.param(p, id=p.stem, marks=[pytest.mark.model] if _needs_engine(p) else []) for p in BENCHES]
)
def test_benchmark_runs_at_its_small_size(script: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOAKE_")}  # a benchmark sets up what it needs
    env |= {"YOAKE_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script), "--small"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{script.name} --small exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script.name} printed nothing"
    assert re.fullmatch(rf"{re.escape(script.stem)}: -?\d+(\.\d+)?(e-?\d+)?", lines[-1]), lines[-1]
    if script.stem == "load":  # its cold start: every chat waited for the one engine start, none was refused
        assert "8 answered, 0 failed" in done.stdout, done.stdout[-3000:]
