"""URL summariser: a web page or PDF, pasted text/HTML or an uploaded file to a summary, long ones included."""

from __future__ import annotations

import hashlib

import streamlit as st

from lib.core.i18n import Msg
from lib.core.text import format_cost, md_text
from lib.summarize import (
    LANGUAGE_NAMES,
    LANGUAGES,
    STYLES,
    SummaryOptions,
    default_output_language,
    final_stream,
    map_reduce,
    plan,
    remember,
    token_counter,
)
from lib.summarize.fetch import EXTRACTION_MODES, Document, FetchError, FetchLimits, from_text, load_upload, load_url
from ui.common import enter_page, error_message, model_picker, settings, show_error
from ui.i18n import N_, _, fmt_number, language, ngettext, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

LANG = language()
st.title("📰 " + _("URL summariser"))
MODE_LABELS = {"balanced": _("balanced"), "precision": _("precision"), "recall": _("recall")}
SOURCES = [N_("URL"), N_("Paste text or HTML"), N_("Upload a file")]  # stored values; shown translated

state = st.session_state
state.setdefault("sum_docs", {})  # this session's fetch cache: source key -> Document
state.setdefault("sum_summaries", {})  # this session's summary cache: (source, options, model) key -> summary
state.setdefault("sum_last", None)  # (source key, summary key) shown on reruns
state.setdefault("sum_error", None)  # the last failure (worded, redacted, in the visitor's language when shown)
state.setdefault("sum_active", None)  # (source key, stream) of the summary streaming now
state.setdefault("sum_stopped", None)  # (source key, text) of a summary stopped part-way

# Using the page while a summary streams ends that run (Streamlit starts this one beside it): stop
# its call, which frees the engine's slot, and keep what arrived, shown as stopped until the next summary.
if state.sum_active is not None:
    (stopped_key, stopped_stream), state.sum_active = state.sum_active, None
    stopped_stream.cancel()
    if stopped_stream.result.text:
        state.sum_stopped = (stopped_key, stopped_stream.result.text)

with st.sidebar:
    selection = model_picker("sum")
    with st.expander(_("Advanced")):
        mode = st.radio(
            _("Extraction"),
            EXTRACTION_MODES,
            format_func=MODE_LABELS.__getitem__,
            key="sum_mode",
            horizontal=True,
            help=_("precision: less text, surely the article; recall: more text, may include page furniture."),
        )
        local_ctx = selection is None or selection.provider.local
        context = st.number_input(
            _("Model context window (tokens)"),
            1024,
            2_000_000,
            8192 if local_ctx else 128_000,
            step=1024,
            key=f"sum_context_{selection.provider.id if selection else 'none'}",
        )
        chunk_tokens = st.number_input(_("Chunk size (tokens)"), 256, 200_000, 2000, step=250, key="sum_chunk")
        parallel = st.slider(_("Parallel chunk calls"), 1, 8, 4, key="sum_parallel")
        chunk_max = st.number_input(_("Max tokens per chunk summary"), 8, 4096, 256, key="sum_chunk_max")
        final_max = st.number_input(_("Max tokens of the summary (0 = from the length)"), 0, 16384, 0, key="sum_max_tokens")
        temperature = st.slider(_("Temperature"), 0.0, 1.5, 0.2, 0.05, key="sum_temperature")

source = st.radio(_("Source"), SOURCES, format_func=_, key="sum_source", horizontal=True)
if source == "URL":
    st.text_input(_("Web page URL"), key="sum_url", placeholder=_("https://example.com/article or https://example.com/paper.pdf"))
elif source == "Paste text or HTML":
    st.text_area(_("Text or HTML"), key="sum_text", height=200, placeholder=_("Paste the article here…"))
else:
    st.file_uploader(_("A .pdf, .html, .txt or .md file"), type=["pdf", "html", "htm", "txt", "md"], key="sum_file")

col_style, col_lang, col_len = st.columns(3)
style = col_style.selectbox(_("Style"), list(STYLES), format_func=lambda s: tr(STYLES[s]), index=1, key="sum_style")
state.setdefault("sum_language", default_output_language(LANG))  # a Japanese visitor: a Japanese summary
output_language = col_lang.selectbox(
    _("Output language"), LANGUAGES, format_func=lambda v: tr(LANGUAGE_NAMES[v]), key="sum_language"
)
words = col_len.slider(
    _("Target length (words)"), 20, 800, 150, 10, key="sum_words", disabled=style == "tldr",
    help=_("Japanese, Chinese and Korean summaries are asked for in characters, about two per word."),
)  # fmt: skip
custom = (
    st.text_input(_("Your instruction"), key="sum_custom", placeholder=_("e.g. List the three main risks it names."))
    if style == "custom"
    else ""
)

options = SummaryOptions(
    style=style, custom_instruction=custom, language=output_language, target_words=int(words), temperature=float(temperature),
    final_max_tokens=int(final_max) or None, chunk_max_tokens=int(chunk_max), chunk_tokens=int(chunk_tokens),
    context_tokens=int(context), concurrency=int(parallel), lang=LANG,
)  # fmt: skip

col_go, col_refresh, _spacer = st.columns([1, 1, 3])
go = col_go.button(_("Summarise"), key="sum_go", type="primary", disabled=selection is None)
refresh = col_refresh.button(
    _("↻ Refresh"), key="sum_refresh", disabled=selection is None,
    help=_("Fetch and summarise again, bypassing this session's cache."),
)  # fmt: skip


def _limits() -> FetchLimits:
    return FetchLimits.from_settings(selection.settings) if selection else FetchLimits()


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:20]


def _load_document(bypass_cache: bool) -> tuple[str, Document]:
    """(cache key, document) for the chosen source; FetchError when it cannot be read."""
    if source == "URL":
        raw = state.get("sum_url", "")
        key = f"url|{mode}|{raw.strip()}"
        if bypass_cache or key not in state.sum_docs:
            remember(state.sum_docs, key, load_url(raw, _limits(), mode))
    elif source == "Paste text or HTML":
        text = state.get("sum_text", "")
        key = f"paste|{mode}|{_digest(text)}"
        if bypass_cache or key not in state.sum_docs:
            remember(state.sum_docs, key, from_text(text, source="paste", mode=mode))
    else:
        upload = state.get("sum_file")
        if upload is None:
            raise FetchError("no_file", Msg("No file uploaded."), Msg("Choose a .pdf, .html, .txt or .md file first."))
        data = upload.getvalue()
        key = f"upload|{mode}|{upload.name}|{_digest(data)}"
        if bypass_cache or key not in state.sum_docs:
            remember(state.sum_docs, key, load_upload(data, upload.name, _limits(), mode))
    return key, state.sum_docs[key]


def _show_document(doc: Document) -> None:
    st.subheader(md_text(doc.title) if doc.title else _("(untitled)"))  # the page's own words: text, not markdown
    pages = doc.page_count
    facts = [
        _("by {author}").format(author=md_text(doc.author)) if doc.author else None,
        md_text(doc.date) if doc.date else None,
        md_text(doc.sitename) if doc.sitename else None,
        # (a message per English form, chosen by the count: Japanese has one)
        (_("PDF, {n} page") if pages == 1 else _("PDF, {n} pages")).format(n=fmt_number(pages)) if pages is not None else None,
        (_("{n} word") if doc.word_count == 1 else _("{n} words")).format(n=fmt_number(doc.word_count)),
    ]
    st.caption(" · ".join(f for f in facts if f))
    if doc.url:
        if doc.requested_url and doc.requested_url != doc.url:
            st.caption(_("Final URL after redirects: {url}").format(url=md_text(doc.url)))
        else:
            st.caption(_("URL: {url}").format(url=md_text(doc.url)))
    with st.expander(_("Extracted text")):
        st.text(doc.preview(30_000, LANG))  # text, never HTML; a PDF's with its page numbers


def _caption(facts: dict) -> str:
    """The line under a summary, worded now (a cached summary's too) in the visitor's language."""
    calls, chunks = facts["calls"], facts["chunks"]
    usd_jpy = settings().usd_jpy
    cost = (
        format_cost(facts["cost"], lang=LANG, usd_jpy=usd_jpy)
        if calls == 1
        else format_cost(facts["estimate"], "about", lang=LANG, usd_jpy=usd_jpy)
    )
    return " · ".join([
        md_text(facts["model"]),
        _("{calls} calls ({chunks} chunks)").format(calls=calls, chunks=chunks) if calls > 1
        else ngettext("{n} call", "{n} calls", calls).format(n=calls),
        _("document {tokens} tokens").format(tokens=facts["approx"] + fmt_number(facts["tokens"])),
        _("final pass {input} in / {output} out").format(input=facts["input"], output=facts["output"]),
        cost,
    ])  # fmt: skip


def _cut_off() -> None:
    st.caption("⚠️ " + _("The summary was cut off (max tokens reached or the stream broke)."))


def _show_summary(entry: dict) -> None:
    st.markdown("#### " + _("Summary"))
    st.markdown(entry["text"])
    if entry.get("incomplete"):
        _cut_off()
    st.caption(_caption(entry["facts"]))


def _run(bypass_cache: bool) -> None:
    assert selection is not None
    state.sum_error = None
    state.sum_last = None
    state.sum_stopped = None
    try:
        doc_key, doc = _load_document(bypass_cache)
    except FetchError as exc:  # redacted when shown like every error: a URL can carry a token
        state.sum_error = exc
        return
    _show_document(doc)
    model = selection.model
    summary_key = f"{doc_key}|{selection.provider.id}|{model}|{options!r}"
    if not bypass_cache and summary_key in state.sum_summaries:
        state.sum_last = (doc_key, summary_key)
        _show_summary(state.sum_summaries[summary_key])
        return
    ctx = selection.context("summarize")
    counter = token_counter(selection.provider.id, selection.base_url)
    the_plan = plan(doc, options, counter, model=model, local=selection.provider.local, prices=ctx.prices)
    approx = "" if the_plan.exact else "~"
    if not the_plan.single:
        st.info(
            _("Long page: {tokens} tokens → **{chunks} chunks** ({calls} model calls, up to {parallel} at a time). "
              "Estimated {input} input + {output} output tokens, {cost}.").format(
                tokens=approx + fmt_number(the_plan.text_tokens), chunks=len(the_plan.chunks), calls=the_plan.calls,
                parallel=options.concurrency, input=fmt_number(the_plan.est_input_tokens),
                output=fmt_number(the_plan.est_output_tokens),
                cost=format_cost(the_plan.est_cost_usd, "about", lang=LANG, usd_jpy=settings().usd_jpy),
            )
        )  # fmt: skip
        bar = st.progress(0.0, text=_("Summarising {n} chunks…").format(n=len(the_plan.chunks)))

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / total, text=_("{stage}: {done} of {total} done").format(stage=tr(stage), done=done, total=total))
    else:
        on_progress = None  # type: ignore[assignment]
    try:
        messages = map_reduce(selection.client, doc, the_plan, options, model, ctx, counter, on_progress)
    except Exception as exc:  # the SDK's errors: a specific message, no stack trace
        show_error(exc, selection.provider, selection.settings)
        return
    st.markdown("#### " + _("Summary"))
    stream = final_stream(selection.client, messages, options, model, ctx)
    state.sum_active = (doc_key, stream)
    try:
        st.write_stream(stream)
    except Exception as exc:
        show_error(exc, selection.provider, selection.settings)
    if stream.cancelled:
        return  # a newer run stopped it and shows what arrived
    state.sum_active = None
    res = stream.result
    if not res.text:
        return
    usage = res.usage
    facts = {
        "model": res.resolved_model or model, "calls": the_plan.calls, "chunks": len(the_plan.chunks), "approx": approx,
        "tokens": the_plan.text_tokens, "input": usage.prompt_tokens if usage else "?",
        "output": usage.completion_tokens if usage else "?", "cost": res.cost_usd, "estimate": the_plan.est_cost_usd,
    }  # fmt: skip
    entry = {"text": res.text, "facts": facts, "incomplete": not res.complete}
    if res.error is None:
        remember(state.sum_summaries, summary_key, entry)
        state.sum_last = (doc_key, summary_key)
    if not res.complete:
        _cut_off()
    st.caption(_caption(facts))


if go or refresh:
    _run(bypass_cache=bool(refresh))
elif state.sum_stopped and state.sum_stopped[0] in state.sum_docs:
    _show_document(state.sum_docs[state.sum_stopped[0]])
    st.markdown("#### " + _("Summary"))
    st.markdown(state.sum_stopped[1])
    st.caption("⏹️ " + _("Stopped: the page was used before the summary ended. Summarise again for the whole summary."))
elif state.sum_last:
    doc_key, summary_key = state.sum_last
    if doc_key in state.sum_docs and summary_key in state.sum_summaries:
        _show_document(state.sum_docs[doc_key])
        _show_summary(state.sum_summaries[summary_key])

if state.sum_error:
    st.error(error_message(state.sum_error, None, settings()), icon="⚠️")
