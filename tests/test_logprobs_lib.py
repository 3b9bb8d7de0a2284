"""lib/logprobs: table, text rebuilt from bytes, escaping, summary, what-if, forks, and the probe."""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import openai
import pytest
from openai.types.chat import ChatCompletionTokenLogprob

from lib.engine.server import LocalServer
from lib.llm.chat import CallContext
from lib.llm.providers import PROVIDERS
from lib.logprobs import (
    ForkError,
    ProbeStatus,
    build_table,
    export_csv,
    export_json,
    fork_prefix,
    fork_unavailable_reason,
    heat_html,
    known_probe,
    probe_logprobs,
    summarize,
    to_frame,
    what_if,
)
from lib.usage.reader import read_records


def tok(
    token: str,
    logprob: float,
    alts: list[tuple[str, float]] | None = None,
    raw: list[int] | None = None,
    alt_raw: list[list[int] | None] | None = None,
) -> ChatCompletionTokenLogprob:
    """A position as the SDK parses it; `alts` default to the chosen token alone."""
    if alts is None:
        alts, alt_raw = [(token, logprob)], [raw]
    alt_raw = alt_raw or [None] * len(alts)
    return ChatCompletionTokenLogprob.model_validate(
        {
            "token": token,
            "logprob": logprob,
            "bytes": raw if raw is not None else list(token.encode()),
            "top_logprobs": [
                {"token": t, "logprob": lp, "bytes": b if b is not None else list(t.encode())}
                for (t, lp), b in zip(alts, alt_raw, strict=True)
            ],
        }
    )


# --- bytes, labels, text ------------------------------------------------------------------------


def test_character_split_across_tokens_displays_whole() -> None:
    # 日 = E6 97 A5, split over two tokens as some tokenizers (and OpenAI) do.
    content = [
        tok("\ufffd", -0.5, raw=[0xE6, 0x97]),
        tok("\ufffd", -0.1, raw=[0xA5]),
        tok(" ok", -0.2),
    ]
    table = build_table(content)
    assert table.text == "日 ok"
    assert table.texts == ["", "日", " ok"]
    assert table.partial == [True, False, False]
    assert table.labels == ["<0xE6><0x97>", "<0xA5> → 日", "␣ok"]
    html_out = heat_html(table)
    assert "日" in html_out and "\ufffd" not in html_out
    # The two halves are one shaded span, whose tooltip lists both positions.
    span = html_out.split("<span")[1]
    assert "#0" in span and "#1" in span and ">日</span>" in span


def test_reply_cut_mid_character_shows_the_dangling_bytes() -> None:
    table = build_table([tok("a", -0.1), tok("\ufffd", -0.5, raw=[0xE6, 0x97])])
    assert table.text == "a<0xE6><0x97>"
    assert "&lt;0xE6&gt;&lt;0x97&gt;" in heat_html(table)


def test_llama_server_merged_character_alternatives_are_byte_escapes_and_forkable() -> None:
    # llama-server: one position for the whole character; alternatives are the last byte's.
    content = [
        ChatCompletionTokenLogprob.model_validate(
            {
                "token": "日",
                "bytes": [0xE6, 0x97, 0xA5],
                "logprob": -0.4,
                "id": 5,
                "top_logprobs": [
                    {"token": "\ufffd", "bytes": [0xA5], "logprob": -0.4, "id": 5},
                    {"token": "\ufffd", "bytes": [0xA7], "logprob": -1.5, "id": 6},
                ],
            }
        )
    ]
    table = build_table(content)
    assert table.labels == ["日"] and table.alt_labels == [["<0xA5>", "<0xA7>"]]
    assert table.ranks.tolist() == [1]
    assert table.lead(0) == bytes([0xE6, 0x97])
    assert fork_prefix(table, 0, 1) == bytes([0xE6, 0x97, 0xA7]).decode() == "旧"


def test_partial_byte_alternative_cannot_be_forked() -> None:
    content = [tok("The", -1.0, alts=[("The", -1.0), ("\ufffd", -1.2)], alt_raw=[None, [0xE6, 0x97]])]
    table = build_table(content)
    assert table.alt_labels == [["The", "<0xE6><0x97>"]]
    with pytest.raises(ForkError, match="multi-byte"):
        fork_prefix(table, 0, 1)


def test_token_text_that_drops_partial_bytes_is_labelled_from_bytes() -> None:
    # llama-server sends the text " " for the bytes b" \xe3\x81" (the partial character dropped).
    content = [
        tok(" ", -0.5, alts=[(" ", -0.5), (" ", -0.9), ("\n", -1.0)], alt_raw=[[32], [32, 0xE3, 0x81], [10]]),
        tok(" ", -0.6, alts=[(" ", -0.6), (" ", -0.7)], alt_raw=[[32, 0xE3, 0x81], [32]], raw=[32, 0xE3, 0x81]),
    ]
    table = build_table(content)
    assert table.alt_labels == [["␣", "␣<0xE3><0x81>", "↵"], ["␣<0xE3><0x81>", "␣"]]
    assert table.ranks.tolist() == [1, 1] and table.labels[1] == "␣<0xE3><0x81>"
    assert table.text == " " + " <0xE3><0x81>"


def test_provider_without_bytes_is_labelled_from_token_text() -> None:
    content = [
        ChatCompletionTokenLogprob.model_validate(
            {
                "token": " Paris",
                "bytes": None,
                "logprob": -0.2,
                "top_logprobs": [
                    {"token": " Paris", "bytes": None, "logprob": -0.2},
                    {"token": " Lyon", "bytes": None, "logprob": -2.0},
                ],
            }
        )
    ]
    table = build_table(content)
    assert table.labels == ["␣Paris"] and table.alt_labels == [["␣Paris", "␣Lyon"]] and table.ranks.tolist() == [1]
    assert fork_prefix(table, 0, 1) == " Lyon"


def test_fork_prefix_splices_the_alternative_after_the_earlier_tokens() -> None:
    content = [tok("The", -0.1), tok(" cat", -0.7, alts=[(" cat", -0.7), (" dog", -0.9)]), tok(" sat", -0.2)]
    assert fork_prefix(build_table(content), 1, 1) == "The dog"
    with pytest.raises(ForkError):
        fork_prefix(build_table(content), 5, 0)


def test_whitespace_is_visible() -> None:
    table = build_table([tok("Hi", -0.1), tok("\n", -0.2), tok(" ", -0.3), tok("\t", -0.3)])
    assert table.labels == ["Hi", "↵", "␣", "⇥"]
    out = heat_html(table)
    assert "↵<br>" in out and ">␣</span>" in out


# --- escaping ----------------------------------------------------------------------------------


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '" onmouseover="alert(1)'])
def test_hostile_tokens_come_out_escaped(hostile: str) -> None:
    content = [tok(hostile, -2.0, alts=[(hostile, -2.0), ("<b>x</b>", -2.5)]), tok("\n<iframe src=//e>", -0.1)]
    out = heat_html(build_table(content), given_prefix="<svg onload=alert(1)>")
    for raw in ("<script", "<img", "<iframe", "<svg", "<b>", 'onmouseover="alert'):
        assert raw not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out or "&lt;img src=x onerror=alert(1)&gt;" in out or "&quot;" in out
    parser = _TagCollector()
    parser.feed(out)
    assert parser.tags <= {"div", "span", "br"}  # only our own markup
    assert parser.attrs <= {"style", "title"}


# --- numbers -----------------------------------------------------------------------------------


def test_rank_entropy_and_rest_bucket() -> None:
    lp = [math.log(0.5), math.log(0.3), math.log(0.1)]
    content = [tok(" b", lp[1], alts=[(" a", lp[0]), (" b", lp[1]), (" c", lp[2])])]
    table = build_table(content)
    assert table.ranks.tolist() == [2]
    expected = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1) + 0.1 * math.log(0.1))
    assert table.entropy()[0] == pytest.approx(expected)
    # Showing one alternative: the chosen token (not shown) still counts, the rest is 0.2.
    one = build_table(content, top_k=1)
    assert one.alt_labels == [["␣a"]] and one.ranks.tolist() == [2]
    assert one.entropy()[0] == pytest.approx(-(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)))
    frame = to_frame(one)
    assert frame.loc[0, "rank"] == 2 and frame.loc[0, "alt_probs"] == pytest.approx([0.5])


def test_chosen_token_not_among_alternatives_has_no_rank() -> None:
    table = build_table([tok(" z", -5.0, alts=[(" a", -0.1), (" b", -2.0)])])
    assert table.ranks.tolist() == [0]
    assert to_frame(table)["rank"].isna().all()


def test_summary_figures_and_least_confident_spans() -> None:
    ps = [0.9, 0.2, 0.1, 0.95, 0.4, 0.99]
    content = [tok(f" t{i}", math.log(p)) for i, p in enumerate(ps)]
    s = summarize(build_table(content), threshold=0.5)
    assert s is not None
    assert s.perplexity == pytest.approx(math.exp(-np.mean(np.log(ps))))
    assert s.joint_prob == pytest.approx(math.prod(ps))
    assert s.mean_prob == pytest.approx(np.mean(ps)) and s.min_prob == pytest.approx(0.1) and s.min_position == 2
    assert s.low_count == 3
    assert [(sp.start, sp.end, sp.text) for sp in s.spans] == [(1, 2, " t1 t2"), (4, 4, " t4")]
    assert s.spans[0].logprob == pytest.approx(math.log(0.02))
    assert summarize(build_table([])) is None


def test_what_if_softmax() -> None:
    lp = np.log([0.6, 0.3, 0.1])
    assert what_if(lp, 1.0) == pytest.approx([0.6, 0.3, 0.1])
    cold, hot = what_if(lp, 0.1), what_if(lp, 3.0)
    assert cold[0] > 0.99 and hot[0] < 0.6 and hot[2] > 0.1
    assert hot.sum() == pytest.approx(1.0)
    assert what_if(np.array([np.log(0.5), np.nan]), 1.0) == pytest.approx([1.0])


def test_exports_round_trip() -> None:
    content = [tok("A", -0.1, alts=[("A", -0.1), ("B", -3.0)]), tok(",", -0.5, alts=[(",", -0.5), ("\n", -1.0)])]
    table = build_table(content)
    rows = list(csv.reader(io.StringIO(export_csv(table))))
    assert rows[0] == [
        "position",
        "token",
        "text",
        "probability",
        "logprob",
        "rank",
        "entropy",
        "alt_1",
        "p_alt_1",
        "alt_2",
        "p_alt_2",
    ]
    assert rows[2][1] == "," and rows[2][9] == "↵" and float(rows[2][4]) == -0.5
    data = json.loads(export_json(table))
    assert data[1]["alternatives"][1] == {
        "token": "↵",
        "bytes": [10],
        "logprob": -1.0,
        "probability": pytest.approx(math.exp(-1.0)),
    }
    assert data[0]["probability"] == pytest.approx(math.exp(-0.1)) and data[0]["rank"] == 1


def test_fork_reason_by_provider() -> None:
    assert fork_unavailable_reason(PROVIDERS["local"]) is None
    assert fork_unavailable_reason(PROVIDERS["llama-server"]) is None
    assert "cannot continue" in (fork_unavailable_reason(PROVIDERS["openai"]) or "")
    assert "cannot continue" in (fork_unavailable_reason(PROVIDERS["gemini"]) or "")


# --- the probe ---------------------------------------------------------------------------------


def _reply() -> dict:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub-model",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": None, "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


class _Endpoint(BaseHTTPRequestHandler):
    """A loopback OpenAI-compatible endpoint that rejects logprobs (400, like Gemini's) or ignores them."""

    mode = "reject"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.server.mode == "reject":  # type: ignore[attr-defined]
            body, status = {"error": {"message": 'Unknown name "logprobs": Cannot find field.', "code": 400}}, 400
        else:
            body, status = _reply(), 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _ctx(data_dir: Path, provider: str = "custom") -> CallContext:
    return CallContext(page="logprobs", provider_id=provider, local=True, log_path=data_dir / "usage.jsonl")


@pytest.mark.parametrize(("mode", "status"), [("reject", ProbeStatus.REJECTED), ("none", ProbeStatus.NONE)])
def test_probe_classifies_rejecting_and_silent_endpoints(
    endpoint: ThreadingHTTPServer, data_dir: Path, mode: str, status: ProbeStatus
) -> None:
    endpoint.mode = mode  # type: ignore[attr-defined]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{endpoint.server_address[1]}/v1", api_key="k", max_retries=0)
    probe = probe_logprobs(client, "stub-model", _ctx(data_dir), "Stub")
    assert probe.status is status and not probe.available
    assert ("logprobs" in probe.detail) if mode == "reject" else ("returned no logprobs" in probe.detail)
    records, _ = read_records(data_dir / "usage.jsonl")
    assert len(records) == 1 and records[0]["page"] == "logprobs"
    assert records[0]["status"] == ("error" if mode == "reject" else "ok")


def test_probe_on_the_embedded_server_is_supported(local_server: LocalServer, data_dir: Path) -> None:
    client = openai.OpenAI(base_url=local_server.base_url, api_key="not-needed")
    probe = probe_logprobs(client, local_server.alias, _ctx(data_dir, "local"))
    assert probe.status is ProbeStatus.SUPPORTED and probe.available
    records, _ = read_records(data_dir / "usage.jsonl")
    assert [(r["page"], r["max_tokens"], r["status"]) for r in records] == [("logprobs", 1, "ok")]


def test_probe_connection_failure_is_raised_not_classified(data_dir: Path) -> None:
    from lib.engine.server import free_port

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError):
        probe_logprobs(client, "m", _ctx(data_dir))


def test_known_unsupported_provider_is_not_called() -> None:
    probe = known_probe(PROVIDERS["gemini"])
    assert probe is not None and probe.status is ProbeStatus.REJECTED and "Gemini" in probe.detail
    assert known_probe(PROVIDERS["local"]) is None


def test_japanese_reply_from_the_embedded_model_has_no_mojibake(local_server: LocalServer, data_dir: Path) -> None:
    from lib.llm.chat import ChatParams
    from lib.logprobs import run_logprobs

    client = openai.OpenAI(base_url=local_server.base_url, api_key="not-needed")
    run = run_logprobs(
        client,
        [{"role": "user", "content": "Say hello in Japanese."}],
        ChatParams(model=local_server.alias, temperature=0.0, seed=1, max_tokens=8),
        _ctx(data_dir, "local"),
        3,
    )
    table = run.table
    assert len(table) > 0
    assert table.text == run.text and "\ufffd" not in table.text
    assert "\ufffd" not in heat_html(table) and "\ufffd" not in "".join(table.labels)
    assert all("\ufffd" not in lab for row in table.alt_labels for lab in row)
    # Whatever the tokenisation, every multi-byte character shows whole in the text...
    assert any(ord(ch) > 0x7F for ch in table.text), table.text
    # ...and forks either splice a whole character or say why not.
    for c in range(len(table.alt_labels[0])):
        try:
            prefix = fork_prefix(table, 0, c)
        except ForkError:
            continue
        assert "\ufffd" not in prefix and prefix
    records, _ = read_records(data_dir / "usage.jsonl")
    assert [r["page"] for r in records] == ["logprobs"]
