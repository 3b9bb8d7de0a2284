"""Chat: provider / model / sampling controls, personas, streamed replies with their cost."""

from __future__ import annotations

import streamlit as st

from lib.chat import AUTO_MODEL, ChatParams, ChatStream, parse_stop, route_model, trim_history
from lib.errors import describe_error
from lib.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name
from ui.common import model_picker

st.title("💬 Chat")

state = st.session_state
state.setdefault("chat_history", [])  # [{role, content, meta?, incomplete?}]
state.setdefault("chat_error", None)  # last failure, shown until the next send
state.setdefault("chat_persona", BUILTIN_PERSONAS[0].name)
state.setdefault("chat_system_prompt", BUILTIN_PERSONAS[0].system_prompt)
state.setdefault("chat_temperature", BUILTIN_PERSONAS[0].temperature)


def _apply_persona() -> None:
    persona = builtin_by_name().get(state.chat_persona)
    if persona:
        state.chat_system_prompt = persona.system_prompt
        state.chat_temperature = persona.temperature


def _new_chat() -> None:
    state.chat_history = []
    state.chat_error = None


with st.sidebar:
    selection = model_picker("chat", allow_auto=True)
    st.button("🆕 New chat", on_click=_new_chat, key="chat_new", use_container_width=True)
    st.selectbox("Persona", [p.name for p in BUILTIN_PERSONAS] + [CUSTOM_PERSONA], key="chat_persona", on_change=_apply_persona)
    st.text_area("System prompt", key="chat_system_prompt", height=120)
    st.slider("Temperature", 0.0, 2.0, step=0.05, key="chat_temperature")
    with st.expander("More parameters"):
        top_p = st.slider("top_p", 0.0, 1.0, 1.0, 0.01, key="chat_top_p")
        max_tokens = st.number_input("Max tokens", 1, 32768, 512, key="chat_max_tokens")
        seed_text = st.text_input("Seed (blank = random)", "", key="chat_seed")
        presence = st.slider("Presence penalty", -2.0, 2.0, 0.0, 0.1, key="chat_presence")
        frequency = st.slider("Frequency penalty", -2.0, 2.0, 0.0, 0.1, key="chat_frequency")
        stop_text = st.text_area("Stop sequences (one per line, up to 4)", "", key="chat_stop", height=68)
    with st.expander("History sent to the model"):
        max_history = st.number_input("Max messages", 1, 200, 40, key="chat_max_history")
        history_budget = st.number_input("Token budget (approx.)", 200, 1_000_000, 6000, step=500, key="chat_history_budget")

seed: int | None = None
if seed_text.strip():
    try:
        seed = int(seed_text)
    except ValueError:
        st.sidebar.error("The seed must be a whole number; sending without one.")


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
    parts.append("cost unknown" if cost is None else ("free (local)" if cost == 0 else f"${cost:.5f}"))
    return " · ".join(parts)


for msg in state.chat_history:
    with st.chat_message(msg["role"]):
        st.markdown(msg["content"])
        if msg.get("incomplete"):
            st.caption("⚠️ Incomplete: the reply was cut off.")
        if msg.get("meta"):
            st.caption(_meta_caption(msg["meta"]))


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
    stream = ChatStream(selection.client, trimmed.messages, params, selection.context("chat"))
    with st.chat_message("assistant"):
        try:
            st.write_stream(stream)
        except Exception as exc:  # the SDK's errors, shown (redacted) after the rerun
            err = describe_error(exc, selection.provider.label)
            state.chat_error = selection.settings.redact(f"**{err.title}** {err.detail}")
    res = stream.result
    if res.text:
        usage = res.usage
        state.chat_history.append({
            "role": "assistant",
            "content": res.text,
            "incomplete": not res.complete,
            "meta": {
                "model": res.resolved_model or model,
                "route": route,
                "input_tokens": usage.prompt_tokens if usage else None,
                "output_tokens": usage.completion_tokens if usage else None,
                "estimated": res.usage_estimated,
                "duration_ms": res.duration_ms,
                "ttft_ms": res.ttft_ms,
                "cost_usd": res.cost_usd,
            },
        })
    st.rerun()


prompt = st.chat_input("Message the model…", key="chat_input", disabled=selection is None)
last = state.chat_history[-1] if state.chat_history else None
awaiting_reply = last is not None and last["role"] == "user"

if state.chat_error:
    st.error(state.chat_error, icon="⚠️")
if awaiting_reply and not prompt and selection is not None:
    if st.button("↻ Re-send last message", key="chat_resend"):
        state.chat_error = None
        _send()

if prompt and selection is not None:
    state.chat_error = None
    state.chat_history.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    _send()
