"""Measure what a newcomer waits for on this machine, from a clean clone with no pip or uv cache:
`./run.sh` until the chat box is usable in Chromium, then (optionally) `./test.sh` to the end.

    .venv/bin/python scripts/first_run.py [--tests]

Prints the seconds of each phase; the figures go into README.md and docs/benchmarks.md. Needs
Debian's Chromium and Playwright (./test.sh installs both). Sends traffic only to loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from lib.engine.server import free_port  # noqa: E402


def chat_box_seconds(clone: Path, env: dict[str, str]) -> float:
    from playwright.sync_api import sync_playwright

    port = free_port()
    start = time.monotonic()
    log = open(clone / "run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["./run.sh", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"run.sh exited: {(clone / 'run.log').read_text()[-3000:]}")
                try:
                    page.goto(f"http://127.0.0.1:{port}", timeout=5_000)
                    break
                except Exception:
                    time.sleep(1)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=600_000)
            while box.is_disabled():  # enabled once the embedded model answers
                time.sleep(0.2)
            seconds = time.monotonic() - start
            browser.close()
        return seconds
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", action="store_true", help="also time ./test.sh in a second clean clone")
    args = parser.parse_args()
    env = os.environ | {"PIP_NO_CACHE_DIR": "1", "UV_NO_CACHE": "1"}  # nothing from an earlier install
    env.pop("VIRTUAL_ENV", None)
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "app"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        seconds = chat_box_seconds(clone, env | {"YOAKE_DATA_DIR": str(Path(tmp) / "data")})
        print(f"run.sh to a usable chat box: {seconds:.0f} s")
        if args.tests:
            clone2 = Path(tmp) / "tests"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone2)], check=True)
            start = time.monotonic()
            done = subprocess.run(["./test.sh", "-q"], cwd=clone2, env=env, capture_output=True, text=True)
            print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:])
            print(f"test.sh from a clean clone: {time.monotonic() - start:.0f} s, exit {done.returncode}")
    print(f"first_run: {seconds:.0f}")


if __name__ == "__main__":
    main()
