"""Many sessions, one engine: concurrent `ensure_running()` calls while the engine starts give one
engine, and no caller is sent to a port it does not listen on yet (issue 28's refused connections)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import openai
import pytest
from browser import engine_children

from lib.engine.server import LocalServer, LocalServerError


def _engines() -> set[int]:
    return set(engine_children(os.getpid()))


@pytest.mark.model
def test_concurrent_callers_while_the_engine_starts_share_one_engine_and_none_is_refused(tmp_path: Path) -> None:
    before = _engines()
    server = LocalServer(log_path=tmp_path / "server.log", parallel=2)
    go = threading.Barrier(8)
    results: list[tuple[str, str]] = []  # (base URL used, "ok" or the error's type)
    lock = threading.Lock()

    def call(url: str) -> None:
        client = openai.OpenAI(base_url=url, api_key="not-needed", max_retries=0, timeout=300)
        try:
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0)
            outcome = "ok"
        except openai.APIError as exc:
            outcome = type(exc).__name__
        with lock:
            results.append((url, outcome))

    def starter() -> None:  # what a session's page does: make sure the engine runs, then call it
        go.wait()
        server.ensure_running()
        call(server.base_url)

    def watcher() -> None:  # a session that finds the engine "running" and calls it at once
        go.wait()
        while not server.running():
            time.sleep(0.001)
        call(server.base_url)

    threads = [threading.Thread(target=starter if i % 2 == 0 else watcher) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert [outcome for _, outcome in results] == ["ok"] * 8
        assert {url for url, _ in results} == {server.base_url}
        assert len(_engines() - before) == 1 and server.restarts == 0
    finally:
        server.stop()


def test_a_caller_waits_for_another_callers_start_no_longer_than_its_timeout(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    server = LocalServer(model, log_path=tmp_path / "server.log")
    server._lock.acquire()  # another session is starting it
    try:
        with pytest.raises(LocalServerError, match="still starting"):
            server.ensure_running(timeout=0.2)
        assert not server.running() and server.process is None
    finally:
        server._lock.release()
