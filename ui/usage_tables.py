"""The usage page's tables: the recent calls (with the CSV), the models shutting down soon and the prices,
with column headers, notes and captions in the visitor's language (the cells' data as logged)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import streamlit as st
from babel.dates import format_date

from lib.core import i18n
from lib.core.pricing import PRICES_FILE, PriceTable
from lib.usage.view import Filters, UsageView, filter_table, to_csv_bytes
from ui.i18n import _, fmt_number, language, tr


def fmt_day(day: dt.date) -> str:
    """A calendar day in the visitor's convention ("Nov 27, 2026", "2026/11/27")."""
    return format_date(day, format="medium", locale=i18n.locale(language()))


def _recent_columns(tz: str, usd_jpy: float | None) -> dict[str, object]:
    number = st.column_config.NumberColumn
    columns: dict[str, object] = {
        "id": _("id"),
        "ts": st.column_config.DatetimeColumn(_("time ({tz})").format(tz=tz), format="YYYY-MM-DD HH:mm:ss"),
        "page": _("page"),
        "provider": _("provider"),
        "model": _("model"),
        "resolved_model": _("resolved model"),
        "temperature": _("temperature"),
        "max_tokens": _("max tokens"),
        "stream": _("streamed"),
        "input_tokens": _("input tokens"),
        "output_tokens": _("output tokens"),
        "total_tokens": _("total tokens"),
        "cached_tokens": number(_("cached tokens"), help=_("Input tokens served from the prompt cache")),
        "ttft_ms": _("time to first token (ms)"),
        "duration_ms": _("duration (ms)"),
        "cost": number(_("cost (USD)"), format="%.6f", help=_("As billed at the price in effect on the call's day")),
        "cost_usd": number(_("cost logged"), format="%.6f"),
        "status": _("status"),
        "error_type": _("error type"),
        "request_id": _("request id"),
        "usage_estimated": _("usage estimated"),
        "cache_hit": _("cache hit"),
        "owner": _("owner"),
        "prompt": _("prompt version"),
    }
    if usd_jpy:
        columns["cost_jpy"] = number(
            _("cost (JPY, estimate)"),
            format="%.2f",
            help=_("The cost in USD at {rate} yen to the dollar (YOAKE_USD_JPY): an estimate, not what was billed.").format(
                rate=fmt_number(usd_jpy)
            ),
        )
    return columns


def by_prompt(view: UsageView, usd_jpy: float | None) -> None:
    """Calls, tokens, cost, latency and error rate per prompt version (calls made from a saved prompt)."""
    st.subheader(_("By prompt version"))
    if view.by_prompt.empty:
        st.caption(_("No call in this selection ran a saved prompt version (start one from the Prompts page)."))
        return
    number = st.column_config.NumberColumn
    frame = view.by_prompt.copy()
    columns: dict[str, object] = {
        "prompt": _("prompt version"),
        "calls": _("calls"),
        "input_tokens": _("input tokens"),
        "output_tokens": _("output tokens"),
        "cost": number(_("cost (USD)"), format="%.6f", help=_("As billed at the price in effect on the call's day")),
        "p50_latency_ms": number(_("latency p50 (ms)"), format="%.0f"),
        "p95_latency_ms": number(_("latency p95 (ms)"), format="%.0f"),
        "error_rate": number(_("error rate"), format="percent"),
    }
    if usd_jpy:
        frame.insert(frame.columns.get_loc("cost") + 1, "cost_jpy", frame["cost"] * usd_jpy)
        columns["cost_jpy"] = number(_("cost (JPY, estimate)"), format="%.2f")
    st.dataframe(frame, key="usage_by_prompt", hide_index=True, width="stretch", column_config=columns)


def recent_calls(view: UsageView, *, table: pa.Table, filters: Filters, tz: str, admin_view: bool,
                 usd_jpy: float | None, file_name: str) -> None:  # fmt: skip
    st.subheader(_("Recent calls"))
    if not view.rows:
        st.caption(_("No calls match the period and filters."))
        return
    # The owner hash says whose call it was: only an admin, who sees everyone's, needs it.
    recent = view.recent if admin_view else view.recent.drop(columns=["owner"], errors="ignore")
    if usd_jpy:
        recent = recent.copy()
        recent.insert(recent.columns.get_loc("cost") + 1, "cost_jpy", recent["cost"] * usd_jpy)
    st.dataframe(recent, key="usage_table", hide_index=True, width="stretch", column_config=_recent_columns(tz, usd_jpy))
    if view.rows > len(view.recent):
        st.caption(
            _("Showing the newest {shown} of {total} calls; the CSV has all of them.").format(
                shown=fmt_number(len(view.recent)), total=fmt_number(view.rows)
            )
        )
    st.download_button(
        _("⬇️ Download CSV"),
        key="usage_csv",
        file_name=file_name,
        mime="text/csv",
        on_click="ignore",
        # built only when clicked: a million rows is no work for a page view
        data=lambda: to_csv_bytes(filter_table(table, filters, tz)),
    )


def shutting_down(view: UsageView, today: dt.date) -> None:
    st.subheader(_("Shutting down soon"))
    if not len(view.shutting_down):
        st.caption(_("No calls to models shutting down in the next 90 days."))
        return
    st.warning(
        _(
            "{count} model(s) you have called shut down within 90 days of {today}: "
            "switch to the replacement before the date, or those calls will fail."
        ).format(count=fmt_number(len(view.shutting_down)), today=fmt_day(today)),
        icon="⏳",
    )
    st.dataframe(
        view.shutting_down,
        key="usage_shutting_down",
        hide_index=True,
        width="stretch",
        column_config={
            "model": _("model"),
            "calls": _("calls"),
            "last_used": st.column_config.DatetimeColumn(_("last used (UTC)"), format="YYYY-MM-DD HH:mm"),
            "shutdown_date": st.column_config.DateColumn(_("shuts down")),
            "replacement": _("replacement"),
        },
    )


def prices(view: UsageView, price_table: PriceTable, data_dir: Path) -> None:
    st.subheader(_("Prices in use"))
    override = data_dir / PRICES_FILE
    if view.unknown_models:
        st.warning(
            _(
                "No price for: {models}. Their cost is unknown; add them to `{file}` (e.g. `{example}`, USD per million tokens)."
            ).format(
                models=", ".join(f"`{m}`" for m in view.unknown_models),
                file=override,
                example='{"my-model": {"input": 0.4, "output": 1.6}}',
            ),
            icon="💲",
        )
    per_million = st.column_config.NumberColumn
    if len(view.models_in_use):
        st.dataframe(
            view.models_in_use.assign(note=view.models_in_use["note"].map(tr)),
            key="usage_models_prices",
            hide_index=True,
            width="stretch",
            column_config={
                "model": _("model"),
                "calls": _("calls"),
                "input": per_million(_("input $/1M"), format="%.3f"),
                "cached_input": per_million(_("cached input $/1M"), format="%.3f"),
                "output": per_million(_("output $/1M"), format="%.3f"),
                "note": _("note"),
            },
        )
    with st.expander(_("Full price table")):
        st.caption(
            _(
                "USD per million tokens, with the page each price was read from. Override or add models in `{file}`; "
                "an entry's effective date keeps older calls at the price they had."
            ).format(file=override)
        )
        st.dataframe(_price_rows(price_table), key="usage_prices", hide_index=True, width="stretch")


def _price_rows(price_table: PriceTable) -> pd.DataFrame:
    def long_context(p) -> str:
        tier = p.long_context
        if not tier:
            return ""
        cached = tier.cached_input if tier.cached_input is not None else tier.input
        return _("> {threshold} input tokens: {input} / {cached} / {output}").format(
            threshold=fmt_number(tier.threshold_tokens), input=f"{tier.input:g}", cached=f"{cached:g}", output=f"{tier.output:g}"
        )

    return pd.DataFrame(
        [
            {
                _("model"): m,
                _("input $/1M"): p.input,
                _("cached input $/1M"): p.cached_input,
                _("output $/1M"): p.output,
                _("long context"): long_context(p),
                _("effective from"): p.effective_from.isoformat() if p.effective_from else "",
                _("source"): (f"{PRICES_FILE}: " if m in price_table.overridden else "") + (p.source or ""),
                _("read on"): p.read_on or "",
            }
            for m, latest in sorted(price_table.prices.items())
            for p in latest.history()
        ]
    )
