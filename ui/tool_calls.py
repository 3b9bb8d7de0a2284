"""Tool calls on the chat page: function definitions and tool_choice, a notice when the embedded model's
template has no tool support, the model's calls as cards with their arguments checked, and a result
typed (or a saved mock picked) for each call, sent back as `tool` messages."""

from __future__ import annotations

import json

import streamlit as st

from lib.structured.tools import (
    CHOICE_LABELS,
    CHOICES,
    TOOL_EXAMPLES,
    ToolCall,
    ToolDef,
    ToolsInvalid,
    load_tools,
    server_tool_support,
)
from ui.common import Selection
from ui.i18n import _, tr

state = st.session_state


def _use_example(prefix: str) -> None:
    ex = next(e for e in TOOL_EXAMPLES if e.key == state[f"{prefix}_tools_example"])
    state[f"{prefix}_tools_text"] = ex.text()


def tool_controls(prefix: str, selection: Selection | None) -> tuple[list[ToolDef], str, str | None]:
    """Tools to send and the tool_choice; a problem (already shown) means do not send."""
    state.setdefault(f"{prefix}_tools_on", False)
    state.setdefault(f"{prefix}_tools_example", TOOL_EXAMPLES[0].key)
    state.setdefault(f"{prefix}_tools_text", TOOL_EXAMPLES[0].text())
    state.setdefault(f"{prefix}_tool_choice", CHOICES[0])
    if not st.toggle(_("Send tools (function calling)"), key=f"{prefix}_tools_on"):
        return [], CHOICES[0], None
    examples = {e.key: _(e.label) for e in TOOL_EXAMPLES}
    st.selectbox(_("Example tools"), list(examples), format_func=examples.get, key=f"{prefix}_tools_example")
    st.button(_("Use example"), key=f"{prefix}_tools_use", on_click=_use_example, args=(prefix,))
    st.text_area(
        _("Function definitions (JSON list: name, description, parameters as a JSON schema)"),
        key=f"{prefix}_tools_text",
        height=220,
    )
    try:
        tools = load_tools(state[f"{prefix}_tools_text"])
    except ToolsInvalid as exc:
        problem = tr(exc.detail)
        st.error(_("{title} {detail} Nothing is sent until it is fixed.").format(title=tr(exc.title), detail=problem), icon="⚠️")
        return [], CHOICES[0], problem
    options = [*CHOICES, *(t.name for t in tools)]
    labels = {c: _(CHOICE_LABELS[c]) for c in CHOICES} | {t.name: _("force {name}").format(name=t.name) for t in tools}
    if state[f"{prefix}_tool_choice"] not in options:
        state[f"{prefix}_tool_choice"] = CHOICES[0]
    choice = st.selectbox("tool_choice", options, format_func=labels.get, key=f"{prefix}_tool_choice")
    _template_notice(selection)
    return tools, choice, None


def _template_notice(selection: Selection | None) -> None:
    """On llama.cpp, whether the model's chat template knows tools (asked once per server and model)."""
    if selection is None or not selection.provider.llama_cpp:
        return
    cache = state.setdefault("tools_template_support", {})
    key = f"{selection.base_url}|{selection.model}"
    if key not in cache:
        cache[key] = server_tool_support(selection.client, selection.base_url)
    if cache[key] is False:
        st.info(
            _(
                "This model's chat template has no tool support, so llama.cpp uses its generic tool format, "
                "which small models seldom follow: expect text instead of tool calls. A model whose template "
                "supports tools (Qwen 2.5, Llama 3.1 or later, Hermes, Mistral Nemo) calls them reliably."
            ),
            icon="ℹ️",
        )


def call_card(call: ToolCall, key: str, *, answered: str | None = None) -> None:
    """One tool call: its function, its arguments as written (checked), and its result if answered."""
    with st.container(border=True):
        st.markdown("🔧 **" + _("Tool call") + "** `" + call.name.replace("`", "'") + "`")
        st.caption(_("call id: {id}").format(id=call.id or "?"))
        try:
            pretty = json.dumps(json.loads(call.arguments), ensure_ascii=False, indent=2)
        except ValueError:
            pretty = call.arguments
        st.code(pretty, language="json")
        if call.error:
            st.error(tr(call.error), icon="⚠️")
        elif call.problems:
            st.warning(_("The arguments do not match the tool's parameters:"), icon="⚠️")
            for p in call.problems:
                st.text(f"{p.pointer or '/'}: {p.complaint}")
        else:
            st.caption(_("✅ The arguments match the tool's parameters."))
        if answered is not None:
            st.caption(_("Result sent:"))
            st.code(answered, language=None)
