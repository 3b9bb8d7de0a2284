"""What the usage page shows, from the log's table (`lib.usage.reader`): filters, totals, percentiles,
charts' data and the CSV. Pure pandas/pyarrow, so it is tested without Streamlit."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lib.core.config import DAILY_TOKEN_ALERT_DEFAULT
from lib.core.i18n import Msg
from lib.core.pricing import DEFAULT_DEPRECATIONS, Deprecation, Price, find_deprecation, find_price
from lib.usage.reader import SCHEMA, distinct

RECENT_ROWS = 2000  # rows of the filtered calls shown in the table (the CSV has all of them)
SHUTDOWN_HORIZON_DAYS = 90  # the usage page lists calls to models shutting down within this many days
DEFAULT_DAILY_ALERT = DAILY_TOKEN_ALERT_DEFAULT


@dataclass(frozen=True)
class Filters:
    start: _dt.date | None = None  # inclusive, in the display time zone
    end: _dt.date | None = None  # inclusive
    providers: tuple[str, ...] = ()  # empty: all
    models: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # "ok" / "error"
    prompts: tuple[str, ...] = ()  # prompt versions (`name@version`); empty: all calls, with or without one
    # owner hashes (lib.identity.owner_hash) whose calls count; None: everyone's (an admin, or the
    # laptop). An empty set selects nothing.
    owners: frozenset[str] | None = None


def _day_start_utc(day: _dt.date, tz: str) -> pa.Scalar:
    ts = pd.Timestamp(day).tz_localize(tz, ambiguous=False, nonexistent="shift_forward").tz_convert("UTC")
    return pa.scalar(ts.to_pydatetime(), type=SCHEMA.field("ts").type)


def _status(table: pa.Table) -> pa.ChunkedArray:
    # an absent status counts as ok: only "error" lines are failures
    return pc.if_else(pc.fill_null(pc.equal(table["status"], "error"), False), "error", "ok")


def filter_table(table: pa.Table, f: Filters, tz: str = "UTC") -> pa.Table:
    mask = pa.chunked_array([pa.array(np.ones(table.num_rows, dtype=bool))]) if table.num_rows else None
    if mask is None:
        return table
    if f.start:
        mask = pc.and_(mask, pc.greater_equal(table["ts"], _day_start_utc(f.start, tz)))
    if f.end:
        mask = pc.and_(mask, pc.less(table["ts"], _day_start_utc(f.end + _dt.timedelta(days=1), tz)))
    for column, wanted in (("provider", f.providers), ("model", f.models), ("page", f.pages), ("prompt", f.prompts)):
        if wanted:
            mask = pc.and_(mask, pc.fill_null(pc.is_in(table[column], pa.array(list(wanted), pa.string())), False))
    if f.statuses:
        mask = pc.and_(mask, pc.is_in(_status(table), pa.array(list(f.statuses), pa.string())))
    if f.owners is not None:
        mask = pc.and_(mask, pc.fill_null(pc.is_in(table["owner"], pa.array(sorted(f.owners), pa.string())), False))
    return table.filter(mask)


def scope(table: pa.Table, owners: frozenset[str] | None) -> pa.Table:
    """Only the calls of these owner hashes (None: all of them)."""
    return table if owners is None else filter_table(table, Filters(owners=owners))


def options(table: pa.Table, owners: frozenset[str] | None = None) -> dict[str, list[str]]:
    """Distinct providers, models, pages and prompt versions in the log (of these owners' calls), for the
    filter widgets."""
    table = scope(table, owners)
    return {c: distinct(pc.unique(table[c]).to_pylist()) for c in ("provider", "model", "page", "prompt")}


def _tokens(table: pa.Table) -> pa.ChunkedArray:
    # total_tokens when logged, else input + output (an absent count adds nothing)
    parts = pc.add(pc.fill_null(table["input_tokens"], 0), pc.fill_null(table["output_tokens"], 0))
    return pc.coalesce(table["total_tokens"], parts)


def _categorical(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    # low-cardinality text as pandas categoricals: filters and group-bys on 1M rows stay fast
    return pc.dictionary_encode(values)


def _billed_cost(df: pd.DataFrame, prices: dict[str, Price]) -> np.ndarray:
    """Per row: tokens x the price in effect on the call's day (cached input and the long-context tier
    as billed); NaN where no price applies. One vectorised pass per model and price period."""
    eff = df["effective_model"].cat
    codes = eff.codes.to_numpy()
    # the call's UTC time as datetime64, compared with each entry's start (fast on a million rows)
    when = df["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    inp = df["input_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    out = df["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    cached = np.clip(np.nan_to_num(df["cached_tokens"].to_numpy(dtype="float64", na_value=np.nan)), 0, None)
    cached = np.minimum(cached, np.nan_to_num(inp))
    cost = np.full(len(df), np.nan)
    for code, model in enumerate(eff.categories):
        found = find_price(str(model), prices)
        rows = codes == code
        if found is None or not rows.any():
            continue
        until = None  # each entry applies from its effective date until the next (newer) entry's
        for entry in found.history():
            sel = rows.copy()
            if entry.effective_from is not None:
                sel &= when >= np.datetime64(entry.effective_from, "ns")
            if until is not None:
                sel &= when < np.datetime64(until, "ns")
            until = entry.effective_from
            if not sel.any():
                continue
            p_in = np.full(len(df), entry.input)
            p_cached = np.full(len(df), entry.input if entry.cached_input is None else entry.cached_input)
            p_out = np.full(len(df), entry.output)
            tier = entry.long_context
            if tier is not None:
                long = inp > tier.threshold_tokens  # the whole request at the long-context rates
                p_in = np.where(long, tier.input, p_in)
                p_cached = np.where(long, tier.input if tier.cached_input is None else tier.cached_input, p_cached)
                p_out = np.where(long, tier.output, p_out)
            billed = ((inp - cached) * p_in + cached * p_cached + out * p_out) / 1_000_000
            cost = np.where(sel, billed, cost)
            if entry.effective_from is None:
                break  # an undated entry covers everything before; older ones never apply
    return cost


def to_frame(table: pa.Table, prices: dict[str, Price], local_providers: Iterable[str]) -> pd.DataFrame:
    """The columns the page aggregates, plus `tokens`, `status` (ok/error) and `cost` as billed.

    cost: 0 for local providers, cache hits and calls without token counts; for a priced model (the
    resolved model first, as when the call was logged) the tokens x the price in effect on the call's
    day, cached input tokens at their own price and the long-context tier above its threshold; else the
    cost logged at call time, if any.
    """
    cols = {
        "ts": table["ts"],
        "page": _categorical(table["page"]),
        "prompt": _categorical(table["prompt"]),
        "provider": _categorical(table["provider"]),
        "model": _categorical(table["model"]),
        "effective_model": _categorical(pc.coalesce(table["resolved_model"], table["model"])),
        "status": _categorical(_status(table)),
        "error_type": _categorical(table["error_type"]),
        "input_tokens": pc.cast(table["input_tokens"], pa.float64()),
        "output_tokens": pc.cast(table["output_tokens"], pa.float64()),
        "cached_tokens": pc.cast(table["cached_tokens"], pa.float64()),
        "tokens": pc.cast(_tokens(table), pa.float64()),
        "ttft_ms": table["ttft_ms"],
        "duration_ms": table["duration_ms"],
        "cost_usd": table["cost_usd"],
        "cache_hit": pc.fill_null(table["cache_hit"], False),
        "tool_calls": pc.cast(pc.fill_null(table["tool_calls"], 0), pa.float64()),
        "tool_results": pc.cast(pc.fill_null(table["tool_results"], 0), pa.float64()),
    }
    df = pa.table(cols).to_pandas()
    cost = _billed_cost(df, prices)
    cost = np.where(np.isnan(cost), df["cost_usd"].to_numpy(dtype="float64", na_value=np.nan), cost)
    free = df["provider"].isin(list(local_providers)).to_numpy(dtype=bool) | df["cache_hit"].to_numpy(dtype=bool)
    # a call that reported no tokens (failed before any usage) bills nothing, whatever its model
    free |= df["input_tokens"].isna().to_numpy() & df["output_tokens"].isna().to_numpy()
    df["cost"] = np.where(free, 0.0, cost)
    return df


def shutting_down(
    table: pa.Table,
    deprecations: dict[str, Deprecation],
    today: _dt.date,
    horizon_days: int = SHUTDOWN_HORIZON_DAYS,
) -> pd.DataFrame:
    """Calls to models that shut down between today and `horizon_days` from now: model, calls, last
    used (UTC), shutdown date and replacement; soonest shutdown first, then the most recently used."""
    columns = ["model", "calls", "last_used", "shutdown_date", "replacement"]
    if not table.num_rows:
        return pd.DataFrame(columns=columns)
    models = pc.coalesce(table["resolved_model"], table["model"])
    grouped = pa.table({"model": models, "ts": table["ts"]}).group_by("model").aggregate([("ts", "count"), ("ts", "max")])
    rows = []
    for model, calls, last in zip(
        grouped["model"].to_pylist(), grouped["ts_count"].to_pylist(), grouped["ts_max"].to_pylist(), strict=True
    ):
        dep = find_deprecation(model or "", deprecations)
        if dep is None or not (today <= dep.shutdown_date <= today + _dt.timedelta(days=horizon_days)):
            continue
        rows.append({"model": model, "calls": calls, "last_used": last, "shutdown_date": dep.shutdown_date,
                     "replacement": dep.replacement or ""})  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["shutdown_date", "last_used"], ascending=[True, False]).reset_index(drop=True)


def joined(parts: list[str], sep: str) -> str:
    """Messages joined by `sep`, still worded in the visitor's language when rendered (a Msg)."""
    if len(parts) < 2:
        return parts[0] if parts else ""
    return Msg(sep.join("{p" + str(i) + "}" for i in range(len(parts))), **{"p" + str(i): p for i, p in enumerate(parts)})


def _pct(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q)) if len(values) else None


@dataclass
class UsageView:
    rows: int  # calls in the selected period and filters
    input_tokens: int
    output_tokens: int
    cached_tokens: int  # of the input tokens, those served from the provider's prompt cache
    cost: float
    cost_unknown: int  # calls whose cost cannot be estimated (no price, no logged cost)
    errors: int
    error_rate: float | None  # errors / calls
    p50_latency_ms: float | None  # over successful calls
    p95_latency_ms: float | None
    p50_ttft_ms: float | None
    p95_ttft_ms: float | None
    today_tokens: int  # all calls today (display time zone), whatever the filters
    bucket: str  # "hour" / "day"
    over_time: pd.DataFrame  # bucket, model, tokens, input_tokens, output_tokens, cost, calls
    latency_hist: pd.DataFrame  # bin_start, bin_end, calls
    by_page: pd.DataFrame  # page, calls
    by_provider: pd.DataFrame  # provider, calls
    by_prompt: pd.DataFrame  # prompt (name@version), calls, tokens, cost, p50/p95 latency, error rate (see `by_prompt`)
    errors_over_time: pd.DataFrame  # bucket, error_type, calls
    recent: pd.DataFrame  # newest first, at most RECENT_ROWS
    unknown_models: list[str]  # models in the log with no price (non-local, not cache hits)
    models_in_use: pd.DataFrame  # model, calls, input, cached input, output (USD/1M), note (a Msg or "")
    shutting_down: pd.DataFrame  # model, calls, last_used, shutdown_date, replacement (all of the owners' calls)
    tool_calls: int = 0  # calls of tools the models made
    tool_results: int = 0  # tool results sent back to them


def pick_bucket(f: Filters, table: pa.Table, tz: str) -> str:
    if f.start and f.end:
        return "hour" if (f.end - f.start).days < 3 else "day"
    if table.num_rows:
        span = pc.min_max(table["ts"])
        lo, hi = span["min"].as_py(), span["max"].as_py()
        if lo and hi:
            return "hour" if (hi - lo) < _dt.timedelta(days=3) else "day"
    return "day"


def _local_naive(ts: pd.Series, tz: str) -> pd.Series:
    return ts.dt.tz_convert(tz).dt.tz_localize(None)


def build_view(
    table: pa.Table,
    f: Filters,
    *,
    prices: dict[str, Price],
    local_providers: Iterable[str],
    tz: str = "UTC",
    today: _dt.date | None = None,
    bucket: str = "auto",
    recent_rows: int = RECENT_ROWS,
    deprecations: dict[str, Deprecation] | None = None,
) -> UsageView:
    local_providers = tuple(local_providers)
    today = today or pd.Timestamp.now(tz).date()
    table = scope(table, f.owners)  # nothing below (today's total, the bucket) sees other owners' calls
    day_rows = filter_table(table, Filters(start=today, end=today), tz)
    today_tokens = int(pc.sum(_tokens(day_rows)).as_py() or 0) if day_rows.num_rows else 0
    if bucket == "auto":
        bucket = pick_bucket(f, table, tz)
    sel = filter_table(table, replace(f, owners=None), tz)  # already scoped above
    df = to_frame(sel, prices, local_providers)
    is_ok = (df["status"] == "ok").to_numpy(dtype=bool)
    errors = int((~is_ok).sum())
    local_ts = _local_naive(df["ts"], tz)
    df["bucket"] = local_ts.dt.floor("h") if bucket == "hour" else local_ts.dt.normalize()
    over_time = (
        df.groupby(["bucket", "model"], observed=True)
        .agg(
            tokens=("tokens", "sum"),
            input_tokens=("input_tokens", "sum"),
            output_tokens=("output_tokens", "sum"),
            cost=("cost", "sum"),
            calls=("tokens", "size"),
        )
        .reset_index()
    )
    over_time["model"] = over_time["model"].astype("str")
    duration = df["duration_ms"].to_numpy(dtype="float64", na_value=np.nan)[is_ok]
    ttft = df["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)[is_ok]
    lat = duration[~np.isnan(duration)]
    if len(lat):
        counts, edges = np.histogram(lat, bins=min(30, max(1, len(np.unique(lat)))))
        latency_hist = pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "calls": counts})
    else:
        latency_hist = pd.DataFrame({"bin_start": [], "bin_end": [], "calls": []})

    def counts_by(col: str) -> pd.DataFrame:
        out = df[col].value_counts().rename_axis(col).reset_index(name="calls")
        out[col] = out[col].astype("str")
        return out[out["calls"] > 0].reset_index(drop=True)

    err = pd.DataFrame({"bucket": df["bucket"][~is_ok], "error_type": df["error_type"][~is_ok].astype("str").fillna("unknown")})
    errors_over_time = err.groupby(["bucket", "error_type"]).size().reset_index(name="calls")
    # newest first by timestamp, not by position: hand edits or a clock change can break append order;
    # select_k is O(n log k) on a million rows
    if sel.num_rows:
        # Equal timestamps keep log order (select_k is unstable): the line position breaks ties.
        ranked = sel.append_column("_pos", pa.array(np.arange(sel.num_rows)))
        idx = pc.select_k_unstable(
            ranked, k=min(recent_rows, sel.num_rows), sort_keys=[("ts", "descending"), ("_pos", "ascending")]
        )
        recent_tbl = sel.take(idx)
    else:
        recent_tbl = sel
    recent = recent_tbl.to_pandas()
    recent_cost = to_frame(recent_tbl, prices, local_providers)["cost"].to_numpy() if recent_tbl.num_rows else []
    recent.insert(recent.columns.get_loc("cost_usd"), "cost", recent_cost)
    recent["ts"] = _local_naive(recent["ts"], tz) if len(recent) else recent["ts"]
    recent = recent.reset_index(drop=True)

    # models in use: price (None when unknown); "unknown" only matters for calls that are billed
    local = df["provider"].isin(local_providers).to_numpy(dtype=bool)
    billed = ~local & ~df["cache_hit"].to_numpy(dtype=bool)
    in_use = pd.DataFrame({"model": df["effective_model"], "local": local, "billed": billed})
    in_use = in_use.groupby("model", observed=True).agg(calls=("local", "size"), local=("local", "all"), billed=("billed", "any"))
    in_use = in_use.reset_index()
    in_use["model"] = in_use["model"].astype("str")
    found = [find_price(m, prices) for m in in_use["model"]]
    found = [p.at(today) if p else None for p in found]  # today's entry of each
    in_use["input"] = [p.input if p else None for p in found]
    in_use["cached_input"] = [(p.input if p.cached_input is None else p.cached_input) if p else None for p in found]
    in_use["output"] = [p.output if p else None for p in found]
    unknown = sorted(m for m, p, b in zip(in_use["model"], found, in_use["billed"], strict=True) if p is None and b)
    deprecations = DEFAULT_DEPRECATIONS if deprecations is None else deprecations

    def note(model: str, local: bool) -> str:
        parts = [Msg("local: free") if local else (Msg("no price: cost unknown") if model in unknown else "")]
        dep = None if local else find_deprecation(model, deprecations)
        parts.append(dep.label(today) if dep else "")  # e.g. "shuts down 2027-01-14 → gpt-6-luna"
        return joined([p for p in parts if p], "; ")

    notes = [note(m, loc) for m, loc in zip(in_use["model"], in_use["local"], strict=True)]
    in_use["note"] = pd.Series(notes, index=in_use.index, dtype=object)  # object: pandas would turn Msgs into str
    in_use = in_use.drop(columns=["local", "billed"]).sort_values("calls", ascending=False).reset_index(drop=True)
    return UsageView(
        rows=len(df),
        input_tokens=int(df["input_tokens"].sum()),
        output_tokens=int(df["output_tokens"].sum()),
        cached_tokens=int(df["cached_tokens"].sum()),
        tool_calls=int(df["tool_calls"].sum()),
        tool_results=int(df["tool_results"].sum()),
        cost=float(df["cost"].sum()),
        cost_unknown=int(df["cost"].isna().sum()),
        errors=errors,
        error_rate=errors / len(df) if len(df) else None,
        p50_latency_ms=_pct(duration, 50),
        p95_latency_ms=_pct(duration, 95),
        p50_ttft_ms=_pct(ttft, 50),
        p95_ttft_ms=_pct(ttft, 95),
        today_tokens=today_tokens,
        bucket=bucket,
        over_time=over_time,
        latency_hist=latency_hist,
        by_page=counts_by("page"),
        by_provider=counts_by("provider"),
        by_prompt=by_prompt(df),
        errors_over_time=errors_over_time,
        recent=recent,
        unknown_models=unknown,
        models_in_use=in_use,
        shutting_down=shutting_down(table, deprecations, today),
    )


PROMPT_COLUMNS = ("prompt", "calls", "input_tokens", "output_tokens", "cost", "p50_latency_ms", "p95_latency_ms", "error_rate")


def by_prompt(df: pd.DataFrame) -> pd.DataFrame:
    """Per prompt version (`name@version`; calls without one are left out): calls, input and output tokens,
    cost as billed, p50/p95 latency of its successful calls and its error rate; by name, then version."""
    df = df[df["prompt"].notna()]
    rows = []
    for prompt, group in df.groupby("prompt", observed=True):
        ok = (group["status"] == "ok").to_numpy(dtype=bool)
        duration = group["duration_ms"].to_numpy(dtype="float64", na_value=np.nan)[ok]
        rows.append((
            str(prompt), len(group), int(group["input_tokens"].sum()), int(group["output_tokens"].sum()),
            float(group["cost"].sum()), _pct(duration, 50), _pct(duration, 95), float((~ok).sum() / len(group)),
        ))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(PROMPT_COLUMNS))

    def order(ref: str) -> tuple[str, int, str]:
        name, _, tail = ref.rpartition("@")
        return (name.casefold(), int(tail), "") if tail.isdigit() else (ref.casefold(), 0, tail)

    return out.iloc[sorted(range(len(out)), key=lambda i: order(out["prompt"].iloc[i]))].reset_index(drop=True)


def to_csv_bytes(table: pa.Table) -> bytes:
    """The rows as CSV (every logged field), written by Arrow: fast even for a million rows."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()
