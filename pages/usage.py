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
from lib.core.text import format_cost
from lib.llm.providers import PROVIDERS
from lib.usage.reader import UsageLog, cache_path_for
from lib.usage.view import Filters, UsageView, build_view, options
from ui import usage_charts, usage_tables
from ui.common import current_visitor, enter_page, settings
from ui.i18n import N_, _, fmt_number, fmt_percent, language, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

st.title("📊 " + _("Usage"))

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


@st.cache_data(show_spinner=False, max_entries=16)
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


with st.spinner(_("Reading the usage log…")):
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
# Stored values stay English (the session and tests use them); each is shown in the visitor's language.
PERIODS = {N_("All time"): None, N_("Today"): 0, N_("Last 7 days"): 6, N_("Last 30 days"): 29, N_("Custom range"): None}
BUCKETS = {"auto": N_("auto"), "hour": N_("hour"), "day": N_("day")}
STATUSES = {"ok": N_("ok"), "error": N_("error")}
state.setdefault("usage_period", "All time")
state.setdefault("usage_dates", (today - dt.timedelta(days=6), today))
state.setdefault("usage_threshold", cfg.daily_token_alert)

with st.sidebar:
    st.button(_("↻ Refresh"), key="usage_refresh", help=_("Reads only the calls logged since the last view."), width="stretch")
    period = st.selectbox(
        _("Period"),
        list(PERIODS),
        key="usage_period",
        format_func=usage_charts.shown_as({p: p for p in PERIODS}),
        help=_("Days in {tz}.").format(tz=tz),
    )
    if period == "Custom range":
        dates = st.date_input(_("From – to"), key="usage_dates")
    providers = st.multiselect(_("Provider"), opts["provider"], key="usage_provider", placeholder=_("All providers"))
    models = st.multiselect(_("Model"), opts["model"], key="usage_model", placeholder=_("All models"))
    pages = st.multiselect(
        _("Page"),
        opts["page"],
        key="usage_page",
        placeholder=_("All pages"),
        format_func=usage_charts.shown_as(usage_charts.PAGE_TITLES),
    )
    prompts = st.multiselect(_("Prompt version"), opts["prompt"], key="usage_prompt", placeholder=_("Any prompt or none"))
    statuses = st.multiselect(
        _("Status"), list(STATUSES), key="usage_status", placeholder=_("Any status"), format_func=usage_charts.shown_as(STATUSES)
    )
    if admin_view:
        picked_owners = st.multiselect(
            _("Owner"),
            _owner_hashes(str(log_path), snap.version, table),
            key="usage_owner",
            placeholder=_("Everyone"),
            format_func=usage_charts.shown_as({mine: _("{owner} (you)").format(owner=mine)}, translate=False),
            help=_("A short hash of each signed-in identity (issuer and subject); the log holds no e-mails."),
        )
        owners = frozenset(picked_owners) or None
    bucket = (
        st.segmented_control(
            _("Chart buckets"), list(BUCKETS), default="auto", key="usage_bucket", format_func=usage_charts.shown_as(BUCKETS)
        )
        or "auto"
    )
    threshold = st.number_input(
        _("Daily token alert"),
        min_value=1,
        step=50_000,
        key="usage_threshold",
        help=_("Warn when today's tokens (all calls) reach this many."),
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
    prompts=tuple(prompts),
    owners=owners,
)
prices_key = repr((sorted(price_table.prices.items()), sorted(price_table.deprecations.items())))
with st.spinner(_("Summarising the usage log…")):
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
    st.info(_("No usage log yet (`{path}`). Calls made on the other pages appear here.").format(path=log_path))
elif table.num_rows == 0 and not snap.bad_lines:
    st.info(_("The usage log is empty. Calls made on the other pages appear here."))
if snap.bad_lines:
    st.warning(
        _("{count} malformed line(s) in the usage log were skipped (a torn last line, a hand edit or an older format).").format(
            count=fmt_number(snap.bad_lines)
        ),
        icon="⚠️",
    )
else:
    st.caption(_("Malformed lines skipped: {count}").format(count=fmt_number(0)))
for problem in price_table.problems:
    st.warning(
        _("`{file}` {problem}. Default prices are used where it gives none.").format(file=PRICES_FILE, problem=tr(problem)),
        icon="⚠️",
    )


# --- headline figures -------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "—" if value is None else _("{ms} ms").format(ms=fmt_number(value, 0))


def _count(n: int) -> str:
    return fmt_number(n)


c = st.columns(6)
c[0].metric(_("Calls"), _count(view.rows))
c[1].metric(_("Input tokens"), _count(view.input_tokens))
c[2].metric(
    _("Cached input tokens"),
    _count(view.cached_tokens),
    help=_("Of the input tokens, those the provider served from its prompt cache: billed at the cached-input price."),
)
c[3].metric(_("Output tokens"), _count(view.output_tokens))
c[4].metric(
    _("Estimated cost"),
    "$" + fmt_number(view.cost, 4),
    help=_("{count} call(s) without a price are not included.").format(count=_count(view.cost_unknown))
    if view.cost_unknown
    else _("At the prices below; local calls and cache hits are free."),
)
c[5].metric(
    _("Error rate"),
    "—" if view.error_rate is None else fmt_percent(view.error_rate, 1),
    help=_("{count} failed call(s).").format(count=_count(view.errors)),
)
if view.tool_calls or view.tool_results:  # chat with tools (issue 26)
    st.caption(
        _("🔧 Tool calls made by the models: {calls} · tool results sent back: {results}").format(
            calls=_count(view.tool_calls), results=_count(view.tool_results)
        )
    )
if cfg.usd_jpy and view.cost:  # YOAKE_USD_JPY: the yen beside the dollars, labelled as an estimate at that rate
    st.caption(
        _("Estimated cost: {cost}").format(cost=format_cost(view.cost, lang=language(), usd_jpy=cfg.usd_jpy)),
        help=_("Providers bill in US dollars; the yen figure uses the rate set in YOAKE_USD_JPY."),
    )
c = st.columns(5)
c[0].metric(_("Latency p50"), _ms(view.p50_latency_ms), help=_("Successful calls, request to last token."))
c[1].metric(_("Latency p95"), _ms(view.p95_latency_ms))
c[2].metric(_("Time to first token p50"), _ms(view.p50_ttft_ms), help=_("Successful streamed calls."))
c[3].metric(_("Time to first token p95"), _ms(view.p95_ttft_ms))
c[4].metric(
    _("Today's tokens"),
    _count(view.today_tokens),
    help=_("All calls on {day} ({tz}), whatever the filters.").format(day=usage_tables.fmt_day(today), tz=tz),
    delta=_("{percent} of the {alert} alert").format(
        percent=fmt_percent(view.today_tokens / threshold), alert=_count(int(threshold))
    ),
    delta_color="off",
)
if view.today_tokens >= threshold:
    st.warning(
        _("Today's usage ({tokens} tokens) has reached the daily alert of {alert} tokens.").format(
            tokens=_count(view.today_tokens), alert=_count(int(threshold))
        ),
        icon="🚨",
    )
if view.cost_unknown:
    st.caption(
        _("{count} call(s) have no price, so the estimated cost leaves them out (see the price table).").format(
            count=_count(view.cost_unknown)
        )
    )

# --- charts -------------------------------------------------------------------------------------------
if view.rows:
    usage_charts.charts(view, tz)

# --- tables -------------------------------------------------------------------------------------------
csv_name = (
    _("usage-{start}-{end}.csv").format(start=start, end=end or today)
    if start
    else _("usage-all-{end}.csv").format(end=end or today)
)
usage_tables.by_prompt(view, cfg.usd_jpy)
usage_tables.recent_calls(
    view, table=table, filters=filters, tz=tz, admin_view=admin_view, usd_jpy=cfg.usd_jpy, file_name=csv_name
)
usage_tables.shutting_down(view, today)
usage_tables.prices(view, price_table, cfg.data_dir)
