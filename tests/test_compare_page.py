"""AppTest runs of the compare page through the entry point against the fake model: a 2 × 2 grid checked
cell by cell against the requests sent, the usage log and diversity figures computed here; save, reopen
and export; a cell opened in the chat page and the logprobs explorer; re-run; a failing model (a fault
proxy in front of the fake) next to a working one."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy
from helpers import capture_downloads, rerun_without, usage_lines
from streamlit.string_util import clean_text
from streamlit.testing.v1 import AppTest

from lib.compare import DONE, ERROR, RunRecord, load_run
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
PROMPT = "Name a colour of the sea."
SYSTEM_B = "Answer in one short sentence."


def _compare_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def _fill(at: AppTest, *, variants: int = 2, samples: int = 2) -> AppTest:
    """A 2 × 2 grid: columns = prompt variants, rows = samples; temperature 0 with seeds, short answers."""
    at.text_area(key="cmp_prompt").set_value(PROMPT)
    at.text_input(key="cmp_temperatures").set_value("0")
    at.text_input(key="cmp_seed").set_value("7")
    at.number_input(key="cmp_samples").set_value(samples)
    at.sidebar.number_input(key="cmp_max_tokens").set_value(16)
    at.number_input(key="cmp_n_variants").set_value(variants).run()
    if variants > 1:
        at.text_area(key="cmp_system_1").set_value(SYSTEM_B).run()
    return at


def _sent_for(fake: HostedAPISim, seed: int, system: str | None) -> dict:
    """The one request the fake got for this cell (its seed and system prompt)."""
    [body] = [
        b
        for b in fake.calls()
        if b.get("seed") == seed and (b["messages"][0]["content"] if b["messages"][0]["role"] == "system" else None) == system
    ]
    return body


def _texts(at: AppTest) -> list[str]:
    return [m.value for m in at.main.markdown]


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.main.caption]


def _shown_record(at: AppTest, data_dir: Path) -> RunRecord:
    run_id = at.session_state["cmp_view_id"]
    assert run_id, "the finished run should be saved and shown"
    record = load_run(Store.in_dir(data_dir), run_id)
    assert record is not None
    return record


# Diversity, computed here independently of lib/compare.py: lower-cased runs of word characters
# (letters, digits, underscore), with every CJK character a word of its own.
def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF


def _words(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text.lower():
        if _is_cjk(ch):
            out += [cur] if cur else []
            out.append(ch)
            cur = ""
        elif ch.isalnum() or ch == "_":
            cur += ch
        else:
            out += [cur] if cur else []
            cur = ""
    return out + ([cur] if cur else [])


def _expected_diversity(texts: list[str]) -> tuple[str, str, str | None, int]:
    def distinct(n: int) -> str:
        grams = [tuple(w[i : i + n]) for w in map(_words, texts) for i in range(len(w) - n + 1)]
        return f"{len(set(grams)) / len(grams):.3f}" if grams else "?"

    pairs = list(itertools.combinations([set(_words(t)) for t in texts], 2))
    sim = None
    if pairs:
        sim = f"{sum(1.0 if not a and not b else len(a & b) / len(a | b) for a, b in pairs) / len(pairs):.3f}"
    identical = sum(c for c in Counter(t.strip() for t in texts).values() if c > 1)
    return distinct(1), distinct(2), sim, identical


def test_a_two_by_two_grid_matches_the_usage_log_and_diversity_then_saves_reopens_and_exports(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, fake_model: HostedAPISim
) -> None:
    at = _fill(_compare_page())
    assert "4 calls" in at.info[0].value and "2 prompt variants × 2 samples" in at.info[0].value
    assert at.selectbox(key="cmp_columns").value == "variant"
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    assert not at.main.error, [e.value for e in at.main.error]

    record = _shown_record(at, data_dir)
    plan, results = record.plan, record.results
    assert plan.columns == ["prompt A", "prompt B"] and plan.rows == ["sample 1 (seed 7)", "sample 2 (seed 8)"]
    assert [(c.row, c.column) for c in plan.cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {c.system_prompt for c in plan.cells if c.column == 1} == {SYSTEM_B}
    assert [c.seed for c in plan.cells] == [7, 7, 8, 8] and {c.temperature for c in plan.cells} == {0.0}

    # Every cell: its text on the page, its caption's figures, one usage-log line with the same tokens.
    log = usage_lines(data_dir)
    assert len(log) == 4 and {r["page"] for r in log} == {"compare"} and {r["status"] for r in log} == {"ok"}
    assert {(r["provider"], r["temperature"], r["max_tokens"], r["stream"]) for r in log} == {("local", 0.0, 16, True)}
    unmatched = list(log)
    shown, captions = _texts(at), _captions(at)
    assert len(fake_model.calls()) == 4
    for cell, res in zip(plan.cells, results, strict=True):
        # Each cell holds exactly what its own request got (streamed), and shows it.
        sent = _sent_for(fake_model, cell.seed, cell.system_prompt or None)
        assert sent["messages"][-1] == {"role": "user", "content": PROMPT} and sent["max_tokens"] == 16
        assert res.status == DONE and res.text == fake_model.reply_to(sent)
        assert clean_text(res.text) in shown
        assert res.usage_estimated is False and res.output_tokens == 16 and res.input_tokens > 0
        # Perplexity from the streamed tokens' logprobs (the model returns them).
        assert res.perplexity is not None and res.perplexity >= 1.0 and res.logprob_tokens == res.output_tokens
        line = next(
            r
            for r in unmatched
            if (r["input_tokens"], r["output_tokens"], r["duration_ms"])
            == (res.input_tokens, res.output_tokens, round(res.duration_ms, 1))
        )
        unmatched.remove(line)
        assert line["ttft_ms"] == round(res.ttft_ms, 1) and line["cost_usd"] == res.cost_usd == 0
        caption = f"{res.input_tokens} in / {res.output_tokens} out tokens"
        assert any(caption in c and f"perplexity {res.perplexity:.2f}" in c and "free (local)" in c for c in captions)
    assert unmatched == []

    # Under each column: distinct-1/2, similarity and identical answers, as computed here.
    blocks = [t for t in shown if t.startswith("**distinct-1**")]
    assert len(blocks) == 2
    for j, block in enumerate(blocks):
        texts = [results[c.index].text for c in plan.cells if c.column == j]
        d1, d2, sim, identical = _expected_diversity(texts)
        assert f"**distinct-1** {d1} · **distinct-2** {d2}" in block
        assert f"**similarity** {sim}" in block
        assert f"**identical** {identical} of 2 answers" in block

    # A fresh session reopens the saved run from the sidebar list, and exports it.
    offered = capture_downloads(monkeypatch)
    again = _compare_page()
    assert again.session_state["cmp_view_id"] is None
    again.sidebar.button(key=f"cmp_open_{record.id}").click().run()
    assert again.session_state["cmp_view_id"] == record.id
    assert all(clean_text(res.text) in _texts(again) for res in results)
    exported_csv = next(v for k, v in offered.items() if k.endswith(".csv"))
    rows = list(csv.DictReader(io.StringIO(exported_csv)))
    assert [r["text"] for r in rows] == [res.text for res in results]
    assert "passed" not in rows[0]  # no assertions: no score columns
    assert [int(r["output_tokens"]) for r in rows] == [res.output_tokens for res in results]
    assert [r["column_label"] for r in rows] == ["prompt A", "prompt B"] * 2
    assert [r["seed"] for r in rows] == ["7", "7", "8", "8"] and {r["model"] for r in rows} == {"smollm2-135m-instruct"}
    doc = json.loads(next(v for k, v in offered.items() if k.endswith(".json")))
    assert doc["run"]["id"] == record.id and [c["text"] for c in doc["cells"]] == [res.text for res in results]
    for j, col in enumerate(doc["columns"]):
        d1, d2, _, identical = _expected_diversity([results[c.index].text for c in plan.cells if c.column == j])
        assert f"{col['distinct_1']:.3f}" == d1 and f"{col['distinct_2']:.3f}" == d2 and col["identical_answers"] == identical

    # Re-run: the form is filled from the saved run and it runs again; runs are listed newest first.
    again.button(key="cmp_rerun").click().run()
    assert not again.exception, again.exception
    rerun_id = again.session_state["cmp_view_id"]
    assert rerun_id and rerun_id != record.id
    runs = Store.in_dir(data_dir).list_compare_runs()
    assert [r.id for r in runs] == [rerun_id, record.id]
    assert again.text_area(key="cmp_prompt").value == PROMPT and again.text_area(key="cmp_system_1").value == SYSTEM_B
    assert len(usage_lines(data_dir)) == 8


def test_a_cell_opens_in_chat_and_in_the_logprobs_explorer(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _fill(_compare_page(), variants=2, samples=1)
    at.button(key="cmp_run").click().run()
    record = _shown_record(at, data_dir)
    cell = record.plan.cells[1]  # prompt B
    reply = record.results[1].text
    assert reply == fake_model.reply_to(_sent_for(fake_model, 7, SYSTEM_B))

    at.button(key="cmp_chat_1").click().run()
    assert not at.exception, at.exception
    cid = at.query_params["c"]
    history = at.session_state["chat_history"]
    assert [(t.role, t.content) for t in history] == [("user", PROMPT), ("assistant", reply)]
    assert history[1].meta["output_tokens"] == record.results[1].output_tokens
    assert at.sidebar.text_area(key="chat_system_prompt").value == SYSTEM_B
    assert at.session_state["chat_temperature"] == 0.0 and at.session_state["chat_seed"] == "7"
    assert at.session_state["chat_max_tokens"] == 16 and at.session_state["chat_provider"] == "local"
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv is not None and conv.system_prompt == SYSTEM_B and conv.model == cell.model
    assert [m.content for m in conv.messages] == [PROMPT, reply]
    assert len(usage_lines(data_dir)) == 2 == len(fake_model.calls())  # opening made no call

    # Back on the compare page the form and the run are as they were; now the logprobs explorer.
    at.switch_page("pages/compare.py").run()
    assert at.text_area(key="cmp_prompt").value == PROMPT and at.session_state["cmp_view_id"] == record.id
    at.button(key="cmp_lp_1").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="lp_prompt").value == PROMPT and at.text_area(key="lp_system").value == SYSTEM_B
    assert at.sidebar.slider(key="lp_temperature").value == 0.0 and at.sidebar.text_input(key="lp_seed").value == "7"
    assert at.sidebar.number_input(key="lp_max_tokens").value == 16
    assert at.sidebar.selectbox(key="lp_model").value == cell.model


@pytest.fixture
def failing_custom(fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A second provider (Custom) whose chat completions all fail with 500; /models passes through."""
    with FaultProxy(fake_model.base_url) as proxy:
        proxy.reset(Fault("status", 500))
        monkeypatch.setenv("CUSTOM_BASE_URL", proxy.base_url)
        monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")
        yield proxy


def test_a_failing_model_shows_its_error_and_the_other_cells_finish(data_dir: Path, failing_custom: FaultProxy) -> None:
    at = _fill(_compare_page(), variants=1, samples=2)
    at.sidebar.number_input(key="cmp_n_models").set_value(2).run()
    at.sidebar.selectbox(key="cmp_m1_provider").set_value("custom").run()
    assert at.selectbox(key="cmp_columns").value == "model"
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception

    record = _shown_record(at, data_dir)
    assert record.plan.columns == ["Local: smollm2-135m-instruct", "Custom: smollm2-135m-instruct"]
    for cell, res in zip(record.plan.cells, record.results, strict=True):
        if cell.provider == "local":
            assert res.status == DONE and res.text and clean_text(res.text) in _texts(at)
        else:
            assert res.status == ERROR and res.error_kind == "server_error" and not res.text
            assert "server error" in res.error
    errors = [e.value for e in at.main.error]
    assert len(errors) == 2 and all("server error" in e and "Traceback" not in e for e in errors)
    assert failing_custom.count() == 2  # no retries: YOAKE_MAX_RETRIES=0
    log = usage_lines(data_dir)
    assert sorted((r["provider"], r["status"], r["error_type"]) for r in log) == [
        ("custom", "error", "server_error"),
        ("custom", "error", "server_error"),
        ("local", "ok", None),
        ("local", "ok", None),
    ]
    assert {r["page"] for r in log} == {"compare"}
    assert any("No finished answers" in c for c in _captions(at))
    assert all(math.isfinite(r.perplexity) for r in record.results if r.status == DONE)


def test_a_field_the_browser_has_not_drawn_yet_gets_its_value_back(fake_model: HostedAPISim) -> None:
    """A browser still drawing the previous run sends no value for a field it has not drawn yet, and draws it
    later from the newest element it got: that element must carry the value (`set_value`), or the field shows
    its default and sends it back on the next rerun (seen under load: a grid estimated at 12 calls ran 2, its
    temperatures, samples and seed gone back to blank and 1)."""
    at = _compare_page()
    at.text_area(key="cmp_prompt").set_value(PROMPT).run()
    late = {"cmp_temperatures", "cmp_seed", "cmp_samples", "cmp_max_tokens", "cmp_m0_provider"}
    rerun_without(at, late)
    assert not at.exception, at.exception
    fields = {
        "cmp_temperatures": at.text_input(key="cmp_temperatures"),
        "cmp_seed": at.text_input(key="cmp_seed"),
        "cmp_samples": at.number_input(key="cmp_samples"),
        "cmp_max_tokens": at.sidebar.number_input(key="cmp_max_tokens"),
    }
    assert {key: (w.proto.set_value, w.value) for key, w in fields.items()} == {
        "cmp_temperatures": (True, "0, 0.7, 1.2"),
        "cmp_seed": (True, "1"),
        "cmp_samples": (True, 2),
        "cmp_max_tokens": (True, 256),
    }
    assert at.text_area(key="cmp_prompt").value == PROMPT  # a field the browser did send keeps what it sent


def test_the_form_keeps_what_the_visitor_set_across_a_visit_to_another_page(fake_model: HostedAPISim) -> None:
    at = _compare_page()
    _fill(at, variants=2, samples=3)
    at.text_input(key="cmp_temperatures").set_value("0.2, 0.9").run()
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    assert at.text_area(key="cmp_prompt").value == PROMPT and at.text_area(key="cmp_system_1").value == SYSTEM_B
    assert (at.text_input(key="cmp_temperatures").value, at.text_input(key="cmp_seed").value) == ("0.2, 0.9", "7")
    assert (at.number_input(key="cmp_samples").value, at.number_input(key="cmp_n_variants").value) == (3, 2)
    assert at.sidebar.number_input(key="cmp_max_tokens").value == 16
