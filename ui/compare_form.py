"""The compare page's form: its remembered values, the sidebar (models, limits, saved runs) and the
prompt, axes and columns that make a `GridSpec`, with what stops it from running."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import streamlit as st

from lib import compare as cmp
from lib.compare.defaults import form_defaults, persona_prompt
from lib.conversation.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name
from lib.llm.chat import parse_seed
from lib.prompts import PromptError, format_ref, parse_ref
from lib.prompts.use import COMPARE, PromptHandoff, compare_variant
from lib.storage.store import Store
from ui.common import PERSIST, Selection, model_picker
from ui.i18n import _, fmt_datetime, language, ngettext, tr
from ui.structured_view import format_controls

state = st.session_state


def init_state() -> None:
    """The form's values: first visit's defaults, or versions of a prompt the Prompts page sent (the widgets
    keep what the visitor sets for the session: `PERSIST`)."""
    handoff = state.pop("cmp_prompt_handoff", None)  # versions of a prompt sent by the Prompts page
    if isinstance(handoff, PromptHandoff) and handoff.page == COMPARE and handoff.refs:
        try:
            name = parse_ref(handoff.refs[0]).name
        except PromptError:
            name = None
        if name:
            state.update({
                "cmp_use_versions": True, "cmp_pv_name": name, "cmp_pv_refs": list(handoff.refs[: cmp.MAX_VARIANTS]),
                "cmp_columns": "variant", "cmp_columns_auto": False, "cmp_view_id": None,
            })  # fmt: skip
    for key, value in {f"cmp_{k}": v for k, v in form_defaults(language()).items()}.items():  # worded: the visitor's language
        state.setdefault(key, value)
    for key, value in {
    "cmp_n_models": 1, "cmp_max_tokens": 256, "cmp_parallel": 4, "cmp_logprobs": True,
    "cmp_n_variants": 1, "cmp_vars": "",
    "cmp_temperatures": "0, 0.7, 1.2", "cmp_top_ps": "", "cmp_samples": 2, "cmp_seed": "1", "cmp_columns": "temperature",
    "cmp_system_1": "", "cmp_system_2": "",
    "cmp_active": None,  # the run streaming now (ActiveRun)
    "cmp_view_id": None,  # the saved run shown
    "cmp_notice": None,  # (kind, text) from the last action
    "cmp_autorun": False,  # a re-run was asked for: start once the form is filled in
}.items():  # fmt: skip
        state.setdefault(key, value)


def sidebar(store: Store) -> list[Selection | None]:
    """Models to compare, limits, and the saved runs; returns each model slot's selection."""

    def _open_run(run_id: str) -> None:
        state.cmp_view_id = run_id

    def _delete_run(run_id: str) -> None:
        store.delete_compare_run(run_id)
        store.remove_prompt_references("compare_run", run_id)
        if state.cmp_view_id == run_id:
            state.cmp_view_id = None
        state.cmp_notice = ("success", _("Run deleted."))

    with st.sidebar:
        st.number_input(_("Models to compare"), 1, cmp.MAX_MODELS, key="cmp_n_models", persist_state=PERSIST)
        selections: list[Selection | None] = []
        for i in range(int(state.cmp_n_models)):
            st.markdown(_("**Model {n}**").format(n=i + 1))
            selections.append(model_picker(f"cmp_m{i}", persist_state=PERSIST))
        st.divider()
        st.number_input(_("Max tokens per answer"), 1, 8192, key="cmp_max_tokens", persist_state=PERSIST)
        st.slider(
            _("Calls at a time"),
            1,
            8,
            key="cmp_parallel",
            persist_state=PERSIST,
            help=_(
                "Cells run concurrently on this many threads. A hosted API answers them in parallel; "
                "the embedded model on 2 cores does not get faster with more."
            ),
        )
        st.toggle(
            _("Perplexity (ask for logprobs)"),
            key="cmp_logprobs",
            persist_state=PERSIST,
            help=_("Requests token logprobs where the provider returns them and shows each answer's perplexity."),
        )
        with st.expander(_("Structured output")):
            state.cmp_format = format_controls("cmp")  # (ResponseFormat, problem)
        with st.expander(_("Saved runs"), expanded=True):
            runs = store.list_compare_runs(limit=50)
            if not runs:
                st.caption(_("Nothing saved yet: every run is saved when it ends."))
            for run in runs:
                open_col, del_col = st.columns([5, 1])
                when = fmt_datetime(datetime.fromtimestamp(run.created_at, UTC), "short")
                calls = ngettext("{n} call", "{n} calls", run.cell_count).format(n=run.cell_count)
                open_col.button(
                    f"{run.title} · {when}",
                    key=f"cmp_open_{run.id}",
                    on_click=_open_run,
                    args=(run.id,),
                    use_container_width=True,
                    type="primary" if run.id == state.cmp_view_id else "secondary",
                    help=f"{calls} · {tr(cmp.STATUS_LABELS.get(run.status, run.status))}",
                )
                del_col.button("🗑️", key=f"cmp_del_{run.id}", on_click=_delete_run, args=(run.id,), help=_("Delete this run"))
    return selections


COLUMN_PREFERENCE = ("temperature", "model", "variant", "top_p", "input", "sample")


def versions(store: Store) -> tuple[list[str], list[dict]] | None:
    """Saved versions of one prompt as the variants ("v3 vs v4 × temperatures"): (their system prompts, their
    `GridSpec.versions` entries); None when the variants are typed."""
    st.toggle(_("Compare saved prompt versions"), key="cmp_use_versions", persist_state=PERSIST,
              help=_("Each version (its system prompt, user message template, temperature and top_p) is a variant."))  # fmt: skip
    if not state.get("cmp_use_versions"):
        return None
    prompts = store.list_prompts()
    if not prompts:
        st.caption(_("No saved prompts yet: write one on the Prompts page."))
        return [], []
    names = [p.name for p in prompts]
    if state.get("cmp_pv_name") not in names:
        state.cmp_pv_name = names[0]
    pick = st.columns([1, 2])
    pick[0].selectbox(_("Saved prompt"), names, key="cmp_pv_name", persist_state=PERSIST)
    prompt = prompts[names.index(state.cmp_pv_name)]
    found = {format_ref(v.prompt_name, v.number): v for v in reversed(store.list_versions(prompt.id))}
    tags = {ref: ", ".join(k for k, n in prompt.labels.items() if n == v.number) for ref, v in found.items()}
    state.cmp_pv_refs = [r for r in state.get("cmp_pv_refs") or [] if r in found] or list(found)[:2]
    pick[1].multiselect(_("Versions (up to {n})").format(n=cmp.MAX_VARIANTS), list(found), key="cmp_pv_refs", persist_state=PERSIST,
                        max_selections=cmp.MAX_VARIANTS,
                        format_func={r: f"{r} ({tags[r]})" if tags[r] else r for r in found}.get)  # fmt: skip
    variants = [compare_variant(found[r]) for r in state.cmp_pv_refs]
    return [system for system, _ in variants], [entry for _, entry in variants]


def form(store: Store, selections: list[Selection | None]) -> tuple[cmp.GridSpec, list[str]]:
    """The prompt, its variants, values and axes; returns the grid they describe and what stops it from
    running (problems: `Msg`s or text in the visitor's language; show them with `tr`)."""

    def _apply_persona() -> None:
        persona = builtin_by_name().get(state.cmp_persona) or {p.name: p for p in store.list_personas()}.get(state.cmp_persona)
        if persona:
            state.cmp_system_0 = persona_prompt(persona, language())

    chosen = versions(store)
    builtin_names = [p.name for p in BUILTIN_PERSONAS] + [CUSTOM_PERSONA]  # ours: shown in the visitor's language
    persona_names = builtin_names[:-1] + sorted(p.name for p in store.list_personas()) + [CUSTOM_PERSONA]
    if state.cmp_persona not in persona_names:
        state.cmp_persona = CUSTOM_PERSONA
    if chosen is None:
        top = st.columns([2, 1])
        top[0].selectbox(
            _("Persona (fills system prompt A)"),
            persona_names,
            key="cmp_persona",
            persist_state=PERSIST,
            on_change=_apply_persona,
            format_func={n: _(n) if n in builtin_names else n for n in persona_names}.get,  # worded now, not when called
        )
        top[1].number_input(
            _("Prompt variants (system prompts)"), 1, cmp.MAX_VARIANTS, key="cmp_n_variants", persist_state=PERSIST
        )
        n_variants = int(state.cmp_n_variants)
        for i, col in enumerate(st.columns(n_variants)):
            col.text_area(
                _("System prompt {name}").format(name=cmp.VARIANT_NAMES[i]),
                key=f"cmp_system_{i}",
                persist_state=PERSIST,
                height=100,
            )
    else:
        st.caption(_("Each version sends its own user message template; the prompt below is sent for a version without one."))
    st.text_area(
        _("Prompt"),
        key="cmp_prompt",
        persist_state=PERSIST,
        height=110,
        placeholder=_("Ask something… Use {{name}} for a value that changes per row, e.g. Describe {{city}} in one line."),
    )
    systems = [state[f"cmp_system_{i}"] for i in range(n_variants)] if chosen is None else chosen[0]
    templates = [str(v.get("template") or "") for v in chosen[1]] if chosen else []
    variables = cmp.find_variables(state.cmp_prompt, *systems, *templates)
    if variables:
        header = ",".join(variables)
        st.text_area(
            _("Values of {variables}: CSV, first line names them, one row per line").format(
                variables=", ".join("{{" + v + "}}" for v in variables)
            ),
            key="cmp_vars",
            persist_state=PERSIST,
            height=110,
            placeholder=f"{header}\n" + ",".join("…" for _ in variables),
        )

    axes = st.columns(4)
    axes[0].text_input(
        _("Temperatures"),
        key="cmp_temperatures",
        persist_state=PERSIST,
        help=_("Comma-separated, 0–2; blank = the provider's default."),
    )
    axes[1].text_input(
        _("top_p values"), key="cmp_top_ps", persist_state=PERSIST, help=_("Comma-separated, 0–1; blank = not sent.")
    )
    axes[2].number_input(
        _("Samples per cell"),
        1,
        cmp.MAX_SAMPLES,
        key="cmp_samples",
        persist_state=PERSIST,
        help=_("Repeats of every combination: sample k is sent with seed + k − 1."),
    )
    axes[3].text_input(_("Seed (blank = random)"), key="cmp_seed", persist_state=PERSIST)

    def _model_choices() -> list[cmp.ModelChoice]:
        chosen = [(s.provider, s.model) for s in selections if s is not None]
        names = [m for _, m in chosen]
        return [cmp.ModelChoice(p.id, m, m if names.count(m) == 1 else f"{p.label.split(' (')[0]}: {m}") for p, m in chosen]

    def _build() -> tuple[cmp.GridSpec, list[str]]:
        """The grid the form describes, and what stops it from running."""
        problems: list[str] = []
        temps, bad = cmp.parse_values(state.cmp_temperatures, _("Temperatures"), 0.0, 2.0)
        problems += [bad] if bad else []
        top_ps, bad = cmp.parse_values(state.cmp_top_ps, "top_p", 0.0, 1.0)
        problems += [bad] if bad else []
        inputs, bad = cmp.parse_inputs(state.cmp_vars, variables)
        problems += [bad] if bad else []
        seed, bad = parse_seed(state.cmp_seed)
        problems += [bad] if bad else []
        if chosen is not None and not chosen[1]:
            problems.append(_("Pick at least one saved prompt version."))
        response_format, bad = state.get("cmp_format") or (None, None)
        problems += [bad] if bad else []
        for i, sel in enumerate(selections):
            if sel is None:
                problems.append(_("Model {n} is not usable yet (see the sidebar).").format(n=i + 1))
        choices = _model_choices()
        if len({(c.provider, c.model) for c in choices}) < len(choices):
            problems.append(_("The same model is chosen twice: use samples to repeat a model."))
        spec = cmp.GridSpec(
            prompt=state.cmp_prompt, models=tuple(choices), variants=tuple(systems) or ("",),
            temperatures=tuple(temps or [None]), top_ps=tuple(top_ps or [None]), inputs=tuple(inputs or [{}]),
            samples=int(state.cmp_samples), seed=seed, max_tokens=int(state.cmp_max_tokens),
            persona=state.cmp_persona if chosen is None else None, versions=tuple(chosen[1]) if chosen else (),
            response_format=response_format.request() if response_format else None,
        )  # fmt: skip
        options = spec.varying() or list(cmp.AXES)
        if state.cmp_columns not in options or state.get("cmp_columns_auto", True):
            # Until the user picks one, the columns follow the most telling axis that varies (versions first).
            preference = ("variant", *COLUMN_PREFERENCE) if spec.versions else COLUMN_PREFERENCE
            state.cmp_columns = next(a for a in preference if a in options)
            state.cmp_columns_auto = True
        st.selectbox(
            _("Columns"),
            options,
            key="cmp_columns",
            persist_state=PERSIST,
            format_func={axis: tr(cmp.AXES[axis]) for axis in options}.get,
            on_change=state.update,
            kwargs={"cmp_columns_auto": False},
            help=_("The axis laid out side by side; every combination of the others is a row."),
        )
        spec = replace(spec, column_axis=state.cmp_columns)
        return spec, problems + cmp.problems(spec)

    return _build()
