"""URL summariser: a web page or PDF, pasted text/HTML or an uploaded file to a summary, long ones included."""

from __future__ import annotations

import hashlib

import streamlit as st

from lib.core.text import format_cost, md_text
from lib.summarize import LANGUAGES, STYLES, SummaryOptions, final_stream, map_reduce, plan, remember, token_counter
from lib.summarize.fetch import EXTRACTION_MODES, Document, FetchError, FetchLimits, from_text, load_upload, load_url
from ui.common import enter_page, error_message, model_picker, show_error

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("📰 URL summariser")

state = st.session_state
state.setdefault("sum_docs", {})  # this session's fetch cache: source key -> Document
state.setdefault("sum_summaries", {})  # this session's summary cache: (source, options, model) key -> summary
state.setdefault("sum_last", None)  # (source key, summary key) shown on reruns
state.setdefault("sum_error", None)  # the last failure's page text (redacted)
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
    with st.expander("Advanced"):
        mode = st.radio(
            "Extraction",
            EXTRACTION_MODES,
            key="sum_mode",
            horizontal=True,
            help="precision: less text, surely the article; recall: more text, may include page furniture.",
        )
        local_ctx = selection is None or selection.provider.local
        context = st.number_input(
            "Model context window (tokens)",
            1024,
            2_000_000,
            8192 if local_ctx else 128_000,
            step=1024,
            key=f"sum_context_{selection.provider.id if selection else 'none'}",
        )
        chunk_tokens = st.number_input("Chunk size (tokens)", 256, 200_000, 2000, step=250, key="sum_chunk")
        parallel = st.slider("Parallel chunk calls", 1, 8, 4, key="sum_parallel")
        chunk_max = st.number_input("Max tokens per chunk summary", 8, 4096, 256, key="sum_chunk_max")
        final_max = st.number_input("Max tokens of the summary (0 = from the length)", 0, 16384, 0, key="sum_max_tokens")
        temperature = st.slider("Temperature", 0.0, 1.5, 0.2, 0.05, key="sum_temperature")

source = st.radio("Source", ["URL", "Paste text or HTML", "Upload a file"], key="sum_source", horizontal=True)
if source == "URL":
    st.text_input("Web page URL", key="sum_url", placeholder="https://example.com/article or https://example.com/paper.pdf")
elif source == "Paste text or HTML":
    st.text_area("Text or HTML", key="sum_text", height=200, placeholder="Paste the article here…")
else:
    st.file_uploader("A .pdf, .html, .txt or .md file", type=["pdf", "html", "htm", "txt", "md"], key="sum_file")

col_style, col_lang, col_len = st.columns(3)
style = col_style.selectbox("Style", list(STYLES), format_func=STYLES.get, index=1, key="sum_style")
language = col_lang.selectbox("Output language", LANGUAGES, key="sum_language")
words = col_len.slider("Target length (words)", 20, 800, 150, 10, key="sum_words", disabled=style == "tldr")
custom = (
    st.text_input("Your instruction", key="sum_custom", placeholder="e.g. List the three main risks it names.")
    if style == "custom"
    else ""
)

options = SummaryOptions(
    style=style, custom_instruction=custom, language=language, target_words=int(words), temperature=float(temperature),
    final_max_tokens=int(final_max) or None, chunk_max_tokens=int(chunk_max), chunk_tokens=int(chunk_tokens),
    context_tokens=int(context), concurrency=int(parallel),
)  # fmt: skip

col_go, col_refresh, _ = st.columns([1, 1, 3])
go = col_go.button("Summarise", key="sum_go", type="primary", disabled=selection is None)
refresh = col_refresh.button(
    "↻ Refresh", key="sum_refresh", disabled=selection is None, help="Fetch and summarise again, bypassing this session's cache."
)


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
            raise FetchError("no_file", "No file uploaded.", "Choose a .pdf, .html, .txt or .md file first.")
        data = upload.getvalue()
        key = f"upload|{mode}|{upload.name}|{_digest(data)}"
        if bypass_cache or key not in state.sum_docs:
            remember(state.sum_docs, key, load_upload(data, upload.name, _limits(), mode))
    return key, state.sum_docs[key]


def _show_document(doc: Document) -> None:
    st.subheader(md_text(doc.title) if doc.title else "(untitled)")  # the page's own words: text, not markdown
    pages = doc.page_count
    facts = [
        f"by {md_text(doc.author)}" if doc.author else None,
        md_text(doc.date) if doc.date else None,
        md_text(doc.sitename) if doc.sitename else None,
        f"PDF, {pages} page{'s' if pages != 1 else ''}" if pages is not None else None,
        f"{doc.word_count:,} words",
    ]
    st.caption(" · ".join(f for f in facts if f))
    if doc.url:
        if doc.requested_url and doc.requested_url != doc.url:
            st.caption(f"Final URL after redirects: {md_text(doc.url)}")
        else:
            st.caption(f"URL: {md_text(doc.url)}")
    with st.expander("Extracted text"):
        st.text(doc.preview(30_000))  # text, never HTML; a PDF's with its page numbers


def _show_summary(entry: dict) -> None:
    st.markdown("#### Summary")
    st.markdown(entry["text"])
    if entry.get("incomplete"):
        st.caption("⚠️ The summary was cut off (max tokens reached or the stream broke).")
    st.caption(entry["caption"])


def _run(bypass_cache: bool) -> None:
    assert selection is not None
    state.sum_error = None
    state.sum_last = None
    state.sum_stopped = None
    try:
        doc_key, doc = _load_document(bypass_cache)
    except FetchError as exc:  # redacted like every error: a URL can carry a token
        state.sum_error = error_message(exc, None, selection.settings)
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
            f"Long page: {approx}{the_plan.text_tokens:,} tokens → **{len(the_plan.chunks)} chunks** "
            f"({the_plan.calls} model calls, up to {options.concurrency} at a time). Estimated "
            f"{the_plan.est_input_tokens:,} input + {the_plan.est_output_tokens:,} output tokens, "
            f"{format_cost(the_plan.est_cost_usd, 'about')}."
        )
        bar = st.progress(0.0, text=f"Summarising {len(the_plan.chunks)} chunks…")

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / total, text=f"{stage}: {done} of {total} done")
    else:
        on_progress = None  # type: ignore[assignment]
    try:
        messages = map_reduce(selection.client, doc, the_plan, options, model, ctx, counter, on_progress)
    except Exception as exc:  # the SDK's errors: a specific message, no stack trace
        show_error(exc, selection.provider, selection.settings)
        return
    st.markdown("#### Summary")
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
    calls = the_plan.calls
    usage = res.usage
    caption = " · ".join([
        md_text(res.resolved_model or model),
        f"{calls} call{'s' if calls > 1 else ''}" + (f" ({len(the_plan.chunks)} chunks)" if calls > 1 else ""),
        f"document {approx}{the_plan.text_tokens:,} tokens",
        f"final pass {usage.prompt_tokens if usage else '?'} in / {usage.completion_tokens if usage else '?'} out",
        format_cost(res.cost_usd) if calls == 1 else format_cost(the_plan.est_cost_usd, "about"),
    ])  # fmt: skip
    entry = {"text": res.text, "caption": caption, "incomplete": not res.complete}
    if res.error is None:
        remember(state.sum_summaries, summary_key, entry)
        state.sum_last = (doc_key, summary_key)
    if not res.complete:
        st.caption("⚠️ The summary was cut off (max tokens reached or the stream broke).")
    st.caption(caption)


if go or refresh:
    _run(bypass_cache=bool(refresh))
elif state.sum_stopped and state.sum_stopped[0] in state.sum_docs:
    _show_document(state.sum_docs[state.sum_stopped[0]])
    st.markdown("#### Summary")
    st.markdown(state.sum_stopped[1])
    st.caption("⏹️ Stopped: the page was used before the summary ended. Summarise again for the whole summary.")
elif state.sum_last:
    doc_key, summary_key = state.sum_last
    if doc_key in state.sum_docs and summary_key in state.sum_summaries:
        _show_document(state.sum_docs[doc_key])
        _show_summary(state.sum_summaries[summary_key])

if state.sum_error:
    st.error(state.sum_error, icon="⚠️")
