"""AppTest round trips of the logprobs explorer: against the fake model (logprobs with alternatives,
deterministic), and against the real embedded model where llama.cpp's own numbers and prefix
continuation are what is checked (`model`)."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from fault_proxy import FaultProxy
from helpers import usage_lines as _usage_lines
from streamlit.testing.v1 import AppTest

from lib.engine.server import LocalServer
from lib.logprobs import label_bytes
from tests.support.hosted_api_sim import HostedAPISim

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "logprobs.py")
PROMPT = "What is the capital of France?"
SEED, MAX_TOKENS, TOP_K = 42, 16, 5


@pytest.fixture(autouse=True)
def _fresh_probe_cache() -> None:
    # st.cache_data lives as long as the process: each test sees the page's first visit.
    st.cache_data.clear()


def _run_page(prompt: str = PROMPT, top_k: int = TOP_K) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="lp_provider").value == "local"
    assert at.sidebar.slider(key="lp_temperature").value == 0.0
    at.sidebar.text_input(key="lp_seed").set_value(str(SEED))
    at.sidebar.number_input(key="lp_max_tokens").set_value(MAX_TOKENS)
    at.sidebar.slider(key="lp_top_k").set_value(top_k)
    at.text_area(key="lp_prompt").set_value(prompt)
    at.button(key="lp_run_button").click().run()
    assert not at.exception and not at.error
    return at


def _table(at: AppTest):
    return next(df.value for df in at.dataframe if "alternatives" in df.value.columns)


@pytest.mark.model
def test_table_matches_the_raw_response_and_top1_is_chosen_at_temperature_0(
    local_server: LocalServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page talks to the real server through a recording proxy, so the test sees the bytes the page received.
    with FaultProxy(local_server.url) as proxy:
        monkeypatch.setenv("YOAKE_LOCAL_BASE_URL", proxy.base_url)
        at = _run_page()
        table = _table(at)
        assert len(table) > 0
        sent, received = next(
            (req, resp)
            for path, req, resp in proxy.exchanges
            if path.endswith("/chat/completions") and json.loads(req)["max_tokens"] == MAX_TOKENS
        )
        # Reproducible by design: llama.cpp's prompt cache is off for this page, and the page says so.
        assert json.loads(sent)["cache_prompt"] is False
        assert any("evaluated from scratch" in c.value for c in at.caption)
        raw = json.loads(received)["choices"][0]["logprobs"]["content"]
        assert len(raw) == len(table)
        for row, pos in zip(table.itertuples(), raw, strict=True):
            assert row.token == label_bytes(bytes(pos["bytes"]))
            assert row.logprob == pos["logprob"]
            assert row.probability == pytest.approx(math.exp(pos["logprob"]), rel=1e-12)
            assert list(row.alternatives) == [label_bytes(bytes(a["bytes"])) for a in pos["top_logprobs"]]
            assert list(row.alt_probs) == pytest.approx([math.exp(a["logprob"]) for a in pos["top_logprobs"]], rel=1e-12)
            # Temperature 0: the chosen token is the top-1 alternative at every position.
            assert row.rank == 1
            assert pos["top_logprobs"][0]["token"] == pos["token"] and pos["top_logprobs"][0]["logprob"] == pos["logprob"]

        # The same request again (the prompt is now in the server's cache): exactly the same table.
        at.button(key="lp_run_button").click().run()
        assert not at.exception and not at.error
        again = _table(at)
        assert again["token"].tolist() == table["token"].tolist()
        assert again["logprob"].tolist() == table["logprob"].tolist()
        assert [list(a) for a in again["alt_probs"]] == [list(a) for a in table["alt_probs"]]

    # And exactly what the page itself received.
    run = at.session_state["lp_run"]
    assert table["logprob"].tolist() == [p.logprob for p in run.content]
    assert (table["probability"].to_numpy() == np.exp([p.logprob for p in run.content])).all()
    assert "".join(run.table.texts) == run.text

    # The heat view shows the reply, and the summary is computed from the same numbers.
    shown = html.unescape(re.sub(r"<[^>]+>", "", at.html[0].value))
    assert shown.replace("␣", " ").replace("⇥", "\t").replace("↵", "\n") == run.text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Perplexity"] == f"{math.exp(-np.mean(table['logprob'])):.3f}"

    lines = _usage_lines(data_dir)  # the probe, then the two runs
    assert [(r["page"], r["max_tokens"], r["status"]) for r in lines] == [("logprobs", 1, "ok")] + [
        ("logprobs", MAX_TOKENS, "ok")
    ] * 2
    assert "France" not in (data_dir / "usage.jsonl").read_text()


def test_threshold_filter_and_downloads(fake_model: HostedAPISim) -> None:
    at = _run_page()
    everything = _table(at)
    sent = fake_model.calls()[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == TOP_K and sent["max_tokens"] == MAX_TOKENS
    assert "".join(at.session_state["lp_run"].table.texts) == fake_model.reply_to(sent)
    assert 0 < (everything["probability"] < 0.5).sum() < len(everything)  # the filter has something to do
    at.sidebar.slider(key="lp_threshold").set_value(0.5)
    at.checkbox(key="lp_only_low").check().run()
    low = _table(at)
    assert (low["probability"] < 0.5).all()
    assert len(low) == (everything["probability"] < 0.5).sum()
    downloads = at.get("download_button")
    assert len(downloads) == 2


def test_what_if_slider_and_position_pick(fake_model: HostedAPISim) -> None:
    at = _run_page()
    run = at.session_state["lp_run"]
    at.selectbox(key="lp_position").set_value(0).run()
    at.slider(key="lp_what_if_t").set_value(0.5).run()
    assert not at.exception
    assert at.get("vega_lite_chart"), "the alternatives bar chart is shown"
    closeup = next(df.value for df in at.dataframe if "what-if p" in df.value.columns)
    lp = np.array([a.logprob for a in run.content[0].top_logprobs])
    assert list(closeup["alternative"]) == run.table.alt_labels[0]
    assert closeup["server p"].to_numpy() == pytest.approx(np.exp(lp))
    expected = np.exp(lp / 0.5) / np.exp(lp / 0.5).sum()
    assert closeup["what-if p"].to_numpy() == pytest.approx(expected)
    assert closeup["what-if p"].iloc[0] > closeup["server p"].iloc[0] / np.exp(lp).sum()  # colder: sharper


@pytest.mark.model  # llama-server's own continuation of an assistant prefix
def test_fork_continues_from_the_spliced_alternative(data_dir: Path) -> None:
    at = _run_page()
    run = at.session_state["lp_run"]
    position = 2
    at.selectbox(key="lp_position").set_value(position).run()
    at.selectbox(key="lp_fork_alt").set_value(1).run()
    assert not at.button(key="lp_fork_button").disabled
    at.button(key="lp_fork_button").click().run()
    assert not at.exception and not at.error

    forked, fpos, label = at.session_state["lp_fork"]
    expected_prefix = "".join(run.table.texts[:position]) + bytes(run.content[position].top_logprobs[1].bytes).decode()
    assert fpos == position and forked.prefix == expected_prefix
    assert label == run.table.alt_labels[position][1]
    assert len(forked.table) > 0 and forked.text  # its own logprobs
    assert forked.text == forked.table.text  # the echoed prefix was removed
    # Shown beside the original: the fork's heat view holds the given prefix and the continuation.
    fork_html = at.html[-1].value
    assert "given prefix" in fork_html
    lines = _usage_lines(data_dir)
    assert [r["page"] for r in lines] == ["logprobs"] * 3


def test_fork_disabled_with_a_reason_where_the_provider_cannot_continue(
    fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OpenAI preset (no prefix continuation), pointed at the fake model so it really runs.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_model.base_url)
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert at.sidebar.selectbox(key="lp_provider").value == "openai"
    at.sidebar.number_input(key="lp_max_tokens").set_value(8)
    at.text_area(key="lp_prompt").set_value("Hi")
    at.button(key="lp_run_button").click().run()
    assert not at.exception
    assert at.session_state["lp_run"].text == fake_model.reply_to(fake_model.calls()[-1])
    assert at.button(key="lp_fork_button").disabled
    reasons = [c.value for c in at.caption if "cannot continue" in c.value]
    assert reasons and "OpenAI" in reasons[0]


def test_unavailable_logprobs_are_said_plainly(monkeypatch: pytest.MonkeyPatch, fake_model: HostedAPISim) -> None:
    # Gemini's endpoint rejects logprobs: known, so no call is made and Run is disabled.
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test-not-a-real-key-123456")
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
    monkeypatch.setenv("YOAKE_CONNECT_TIMEOUT", "1")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="lp_provider").set_value("gemini").run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "Logprobs are not available" in warning and "Gemini" in warning
    assert at.button(key="lp_run_button").disabled
    assert not at.get("arrow_data_frame") and not at.dataframe
    # At most the probe of the provider the page opened with (the embedded model); Gemini is never called.
    assert all(c["max_tokens"] == 1 and c["model"] == "smollm2-135m-instruct" for c in fake_model.calls())


def test_empty_prompt_is_refused(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.button(key="lp_run_button").click().run()
    assert [e.value for e in at.error] == ["Type a prompt first."]
    assert at.session_state["lp_run"] is None
    assert len(_usage_lines(data_dir)) == 1  # only the probe
    [probe] = fake_model.calls()
    assert probe["max_tokens"] == 1 and probe["logprobs"] is True and probe["top_logprobs"] == 1


def test_hostile_tokens_are_rendered_as_text_on_the_page() -> None:
    from openai.types.chat import ChatCompletionTokenLogprob

    from lib.llm.chat import ChatParams, ChatResult
    from lib.logprobs import LogprobRun, build_table

    hostile = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", " **bold** [x](javascript:alert(1))"]
    content = [
        ChatCompletionTokenLogprob.model_validate(
            {
                "token": t,
                "bytes": list(t.encode()),
                "logprob": -1.5,
                "top_logprobs": [
                    {"token": t, "bytes": list(t.encode()), "logprob": -1.5},
                    {"token": "<b>alt</b>", "bytes": list(b"<b>alt</b>"), "logprob": -2.0},
                ],
            }
        )
        for t in hostile
    ]
    run = LogprobRun(
        [{"role": "user", "content": "x"}],
        ChatParams(model="m", temperature=0.0),
        2,
        content,
        build_table(content, 2),
        "".join(hostile),
        ChatResult(text="".join(hostile)),
    )
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["lp_run"] = run
    at.run()
    assert not at.exception
    rendered = " ".join(h.value for h in at.html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered and "&lt;img src=x onerror=alert(1)&gt;" in rendered
    for raw in ("<script", "<img", "<b>"):
        assert raw not in rendered
    # The table carries the tokens as plain text.
    assert _table(at)["token"].tolist() == [t.replace(" ", "␣") for t in hostile]
