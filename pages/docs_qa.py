"""Docs Q&A: questions about the user's own files, answered from retrieved passages with citations."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import streamlit as st

from lib.core.host_paths import host_path_access
from lib.core.i18n import Msg
from lib.docs_qa import DocsError, FileOutcome, SearchIndex, create_collection, list_collections, open_collection, tokenize
from lib.docs_qa.answer import NOT_FOUND, build_prompt, passage_title
from lib.docs_qa.extract import SUPPORTED
from lib.docs_qa.index import check_name, collections_root
from lib.docs_qa.wording import outcome_counts, status_label
from lib.llm.chat import ChatParams
from lib.llm.streams import ChatStream
from lib.summarize import token_counter
from ui import docs_qa_turns
from ui.common import current_visitor, enter_page, error_message, model_picker, settings, show_error
from ui.i18n import _, fmt_number, language, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

LANG = language()
KIND_LABELS = {"text": _("text"), "code": _("code")}  # the other kinds are format names (markdown, pdf, …)
st.title("📚 " + _("Docs Q&A"))
st.caption(_("Answers from your own files, citing the passages they come from. Search runs on this machine; "
             "only the question and the passages found go to the model."))  # fmt: skip

state = st.session_state
state.setdefault("qa_turns", {})  # collection -> list of turns (question, answer, passages, caption)
state.setdefault("qa_outcomes", None)  # (collection, what was done, [FileOutcome]) of the last add/rebuild
state.setdefault("qa_error", None)  # the last collection error (worded when shown)
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
    with st.expander(_("Answer settings")):
        k = st.slider(_("Passages retrieved"), 1, 20, 5, key="qa_k")
        local_ctx = selection is None or selection.provider.local
        context = st.number_input(_("Model context window (tokens)"), 1024, 2_000_000, 8192 if local_ctx else 128_000,
                                  step=1024, key=f"qa_context_{selection.provider.id if selection else 'none'}",
                                  help=_("The passages sent are cut to fit this, less the reply."))  # fmt: skip
        reply_tokens = st.number_input(_("Max tokens of the answer"), 16, 8192, 400, step=16, key="qa_max_tokens")
        temperature = st.slider(_("Temperature"), 0.0, 1.5, 0.1, 0.05, key="qa_temperature")
        followup = st.checkbox(_("Search with the previous question too"), value=True, key="qa_followup",
                               help=_("So that a follow-up such as 'and on Windows?' finds the same topic."))  # fmt: skip


# --- collections --------------------------------------------------------------------------------


def _create() -> None:
    try:
        coll = create_collection(DATA, state.get("qa_new_name", ""), owner=OWNER)
    except DocsError as exc:
        state.qa_error = exc
        return
    state.qa_error = None
    state.qa_collection = coll.name
    state.qa_new_name = ""


def _delete(name: str) -> None:
    try:
        open_collection(DATA, name, OWNER).delete()
    except (DocsError, OSError) as exc:
        state.qa_error = exc
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
name = st.selectbox(_("Collection"), names, key="qa_collection", placeholder=_("Create a collection first"))
with st.expander("➕ " + _("New collection"), expanded=not names):
    st.text_input(_("Name"), key="qa_new_name", placeholder=_("e.g. product-manual"), max_chars=63)
    st.button(_("Create"), key="qa_create", on_click=_create, type="primary")
if state.qa_error:
    failure = state.qa_error
    st.error(error_message(failure, None, cfg) if isinstance(failure, DocsError)
             else cfg.redact(_("**It could not be deleted.** {error}").format(error=failure)), icon="⚠️")  # fmt: skip

if not name:
    st.info(_("Create a collection, then add Markdown, text, code, HTML or PDF files to it."))
    st.stop()

try:
    coll = open_collection(DATA, name, OWNER)
except DocsError as exc:
    show_error(exc, None, cfg)
    sure = st.checkbox(_("Yes, delete it"), key="qa_delete_broken_confirm")
    st.button(_("Delete this collection"), key="qa_delete_broken", disabled=not sure, on_click=_delete_dir, args=(name,))
    st.stop()
coll.redact = cfg.redact
files = coll.files()


def _show_outcomes() -> None:
    if not state.qa_outcomes or state.qa_outcomes[0] != name:
        return
    _done, what, outcomes = state.qa_outcomes
    counts = Counter(o.status for o in outcomes)
    chunks = sum(o.chunks for o in outcomes if o.status in ("added", "updated"))
    summary = outcome_counts(counts, ("added", "updated", "unchanged", "removed", "skipped"), LANG) or _("nothing to do")
    text = (_("{what}: {summary} ({chunks} chunks indexed)") if chunks else _("{what}: {summary}")).format(
        what=tr(what), summary=summary, chunks=fmt_number(chunks)
    )
    (st.success if counts["added"] + counts["updated"] + counts["unchanged"] else st.warning)(text, icon="📄")
    problems = [o for o in outcomes if o.reason]  # skipped, removed, or kept with a note
    if problems:
        st.dataframe([{_("File"): cfg.redact(tr(o.source)), _("What happened"): status_label(o.status, LANG),
                       _("Why"): cfg.redact(tr(o.reason) or "")} for o in problems],
                     hide_index=True, width="stretch", key="qa_skipped_table")  # fmt: skip


def _record(what: str, outcomes: list[FileOutcome]) -> None:
    state.qa_outcomes = (name, what, outcomes)


# Uploads, or files of this machine under the policy (tests/test_host_access.py lists the widgets of this
# block, from 'with st.expander("Add documents"' to the outcomes: the English label is how it finds it).
with st.expander(_("Add documents"), expanded=not files):
    uploads = st.file_uploader(_("Upload files"), accept_multiple_files=True, key="qa_upload",
                               help=_("Markdown, text, source code, HTML or PDF. {extensions}").format(
                                   extensions=" ".join(SUPPORTED)))  # fmt: skip
    if st.button(_("Add uploaded files"), key="qa_add_files", disabled=not uploads):
        with st.spinner(_("Reading and indexing…")):
            _record(Msg("Uploads"), coll.add_uploads((u.name, u.getvalue()) for u in uploads or []))
        st.rerun()  # the file list and the index above reflect the new files
    if HOST_PATHS.allowed:
        roots = ", ".join(str(r) for r in HOST_PATHS.roots)
        path_text = st.text_input(_("Or a folder or file on this machine"), key="qa_path",
                                  placeholder=f"{HOST_PATHS.roots[0]}/docs",
                                  help=_("Read from the machine the app runs on, below {roots} (YOAKE_DOCS_ROOTS); changed "
                                         "files are re-indexed, files gone from the folder leave the collection.").format(
                                      roots=roots))  # fmt: skip
        if st.button(_("Index this path"), key="qa_add_path"):
            if not path_text.strip():
                _record(Msg("Path"), [FileOutcome(Msg("(no path)"), "skipped", 0, Msg("enter a folder or file path first"))])
            else:
                with st.spinner(_("Reading and indexing…")):
                    _record(f"'{path_text.strip()}'", coll.add_paths([path_text.strip()], HOST_PATHS))
                st.rerun()
    else:
        st.caption(_("Upload files to add them. {refusal}").format(refusal=tr(HOST_PATHS.refusal)))
    _show_outcomes()

with st.expander(_("Files in '{name}' ({n})").format(name=name, n=len(files))):
    if files:
        st.dataframe([{_("File"): cfg.redact(f.source), _("Type"): KIND_LABELS.get(f.kind, f.kind), _("Chunks"): f.chunks,
                       "KB": round(f.size / 1024, 1)} for f in files],
                     hide_index=True, width="stretch", key="qa_files_table")  # fmt: skip
    skipped = coll.skipped()
    if skipped:
        st.caption((_("{n} file skipped when last given:") if len(skipped) == 1
                    else _("{n} files skipped when last given:")).format(n=fmt_number(len(skipped))))  # fmt: skip
        st.dataframe(
            [{_("File"): cfg.redact(s), _("Why"): cfg.redact(tr(r))} for s, r in skipped],
            hide_index=True,
            width="stretch",
            key="qa_skipped_files",
        )
    col_rebuild, col_confirm, col_delete = st.columns(3)
    if col_rebuild.button(_("Rebuild"), key="qa_rebuild", help=_("Read every file again and re-chunk it.")):
        with st.spinner(_("Rebuilding…")):
            _record(Msg("Rebuild"), coll.rebuild(HOST_PATHS))
        st.rerun()
    sure = col_confirm.checkbox(_("Yes, delete it"), key="qa_delete_confirm")
    col_delete.button(_("Delete collection"), key="qa_delete", disabled=not sure, on_click=_delete, args=(name,))


@st.cache_resource(show_spinner=_("Loading the index…"), max_entries=8)
def _search_index(data_dir: str, owner: str, collection: str, version: int) -> SearchIndex:
    """One loaded index per owner's collection version, shared by that owner's sessions; a change
    makes a new version."""
    return open_collection(Path(data_dir), collection, owner).load_index()


try:
    index = _search_index(str(DATA), OWNER, name, coll.version())
except (sqlite3.Error, OSError, ValueError) as exc:  # a damaged database or index files
    st.error(cfg.redact(_("**The collection '{name}' cannot be read.** {error}. Try *Rebuild*, or delete it and add the "
                          "files again.").format(name=name, error=exc)), icon="⚠️")  # fmt: skip
    st.stop()
if len(index) == 0:
    st.info(_("'{name}' has no indexed text yet: add documents above.").format(name=name))
    st.stop()
# (a message per English form, chosen by the count: Japanese has one)
st.caption((_("{n} file") if len(files) == 1 else _("{n} files")).format(n=fmt_number(len(files))) + " · "
           + (_("{n} chunk") if len(index) == 1 else _("{n} chunks")).format(n=fmt_number(len(index))))  # fmt: skip

# --- tabs ---------------------------------------------------------------------------------------

tab_ask, tab_inspect = st.tabs(["💬 " + _("Ask"), "🔎 " + _("Retrieval inspector")])

with tab_inspect:
    query = st.text_input(_("Query"), key="qa_inspect_query", placeholder=_("What the retriever should find"))
    inspect_k = st.slider(_("Results"), 1, 50, 10, key="qa_inspect_k")
    if query.strip():
        hits = [h.redacted(cfg.redact) for h in index.search(query, inspect_k)]
        st.caption(_("Query tokens: {tokens}").format(tokens=", ".join(tokenize(query)) or _("(none)")))
        if not hits:
            st.info(_("No chunk shares a token with this query."))
        else:
            st.dataframe(
                [{"#": h.rank, _("Score"): round(h.score, 3), _("File"): h.name, _("Heading"): h.heading,
                  _("Where"): tr(h.location)} for h in hits],
                hide_index=True, width="stretch", key="qa_inspect_table",
            )  # fmt: skip
            for h in hits:
                with st.expander(passage_title(h.rank, h, LANG)):
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
    turn: dict = {"question": question, "answer": "", "passages": [], "stats": None, "error": None, "search": search}
    history = _history(turns)
    turns.append(turn)
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        if not hits:  # nothing to answer from: say so without a model call
            turn["notice"] = Msg("{not_found} No passage in '{name}' shares a word with the question.",
                                 not_found=Msg(NOT_FOUND), name=name)  # fmt: skip
            st.info(tr(turn["notice"]))
            return
        assert selection is not None
        counter = token_counter(selection.provider.id, selection.base_url)
        prompt = build_prompt(question, hits, history, context_tokens=int(context), reply_tokens=int(reply_tokens),
                              count=counter.count, lang=LANG)  # fmt: skip
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
        turn["stats"] = {
            "model": res.resolved_model or selection.model, "sent": len(prompt.passages), "dropped": prompt.dropped_passages,
            "input": usage.prompt_tokens if usage else approx + str(prompt.prompt_tokens),
            "output": usage.completion_tokens if usage else "?", "history_dropped": prompt.dropped_history,
            "cut_off": res.finish_reason == "length",
        }  # fmt: skip
        st.caption(docs_qa_turns.caption(turn["stats"]))
        docs_qa_turns.show_turn_sources(turn)


with tab_ask:
    turns: list[dict] = state.qa_turns.setdefault(name, [])
    conversation = st.container()  # above the input box, the new turn included
    with conversation:
        for past in turns:
            docs_qa_turns.show_turn(past)
    if selection is None:
        st.info(_("Choose a usable model in the sidebar to ask questions; the retrieval inspector works without one."))
    question = st.chat_input(_("Ask about the documents in '{name}'").format(name=name), key="qa_question",
                             disabled=selection is None)  # fmt: skip
    if question and question.strip() and selection is not None:
        with conversation:
            _ask(question.strip(), turns)
    if turns and st.button(_("Clear the conversation"), key="qa_clear"):
        turns.clear()
        st.rerun()
