"""Compare and the logprobs explorer in Japanese and in English (issue 22): each page run along its main
path on the fake model with nothing left in English (or, in English, nothing in Japanese), their expected
failures worded in Japanese, the messages lib/compare and lib/logprobs produce rendered in Japanese, and
compare's default system prompt in the visitor's language."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib import compare as cmp
from lib.compare.defaults import form_defaults, persona_prompt
from lib.compare.runner import _default_error_text
from lib.conversation.personas import BUILTIN_PERSONAS, Persona
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.llm.providers import PROVIDERS
from lib.logprobs import (
    REPRODUCIBLE_NOTE,
    ForkError,
    build_table,
    fork_prefix,
    fork_unavailable_reason,
    heat_html,
    known_probe,
)
from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import english_left, ja, ja_catalog, japanese_left

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
LOGPROBS = str(ROOT / "pages" / "logprobs.py")
AREA = ("pages/logprobs.py", "pages/compare.py", "ui/compare_", "ui/logprobs_view.py", "lib/logprobs/", "lib/compare/")
# Messages of other areas that these pages show and that share an id with one of ours (so the catalog
# has their Japanese): ui/common.py's model picker labels its selectbox "Model" (its helper marks it).
OTHER_AREAS = ("Model",)
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _english_left(at: AppTest) -> list[str]:
    return [t for t in english_left(at) if not any(t.endswith(f"(message {m!r})") for m in OTHER_AREAS)]


def _in(locale: str, script: str = LOGPROBS) -> AppTest:
    st.cache_data.clear()  # the logprobs probe is cached per process: each test sees a first visit
    at = AppTest.from_file(script, default_timeout=120)
    at.context = {"locale": locale}
    return at


# --- the logprobs explorer ----------------------------------------------------------------------------


def _explore(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    at.sidebar.number_input(key="lp_max_tokens").set_value(16)
    at.text_area(key="lp_prompt").set_value("What is the capital of France?")
    at.button(key="lp_run_button").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.selectbox(key="lp_position").set_value(2).run()
    at.slider(key="lp_what_if_t").set_value(0.5).run()
    at.button(key="lp_fork_button").click().run()  # the embedded model's preset continues a prefix
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["lp_fork"] is not None
    return at


def test_the_logprobs_explorer_speaks_japanese_through_a_run_a_close_up_and_a_fork(fake_model: HostedAPISim) -> None:
    at = _in("ja-JP")
    at.run()
    assert at.title[0].value == "🔍 " + ja("Logprobs explorer")
    assert _english_left(at) == []
    _explore(at)
    assert _english_left(at) == []
    metrics = {m.label for m in at.metric}
    assert {ja("Perplexity"), ja("Joint probability"), ja("Mean token p")} <= metrics
    assert at.subheader[0].value == ja("Reply")
    # The heat view's hover text and the fork's given prefix, in Japanese too.
    heat = html.unescape(at.html[0].value)
    assert ja("alternatives: {list}").split("{list}")[0] in heat and "alternatives:" not in heat
    assert ja("given prefix") in html.unescape(at.html[-1].value)
    # The chart's axes and series, the tables' headers.
    [chart] = at.get("vega_lite_chart")
    encoding = json.loads(chart.proto.spec)["encoding"]
    assert (encoding["x"]["title"], encoding["y"]["title"]) == (ja("probability"), ja("alternative"))
    assert [t["title"] for t in encoding["tooltip"]] == [ja("alternative"), " ", ja("probability")]
    table = next(d for d in at.dataframe if "alternatives" in d.value.columns)
    headers = {k: v.get("label") for k, v in json.loads(table.proto.columns).items()}
    assert (headers["alternatives"], headers["rank"], headers["entropy"]) == (ja("alternatives"), ja("rank"), ja("entropy"))
    continuation = ja("continuation: {n} token · perplexity {perplexity} · mean p {mean} · min p {min}").split("{n}")[0]
    assert any(c.value.startswith(continuation) for c in at.caption)


def test_the_logprobs_explorer_in_english_shows_no_japanese(fake_model: HostedAPISim) -> None:
    at = _explore(_in("en-US"))
    assert japanese_left(at) == []
    assert at.title[0].value == "🔍 Logprobs explorer"
    assert "Perplexity" in {m.label for m in at.metric}


def test_the_explorers_refusals_are_japanese(fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _in("ja-JP")
    at.run()
    at.button(key="lp_run_button").click().run()
    assert [e.value for e in at.error] == [ja("Type a prompt first.")]
    assert _english_left(at) == []

    # A provider known not to return logprobs: said plainly, in Japanese, with its advice.
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test-not-a-real-key-123456")
    at.sidebar.selectbox(key="lp_provider").set_value("gemini").run()
    [warning] = [w.value for w in at.warning]
    expected = ja("**Logprobs are not available for `{model}` on {provider}.** {detail} Pick another provider or model.")
    detail = known_probe(PROVIDERS["gemini"]).detail.render("ja")
    model = at.sidebar.selectbox(key="lp_model").value
    assert warning == expected.format(model=model, provider=PROVIDERS["gemini"].label, detail=detail)
    assert at.button(key="lp_run_button").disabled


def test_a_provider_that_cannot_fork_says_why_in_japanese(fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_model.base_url)
    at = _in("ja-JP")
    at.run()
    assert at.sidebar.selectbox(key="lp_provider").value == "openai"
    at.sidebar.number_input(key="lp_max_tokens").set_value(8)
    at.text_area(key="lp_prompt").set_value("Hi")
    at.button(key="lp_run_button").click().run()
    assert at.button(key="lp_fork_button").disabled
    reason = fork_unavailable_reason(PROVIDERS["openai"])
    assert reason is not None and "⛔ " + reason.render("ja") in [c.value for c in at.caption]
    assert _english_left(at) == []


@pytest.mark.no_model
def test_a_refused_connection_on_the_explorer_is_japanese(data_dir: Path) -> None:
    at = _in("ja-JP")
    at.run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    title = Msg("Could not reach {provider}.", provider=PROVIDERS["local"].label).render("ja")
    assert error.startswith(f"**{title}**") and "Could not reach" not in error
    assert _english_left(at) == []


# --- compare ------------------------------------------------------------------------------------------

PROMPT = "海の色を一つ挙げてください。"


def _compare(locale: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.context = {"locale": locale}
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def _run_grid(at: AppTest) -> AppTest:
    """A 2 × 2 grid (prompt variants × samples) run to completion and shown as saved."""
    at.text_area(key="cmp_prompt").set_value(PROMPT)
    at.text_input(key="cmp_temperatures").set_value("0")
    at.text_input(key="cmp_seed").set_value("7")
    at.number_input(key="cmp_samples").set_value(2)
    at.sidebar.number_input(key="cmp_max_tokens").set_value(16)
    at.number_input(key="cmp_n_variants").set_value(2).run()
    at.text_area(key="cmp_system_1").set_value("Answer in one short sentence.").run()
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    assert not at.main.error, [e.value for e in at.main.error]
    assert at.session_state["cmp_view_id"]
    return at


def test_compare_speaks_japanese_from_the_empty_form_to_a_finished_grid(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _compare("ja-JP")
    assert at.title[0].value == "⚖️ " + ja("Compare")
    assert _english_left(at) == []
    # A fresh form: system prompt A is the default persona's, in Japanese (the model is told it).
    assert at.text_area(key="cmp_system_0").value == BUILTIN_PERSONAS[0].prompt("ja")
    assert ja("Write a prompt first.") in [c.value for c in at.main.caption]

    # An invalid axis: the problem in Japanese, and Run stays off.
    at.text_input(key="cmp_temperatures").set_value("0, hot").run()
    expected = Msg("{name}: '{part}' is not a number.", name=ja("Temperatures"), part="hot").render("ja")
    assert [e.value for e in at.main.error] == [expected]
    assert at.button(key="cmp_run").disabled

    _run_grid(at)
    assert _english_left(at) == []
    texts = [m.value for m in at.main.markdown]
    assert "#### " + ja("prompt {name}").format(name="A") in texts
    assert "**" + ja("sample {n} (seed {seed})").format(n=1, seed=7) + "**" in texts
    assert any(t.startswith("**distinct-1**") and ja("**similarity** {value}").split("{value}")[0] in t for t in texts)
    info = at.info[0].value
    factors = ja("{n} prompt variant").format(n=2) + " × " + ja("{n} sample").format(n=2)
    assert info.startswith(
        ja("**{n} call** ({factors}) · about {input} input tokens, at most {output} output tokens · {cost}")
        .split("{factors}")[0]
        .format(n=4)
        + factors
    )
    captions = [c.value for c in at.main.caption]
    assert any(ja("{input} in / {output} out tokens").split("{output}")[1] in c and ja("free (local)") in c for c in captions)
    assert ja("Re-run") in at.button(key="cmp_rerun").label


def test_compare_in_english_shows_no_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _compare("en-US")
    assert at.text_area(key="cmp_system_0").value == BUILTIN_PERSONAS[0].system_prompt
    _run_grid(at)
    assert japanese_left(at) == []
    assert "#### prompt A" in [m.value for m in at.main.markdown]


@pytest.mark.no_model
def test_compare_cells_that_cannot_connect_say_so_in_japanese(data_dir: Path) -> None:
    at = _compare("ja-JP")
    at.text_area(key="cmp_prompt").set_value(PROMPT)
    at.text_input(key="cmp_temperatures").set_value("0")
    at.number_input(key="cmp_samples").set_value(1).run()
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.main.error]
    title = Msg("Could not reach {provider}.", provider=PROVIDERS["local"].label).render("ja")
    assert errors and all(e.startswith(f"**{title}**") for e in errors)
    assert any(ja("No finished answers to compare (failed and stopped cells are left out).") == c.value for c in at.main.caption)
    assert _english_left(at) == []


# --- lib messages -------------------------------------------------------------------------------------


def test_compare_lib_messages_are_english_as_text_and_japanese_when_rendered() -> None:
    _, bad = cmp.parse_values("2.5", "Temperatures", 0, 2)
    assert bad == "Temperatures: 2.5 is outside 0–2."
    assert bad.render("ja") == ja("{name}: {part} is outside {lo}–{hi}.").format(name="Temperatures", part="2.5", lo="0", hi="2")
    _, bad = cmp.parse_inputs("city,n\nParis,5\nKyoto", ["city", "n"])
    assert bad.startswith("Line 3 ")
    assert bad.render("ja") == ja(bad.msgid).format(line=3, values=1, names=2)
    spec = cmp.GridSpec(prompt=" ", models=(), samples=11, column_axis="colour")
    problems = cmp.problems(spec)
    assert cmp.NO_PROMPT in problems and "Pick at least one model." in problems
    for problem in problems:
        assert isinstance(problem, Msg) and JAPANESE.search(problem.render("ja")) and problem.render("en") == problem
    assert cmp.NO_PROMPT.render("ja") == ja("Write a prompt first.")

    spec = cmp.GridSpec(
        prompt="p",
        models=(cmp.ModelChoice("local", "m"),),
        variants=("", "b"),
        temperatures=(None, 0.7),
        samples=2,
        seed=3,
        column_axis="variant",
    )
    columns, rows = cmp.labels(spec, "variant")
    assert columns == ["prompt A", "prompt B"] and [c.render("ja") for c in columns] == [
        ja("prompt {name}").format(name=n) for n in "AB"
    ]
    assert [" · ".join(rows[0]), " · ".join(rows[-1])] == ["T=default · sample 1 (seed 3)", "T=0.7 · sample 2 (seed 4)"]
    assert rows[0][0].render("ja") == "T=" + ja("default")
    plan = cmp.expand(spec)
    assert plan.columns == ["prompt A", "prompt B"] and type(plan.columns[0]) is str  # saved and exported in English
    assert {cmp.AXES[a].render("ja") for a in ("model", "variant", "sample")} == {
        ja("Model"),
        ja("Prompt variant"),
        ja("Sample (seed)"),
    }
    assert cmp.DIVERSITY_NOTE.render("ja") == ja(cmp.DIVERSITY_NOTE.msgid) != cmp.DIVERSITY_NOTE
    assert cmp.STATUS_LABELS["stopped"].render("ja") == ja("stopped")
    error = _default_error_text(YoakeError(Msg("The request failed.")), plan.cells[0])
    assert (
        error == "**The request failed.** The request failed."
        and error.render("ja") == f"**{ja('The request failed.')}** {ja('The request failed.')}"
    )


def test_logprobs_lib_messages_are_english_as_text_and_japanese_when_rendered() -> None:
    from openai.types.chat import ChatCompletionTokenLogprob

    assert REPRODUCIBLE_NOTE.render("ja") == ja(REPRODUCIBLE_NOTE.msgid)
    for provider in ("openai", "gemini"):
        reason = fork_unavailable_reason(PROVIDERS[provider])
        assert (
            "cannot continue" in reason
            and PROVIDERS[provider].label in reason.render("ja")
            and JAPANESE.search(reason.render("ja"))
        )
    detail = known_probe(PROVIDERS["gemini"]).detail
    assert "does not return logprobs" in detail and detail.render("ja") == ja(
        "{provider}'s OpenAI-compatible endpoint does not return logprobs."
    ).format(provider=PROVIDERS["gemini"].label)

    # A multi-byte character split over two tokens; its alternatives are lone continuation bytes.
    raw = "é".encode()
    content = [
        ChatCompletionTokenLogprob.model_validate(
            {
                "token": "x",
                "bytes": [b],
                "logprob": -0.5,
                "top_logprobs": [{"token": "x", "bytes": [b], "logprob": -0.5}, {"token": "y", "bytes": [0x80], "logprob": -2.0}],
            }
        )
        for b in raw
    ]
    table = build_table(content, 2)
    with pytest.raises(ForkError) as caught:
        fork_prefix(table, 0, 1)
    err = caught.value
    assert "multi-byte" in str(err) and err.detail.render("ja") == ja(err.detail.msgid)
    assert err.title.render("ja") == ja("Cannot fork there.")
    with pytest.raises(ForkError) as caught:
        fork_prefix(table, 9, 0)
    assert caught.value.detail.render("ja") == ja("Pick a position and one of its alternatives.")

    assert "alternatives: " in html.unescape(heat_html(table))
    japanese = html.unescape(heat_html(table, given_prefix="Hi", lang="ja"))
    assert ja("alternatives: {list}").split("{list}")[0] in japanese and ja("given prefix") in japanese
    assert "alternatives:" not in japanese and "given prefix" not in japanese


# --- what the model is told -----------------------------------------------------------------------------


def test_compares_default_system_prompt_follows_the_language() -> None:
    default = BUILTIN_PERSONAS[0]
    assert form_defaults("en")["system_0"] == default.system_prompt
    assert form_defaults("ja")["system_0"] == default.prompt("ja") and JAPANESE.search(form_defaults("ja")["system_0"])
    for persona in BUILTIN_PERSONAS:  # choosing any built-in persona fills system prompt A in Japanese
        assert persona_prompt(persona, "ja") == persona.prompts["ja"] != persona.system_prompt
        assert JAPANESE.search(persona_prompt(persona, "ja"))
        assert persona_prompt(persona, "en") == persona.system_prompt
    own = Persona("Mine", "You are a pirate.", builtin=False)
    assert persona_prompt(own, "ja") == "You are a pirate."  # the visitor's own, as typed


def test_the_plural_messages_of_these_pages_are_translated() -> None:
    """(tests/test_i18n.py checks singular messages; plural entries are checked here by their own forms.)"""
    plural = [m for m in ja_catalog() if m.pluralizable and any(loc.startswith(AREA) for loc, _ in m.locations)]
    assert len(plural) >= 8
    for m in plural:
        assert m.string and all(m.string) and not m.fuzzy, m.id
