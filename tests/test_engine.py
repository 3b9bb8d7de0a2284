"""The embedded engine: llama.cpp's server from the xllamacpp wheel in a supervised child process.
These tests start servers of their own (not the session's) and kill them as an out-of-memory kill would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from browser import alive, engine_children
from streamlit.testing.v1 import AppTest

from lib.engine.server import LocalServer, LocalServerError, default_model_path

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "chat.py")


def _reply(base_url: str) -> str:
    client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    out = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0, seed=1
    )
    return out.choices[0].message.content or ""


@pytest.mark.model
def test_a_killed_engine_is_restarted_on_the_same_url_with_a_notice(tmp_path: Path) -> None:
    with LocalServer(log_path=tmp_path / "server.log", parallel=1) as server:
        url = server.base_url
        assert server.healthy() and _reply(url)
        assert server.ensure_running() is None  # running: nothing to do
        pid = server.process.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:  # dead as soon as it shows as a zombie:
            time.sleep(0.01)  # its threads may still be unwinding, and nobody has reaped it
        assert not server.running()
        notice = server.ensure_running()
        assert notice is not None and "SIGKILL" in notice and "restarted" in notice
        assert server.base_url == url and server.restarts == 1
        assert _reply(url)


@pytest.mark.model
def test_a_model_that_cannot_load_shows_the_log_tail_and_is_not_retried_in_a_loop(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(default_model_path().read_bytes()[:200_000])  # a truncated GGUF
    server = LocalServer(bad, log_path=tmp_path / "server.log", parallel=1)
    with pytest.raises(LocalServerError) as first:
        server.ensure_running(timeout=60)
    assert "while starting" in first.value.detail and "Last lines of the server log" in first.value.detail
    assert "failed to load model" in first.value.detail
    assert first.value.title == "The embedded model could not start."
    started = (tmp_path / "server.log").read_text().count("loading model")
    with pytest.raises(LocalServerError):
        server.ensure_running()  # the same failure again, without another start
    assert (tmp_path / "server.log").read_text().count("loading model") == started
    with pytest.raises(LocalServerError):
        server.ensure_running(retry=True)  # the user asked: one more start
    assert (tmp_path / "server.log").read_text().count("loading model") > started


@pytest.mark.model
def test_the_engine_dies_with_an_app_that_is_sigkilled(tmp_path: Path) -> None:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from lib.engine.server import LocalServer\n"
        "s = LocalServer(parallel=1).start(); print(s.process.pid, flush=True); time.sleep(600)\n"
    )
    app = subprocess.Popen([sys.executable, "-c", code, str(ROOT)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(app.stdout.readline())
        assert alive(child)
        app.kill()
        app.wait()
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the engine outlived its SIGKILLed parent"
    finally:
        app.kill()


@pytest.mark.model
def test_run_alone_it_prints_its_address_when_healthy(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.engine.server", "--parallel", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["model"] == "smollm2-135m-instruct" and info["pid"] == proc.pid
        assert info["base_url"].startswith("http://127.0.0.1:") and _reply(info["base_url"])
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_model_from_dotenv_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not marked model: no engine starts, the manager is only made.
    from ui.common import managed_server

    copy = tmp_path / "my-demo-model.gguf"
    os.link(default_model_path(), copy) if os.stat(default_model_path()).st_dev == os.stat(tmp_path).st_dev else copy.write_bytes(
        default_model_path().read_bytes()
    )
    env_file = tmp_path / "custom.env"
    env_file.write_text(f"YOAKE_LOCAL_MODEL={copy}\n")
    monkeypatch.setenv("YOAKE_ENV_FILE", str(env_file))
    monkeypatch.delenv("YOAKE_LOCAL_BASE_URL")
    server = managed_server()
    assert server is not None and server.model_path == copy and server.alias == "my-demo-model"
    assert not server.running()  # made, not started: the page starts it on first use


@pytest.mark.model
def test_chat_page_survives_its_engine_being_killed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    import streamlit as st

    monkeypatch.delenv("YOAKE_LOCAL_BASE_URL")  # the page runs its own engine, as on a laptop
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(PAGE, default_timeout=180).run()
        assert not at.exception and not at.error
        engines = engine_children(os.getpid(), but=local_server.process.pid)
        assert len(engines) == 1, engines
        at.sidebar.number_input(key="chat_max_tokens").set_value(16)
        at.chat_input(key="chat_input").set_value("Hello").run()
        assert [m.role for m in at.session_state["chat_history"]] == ["user", "assistant"]

        os.kill(engines[0], signal.SIGKILL)  # as an out-of-memory kill would
        deadline = time.monotonic() + 10
        while alive(engines[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        at.chat_input(key="chat_input").set_value("Are you still there?").run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("SIGKILL" in w.value and "restarted" in w.value for w in at.warning)
        history = at.session_state["chat_history"]
        assert [m.role for m in history] == ["user", "assistant"] * 2
        assert history[-1].content.strip() and not history[-1].incomplete
        restarted = engine_children(os.getpid(), but=local_server.process.pid)
        assert len(restarted) == 1 and restarted != engines
        lines = [json.loads(line) for line in (data_dir / "usage.jsonl").read_text().splitlines()]
        assert [r["status"] for r in lines] == ["ok", "ok"]
    finally:
        for pid in engine_children(os.getpid(), but=local_server.process.pid):
            os.kill(pid, signal.SIGTERM)
        st.cache_resource.clear()


def test_a_message_sent_the_instant_the_engine_dies_is_answered_by_the_restarted_one(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    """The kill lands between the page's check and its call (the race a visitor can hit right after an
    out-of-memory kill): the call is refused, the page restarts the engine and sends the same message
    again, without asking the visitor to re-send."""
    import streamlit as st

    monkeypatch.delenv("YOAKE_LOCAL_BASE_URL")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(PAGE, default_timeout=180).run()
        engines = engine_children(os.getpid(), but=local_server.process.pid)
        assert len(engines) == 1, engines
        at.sidebar.number_input(key="chat_max_tokens").set_value(16)
        at.chat_input(key="chat_input").set_value("Hello").run()
        os.kill(engines[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(engines[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        real_running = LocalServer.running
        checks = iter([True])  # the page's first look still sees the engine alive, as before the kill landed
        monkeypatch.setattr(LocalServer, "running", lambda self: next(checks, None) or real_running(self))
        at.chat_input(key="chat_input").set_value("Are you still there?").run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        history = at.session_state["chat_history"]
        assert [m.role for m in history] == ["user", "assistant"] * 2 and history[-1].content.strip()
        lines = [json.loads(line) for line in (data_dir / "usage.jsonl").read_text().splitlines()]
        assert [r["status"] for r in lines] == ["ok", "error", "ok"]  # the refused call is logged, then the answer
        assert lines[1]["error_type"] == "connection"
    finally:
        for pid in engine_children(os.getpid(), but=local_server.process.pid):
            os.kill(pid, signal.SIGTERM)
        st.cache_resource.clear()
