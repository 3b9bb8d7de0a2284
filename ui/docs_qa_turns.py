"""Docs Q&A's passages and turns on the page: file, place and score over the passage's own text (never
HTML), the sources a turn's answer cites, and the turn itself."""

from __future__ import annotations

import streamlit as st

from lib.core.text import md_text
from lib.docs_qa import Hit
from lib.docs_qa.answer import NOT_FOUND, citations, is_not_found, passage_title

CODE_KINDS = {"python": "python", "code": None}


def show_passage(hit: Hit) -> None:
    st.caption(f"{md_text(hit.source)} · {md_text(hit.location or 'whole file')} · score {hit.score:.2f}")
    if hit.kind in CODE_KINDS:
        st.code(hit.text, language=CODE_KINDS[hit.kind])
    else:
        st.text(hit.text)  # the file's text as it is, never rendered as HTML


def show_turn_sources(turn: dict) -> None:
    passages: list[Hit] = turn["passages"]
    answer = turn["answer"]
    if not passages:
        return
    cited, unknown = citations(answer, len(passages))
    if answer and is_not_found(answer):
        st.caption("The model found no answer in these passages.")
    st.markdown("**Sources**" + (f" (cited: {', '.join(f'[{n}]' for n in cited)})" if cited else ""))
    for n, hit in enumerate(passages, 1):
        label = passage_title(n, hit) + (" ✓ cited" if n in cited else "")
        with st.expander(label):
            if turn.get("truncated") and n == len(passages):
                st.caption("Only the beginning of this passage fit in the model's context.")
            show_passage(hit)
    if unknown:
        st.warning(f"The answer cites {', '.join(f'[{n}]' for n in unknown)}, which is not one of the passages above.", icon="⚠️")


def show_turn(turn: dict) -> None:
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant"):
        if turn.get("error"):
            st.error(turn["error"], icon="⚠️")
        if turn["answer"]:
            st.markdown(turn["answer"])
        if not turn["passages"]:
            st.info(turn.get("notice") or NOT_FOUND)
        if turn.get("stopped"):
            st.caption("⏹️ Stopped: the page was used before the answer ended.")
        if turn.get("caption"):
            st.caption(turn["caption"])
        show_turn_sources(turn)
