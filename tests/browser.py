"""Real-browser helpers: a `streamlit run` of the app on a free port, and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lib.engine.server import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]  # fmt: skip


def artifacts_dir() -> Path:
    path = Path(os.environ.get("YOAKE_ARTIFACTS_DIR") or ROOT / "artifacts") / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def engine_children(pid: int, but: int | None = None) -> list[int]:
    """The embedded engines (`python -m lib.engine.server`) among `pid`'s children, less `but`."""
    found = []
    for child in children_of(pid):
        try:
            if child != but and "lib.engine.server" in Path(f"/proc/{child}/cmdline").read_text():
                found.append(child)
        except OSError:
            pass  # it ended meanwhile
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@contextmanager
def streamlit_app(
    env: dict[str, str],
    timeout: float = 120,
    *,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = port or free_port()
    log = open(Path(env["YOAKE_DATA_DIR"]) / "streamlit.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", *extra_args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{(Path(env['YOAKE_DATA_DIR']) / 'streamlit.log').read_text()}")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@contextmanager
def chromium_page() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            yield page
        finally:
            browser.close()


@contextmanager
def chromium_browser() -> Iterator:
    """The browser itself, for tests that need several contexts (separate cookies: separate visitors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
