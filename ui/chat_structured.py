"""The chat page's hooks for structured output and tool calls: the sidebar controls, a saved turn shown
as JSON (coloured by confidence) or tool-call cards, the results the user sends back, and what is kept
with a reply. The widgets are ui/structured_view.py and ui/tool_calls.py; the logic lib/structured/."""

from __future__ import annotations

import streamlit as st

from lib.conversation.service import Reply, Turn
from lib.storage.store import Store
from lib.structured.request import StructuredRequest, from_meta, look, refusal, saved_meta
from lib.structured.tools import ToolCall, check_calls, mock_results
from ui.common import Selection
from ui.i18n import _, tr
from ui.structured_view import format_controls, show_reply
from ui.tool_calls import call_card, tool_controls

state = st.session_state


def controls(selection: Selection | None) -> StructuredRequest | None:
    """The sidebar's response format and tools; None while either has a problem (nothing is sent)."""
    state.setdefault("chat_tool_results", [])  # results the user sent, waiting for the page to send them on
    state.setdefault("chat_tool_error", None)
    on = state.get("chat_rf_mode", "text") != "text" or state.get("chat_tools_on", False)
    with st.expander(_("Structured output and tools"), expanded=on):
        fmt, fmt_problem = format_controls("chat")
        tools, choice, tools_problem = tool_controls("chat", selection)
    if fmt_problem or tools_problem:
        return None
    logprobs = selection is not None and selection.provider.supports_logprobs
    return StructuredRequest(fmt, tools, choice, logprobs)


def _calls(turn: Turn) -> list[ToolCall]:
    looked = from_meta(turn.content, turn.meta)
    return looked.calls if looked else check_calls(turn.tool_calls, [])


def show_turn(turn: Turn, history: list[Turn], index: int) -> bool:
    """Show a turn that is a tool result, a JSON reply or a reply with tool calls; False for any other
    turn (the page shows it as it always has)."""
    if turn.role == "tool":
        st.caption(_("Tool result for {id}").format(id=turn.tool_call_id or "?"))
        st.code(turn.content, language=None)
        return True
    if turn.role != "assistant" or turn.stopped:
        return False
    looked = from_meta(turn.content, turn.meta, "length" if turn.incomplete else "stop")
    if looked is None:
        return False
    if turn.content:
        st.code(turn.content, language="json" if looked.parsed else None)
    if looked.parsed:
        show_reply(looked, f"chat_sv_{turn.id}")
    answers = {t.tool_call_id: t.content for t in history[index + 1 :] if t.role == "tool"}
    for i, call in enumerate(looked.calls):
        call_card(call, f"chat_call_{turn.id}_{i}", answered=answers.get(call.id))
    return True


def _queue_results(calls: list[ToolCall], key: str) -> None:
    """The form's callback (before the script runs): every call's result, or an error."""
    results = []
    for i, call in enumerate(calls):
        typed = (state.get(f"{key}_{i}_result") or "").strip()
        text = typed or state.get(f"{key}_{i}_mock") or ""
        if not text:
            state.chat_tool_error = _("Type a result (or pick a mock result) for every tool call, then send.")
            return
        results.append(Turn.tool_result(call.id, call.name, text))
    state.chat_tool_error = None
    state.chat_tool_results = results


def result_form(history: list[Turn], disabled: bool) -> None:
    """Under a last reply that called tools: a result for each call (typed, or a saved mock)."""
    last = history[-1] if history else None
    if last is None or last.role != "assistant" or not last.tool_calls or last.stopped:
        return
    calls = _calls(last)
    key = f"chat_tr_{last.id}"
    with st.form(key=key, border=True):
        st.markdown("**" + _("Tool results") + "**")
        st.caption(_("Type what each tool returned (or pick a saved mock result); the model then continues."))
        for i, call in enumerate(calls):
            st.text_area(_("Result of {name} ({id})").format(name=call.name, id=call.id), key=f"{key}_{i}_result", height=80)
            mocks = mock_results(call.name)
            if mocks:
                st.selectbox(_("or a saved mock result"), ["", *mocks], key=f"{key}_{i}_mock")
        st.form_submit_button(_("Send tool results"), on_click=_queue_results, args=(calls, key), disabled=disabled)
    if state.chat_tool_error:
        st.error(state.chat_tool_error, icon="⚠️")


def take_results() -> list[Turn]:
    """Tool results the user sent (the page adds them to the conversation and sends)."""
    results, state.chat_tool_results = state.get("chat_tool_results") or [], []
    return results


def after_reply(store: Store, reply: Reply, turn: Turn | None, request: StructuredRequest | None) -> None:
    """Keep with a finished reply what it needs to be shown again: the format asked for, its field
    confidences and the tools it was offered."""
    if turn is None or turn.id is None or request is None or not request.active:
        return
    extra = saved_meta(request, look(reply.result, request), reply.result.finish_reason)
    if extra:
        store.update_message(turn.id, meta=(turn.meta or {}) | extra)


def error_text(exc: BaseException, request: StructuredRequest | None, selection: Selection) -> str | None:
    """A provider's refusal of the format or tools, worded as that (None: the usual message applies)."""
    refused = refusal(exc, request, selection.provider.label) if request else None
    return f"{tr(refused.title)} {tr(refused.detail)}" if refused else None
