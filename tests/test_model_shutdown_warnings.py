"""Issue 29, the picker and the router against a loopback OpenAI-compatible server whose
`/v1/models` marks a model with `shutdown_date` (as OpenAI's does): the picker's label and the
sidebar warning, and the 'auto' router sending a reasoning question to a model that is not going away.
No embedded model: the server here answers `/v1/models` and streamed chat completions itself."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.llm.chat import CallContext, ChatParams, route_model
from lib.llm.providers import PROVIDERS, list_models, make_client, router_defaults
from lib.llm.streams import ChatStream

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")
SUMMARIZE_PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "summarize.py")
SHUTDOWN = "2027-02-01"
MODELS = [
    {"id": "gpt-6-luna", "object": "model", "created": 0, "owned_by": "openai"},
    {"id": "gpt-6.2-sol", "object": "model", "created": 0, "owned_by": "openai", "shutdown_date": SHUTDOWN},
    {"id": "gpt-6.1-sol", "object": "model", "created": 0, "owned_by": "openai"},
    {"id": "gpt-4.1-mini", "object": "model", "created": 0, "owned_by": "openai"},  # in the deprecations data
]


class FakeOpenAI:
    """`GET /v1/models` and streamed `POST /v1/chat/completions` on 127.0.0.1; remembers the models asked for."""

    def __init__(self, models: list[dict] = MODELS) -> None:
        self.models = models
        self.asked: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"object": "list", "data": fake.models}).encode()
                self.send_response(200 if self.path.rstrip("/").endswith("/models") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model = request["model"]
                fake.asked.append(model)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model}
                events = [
                    base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "OK"}, "finish_reason": None}]},
                    base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                    base
                    | {
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 1000,
                            "completion_tokens": 10,
                            "total_tokens": 1010,
                            "prompt_tokens_details": {"cached_tokens": 600},
                        },
                    },
                ]
                for event in events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
        yield fake


def test_list_models_keeps_shutdown_date_and_the_router_avoids_the_model(fake_openai: FakeOpenAI, data_dir: Path) -> None:
    openai = PROVIDERS["openai"]
    client = make_client(fake_openai.base_url, "sk-test-not-a-real-key-123456", timeout=10, max_retries=0)
    listed = list_models(client, openai)
    assert listed.from_server and listed.shutdown_dates == {"gpt-6.2-sol": dt.date(2027, 2, 1)}
    routed = router_defaults(openai, listed)
    assert openai.large_model == "gpt-6.2-sol"  # the preset's large model, which this server says goes away
    assert (routed.small_model, routed.large_model) == ("gpt-6-luna", "gpt-6.1-sol")
    model, _ = route_model("Please explain why the sky is blue", routed.small_model, routed.large_model)
    ctx = CallContext(page="chat", provider_id="openai", local=False, log_path=data_dir / "usage.jsonl")
    stream = ChatStream(client, [{"role": "user", "content": "explain"}], ChatParams(model=model), ctx)
    assert "".join(stream) == "OK"
    assert fake_openai.asked == ["gpt-6.1-sol"]
    line = json.loads((data_dir / "usage.jsonl").read_text())
    assert line["cached_tokens"] == 600 and line["cost_usd"] is None  # gpt-6.1-sol: no sourced price


def test_picker_marks_models_going_away_and_auto_avoids_them(fake_openai: FakeOpenAI, data_dir: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    picker = at.sidebar.selectbox(key="chat_model")
    labels = dict(zip(picker.options, ["auto", *sorted(m["id"] for m in MODELS)], strict=True))
    by_model = {m: label for label, m in labels.items()}
    assert by_model["auto"] == "auto (gpt-6-luna / gpt-6.1-sol)"  # the router's large model is not gpt-6.2-sol
    assert by_model["gpt-6.2-sol"].startswith("gpt-6.2-sol  ⚠️ ") and SHUTDOWN in by_model["gpt-6.2-sol"]
    assert "2027-01-14 → gpt-6-luna" in by_model["gpt-4.1-mini"]  # from the deprecations data
    assert by_model["gpt-6-luna"] == "gpt-6-luna" and by_model["gpt-6.1-sol"] == "gpt-6.1-sol"
    assert not [w for w in at.sidebar.warning if "shut" in w.value]  # the default choice is not going away

    picker.set_value("gpt-6.2-sol").run()
    warning = " ".join(w.value for w in at.sidebar.warning)
    assert re.search(rf"gpt-6\.2-sol shuts? down {SHUTDOWN}\.", warning), warning  # "shut down" once the day is past
    at.sidebar.selectbox(key="chat_model").set_value("gpt-4.1-mini").run()
    warning = " ".join(w.value for w in at.sidebar.warning)
    assert "gpt-4.1-mini" in warning and "2027-01-14" in warning and "replacement is gpt-6-luna" in warning

    # auto with a reasoning question: the large model the router chose, not the one shutting down
    at.sidebar.selectbox(key="chat_model").set_value("auto").run()
    at.chat_input(key="chat_input").set_value("Please explain why the sky is blue.").run()
    assert not at.exception, at.exception
    assert fake_openai.asked == ["gpt-6.1-sol"]


def test_the_first_choice_is_not_a_model_going_away(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    # A server that lists neither preset default, its first model (in sorted order) shutting down; a page
    # without 'auto' (the summariser) so the first choice is a model.
    models = [
        {"id": "acme-a", "object": "model", "created": 0, "owned_by": "acme", "shutdown_date": 1798761600},  # 2027-01-01
        {"id": "acme-b", "object": "model", "created": 0, "owned_by": "acme"},
    ]
    with FakeOpenAI(models) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        at = AppTest.from_file(SUMMARIZE_PAGE, default_timeout=120).run()
        assert not at.exception, at.exception
        picker = at.sidebar.selectbox(key="sum_model")
        assert picker.value == "acme-b"
        assert "acme-a  ⚠️ " in " ".join(picker.options) and "2027-01-01" in " ".join(
            picker.options
        )  # a Unix timestamp read as a date
