"""Sign-in (OpenID Connect through st.login) at the page level: the gate, who is signed in, and that
every page acts for that visitor only. AppTest seeds `st.user` (`at.user`) the way Streamlit does
after a real sign-in; the store, collections and usage log underneath are the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import usage_log
from lib.core.identity import LOCAL_OWNER, Identity, owner_hash
from lib.core.usage_log import UsageRecord
from lib.docs_qa import create_collection
from lib.storage.store import Store

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
ISSUER = "https://idp.example.test"
ALICE = Identity(ISSUER, "alice-sub", "alice@example.test", "Alice")
BOB = Identity(ISSUER, "bob-sub", "bob@example.test", "Bob")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length",
    "client_id": "yoake",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
}


def user(identity: Identity) -> dict:
    return {
        "is_logged_in": True,
        "iss": identity.issuer,
        "sub": identity.subject,
        "email": identity.email,
        "name": identity.name,
    }


def app(page: str | None = None, who: Identity | None = None, *, signed_out: bool = False) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    if who is not None:
        at.user = user(who)
    elif signed_out:
        at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def sidebar_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button]


def test_with_auth_configured_a_visitor_must_sign_in_first(data_dir: Path) -> None:
    at = app(signed_out=True)
    assert [b.label for b in at.button] == ["Sign in"]
    # no page of the app, no model picker: only the language switch
    assert not at.chat_input and [s.key for s in at.sidebar.selectbox] == ["app_language"]
    assert "yours alone" in " ".join(m.value for m in at.markdown)


def test_named_providers_each_get_a_button(data_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = {
        "redirect_uri": AUTH["redirect_uri"],
        "cookie_secret": AUTH["cookie_secret"],
        "client_kwargs": {"prompt": "login"},  # a table that is not a provider
        "google": {"client_id": "g", "client_secret": "google-secret-123", "server_metadata_url": "https://g.test/x"},
        "okta": {"client_id": "o", "client_secret": "okta-secret-456", "server_metadata_url": "https://o.test/x"},
    }
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in with Google", "Sign in with Okta"]


def test_sign_in_set_up_wrong_says_so_without_a_stack_trace(data_dir: Path) -> None:
    at = app(signed_out=True)
    # st.login checks the [auth] it reads itself (here: none at all) before it redirects anywhere
    at.button(key="auth_login").click().run()
    assert not at.exception, at.exception
    assert any("Sign-in is not set up correctly" in e.value for e in at.error)
    assert AUTH["cookie_secret"] not in " ".join(e.value for e in at.error)


def _show_redacted() -> None:
    import streamlit as st

    from ui.common import settings

    st.code(settings().redact("client=not-a-real-secret cookie=a-test-cookie-secret-of-enough-length g=google-secret-123"))


def test_the_auth_secrets_are_redacted_like_keys() -> None:
    at = AppTest.from_function(_show_redacted)
    at.secrets["auth"] = {**AUTH, "google": {"client_id": "g", "client_secret": "google-secret-123"}}
    at.run()
    assert not at.exception, at.exception
    shown = at.code[0].value
    assert "client=" in shown and "cookie=" in shown
    assert not any(s in shown for s in ("not-a-real-secret", AUTH["cookie_secret"], "google-secret-123"))


def test_the_sidebar_says_who_is_signed_in_with_a_way_out(data_dir: Path) -> None:
    at = app("pages/chat.py", ALICE)
    assert any("Signed in as **Alice**" in c.value for c in at.sidebar.caption)
    assert "Sign out" in sidebar_buttons(at)


def test_each_visitor_sees_only_their_own_conversations_even_by_link(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    alices = base.for_owner(ALICE.owner).create_conversation(title="Alice's client pitch")
    base.for_owner(ALICE.owner).add_message(alices, "user", "notes for ACME only")
    base.for_owner(BOB.owner).create_conversation(title="Bob's draft")
    base.create_conversation(title="From the laptop days")  # owned by `local`

    at = app("pages/chat.py", ALICE)
    buttons = sidebar_buttons(at)
    assert "Alice's client pitch" in buttons
    assert "Bob's draft" not in buttons and "From the laptop days" not in buttons

    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = user(BOB)
    at.query_params["c"] = alices  # Alice's link, opened by Bob
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["chat_history"] == []
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.sidebar.button, *at.text_input] if hasattr(e, "value"))
    assert "ACME" not in shown and "Alice" not in shown
    assert any("no longer exists" in w.value for w in [*at.sidebar.warning, *at.warning])
    assert "Bob's draft" in sidebar_buttons(at)


def test_personas_presets_and_compare_runs_are_per_visitor(data_dir: Path) -> None:
    alices = Store.in_dir(data_dir).for_owner(ALICE.owner)
    alices.save_persona("ACME voice", "Speak like ACME's brand book.", 0.3)
    alices.save_preset("ACME preset", "local", "m", {"temperature": 0.2})
    alices.save_compare_run(title="ACME run", status="done", spec={}, summary={}, cells=[])

    at = app("pages/chat.py", BOB)
    assert "ACME voice" not in at.sidebar.selectbox(key="chat_persona").options
    assert not [b for b in at.sidebar.button if "ACME" in b.label]
    # what Bob saves through the page is his
    at.sidebar.text_input(key="chat_pe_name").input("Bob's tone")
    at.sidebar.text_area(key="chat_pe_prompt").input("Be brief.")
    at.sidebar.button(key="chat_pe_save").click().run()
    assert not at.exception, at.exception
    base = Store.in_dir(data_dir)
    assert [p.name for p in base.for_owner(BOB.owner).list_personas()] == ["Bob's tone"]
    assert [p.name for p in base.for_owner(ALICE.owner).list_personas()] == ["ACME voice"]
    assert base.list_personas() == []  # nothing went to the laptop owner

    at = app("pages/compare.py", BOB)
    assert not [b for b in at.sidebar.button if "ACME" in b.label]
    assert any("Nothing saved yet" in c.value for c in at.sidebar.caption)
    at = app("pages/compare.py", ALICE)
    assert any(b.label.startswith("ACME run") for b in at.sidebar.button)
    at = app("pages/chat.py", ALICE)
    assert "ACME voice" in at.sidebar.selectbox(key="chat_persona").options
    assert any(b.label == "ACME preset" for b in at.sidebar.button)


def test_docs_collections_are_per_visitor(data_dir: Path) -> None:
    create_collection(data_dir, "alice-handbook", owner=ALICE.owner)
    at = app("pages/docs_qa.py", BOB)
    assert "alice-handbook" not in at.selectbox(key="qa_collection").options
    at = app("pages/docs_qa.py", ALICE)
    assert at.selectbox(key="qa_collection").options == ["alice-handbook"]


def _log(data_dir: Path, owner: str, n: int) -> None:
    for _ in range(n):
        usage_log.append(
            usage_log.usage_path(data_dir),
            UsageRecord(page="chat", provider="local", model="m", input_tokens=10, output_tokens=5, total_tokens=15,
                        owner=owner_hash(owner)),
        )  # fmt: skip


def recent_calls(at: AppTest):
    """The recent-calls table (AppTest's dataframes carry no key: it is the one with request_id)."""
    return next(d.value for d in at.dataframe if "request_id" in d.value.columns)


@pytest.mark.parametrize(("who", "admins", "calls"), [(ALICE, "", 2), (BOB, "", 3), (BOB, "Bob@Example.test", 6)])
def test_usage_shows_your_own_calls_and_everyones_to_admins(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, who: Identity, admins: str, calls: int
) -> None:
    monkeypatch.setenv("YOAKE_ADMINS", admins)
    _log(data_dir, ALICE.owner, 2)
    _log(data_dir, BOB.owner, 3)
    _log(data_dir, LOCAL_OWNER, 1)
    at = app("pages/usage.py", who)
    assert {m.label: m.value for m in at.metric}["Calls"] == str(calls)
    shown = recent_calls(at)
    assert len(shown) == calls
    if admins:  # whose call each one was: the owner's hash, never an e-mail or subject
        assert set(shown["owner"]) == {owner_hash(o) for o in (ALICE.owner, BOB.owner, LOCAL_OWNER)}
        assert not shown.astype(str).apply(lambda col: col.str.contains("example.test|alice-sub")).any().any()
    else:
        assert "owner" not in shown.columns


def test_an_unverified_admin_email_is_not_an_admin(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_ADMINS", "alice@example.test")
    _log(data_dir, ALICE.owner, 2)
    _log(data_dir, BOB.owner, 3)
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {**user(BOB), "email": "alice@example.test", "email_verified": False}  # claims Alice's e-mail
    at.run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Calls"] == "3"
    at.user = {**user(ALICE), "email_verified": True}
    at.run()
    assert {m.label: m.value for m in at.metric}["Calls"] == "5"


def test_an_admin_can_narrow_usage_to_one_owner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_ADMINS", "someone@example.test, alice@example.test")
    _log(data_dir, ALICE.owner, 2)
    _log(data_dir, BOB.owner, 3)
    at = app("pages/usage.py", ALICE)
    picker = at.sidebar.multiselect(key="usage_owner")
    assert sorted(picker.options) == sorted([f"{owner_hash(ALICE.owner)} (you)", owner_hash(BOB.owner)])
    picker.select(owner_hash(BOB.owner)).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Calls"] == "3"
    assert set(recent_calls(at)["owner"]) == {owner_hash(BOB.owner)}


def test_laptop_usage_shows_every_call_without_an_owner_picker(data_dir: Path) -> None:
    _log(data_dir, LOCAL_OWNER, 2)
    _log(data_dir, ALICE.owner, 1)  # e.g. from a time when sign-in was configured
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Calls"] == "3"
    assert not [m for m in at.sidebar.multiselect if m.key == "usage_owner"]
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]


def test_the_shared_password_page_says_it_is_one_workspace(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD", "correct horse battery")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("one shared workspace" in c.value for c in at.caption)
