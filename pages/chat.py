"""Chat: provider / model / sampling controls, personas, streamed replies with their cost, and
conversations saved as they happen, restored after a reload from `?c=`.

A thin view: widgets and state live in ui/chat_sidebar.py, the chat flow in lib/conversation/service.py."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from lib.conversation.service import ConversationService, Target, Turn, meta_caption
from lib.llm.chat import ChatParams, parse_seed, parse_stop
from ui import chat_prompt, chat_structured
from ui import chat_sidebar as sidebar
from ui.common import PERSIST, enter_page, error_message, model_picker, open_store, restarted_after, settings
from ui.i18n import _, language, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title(_("💬 Chat"))

state = st.session_state
sidebar.init_state()
store = open_store()
chat_prompt.init(store)
service = ConversationService(store)
# Using the page while a reply streams starts this run and ends the one streaming it (Streamlit's
# fast reruns). Stop that reply first, so its text so far is saved in its place (marked stopped)
# before anything typed since is added after it, and `restore` shows it.
sidebar.stop_active_reply(store)
current = sidebar.restore(store)

with st.sidebar:
    sidebar.conversations(store, current)
    selection = model_picker("chat", allow_auto=True, persist_state=PERSIST)
    sidebar.persona_and_parameters(store)
    chat_prompt.section(store)
    structured = chat_structured.controls(selection)
    sidebar.presets(store)
    sidebar.personas(store)
    sidebar.import_conversation(store)

seed, seed_error = parse_seed(state.chat_seed)
if seed_error:
    st.sidebar.error(_("{problem} Sending without one.").format(problem=tr(seed_error)))
sidebar.sync_settings(store)

# A message typed is queued by chat_input's callback (before any code of the run), so a run that
# is ended early never loses it; it leaves the queue only once it is saved in the conversation.
sending = False
if state.chat_pending and selection is not None and structured is not None:
    state.chat_error = None
    state.chat_history.append(Turn("user", state.chat_pending[0]))
    cid = service.ensure_saved(state.chat_conversation_id, state.chat_history, sidebar.snapshot())
    if state.chat_conversation_id is None:
        state.chat_conversation_id, state.chat_saved_settings = cid, sidebar.snapshot()
    state.chat_pending.pop(0)
    state.chat_sending = cid  # until its reply exists: a run ended before then leaves a stopped turn
    sending = True
if (
    structured is not None and selection is not None and (tool_results := chat_structured.take_results())
):  # the user's results of tool calls
    state.chat_error = None
    state.chat_history += tool_results
    state.chat_sending = service.ensure_saved(state.chat_conversation_id, state.chat_history, sidebar.snapshot())
    sending = True

chat_prompt.caption()
usd_jpy = settings().usd_jpy
for index, turn in enumerate(state.chat_history):
    with st.chat_message(turn.role, avatar="🔧" if turn.role == "tool" else None):
        if not chat_structured.show_turn(turn, state.chat_history, index):
            st.markdown(turn.content)
        if turn.stopped:
            st.caption(_("⏹️ Stopped: a new message (or another action) came before the reply ended."))
        elif turn.incomplete:
            st.caption(_("⚠️ Incomplete: the reply was cut off."))
        if turn.meta and not turn.stopped:
            st.caption(meta_caption(turn.meta, language(), usd_jpy))
for text in state.chat_pending:  # typed while the model was starting or unreachable: sent in turn
    with st.chat_message("user"):
        st.markdown(text)
        st.caption(_("⏳ Waiting to be sent."))


def _save() -> str:
    """The user's message is saved before the model is called."""
    cid = service.ensure_saved(state.chat_conversation_id, state.chat_history, sidebar.snapshot())
    if state.chat_conversation_id is None:
        state.chat_conversation_id = cid
        state.chat_saved_settings = sidebar.snapshot()
    st.query_params["c"] = cid
    return cid


def _send(*, retry_if_engine_died: bool = True) -> None:
    assert selection is not None
    params = ChatParams(
        model=selection.model,
        temperature=state.chat_temperature,
        top_p=state.chat_top_p,
        max_tokens=int(state.chat_max_tokens),
        seed=seed,
        presence_penalty=state.chat_presence or None,
        frequency_penalty=state.chat_frequency or None,
        stop=parse_stop(state.chat_stop),
    )
    ctx = replace(selection.context("chat"), prompt=state.chat_prompt_ref)  # calls of a chat from a version log it
    target = Target(selection.provider, selection.base_url, selection.client, ctx)
    reply = service.reply(
        _save(),
        state.chat_history,
        params,
        target,
        system_prompt=state.chat_system_prompt.strip() or None,
        use_cache=state.chat_cache,
        max_messages=int(state.chat_max_history),
        history_tokens=int(state.chat_history_budget),
        extra=structured.kwargs() if structured else None,
    )
    # Before the next Streamlit call (where a newer run can end this one): from here on it is
    # the reply that a newer run stops.
    state.chat_active, state.chat_sending = reply, None
    if reply.dropped:
        st.caption(_("{n} older message(s) were not sent (history limit).").format(n=reply.dropped))
    retry = False
    with st.chat_message("assistant"):
        try:
            st.write_stream(reply)
        except Exception as exc:  # the SDK's errors, shown (redacted) after the rerun
            if not reply.stopped:
                retry = retry_if_engine_died and restarted_after(exc, selection.provider)
                if not retry:
                    state.chat_error = chat_structured.error_text(exc, structured, selection) or error_message(
                        exc, selection.provider, selection.settings
                    )
    if retry:  # the engine had died: nothing was said (no turn saved); the same message to the restarted one
        reply.finish()
        state.chat_active, state.chat_sending = None, state.chat_conversation_id
        _send(retry_if_engine_died=False)
        return
    if reply.stopped:
        return  # a newer run stopped it, and shows it from the store
    chat_structured.after_reply(store, reply, reply.finish(), structured)
    state.chat_active = None
    st.rerun()  # the reply, saved as it streamed, is shown from the store (`restore`)


st.chat_input(_("Message the model…"), key="chat_input", on_submit=sidebar.queue_message, disabled=selection is None)
last = state.chat_history[-1] if state.chat_history else None
awaiting_reply = last is not None and last.role in ("user", "tool")
chat_structured.result_form(state.chat_history, disabled=selection is None or sending)

if state.chat_error:
    st.error(state.chat_error, icon="⚠️")
# (the button exists only while a message awaits its reply)
if awaiting_reply and not sending and selection is not None and st.button(_("↻ Re-send last message"), key="chat_resend"):
    state.chat_error = None
    state.chat_sending = state.chat_conversation_id
    _send()

if sending:
    _send()
