"""Issue 22 for the chat area: the chat page, its sidebar, the model picker, the sign-in pages and the
lib messages under them (conversation import and export, personas, the store, providers, routing) in
Japanese and English; the built-in personas tell the model to answer in the visitor's language; and a
signed-in visitor's language choice is kept in the store for their next session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.conversation.io import ImportRejected, export_markdown, parse_import
from lib.conversation.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name, persona_label, reserved_names
from lib.conversation.service import meta_caption
from lib.core.i18n import Msg
from lib.llm.chat import AUTO_RULE, parse_seed, route_model, route_reason
from lib.llm.providers import PROVIDERS, EndpointRefused, ModelList, check_typed_base_url, list_models
from lib.storage.conversations import Conversation, StoredMessage
from lib.storage.db import StoreError
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import ROOT, english_left, ja, japanese_left

PAGE = str(ROOT / "pages" / "chat.py")
APP = str(ROOT / "streamlit_app.py")
JAPANESE = "ja-JP"
ENGLISH = "en-US"


@pytest.fixture(autouse=True)
def _no_deployment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOAKE_LANGUAGE", raising=False)


def chat_page(locale: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.context = {"locale": locale}
    at.run()
    assert not at.exception, at.exception
    return at


def english_shown(at: AppTest) -> list[str]:
    """`english_left`, without a picker's stored value that the picker shows translated: the persona
    picker's value is the persona's stable (English) id, its option labels are Japanese; the visitor
    never sees the id."""
    pickers = [*at.selectbox, *at.sidebar.selectbox]
    hidden = {repr(w.value) for w in pickers if isinstance(w.value, str) and w.value not in w.options}
    return [left for left in english_left(at) if left.split(" (message ")[0] not in hidden]


def shown(at: AppTest) -> str:
    """Every text of the run, sidebar included (captions, markdown, alerts, labels)."""
    from tests.support.i18n import visible_texts

    return "\n".join(visible_texts(at))


def alerts(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.error, *at.warning, *at.success, *at.sidebar.error, *at.sidebar.warning,
                                           *at.sidebar.success, *at.info, *at.sidebar.info])  # fmt: skip


# --- the chat page ------------------------------------------------------------------------------------


def test_the_chat_page_in_japanese_sends_with_a_japanese_persona_and_captions_the_reply_in_japanese(
    data_dir: Path, fake_model: HostedAPISim
) -> None:
    at = chat_page(JAPANESE)
    assert english_shown(at) == []
    assert at.title[0].value == ja("💬 Chat")
    assert at.sidebar.selectbox(key="chat_provider").label == ja("Provider")
    persona = at.sidebar.selectbox(key="chat_persona")
    assert persona.value == "Helpful assistant"  # the stored id stays English...
    assert persona.options[0] == ja("Helpful assistant")  # ...the picker shows it in Japanese
    assert at.sidebar.text_area(key="chat_system_prompt").value == BUILTIN_PERSONAS[0].prompt("ja")

    at.chat_input(key="chat_input").set_value("こんにちは。自己紹介してください。").run()
    assert not at.exception, at.exception
    [sent] = fake_model.calls()
    system = sent["messages"][0]
    assert system["role"] == "system" and system["content"] == BUILTIN_PERSONAS[0].prompt("ja")
    assert "日本語で" in system["content"]  # the model is told to answer in Japanese
    caption = " ".join(c.value for c in at.chat_message[1].caption)
    assert ja("free (local)") in caption and "入力" in caption and "出力" in caption and "トークン" in caption
    assert "in /" not in caption and "first token" not in caption
    assert english_shown(at) == []

    # the conversation is saved with the persona's stable id
    [conv] = Store.in_dir(data_dir).list_conversations()
    assert Store.in_dir(data_dir).get_conversation(conv.id).persona == "Helpful assistant"  # type: ignore[union-attr]


def test_the_sidebar_speaks_japanese_in_its_notices_and_store_errors(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = chat_page(JAPANESE)
    at.sidebar.text_input(key="chat_seed").set_value("abc").run()  # not a whole number
    assert ja("The seed must be a whole number.") in alerts(at)
    at.sidebar.text_input(key="chat_seed").set_value("").run()
    at.sidebar.button(key="chat_pe_save").click().run()  # a persona without a name: the store refuses
    assert ja("A persona needs a name.") in alerts(at) and "A persona needs a name" not in alerts(at)
    at.sidebar.text_input(key="chat_pe_name").set_value(ja("Helpful assistant"))  # a built-in's Japanese name
    at.sidebar.text_area(key="chat_pe_prompt").set_value("海賊のように話してください。")
    at.sidebar.button(key="chat_pe_save").click().run()
    assert ja("'{name}' is a built-in name; choose another.").format(name=ja("Helpful assistant")) in alerts(at)
    at.sidebar.button(key="chat_preset_save").click().run()
    assert ja("A preset needs a name.") in alerts(at)
    at.sidebar.toggle(key="chat_cache").set_value(True).run()
    assert at.sidebar.button(key="chat_cache_clear").label == ja("Forget my cached answers")
    at.sidebar.button(key="chat_cache_clear").click().run()
    assert ja("{n} cached answer(s) forgotten.").format(n=0) in alerts(at)
    at.sidebar.button(key="chat_import").click().run()  # nothing chosen
    assert ja("Choose a JSON export to import first.") in alerts(at)

    at.chat_input(key="chat_input").set_value("テスト").run()
    at.sidebar.button(key="chat_delete").click().run()
    assert "削除しますか" in alerts(at)
    assert english_shown(at) == []
    at.sidebar.button(key="chat_delete_yes").click().run()
    assert ja("Conversation deleted.") in alerts(at)
    assert english_shown(at) == []


def test_a_picker_without_a_key_says_so_in_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = chat_page(JAPANESE)
    at.sidebar.selectbox(key="chat_provider").set_value("openai").run()
    assert not at.exception, at.exception
    warning = alerts(at)
    assert "OpenAIにはAPIキーが必要です" in warning and "OPENAI_API_KEY" in warning
    at.sidebar.selectbox(key="chat_provider").set_value("custom").run()
    assert at.sidebar.text_input(key="chat_custom_url").label == ja("Base URL")
    assert english_shown(at) == []


@pytest.mark.no_model
def test_a_connection_error_is_shown_in_japanese(data_dir: Path) -> None:
    at = chat_page(JAPANESE)
    assert "モデルの一覧を取得できませんでした" in shown(at)  # the picker's fallback notice
    at.chat_input(key="chat_input").set_value("こんにちは").run()
    assert not at.exception, at.exception
    [error] = at.error
    provider = ja("Local (embedded SmolLM2)")
    assert ja("Could not reach {provider}.").format(provider=provider) in error.value
    assert "Could not reach" not in error.value
    assert at.button(key="chat_resend").label == ja("↻ Re-send last message")
    assert english_shown(at) == []


def test_the_chat_page_in_english_shows_no_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = chat_page(ENGLISH)
    assert japanese_left(at) == []
    assert at.sidebar.text_area(key="chat_system_prompt").value == BUILTIN_PERSONAS[0].system_prompt
    at.chat_input(key="chat_input").set_value("Hello").run()
    [sent] = fake_model.calls()
    assert sent["messages"][0]["content"] == "You are a helpful assistant. Answer clearly and concisely."
    caption = " ".join(c.value for c in at.chat_message[1].caption)
    assert "free (local)" in caption and " in / " in caption and "first token" in caption
    at.sidebar.button(key="chat_delete").click().run()
    assert japanese_left(at) == []


def test_a_conversation_saved_in_english_opens_in_japanese_with_its_persona_and_prompt(
    data_dir: Path, fake_model: HostedAPISim
) -> None:
    store = Store.in_dir(data_dir)
    cid = store.create_conversation(persona="Casual friend", system_prompt="Be casual.", provider="local")
    store.add_message(cid, "user", "hi")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.context = {"locale": JAPANESE}
    at.query_params["c"] = cid
    at.run()
    assert not at.exception, at.exception
    picker = at.sidebar.selectbox(key="chat_persona")
    assert picker.value == "Casual friend" and ja("Casual friend") in picker.options
    assert at.sidebar.text_area(key="chat_system_prompt").value == "Be casual."  # a saved prompt is kept as saved


def test_a_new_chats_untouched_prompt_follows_a_switch_of_language(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = chat_page(JAPANESE)
    assert at.sidebar.text_area(key="chat_system_prompt").value == BUILTIN_PERSONAS[0].prompt("ja")
    at.query_params["lang"] = "en"
    at.run()
    assert at.sidebar.text_area(key="chat_system_prompt").value == BUILTIN_PERSONAS[0].system_prompt
    at.sidebar.text_area(key="chat_system_prompt").set_value("My own prompt.").run()
    at.query_params["lang"] = "ja"
    at.run()
    assert at.sidebar.text_area(key="chat_system_prompt").value == "My own prompt."  # edited: never replaced


# --- the sign-in pages ----------------------------------------------------------------------------------

ISSUER = "https://idp.example.test"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length",
    "client_id": "yoake",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
}


def _user(sub: str, name: str) -> dict:
    return {"is_logged_in": True, "iss": ISSUER, "sub": sub, "email": f"{sub}@example.test", "name": name}


def _app(locale: str, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"locale": locale}
    at.secrets["auth"] = AUTH
    at.user = user or {"is_logged_in": False}
    return at


def test_the_sign_in_page_in_japanese(data_dir: Path) -> None:
    at = _app(JAPANESE).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == [ja("Sign in")]
    assert english_shown(at) == []
    at.button(key="auth_login").click().run()  # [auth] that st.login cannot use: said in Japanese
    assert not at.exception, at.exception
    assert "ログインの設定が正しくありません" in at.error[0].value
    assert english_shown(at) == []

    en = _app(ENGLISH).run()
    assert [b.label for b in en.button] == ["Sign in"] and japanese_left(en) == []


def test_the_password_page_in_japanese(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD", "correct horse battery")
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"locale": JAPANESE}
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="auth_password").label == ja("Password")
    assert english_shown(at) == []
    at.text_input(key="auth_password").set_value("wrong")
    at.button(key="auth_submit").click().run()
    assert at.error[0].value == ja("Wrong password.")
    assert english_shown(at) == []


def test_the_signed_in_sidebar_in_japanese(data_dir: Path) -> None:
    at = _app(JAPANESE, _user("alice-sub", "Alice")).run()
    assert not at.exception, at.exception
    assert ja("Signed in as **{name}**").format(name="Alice") in [c.value for c in at.sidebar.caption]
    assert ja("Sign out") in [b.label for b in at.sidebar.button]


def test_a_signed_in_visitors_language_choice_is_kept_for_their_next_session(data_dir: Path) -> None:
    alice, bob = _user("alice-sub", "Alice"), _user("bob-sub", "Bob")
    # (run twice: a process's first run switches Streamlit to navigation and reruns, see enter_page)
    first = _app(JAPANESE, alice).run().run()
    assert first.session_state["app_language_current"] == "ja"
    first.sidebar.selectbox(key="app_language").select("English").run()
    assert not first.exception, first.exception
    assert first.session_state["app_language_current"] == "en"

    again = _app(JAPANESE, alice).run()  # a new session, a Japanese browser, no ?lang=
    assert not again.exception, again.exception
    assert "lang" not in dict(again.query_params) or again.query_params["lang"] == "en"
    assert again.session_state["app_language_current"] == "en"
    assert "Sign out" in [b.label for b in again.sidebar.button] and japanese_left(again) == []

    other = _app(JAPANESE, bob).run()  # another visitor keeps their browser's language
    assert other.session_state["app_language_current"] == "ja"
    assert ja("Sign out") in [b.label for b in other.sidebar.button]
    from lib.core.identity import Identity

    owner = Identity(ISSUER, "alice-sub").owner
    assert Store.in_dir(data_dir).for_owner(owner).get_preference("language") == "en"
    assert Store.in_dir(data_dir).get_preference("language") is None  # nothing for the laptop owner


# --- lib: messages in either language ---------------------------------------------------------------------


def test_store_errors_are_english_as_strings_and_japanese_when_rendered(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    for call, msgid in [
        (lambda: store.save_preset("  ", "local", "m", {}), "A preset needs a name."),
        (lambda: store.save_persona("", "x", 0.5), "A persona needs a name."),
        (lambda: store.save_persona("x", " ", 0.5), "A persona needs a system prompt."),
        (lambda: store.rename_conversation("0" * 32, "Title"), "That conversation no longer exists."),
    ]:
        with pytest.raises(StoreError) as caught:
            call()
        assert str(caught.value) == msgid
        assert caught.value.detail.render("ja") == ja(msgid)
        assert caught.value.title.render("ja") == ja("That could not be saved.")
    with pytest.raises(StoreError) as caught:
        store.save_persona("x" * 81, "x", 0.5)
    assert caught.value.detail.render("ja") == ja("A persona name can be at most {limit} characters.").format(limit=80)
    cid = store.create_conversation()
    assert store.get_conversation(cid).title == "Untitled"  # type: ignore[union-attr]
    assert store.get_conversation(cid).title.render("ja") == ja("Untitled")  # type: ignore[union-attr]


def test_import_errors_render_in_japanese_with_their_reasons() -> None:
    cases = [
        (b"", ja("The file is empty.")),
        (b"{not json", None),
        (json.dumps({"messages": [{"role": "tool", "content": "x"}]}).encode(), None),
        (
            json.dumps({"messages": [{"role": "user", "content": "q"}], "metadata": {"params": {"temperature": 9}}}).encode(),
            ja("metadata.params.{name} is invalid ({reason}).").format(
                name="temperature", reason=ja("outside {low}..{high}").format(low=0.0, high=2.0)
            ),
        ),
    ]
    for data, expected in cases:
        with pytest.raises(ImportRejected) as caught:
            parse_import(data)
        english, japanese = str(caught.value), caught.value.detail.render("ja")
        assert english != japanese and not any("\u3040" <= ch <= "\u30ff" for ch in english)
        assert any("\u3040" <= ch <= "\u30ff" for ch in japanese), japanese
        if expected:
            assert japanese == expected
        assert caught.value.title.render("ja") == ja("The file cannot be imported.")
    assert "outside 0.0..2.0" in str(caught.value)  # the English, as before
    assert parse_import(b'[{"role": "assistant", "content": "a"}]', "ja").title == ja("Imported conversation")


def test_markdown_export_in_japanese_and_english() -> None:
    conv = Conversation(
        "c", "Pitch", 0, 0, persona="Helpful assistant", system_prompt="Be kind.", provider="local", model="m",
        messages=[StoredMessage(1, "user", "q"), StoredMessage(2, "assistant", "a", incomplete=True)],
    )  # fmt: skip
    english, japanese = export_markdown(conv), export_markdown(conv, "ja")
    assert "## System prompt" in english and "## 🧑 User" in english and "persona: Helpful assistant" in english
    assert "## " + ja("System prompt") in japanese and "## 🧑 " + ja("User") in japanese
    assert ja("Helpful assistant") in japanese and ja("(incomplete: the reply was cut off)") in japanese
    assert "System prompt" not in japanese and "Exported from" not in japanese


def test_the_reply_caption_in_either_language() -> None:
    meta = {"model": "m", "route": "asks for reasoning ('explain')", "input_tokens": 1200, "output_tokens": 30,
            "estimated": True, "duration_ms": 1500.0, "ttft_ms": 120.0, "cost_usd": 0.0}  # fmt: skip
    english = meta_caption(meta)
    assert english.startswith("auto → m (asks for reasoning ('explain'))") and "1,200 in / 30 out tokens (est.)" in english
    assert "1.50 s" in english and "first token 120 ms" in english and "free (local)" in english
    japanese = meta_caption(meta, "ja")
    assert japanese.startswith(
        ja("auto → {model} ({reason})").format(model="m", reason=ja("asks for reasoning ('{word}')").format(word="explain"))
    )
    assert ja("{input} in / {output} out tokens (est.)").format(input="1,200", output="30") in japanese
    assert ja("free (local)") in japanese and "first token" not in japanese
    cached = meta_caption({"model": "m", "cache_hit": True, "cost_usd": 0.0}, "ja")
    assert ja("⚡ from the answer cache, free") in cached
    with_yen = meta_caption({"model": "m", "cost_usd": 0.01}, "ja", usd_jpy=150.0)
    assert "$0.01000" in with_yen and "1.5" in with_yen and "150" in with_yen


def test_routing_reasons_and_the_rule_render_in_japanese() -> None:
    for message in ("hi", "x" * 401, "なぜ空は青いの？", "```py\nprint(1)```"):
        _, reason = route_model(message, "s", "l")
        assert isinstance(reason, Msg) and reason.render("ja") != str(reason)
        assert route_reason(str(reason)).render("ja") == reason.render("ja")  # as saved in a reply's meta
    assert route_model("```x```", "s", "l")[1].render("ja") == ja("asks for reasoning ('{word}')").format(word=ja("code"))
    assert route_reason("something else") == "something else"
    assert AUTO_RULE.render("ja") == ja(str(AUTO_RULE)) and "400" in AUTO_RULE.render("ja")
    _, problem = parse_seed("x")
    assert problem == "The seed must be a whole number." and problem.render("ja") == ja(problem)  # type: ignore[union-attr]


def test_provider_labels_notices_and_refusals_render_in_japanese() -> None:
    assert PROVIDERS["local"].label == "Local (embedded SmolLM2)"
    assert PROVIDERS["local"].label.render("ja") == ja("Local (embedded SmolLM2)")  # type: ignore[attr-defined]
    assert PROVIDERS["openai"].label == "OpenAI"  # a product name: as it is

    class Down:
        class models:  # noqa: N801 - the SDK's attribute
            @staticmethod
            def list():
                import openai

                raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]

    listed = list_models(Down(), PROVIDERS["local"])  # type: ignore[arg-type]
    assert isinstance(listed, ModelList) and "Could not list models (APIConnectionError)" in listed.notice  # type: ignore[operator]
    assert listed.notice.render("ja") == ja("Could not list models ({error}); showing {provider}'s usual models.").format(  # type: ignore[union-attr]
        error="APIConnectionError", provider=ja("Local (embedded SmolLM2)")
    )
    with pytest.raises(EndpointRefused) as caught:
        check_typed_base_url("http://[::1", allow_private=False)
    assert caught.value.title.render("ja") == ja("That base URL is malformed.")


# --- the built-in personas ----------------------------------------------------------------------------


def test_every_built_in_persona_has_a_japanese_name_and_a_japanese_prompt() -> None:
    for persona in BUILTIN_PERSONAS:
        label, prompt = persona.label("ja"), persona.prompt("ja")
        assert label == ja(persona.name) and label != persona.name
        assert prompt != persona.system_prompt and "日本語" in prompt, persona.name
        assert persona.label("en") == persona.name and persona.prompt("en") == persona.system_prompt
    default = BUILTIN_PERSONAS[0]
    assert default.name == "Helpful assistant" and "日本語で" in default.prompt("ja")
    assert builtin_by_name()["Helpful assistant"] is default  # conversations saved with the English id still find it
    assert persona_label(CUSTOM_PERSONA, "ja") == ja(CUSTOM_PERSONA) and persona_label("Pirate", "ja") == "Pirate"
    assert {"Helpful assistant", ja("Helpful assistant"), CUSTOM_PERSONA, ja(CUSTOM_PERSONA)} <= set(reserved_names())
