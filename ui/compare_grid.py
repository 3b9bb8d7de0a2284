"""The compare page's grid: a placeholder per cell (its text, its caption) and per column (its speed,
how different its answers are), filled as the runner's events are drained."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lib import compare as cmp
from lib.core.text import format_cost, md_text
from lib.structured.request import ColumnFigures
from ui.common import settings
from ui.i18n import _, fmt_number, fmt_percent, language, ngettext, tr


def _num(value: float | None, decimals: int) -> str:
    return "?" if value is None else fmt_number(value, decimals)


def _tokens(value: int | None) -> str:
    return "?" if value is None else fmt_number(value)


def _cell_caption(res: cmp.CellResult) -> str:
    if res.status == cmp.PENDING:
        return "⏸ " + _("waiting for a free slot")
    if res.status == cmp.SKIPPED:
        return "⏹ " + _("not run (stopped)")
    if res.status == cmp.RUNNING:
        rate = res.live_rate()
        count = ngettext("{n} token", "{n} tokens", res.live_tokens).format(n=fmt_number(res.live_tokens))
        return "⏳ " + _("streaming · {count}").format(count=count) + (f" · {fmt_number(rate, 1)} tok/s" if rate else "")
    tokens = _("{input} in / {output} out tokens").format(input=_tokens(res.input_tokens), output=_tokens(res.output_tokens))
    parts = [
        _("{seconds} s").format(seconds=fmt_number((res.duration_ms or 0) / 1000, 2)),
        _("first token {ms} ms").format(ms=_num(res.ttft_ms, 0)),
        f"{_num(res.tokens_per_s, 1)} tok/s",
        _("{tokens} (est.)").format(tokens=tokens) if res.usage_estimated else tokens,
        format_cost(res.cost_usd, lang=language(), usd_jpy=settings().usd_jpy),
    ]
    if res.perplexity is not None:
        parts.append(_("perplexity {value}").format(value=f"{res.perplexity:.2f}"))
    figures = " · ".join(parts)
    if res.status == cmp.DONE and res.finish_reason == "length":
        return "✂️ " + _("cut at max tokens: {figures}").format(figures=figures)
    if res.status == cmp.STOPPED:
        return "⏹ " + _("stopped: {figures}").format(figures=figures)
    return {cmp.DONE: "✅", cmp.ERROR: "⚠️"}.get(res.status, "") + " " + figures


def show_cell(res: cmp.CellResult, text_slot, meta_slot, verdict: str = "") -> None:
    with text_slot.container():
        if res.text:
            st.markdown(res.text)  # model text as markdown, never as HTML
        elif res.status in (cmp.PENDING, cmp.RUNNING):
            st.caption("…")
        if res.status == cmp.ERROR and res.error:
            st.error(tr(res.error), icon="⚠️")
    if not verdict:
        meta_slot.caption(_cell_caption(res))
        return
    with meta_slot.container():  # its assertions' verdict (ui/compare_scores.py) under the figures
        st.caption(_cell_caption(res))
        st.markdown(verdict)


def _column_rate(plan: cmp.GridPlan, results: list[cmp.CellResult], column: int) -> str:
    cells = [results[c.index] for c in plan.cells if c.column == column]
    live = [r.live_rate() for r in cells if r.status == cmp.RUNNING]
    live = [x for x in live if x]
    if live:
        return "⚡ " + _("{rate} tok/s now ({n} streaming)").format(rate=fmt_number(sum(live), 1), n=len(live))
    done = [r.tokens_per_s for r in cells if r.status == cmp.DONE and r.tokens_per_s]
    return _("{rate} tok/s per answer").format(rate=fmt_number(sum(done) / len(done), 1)) if done else ""


def _column_structure(plan: cmp.GridPlan, results: list[cmp.CellResult], column: int) -> str:
    """With a response format: the column's rate of valid answers and their mean field confidence."""
    figures = ColumnFigures.of([(results[c.index].schema_valid, results[c.index].field_confidence) for c in plan.cells
                                if c.column == column])  # fmt: skip
    if figures.valid_rate is None:
        return ""
    text = _("{rate} schema-valid").format(rate=fmt_percent(figures.valid_rate))
    if figures.mean_confidence is not None:
        text += " · " + _("mean field confidence {p}").format(p=fmt_percent(figures.mean_confidence, 1))
    return text


def _with_ratio(text: str, value: float | None, base: float | None) -> str:
    """A column's figure with how it compares to the first column's."""
    if not value or not base:
        return text
    return _("{value} (×{ratio} vs first column)").format(value=text, ratio=f"{value / base:.2f}")


def _show_diversity(slot, div: cmp.Diversity, base: cmp.Diversity | None) -> None:
    if div.samples == 0:
        slot.caption(_("No finished answers to compare (failed and stopped cells are left out)."))
        return
    d1, d2 = div.distinct_1, div.distinct_2
    identical = _("**identical** {n} of {total} answers").format(n=div.identical_answers, total=div.samples)
    lines = [
        f"**distinct-1** {_num(d1, 3)} · **distinct-2** " + _with_ratio(_num(d2, 3), d2, base.distinct_2 if base else None),
        _("**similarity** {value}").format(value=_num(div.similarity, 3))
        if div.similarity is not None
        else _("**similarity** — (one answer)"),
        identical + (f" ({', '.join(f'{n}×' for n in div.identical)})" if div.identical else ""),
    ]
    slot.markdown("  \n".join(lines))


def _labels(spec: cmp.GridSpec, plan: cmp.GridPlan) -> tuple[list[str], list[str]]:
    """Column and row labels in the visitor's language (those saved with the run are English)."""
    columns, rows = cmp.labels(spec, plan.column_axis)
    if len(columns) != len(plan.columns) or len(rows) != len(plan.rows or [""]):  # not this spec's layout: as saved
        return plan.columns, plan.rows or [""]
    return [tr(c) for c in columns], [" · ".join(tr(p) for p in parts) for parts in rows]


def shown_labels(spec: cmp.GridSpec, plan: cmp.GridPlan) -> tuple[list[str], list[str]]:
    return _labels(spec, plan)


def grid(
    spec: cmp.GridSpec,
    plan: cmp.GridPlan,
    results: list[cmp.CellResult],
    *,
    actions: Callable[[cmp.Cell], None] | None = None,
):
    """The grid's placeholders: per cell (text, caption), per column (rate, diversity)."""
    ncols = len(plan.columns)
    column_labels, row_labels = _labels(spec, plan)
    heads = st.columns(ncols)
    rates = []
    for j, head in enumerate(heads):
        head.markdown(f"#### {md_text(column_labels[j])}")  # model ids come from the provider: text, not markdown
        rates.append(head.empty())
    slots: dict[int, tuple] = {}
    for r, row_label in enumerate(row_labels):
        if row_label:
            st.markdown(f"**{md_text(row_label)}**")
        cols = st.columns(ncols)
        for j, col in enumerate(cols):
            cell = plan.at(r, j)
            if cell is None:
                continue
            with col, st.container(key=f"cmp_cell_{cell.index}"):
                with st.container(border=True, height=260):
                    text_slot = st.empty()
                meta_slot = st.empty()
                slots[cell.index] = (text_slot, meta_slot)
                if actions is not None:
                    actions(cell)
    st.markdown("##### " + _("How different are each column's answers?"))
    divs = st.columns(ncols)
    div_slots = [c.empty() for c in divs]
    st.caption(tr(cmp.DIVERSITY_NOTE))
    return slots, rates, div_slots


def refresh_columns(plan: cmp.GridPlan, results: list[cmp.CellResult], rates: list, div_slots: list) -> None:
    divs = cmp.column_diversity(plan, results)
    for j in range(len(plan.columns)):
        rates[j].caption(" · ".join(t for t in (_column_rate(plan, results, j), _column_structure(plan, results, j)) if t))
        _show_diversity(div_slots[j], divs[j], divs[0] if j else None)


def factor(axis: str, n: int) -> str:
    """How many values an axis has, as the estimate says it ("2 prompt variants")."""
    if axis == "model":
        return ngettext("{n} model", "{n} models", n).format(n=n)
    if axis == "temperature":
        return ngettext("{n} temperature", "{n} temperatures", n).format(n=n)
    if axis == "top_p":
        return ngettext("{n} top_p value", "{n} top_p values", n).format(n=n)
    if axis == "variant":
        return ngettext("{n} prompt variant", "{n} prompt variants", n).format(n=n)
    if axis == "input":
        return ngettext("{n} variable row", "{n} variable rows", n).format(n=n)
    return ngettext("{n} sample", "{n} samples", n).format(n=n)
