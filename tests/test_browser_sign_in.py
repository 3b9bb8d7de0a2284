"""Sign-in with a real OpenID Connect provider on loopback (oidc-provider-mock: discovery, an
authorisation form where the visitor types a subject, tokens), in real Chromium: two visitors in
separate browser contexts each see only their own conversations, even through a `?c=` link."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium_browser, streamlit_app

from lib.engine.server import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """The provider's issuer URL, served on 127.0.0.1 from a thread of this process."""
    import oidc_provider_mock
    import werkzeug.serving

    users = [
        oidc_provider_mock.User(sub="alice", claims={"email": "alice@example.test", "name": "Alice"}),
        oidc_provider_mock.User(sub="bob", claims={"email": "bob@example.test", "name": "Bob"}),
    ]
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def sign_in(browser, url: str, subject: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(subject)  # the provider's own form
    page.get_by_role("button", name="Authorize").click()
    page.get_by_test_id("stChatInput").wait_for(timeout=90_000)
    return page


def test_two_visitors_each_see_only_their_own_conversations(data_dir: Path, oidc_provider: str, tmp_path: Path) -> None:
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-cookie-secret-for-this-test-only"\n'
        'client_id = "yoake-test"\n'
        'client_secret = "yoake-test-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    env = dict(os.environ, YOAKE_DATA_DIR=str(data_dir))  # YOAKE_LOCAL_BASE_URL: the fake model
    with (
        streamlit_app(env, port=port, extra_args=["--secrets.files", str(secrets)]) as (url, _),
        chromium_browser() as browser,
    ):
        alice = sign_in(browser, url, "alice")
        alice.get_by_text("Signed in as").wait_for(timeout=30_000)
        assert "Alice" in alice.get_by_test_id("stSidebar").inner_text()
        # a short reply: the sidebar lists the conversation once the reply has ended
        sidebar = alice.get_by_test_id("stSidebar")
        sidebar.get_by_text("More parameters").click()
        sidebar.get_by_label("Max tokens").fill("16")
        sidebar.get_by_label("Max tokens").press("Enter")
        alice.get_by_test_id("stChatInputTextArea").fill("Notes for the ACME pitch")
        alice.get_by_test_id("stChatInputTextArea").press("Enter")
        alice.get_by_test_id("stChatMessage").nth(1).wait_for(timeout=120_000)
        sidebar_button = alice.get_by_test_id("stSidebar").get_by_role("button", name="Notes for the ACME pitch")
        sidebar_button.wait_for(timeout=180_000)
        alice.wait_for_url("**?c=*", timeout=30_000)
        alices_link = alice.url

        bob = sign_in(browser, url, "bob")
        assert "Bob" in bob.get_by_test_id("stSidebar").inner_text()
        bob.get_by_test_id("stSidebar").get_by_text("Nothing saved yet").wait_for(timeout=30_000)  # his list: empty
        assert "ACME" not in bob.content()
        bob.goto(alices_link)
        bob.get_by_test_id("stChatInput").wait_for(timeout=60_000)
        bob.get_by_text("no longer exists").wait_for(timeout=30_000)
        assert "ACME" not in bob.content() and bob.get_by_test_id("stChatMessage").count() == 0

        bob.get_by_role("button", name="Sign out").click()
        bob.get_by_role("button", name="End session").click()  # the provider's own logout form
        bob.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
        assert bob.get_by_test_id("stChatInput").count() == 0

        alice.reload()  # still signed in, her conversation still hers
        alice.get_by_test_id("stSidebar").get_by_role("button", name="Notes for the ACME pitch").wait_for(timeout=60_000)
