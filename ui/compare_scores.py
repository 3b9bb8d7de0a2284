"""The compare page's scoring: assertions per row and for every row (promptfoo's YAML), the judge for
`llm-rubric` and its share of the estimate, each cell's pass/fail with its reason, each column's pass rate
with its 95 % interval, mean score and cost per passing answer, two columns tested against each other,
promptfoo import/export and the HTML report. The scoring itself is lib/evals/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import streamlit as st

from lib import compare as cmp
from lib.conversation.personas import CUSTOM_PERSONA
from lib.conversation.service import Target
from lib.core.errors import YoakeError
from lib.core.text import format_cost, md_text
from lib.evals.assertions import AssertionProblem, CellScore, dump_assertions, parse_assertions
from lib.evals.judge import JudgedRunner, estimate_judge, make_judge
from lib.evals.promptfoo import export_config, import_config
from lib.evals.report import html_report
from lib.evals.scoring import ColumnScore, EvalSpec, column_scores, compare_columns, evals_of
from lib.storage.store import Store
from ui.common import PERSIST, Selection, model_picker, settings
from ui.i18n import N_, _, fmt_number, fmt_percent, language, ngettext, tr

state = st.session_state
PAGE = cmp.PAGE
EXAMPLE = N_("- type: icontains\n  value: blue\n- type: llm-rubric\n  value: Polite and under 50 words")
KEYS = ["cmp_asserts_all", "cmp_threshold", "cmp_judge_slot"]
KEYS += [f"cmp_asserts_row_{i}" for i in range(cmp.MAX_INPUT_ROWS)] + [
    f"cmp_threshold_row_{i}" for i in range(cmp.MAX_INPUT_ROWS)
]
NO_JUDGE = N_("Pick a usable model to judge the llm-rubric assertions.")
OTHER_JUDGE = -1  # the judge slot that means "another model", picked in the sidebar
JUDGE_KEYS = ["cmp_judge_provider", "cmp_judge_model", "cmp_judge_custom_url"]  # that picker's (ui.common.model_picker)


def init_state() -> None:
    for key in KEYS:
        state.setdefault(key, 0 if key == "cmp_judge_slot" else "")
    state.setdefault("cmp_pf_notes", None)
    state.setdefault("cmp_judge_sel", None)  # the judge's Selection this run (a grid slot's or its own)


def form_state(spec: cmp.GridSpec) -> dict:
    """This module's form values that give back `spec`'s assertions (a re-run, an import)."""
    evals = evals_of(spec)
    values: dict = {key: "" for key in KEYS if key != "cmp_judge_slot"}
    values["cmp_asserts_all"] = dump_assertions(evals.assertions)
    values["cmp_threshold"] = "" if evals.threshold is None else f"{evals.threshold:g}"
    for i, row in enumerate(evals.rows):
        values[f"cmp_asserts_row_{i}"] = dump_assertions(row)
    for i, t in enumerate(evals.thresholds):
        values[f"cmp_threshold_row_{i}"] = "" if t is None else f"{t:g}"
    judge = (evals.judge_provider, evals.judge_model)
    slot = next((i for i, m in enumerate(spec.models) if (m.provider, m.model) == judge), OTHER_JUDGE if evals.judge_model else 0)
    if slot == OTHER_JUDGE:
        values |= {"cmp_judge_provider": evals.judge_provider, "cmp_judge_model": evals.judge_model}
    return values | {"cmp_judge_slot": slot}


def _threshold(text: str, where: str, problems: list[str]) -> float | None:
    if not (text or "").strip():
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        problems.append(_("{where}: the threshold must be a number from 0 to 1.").format(where=where))
        return None
    return value


def _parse(text: str, where: str, problems: list[str]) -> tuple:
    try:
        return tuple(parse_assertions(text))
    except AssertionProblem as exc:
        problems.append(_("In {where}: {problem}").format(where=where, problem=tr(exc.detail)))
        return ()


def _import_promptfoo() -> None:
    upload = state.get("cmp_pf_file")
    if upload is None:
        return
    try:
        imported = import_config(upload.getvalue().decode("utf-8", errors="replace"))
    except YoakeError as exc:
        state.cmp_pf_notes = ("error", [tr(exc.detail)])
        return
    from lib.compare.handoff import form_values

    spec = imported.spec
    state.update({f"cmp_{k}": v for k, v in form_values(spec).items()} | form_state(spec))
    for slot, url in imported.base_urls.items():
        state[f"cmp_m{slot}_custom_url"] = url
    state.cmp_persona = CUSTOM_PERSONA
    notes = [tr(n) for n in imported.notes]
    state.cmp_pf_notes = ("warning" if notes else "success", notes or [_("Imported: the form holds the config's setup.")])


def form(spec: cmp.GridSpec, selections: Sequence[Selection | None]) -> tuple[cmp.GridSpec, list[str]]:
    """The assertions' part of the form: returns the spec with its assertions (`spec.evals`) and what stops it."""
    problems: list[str] = []
    rows_have_values = len(spec.inputs) > 1 or bool(spec.inputs[0])
    filled = any(state.get(k) for k in KEYS if k.startswith("cmp_asserts"))
    with st.expander("✅ " + _("Assertions: score every answer"), expanded=filled):
        st.caption(
            _(
                "promptfoo's assertion types, as YAML: `equals`, `contains`, `icontains`, `contains-any`, `contains-all`, "
                "`not-contains`, `starts-with`, `regex`, `is-json`, `contains-json`, `levenshtein`, `rouge-n`, `latency`, "
                "`cost`, `perplexity` and `llm-rubric` (a judge model); `not-` inverts any type. Each can have a `weight`."
            )
        )
        left, right = st.columns([4, 1])
        left.text_area(
            _("Assertions for every row"), key="cmp_asserts_all", persist_state=PERSIST, height=110, placeholder=_(EXAMPLE)
        )
        right.text_input(
            _("Pass threshold"),
            key="cmp_threshold",
            persist_state=PERSIST,
            placeholder="0.8",
            help=_("A cell passes when its weighted score reaches this (0–1). Blank: every assertion must pass."),
        )
        assertions = _parse(state.cmp_asserts_all, _("Assertions for every row"), problems)
        threshold = _threshold(state.cmp_threshold, _("Pass threshold"), problems)
        rows, thresholds = [], []
        if rows_have_values:
            for i, values in enumerate(spec.inputs):
                shown = ", ".join(f"{k}={v}" for k, v in values.items())[:60]
                where = _("Row {n} ({values})").format(n=i + 1, values=shown)
                left, right = st.columns([4, 1])
                left.text_area(
                    _("Assertions for row {n} ({values})").format(n=i + 1, values=shown),
                    key=f"cmp_asserts_row_{i}",
                    persist_state=PERSIST,
                    height=68,
                )
                right.text_input(_("Threshold of row {n}").format(n=i + 1), key=f"cmp_threshold_row_{i}", persist_state=PERSIST)
                rows.append(_parse(state[f"cmp_asserts_row_{i}"], where, problems))
                thresholds.append(_threshold(state[f"cmp_threshold_row_{i}"], where, problems))
        evals = EvalSpec(
            assertions=assertions,
            rows=tuple(rows) if any(rows) else (),
            thresholds=tuple(thresholds) if any(t is not None for t in thresholds) else (),
            threshold=threshold,
        )
        state.cmp_judge_sel = None
        if evals.judged:
            slots = [i for i, s in enumerate(selections) if s is not None] + [OTHER_JUDGE]
            if state.cmp_judge_slot not in slots:
                state.cmp_judge_slot = slots[0]
            names = {i: f"{_('Model {n}').format(n=i + 1)}: {selections[i].model}" for i in slots[:-1]}  # type: ignore[union-attr]
            names[OTHER_JUDGE] = _("Another model (pick it in the sidebar)")
            st.selectbox(
                _("Judge model for llm-rubric"),
                slots,
                key="cmp_judge_slot",
                persist_state=PERSIST,
                format_func=names.get,
                help=_("The judge grades every answer against the rubric and says why (its calls are logged as compare-judge)."),
            )
            if state.cmp_judge_slot == OTHER_JUDGE:
                with st.sidebar:
                    st.divider()
                    st.markdown("**" + _("Judge model") + "**")
                    judge = model_picker("cmp_judge", persist_state=PERSIST)  # any provider, as the grid's models are picked
            else:
                judge = selections[state.cmp_judge_slot]
            state.cmp_judge_sel = judge
            if judge is None:
                problems.append(_(NO_JUDGE))
            else:
                evals = replace(evals, judge_provider=judge.provider.id, judge_model=judge.model)
        _promptfoo_box(replace(spec, evals=None if evals.empty else evals.to_dict()), selections)
    return replace(spec, evals=None if evals.empty else evals.to_dict()), problems


def _promptfoo_box(spec: cmp.GridSpec, selections: Sequence[Selection | None]) -> None:
    st.markdown("**promptfoo**")
    left, right = st.columns([3, 2])
    left.file_uploader(_("Import a promptfooconfig.yaml"), type=["yaml", "yml"], key="cmp_pf_file")
    left.button(
        _("Import into the form"), key="cmp_pf_import", on_click=_import_promptfoo, disabled=state.get("cmp_pf_file") is None
    )
    urls = {i: s.base_url for i, s in enumerate(selections) if s is not None and s.provider.base_url is None}
    right.download_button(
        "⬇️ promptfooconfig.yaml",
        export_config(spec, urls) if spec.prompt.strip() and spec.models else "",
        "promptfooconfig.yaml",
        "application/yaml",
        key="cmp_pf_export",
        on_click="ignore",
        disabled=not (spec.prompt.strip() and spec.models),
        help=_("This setup as a promptfoo config: run it with `promptfoo eval`."),
    )
    if state.cmp_pf_notes:
        kind, notes = state.cmp_pf_notes
        getattr(st, kind)("  \n".join(md_text(n) for n in notes))


def judge_estimate(spec: cmp.GridSpec, plan: cmp.GridPlan, selections: Sequence[Selection | None]) -> str:
    """The judge's share of the estimate, as a sentence ("" without llm-rubric)."""
    evals = evals_of(spec)
    if not evals.judged or not evals.judge_model:
        return ""
    sel: Selection | None = state.get("cmp_judge_sel")
    ctx = sel.context(PAGE) if sel is not None else None
    est = estimate_judge(
        spec, plan, evals, local=bool(sel and sel.provider.local), prices=ctx.prices if ctx else None, lang=language()
    )
    cost = format_cost(est.cost_usd, "at most", lang=language(), usd_jpy=settings().usd_jpy)
    return _("plus {n} judge calls ({model}): about {input} input tokens, at most {output} output tokens · {cost}").format(
        n=est.calls,
        model=evals.judge_model,
        input=fmt_number(est.input_tokens),
        output=fmt_number(est.max_output_tokens),
        cost=cost,
    )


def runner(
    spec: cmp.GridSpec, plan: cmp.GridPlan, targets: list[Target], selections: Sequence[Selection | None], **kw
) -> cmp.GridRunner:
    """The grid's runner; with llm-rubric assertions each worker judges its cell after streaming it."""
    evals = evals_of(spec)
    judge = None
    sel: Selection | None = state.get("cmp_judge_sel")
    if evals.judged and evals.judge_model and sel is not None:
        judge = make_judge(Target(sel.provider, sel.base_url, sel.client, sel.context(PAGE)), evals.judge_model, language())
    return JudgedRunner(plan.cells, targets, spec=spec, evals=evals, judge=judge, **kw)


# --- showing scores ---------------------------------------------------------------------------------


def score_line(score: CellScore | None) -> str:
    """A cell's verdict as one markdown line ("" when not scored)."""
    if score is None:
        return ""
    value = fmt_number(score.score, 2)
    if score.passed:
        return "✅ " + _("**pass** · score {score}").format(score=value)
    icon = "⚠️" if score.judge_failed else "❌"
    return icon + " " + _("**fail** · score {score}: {reason}").format(score=value, reason=md_text(tr(score.reason)))


def column_line(col: ColumnScore) -> str:
    if not col.scored:
        return ""
    lo, hi = col.interval or (0.0, 1.0)
    parts = [
        _("**pass rate** {rate} ({passed}/{n}) · {level} interval {lo}–{hi}").format(
            level=fmt_percent(0.95),
            rate=fmt_percent(col.passed / col.scored),
            passed=col.passed,
            n=col.scored,
            lo=fmt_percent(lo),
            hi=fmt_percent(hi),
        ),
        _("**mean score** {score}").format(score=fmt_number(col.mean_score or 0, 2)),
        _("**cost per passing answer** {cost}").format(
            cost=format_cost(col.cost_per_pass, lang=language(), usd_jpy=settings().usd_jpy)
            if col.cost_per_pass is not None
            else "—"
        ),
    ]
    if col.judge_failures:
        failed = ngettext("the judge failed on {n} answer", "the judge failed on {n} answers", col.judge_failures)
        parts.append("⚠️ " + failed.format(n=col.judge_failures))
    return "  \n".join(parts)


def column_slots(ncols: int) -> list:
    st.markdown("##### " + _("How well does each column score?"))
    return [c.empty() for c in st.columns(ncols)]


def refresh_columns(
    plan: cmp.GridPlan, results: list[cmp.CellResult], scores: Sequence[CellScore | None], slots: list
) -> list[ColumnScore]:
    cols = column_scores(plan, results, scores)
    for slot, col in zip(slots, cols, strict=True):
        slot.markdown(column_line(col) or "—")
    return cols


def compare_box(plan: cmp.GridPlan, scores: Sequence[CellScore | None], labels: list[str]) -> None:
    """Two columns tested against each other, the verdict in words."""
    if len(plan.columns) < 2 or all(s is None for s in scores):
        return
    st.markdown("##### " + _("Compare two columns"))
    options = list(range(len(plan.columns)))
    names = dict(enumerate(labels))
    left, right = st.columns(2)
    state.setdefault("cmp_cmp_a", 0)
    state.setdefault("cmp_cmp_b", 1)
    for key in ("cmp_cmp_a", "cmp_cmp_b"):
        if state[key] not in options:
            state[key] = 0
    left.selectbox(_("First column"), options, key="cmp_cmp_a", format_func=names.get)
    right.selectbox(_("Second column"), options, key="cmp_cmp_b", format_func=names.get)
    if state.cmp_cmp_a == state.cmp_cmp_b:
        st.caption(_("Pick two different columns."))
        return
    comp = compare_columns(plan, scores, state.cmp_cmp_a, state.cmp_cmp_b, labels)
    (st.success if comp.likely_real else st.info)(md_text(tr(comp.verdict)), icon="🧪")
    if comp.result.score_diff is not None:
        mean, lo, hi = comp.result.score_diff
        st.caption(
            _("Mean score difference {diff} ({level} bootstrap interval {lo} to {hi}), paired by row, prompt and seed.").format(
                level=fmt_percent(0.95), diff=fmt_number(mean, 2), lo=fmt_number(lo, 2), hi=fmt_number(hi, 2)
            )
        )


def report_button(
    store: Store, record: cmp.RunRecord, scores: Sequence[CellScore | None], labels: tuple[list[str], list[str]], stem: str, where
) -> None:
    columns, rows = labels
    cols = column_scores(record.plan, record.results, scores)
    ratings = store.list_ratings(record.id) if record.id else {}
    votes = store.list_blind_votes(record.id) if record.id else []
    report = html_report(
        record, scores, cols, column_labels=columns, row_labels=rows, ratings=ratings, votes=votes,
        lang=language(), usd_jpy=settings().usd_jpy,
    )  # fmt: skip
    where.download_button(
        "⬇️ " + _("Report (HTML)"), report, f"{stem}.html", "text/html", key="cmp_dl_html", on_click="ignore",
        help=_("One self-contained HTML file of this run (settings, answers, scores, votes) to send to a client."),
    )  # fmt: skip
