"""Real Chromium against `streamlit run`: the app starts its own embedded model, streams a reply,
survives its engine being killed, and leaves no engine process behind when it stops."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from browser import alive, artifacts_dir, children_of, chromium_page, streamlit_app

pytestmark = [pytest.mark.browser, pytest.mark.model]  # the app's own engine is under test


def _engines(pid: int) -> list[int]:
    return [p for p in children_of(pid) if "lib.engine.server" in Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")]


def test_chat_streams_in_a_real_browser_survives_an_engine_kill_and_leaves_no_orphan(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "YOAKE_LOCAL_BASE_URL"}  # the app starts its own server
    env["YOAKE_DATA_DIR"] = str(data_dir)
    server_pids: list[int] = []
    with streamlit_app(env) as (url, proc), chromium_page() as page:
        page.goto(url)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=120_000)  # the first run starts the embedded model
        server_pids = _engines(proc.pid)
        assert server_pids, "the app should run the embedded model server as its child"
        # Short replies: however the model goes on (it can loop to the 512-token default), each ends soon.
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("More parameters").click()
        sidebar.get_by_label("Max tokens").fill("48")
        sidebar.get_by_label("Max tokens").press("Enter")
        page.wait_for_timeout(400)  # let the rerun the change triggers settle

        box.fill("Write three sentences about the sea.")
        box.press("Enter")
        messages = page.get_by_test_id("stChatMessage")
        # Watch the assistant message grow: a streamed reply is seen part-way before it is complete.
        snapshots: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if messages.count() >= 2:
                text = messages.nth(1).inner_text()
                if text and (not snapshots or text != snapshots[-1]):
                    snapshots.append(text)
                if "first token" in text:  # the usage caption appears once the reply is complete
                    break
            time.sleep(0.03)
        page.screenshot(path=str(artifacts_dir() / "chat.png"), full_page=True)
        final = snapshots[-1]
        assert "free (local)" in final and "smollm2-135m-instruct" in final
        partial = [s for s in snapshots[:-1] if s.strip() and "first token" not in s]
        assert partial, f"no partial reply was seen while streaming: {snapshots}"
        assert len(final) > len(partial[0])
        usage = (data_dir / "usage.jsonl").read_text().splitlines()
        assert len(usage) == 1 and '"status":"ok"' in usage[0]

        # The engine dies (as in an out-of-memory kill): the next message still gets a reply.
        os.kill(server_pids[0], signal.SIGKILL)
        box.fill("Are you still there?")
        box.press("Enter")
        page.get_by_text("was restarted").wait_for(timeout=120_000)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (messages.count() >= 4 and "first token" in messages.nth(3).inner_text()):
            time.sleep(0.1)
        page.screenshot(path=str(artifacts_dir() / "chat-after-engine-kill.png"), full_page=True)
        assert messages.count() == 4 and "free (local)" in messages.nth(3).inner_text()
        # The re-sent message is answered once; before it, at most the one call that met the dead engine
        # (when the kill lands after the page's check), logged as a connection error.
        after = [json.loads(line) for line in (data_dir / "usage.jsonl").read_text().splitlines()[1:]]
        assert 1 <= len(after) <= 2 and after[-1]["status"] == "ok", after
        assert all(r["status"] == "error" and r["error_type"] == "connection" for r in after[:-1]), after
        server_pids += _engines(proc.pid)
        assert len(server_pids) == 2 and alive(server_pids[1])
    # Streamlit stopped: its embedded server went with it.
    deadline = time.monotonic() + 10
    while any(alive(p) for p in server_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in server_pids), "llama-server outlived the app"
