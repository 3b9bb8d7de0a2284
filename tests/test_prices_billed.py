"""Issue 29, lib side: the shipped price data, lookups by dated id and alias, cost as billed (cached
input, the long-context tier, effective dates), unpriced models, the deprecations data, cached tokens
in the usage log and its reader (old lines and an old Arrow cache), and the router's defaults."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails

from lib.core import usage_log
from lib.core.pricing import (
    DATA_FILE,
    DEFAULT_DEPRECATIONS,
    DEFAULT_PRICES,
    Deprecation,
    estimate_cost,
    find_deprecation,
    find_price,
    load_price_table,
)
from lib.llm.chat import CallContext, ChatParams, ChatResult, finalize_and_log
from lib.llm.providers import PROVIDERS, ModelList, router_defaults
from lib.usage import reader as usage_reader
from lib.usage.reader import CACHE_FORMAT, UsageLog, cache_path_for, read_table
from lib.usage.view import Filters, build_view, shutting_down, to_frame

M = 1_000_000


def write_prices(data_dir: Path, content: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "prices.json").write_text(json.dumps(content))


# --- the shipped data --------------------------------------------------------------------------------


def test_shipped_data_loads_and_every_price_says_where_it_came_from() -> None:
    raw = json.loads(DATA_FILE.read_text())
    for entry in raw["models"]:
        assert entry.get("source"), entry
        # a price read for this update has a date; one kept from before says so instead of pretending
        assert entry.get("read_on") == "2026-11-27" or entry["source"] == "carried over", entry
        assert entry["source"] == "carried over" or entry["source"].startswith("https://"), entry
    for entry in raw["deprecations"]:
        assert entry["source"].startswith("https://"), entry
    assert not load_price_table(None).problems


def test_every_named_providers_router_defaults_are_not_deprecated() -> None:
    for pid in ("openai", "gemini", "xai", "plamo"):
        p = PROVIDERS[pid]
        for model in (p.small_model, p.large_model, *p.models):
            assert find_deprecation(model) is None, (pid, model)
        assert router_defaults(p) is p  # nothing to substitute


def test_unsourced_models_stay_unpriced() -> None:
    # Prices seen only on third-party pages are not entered: these calls show as unpriced.
    for model in ("gpt-6-astra", "gpt-6.1-sol", "gpt-6.2-astra", "gemini-3.8-flash", "grok-4.7", "plamo-2.2-prime", "mystery"):
        assert find_price(model, DEFAULT_PRICES) is None, model
        assert estimate_cost(model, 1000, 1000, local=False) is None


# --- lookups and cost as billed ----------------------------------------------------------------------


def test_dated_ids_and_aliases_find_their_price(tmp_path: Path) -> None:
    luna = DEFAULT_PRICES["gpt-6-luna"]
    assert find_price("gpt-6-luna-2026-09-22", DEFAULT_PRICES) is luna  # a dated snapshot
    assert find_price("models/gpt-6-luna", DEFAULT_PRICES) is luna
    write_prices(
        tmp_path,
        {"models": [{"model": "acme-large", "aliases": ["acme-l", "acme-large-latest"], "input": 1, "output": 4, "source": "x"}]},
    )
    table = load_price_table(tmp_path)
    assert not table.problems
    assert find_price("acme-l", table.prices) == find_price("acme-large-latest", table.prices) == table.prices["acme-large"]
    assert table.overridden >= {"acme-large", "acme-l", "acme-large-latest"}
    assert estimate_cost("acme-l", 2 * M, M, local=False, prices=table.prices) == pytest.approx(6.0)


def test_cached_input_is_billed_at_its_own_price() -> None:
    # gpt-6-luna: $0.10 input, $0.01 cached, $0.50 output per 1M (OpenAI's model page)
    cost = estimate_cost("gpt-6-luna", 200_000, 10_000, local=False, cached_tokens=100_000)
    assert cost == pytest.approx((100_000 * 0.10 + 100_000 * 0.01 + 10_000 * 0.50) / M)
    assert estimate_cost("gpt-6-luna", 200_000, 10_000, local=False) == pytest.approx((200_000 * 0.10 + 10_000 * 0.50) / M)
    # no cached price listed: cached tokens cost what other input tokens cost
    assert estimate_cost("gpt-4o-mini", M, 0, local=False, cached_tokens=M // 2) == pytest.approx(0.15)
    # more cached than input (a confused server) bills no negative input
    assert estimate_cost("gpt-6-luna", 100, 0, local=False, cached_tokens=500) == pytest.approx(100 * 0.01 / M)


def test_long_context_tier_applies_to_the_whole_request_above_the_threshold() -> None:
    at_threshold = estimate_cost("gpt-6-luna", 272_000, 1000, local=False)
    assert at_threshold == pytest.approx((272_000 * 0.10 + 1000 * 0.50) / M)  # exactly 272K: short rates
    above = estimate_cost("gpt-6-luna", 272_001, 1000, local=False, cached_tokens=72_001)
    assert above == pytest.approx((200_000 * 0.20 + 72_001 * 0.02 + 1000 * 0.75) / M)
    sol = estimate_cost("gpt-6.2-sol", 300_000, 2000, local=False)
    assert sol == pytest.approx((300_000 * 4.0 + 2000 * 15.0) / M)


def test_effective_dates_keep_old_calls_at_the_price_they_had(tmp_path: Path) -> None:
    write_prices(
        tmp_path,
        {
            "models": [
                {"model": "acme", "input": 2, "output": 8, "effective_from": "2026-01-01"},
                {"model": "acme", "input": 1, "output": 4, "effective_from": "2026-12-01"},
                {"model": "legacy", "input": 3, "output": 3},
                {"model": "legacy", "input": 1, "output": 1, "effective_from": "2026-06-01"},
            ]
        },
    )
    prices = load_price_table(tmp_path).prices
    cost = lambda model, when: estimate_cost(model, M, M, local=False, prices=prices, when=when)  # noqa: E731
    assert cost("acme", dt.date(2026, 11, 30)) == pytest.approx(10.0)
    assert cost("acme", dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)) == pytest.approx(5.0)
    assert cost("acme", dt.date(2025, 12, 31)) is None  # before any price: unknown, not guessed
    assert cost("legacy", dt.date(2020, 1, 1)) == pytest.approx(6.0)  # the undated entry covers the past
    assert cost("legacy", dt.date(2026, 6, 1)) == pytest.approx(2.0)


def test_a_price_in_another_currency_is_refused_not_converted(tmp_path: Path) -> None:
    write_prices(tmp_path, {"plamo-2.2-prime": {"input": 50, "output": 100, "currency": "JPY"}, "ok": {"input": 1, "output": 1}})
    table = load_price_table(tmp_path)
    assert "plamo-2.2-prime" not in table.prices and "ok" in table.prices
    assert len(table.problems) == 1 and "JPY" in table.problems[0]


def test_bad_entries_in_the_new_form_are_reported_and_the_rest_applies(tmp_path: Path) -> None:
    write_prices(
        tmp_path,
        {
            "models": [
                {"model": "a", "input": 1, "output": 1, "long_context": {"threshold_tokens": "lots", "input": 2, "output": 2}},
                {"model": "b", "input": 1, "output": 1, "effective_from": "someday"},
                {"input": 1, "output": 1},
                {"model": "c", "input": 1, "output": 2, "cached_input": 0.1},
            ],
            "deprecations": [{"model": "c", "shutdown_date": "soon"}, {"model": "d", "shutdown_date": "2027-03-01"}],
        },
    )
    table = load_price_table(tmp_path)
    assert set(table.overridden) == {"c"}
    assert len(table.problems) == 4, table.problems
    assert find_deprecation("d", table.deprecations) == Deprecation("d", dt.date(2027, 3, 1))
    assert find_deprecation("c", table.deprecations) is None
    assert table.prices["gpt-6-luna"] == DEFAULT_PRICES["gpt-6-luna"]  # defaults untouched


def test_deprecations_cover_snapshots_but_not_sibling_models() -> None:
    dep = find_deprecation("gpt-4.1-2025-04-14")
    assert dep is not None and dep.shutdown_date == dt.date(2027, 1, 14) and dep.replacement == "gpt-6-luna"
    assert find_deprecation("gpt-4.1-mini-2025-04-14").shutdown_date == dt.date(2027, 1, 14)
    assert find_deprecation("gpt-4.1-nano") is None  # another model, not a snapshot of gpt-4.1
    assert find_deprecation("gpt-6-luna") is None
    assert dep.label(dt.date(2026, 11, 27)) == "shuts down 2027-01-14 → gpt-6-luna"
    assert dep.label(dt.date(2027, 2, 1)) == "shut down 2027-01-14 → gpt-6-luna"


# --- the router ---------------------------------------------------------------------------------------


def test_router_never_defaults_to_a_deprecated_model() -> None:
    openai = PROVIDERS["openai"]
    # the provider's own list says the small default shuts down and the data names no replacement: the
    # next model of the preset that is not going away, other than the large default, takes its place
    listed = ModelList(["gpt-6-luna", "gpt-6.2-sol", "gpt-9-mini"], True, shutdown_dates={"gpt-6-luna": dt.date(2027, 6, 1)})
    routed = router_defaults(openai, listed)
    assert (routed.small_model, routed.large_model) == ("gpt-6.1-sol", "gpt-6.2-sol")
    # everything in the preset going away: the provider's other models are used
    every = {m: dt.date(2027, 6, 1) for m in openai.models}
    routed = router_defaults(openai, ModelList([*openai.models, "gpt-9-mini", "gpt-9-sol"], True, shutdown_dates=every))
    assert (routed.small_model, routed.large_model) == ("gpt-9-mini", "gpt-9-sol")
    # a deprecation that names its replacement: the replacement is used
    deps = dict(DEFAULT_DEPRECATIONS) | {"gpt-6.2-sol": Deprecation("gpt-6.2-sol", dt.date(2027, 5, 1), "gpt-9-sol")}
    routed = router_defaults(openai, ModelList(["gpt-6-luna", "gpt-9-sol"], True), deps)
    assert (routed.small_model, routed.large_model) == ("gpt-6-luna", "gpt-9-sol")
    # an old preset whose defaults are deprecated in the data moves to the replacements
    old = routed.__class__(**{**openai.__dict__, "small_model": "gpt-4.1-mini", "large_model": "gpt-5"})
    routed = router_defaults(old, ModelList(list(old.models), False))
    assert (routed.small_model, routed.large_model) == ("gpt-6-luna", "gpt-6.1-sol")


# --- the usage log, its reader and the view --------------------------------------------------------------


def _ctx(log: Path) -> CallContext:
    return CallContext(page="chat", provider_id="openai", local=False, log_path=log)


def test_cached_tokens_are_logged_and_billed(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    res = ChatResult(
        text="hi",
        resolved_model="gpt-6-luna-2026-09-22",
        finish_reason="stop",
        usage=CompletionUsage(
            prompt_tokens=10_000,
            completion_tokens=1000,
            total_tokens=11_000,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=8000),
        ),
    )
    finalize_and_log(_ctx(log), ChatParams(model="gpt-6-luna"), [{"role": "user", "content": "hi"}], res, stream=True)
    line = json.loads(log.read_text())
    assert line["cached_tokens"] == 8000
    assert line["cost_usd"] == pytest.approx((2000 * 0.10 + 8000 * 0.01 + 1000 * 0.50) / M)
    # a provider that reports no details: the field is null and all input is billed as input
    res2 = ChatResult(
        text="x", finish_reason="stop", usage=CompletionUsage(prompt_tokens=10, completion_tokens=1, total_tokens=11)
    )
    finalize_and_log(_ctx(log), ChatParams(model="gpt-6-luna"), [], res2, stream=False)
    assert json.loads(log.read_text().splitlines()[1])["cached_tokens"] is None


def _line(ts: str, model: str, inp: int, out: int, cached: int | None = None, provider: str = "openai") -> str:
    record = usage_log.UsageRecord(page="chat", provider=provider, model=model, input_tokens=inp, output_tokens=out, ts=ts)
    data = json.loads(record.to_json())
    if cached is None:
        del data["cached_tokens"]  # as written before the field existed
    else:
        data["cached_tokens"] = cached
    return json.dumps(data) + "\n"


def test_old_lines_without_cached_tokens_read_fine_and_the_view_bills_as_billed(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text(
        _line("2026-11-20T10:00:00.000Z", "gpt-6-luna", 200_000, 10_000, cached=100_000)
        + _line("2026-11-20T11:00:00.000Z", "gpt-6-luna", 300_000, 1000)  # an old line, long context
        + _line("2026-11-21T11:00:00.000Z", "mystery-model", 10, 10)
    )
    table, bad = read_table(log)
    assert bad == 0 and table["cached_tokens"].to_pylist() == [100_000, None, None]
    df = to_frame(table, DEFAULT_PRICES, ["local"])
    assert df["cost"].tolist()[:2] == pytest.approx(
        [(100_000 * 0.10 + 100_000 * 0.01 + 10_000 * 0.50) / M, (300_000 * 0.20 + 1000 * 0.75) / M]
    )
    assert df["cost"].isna().tolist()[2]  # unpriced, and no cost was logged
    view = build_view(table, Filters(), prices=DEFAULT_PRICES, local_providers=["local"], today=dt.date(2026, 11, 27))
    assert view.cached_tokens == 100_000 and view.cost_unknown == 1
    assert "cached_tokens" in view.recent.columns
    row = view.models_in_use.set_index("model").loc["gpt-6-luna"]
    assert (row["input"], row["cached_input"], row["output"]) == (0.10, 0.01, 0.50)


def test_the_view_uses_the_price_in_effect_on_each_calls_day(tmp_path: Path) -> None:
    write_prices(
        tmp_path,
        {"models": [{"model": "acme", "input": 2, "output": 0, "effective_from": "2026-01-01"},
                    {"model": "acme", "input": 1, "output": 0, "effective_from": "2026-11-01"}]},
    )  # fmt: skip
    log = tmp_path / "usage.jsonl"
    log.write_text(
        _line("2025-06-01T00:00:00.000Z", "acme", M, 0)  # before any price
        + _line("2026-10-31T23:59:59.000Z", "acme", M, 0)
        + _line("2026-11-01T00:00:00.000Z", "acme", M, 0)
    )
    df = to_frame(read_table(log)[0], load_price_table(tmp_path).prices, [])
    assert df["cost"].isna().tolist()[0] and df["cost"].tolist()[1:] == pytest.approx([2.0, 1.0])


def test_an_arrow_cache_from_before_cached_tokens_is_discarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_reader, "CACHE_SAVE_BYTES", 1)  # write the cache at once
    log = tmp_path / "usage.jsonl"
    log.write_text(_line("2026-11-20T10:00:00.000Z", "gpt-6-luna", 100, 10, cached=40) * 3)
    reader = UsageLog(log, cache_path_for(log))
    assert reader.snapshot().table.num_rows == 3
    reader.flush()  # the cache is written in the background
    cache = cache_path_for(log)
    # read into memory, not mapped: the file is rewritten below, and a mapped table's buffers would go with it
    saved = pa.ipc.open_file(pa.BufferReader(cache.read_bytes())).read_all()
    meta = json.loads(saved.schema.metadata[b"yoake_usage_cache"])
    assert meta["format"] == CACHE_FORMAT
    # rewrite it as the previous format wrote it: no cached_tokens column, format "2"
    old = saved.drop_columns(["cached_tokens"]).replace_schema_metadata(
        {b"yoake_usage_cache": json.dumps(meta | {"format": "2"}).encode()}
    )
    with pa.OSFile(str(cache), "wb") as sink, pa.ipc.new_file(sink, old.schema) as writer:
        writer.write_table(old)
    fresh = UsageLog(log, cache)
    snap = fresh.snapshot()
    assert fresh.last_read_bytes == log.stat().st_size  # re-parsed from the log, not taken from the cache
    assert snap.table["cached_tokens"].to_pylist() == [40, 40, 40]


def test_shutting_down_lists_calls_to_models_going_away_within_90_days(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text(
        _line("2026-11-01T09:00:00.000Z", "gpt-4.1-mini-2025-04-14", 10, 1)
        + _line("2026-11-25T09:00:00.000Z", "gpt-4.1-mini", 10, 1)
        + _line("2026-11-26T09:00:00.000Z", "gpt-5", 10, 1)
        + _line("2026-11-26T10:00:00.000Z", "gpt-6-luna", 10, 1)
        + _line("2026-11-26T11:00:00.000Z", "far-away", 10, 1)
        + _line("2026-11-26T12:00:00.000Z", "gone", 10, 1)
    )
    deps = dict(DEFAULT_DEPRECATIONS) | {
        "far-away": Deprecation("far-away", dt.date(2027, 3, 1), "x"),  # 94 days out
        "gone": Deprecation("gone", dt.date(2026, 11, 26), "y"),  # already shut down
    }
    frame = shutting_down(read_table(log)[0], deps, dt.date(2026, 11, 27))
    assert frame["model"].tolist() == ["gpt-5", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"]
    assert frame["shutdown_date"].tolist() == [dt.date(2026, 12, 11), dt.date(2027, 1, 14), dt.date(2027, 1, 14)]
    assert frame["replacement"].tolist() == ["gpt-6.1-sol", "gpt-6-luna", "gpt-6-luna"]
    assert frame["calls"].tolist() == [1, 1, 1]
    assert str(frame["last_used"].tolist()[1]).startswith("2026-11-25 09:00")
    # the horizon's last day is in, the day after is out
    assert shutting_down(read_table(log)[0], deps, dt.date(2026, 12, 1))["model"].tolist()[-1] == "far-away"
