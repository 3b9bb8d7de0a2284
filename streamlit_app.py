"""Yoake: entry point and navigation. Run with `streamlit run streamlit_app.py`."""

from pathlib import Path

import streamlit as st

from ui.common import password_required, sign_in_page

st.set_page_config(page_title="Yoake", page_icon="🌅", layout="wide")

PAGES_DIR = Path(__file__).parent / "pages"
# (file, title, icon); a page listed here appears once its script exists.
PAGES = [
    ("chat.py", "Chat", "💬"),
    ("logprobs.py", "Logprobs explorer", "🔍"),
    ("summarize.py", "URL summariser", "📰"),
    ("docs_qa.py", "Docs Q&A", "📚"),
    ("compare.py", "Compare", "⚖️"),
    ("usage.py", "Usage", "📊"),
]

if password_required():
    # While YOAKE_PASSWORD is set and not yet given, sign-in is the only page that exists:
    # any page's URL lands on it.
    pages = [st.Page(sign_in_page, title="Sign in", icon="🔒")]
else:
    pages = [
        st.Page(f"pages/{file}", title=title, icon=icon, default=(file == "chat.py"))
        for file, title, icon in PAGES
        if (PAGES_DIR / file).is_file()
    ]
st.navigation(pages).run()
