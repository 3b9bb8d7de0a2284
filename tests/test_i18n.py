"""The translation machinery: the catalogs are complete and compiled, messages and formats follow the
language, and the language is chosen as the README says (URL, sidebar, stored choice, browser, setting)."""

from __future__ import annotations

import io
import pickle
from datetime import UTC, datetime

import openai
import pytest
from babel.messages.mofile import read_mo, write_mo
from streamlit.testing.v1 import AppTest

from lib.core import i18n
from lib.core.errors import YoakeError, describe_error
from lib.core.i18n import Msg, placeholders
from lib.core.text import format_cost
from tests.support.i18n import JA_MO, JA_PO, ROOT, code_messages, ja, ja_catalog, plain_and_plural


def test_every_message_of_the_code_is_translated_in_japanese() -> None:
    catalog = ja_catalog()
    missing = [f"{where}: {msgid!r}" for msgid, where in code_messages().items() if msgid not in catalog]
    untranslated = [
        f"{code_messages()[key]}: {key!r}"
        for m in catalog
        if (key := m.id[0] if isinstance(m.id, tuple) else m.id) in code_messages()
        and (not m.string or m.fuzzy or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not missing, "run `python scripts/i18n.py` and translate:\n" + "\n".join(missing)
    assert not untranslated, "translate (and un-fuzzy) in " + str(JA_PO) + ":\n" + "\n".join(untranslated)


def test_no_message_is_both_plain_and_plural() -> None:
    assert plain_and_plural() == set(), "use ngettext() for these everywhere (or a different id)"


def test_translations_keep_the_placeholders_and_pass_babels_checks() -> None:
    wrong = []
    for m in ja_catalog():
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strings:
            if placeholders(s) != placeholders(ids[-1]) and placeholders(s) != placeholders(ids[0]):
                wrong.append(f"{m.id!r}: {s!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)
    problems = [f"{m.id!r}: {errors}" for m, errors in ja_catalog().check() if errors]
    assert not problems


def test_the_compiled_catalog_is_the_current_one() -> None:
    with JA_MO.open("rb") as f:
        compiled = read_mo(f)
    fresh = io.BytesIO()
    write_mo(fresh, ja_catalog())
    fresh.seek(0)
    expected = read_mo(fresh)

    def table(catalog) -> dict:
        as_key = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731 - plural ids and forms
        return {as_key(m.id): as_key(m.string) for m in catalog if m.id}

    assert table(compiled) == table(expected), "run `python scripts/i18n.py compile`"


def test_a_message_is_english_as_a_string_and_japanese_when_rendered() -> None:
    msg = Msg("Could not reach {provider}.", provider=Msg("The provider"))
    assert msg == "Could not reach The provider."
    assert msg.render("ja") == ja("Could not reach {provider}.").format(provider=ja("The provider"))
    assert msg.render("en") == str(msg)
    assert pickle.loads(pickle.dumps(msg)).render("ja") == msg.render("ja")


def test_describe_error_speaks_either_language() -> None:
    err = describe_error(openai.APIConnectionError(request=None), "OpenAI")  # type: ignore[arg-type]
    assert err.title == "Could not reach OpenAI."
    assert err.title.render("ja") == ja("Could not reach {provider}.").format(provider="OpenAI")
    assert "OpenAI" in err.title.render("ja") and err.title.render("ja") != err.title
    custom = describe_error(YoakeError(Msg("The request failed.")))
    assert custom.detail.render("ja") == ja("The request failed.")


@pytest.mark.parametrize(
    ("lang", "number", "percent", "when"),
    [
        ("en", "12,345.68", "12.3%", "Nov 27, 2026, 9:30:00 PM"),
        ("ja", "12,345.68", "12.3%", "2026/11/28 6:30:00"),
    ],
)
def test_numbers_percentages_and_dates_follow_the_locale(lang: str, number: str, percent: str, when: str) -> None:
    assert i18n.format_number(12345.678, lang, 2) == number
    assert i18n.format_percent(0.1234, lang, 1) == percent
    moment = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)
    zone = "Asia/Tokyo" if lang == "ja" else "Europe/London"
    expected = when if lang == "ja" else "Nov 27, 2026, 9:30:00\u202fPM"
    assert i18n.format_datetime(moment, lang, zone) in (when, expected)
    assert i18n.format_datetime(moment, lang, "Not/AZone")  # an unknown zone falls back, never fails


def test_a_cost_stays_in_dollars_and_adds_yen_only_at_a_stated_rate() -> None:
    assert format_cost(0.00042, lang="en") == "$0.00042"
    assert format_cost(0.00042, lang="ja") == "$0.00042"
    assert format_cost(0.0, lang="ja") == ja("free (local)")
    assert format_cost(None, lang="ja") == ja("cost unknown")
    with_yen = format_cost(0.01, "about", lang="ja", usd_jpy=150.0)
    assert "$0.01000" in with_yen and "1.5" in with_yen and "150" in with_yen
    assert "¥" not in format_cost(0.01, "about", lang="ja") and "￥" not in format_cost(0.01, lang="ja")
    assert format_cost(0.01, "at most", lang="en", usd_jpy=150.0).startswith("at most $0.01000 (about ¥1.5 at 150")


@pytest.mark.parametrize(
    ("tag", "code"), [("ja-JP", "ja"), ("ja", "ja"), ("en-GB", "en"), ("EN_us", "en"), ("fr-FR", None), (None, None)]
)
def test_browser_tags_map_to_the_languages_we_speak(tag: str | None, code: str | None) -> None:
    assert i18n.normalize(tag) == code


# --- choosing the language ------------------------------------------------------------------------

APP = str(ROOT / "streamlit_app.py")


def _app(locale: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if locale:
        at.context = {"locale": locale}
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at


def _nav_titles(at: AppTest) -> str:
    return at.session_state["app_language_current"]


def test_a_japanese_browser_gets_japanese_an_english_one_english(data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOAKE_LANGUAGE", raising=False)
    assert _nav_titles(_app("ja-JP").run()) == "ja"
    assert _nav_titles(_app("en-US").run()) == "en"
    assert _nav_titles(_app("fr-FR").run()) == "en"
    monkeypatch.setenv("YOAKE_LANGUAGE", "ja")
    assert _nav_titles(_app("fr-FR").run()) == "ja"  # the deployment's default, for a browser we do not speak
    assert _nav_titles(_app("en-US").run()) == "en"  # the browser still wins over the default


def test_the_switch_is_remembered_for_the_session_and_in_the_link(data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOAKE_LANGUAGE", raising=False)
    # (run twice: a process's first run switches Streamlit to navigation and reruns, see enter_page)
    at = _app("ja-JP").run().run()
    switch = at.sidebar.selectbox(key="app_language")
    assert switch.label == "言語 / Language" and switch.value == "ja"
    switch.select("English").run()
    assert _nav_titles(at) == "en" and at.query_params["lang"] == "en"
    at.run()  # and the next run (another page, a widget) keeps it
    assert _nav_titles(at) == "en"
    # a shared link with ?lang= speaks that language whatever the browser says
    assert _nav_titles(_app("en-US", {"lang": "ja"}).run()) == "ja"
