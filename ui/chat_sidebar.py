"""The chat page's sidebar and session state: conversations, this conversation, personas, presets and
import. Widget code only; storage is lib/storage/ and the chat flow lib/conversation/service.py."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from lib.conversation.io import MAX_IMPORT_BYTES, ImportRejected, clean_params, export_json, export_markdown, parse_import
from lib.conversation.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name, persona_label, reserved_names
from lib.conversation.service import ChatSettings, turns_of
from lib.llm.providers import PROVIDERS
from lib.storage.conversations import Conversation
from lib.storage.db import StoreError
from lib.storage.store import Store
from ui.common import PERSIST
from ui.i18n import _, fmt_datetime, language, tr

# Saved parameter name -> widget key (what a conversation or preset restores).
PARAM_KEYS = {
    "temperature": "chat_temperature",
    "top_p": "chat_top_p",
    "max_tokens": "chat_max_tokens",
    "seed": "chat_seed",
    "presence_penalty": "chat_presence",
    "frequency_penalty": "chat_frequency",
    "stop": "chat_stop",
    "max_history": "chat_max_history",
    "history_budget": "chat_history_budget",
}

state = st.session_state


def init_state() -> None:
    state.setdefault("chat_history", [])  # list[Turn]
    state.setdefault("chat_pending", [])  # messages typed and not yet saved in the conversation
    state.setdefault("chat_active", None)  # the Reply streaming in this session's latest send
    state.setdefault("chat_sending", None)  # the conversation a send began in, until its Reply exists
    state.setdefault("chat_error", None)  # last failure, shown until the next send
    state.setdefault("chat_notice", None)  # (kind, text) from the last sidebar action
    state.setdefault("chat_conversation_id", None)  # the saved conversation shown (None: not saved yet)
    state.setdefault("chat_saved_settings", None)
    state.setdefault("chat_confirm_delete", None)
    state.setdefault("chat_title_synced", None)
    state.setdefault("chat_import_nonce", 0)
    state.setdefault("chat_persona", BUILTIN_PERSONAS[0].name)
    state.setdefault("chat_system_prompt", BUILTIN_PERSONAS[0].prompt(language()))
    for key, default in {
        "chat_temperature": BUILTIN_PERSONAS[0].temperature,
        "chat_top_p": 1.0,
        "chat_max_tokens": 512,
        "chat_seed": "",
        "chat_presence": 0.0,
        "chat_frequency": 0.0,
        "chat_stop": "",
        "chat_max_history": 40,
        "chat_history_budget": 6000,
        "chat_cache": False,
        "chat_pe_pick": 0,
        "chat_pe_name": "",
        "chat_pe_prompt": "",
        "chat_pe_temp": 0.7,
    }.items():
        state.setdefault(key, default)


def queue_message() -> None:
    """chat_input's callback: it runs before the script, so the message is kept even if the run is
    ended early (the page used again at once, or a wait for the engine)."""
    text = state.get("chat_input")
    if text:
        state.chat_pending.append(text)


def stop_active_reply(store: Store) -> None:
    """Stop the reply a previous run of this session is still streaming (see `Reply.stop`). A send
    whose run ended before its reply began gets the same empty stopped turn, so the conversation
    still alternates (its message is kept and answered in the next question's history)."""
    reply, state.chat_active = state.get("chat_active"), None
    sending, state.chat_sending = state.get("chat_sending"), None
    if reply is not None:
        reply.stop()
    elif sending is not None:
        store.add_message(sending, "assistant", "", incomplete=True, meta={"stopped": True})


def snapshot() -> ChatSettings:
    """The sidebar settings a conversation is saved with and reopened with."""
    return ChatSettings(
        persona=state.get("chat_persona"),
        system_prompt=state.get("chat_system_prompt"),
        provider=state.get("chat_provider"),
        model=state.get("chat_model"),
        params={name: state.get(key) for name, key in PARAM_KEYS.items()},
        prompt=state.get("chat_prompt_ref"),
    )


def _apply_params(params: dict) -> None:
    for name, value in clean_params(params).items():
        state[PARAM_KEYS[name]] = value


def _persona(store: Store, name: str):
    return builtin_by_name().get(name) or {p.name: p for p in store.list_personas()}.get(name)


def _prompt_of(persona) -> str:
    """A persona's system prompt: a built-in's in the visitor's language, a user's own as written."""
    return persona.prompt(language()) if getattr(persona, "builtin", False) else persona.system_prompt


def follow_language() -> None:
    """A chat not saved yet whose built-in persona's prompt is untouched speaks the visitor's language:
    after a switch of language its prompt is that persona's prompt in the new language. (A saved
    conversation keeps the prompt it was saved with.)"""
    persona = builtin_by_name().get(state.get("chat_persona") or "")
    if persona is None or state.get("chat_conversation_id") is not None:
        return
    wanted = persona.prompt(language())
    if state.get("chat_system_prompt") != wanted and state.get("chat_system_prompt") in persona.prompt_variants():
        state.chat_system_prompt = wanted


def load_conversation(store: Store, conv: Conversation) -> None:
    """Show a saved conversation with the settings it was saved with (runs before the widgets)."""
    state.chat_conversation_id = conv.id
    state.chat_history = turns_of(conv)
    state.chat_error = None
    state.chat_confirm_delete = None
    state.chat_title_synced = None  # refill the title field
    if conv.provider in PROVIDERS:
        state.chat_provider = conv.provider
        if conv.model:
            state.chat_model = conv.model  # model_picker falls back if this provider no longer offers it
    if conv.persona and (conv.persona == CUSTOM_PERSONA or _persona(store, conv.persona)):
        state.chat_persona = conv.persona
    else:
        state.chat_persona = CUSTOM_PERSONA  # the persona was deleted since: keep its prompt
    if conv.system_prompt is not None:
        state.chat_system_prompt = conv.system_prompt
    _apply_params(conv.params)
    state.chat_prompt_ref = conv.prompt
    state.chat_saved_settings = snapshot()
    st.query_params["c"] = conv.id


def clear_conversation() -> None:
    state.chat_conversation_id = None
    state.chat_history = []
    state.chat_error = None
    state.chat_confirm_delete = None
    state.chat_saved_settings = None
    state.chat_title_synced = None
    state.chat_prompt_ref = None
    st.query_params.pop("c", None)


def restore(store: Store) -> Conversation | None:
    """The conversation named in the URL (a reload loses session state, not the URL), kept in step
    with the store; returns the conversation shown, if saved."""
    url_cid = st.query_params.get("c")
    if url_cid and url_cid != state.chat_conversation_id:
        conv = store.get_conversation(url_cid) if len(url_cid) <= 64 else None
        if conv is not None:
            load_conversation(store, conv)
        else:
            st.query_params.pop("c", None)
            state.chat_notice = ("warning", _("The conversation in the link no longer exists; starting a new chat."))
    elif not url_cid and state.chat_conversation_id:
        st.query_params["c"] = state.chat_conversation_id  # e.g. back from another page

    current = store.get_conversation(state.chat_conversation_id) if state.chat_conversation_id else None
    if state.chat_conversation_id and current is None:  # deleted in another tab
        clear_conversation()
    if current is not None:
        # Replies saved after this session last looked (a reply stopped mid-stream is saved by the
        # store wrapper even though the script was interrupted before adding it here).
        # Only a history whose every turn is saved is extended (never one set up by other code).
        known = [t.id for t in state.chat_history]
        if known and all(isinstance(i, int) for i in known):
            state.chat_history += turns_of(current, after_id=max(known))
        if current.title != state.chat_title_synced:
            state.chat_title_synced = current.title
            state.chat_rename_title = tr(current.title)
    return current


def sync_settings(store: Store) -> None:
    """Keep the saved conversation's settings in step with the sidebar (written only on change)."""
    snap = snapshot()
    if state.chat_conversation_id and snap != state.chat_saved_settings:
        store.update_settings(state.chat_conversation_id, **snap.as_dict())
        state.chat_saved_settings = snap


# --- sidebar actions (callbacks: they run before the widgets of the next run) ------------------------


def _apply_persona(store: Store) -> None:
    persona = _persona(store, state.chat_persona)
    if persona:
        state.chat_system_prompt = _prompt_of(persona)
        state.chat_temperature = float(persona.temperature)


def _open(store: Store, cid: str) -> None:
    conv = store.get_conversation(cid)
    if conv is None:
        state.chat_notice = ("warning", _("That conversation no longer exists (deleted in another tab?)."))
        return
    load_conversation(store, conv)


def _rename(store: Store) -> None:
    try:
        title = store.rename_conversation(state.chat_conversation_id, state.get("chat_rename_title", ""))
    except StoreError as exc:
        state.chat_notice = ("error", tr(exc.detail))
        return
    state.chat_title_synced = title
    state.chat_rename_title = title
    state.chat_notice = ("success", _("Renamed to '{title}'.").format(title=title))


def _delete_confirmed(store: Store) -> None:
    cid = state.chat_confirm_delete
    state.chat_confirm_delete = None
    if cid and store.delete_conversation(cid):
        store.remove_prompt_references("conversation", cid)  # a prompt version it was started from may go now
        state.chat_notice = ("success", _("Conversation deleted."))
    if cid == state.chat_conversation_id:
        clear_conversation()


def _import(store: Store) -> None:
    upload = state.get(f"chat_import_file_{state.chat_import_nonce}")
    if upload is None:
        state.chat_notice = ("error", _("Choose a JSON export to import first."))
        return
    try:
        conv = parse_import(upload.getvalue(), language())
    except ImportRejected as exc:
        state.chat_notice = ("error", _("Import failed: {reason} Nothing was changed.").format(reason=tr(exc.detail)))
        return
    cid = store.import_conversation(conv)
    state.chat_import_nonce += 1  # a fresh, empty uploader
    loaded = store.get_conversation(cid)
    if loaded:
        load_conversation(store, loaded)
    n = len(conv.messages)
    state.chat_notice = (
        "success",
        _("Imported '{title}' ({n} messages).").format(title=conv.title, n=n),
    )


def _pick_persona_to_edit(store: Store) -> None:
    persona = next((p for p in store.list_personas() if p.id == state.chat_pe_pick), None)
    state.chat_pe_name = persona.name if persona else ""
    state.chat_pe_prompt = persona.system_prompt if persona else ""  # a user's own persona
    state.chat_pe_temp = float(persona.temperature) if persona else 0.7


def _save_persona(store: Store) -> None:
    pid = state.chat_pe_pick or None
    old = next((p for p in store.list_personas() if p.id == pid), None)
    try:
        pid = store.save_persona(
            state.chat_pe_name,
            state.chat_pe_prompt,
            state.chat_pe_temp,
            persona_id=pid,
            reserved=reserved_names(),
        )
    except StoreError as exc:
        state.chat_notice = ("error", tr(exc.detail))
        return
    saved = next(p for p in store.list_personas() if p.id == pid)
    state.chat_pe_pick = pid
    state.chat_pe_name = saved.name
    if old and state.chat_persona == old.name:  # the persona in use was edited: use the new version
        state.chat_persona = saved.name
        _apply_persona(store)
    state.chat_notice = ("success", _("Persona '{name}' saved.").format(name=saved.name))


def _delete_persona(store: Store) -> None:
    persona = next((p for p in store.list_personas() if p.id == state.chat_pe_pick), None)
    if persona and store.delete_persona(persona.id):
        if state.chat_persona == persona.name:
            state.chat_persona = CUSTOM_PERSONA  # keep the prompt in use
        state.chat_notice = ("success", _("Persona '{name}' deleted.").format(name=persona.name))
    state.chat_pe_pick = 0
    _pick_persona_to_edit(store)


def _save_preset(store: Store) -> None:
    try:
        store.save_preset(
            state.get("chat_preset_name", ""),
            state.get("chat_provider") or "",
            state.get("chat_model") or "",
            {name: state.get(key) for name, key in PARAM_KEYS.items()},
        )
    except StoreError as exc:
        state.chat_notice = ("error", tr(exc.detail))
        return
    state.chat_notice = ("success", _("Preset '{name}' saved.").format(name=" ".join(state.chat_preset_name.split())))
    state.chat_preset_name = ""


def _load_preset(store: Store, preset_id: int) -> None:
    preset = next((p for p in store.list_presets() if p.id == preset_id), None)
    if preset is None:
        state.chat_notice = ("warning", _("That preset no longer exists."))
        return
    if preset.provider in PROVIDERS:
        state.chat_provider = preset.provider
        state.chat_model = preset.model
    _apply_params(preset.params)
    state.chat_notice = ("success", _("Loaded preset '{name}'.").format(name=preset.name))


# --- sections -------------------------------------------------------------------------------------


def conversations(store: Store, current: Conversation | None) -> None:
    st.button(_("🆕 New chat"), on_click=clear_conversation, key="chat_new", use_container_width=True)
    notice = state.chat_notice
    if notice:
        getattr(st, notice[0])(notice[1])
        state.chat_notice = None
    with st.expander(_("Conversations"), expanded=True):
        convs = store.list_conversations()
        if not convs:
            st.caption(_("Nothing saved yet: your first message starts a conversation."))
        with st.container(height=260 if len(convs) > 7 else "content"):
            for c in convs:
                is_current = c.id == state.chat_conversation_id
                st.button(
                    tr(c.title),
                    key=f"chat_open_{c.id}",
                    on_click=_open,
                    args=(store, c.id),
                    use_container_width=True,
                    type="primary" if is_current else "secondary",
                    help=_("{n} messages · last active {when}").format(
                        n=c.message_count, when=fmt_datetime(datetime.fromtimestamp(c.updated_at, UTC), "short")
                    ),
                )
    if current is None:
        return
    with st.expander(_("This conversation")):
        st.text_input(_("Title"), key="chat_rename_title", max_chars=80)
        st.button(_("Rename"), key="chat_rename", on_click=_rename, args=(store,))
        stem = "".join(ch if ch.isalnum() else "-" for ch in current.title)[:40].strip("-") or _("conversation")
        st.download_button(
            _("⬇️ Export JSON"),
            export_json(current),
            file_name=f"{stem}.json",
            mime="application/json",
            key="chat_export_json",
            on_click="ignore",
        )
        st.download_button(
            _("⬇️ Export Markdown"),
            export_markdown(current, language()),
            file_name=f"{stem}.md",
            mime="text/markdown",
            key="chat_export_md",
            on_click="ignore",
        )
        if state.chat_confirm_delete == current.id:
            n = len(current.messages)
            st.warning(_("Delete '{title}' and its {n} messages? This cannot be undone.").format(title=tr(current.title), n=n))
            yes, no = st.columns(2)
            yes.button(_("Delete"), key="chat_delete_yes", type="primary", on_click=_delete_confirmed, args=(store,))
            no.button(_("Cancel"), key="chat_delete_no", on_click=lambda: state.update(chat_confirm_delete=None))
        else:
            st.button(_("🗑️ Delete…"), key="chat_delete", on_click=lambda cid=current.id: state.update(chat_confirm_delete=cid))


def persona_and_parameters(store: Store) -> None:
    user_personas = {p.name: p for p in store.list_personas()}
    persona_options = [p.name for p in BUILTIN_PERSONAS] + sorted(user_personas) + [CUSTOM_PERSONA]
    if state.chat_persona not in persona_options:
        state.chat_persona = CUSTOM_PERSONA
    follow_language()
    lang = language()
    st.selectbox(
        _("Persona"),
        persona_options,
        key="chat_persona",
        on_change=_apply_persona,
        args=(store,),
        format_func=lambda name: persona_label(name, lang),
        persist_state=PERSIST,
    )
    st.text_area(_("System prompt"), key="chat_system_prompt", height=120, persist_state=PERSIST)
    st.slider(_("Temperature"), 0.0, 2.0, step=0.05, key="chat_temperature", persist_state=PERSIST)
    with st.expander(_("More parameters")):
        st.slider("top_p", 0.0, 1.0, step=0.01, key="chat_top_p", persist_state=PERSIST)
        st.number_input(_("Max tokens"), 1, 32768, key="chat_max_tokens", persist_state=PERSIST)
        st.text_input(_("Seed (blank = random)"), key="chat_seed", persist_state=PERSIST)
        st.slider(_("Presence penalty"), -2.0, 2.0, step=0.1, key="chat_presence", persist_state=PERSIST)
        st.slider(_("Frequency penalty"), -2.0, 2.0, step=0.1, key="chat_frequency", persist_state=PERSIST)
        st.text_area(_("Stop sequences (one per line, up to 4)"), key="chat_stop", height=68, persist_state=PERSIST)
    with st.expander(_("History sent to the model")):
        st.number_input(_("Max messages"), 1, 200, key="chat_max_history", persist_state=PERSIST)
        st.number_input(_("Token budget (approx.)"), 200, 1_000_000, step=500, key="chat_history_budget", persist_state=PERSIST)
    st.toggle(
        _("⚡ Answer cache"),
        key="chat_cache",
        persist_state=PERSIST,
        help=_(
            "At temperature 0, a request identical in provider, model, messages and parameters is answered "
            "from the cache instantly (logged as a cache hit, cost 0)."
        ),
    )
    if state.chat_cache:
        st.button(_("Forget my cached answers"), key="chat_cache_clear", on_click=_clear_cache, args=(store,),
                  help=_("The next identical request asks the model again."))  # fmt: skip


def _clear_cache(store: Store) -> None:
    n = store.cache_clear()
    state.chat_notice = ("success", _("{n} cached answer(s) forgotten.").format(n=n))


def presets(store: Store) -> None:
    with st.expander(_("Presets")):
        for p in store.list_presets():
            load, drop = st.columns([5, 1])
            load.button(
                p.name,
                key=f"chat_preset_{p.id}",
                on_click=_load_preset,
                args=(store, p.id),
                use_container_width=True,
                help=f"{tr(PROVIDERS[p.provider].label) if p.provider in PROVIDERS else p.provider} · {p.model}",
            )
            drop.button(
                "🗑️",
                key=f"chat_preset_del_{p.id}",
                on_click=store.delete_preset,
                args=(p.id,),
                help=_("Delete '{name}'").format(name=p.name),
            )
        st.text_input(_("Preset name"), key="chat_preset_name", max_chars=80)
        st.button(
            _("💾 Save current provider, model and parameters"), key="chat_preset_save", on_click=_save_preset, args=(store,)
        )


def personas(store: Store) -> None:
    with st.expander(_("My personas")):
        by_id = {p.id: p for p in store.list_personas()}
        if state.chat_pe_pick not in by_id:
            state.chat_pe_pick = 0
        new = _("➕ New persona")
        st.selectbox(
            _("Persona to edit"),
            [0, *by_id],
            key="chat_pe_pick",
            on_change=_pick_persona_to_edit,
            args=(store,),
            format_func=lambda i: new if i == 0 else by_id[i].name,
        )
        st.text_input(_("Name"), key="chat_pe_name", max_chars=80)
        st.text_area(_("System prompt"), key="chat_pe_prompt", height=100)
        st.slider(_("Default temperature"), 0.0, 2.0, step=0.05, key="chat_pe_temp")
        st.button(_("💾 Save persona"), key="chat_pe_save", on_click=_save_persona, args=(store,))
        if state.chat_pe_pick:
            st.button(_("🗑️ Delete persona"), key="chat_pe_delete", on_click=_delete_persona, args=(store,))


def import_conversation(store: Store) -> None:
    with st.expander(_("Import a conversation")):
        st.file_uploader(
            _("JSON export"),
            type=["json"],
            key=f"chat_import_file_{state.chat_import_nonce}",
            max_upload_size=max(1, MAX_IMPORT_BYTES // (1024 * 1024)),
        )
        st.button(_("📥 Import"), key="chat_import", on_click=_import, args=(store,))
