"""A real child process streaming from the (fake) model through the store wrapper is SIGKILLed
mid-reply: the database stays readable and holds the partial reply, marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lib.storage.store import DB_FILE, Store

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from lib.llm.chat import CallContext, ChatParams
from lib.llm.streams import ChatStream
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client
from lib.storage.store import Store
from lib.conversation.persisted import PersistedReply
data = Path(os.environ["YOAKE_DATA_DIR"])
store = Store.in_dir(data)
prompt = "Count from 1 to 200, separated by commas. [fake count=200]"  # the fake model counts, one number a piece
cid = store.create_conversation(provider="local", model=LOCAL_MODEL_ALIAS)
store.add_message(cid, "user", prompt)
print("CID " + cid, flush=True)
stream = ChatStream(make_client(os.environ["YOAKE_LOCAL_BASE_URL"], "not-needed"),
                    [{"role": "user", "content": prompt}],
                    ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=160),
                    CallContext(page="chat", provider_id="local", local=True, log_path=data / "usage.jsonl"))
for delta in PersistedReply(store, cid, stream):
    print("D " + json.dumps(delta), flush=True)
    time.sleep(0.05)  # a consumer as slow as a browser: the reply takes seconds
print("END", flush=True)
time.sleep(120)
"""


def test_killed_mid_stream_keeps_a_readable_partial_reply(data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ROOT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    deltas: list[str] = []
    cid = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("CID "):
                cid = line[4:].strip()
            elif line.startswith("D "):
                deltas.append(json.loads(line[2:]))
                if len(deltas) >= 40:  # >= 2 s into the reply (50 ms per delta), well past the 0.5 s flushes
                    break
            elif line.startswith("END"):
                break
        assert len(deltas) >= 40, f"the reply ended after {len(deltas)} deltas: {proc.stderr.read() if proc.stderr else ''}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(data_dir / DB_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert cid
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv is not None
    assert [m.role for m in conv.messages] == ["user", "assistant"]
    reply = conv.messages[1]
    shown = "".join(deltas)
    assert reply.incomplete  # cut off: never finalised as complete
    assert shown.startswith("1, 2, 3,") and reply.content and shown.startswith(reply.content)
    # More than the first delta was saved: the periodic flushes during the stream reached the disk.
    assert len(reply.content) > len(deltas[0])
    # Deltas 1-10 were shown at least 1.5 s before the kill (three flush intervals): all saved.
    assert len(reply.content) >= len("".join(deltas[:10]))
