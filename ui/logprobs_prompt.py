"""The logprobs explorer's "run a saved prompt version": pick a version (or a label), fill its variables, and
the explorer's system prompt, prompt and parameters take its values; a run of that text is logged with its
`name@version` (edit the text and it is a run of your own text again)."""

from __future__ import annotations

import streamlit as st

from lib.core.text import md_text
from lib.prompts import PromptError
from lib.prompts.use import LOGPROBS
from lib.storage.store import Store
from ui import prompt_picker as picker
from ui.i18n import _, tr

state = st.session_state
MAX_TOKENS = 4096  # the explorer's limit


def init(store: Store) -> None:
    picker.init("lp", LOGPROBS, store)  # lp_prompt_ref: (name@version, system prompt, prompt) last filled in


def _fill(store: Store) -> None:
    try:
        ready = picker.current("lp", store)
    except PromptError as exc:
        state.lp_error = tr(exc.detail)
        return
    params = ready.parameters
    state.update(lp_system=ready.system, lp_prompt=ready.user, lp_run=None, lp_fork=None, lp_error=None)
    if "temperature" in params:
        state.lp_temperature = float(params["temperature"])
    if "max_tokens" in params:
        state.lp_max_tokens = min(int(params["max_tokens"]), MAX_TOKENS)
    if "seed" in params:
        state.lp_seed = str(params["seed"])
    state.lp_prompt_ref = (ready.ref, ready.system, ready.user)
    state.lp_prompt_open = False


def section(store: Store) -> None:
    with st.expander("📝 " + _("Run a saved prompt version"), expanded=bool(state.lp_prompt_open)):
        ready, problem = picker.prepared("lp", store)
        if problem:
            st.caption(problem)
        if ready is not None or problem:
            st.button(_("Use this version"), key="lp_prompt_use", on_click=_fill, args=(store,), disabled=ready is None,
                      help=_("Fills the system prompt, the prompt and the parameters below; then press Run."))  # fmt: skip


def ref() -> str | None:
    """The version the explorer's text is (`name@version`), while its system prompt and prompt are as filled in."""
    filled = state.get("lp_prompt_ref")
    if filled and (state.get("lp_system", "").strip(), state.get("lp_prompt", "").strip()) == (filled[1], filled[2]):
        st.caption(_("📝 Runs the prompt version {ref}").format(ref=md_text(filled[0])))
        return filled[0]
    return None
