"""Shared fixtures: the model a test talks to, and an isolated data dir per test.

- Tests marked `model` get one real embedded llama.cpp server per session (started only if such a test runs).
- Tests marked `no_model` get a loopback port nothing listens on: any model call fails at once.
- Every other test gets the fake model (tests/support/hosted_api_sim.py, one per session): deterministic,
  unpaced replies with usage, logprobs, tool calls and errors on request. The `fake_model` fixture gives
  the test its request log (reset for every test), e.g. to assert that no model call happened."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, PROVIDERS  # noqa: E402
from tests.support.hosted_api_sim import HostedAPISim, Reply, ServeModel, echo_reply  # noqa: E402

# Keys of every provider are removed so the app's default is the embedded model, as on a fresh laptop.
_KEY_VARS = {p.key_env for p in PROVIDERS.values() if p.key_env} | {"YOAKE_DEFAULT_PROVIDER", "YOAKE_PASSWORD"}
# Tests marked `no_model` get a loopback port nothing listens on (the discard port): a model call fails
# at once with a connection error.
NO_SERVER_URL = "http://127.0.0.1:9/v1"


def needs_model(item: pytest.Item) -> bool:
    return item.get_closest_marker("model") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the xdist_group marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    interop_asked = "interop" in (config.getoption("markexpr", "") or "")
    for item in items:
        if item.get_closest_marker("interop") and not interop_asked:  # installs a CLI: only when asked for
            item.add_marker(pytest.mark.skip(reason="an interop check: run with -m interop (or scripts/promptfoo_check.sh)"))
        # A test that asks for the server by name is a model test, marked or not (`-m "not model"` skips it).
        if "local_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)
        # With pytest-xdist (`./test.sh` runs two workers, `--dist loadgroup`), every test of the real
        # engine runs on one worker: one engine per run, and two never fight over the 2 cores.
        if needs_model(item):
            item.add_marker(pytest.mark.xdist_group("engine"))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop at once when pytest-xdist no longer groups the engine tests (pytest 9.2 with xdist 3.8 dropped the
    groups without a word): spread over both workers, two engines and their browsers fight for 2 cores."""
    if getattr(session.config.option, "loadgroup", False):
        lost = [i.nodeid for i in session.items if needs_model(i) and not i.nodeid.endswith("@engine")]
        if lost:
            pytest.exit(f"pytest-xdist did not put the engine tests in one group ({lost[0]} …): check its version", 3)


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    server = LocalServer(log_path=log)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_model_server() -> Iterator[HostedAPISim]:
    # Serves the embedded model's alias, so pages show what they show with the real engine.
    with HostedAPISim(echo_reply, first_byte_s=0.0, tokens_per_s=None, model=LOCAL_MODEL_ALIAS) as sim:
        yield sim


@pytest.fixture
def fake_model(yoake_env: Path, fake_model_server: HostedAPISim, request: pytest.FixtureRequest) -> HostedAPISim:
    """The fake model this test's pages talk to (through YOAKE_LOCAL_BASE_URL), with an empty request log."""
    if needs_model(request.node) or request.node.get_closest_marker("no_model"):
        raise pytest.UsageError("fake_model is for tests marked neither `model` nor `no_model`")
    return fake_model_server


@pytest.fixture
def serve_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServeModel]:
    """Start a model of the test's own (a fixed reply, or paced so a browser sees a reply stream) and make it
    YOAKE_LOCAL_BASE_URL: `serve_model(reply=echo_reply, first_byte_s=0, tokens_per_s=None, ...)`."""
    sims: list[HostedAPISim] = []

    def start(reply: Reply = echo_reply, **options: Any) -> HostedAPISim:
        options = {"first_byte_s": 0.0, "tokens_per_s": None, "model": LOCAL_MODEL_ALIAS} | options
        sim = HostedAPISim(reply, **options).start()
        sims.append(sim)
        monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", sim.base_url)
        return sim

    yield start
    for sim in sims:
        sim.stop()


@pytest.fixture(autouse=True)
def yoake_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own data dir and a model: the embedded server (`model`), none (`no_model`),
    or else the session's fake model, its request log and queued faults reset."""
    for name in _KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("YOAKE_DATA_DIR", str(data))
    if needs_model(request.node):
        base_url = request.getfixturevalue("local_server").base_url
    elif request.node.get_closest_marker("no_model"):
        base_url = NO_SERVER_URL
    else:
        fake: HostedAPISim = request.getfixturevalue("fake_model_server")
        fake.reset()
        base_url = fake.base_url
    monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", base_url)
    monkeypatch.setenv("YOAKE_ENV_FILE", str(tmp_path / "no.env"))
    monkeypatch.chdir(ROOT)
    return data


@pytest.fixture
def data_dir(yoake_env: Path) -> Path:
    yoake_env.mkdir(parents=True, exist_ok=True)
    return yoake_env


def _scan_components_once() -> None:
    """Every new AppTest scans the metadata of every installed distribution for Streamlit components
    (about 0.1 s of CPU each time, over a hundred AppTests in the fast tier). The installed packages do
    not change during a session: scan once, hand each AppTest its own copy of the list."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # a Streamlit without this scanner: nothing to cache
        return
    scan = functools.cache(manifest_scanner.scan_component_manifests)
    manifest_scanner.scan_component_manifests = lambda max_workers=None: list(scan(max_workers))


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    _scan_components_once()
