"""Sign-in (OpenID Connect through st.login) at the page level: the gate, who is signed in, and that
every page acts for that visitor only. AppTest seeds `st.user` (`at.user`) the way Streamlit does
after a real sign-in; the store, collections and usage log underneath are the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.docs_qa import create_collection
from lib.identity import LOCAL_OWNER, Identity, owner_hash
from lib.store import Store
from lib.usage import log as usage_log
from lib.usage.log import UsageRecord

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
    assert not at.chat_input and not at.sidebar.selectbox  # no page of the app, no picker
    assert "yours alone" in " ".join(m.value for m in at.markdown)


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


def test_the_shared_password_page_says_it_is_one_workspace(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD", "correct horse battery")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("one shared workspace" in c.value for c in at.caption)
