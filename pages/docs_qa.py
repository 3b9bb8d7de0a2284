"""Docs Q&A: questions about the user's own files, answered from retrieved passages with citations."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import streamlit as st

from lib.core.host_paths import host_path_access
from lib.docs_qa import DocsError, FileOutcome, SearchIndex, create_collection, list_collections, open_collection, tokenize
from lib.docs_qa.answer import NOT_FOUND, build_prompt, passage_title
from lib.docs_qa.extract import SUPPORTED
from lib.docs_qa.index import check_name, collections_root
from lib.llm.chat import ChatParams
from lib.llm.streams import ChatStream
from lib.summarize import token_counter
from ui import docs_qa_turns
from ui.common import current_visitor, enter_page, error_message, model_picker, settings, show_error

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("📚 Docs Q&A")
st.caption("Answers from your own files, citing the passages they come from. Search runs on this machine; "
           "only the question and the passages found go to the model.")  # fmt: skip

state = st.session_state
state.setdefault("qa_turns", {})  # collection -> list of turns (question, answer, passages, caption)
state.setdefault("qa_outcomes", None)  # (collection, what was done, [FileOutcome]) of the last add/rebuild
state.setdefault("qa_error", None)  # the last collection error's page text
state.setdefault("qa_active", None)  # (turn, stream) of the answer streaming now

# A question asked (or the page used) while an answer streams ends that run: stop its call and keep
# the turn in its place with what arrived, marked stopped, before the new question is added.
if state.qa_active is not None:
    (stopped_turn, stopped_stream), state.qa_active = state.qa_active, None
    stopped_stream.cancel()
    stopped_turn.update(answer=stopped_stream.result.text, stopped=True)

cfg = settings()
DATA = cfg.data_dir
VISITOR = current_visitor()
OWNER = VISITOR.owner  # collections are per signed-in visitor (one owner, `local`, on a laptop)
HOST_PATHS = host_path_access(cfg, VISITOR)  # which of the server's files this visitor may index (lib/core/host_paths.py)

with st.sidebar:
    selection = model_picker("qa")
    with st.expander("Answer settings"):
        k = st.slider("Passages retrieved", 1, 20, 5, key="qa_k")
        local_ctx = selection is None or selection.provider.local
        context = st.number_input("Model context window (tokens)", 1024, 2_000_000, 8192 if local_ctx else 128_000, step=1024,
                                  key=f"qa_context_{selection.provider.id if selection else 'none'}",
                                  help="The passages sent are cut to fit this, less the reply.")  # fmt: skip
        reply_tokens = st.number_input("Max tokens of the answer", 16, 8192, 400, step=16, key="qa_max_tokens")
        temperature = st.slider("Temperature", 0.0, 1.5, 0.1, 0.05, key="qa_temperature")
        followup = st.checkbox("Search with the previous question too", value=True, key="qa_followup",
                               help="So that a follow-up such as 'and on Windows?' finds the same topic.")  # fmt: skip


# --- collections --------------------------------------------------------------------------------


def _create() -> None:
    try:
        coll = create_collection(DATA, state.get("qa_new_name", ""), owner=OWNER)
    except DocsError as exc:
        state.qa_error = error_message(exc, None, cfg)
        return
    state.qa_error = None
    state.qa_collection = coll.name
    state.qa_new_name = ""


def _delete(name: str) -> None:
    try:
        open_collection(DATA, name, OWNER).delete()
    except (DocsError, OSError) as exc:
        state.qa_error = (
            error_message(exc, None, cfg) if isinstance(exc, DocsError) else cfg.redact(f"**It could not be deleted.** {exc}")
        )
        return
    state.qa_turns.pop(name, None)
    state.qa_outcomes = None
    state.qa_delete_confirm = False
    state.pop("qa_collection", None)


def _delete_dir(name: str) -> None:
    """Delete a collection that cannot even be opened (its folder, whatever is in it)."""
    shutil.rmtree(collections_root(DATA, OWNER) / check_name(name), ignore_errors=True)
    state.qa_turns.pop(name, None)
    state.qa_outcomes = None
    state.pop("qa_collection", None)


names = list_collections(DATA, OWNER)
if state.get("qa_collection") not in names:
    state.pop("qa_collection", None)
if names:
    state.setdefault("qa_collection", names[0])
name = st.selectbox("Collection", names, key="qa_collection", placeholder="Create a collection first")
with st.expander("➕ New collection", expanded=not names):
    st.text_input("Name", key="qa_new_name", placeholder="e.g. product-manual", max_chars=63)
    st.button("Create", key="qa_create", on_click=_create, type="primary")
if state.qa_error:
    st.error(state.qa_error, icon="⚠️")

if not name:
    st.info("Create a collection, then add Markdown, text, code, HTML or PDF files to it.")
    st.stop()

try:
    coll = open_collection(DATA, name, OWNER)
except DocsError as exc:
    show_error(exc, None, cfg)
    sure = st.checkbox("Yes, delete it", key="qa_delete_broken_confirm")
    st.button("Delete this collection", key="qa_delete_broken", disabled=not sure, on_click=_delete_dir, args=(name,))
    st.stop()
coll.redact = cfg.redact
files = coll.files()


def _show_outcomes() -> None:
    if not state.qa_outcomes or state.qa_outcomes[0] != name:
        return
    _, what, outcomes = state.qa_outcomes
    counts = Counter(o.status for o in outcomes)
    chunks = sum(o.chunks for o in outcomes if o.status in ("added", "updated"))
    summary = ", ".join(f"{counts[s]} {s}" for s in ("added", "updated", "unchanged", "removed", "skipped") if counts[s])
    (st.success if counts["added"] + counts["updated"] + counts["unchanged"] else st.warning)(
        f"{what}: {summary or 'nothing to do'}" + (f" ({chunks:,} chunks indexed)" if chunks else ""), icon="📄"
    )
    problems = [o for o in outcomes if o.reason]  # skipped, removed, or kept with a note
    if problems:
        st.dataframe([{"File": cfg.redact(o.source), "What happened": o.status, "Why": cfg.redact(o.reason or "")} for o in problems],
                     hide_index=True, width="stretch", key="qa_skipped_table")  # fmt: skip


def _record(what: str, outcomes: list[FileOutcome]) -> None:
    state.qa_outcomes = (name, what, outcomes)


with st.expander("Add documents", expanded=not files):
    uploads = st.file_uploader("Upload files", accept_multiple_files=True, key="qa_upload",
                               help="Markdown, text, source code, HTML or PDF. " + " ".join(SUPPORTED))  # fmt: skip
    if st.button("Add uploaded files", key="qa_add_files", disabled=not uploads):
        with st.spinner("Reading and indexing…"):
            _record("Uploads", coll.add_uploads((u.name, u.getvalue()) for u in uploads or []))
        st.rerun()  # the file list and the index above reflect the new files
    if HOST_PATHS.allowed:
        roots = ", ".join(str(r) for r in HOST_PATHS.roots)
        path_text = st.text_input("Or a folder or file on this machine", key="qa_path", placeholder=f"{HOST_PATHS.roots[0]}/docs",
                                  help=f"Read from the machine the app runs on, below {roots} (YOAKE_DOCS_ROOTS); changed "
                                  "files are re-indexed, files gone from the folder leave the collection.")  # fmt: skip
        if st.button("Index this path", key="qa_add_path"):
            if not path_text.strip():
                _record("Path", [FileOutcome("(no path)", "skipped", 0, "enter a folder or file path first")])
            else:
                with st.spinner("Reading and indexing…"):
                    _record(f"'{path_text.strip()}'", coll.add_paths([path_text.strip()], HOST_PATHS))
                st.rerun()
    else:
        st.caption(f"Upload files to add them. {HOST_PATHS.refusal}")
    _show_outcomes()

with st.expander(f"Files in '{name}' ({len(files)})"):
    if files:
        st.dataframe([{"File": cfg.redact(f.source), "Type": f.kind, "Chunks": f.chunks, "KB": round(f.size / 1024, 1)} for f in files],
                     hide_index=True, width="stretch", key="qa_files_table")  # fmt: skip
    skipped = coll.skipped()
    if skipped:
        st.caption(f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped when last given:")
        st.dataframe(
            [{"File": cfg.redact(s), "Why": cfg.redact(r)} for s, r in skipped],
            hide_index=True,
            width="stretch",
            key="qa_skipped_files",
        )
    col_rebuild, col_confirm, col_delete = st.columns(3)
    if col_rebuild.button("Rebuild", key="qa_rebuild", help="Read every file again and re-chunk it."):
        with st.spinner("Rebuilding…"):
            _record("Rebuild", coll.rebuild(HOST_PATHS))
        st.rerun()
    sure = col_confirm.checkbox("Yes, delete it", key="qa_delete_confirm")
    col_delete.button("Delete collection", key="qa_delete", disabled=not sure, on_click=_delete, args=(name,))


@st.cache_resource(show_spinner="Loading the index…", max_entries=8)
def _search_index(data_dir: str, owner: str, collection: str, version: int) -> SearchIndex:
    """One loaded index per owner's collection version, shared by that owner's sessions; a change
    makes a new version."""
    return open_collection(Path(data_dir), collection, owner).load_index()


try:
    index = _search_index(str(DATA), OWNER, name, coll.version())
except (sqlite3.Error, OSError, ValueError) as exc:  # a damaged database or index files
    st.error(cfg.redact(f"**The collection '{name}' cannot be read.** {exc}. Try *Rebuild*, or delete it and add the files again."),
             icon="⚠️")  # fmt: skip
    st.stop()
if len(index) == 0:
    st.info(f"'{name}' has no indexed text yet: add documents above.")
    st.stop()
st.caption(f"{len(files)} files · {len(index):,} chunks")

# --- tabs ---------------------------------------------------------------------------------------

tab_ask, tab_inspect = st.tabs(["💬 Ask", "🔎 Retrieval inspector"])

with tab_inspect:
    query = st.text_input("Query", key="qa_inspect_query", placeholder="What the retriever should find")
    inspect_k = st.slider("Results", 1, 50, 10, key="qa_inspect_k")
    if query.strip():
        hits = [h.redacted(cfg.redact) for h in index.search(query, inspect_k)]
        st.caption("Query tokens: " + (", ".join(tokenize(query)) or "(none)"))
        if not hits:
            st.info("No chunk shares a token with this query.")
        else:
            st.dataframe(
                [{"#": h.rank, "Score": round(h.score, 3), "File": h.name, "Heading": h.heading, "Where": h.location} for h in hits],
                hide_index=True, width="stretch", key="qa_inspect_table",
            )  # fmt: skip
            for h in hits:
                with st.expander(passage_title(h.rank, h)):
                    docs_qa_turns.show_passage(h)


def _history(turns: list[dict]) -> list:
    out: list = []
    for t in turns:
        if t["answer"] and not t.get("error"):
            out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out


def _ask(question: str, turns: list[dict]) -> None:
    """Retrieve, then stream the answer; the turn is kept in `turns` from the start (a newer run may
    stop it part-way)."""
    search = question
    if followup and turns:
        search = f"{turns[-1]['question']} {question}"
    hits = [h.redacted(cfg.redact) for h in index.search(search, k)]
    turn: dict = {"question": question, "answer": "", "passages": [], "caption": "", "error": None, "search": search}
    history = _history(turns)
    turns.append(turn)
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        if not hits:  # nothing to answer from: say so without a model call
            turn["notice"] = f"{NOT_FOUND} No passage in '{name}' shares a word with the question."
            st.info(turn["notice"])
            return
        assert selection is not None
        counter = token_counter(selection.provider.id, selection.base_url)
        prompt = build_prompt(question, hits, history, context_tokens=int(context), reply_tokens=int(reply_tokens),
                              count=counter.count)  # fmt: skip
        turn["passages"], turn["truncated"] = prompt.passages, prompt.truncated
        params = ChatParams(model=selection.model, temperature=float(temperature), max_tokens=int(reply_tokens), seed=0)
        stream = ChatStream(selection.client, prompt.messages, params, selection.context("docs_qa"))
        state.qa_active = (turn, stream)
        try:
            st.write_stream(stream)
        except Exception as exc:  # the SDK's errors: a specific message, no stack trace
            if not stream.cancelled:
                turn["error"] = error_message(exc, selection.provider, selection.settings)
                st.error(turn["error"], icon="⚠️")
        if stream.cancelled:
            return  # a newer run stopped it and shows the turn
        state.qa_active = None
        res = stream.result
        turn["answer"] = res.text
        usage = res.usage
        approx = "" if counter.exact else "~"
        turn["caption"] = " · ".join(x for x in [
            res.resolved_model or selection.model,
            f"{len(prompt.passages)} passage{'s' if len(prompt.passages) != 1 else ''} sent"
            + (f" ({prompt.dropped_passages} left out for room)" if prompt.dropped_passages else ""),
            f"{usage.prompt_tokens if usage else approx + str(prompt.prompt_tokens)} in / {usage.completion_tokens if usage else '?'} out",
            f"{prompt.dropped_history} earlier messages not sent" if prompt.dropped_history else "",
            "cut off (max tokens)" if res.finish_reason == "length" else "",
        ] if x)  # fmt: skip
        st.caption(turn["caption"])
        docs_qa_turns.show_turn_sources(turn)


with tab_ask:
    turns: list[dict] = state.qa_turns.setdefault(name, [])
    conversation = st.container()  # above the input box, the new turn included
    with conversation:
        for past in turns:
            docs_qa_turns.show_turn(past)
    if selection is None:
        st.info("Choose a usable model in the sidebar to ask questions; the retrieval inspector works without one.")
    question = st.chat_input(f"Ask about the documents in '{name}'", key="qa_question", disabled=selection is None)
    if question and question.strip() and selection is not None:
        with conversation:
            _ask(question.strip(), turns)
    if turns and st.button("Clear the conversation", key="qa_clear"):
        turns.clear()
        st.rerun()
