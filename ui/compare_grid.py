"""The compare page's grid: a placeholder per cell (its text, its caption) and per column (its speed,
how different its answers are), filled as the runner's events are drained."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lib import compare as cmp
from lib.core.text import format_cost, md_text


def _num(value: float | None, fmt: str) -> str:
    return "?" if value is None else format(value, fmt)


def _cell_caption(res: cmp.CellResult) -> str:
    if res.status == cmp.PENDING:
        return "⏸ waiting for a free slot"
    if res.status == cmp.SKIPPED:
        return "⏹ not run (stopped)"
    if res.status == cmp.RUNNING:
        rate = res.live_rate()
        count = f"{res.live_tokens} token{'s' if res.live_tokens != 1 else ''}"
        return f"⏳ streaming · {count}" + (f" · {rate:.1f} tok/s" if rate else "")
    est = " (est.)" if res.usage_estimated else ""
    parts = [
        f"{(res.duration_ms or 0) / 1000:.2f} s",
        f"first token {_num(res.ttft_ms, '.0f')} ms",
        f"{_num(res.tokens_per_s, '.1f')} tok/s",
        f"{res.input_tokens if res.input_tokens is not None else '?'} in / "
        f"{res.output_tokens if res.output_tokens is not None else '?'} out tokens{est}",
        format_cost(res.cost_usd),
    ]
    if res.perplexity is not None:
        parts.append(f"perplexity {res.perplexity:.2f}")
    prefix = {cmp.DONE: "✅", cmp.ERROR: "⚠️", cmp.STOPPED: "⏹ stopped:"}.get(res.status, "")
    if res.status == cmp.DONE and res.finish_reason == "length":
        prefix = "✂️ cut at max tokens:"
    return f"{prefix} " + " · ".join(parts)


def show_cell(res: cmp.CellResult, text_slot, meta_slot) -> None:
    with text_slot.container():
        if res.text:
            st.markdown(res.text)  # model text as markdown, never as HTML
        elif res.status in (cmp.PENDING, cmp.RUNNING):
            st.caption("…")
        if res.status == cmp.ERROR and res.error:
            st.error(res.error, icon="⚠️")
    meta_slot.caption(_cell_caption(res))


def _column_rate(plan: cmp.GridPlan, results: list[cmp.CellResult], column: int) -> str:
    cells = [results[c.index] for c in plan.cells if c.column == column]
    live = [r.live_rate() for r in cells if r.status == cmp.RUNNING]
    live = [x for x in live if x]
    if live:
        return f"⚡ {sum(live):.1f} tok/s now ({len(live)} streaming)"
    done = [r.tokens_per_s for r in cells if r.status == cmp.DONE and r.tokens_per_s]
    return f"{sum(done) / len(done):.1f} tok/s per answer" if done else ""


def _ratio(value: float | None, base: float | None) -> str:
    return f" (×{value / base:.2f} vs first column)" if value and base else ""


def _show_diversity(slot, div: cmp.Diversity, base: cmp.Diversity | None) -> None:
    if div.samples == 0:
        slot.caption("No finished answers to compare (failed and stopped cells are left out).")
        return
    d1, d2 = div.distinct_1, div.distinct_2
    lines = [
        f"**distinct-1** {_num(d1, '.3f')} · **distinct-2** {_num(d2, '.3f')}"
        + (_ratio(d2, base.distinct_2) if base is not None else ""),
        f"**similarity** {_num(div.similarity, '.3f')}" if div.similarity is not None else "**similarity** — (one answer)",
        f"**identical** {div.identical_answers} of {div.samples} answers"
        + (f" ({', '.join(f'{n}×' for n in div.identical)})" if div.identical else ""),
    ]
    slot.markdown("  \n".join(lines))


def grid(plan: cmp.GridPlan, results: list[cmp.CellResult], *, actions: Callable[[cmp.Cell], None] | None = None):
    """The grid's placeholders: per cell (text, caption), per column (rate, diversity)."""
    ncols = len(plan.columns)
    heads = st.columns(ncols)
    rates = []
    for j, head in enumerate(heads):
        head.markdown(f"#### {md_text(plan.columns[j])}")  # model ids come from the provider: text, not markdown
        rates.append(head.empty())
    slots: dict[int, tuple] = {}
    for r, row_label in enumerate(plan.rows or [""]):
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
    st.markdown("##### How different are each column's answers?")
    divs = st.columns(ncols)
    div_slots = [c.empty() for c in divs]
    st.caption(cmp.DIVERSITY_NOTE)
    return slots, rates, div_slots


def refresh_columns(plan: cmp.GridPlan, results: list[cmp.CellResult], rates: list, div_slots: list) -> None:
    divs = cmp.column_diversity(plan, results)
    for j in range(len(plan.columns)):
        rates[j].caption(_column_rate(plan, results, j))
        _show_diversity(div_slots[j], divs[j], divs[0] if j else None)
