"""The deployment recipes run what the laptop runs: render.yaml, the Dockerfile and run.sh install with
scripts/install.sh and start with scripts/serve.sh (one source of truth; these tests fail if they
drift), and scripts/serve.sh really serves the app on the host's PORT with Streamlit's health check."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL, SERVE, HEALTH = "scripts/install.sh", "scripts/serve.sh", "/_stcore/health"


def _requirement_files() -> set[str]:
    """The files scripts/install.sh installs from without `dev` (a container must copy them before running it)."""
    text = (ROOT / INSTALL).read_text()
    return set(re.findall(r"-r (\S+\.txt)", text.split('if [ "${1:-}" = dev ]')[0]))


def test_render_builds_and_starts_with_the_project_scripts() -> None:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    (web,) = [s for s in blueprint["services"] if s["type"] == "web"]
    assert web["buildCommand"] == INSTALL and web["startCommand"] == SERVE
    assert web["healthCheckPath"] == HEALTH
    env = {e["key"]: e for e in web["envVars"]}
    assert env["YOAKE_HOST"]["value"] == "0.0.0.0"
    assert env["YOAKE_DATA_DIR"]["value"] == web["disk"]["mountPath"]  # data lives on the disk, not the build
    assert all(e.get("sync") is False for k, e in env.items() if k.endswith(("KEY", "PASSWORD")))  # secrets never in git
    assert env["PYTHON_VERSION"]["value"].startswith("3.11")


def test_the_dockerfile_installs_and_starts_with_the_project_scripts() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runs = re.findall(r"^RUN (.+)$", text, re.M)
    assert INSTALL in runs
    copied = {w for line in re.findall(r"^COPY (.+)$", text, re.M) for w in shlex.split(line)[:-1]}
    assert _requirement_files() | {"scripts/"} <= copied, "copy what install.sh reads before running it"
    assert text.index(f"RUN {INSTALL}") < text.index("COPY . .")  # the dependency layer is cached apart from the code
    assert re.search(rf'^CMD \["{SERVE}"\]$', text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M)  # not root
    assert HEALTH in text and "YOAKE_DATA_DIR=/data" in text and "VOLUME /data" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".env", "data", ".streamlit/secrets.toml"} <= set(ignored)


def test_run_sh_is_install_then_serve() -> None:
    lines = [ln for ln in (ROOT / "run.sh").read_text().splitlines() if ln and not ln.startswith("#")]
    assert INSTALL in lines and f'exec {SERVE} "$@"' in lines
    assert lines.index(INSTALL) < lines.index(f'exec {SERVE} "$@"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_sh_listens_on_the_hosts_port_and_answers_the_health_check(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "YOAKE_HOST": "127.0.0.1", "YOAKE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([str(ROOT / SERVE)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(600):  # up to ~60 s on a busy machine; returns as soon as it answers
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH}", timeout=2) as resp:
                    body = resp.read()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.1)
        assert body == b"ok"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
