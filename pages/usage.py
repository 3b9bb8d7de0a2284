"""Usage: what every call cost, how fast it was, and what failed (from the usage log)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.compute as pc
import streamlit as st

from lib.core import usage_log
from lib.core.identity import owner_hash
from lib.core.policy import usage_owners
from lib.core.pricing import PRICES_FILE, Deprecation, Price, load_price_table
from lib.llm.providers import PROVIDERS
from lib.usage.reader import UsageLog, cache_path_for
from lib.usage.view import Filters, UsageView, build_view, filter_table, options, to_csv_bytes
from ui import usage_charts
from ui.common import current_visitor, enter_page, settings

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("📊 Usage")

cfg = settings()
log_path = usage_log.usage_path(cfg.data_dir)
LOCAL_PROVIDERS = tuple(p.id for p in PROVIDERS.values() if p.local)


@st.cache_resource(show_spinner=False)
def _reader(path: str) -> UsageLog:
    # One reader per log, shared by all sessions: it keeps the parsed rows and reads only new bytes.
    return UsageLog(Path(path), cache_path_for(Path(path)))


@st.cache_data(show_spinner=False, max_entries=8)
def _options(path: str, version: tuple, owners_key: str, _table, _owners: frozenset[str] | None) -> dict[str, list[str]]:
    return options(_table, _owners)


@st.cache_data(show_spinner=False, max_entries=8)
def _owner_hashes(path: str, version: tuple, _table) -> list[str]:
    return sorted(h for h in pc.unique(_table["owner"]).to_pylist() if h)


@st.cache_data(show_spinner="Summarising the usage log…", max_entries=16)
def _view(
    path: str,
    version: tuple,
    filters_key: str,
    tz: str,
    today: dt.date,
    bucket: str,
    prices_key: str,
    _table,
    _filters: Filters,
    _prices: dict[str, Price],
    _deprecations: dict[str, Deprecation],
) -> UsageView:
    # Keyed on the log's version, not its rows: a rerun with nothing new costs nothing.
    return build_view(
        _table,
        _filters,
        prices=_prices,
        local_providers=LOCAL_PROVIDERS,
        tz=tz,
        today=today,
        bucket=bucket,
        deprecations=_deprecations,
    )


def _timezone() -> str:
    tz = st.context.timezone or "UTC"  # the browser's zone when it has told us
    try:
        ZoneInfo(tz)
    except Exception:
        return "UTC"
    return tz


with st.spinner("Reading the usage log…"):
    reader = _reader(str(log_path))
    snap = reader.snapshot()
table = snap.table
tz = _timezone()
today = pd.Timestamp.now(tz).date()
# Signed in, a visitor sees their own calls (by their owner's hash); admins and a laptop see all.
visitor = current_visitor()
owners = usage_owners(visitor, cfg)
mine = owner_hash(visitor.owner)
admin_view = owners is None and visitor.identity is not None  # signed in as one of YOAKE_ADMINS
opts = _options(str(log_path), snap.version, repr(sorted(owners or [])) if owners else "all", table, owners)
price_table = load_price_table(cfg.data_dir)

state = st.session_state
PERIODS = {"All time": None, "Today": 0, "Last 7 days": 6, "Last 30 days": 29, "Custom range": None}
state.setdefault("usage_period", "All time")
state.setdefault("usage_dates", (today - dt.timedelta(days=6), today))
state.setdefault("usage_threshold", cfg.daily_token_alert)

with st.sidebar:
    st.button("↻ Refresh", key="usage_refresh", help="Reads only the calls logged since the last view.", width="stretch")
    period = st.selectbox("Period", list(PERIODS), key="usage_period", help=f"Days in {tz}.")
    if period == "Custom range":
        dates = st.date_input("From – to", key="usage_dates")
    providers = st.multiselect("Provider", opts["provider"], key="usage_provider", placeholder="All providers")
    models = st.multiselect("Model", opts["model"], key="usage_model", placeholder="All models")
    pages = st.multiselect("Page", opts["page"], key="usage_page", placeholder="All pages")
    statuses = st.multiselect("Status", ["ok", "error"], key="usage_status", placeholder="Any status")
    if admin_view:
        picked_owners = st.multiselect(
            "Owner",
            _owner_hashes(str(log_path), snap.version, table),
            key="usage_owner",
            placeholder="Everyone",
            format_func=lambda h: f"{h} (you)" if h == mine else h,
            help="A short hash of each signed-in identity (issuer and subject); the log holds no e-mails.",
        )
        owners = frozenset(picked_owners) or None
    bucket = st.segmented_control("Chart buckets", ["auto", "hour", "day"], default="auto", key="usage_bucket") or "auto"
    threshold = st.number_input(
        "Daily token alert",
        min_value=1,
        step=50_000,
        key="usage_threshold",
        help="Warn when today's tokens (all calls) reach this many.",
    )

start: dt.date | None = None
end: dt.date | None = None
if period == "Custom range":
    # A range picker mid-selection returns one date: treat it as a single day.
    picked = tuple(dates) if isinstance(dates, (tuple, list)) else (dates,)
    start = picked[0] if picked else None
    end = picked[1] if len(picked) > 1 else start
elif PERIODS[period] is not None:
    start, end = today - dt.timedelta(days=PERIODS[period]), today
filters = Filters(
    start=start,
    end=end,
    providers=tuple(providers),
    models=tuple(models),
    pages=tuple(pages),
    statuses=tuple(statuses),
    owners=owners,
)
prices_key = repr((sorted(price_table.prices.items()), sorted(price_table.deprecations.items())))
view = _view(
    str(log_path),
    snap.version,
    repr(filters),
    tz,
    today,
    bucket,
    prices_key,
    table,
    filters,
    price_table.prices,
    price_table.deprecations,
)

# --- the log's health -------------------------------------------------------------------------------
if not snap.exists:
    st.info(f"No usage log yet (`{log_path}`). Calls made on the other pages appear here.")
elif table.num_rows == 0 and not snap.bad_lines:
    st.info("The usage log is empty. Calls made on the other pages appear here.")
if snap.bad_lines:
    st.warning(
        f"{snap.bad_lines:,} malformed line(s) in the usage log were skipped (a torn last line, a hand edit or an older format).",
        icon="⚠️",
    )
else:
    st.caption("Malformed lines skipped: 0")
for problem in price_table.problems:
    st.warning(f"`{PRICES_FILE}` {problem}. Default prices are used where it gives none.", icon="⚠️")


# --- headline figures -------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


c = st.columns(6)
c[0].metric("Calls", f"{view.rows:,}")
c[1].metric("Input tokens", f"{view.input_tokens:,}")
c[2].metric(
    "Cached input tokens",
    f"{view.cached_tokens:,}",
    help="Of the input tokens, those the provider served from its prompt cache: billed at the cached-input price.",
)
c[3].metric("Output tokens", f"{view.output_tokens:,}")
c[4].metric(
    "Estimated cost",
    f"${view.cost:,.4f}",
    help=f"{view.cost_unknown:,} call(s) without a price are not included."
    if view.cost_unknown
    else "At the prices below; local calls and cache hits are free.",
)
c[5].metric("Error rate", "—" if view.error_rate is None else f"{view.error_rate:.1%}", help=f"{view.errors:,} failed call(s).")
c = st.columns(5)
c[0].metric("Latency p50", _ms(view.p50_latency_ms), help="Successful calls, request to last token.")
c[1].metric("Latency p95", _ms(view.p95_latency_ms))
c[2].metric("Time to first token p50", _ms(view.p50_ttft_ms), help="Successful streamed calls.")
c[3].metric("Time to first token p95", _ms(view.p95_ttft_ms))
c[4].metric(
    "Today's tokens",
    f"{view.today_tokens:,}",
    help=f"All calls on {today:%Y-%m-%d} ({tz}), whatever the filters.",
    delta=f"{view.today_tokens / threshold:.0%} of the {int(threshold):,} alert",
    delta_color="off",
)
if view.today_tokens >= threshold:
    st.warning(
        f"Today's usage ({view.today_tokens:,} tokens) has reached the daily alert of {int(threshold):,} tokens.", icon="🚨"
    )
if view.cost_unknown:
    st.caption(f"{view.cost_unknown:,} call(s) have no price, so the estimated cost leaves them out (see the price table).")

# --- charts -------------------------------------------------------------------------------------------
if view.rows:
    usage_charts.charts(view, tz)

# --- recent calls ----------------------------------------------------------------------------------------
st.subheader("Recent calls")
if view.rows:
    st.dataframe(
        # The owner hash says whose call it was: only an admin, who sees everyone's, needs it.
        view.recent if admin_view else view.recent.drop(columns=["owner"], errors="ignore"),
        key="usage_table",
        hide_index=True,
        width="stretch",
        column_config={
            "ts": st.column_config.DatetimeColumn(f"time ({tz})", format="YYYY-MM-DD HH:mm:ss"),
            "cost": st.column_config.NumberColumn(
                "cost (USD)", format="%.6f", help="As billed at the price in effect on the call's day"
            ),
            "cached_tokens": st.column_config.NumberColumn("cached tokens", help="Input tokens served from the prompt cache"),
            "cost_usd": st.column_config.NumberColumn("cost logged", format="%.6f"),
        },
    )
    if view.rows > len(view.recent):
        st.caption(f"Showing the newest {len(view.recent):,} of {view.rows:,} calls; the CSV has all of them.")
    st.download_button(
        "⬇️ Download CSV",
        key="usage_csv",
        file_name=f"usage-{start or 'all'}-{end or today}.csv",
        mime="text/csv",
        on_click="ignore",
        # built only when clicked: a million rows is no work for a page view
        data=lambda: to_csv_bytes(filter_table(table, filters, tz)),
    )
else:
    st.caption("No calls match the period and filters.")

# --- models going away -------------------------------------------------------------------------------------
st.subheader("Shutting down soon")
if len(view.shutting_down):
    st.warning(
        f"{len(view.shutting_down)} model(s) you have called shut down within 90 days of {today:%Y-%m-%d}: "
        "switch to the replacement before the date, or those calls will fail.",
        icon="⏳",
    )
    st.dataframe(
        view.shutting_down,
        key="usage_shutting_down",
        hide_index=True,
        width="stretch",
        column_config={
            "last_used": st.column_config.DatetimeColumn("last used (UTC)", format="YYYY-MM-DD HH:mm"),
            "shutdown_date": st.column_config.DateColumn("shuts down"),
        },
    )
else:
    st.caption("No calls to models shutting down in the next 90 days.")

# --- prices ------------------------------------------------------------------------------------------------
st.subheader("Prices in use")
if view.unknown_models:
    st.warning(
        "No price for: "
        + ", ".join(f"`{m}`" for m in view.unknown_models)
        + f". Their cost is unknown; add them to `{cfg.data_dir / PRICES_FILE}` "
        '(e.g. `{"my-model": {"input": 0.4, "output": 1.6}}`, USD per million tokens).',
        icon="💲",
    )
if len(view.models_in_use):
    st.dataframe(
        view.models_in_use,
        key="usage_models_prices",
        hide_index=True,
        width="stretch",
        column_config={
            "input": st.column_config.NumberColumn("input $/1M", format="%.3f"),
            "cached_input": st.column_config.NumberColumn("cached input $/1M", format="%.3f"),
            "output": st.column_config.NumberColumn("output $/1M", format="%.3f"),
        },
    )
with st.expander("Full price table"):
    st.caption(
        f"USD per million tokens, with the page each price was read from. Override or add models in `{cfg.data_dir / PRICES_FILE}`; "
        "an entry's effective date keeps older calls at the price they had."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "model": m,
                    "input $/1M": p.input,
                    "cached input $/1M": p.cached_input,
                    "output $/1M": p.output,
                    "long context": (
                        f"> {p.long_context.threshold_tokens:,} input tokens: {p.long_context.input:g} / "
                        f"{p.long_context.cached_input if p.long_context.cached_input is not None else p.long_context.input:g} / "
                        f"{p.long_context.output:g}"
                        if p.long_context
                        else ""
                    ),
                    "effective from": p.effective_from.isoformat() if p.effective_from else "",
                    "source": (f"{PRICES_FILE}: " if m in price_table.overridden else "") + (p.source or ""),
                    "read on": p.read_on or "",
                }
                for m, latest in sorted(price_table.prices.items())
                for p in latest.history()
            ]
        ),
        key="usage_prices",
        hide_index=True,
        width="stretch",
    )
