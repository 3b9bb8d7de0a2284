"""Yoake: entry point and navigation. Run with `streamlit run streamlit_app.py`."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Yoake", page_icon="🌅", layout="wide")

PAGES_DIR = Path(__file__).parent / "pages"
# (file, title, icon); a page listed here appears once its script exists.
PAGES = [
    ("chat.py", "Chat", "💬"),
    ("logprobs.py", "Logprobs explorer", "🔍"),
    ("summarize.py", "URL summariser", "📰"),
    ("usage.py", "Usage", "📊"),
]

nav = st.navigation(
    [
        st.Page(f"pages/{file}", title=title, icon=icon, default=(file == "chat.py"))
        for file, title, icon in PAGES
        if (PAGES_DIR / file).is_file()
    ]
)
nav.run()
