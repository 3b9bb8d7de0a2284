"""Issue 29, the usage page (AppTest): the cached-input figure and column, cost as billed with
cached tokens, and the "Shutting down soon" list (models from `prices.json` deprecations, dated
relative to the page's own today so the test holds on any day)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import usage_log
from lib.core.usage_log import UsageRecord

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "usage.py")
NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(model: str, inp: int, out: int, cached: int | None, hours_ago: float = 1) -> UsageRecord:
    return UsageRecord(
        page="chat",
        provider="openai",
        model=model,
        input_tokens=inp,
        output_tokens=out,
        total_tokens=inp + out,
        cached_tokens=cached,
        duration_ms=500.0,
        ts=iso(NOW - dt.timedelta(hours=hours_ago)),
    )


def test_cached_tokens_and_the_shutting_down_list(data_dir: Path) -> None:
    day = lambda n: (TODAY + dt.timedelta(days=n)).isoformat()  # noqa: E731
    (data_dir / "prices.json").write_text(
        json.dumps(
            {
                "models": [{"model": "acme-small", "input": 1.0, "cached_input": 0.1, "output": 2.0, "source": "test"}],
                "deprecations": [
                    {"model": "acme-small", "shutdown_date": day(30), "replacement": "acme-next"},
                    {"model": "acme-later", "shutdown_date": day(120), "replacement": "acme-next"},
                    {"model": "acme-gone", "shutdown_date": day(-3), "replacement": "acme-next"},
                ],
            }
        )
    )
    log = usage_log.usage_path(data_dir)
    for rec in [
        record("acme-small", 100_000, 1000, 60_000, hours_ago=5),
        record("acme-small", 50_000, 500, None, hours_ago=2),  # written without cache details
        record("acme-later", 10, 10, None),
        record("acme-gone", 10, 10, None),
        record("gpt-6-luna", 1000, 100, 400),
    ]:
        usage_log.append(log, rec)

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cached input tokens"] == "60,400"
    assert metrics["Input tokens"] == "151,020"
    recent = next(d.value for d in at.dataframe if "request_id" in d.value.columns)
    assert sorted(recent["cached_tokens"].dropna().astype(int).tolist()) == [400, 60_000]
    # acme-small: (40k x 1.0 + 60k x 0.1 + 1000 x 2.0) + (50k x 1.0 + 500 x 2.0), per 1M
    costs = dict(zip(recent["model"], recent["cost"], strict=False))
    assert costs["gpt-6-luna"] == pytest.approx((600 * 0.10 + 400 * 0.01 + 100 * 0.50) / 1e6)
    acme = recent[recent["model"] == "acme-small"]["cost"].sum()
    assert acme == pytest.approx((40_000 + 6_000 + 2_000 + 50_000 + 1_000) / 1e6)

    soon = next(d.value for d in at.dataframe if "shutdown_date" in d.value.columns)
    assert soon["model"].tolist() == ["acme-small"]  # not the one 120 days out, not the one already gone
    assert soon["calls"].tolist() == [2] and soon["replacement"].tolist() == ["acme-next"]
    assert str(soon["shutdown_date"].iloc[0]) == day(30)
    assert any("shut down within 90 days" in w.value for w in at.warning)
    notes = dict(
        zip(*[next(d.value for d in at.dataframe if "note" in d.value.columns)[c] for c in ("model", "note")], strict=True)
    )
    assert notes["acme-small"] == f"shuts down {day(30)} → acme-next"
    assert notes["acme-gone"] == f"no price: cost unknown; shut down {day(-3)} → acme-next"
    assert notes["gpt-6-luna"] == ""


def test_no_calls_to_models_going_away_says_so(data_dir: Path) -> None:
    usage_log.append(usage_log.usage_path(data_dir), record("gpt-6-luna", 1000, 100, None))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    assert not [d for d in at.dataframe if "shutdown_date" in d.value.columns]
    assert any("No calls to models shutting down in the next 90 days" in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Cached input tokens"] == "0"
