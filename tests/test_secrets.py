"""A canary key configured everywhere a key can be: it must appear nowhere it could leak."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.model  # talks to the embedded model server

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")
CANARY = "sk-canary-7f3a9c1e5b2d8f4a6c0e"
TYPED_CANARY = "sk-typed-canary-d41d8cd98f00b204"


def _all_files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def test_canary_key_never_reaches_log_store_page_errors_or_output(
    local_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with FaultProxy(local_server.url) as proxy:
        monkeypatch.setenv("CUSTOM_BASE_URL", proxy.base_url)
        monkeypatch.setenv("CUSTOM_API_KEY", CANARY)
        monkeypatch.setenv("XAI_API_KEY", CANARY)
        at = AppTest.from_file(PAGE, default_timeout=120).run()
        at.sidebar.selectbox(key="chat_provider").set_value("custom").run()
        at.sidebar.number_input(key="chat_max_tokens").set_value(16).run()
        at.chat_input(key="chat_input").set_value("Hello").run()
        assert [m.role for m in at.session_state["chat_history"]] == ["user", "assistant"]
        # The provider rejects the key and echoes it, as OpenAI does ("Incorrect API key provided: sk-...").
        proxy.reset(Fault("status", 401, body={"error": {"message": f"Incorrect API key provided: {CANARY}."}}))
        at.chat_input(key="chat_input").set_value("Again").run()
        shown = " ".join(e.value for e in at.error)
        assert "API key was rejected" in shown
        # A key typed into the sidebar (custom provider) is as secret as a configured one.
        at.sidebar.text_input(key="chat_custom_key").set_value(TYPED_CANARY).run()
        proxy.reset(Fault("status", 403, body={"error": {"message": f"key {TYPED_CANARY} may not use this model"}}))
        at.chat_input(key="chat_input").set_value("Third").run()
        page_text = str(at.main) + str(at.sidebar) + " ".join(str(e.value) for e in at.error)
        assert proxy.count() == 1  # the third message reached the provider (403 is not retried)

    out, err = capfd.readouterr()
    everything = {
        "page": page_text,
        "data dir (usage log, database, WAL, logs)": _all_files_text(data_dir),
        "server log": local_server.log_path.read_text(errors="replace"),
        "process output": out + err,
    }
    for where, text in everything.items():
        for secret in (CANARY, TYPED_CANARY):
            assert secret not in text, f"{secret} leaked into the {where}"
            assert secret[:12] not in text, f"a prefix of {secret} leaked into the {where}"
    assert "usage.jsonl" in {p.name for p in data_dir.iterdir()}
