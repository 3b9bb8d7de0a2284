"""AppTest of the usage page against logs written in the test with the real writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from lib.core import usage_log
from lib.core.usage_log import UsageRecord

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "usage.py")
NOW = datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at: AppTest, column: str):
    """The st.dataframe that has this column (the recent-calls table has request_id, the prices a note)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning)


# Prices used below (USD per 1M in/out): gpt-4o-mini 0.15/0.60, gemini-2.5-flash 0.30/2.50.
FT = "ft:gpt-4o-mini:acme::a1b2"
PRICE = {"gpt-4o-mini": (0.15, 0.60), "gemini-2.5-flash": (0.30, 2.50)}


def sample_records() -> list[UsageRecord]:
    """Several models, pages and providers, errors, a local call, an unpriced model, an old call."""
    today = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=0)
    spec = [
        # provider, model, page, in, out, duration, ttft, status, error_type, age (hours)
        ("openai", "gpt-4o-mini", "chat", 1200, 300, 1500.0, 200.0, "ok", None, 0),
        ("openai", "gpt-4o-mini", "summarize", 5000, 800, 4200.0, 650.0, "ok", None, 0),
        ("gemini", "gemini-2.5-flash", "chat", 800, 120, 900.0, 150.0, "ok", None, 0),
        ("gemini", "gemini-2.5-flash", "logprobs", 400, 40, 700.0, None, "ok", None, 0),
        ("local", "smollm2-135m-instruct", "chat", 90, 30, 2500.0, 80.0, "ok", None, 0),
        ("openai", FT, "chat", 300, 60, 1100.0, 120.0, "ok", None, 0),  # a fine-tune: no price
        ("openai", "gpt-4o-mini", "chat", None, None, 30000.0, None, "error", "timeout", 0),
        ("gemini", "gemini-2.5-flash", "summarize", None, None, 120.0, None, "error", "rate_limit", 0),
        ("openai", "gpt-4o-mini", "chat", 700, 100, 1300.0, 180.0, "ok", None, 50),  # two days ago
    ]
    out = []
    for i, (prov, model, page, inp, outp, dur, ttft, status, err, age) in enumerate(spec):
        ts = min(today + timedelta(minutes=i), NOW) - timedelta(hours=age)
        out.append(
            UsageRecord(
                page=page,
                provider=prov,
                model=model,
                input_tokens=inp,
                output_tokens=outp,
                total_tokens=None if inp is None else inp + outp,
                duration_ms=dur,
                ttft_ms=ttft,
                status=status,
                error_type=err,
                stream=ttft is not None,
                ts=iso(ts),
                cost_usd=0.0 if prov == "local" else None,
            )
        )
    return out


def expected(records: list[UsageRecord]) -> dict[str, str]:
    """The headline figures, computed here without the app's code."""
    n = len(records)
    cost = 0.0
    for r in records:
        if r.model in PRICE and r.input_tokens is not None:
            pin, pout = PRICE[r.model]
            cost += (r.input_tokens * pin + r.output_tokens * pout) / 1e6
    ok = [r for r in records if r.status == "ok"]
    lat = [r.duration_ms for r in ok]
    ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    errors = sum(r.status == "error" for r in records)
    return {
        "Calls": f"{n:,}",
        "Input tokens": f"{sum(r.input_tokens or 0 for r in records):,}",
        "Output tokens": f"{sum(r.output_tokens or 0 for r in records):,}",
        "Estimated cost": f"${cost:,.4f}",
        "Error rate": f"{errors / n:.1%}",
        "Latency p50": f"{np.percentile(lat, 50):,.0f} ms",
        "Latency p95": f"{np.percentile(lat, 95):,.0f} ms",
        "Time to first token p50": f"{np.percentile(ttft, 50):,.0f} ms",
        "Time to first token p95": f"{np.percentile(ttft, 95):,.0f} ms",
    }


def write_log(data_dir: Path, records: list[UsageRecord], bad: list[str] = ()) -> Path:
    path = usage_log.usage_path(data_dir)
    for r in records:
        usage_log.append(path, r)
    if bad:
        with open(path, "a") as fh:
            fh.write("".join(line + "\n" for line in bad))
    return path


def test_missing_log_says_so_and_shows_zeros(data_dir: Path) -> None:
    at = run_page()
    assert any("No usage log yet" in i.value for i in at.info)
    m = metrics(at)
    assert m["Calls"] == "0" and m["Estimated cost"] == "$0.0000" and m["Error rate"] == "—" and m["Latency p50"] == "—"
    assert any(c.value == "Malformed lines skipped: 0" for c in at.caption)
    assert not at.warning


def test_empty_log(data_dir: Path) -> None:
    usage_log.usage_path(data_dir).write_text("")
    at = run_page()
    assert any("empty" in i.value for i in at.info)
    assert metrics(at)["Calls"] == "0"


def test_figures_match_the_log(data_dir: Path) -> None:
    records = sample_records()
    bad = ['{"id":"x","ts":"2026-01-01T00:00:00.000Z","page":"ch', "hand edit", '{"tokens": 3, "when": "old"}']
    write_log(data_dir, records, bad)
    with open(usage_log.usage_path(data_dir), "a") as fh:
        fh.write('{"id":"torn","ts":"')  # a torn last line, no newline
    at = run_page()
    m = metrics(at)
    for label, value in expected(records).items():
        assert m[label] == value, label
    today = [r for r in records if r.ts[:10] == NOW.strftime("%Y-%m-%d")]
    assert m["Today's tokens"] == f"{sum(r.total_tokens or 0 for r in today):,}"
    assert "4 malformed line(s)" in warnings(at)
    # my-finetune has no price: listed, and left out of the cost; the local model is free.
    assert "No price for: `ft:gpt-4o-mini:acme::a1b2`" in warnings(at)
    assert "Daily" not in warnings(at) and "daily alert" not in warnings(at)
    prices = frame_with(at, "note")
    row = prices.set_index("model").loc[FT]
    assert row["calls"] == 1 and "no price" in row["note"]
    assert prices.set_index("model").loc["smollm2-135m-instruct", "note"] == "local: free"
    # The table lists every call, newest first.
    table = frame_with(at, "request_id")
    assert len(table) == len(records)
    assert list(table["id"]) == [r.id for r in sorted(records, key=lambda r: r.ts, reverse=True)]
    charts = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(charts) == 6  # tokens, cost, latency, by page, by provider, errors
    assert any("estimated cost (USD)" in spec for spec in charts) and any("failed calls" in spec for spec in charts)
    assert at.get("download_button")


def test_filters_change_the_figures(data_dir: Path) -> None:
    records = sample_records()
    write_log(data_dir, records)
    at = run_page()
    at.sidebar.multiselect(key="usage_provider").set_value(["openai"]).run()
    assert metrics(at) | expected([r for r in records if r.provider == "openai"]) == metrics(at)
    at.sidebar.multiselect(key="usage_status").set_value(["error"]).run()
    m = metrics(at)
    assert m["Calls"] == "1" and m["Error rate"] == "100.0%" and m["Latency p50"] == "—"
    at.sidebar.multiselect(key="usage_provider").set_value([]).run()
    at.sidebar.multiselect(key="usage_status").set_value([]).run()
    at.sidebar.multiselect(key="usage_page").set_value(["chat", "logprobs"]).run()
    at.sidebar.multiselect(key="usage_model").set_value(["gemini-2.5-flash", "gpt-4o-mini"]).run()
    sel = [r for r in records if r.page in ("chat", "logprobs") and r.model in ("gemini-2.5-flash", "gpt-4o-mini")]
    assert metrics(at) | expected(sel) == metrics(at)
    # Only today: the call from two days ago drops out.
    day = NOW.date()
    at.sidebar.multiselect(key="usage_page").set_value([]).run()
    at.sidebar.multiselect(key="usage_model").set_value([]).run()
    at.sidebar.selectbox(key="usage_period").set_value("Today").run()
    assert metrics(at) | expected([r for r in records if r.ts[:10] == str(day)]) == metrics(at)
    assert len(frame_with(at, "request_id")) == len(records) - 1
    # A custom range covering only the old call.
    at.sidebar.selectbox(key="usage_period").set_value("Custom range").run()
    old = day - timedelta(days=3)
    at.sidebar.date_input(key="usage_dates").set_value((old, day - timedelta(days=1))).run()
    assert metrics(at) | expected([r for r in records if r.ts[:10] < str(day)]) == metrics(at)


def test_daily_threshold_warning(data_dir: Path) -> None:
    records = sample_records()
    write_log(data_dir, records)
    at = run_page()
    assert at.sidebar.number_input(key="usage_threshold").value == 500_000
    assert "daily alert" not in warnings(at)
    today_tokens = sum(r.total_tokens or 0 for r in records if r.ts[:10] == NOW.strftime("%Y-%m-%d"))
    at.sidebar.number_input(key="usage_threshold").set_value(today_tokens).run()
    assert f"Today's usage ({today_tokens:,} tokens) has reached the daily alert of {today_tokens:,} tokens" in warnings(at)
    at.sidebar.number_input(key="usage_threshold").set_value(today_tokens + 1).run()
    assert "daily alert" not in warnings(at)


def test_price_override_and_broken_file(data_dir: Path) -> None:
    records = sample_records()
    write_log(data_dir, records)
    (data_dir / "prices.json").write_text(json.dumps({FT: {"input": 1000, "output": 0}}))
    at = run_page()
    base = float(expected(records)["Estimated cost"].lstrip("$"))
    assert metrics(at)["Estimated cost"] == f"${base + 300 * 1000 / 1e6:,.4f}"
    assert "No price for" not in warnings(at)
    (data_dir / "prices.json").write_text('{"ft": {"input": 1000, ')
    at = run_page()
    assert "`prices.json` is not valid JSON" in warnings(at)
    assert metrics(at)["Estimated cost"] == expected(records)["Estimated cost"]


def test_new_calls_appear_on_refresh(data_dir: Path) -> None:
    records = sample_records()
    path = write_log(data_dir, records[:4])
    at = run_page()
    assert metrics(at)["Calls"] == "4"
    for r in records[4:]:
        usage_log.append(path, r)
    at.sidebar.button(key="usage_refresh").click().run()
    assert metrics(at) | expected(records) == metrics(at)
