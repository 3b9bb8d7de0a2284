"""The chat sidebar's prompt section: start a chat from a saved prompt version (its variables filled in, its
system prompt, first user message and parameters applied; the conversation remembers `name@version`), and
save the persona in use as a prompt ("Save as prompt")."""

from __future__ import annotations

import streamlit as st

from lib.conversation.personas import CUSTOM_PERSONA, persona_label
from lib.conversation.service import ConversationService
from lib.core.text import md_text
from lib.prompts import PromptError
from lib.prompts.use import CHAT, persona_content, record
from lib.storage.db import StoreError
from lib.storage.store import Store
from ui import chat_sidebar as sidebar
from ui import prompt_picker as picker
from ui.i18n import _, language, tr

state = st.session_state

# A version's parameter -> the chat widget it sets (as that widget holds it).
_WIDGETS = {
    "temperature": ("chat_temperature", float),
    "top_p": ("chat_top_p", float),
    "max_tokens": ("chat_max_tokens", int),
    "seed": ("chat_seed", str),
    "presence_penalty": ("chat_presence", float),
    "frequency_penalty": ("chat_frequency", float),
}


def init(store: Store) -> None:
    """Session state, and a version handed over by the Prompts page (preselected, its form opened)."""
    picker.init("chat", CHAT, store)  # chat_prompt_ref: name@version the shown conversation was started from


def _start(store: Store) -> None:
    """A new conversation from the picked version: its system prompt and parameters in the sidebar, its first
    user message queued (sent by the page), `name@version` stored with the conversation."""
    try:
        ready = picker.current("chat", store)
    except PromptError as exc:
        state.chat_notice = ("error", tr(exc.detail))
        return
    sidebar.clear_conversation()
    state.chat_persona = CUSTOM_PERSONA
    state.chat_system_prompt = ready.system
    for name, value in ready.parameters.items():
        if name in _WIDGETS:
            key, kind = _WIDGETS[name]
            state[key] = kind(value)
    if ready.content.stop:
        state.chat_stop = "\n".join(ready.content.stop)
    if ready.content.model:
        state.chat_model = ready.content.model  # the model picker falls back if the provider does not offer it
    state.chat_prompt_ref = ready.ref
    cid = ConversationService(store).ensure_saved(None, [], sidebar.snapshot())
    state.chat_conversation_id, state.chat_saved_settings = cid, sidebar.snapshot()
    record(store, ready.ref, "conversation", cid)
    st.query_params["c"] = cid
    if ready.user:
        state.chat_pending.append(ready.user)  # the page sends it as the first message
    state.chat_prompt_open = False
    state.chat_notice = ("success", _("Started a chat from {ref}.").format(ref=md_text(ready.ref)))


def _save_persona_as_prompt(store: Store) -> None:
    name = " ".join(str(state.get("chat_pv_save_name") or "").split())
    try:
        content = persona_content(state.chat_system_prompt or "", float(state.chat_temperature)).to_dict()
        existing = store.find_prompt(name) if name else None
        if existing is None:
            store.create_prompt(name, content, _("Saved from the chat's persona"), source="persona")
            number = 1
        else:
            number = store.save_version(existing.id, content, _("Saved from the chat's persona"))
    except (PromptError, StoreError) as exc:
        state.chat_notice = ("error", tr(exc.detail))
        return
    state.chat_notice = ("success", _("Saved as the prompt {ref}.").format(ref=md_text(f"{name}@{number}")))


def section(store: Store) -> None:
    with st.expander("📝 " + _("Start from a prompt"), expanded=bool(state.chat_prompt_open)):
        ready, problem = picker.prepared("chat", store)
        if ready is not None or problem:
            if problem:
                st.caption(problem)
            st.button(
                _("💬 Start a chat with this version"),
                key="chat_prompt_start",
                type="primary",
                on_click=_start,
                args=(store,),
                disabled=ready is None,
                use_container_width=True,
            )
        st.divider()
        st.caption(_("Keep the persona in use (system prompt and temperature) as a prompt with versions:"))
        persona = state.get("chat_persona") or ""
        if state.get("chat_pv_save_for") != persona:  # the name follows the persona picked
            state.chat_pv_save_for = persona
            state.chat_pv_save_name = persona_label(persona, language()) if persona != CUSTOM_PERSONA else ""
        st.text_input(_("Prompt name"), key="chat_pv_save_name", max_chars=80)
        st.button(_("💾 Save as prompt"), key="chat_pv_save", on_click=_save_persona_as_prompt, args=(store,))


def caption() -> None:
    """Which prompt version the shown conversation was started from."""
    if state.get("chat_prompt_ref") and state.get("chat_conversation_id"):
        st.caption(_("📝 Started from the prompt version {ref}").format(ref=md_text(state.chat_prompt_ref)))
