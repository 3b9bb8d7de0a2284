"""Structured output on a page: the response-format control (text / JSON object / JSON schema with an
editor and examples, checked before sending) and a JSON reply (a collapsible JSON view, its values
coloured by how sure the model was, the problems by JSON pointer, the field table with CSV).

Model text is shown as text only: `st.json`, a data frame, and markdown built from escaped text
(`md_text`) inside colour directives of our own."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from lib.core.i18n import Msg
from lib.core.text import md_text
from lib.logprobs import LogprobTable
from lib.structured import confidence
from lib.structured.confidence import FieldConfidence
from lib.structured.request import Looked
from lib.structured.schema import EXAMPLES, MODE_LABELS, Mode, ResponseFormat, SchemaInvalid, load_schema, parse_reply
from ui.i18n import N_, _, fmt_percent, tr

SURE, UNSURE = 0.9, 0.5  # a field's joint probability: green at or above SURE, red below UNSURE, orange between
_CONFIDENT, _UNSURE_LABEL, _DOUBTFUL = N_("high confidence"), N_("medium confidence"), N_("low confidence")


def _use_example(prefix: str) -> None:
    ex = next(e for e in EXAMPLES if e.key == st.session_state[f"{prefix}_rf_example"])
    st.session_state[f"{prefix}_rf_schema"] = ex.text()
    st.session_state[f"{prefix}_rf_name"] = ex.key


def format_controls(prefix: str) -> tuple[ResponseFormat, str | None]:
    """The response-format control; (format, problem): a problem (already shown) means do not send."""
    state = st.session_state
    state.setdefault(f"{prefix}_rf_mode", str(Mode.TEXT))
    state.setdefault(f"{prefix}_rf_example", EXAMPLES[0].key)
    state.setdefault(f"{prefix}_rf_schema", EXAMPLES[0].text())
    state.setdefault(f"{prefix}_rf_name", EXAMPLES[0].key)
    state.setdefault(f"{prefix}_rf_strict", True)
    modes = [str(m) for m in Mode]
    labels = {str(m): _(label) for m, label in MODE_LABELS.items()}
    mode = Mode(st.radio(_("Response format"), modes, format_func=labels.get, key=f"{prefix}_rf_mode", horizontal=True))
    if mode is Mode.TEXT:
        return ResponseFormat(), None
    if mode is Mode.JSON_OBJECT:
        st.caption(_("The reply must be one JSON object (say in the message what it should hold)."))
        return ResponseFormat(Mode.JSON_OBJECT), None
    examples = {e.key: _(e.label) for e in EXAMPLES}
    st.selectbox(_("Example schemas"), list(examples), format_func=examples.get, key=f"{prefix}_rf_example")
    st.button(_("Use example"), key=f"{prefix}_rf_use", on_click=_use_example, args=(prefix,))
    st.text_area(_("JSON schema"), key=f"{prefix}_rf_schema", height=220)
    cols = st.columns(2)
    cols[0].text_input(_("Schema name"), key=f"{prefix}_rf_name", max_chars=64)
    cols[1].checkbox(_("strict (where the provider takes it)"), key=f"{prefix}_rf_strict")
    try:
        schema = load_schema(state[f"{prefix}_rf_schema"])
    except SchemaInvalid as exc:
        problem = tr(exc.detail)
        st.error(_("{title} {detail} Nothing is sent until it is fixed.").format(title=tr(exc.title), detail=problem), icon="⚠️")
        return ResponseFormat(), problem
    return ResponseFormat(
        Mode.JSON_SCHEMA, schema, state[f"{prefix}_rf_name"].strip() or "reply", state[f"{prefix}_rf_strict"]
    ), None


# --- a JSON reply -------------------------------------------------------------------------------


def _colour(p: float) -> str:
    return "green" if p >= SURE else "orange" if p >= UNSURE else "red"


def _leaf_md(value: Any, field: FieldConfidence | None) -> str:
    shown = md_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    shown = shown or '""'
    if field is None:
        return shown
    label = _(_CONFIDENT if field.joint_prob >= SURE else _UNSURE_LABEL if field.joint_prob >= UNSURE else _DOUBTFUL)
    return f":{_colour(field.joint_prob)}-background[{shown}] :{_colour(field.joint_prob)}[{fmt_percent(field.joint_prob, 1)} {label}]"


def outline(value: Any, fields: list[FieldConfidence] | None) -> str:
    """The JSON as a nested markdown list, each value coloured by its confidence (keys and values are
    escaped text)."""
    by_pointer = {f.pointer: f for f in fields or []}
    lines: list[str] = []

    def walk(node: Any, path: str, depth: int, name: str) -> None:
        indent = "    " * depth
        head = f"{indent}- **{md_text(name)}**" if name else f"{indent}-"
        if isinstance(node, dict):
            lines.append(f"{head} {{…}}" if name else f"{indent}- {{…}}")
            for k, v in node.items():
                walk(v, f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}", depth + 1, str(k))
        elif isinstance(node, list):
            lines.append(f"{head} […]" if name else f"{indent}- […]")
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}", depth + 1, f"[{i}]")
        else:
            lines.append(f"{head} {_leaf_md(node, by_pointer.get(path))}".rstrip())

    if isinstance(value, dict):
        for k, v in value.items():
            walk(v, "/" + str(k).replace("~", "~0").replace("/", "~1"), 0, str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            walk(v, f"/{i}", 0, f"[{i}]")
    else:
        walk(value, "", 0, "")
    return "\n".join(lines)


def field_frame(fields: list[FieldConfidence]) -> pd.DataFrame:
    df = pd.DataFrame(list(confidence.rows(fields)), columns=list(confidence.CSV_COLUMNS))
    return df.rename(
        columns={
            "pointer": _("field (JSON pointer)"),
            "value": _("value as written"),
            "joint_probability": _("joint probability"),
            "least_sure_token": _("least sure token"),
            "least_sure_probability": _("its probability"),
            "tokens": _("tokens"),
            "alternatives": _("alternatives there"),
        }
    )


def show_reply(looked: Looked, key: str) -> None:
    """Under a reply: whether it parsed and validated, the JSON coloured by confidence, the field table."""
    parsed = looked.parsed
    if parsed is None:
        return
    if not parsed.parsed:
        st.warning(tr(parsed.headline), icon="⚠️")
        return
    if parsed.problems:
        st.warning(tr(parsed.headline), icon="⚠️")
        st.markdown("\n".join(f"- `{md_text(p.pointer or '/')}`: {md_text(p.complaint)}" for p in parsed.problems))
    else:
        st.caption(_("✅ Valid JSON that matches the schema.") if parsed.schema_checked else _("✅ Valid JSON."))
    fields = looked.fields
    with st.expander(_("JSON, coloured by confidence"), expanded=True):
        if fields:
            st.markdown(outline(parsed.value, fields))
            st.caption(
                _(
                    "Green: {sure} or more sure; orange: from {unsure}; red: below {unsure}. A field's confidence is the joint probability of its tokens."
                ).format(sure=fmt_percent(SURE), unsure=fmt_percent(UNSURE))
            )
        elif looked.confidence_note:
            st.caption(tr(looked.confidence_note))
        st.json(parsed.value, expanded=2)
    if fields:
        with st.expander(_("Fields from least to most sure"), expanded=False):
            df = field_frame(fields)
            st.dataframe(
                df,
                hide_index=True,
                column_config={
                    _("joint probability"): st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
                    _("its probability"): st.column_config.NumberColumn(format="percent"),
                },
            )
            st.download_button(
                _("Download fields (CSV)"),
                confidence.export_csv(fields).encode("utf-8"),
                file_name="fields.csv",
                mime="text/csv",
                key=f"{key}_fields_csv",
            )


def show_for_table(fmt: ResponseFormat, text: str, table: LogprobTable, finish_reason: str | None, key: str) -> None:
    """A JSON reply on the logprobs explorer: parsed, validated and its fields' confidence."""
    if not fmt.structured:
        return
    parsed = parse_reply(text, fmt.schema if fmt.mode is Mode.JSON_SCHEMA else None, finish_reason=finish_reason)
    fields = confidence.field_confidence(table, text) if parsed.parsed and len(table) else None
    note = None if fields else Msg("No token probabilities came with this reply, so there is no per-field confidence.")
    st.subheader(_("JSON reply"))
    show_reply(Looked(parsed, fields, note), key)
