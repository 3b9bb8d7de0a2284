"""Local models end to end: the embedded server switches GGUF on the same port (and falls back to
the previous model when llama.cpp cannot load the new one); the chat page downloads a model by link
from a loopback HTTP server, switches to it and gets a reply from it; `--model URL` from the shell."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest
from browser import engine_children
from streamlit.testing.v1 import AppTest

from lib.core.text import md_text
from lib.engine.server import PROJECT_ROOT, LocalServer, LocalServerError, default_model_path

pytestmark = pytest.mark.model
PAGE = str(PROJECT_ROOT / "pages" / "chat.py")
NEW_NAME = "tiny-chat.Q4_1.gguf"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unloadable_copy(dest: Path) -> Path:
    """The shipped GGUF with its architecture renamed: a valid header llama.cpp refuses to load."""
    data = bytearray(default_model_path().read_bytes())
    head = bytes(data[:65536]).replace(b"llama", b"llamb")
    data[:65536] = head
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture
def model_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback web server with the shipped GGUF under another name (and nothing else). Downloads
    reach loopback only with the laptop's YOAKE_FETCH_ALLOW_PRIVATE on (the shell command inherits it)."""
    monkeypatch.setenv("YOAKE_FETCH_ALLOW_PRIVATE", "1")
    site = tmp_path / "site"
    site.mkdir()
    shutil.copyfile(default_model_path(), site / NEW_NAME)
    (site / "readme.gguf").write_text("<html>not a model</html>" * 100)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def reply(base_url: str) -> tuple[str, str]:
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)
    completion = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0, seed=1
    )
    return completion.model, completion.choices[0].message.content or ""


def test_switch_model_keeps_the_port_and_falls_back_when_the_new_one_cannot_load(tmp_path: Path) -> None:
    copy = tmp_path / NEW_NAME
    shutil.copyfile(default_model_path(), copy)
    with LocalServer(log_path=tmp_path / "server.log", parallel=1) as server:
        url = server.base_url
        server.switch_model(copy)
        assert server.base_url == url and server.alias == "tiny-chat.Q4_1"
        assert reply(url)[0] == "tiny-chat.Q4_1"

        with pytest.raises(LocalServerError) as failed:
            server.switch_model(unloadable_copy(tmp_path / "broken.gguf"))
        detail = failed.value.detail
        assert "broken.gguf could not be loaded; tiny-chat.Q4_1 is running again" in detail
        assert "llamb" in detail  # llama.cpp's own words about the unknown architecture
        assert server.running() and server.alias == "tiny-chat.Q4_1" and server.base_url == url
        assert reply(url)[0] == "tiny-chat.Q4_1"


def test_the_command_line_takes_a_model_link(model_site: str, data_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.engine.server", "--model", f"{model_site}/{NEW_NAME}", "--parallel", "1"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        info = json.loads(proc.stdout.readline())
        assert info["model"] == "tiny-chat.Q4_1" and reply(info["base_url"])[0] == "tiny-chat.Q4_1"
        assert sha256(data_dir / "models" / NEW_NAME) == sha256(default_model_path())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    progress = proc.stderr.read()
    assert "downloading:" in progress and "MB/s" in progress


def test_the_chat_page_downloads_a_model_switches_to_it_and_gets_a_reply(
    model_site: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    import streamlit as st

    monkeypatch.delenv("YOAKE_LOCAL_BASE_URL")  # the page runs its own engine, as on a laptop
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(PAGE, default_timeout=180).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        shipped = str(default_model_path())
        assert at.sidebar.selectbox(key="chat_local_gguf").value == shipped

        # Bad links first: each says what is wrong and leaves no model behind.
        at.sidebar.text_input(key="chat_dl_url").set_value(f"{model_site}/missing.gguf").run()
        at.sidebar.button(key="chat_dl_go").click().run()
        assert any("404" in e.value or "not found" in e.value.lower() for e in at.sidebar.error), [
            e.value for e in at.sidebar.error
        ]
        at.sidebar.text_input(key="chat_dl_url").set_value(f"{model_site}/readme.gguf").run()
        at.sidebar.button(key="chat_dl_go").click().run()
        assert any("GGUF" in e.value for e in at.sidebar.error), [e.value for e in at.sidebar.error]
        assert sorted(p.name for p in (data_dir / "models").iterdir()) == []

        at.sidebar.text_input(key="chat_dl_url").set_value(f"{model_site}/{NEW_NAME}").run()
        at.sidebar.button(key="chat_dl_go").click().run()
        assert not at.exception, at.exception
        downloaded = data_dir / "models" / NEW_NAME
        assert sha256(downloaded) == sha256(default_model_path())
        assert any(o.startswith("tiny-chat.Q4_1 · 135M · Q4_1") for o in at.sidebar.selectbox(key="chat_local_gguf").options)

        at.sidebar.selectbox(key="chat_local_gguf").set_value(str(downloaded)).run()
        assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
        assert at.sidebar.selectbox(key="chat_model").value == "tiny-chat.Q4_1"
        at.sidebar.number_input(key="chat_max_tokens").set_value(8)
        at.chat_input(key="chat_input").set_value("Hello").run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert at.session_state["chat_history"][-1].role == "assistant"
        assert md_text("tiny-chat.Q4_1") in " ".join(c.value for c in at.chat_message[1].caption)  # the id, as text

        # A GGUF llama.cpp cannot load: its error is shown and the model that worked stays.
        broken = unloadable_copy(data_dir / "models" / "broken-arch.gguf")
        at.run()
        at.sidebar.selectbox(key="chat_local_gguf").set_value(str(broken)).run()
        errors = " ".join(e.value for e in at.sidebar.error)
        assert "broken-arch.gguf could not be loaded" in errors and "llamb" in errors
        assert at.sidebar.selectbox(key="chat_local_gguf").value == str(downloaded)
        assert at.sidebar.selectbox(key="chat_model").value == "tiny-chat.Q4_1"
    finally:
        for pid in engine_children(os.getpid(), but=local_server.process.pid):
            os.kill(pid, signal.SIGTERM)
        st.cache_resource.clear()


def test_a_signed_in_visitor_who_is_not_an_admin_cannot_change_the_shared_engine(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    import streamlit as st
    from test_sign_in import AUTH, BOB, user

    monkeypatch.delenv("YOAKE_LOCAL_BASE_URL")
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(PAGE, default_timeout=180)
        at.secrets["auth"] = AUTH
        at.user = user(BOB)
        at.run()
        assert not at.exception, at.exception
        assert at.sidebar.selectbox(key="chat_local_gguf").disabled
        assert not [e for e in at.sidebar.expander if e.label == "Get more models"]
        assert not [b for b in at.sidebar.button if b.key in ("chat_dl_go", "chat_del_go")]
    finally:
        for pid in engine_children(os.getpid(), but=local_server.process.pid):
            os.kill(pid, signal.SIGTERM)
        st.cache_resource.clear()
