"""Shared fixtures: one real embedded model server per test session, started only for tests marked
`model` (or `browser`); an isolated data dir per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.local_server import LocalServer  # noqa: E402
from lib.providers import PROVIDERS  # noqa: E402

# Keys of every provider are removed so the app's default is the embedded model, as on a fresh laptop.
_KEY_VARS = {p.key_env for p in PROVIDERS.values() if p.key_env} | {"YOAKE_DEFAULT_PROVIDER", "YOAKE_PASSWORD"}
# Tests not marked `model` get a loopback port nothing listens on (the discard port): a test that
# calls the model without the marker fails at once with a connection error instead of starting a server.
NO_SERVER_URL = "http://127.0.0.1:9/v1"


def needs_model(item: pytest.Item) -> bool:
    return item.get_closest_marker("model") is not None or item.get_closest_marker("browser") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # A test that asks for the server by name is a model test, marked or not (`-m "not model"` skips it).
        if "local_server" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    server = LocalServer(log_path=log)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def yoake_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own data dir; tests marked `model` talk to the session's embedded server."""
    for name in _KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("YOAKE_DATA_DIR", str(data))
    base_url = request.getfixturevalue("local_server").base_url if needs_model(request.node) else NO_SERVER_URL
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", base_url)
    monkeypatch.setenv("YOAKE_ENV_FILE", str(tmp_path / "no.env"))
    monkeypatch.chdir(ROOT)
    return data


@pytest.fixture
def data_dir(yoake_env: Path) -> Path:
    yoake_env.mkdir(parents=True, exist_ok=True)
    return yoake_env


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
