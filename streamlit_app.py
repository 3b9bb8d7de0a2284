"""Yoake: entry point and navigation. Run with `streamlit run streamlit_app.py`."""

from pathlib import Path

import streamlit as st

from ui.common import (
    apply_language,
    language_switch,
    oidc_sign_in_page,
    oidc_sign_in_required,
    password_required,
    sign_in_page,
    signed_in_sidebar,
)
from ui.i18n import N_, _

st.set_page_config(page_title="Yoake", page_icon="🌅", layout="wide")
apply_language()

PAGES_DIR = Path(__file__).parent / "pages"
# (file, title, icon); a page listed here appears once its script exists.
PAGES = [
    ("chat.py", N_("Chat"), "💬"),
    ("logprobs.py", N_("Logprobs explorer"), "🔍"),
    ("summarize.py", N_("URL summariser"), "📰"),
    ("docs_qa.py", N_("Docs Q&A"), "📚"),
    ("compare.py", N_("Compare"), "⚖️"),
    ("prompts.py", N_("Prompts"), "📝"),
    ("usage.py", N_("Usage"), "📊"),
]

if oidc_sign_in_required():
    # With [auth] configured (OpenID Connect), signing in is the only page until the visitor has:
    # every page's URL lands on it, and afterwards each visitor sees only their own work.
    pages = [st.Page(oidc_sign_in_page, title=_("Sign in"), icon="🔒")]
elif password_required():
    # While YOAKE_PASSWORD is set and not yet given, sign-in is the only page that exists:
    # any page's URL lands on it. Everyone with the password shares one workspace.
    pages = [st.Page(sign_in_page, title=_("Sign in"), icon="🔒")]
else:
    pages = [
        st.Page(f"pages/{file}", title=_(title), icon=icon, default=(file == "chat.py"))
        for file, title, icon in PAGES
        if (PAGES_DIR / file).is_file()
    ]
    signed_in_sidebar()
language_switch()
st.navigation(pages).run()
