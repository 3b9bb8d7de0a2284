"""Picking a saved prompt version on the pages that use one (chat, logprobs, compare): a prompt, then a
version or a label (`demo`, `本番`), then a form for its `{{variables}}`. Widget code only: the versions are
`lib.storage.prompts`, filling them in `lib.prompts.use`."""

from __future__ import annotations

import streamlit as st

from lib.core.text import md_text
from lib.prompts import PromptContent, PromptError, format_ref, parse_ref
from lib.prompts.use import PreparedPrompt, PromptHandoff, prepare
from lib.storage.prompts import StoredVersion
from lib.storage.store import Store
from ui.i18n import _, tr

state = st.session_state


def init(prefix: str, page: str, store: Store) -> None:
    """The picker's session state, and a version the Prompts page handed to this page (`{prefix}_prompt_handoff`):
    put in the picker before its widgets are drawn, its form opened."""
    state.setdefault(f"{prefix}_prompt_ref", None)  # what the page last used: name@version (and what it filled in)
    state.setdefault(f"{prefix}_prompt_open", False)
    handoff = state.pop(f"{prefix}_prompt_handoff", None)
    if not isinstance(handoff, PromptHandoff) or handoff.page != page:
        return
    state[f"{prefix}_prompt_open"] = True
    try:
        ref = parse_ref(handoff.ref)
    except PromptError:
        return
    prompt = store.find_prompt(ref.name)
    if prompt is None:
        return
    state[f"{prefix}_pv_prompt"] = prompt.id
    state[f"{prefix}_pv_version"] = str(ref.version or ref.label or prompt.latest)


def _version_options(store: Store, prompt_id: int) -> tuple[list[str], dict[str, str], dict[str, StoredVersion]]:
    """The picker's values (a label's name, or a version's number as text), their labels, and the versions."""
    prompt = store.get_prompt(prompt_id)
    versions = {str(v.number): v for v in reversed(store.list_versions(prompt_id))}
    labels = prompt.labels if prompt else {}
    shown = {
        label: _("{label} (now v{n})").format(label=label, n=n) for label, n in labels.items() if str(n) in versions
    } | {
        key: " · ".join(x for x in (f"v{v.number}", v.note[:40]) if x) for key, v in versions.items()
    }  # fmt: skip
    by_key = {label: versions[str(n)] for label, n in labels.items() if str(n) in versions} | versions
    return list(shown), shown, by_key


def pick(prefix: str, store: Store) -> StoredVersion | None:
    """A prompt and one of its versions (labels first); None (after saying so) when there is no prompt yet."""
    prompts = store.list_prompts()
    if not prompts:
        st.caption(_("No saved prompts yet: write one on the Prompts page."))
        return None
    names = {p.id: p.name for p in prompts}
    if state.get(f"{prefix}_pv_prompt") not in names:
        state[f"{prefix}_pv_prompt"] = prompts[0].id
    pid = st.selectbox(_("Saved prompt"), list(names), key=f"{prefix}_pv_prompt", format_func=names.get)
    options, shown, by_key = _version_options(store, pid)
    if state.get(f"{prefix}_pv_version") not in options:
        state[f"{prefix}_pv_version"] = options[0] if options else None
    key = st.selectbox(_("Version or label"), options, key=f"{prefix}_pv_version", format_func=shown.get)
    return by_key.get(key) if key is not None else None


def variables(prefix: str, version: StoredVersion) -> dict[str, str]:
    """A text field per `{{variable}}` of the version; returns their values."""
    content = PromptContent.from_dict(version.content)
    names = content.variables()
    if not names:
        return {}
    st.caption(_("Values of its variables:"))
    return {name: st.text_input(f"{{{{{name}}}}}", key=f"{prefix}_pv_var_{name}") for name in names}


def current(prefix: str, store: Store) -> PreparedPrompt:
    """The version the picker holds, with the values typed for its variables (read from session state, so a
    button's callback sees what was typed just before the click); a `PromptError` says what is missing."""
    pid, key = state.get(f"{prefix}_pv_prompt"), state.get(f"{prefix}_pv_version")
    version = _version_options(store, pid)[2].get(key) if pid is not None and key is not None else None
    if version is None:
        raise PromptError(_("Pick a saved prompt and one of its versions first."))
    content = PromptContent.from_dict(version.content)
    return prepare(version, {name: state.get(f"{prefix}_pv_var_{name}") or "" for name in content.variables()})


def prepared(prefix: str, store: Store) -> tuple[PreparedPrompt | None, str | None]:
    """The picker and its variables form: (the version filled in, or None; why not, in the visitor's language)."""
    version = pick(prefix, store)
    if version is None:
        return None, None
    variables(prefix, version)
    content = PromptContent.from_dict(version.content)
    params = ", ".join(f"{k}={v}" for k, v in content.parameters().items() if k != "stop")
    st.caption(md_text(format_ref(version.prompt_name, version.number)) + (f" · {md_text(params)}" if params else ""))
    try:
        return current(prefix, store), None
    except PromptError as exc:
        return None, tr(exc.detail)
