"""The Prompts page's larger widgets: the editor of a version, the version history, the side-by-side diff
and a version's texts. What the user wrote is shown with `st.code` or escaped markdown, never as HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from lib.core.text import md_text
from lib.prompts.diff import ADDED_COLOUR, REMOVED_COLOUR, diff_versions, show_value, side_markdown, sides
from lib.prompts.model import NUMERIC, PARAMETER_LABELS, TEXT_LABELS, PromptContent, PromptError
from lib.storage.prompts import StoredPrompt, StoredVersion
from ui.i18n import _, fmt_datetime, tr

# number_input settings per numeric parameter: (step, format)
_INPUTS: dict[str, tuple[float | int, str | None]] = {
    "temperature": (0.05, "%.2f"),
    "top_p": (0.05, "%.2f"),
    "max_tokens": (16, None),
    "seed": (1, None),
    "presence_penalty": (0.1, "%.2f"),
    "frequency_penalty": (0.1, "%.2f"),
}
_SAFE_INT = 2**53 - 1  # the largest whole number a browser's number field holds exactly


def when(ts: float) -> str:
    return fmt_datetime(datetime.fromtimestamp(ts, UTC))


def version_label(v: StoredVersion, labels: dict[str, int]) -> str:
    """ "v3 · demo, 本番 · the note" for pickers."""
    tags = ", ".join(name for name, n in labels.items() if n == v.number)
    return " · ".join(x for x in (f"v{v.number}", tags, v.note[:40]) if x)


def editor(key: str, content: PromptContent | None) -> dict[str, Any]:
    """The fields of a version, filled from `content`; returns what they hold (for `PromptContent.from_dict`).
    `key` prefixes every widget key: a new key gives fresh fields (after a save, or another version opened)."""
    c = content.to_dict() if content else {"system": "", "template": "", "model": "", "stop": []}
    st.text_area(tr(TEXT_LABELS["system"]), c["system"], height=140, key=f"{key}_system",
                 placeholder=_("You are a helpful assistant for {{product}}."))  # fmt: skip
    st.text_area(tr(TEXT_LABELS["template"]), c["template"], height=110, key=f"{key}_template",
                 placeholder=_("Answer this question: {{question}}"),
                 help=_("The first user message. Write {{name}} where a value goes in; it is asked for when the prompt is used."))  # fmt: skip
    cols = st.columns(4)
    cols[0].text_input(tr(PARAMETER_LABELS["model"]), c["model"], key=f"{key}_model", placeholder=_("the page's choice"))
    for n, name in enumerate(NUMERIC, 1):
        kind, lo, hi = NUMERIC[name]
        step, fmt = _INPUTS[name]
        lo, hi = (max(lo, -_SAFE_INT), min(hi, _SAFE_INT)) if kind is int else (lo, hi)
        cols[n % 4].number_input(
            tr(PARAMETER_LABELS[name]), min_value=kind(lo), max_value=kind(hi), value=c.get(name), step=kind(step),
            format=fmt, key=f"{key}_{name}", placeholder=_("provider default"),
        )  # fmt: skip
    st.text_area(tr(PARAMETER_LABELS["stop"]), "\n".join(s.replace("\n", "\\n") for s in c["stop"]), height=68,
                 key=f"{key}_stop", help=_("One per line, at most 4; type `\\n` for a line break."))  # fmt: skip
    return read(key)


def read(key: str) -> dict[str, Any]:
    """What the editor's fields under `key` hold now (a button's callback reads them before the page runs)."""
    state = st.session_state
    out: dict[str, Any] = {name: state.get(f"{key}_{name}") for name in ("system", "template", "model", *NUMERIC)}
    out["stop"] = [line.replace("\\n", "\n") for line in str(state.get(f"{key}_stop") or "").splitlines() if line.strip()]
    return out


def variables_preview(key: str, content: PromptContent) -> None:
    """A field per `{{variable}}` and the messages the version would send with those values."""
    names = content.variables()
    if not names:
        st.caption(_("This prompt has no {{variables}}."))
    values = {v: st.text_input(f"{{{{{v}}}}}", key=f"{key}_var_{v}") for v in names}
    try:
        messages = content.messages(values)
    except PromptError as exc:
        st.caption(tr(exc.detail))
        return
    for m in messages:
        st.caption(_("System prompt") if m["role"] == "system" else _("User message"))
        st.code(m["content"], language=None, wrap_lines=True)


def show_version(v: StoredVersion) -> None:
    """A version's texts and parameters as they are."""
    content = PromptContent.from_dict(v.content)
    for name, label in TEXT_LABELS.items():
        st.caption(tr(label))
        st.code(getattr(content, name) or "—", language=None, wrap_lines=True)
    params = content.parameters()
    if params:
        st.dataframe([{_("Parameter"): tr(PARAMETER_LABELS[k]), _("Value"): show_value(k, v)} for k, v in params.items()],
                     hide_index=True, key=f"pr_params_{v.prompt_id}_{v.number}")  # fmt: skip
    else:
        st.caption(_("No parameters: the page running it chooses them."))


def history(prompt: StoredPrompt, versions: list[StoredVersion]) -> None:
    rows = []
    for v in reversed(versions):
        rows.append({
            _("Version"): f"v{v.number}",
            _("Saved"): when(v.created_at),
            _("Note"): v.note,
            _("Labels"): ", ".join(name for name, n in prompt.labels.items() if n == v.number),
            _("Restored from"): f"v{v.restored_from}" if v.restored_from else "",
        })  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", key=f"pr_history_{prompt.id}")
    if prompt.source.startswith("persona:"):
        st.caption(_("Version 1 was made from your persona of the same name."))
    elif prompt.source.startswith("duplicate:"):
        st.caption(_("Version 1 is a copy of {ref}.").format(ref=md_text(prompt.source.split(":", 1)[1])))


def side_by_side(old: StoredVersion, new: StoredVersion) -> None:
    """Two versions' texts side by side, changed words highlighted, and the parameters that differ."""
    a, b = PromptContent.from_dict(old.content), PromptContent.from_dict(new.content)
    diff = diff_versions(a, b)
    if not diff.changed:
        st.info(_("v{a} and v{b} are the same.").format(a=old.number, b=new.number), icon="🟰")
        return
    st.caption(_("Removed words are marked in red on the left, added words in green on the right."))
    for name, label in TEXT_LABELS.items():
        left, right = sides(diff.texts[name])
        st.markdown(f"**{tr(label)}**")
        col_old, col_new = st.columns(2)
        with col_old.container(border=True):
            st.caption(f"v{old.number}")
            st.markdown(side_markdown(left, REMOVED_COLOUR))
        with col_new.container(border=True):
            st.caption(f"v{new.number}")
            st.markdown(side_markdown(right, ADDED_COLOUR))
    if diff.params:
        st.markdown("**" + _("Parameters that changed") + "**")
        rows = [{_("Parameter"): tr(c.label), f"v{old.number}": c.old, f"v{new.number}": c.new} for c in diff.params]
        st.dataframe(rows, hide_index=True, key="pr_diff_params")
    else:
        st.caption(_("The parameters are the same."))
