"""Chat: provider / model / sampling controls, personas, streamed replies with their cost, and
conversations saved as they happen (SQLite via lib/store.py), restored after a reload from `?c=`."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import streamlit as st

from lib.chat import AUTO_MODEL, ChatParams, ChatResult, ChatStream, parse_stop, route_model, trim_history
from lib.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name
from lib.providers import PROVIDERS
from lib.store import CachedStream, Conversation, PersistedReply, Store, StoreError, cache_key
from lib.store_io import MAX_IMPORT_BYTES, ImportRejected, clean_params, export_json, export_markdown, parse_import
from ui.common import enter_page, error_message, model_picker, settings

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("💬 Chat")

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
state.setdefault("chat_history", [])  # [{role, content, id?, meta?, incomplete?}]
state.setdefault("chat_error", None)  # last failure, shown until the next send
state.setdefault("chat_notice", None)  # (kind, text) from the last sidebar action
state.setdefault("chat_conversation_id", None)  # the saved conversation shown (None: not saved yet)
state.setdefault("chat_saved_settings", None)
state.setdefault("chat_confirm_delete", None)
state.setdefault("chat_title_synced", None)
state.setdefault("chat_import_nonce", 0)
state.setdefault("chat_persona", BUILTIN_PERSONAS[0].name)
state.setdefault("chat_system_prompt", BUILTIN_PERSONAS[0].system_prompt)
for _key, _default in {
    "chat_temperature": BUILTIN_PERSONAS[0].temperature, "chat_top_p": 1.0, "chat_max_tokens": 512, "chat_seed": "",
    "chat_presence": 0.0, "chat_frequency": 0.0, "chat_stop": "", "chat_max_history": 40, "chat_history_budget": 6000,
    "chat_cache": False, "chat_pe_pick": 0, "chat_pe_name": "", "chat_pe_prompt": "", "chat_pe_temp": 0.7,
}.items():
    state.setdefault(_key, _default)


@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> Store:
    return Store.in_dir(Path(path))


try:
    store = _open_store(str(settings().data_dir))
except (StoreError, sqlite3.Error, OSError) as exc:
    st.error(f"**Conversations cannot be saved.** {exc}", icon="⚠️")
    st.stop()


def _user_personas() -> dict[str, object]:
    return {p.name: p for p in store.list_personas()}


def _persona(name: str):
    return builtin_by_name().get(name) or _user_personas().get(name)


def _snapshot() -> dict:
    """The sidebar settings a conversation is saved with and reopened with."""
    return {
        "persona": state.get("chat_persona"),
        "system_prompt": state.get("chat_system_prompt"),
        "provider": state.get("chat_provider"),
        "model": state.get("chat_model"),
        "params": {name: state.get(key) for name, key in PARAM_KEYS.items()},
    }


def _apply_params(params: dict) -> None:
    for name, value in clean_params(params).items():
        state[PARAM_KEYS[name]] = value


def _load_conversation(conv: Conversation) -> None:
    """Show a saved conversation with the settings it was saved with (runs before the widgets)."""
    state.chat_conversation_id = conv.id
    state.chat_history = [
        {"role": m.role, "content": m.content, "id": m.id, "incomplete": m.incomplete, "meta": m.meta}
        for m in conv.messages
    ]
    state.chat_error = None
    state.chat_confirm_delete = None
    state.chat_title_synced = None  # refill the title field
    if conv.provider in PROVIDERS:
        state.chat_provider = conv.provider
        if conv.model:
            state.chat_model = conv.model  # model_picker falls back if this provider no longer offers it
    if conv.persona and (conv.persona == CUSTOM_PERSONA or _persona(conv.persona)):
        state.chat_persona = conv.persona
    else:
        state.chat_persona = CUSTOM_PERSONA  # the persona was deleted since: keep its prompt
    if conv.system_prompt is not None:
        state.chat_system_prompt = conv.system_prompt
    _apply_params(conv.params)
    state.chat_saved_settings = _snapshot()
    st.query_params["c"] = conv.id


def _clear_conversation() -> None:
    state.chat_conversation_id = None
    state.chat_history = []
    state.chat_error = None
    state.chat_confirm_delete = None
    state.chat_saved_settings = None
    state.chat_title_synced = None
    st.query_params.pop("c", None)


# --- sidebar actions (callbacks: they run before the widgets of the next run) ------------------------


def _apply_persona() -> None:
    persona = _persona(state.chat_persona)
    if persona:
        state.chat_system_prompt = persona.system_prompt
        state.chat_temperature = float(persona.temperature)


def _new_chat() -> None:
    _clear_conversation()


def _open(cid: str) -> None:
    conv = store.get_conversation(cid)
    if conv is None:
        state.chat_notice = ("warning", "That conversation no longer exists (deleted in another tab?).")
        return
    _load_conversation(conv)


def _rename() -> None:
    cid = state.chat_conversation_id
    try:
        title = store.rename_conversation(cid, state.get("chat_rename_title", ""))
    except StoreError as exc:
        state.chat_notice = ("error", str(exc))
        return
    state.chat_title_synced = title
    state.chat_rename_title = title
    state.chat_notice = ("success", f"Renamed to '{title}'.")


def _delete_confirmed() -> None:
    cid = state.chat_confirm_delete
    state.chat_confirm_delete = None
    if cid and store.delete_conversation(cid):
        state.chat_notice = ("success", "Conversation deleted.")
    if cid == state.chat_conversation_id:
        _clear_conversation()


def _import() -> None:
    upload = state.get(f"chat_import_file_{state.chat_import_nonce}")
    if upload is None:
        state.chat_notice = ("error", "Choose a JSON export to import first.")
        return
    try:
        conv = parse_import(upload.getvalue())
    except ImportRejected as exc:
        state.chat_notice = ("error", f"Import failed: {exc} Nothing was changed.")
        return
    cid = store.import_conversation(conv)
    state.chat_import_nonce += 1  # a fresh, empty uploader
    loaded = store.get_conversation(cid)
    if loaded:
        _load_conversation(loaded)
    state.chat_notice = ("success", f"Imported '{conv.title}' ({len(conv.messages)} messages).")


def _pick_persona_to_edit() -> None:
    persona = next((p for p in store.list_personas() if p.id == state.chat_pe_pick), None)
    state.chat_pe_name = persona.name if persona else ""
    state.chat_pe_prompt = persona.system_prompt if persona else ""
    state.chat_pe_temp = float(persona.temperature) if persona else 0.7


def _save_persona() -> None:
    pid = state.chat_pe_pick or None
    old = next((p for p in store.list_personas() if p.id == pid), None)
    try:
        pid = store.save_persona(state.chat_pe_name, state.chat_pe_prompt, state.chat_pe_temp, persona_id=pid,
                                 reserved=[*builtin_by_name(), CUSTOM_PERSONA])
    except StoreError as exc:
        state.chat_notice = ("error", str(exc))
        return
    saved = next(p for p in store.list_personas() if p.id == pid)
    state.chat_pe_pick = pid
    state.chat_pe_name = saved.name
    if old and state.chat_persona == old.name:  # the persona in use was edited: use the new version
        state.chat_persona = saved.name
        _apply_persona()
    state.chat_notice = ("success", f"Persona '{saved.name}' saved.")


def _delete_persona() -> None:
    persona = next((p for p in store.list_personas() if p.id == state.chat_pe_pick), None)
    if persona and store.delete_persona(persona.id):
        if state.chat_persona == persona.name:
            state.chat_persona = CUSTOM_PERSONA  # keep the prompt in use
        state.chat_notice = ("success", f"Persona '{persona.name}' deleted.")
    state.chat_pe_pick = 0
    _pick_persona_to_edit()


def _save_preset() -> None:
    try:
        store.save_preset(state.get("chat_preset_name", ""), state.get("chat_provider") or "", state.get("chat_model") or "",
                          {name: state.get(key) for name, key in PARAM_KEYS.items()})
    except StoreError as exc:
        state.chat_notice = ("error", str(exc))
        return
    state.chat_notice = ("success", f"Preset '{' '.join(state.chat_preset_name.split())}' saved.")
    state.chat_preset_name = ""


def _load_preset(preset_id: int) -> None:
    preset = next((p for p in store.list_presets() if p.id == preset_id), None)
    if preset is None:
        state.chat_notice = ("warning", "That preset no longer exists.")
        return
    if preset.provider in PROVIDERS:
        state.chat_provider = preset.provider
        state.chat_model = preset.model
    _apply_params(preset.params)
    state.chat_notice = ("success", f"Loaded preset '{preset.name}'.")


def _delete_preset(preset_id: int) -> None:
    store.delete_preset(preset_id)


# --- restore the conversation named in the URL (a reload loses session state, not the URL) ----------

url_cid = st.query_params.get("c")
if url_cid and url_cid != state.chat_conversation_id:
    conv = store.get_conversation(url_cid) if len(url_cid) <= 64 else None
    if conv is not None:
        _load_conversation(conv)
    else:
        st.query_params.pop("c", None)
        state.chat_notice = ("warning", "The conversation in the link no longer exists; starting a new chat.")
elif not url_cid and state.chat_conversation_id:
    st.query_params["c"] = state.chat_conversation_id  # e.g. back from another page

current = store.get_conversation(state.chat_conversation_id) if state.chat_conversation_id else None
if state.chat_conversation_id and current is None:  # deleted in another tab
    _clear_conversation()
if current is not None:
    # Replies saved after this session last looked (a reply stopped mid-stream is saved by the
    # store wrapper even though the script was interrupted before adding it here).
    # Only a history whose every turn is saved is extended (never one set up by other code).
    known = [m.get("id") for m in state.chat_history]
    if known and all(isinstance(i, int) for i in known):
        state.chat_history += [
            {"role": m.role, "content": m.content, "id": m.id, "incomplete": m.incomplete, "meta": m.meta}
            for m in current.messages if m.id > max(known)
        ]
    if current.title != state.chat_title_synced:
        state.chat_title_synced = current.title
        state.chat_rename_title = current.title

# --- sidebar --------------------------------------------------------------------------------------

with st.sidebar:
    st.button("🆕 New chat", on_click=_new_chat, key="chat_new", use_container_width=True)
    notice = state.chat_notice
    if notice:
        getattr(st, notice[0])(notice[1])
        state.chat_notice = None
    with st.expander("Conversations", expanded=True):
        convs = store.list_conversations()
        if not convs:
            st.caption("Nothing saved yet: your first message starts a conversation.")
        with st.container(height=260 if len(convs) > 7 else "content"):
            for c in convs:
                is_current = c.id == state.chat_conversation_id
                st.button(c.title, key=f"chat_open_{c.id}", on_click=_open, args=(c.id,), use_container_width=True,
                          type="primary" if is_current else "secondary",
                          help=f"{c.message_count} messages · last active {datetime.fromtimestamp(c.updated_at):%Y-%m-%d %H:%M}")
    if current is not None:
        with st.expander("This conversation"):
            st.text_input("Title", key="chat_rename_title", max_chars=80)
            st.button("Rename", key="chat_rename", on_click=_rename)
            stem = "".join(ch if ch.isalnum() else "-" for ch in current.title)[:40].strip("-") or "conversation"
            st.download_button("⬇️ Export JSON", export_json(current), file_name=f"{stem}.json", mime="application/json",
                               key="chat_export_json", on_click="ignore")
            st.download_button("⬇️ Export Markdown", export_markdown(current), file_name=f"{stem}.md", mime="text/markdown",
                               key="chat_export_md", on_click="ignore")
            if state.chat_confirm_delete == current.id:
                st.warning(f"Delete '{current.title}' and its {len(current.messages)} messages? This cannot be undone.")
                yes, no = st.columns(2)
                yes.button("Delete", key="chat_delete_yes", type="primary", on_click=_delete_confirmed)
                no.button("Cancel", key="chat_delete_no", on_click=lambda: state.update(chat_confirm_delete=None))
            else:
                st.button("🗑️ Delete…", key="chat_delete", on_click=lambda cid=current.id: state.update(chat_confirm_delete=cid))

    selection = model_picker("chat", allow_auto=True)
    user_personas = _user_personas()
    persona_options = [p.name for p in BUILTIN_PERSONAS] + sorted(user_personas) + [CUSTOM_PERSONA]
    if state.chat_persona not in persona_options:
        state.chat_persona = CUSTOM_PERSONA
    st.selectbox("Persona", persona_options, key="chat_persona", on_change=_apply_persona)
    st.text_area("System prompt", key="chat_system_prompt", height=120)
    st.slider("Temperature", 0.0, 2.0, step=0.05, key="chat_temperature")
    with st.expander("More parameters"):
        top_p = st.slider("top_p", 0.0, 1.0, step=0.01, key="chat_top_p")
        max_tokens = st.number_input("Max tokens", 1, 32768, key="chat_max_tokens")
        seed_text = st.text_input("Seed (blank = random)", key="chat_seed")
        presence = st.slider("Presence penalty", -2.0, 2.0, step=0.1, key="chat_presence")
        frequency = st.slider("Frequency penalty", -2.0, 2.0, step=0.1, key="chat_frequency")
        stop_text = st.text_area("Stop sequences (one per line, up to 4)", key="chat_stop", height=68)
    with st.expander("History sent to the model"):
        max_history = st.number_input("Max messages", 1, 200, key="chat_max_history")
        history_budget = st.number_input("Token budget (approx.)", 200, 1_000_000, step=500, key="chat_history_budget")
    st.toggle("⚡ Answer cache", key="chat_cache",
              help="At temperature 0, a request identical in provider, model, messages and parameters is answered "
                   "from the cache instantly (logged as a cache hit, cost 0).")

    with st.expander("Presets"):
        for p in store.list_presets():
            load, drop = st.columns([5, 1])
            load.button(p.name, key=f"chat_preset_{p.id}", on_click=_load_preset, args=(p.id,), use_container_width=True,
                        help=f"{PROVIDERS[p.provider].label if p.provider in PROVIDERS else p.provider} · {p.model}")
            drop.button("🗑️", key=f"chat_preset_del_{p.id}", on_click=_delete_preset, args=(p.id,), help=f"Delete '{p.name}'")
        st.text_input("Preset name", key="chat_preset_name", max_chars=80)
        st.button("💾 Save current provider, model and parameters", key="chat_preset_save", on_click=_save_preset)

    with st.expander("My personas"):
        by_id = {p.id: p for p in user_personas.values()}
        if state.chat_pe_pick not in by_id:
            state.chat_pe_pick = 0
        st.selectbox("Persona to edit", [0, *by_id], key="chat_pe_pick", on_change=_pick_persona_to_edit,
                     format_func=lambda i: "➕ New persona" if i == 0 else by_id[i].name)
        st.text_input("Name", key="chat_pe_name", max_chars=80)
        st.text_area("System prompt", key="chat_pe_prompt", height=100)
        st.slider("Default temperature", 0.0, 2.0, step=0.05, key="chat_pe_temp")
        st.button("💾 Save persona", key="chat_pe_save", on_click=_save_persona)
        if state.chat_pe_pick:
            st.button("🗑️ Delete persona", key="chat_pe_delete", on_click=_delete_persona)

    with st.expander("Import a conversation"):
        st.file_uploader("JSON export", type=["json"], key=f"chat_import_file_{state.chat_import_nonce}",
                         max_upload_size=max(1, MAX_IMPORT_BYTES // (1024 * 1024)))
        st.button("📥 Import", key="chat_import", on_click=_import)

seed: int | None = None
if seed_text.strip():
    try:
        seed = int(seed_text)
    except ValueError:
        st.sidebar.error("The seed must be a whole number; sending without one.")

# Keep the saved conversation's settings in step with the sidebar (written only on change).
if state.chat_conversation_id and _snapshot() != state.chat_saved_settings:
    snap = _snapshot()
    store.update_settings(state.chat_conversation_id, **snap)
    state.chat_saved_settings = snap


def _meta_caption(meta: dict) -> str:
    parts = [meta["model"]]
    if meta.get("route"):
        parts[0] = f"auto → {meta['model']} ({meta['route']})"
    est = " (est.)" if meta.get("estimated") else ""
    parts.append(f"{meta.get('input_tokens', '?')} in / {meta.get('output_tokens', '?')} out tokens{est}")
    if meta.get("duration_ms") is not None:
        parts.append(f"{meta['duration_ms'] / 1000:.2f} s")
    if meta.get("ttft_ms") is not None:
        parts.append(f"first token {meta['ttft_ms']:.0f} ms")
    cost = meta.get("cost_usd")
    if meta.get("cache_hit"):
        parts.append("⚡ from the answer cache, free")
    else:
        parts.append("cost unknown" if cost is None else ("free (local)" if cost == 0 else f"${cost:.5f}"))
    return " · ".join(parts)


for msg in state.chat_history:
    with st.chat_message(msg["role"]):
        st.markdown(msg["content"])
        if msg.get("incomplete"):
            st.caption("⚠️ Incomplete: the reply was cut off.")
        if msg.get("meta"):
            st.caption(_meta_caption(msg["meta"]))


def _ensure_conversation() -> str:
    """The saved conversation to write to, created (with any unsaved turns) on first use."""
    cid = state.chat_conversation_id
    if cid is None:
        snap = _snapshot()
        cid = store.create_conversation(**snap)
        state.chat_conversation_id = cid
        state.chat_saved_settings = snap
    for msg in state.chat_history:
        if msg.get("id") is None:
            msg["id"] = store.add_message(cid, msg["role"], msg["content"], incomplete=bool(msg.get("incomplete")),
                                          meta=msg.get("meta"))
    st.query_params["c"] = cid
    return cid


def _send() -> None:
    assert selection is not None
    user_text = state.chat_history[-1]["content"]
    model, route = selection.model, None
    if model == AUTO_MODEL:
        model, route = route_model(user_text, selection.provider.small_model, selection.provider.large_model)
    params = ChatParams(
        model=model,
        temperature=state.chat_temperature,
        top_p=top_p,
        max_tokens=int(max_tokens),
        seed=seed,
        presence_penalty=presence or None,
        frequency_penalty=frequency or None,
        stop=parse_stop(stop_text),
    )
    history = [{"role": m["role"], "content": m["content"]} for m in state.chat_history]
    trimmed = trim_history(state.chat_system_prompt.strip() or None, history,
                           max_messages=int(max_history), max_tokens=int(history_budget))
    if trimmed.dropped:
        st.caption(f"{trimmed.dropped} older message(s) were not sent (history limit).")
    ctx = selection.context("chat")
    # The base URL is part of "provider": two custom servers are different providers.
    key = cache_key(f"{selection.provider.id}@{selection.base_url}", trimmed.messages, params) if state.chat_cache else None
    cached = store.cache_get(key) if key else None
    stream: ChatStream | CachedStream = (
        CachedStream(cached, trimmed.messages, params, ctx) if cached
        else ChatStream(selection.client, trimmed.messages, params, ctx)
    )

    def meta(res: ChatResult) -> dict:
        usage = res.usage
        return {
            "model": res.resolved_model or model,
            "route": route,
            "input_tokens": usage.prompt_tokens if usage else None,
            "output_tokens": usage.completion_tokens if usage else None,
            "estimated": res.usage_estimated,
            "duration_ms": res.duration_ms,
            "ttft_ms": res.ttft_ms,
            "cost_usd": res.cost_usd,
            "cache_hit": cached is not None,
        }

    reply = PersistedReply(store, _ensure_conversation(), stream, meta=meta)
    with st.chat_message("assistant"):
        try:
            st.write_stream(reply)
        except Exception as exc:  # the SDK's errors, shown (redacted) after the rerun
            state.chat_error = error_message(exc, selection.provider, selection.settings)
    res = stream.result
    if key and cached is None and res.complete and res.text:
        store.cache_put(key, selection.provider.id, model, res)
    if res.text:
        state.chat_history.append({
            "role": "assistant",
            "content": res.text,
            "id": reply.message_id,
            "incomplete": not res.complete,
            "meta": meta(res),
        })
    st.rerun()


prompt = st.chat_input("Message the model…", key="chat_input", disabled=selection is None)
last = state.chat_history[-1] if state.chat_history else None
awaiting_reply = last is not None and last["role"] == "user"

if state.chat_error:
    st.error(state.chat_error, icon="⚠️")
# (the button exists only while a message awaits its reply)
if awaiting_reply and not prompt and selection is not None and st.button("↻ Re-send last message", key="chat_resend"):
    state.chat_error = None
    _send()

if prompt and selection is not None:
    state.chat_error = None
    state.chat_history.append({"role": "user", "content": prompt})
    _ensure_conversation()  # the user's message is saved before the model is called
    with st.chat_message("user"):
        st.markdown(prompt)
    _send()
