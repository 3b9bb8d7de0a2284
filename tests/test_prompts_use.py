"""Prompt versions used everywhere a prompt is used (issue 24, phase 2), as AppTest runs through the entry point
against the fake model: three versions saved on the Prompts page, two diffed, one labelled; a chat started from
the labelled version (its variables form) remembers `name@version` on the conversation and in the usage log;
compare over two versions shows one column per version; the usage page groups by version; the logprobs
explorer runs a version; a persona saved as a prompt. Every page of it in Japanese leaves no English of ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from helpers import usage_lines
from streamlit.testing.v1 import AppTest

from lib.compare import load_run
from lib.core import usage_log
from lib.core.text import md_text
from lib.prompts import PromptContent
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import english_left, ja, japanese_left
from tests.test_prompts_page import SYSTEM_1, SYSTEM_2, TEMPLATE, _diff_markdown, _three_versions

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
VALUES = {"product": "Yoake", "question": "How do I export a chat?"}


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    st.cache_data.clear()  # the logprobs probe and the usage page's views live as long as the process


def _app(page: str, locale: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if locale:
        at.context = {"locale": locale}
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _support(data_dir: Path, versions: int = 2) -> int:
    """A prompt `support` with `versions` versions (v2: another system prompt, v3: cooler and longer)."""
    store = Store.in_dir(data_dir)
    pid = store.create_prompt("support", PromptContent(system=SYSTEM_1, template=TEMPLATE, temperature=0.3).to_dict())
    if versions >= 2:
        store.save_version(pid, PromptContent(system=SYSTEM_2, template=TEMPLATE, temperature=0.3).to_dict())
    if versions >= 3:
        store.save_version(pid, PromptContent(system=SYSTEM_2, template=TEMPLATE, temperature=0.1, max_tokens=512).to_dict())
    return pid


def _fill_variables(at: AppTest, prefix: str) -> None:
    for name, value in VALUES.items():
        at.text_input(key=f"{prefix}_pv_var_{name}").set_value(value)
    at.run()
    assert not at.exception, at.exception


def _rendered(system: str) -> str:
    return system.replace("{{product}}", VALUES["product"])


def test_save_diff_label_then_start_a_chat_from_the_label(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _app("pages/prompts.py")
    pid = _three_versions(at)
    # Diff v1 and v2: the changed word is marked.
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(1)
    at.selectbox(key=f"pr_diff_new_{pid}").set_value(2).run()
    assert any("patient" in m for m in _diff_markdown(at))
    # Label v2 `demo`.
    at.text_input(key="pr_label_name").set_value("demo")
    at.selectbox(key=f"pr_label_version_{pid}").set_value(2)
    at.button(key="pr_set_label").click().run()
    assert Store.in_dir(data_dir).get_prompt(pid).labels == {"demo": 2}

    # "Start a chat" hands v3 to the chat page, whose form is open with it; pick the label instead.
    at.selectbox(key=f"pr_history_pick_{pid}").set_value(3).run()
    at.button(key="pr_start_chat").click().run()
    assert not at.exception, at.exception
    assert at.session_state["chat_pv_version"] == "3" and at.session_state["chat_prompt_open"]
    at.switch_page("pages/chat.py")  # (AppTest's next runs stay on the page st.switch_page went to)
    at.sidebar.selectbox(key="chat_pv_version").set_value("demo").run()
    assert at.sidebar.button(key="chat_prompt_start").disabled  # its variables have no values yet
    _fill_variables(at, "chat")
    at.sidebar.button(key="chat_prompt_start").click().run()
    assert not at.exception, at.exception

    # The chat started with v2's system prompt, first message and temperature, and says where it came from.
    cid = at.query_params["c"]
    history = at.session_state["chat_history"]
    assert [t.role for t in history] == ["user", "assistant"]
    assert history[0].content == "Customer question: How do I export a chat?"
    [body] = fake_model.calls()
    assert body["messages"][0] == {"role": "system", "content": _rendered(SYSTEM_2)}
    assert body["temperature"] == 0.3
    assert any(md_text("support@2") in c.value for c in at.caption)
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv.prompt == "support@2" and conv.system_prompt == _rendered(SYSTEM_2)
    assert [c.id for c in Store.in_dir(data_dir).list_conversations(prompt="support@2")] == [cid]
    [line] = usage_lines(data_dir)
    assert (line["page"], line["prompt"]) == ("chat", "support@2")
    # A second message of that conversation is logged with it too; a new chat is not.
    at.chat_input(key="chat_input").set_value("And a Markdown one?").run()
    assert [line["prompt"] for line in usage_lines(data_dir)] == ["support@2", "support@2"]
    at.sidebar.button(key="chat_new").click().run()
    at.chat_input(key="chat_input").set_value("Hello").run()
    assert usage_lines(data_dir)[-1]["prompt"] is None
    # The version is kept for the conversation even when its prompt is deleted.
    store = Store.in_dir(data_dir)
    assert [(r.number, r.kind, r.target) for r in store.list_prompt_references(pid)] == [(2, "conversation", cid)]
    # Reopening the conversation shows where it came from.
    at.sidebar.button(key=f"chat_open_{cid}").click().run()
    assert at.session_state["chat_prompt_ref"] == "support@2"
    assert any(md_text("support@2") in c.value for c in at.caption)


def test_a_missing_variable_is_said_and_nothing_starts(data_dir: Path, fake_model: HostedAPISim) -> None:
    _support(data_dir, 1)
    at = _app("pages/chat.py")
    at.sidebar.text_input(key="chat_pv_var_product").set_value("Yoake").run()
    assert at.sidebar.button(key="chat_prompt_start").disabled
    assert any("{{question}}" in c.value for c in at.sidebar.caption)
    assert fake_model.calls() == [] and Store.in_dir(data_dir).list_conversations() == []


def test_a_click_that_arrives_with_a_new_pick_hands_off_that_pick(data_dir: Path, fake_model: HostedAPISim) -> None:
    """A person picks versions and clicks before the pick's rerun has finished: the click must hand off what is
    picked now, not what the button was drawn with (bound arguments handed off v2 and v3, the old defaults)."""
    pid = _support(data_dir, 3)
    at = _app("pages/prompts.py")
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(1)
    at.selectbox(key=f"pr_diff_new_{pid}").set_value(2)
    at.button(key="pr_start_compare").click().run()  # one rerun carries the picks and the click
    assert not at.exception, at.exception
    at.switch_page("pages/compare.py")
    assert at.multiselect(key="cmp_pv_refs").value == ["support@1", "support@2"]
    at = _app("pages/prompts.py")
    at.selectbox(key=f"pr_history_pick_{pid}").set_value(1)
    at.button(key="pr_start_logprobs").click().run()
    at.switch_page("pages/logprobs.py")
    assert at.session_state["lp_pv_version"] == "1"


def test_compare_over_two_versions_shows_one_column_per_version(data_dir: Path, fake_model: HostedAPISim) -> None:
    pid = _support(data_dir, 2)
    at = _app("pages/prompts.py")
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(1)
    at.selectbox(key=f"pr_diff_new_{pid}").set_value(2).run()
    at.button(key="pr_start_compare").click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/compare.py")
    assert at.toggle(key="cmp_use_versions").value
    assert at.multiselect(key="cmp_pv_refs").value == ["support@1", "support@2"]
    at.text_area(key="cmp_vars").set_value("product,question\nYoake,How do I export a chat?")
    at.text_input(key="cmp_temperatures").set_value("0, 0.7")
    at.text_input(key="cmp_seed").set_value("7")
    at.number_input(key="cmp_samples").set_value(1)
    at.sidebar.number_input(key="cmp_max_tokens").set_value(16).run()
    assert at.selectbox(key="cmp_columns").value == "variant"
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception

    record = load_run(Store.in_dir(data_dir), at.session_state["cmp_view_id"])
    assert record.plan.columns == ["support@1", "support@2"]  # one column per version, named by it
    assert [c.prompt_ref for c in record.plan.cells] == ["support@1", "support@2"] * 2
    assert {c.system_prompt for c in record.plan.cells if c.column == 1} == {_rendered(SYSTEM_2)}
    assert {c.prompt for c in record.plan.cells} == {"Customer question: How do I export a chat?"}
    assert [v["ref"] for v in record.spec.versions] == ["support@1", "support@2"]
    assert any("support@2" in m.value for m in at.markdown)  # the column's header on the page
    lines = usage_lines(data_dir)
    assert sorted(line["prompt"] for line in lines) == ["support@1", "support@1", "support@2", "support@2"]
    refs = Store.in_dir(data_dir).list_prompt_references(pid)
    assert sorted((r.number, r.kind) for r in refs) == [(1, "compare_run"), (2, "compare_run")]

    # The usage page groups those calls by version, and filters by one.
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "p95_latency_ms" in d.value.columns)
    assert list(frame["prompt"]) == ["support@1", "support@2"] and list(frame["calls"]) == [2, 2]
    assert list(frame["error_rate"]) == [0.0, 0.0]
    assert (frame["input_tokens"] > 0).all() and frame["p50_latency_ms"].notna().all()
    at.sidebar.multiselect(key="usage_prompt").set_value(["support@2"]).run()
    frame = next(d.value for d in at.dataframe if "p95_latency_ms" in d.value.columns)
    assert list(frame["prompt"]) == ["support@2"]
    recent = next(d.value for d in at.dataframe if "request_id" in d.value.columns)
    assert set(recent["prompt"]) == {"support@2"} and len(recent) == 2


def test_the_logprobs_explorer_runs_a_version(data_dir: Path, fake_model: HostedAPISim) -> None:
    pid = _support(data_dir, 3)
    at = _app("pages/prompts.py")
    at.selectbox(key=f"pr_history_pick_{pid}").set_value(3).run()
    at.button(key="pr_start_logprobs").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="lp_pv_version").value == "3" and at.session_state["lp_prompt_open"]
    # (The explorer's Run button acts in the script's body, which AppTest's navigation runs do not click: the
    # page itself, as tests/test_logprobs_page.py runs it.)
    at = AppTest.from_file(str(ROOT / "pages" / "logprobs.py"), default_timeout=120).run()
    at.selectbox(key="lp_pv_version").set_value("3").run()
    _fill_variables(at, "lp")
    at.button(key="lp_prompt_use").click().run()
    assert at.text_area(key="lp_system").value == _rendered(SYSTEM_2)
    assert at.text_area(key="lp_prompt").value == "Customer question: How do I export a chat?"
    assert at.sidebar.slider(key="lp_temperature").value == 0.1 and at.sidebar.number_input(key="lp_max_tokens").value == 512
    assert any(md_text("support@3") in c.value for c in at.caption)
    at.button(key="lp_run_button").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["lp_run"] is not None
    assert [(line["page"], line["prompt"]) for line in usage_lines(data_dir) if line["prompt"]] == [("logprobs", "support@3")]
    # Edited, the text is the visitor's own again: not logged as the version.
    at.text_area(key="lp_prompt").set_value("Something else").run()
    at.button(key="lp_run_button").click().run()
    assert usage_lines(data_dir)[-1]["prompt"] is None


def test_a_persona_is_saved_as_a_prompt_and_again_as_its_next_version(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _app("pages/chat.py")
    persona = at.session_state["chat_persona"]
    name = at.sidebar.text_input(key="chat_pv_save_name").value
    assert name == persona  # a built-in persona's name in the visitor's language
    at.sidebar.button(key="chat_pv_save").click().run()
    store = Store.in_dir(data_dir)
    prompt = store.find_prompt(name)
    assert prompt is not None and prompt.latest == 1
    content = PromptContent.from_dict(prompt.content)
    assert content.system == at.session_state["chat_system_prompt"]
    assert content.temperature == at.session_state["chat_temperature"]
    assert any(md_text(f"{name}@1") in s.value for s in at.sidebar.success)
    at.sidebar.slider(key="chat_temperature").set_value(1.2).run()
    at.sidebar.button(key="chat_pv_save").click().run()
    assert store.find_prompt(name).latest == 2
    at.sidebar.button(key="chat_pv_save").click().run()  # nothing changed: said, no new version
    assert store.find_prompt(name).latest == 2 and at.sidebar.error


@pytest.mark.parametrize("page", ["pages/chat.py", "pages/compare.py", "pages/logprobs.py", "pages/usage.py"])
def test_the_prompt_parts_of_the_pages_in_japanese_and_english(data_dir: Path, fake_model: HostedAPISim, page: str) -> None:
    pid = _support(data_dir, 2)
    Store.in_dir(data_dir).set_label(pid, "本番", 2)
    usage_log.append(
        data_dir / "usage.jsonl", usage_log.UsageRecord(page="chat", provider="local", model="m", prompt="support@2")
    )
    for locale, left in (("ja-JP", english_left), ("en-US", japanese_left)):
        st.cache_data.clear()
        at = _app(page, locale)
        if page == "pages/compare.py":
            at.toggle(key="cmp_use_versions").set_value(True).run()
        if page == "pages/logprobs.py":
            at.selectbox(key="lp_pv_version").set_value("本番").run()
        assert not at.exception, at.exception
        assert left(at) == [], (locale, left(at))
        if page == "pages/chat.py" and locale == "ja-JP":  # the problem (no values yet) in Japanese
            missing = ja("Give a value for {names}: the prompt uses them.").format(names="{{product}}, {{question}}")
            assert missing in [c.value for c in at.sidebar.caption]
        if page == "pages/usage.py":
            frame = next(d.value for d in at.dataframe if "p95_latency_ms" in d.value.columns)
            assert list(frame["prompt"]) == ["support@2"]
