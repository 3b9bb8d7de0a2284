"""Docs Q&A's passages and turns on the page: file, place and score over the passage's own text (never
HTML), the sources a turn's answer cites, and the turn itself, in the visitor's language."""

from __future__ import annotations

import streamlit as st

from lib.core.text import md_text
from lib.docs_qa import Hit
from lib.docs_qa.answer import citations, is_not_found, not_found, passage_title
from ui.i18n import _, fmt_number, language, tr

CODE_KINDS = {"python": "python", "code": None}


def show_passage(hit: Hit) -> None:
    where = md_text(tr(hit.location) or _("whole file"))
    st.caption(_("{file} · {where} · score {score}").format(file=md_text(hit.source), where=where, score=f"{hit.score:.2f}"))
    if hit.kind in CODE_KINDS:
        st.code(hit.text, language=CODE_KINDS[hit.kind])
    else:
        st.text(hit.text)  # the file's text as it is, never rendered as HTML


def caption(stats: dict) -> str:
    """The line under an answer (model, passages sent, tokens, what was left out), worded when shown."""
    # (a message per English form, chosen by the count: Japanese has one)
    sent = (_("{n} passage sent") if stats["sent"] == 1 else _("{n} passages sent")).format(n=stats["sent"])
    if stats["dropped"]:
        sent = _("{sent} ({n} left out for room)").format(sent=sent, n=stats["dropped"])
    history = stats["history_dropped"]
    parts = [
        md_text(stats["model"]),
        sent,
        _("{input} in / {output} out").format(input=stats["input"], output=stats["output"]),
        (_("{n} earlier message not sent") if history == 1 else _("{n} earlier messages not sent")).format(n=fmt_number(history))
        if history
        else "",
        _("cut off (max tokens)") if stats["cut_off"] else "",
    ]
    return " · ".join(p for p in parts if p)


def show_turn_sources(turn: dict) -> None:
    passages: list[Hit] = turn["passages"]
    answer = turn["answer"]
    if not passages:
        return
    lang = language()
    cited, unknown = citations(answer, len(passages))
    if answer and is_not_found(answer):
        st.caption(_("The model found no answer in these passages."))
    sources = "**" + _("Sources") + "**"
    if cited:
        sources = _("{sources} (cited: {numbers})").format(sources=sources, numbers=", ".join(f"[{n}]" for n in cited))
    st.markdown(sources)
    for n, hit in enumerate(passages, 1):
        label = passage_title(n, hit, lang) + (" ✓ " + _("cited") if n in cited else "")
        with st.expander(label):
            if turn.get("truncated") and n == len(passages):
                st.caption(_("Only the beginning of this passage fit in the model's context."))
            show_passage(hit)
    if unknown:
        st.warning(
            _("The answer cites {numbers}, which is not one of the passages above.").format(
                numbers=", ".join(f"[{n}]" for n in unknown)
            ),
            icon="⚠️",
        )


def show_turn(turn: dict) -> None:
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant"):
        if turn.get("error"):
            st.error(turn["error"], icon="⚠️")
        if turn["answer"]:
            st.markdown(turn["answer"])
        if not turn["passages"]:
            st.info(tr(turn.get("notice")) or not_found(language()))
        if turn.get("stopped"):
            st.caption("⏹️ " + _("Stopped: the page was used before the answer ended."))
        if turn.get("stats"):
            st.caption(caption(turn["stats"]))
        show_turn_sources(turn)
