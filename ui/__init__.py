"""Streamlit-side helpers shared by the pages (lib/ stays free of streamlit)."""
