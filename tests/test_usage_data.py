"""The columnar usage-log reader: malformed lines isolated, incremental refresh, the cache, the figures."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lib.core import usage_log
from lib.core.pricing import DEFAULT_PRICES, Price
from lib.core.usage_log import UsageRecord
from lib.usage import reader
from lib.usage.reader import UsageLog, cache_path_for, parse_lines
from lib.usage.view import Filters, build_view, filter_table, to_csv_bytes

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rec(i: int, **kw) -> UsageRecord:
    base = dict(
        page="chat",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=100 + i,
        output_tokens=10 + i,
        total_tokens=110 + 2 * i,
        duration_ms=1000.0 + i,
        ttft_ms=100.0 + i,
        ts=iso(T0 + timedelta(minutes=i)),
    )
    return UsageRecord(**(base | kw))


BAD_LINES = [
    '{"id":"torn","ts":"2026-03-01T00:00:00.000Z","page":"chat","prov',  # torn
    "# a hand-written note",
    '{"when":"2025-01-01","tokens":12}',  # older schema: no ts/model
    '{"ts":"yesterday","model":"gpt-4o"}',  # unparseable timestamp
    '{"ts":"2026-03-01T00:00:00.000Z","model":"m","input_tokens":"12"}',  # wrong type
    "[1, 2, 3]",
    '{"ts":"2026-03-01T00:00:00.000Z","model":""}',  # empty model
]


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def test_schema_follows_the_writer() -> None:
    line = rec(0).to_json()
    assert list(json.loads(line)) == reader.SCHEMA.names
    table, bad = parse_lines((line + "\n").encode())
    assert bad == 0 and table.num_rows == 1 and table["model"][0].as_py() == "gpt-4o-mini"


def test_malformed_lines_are_counted_and_good_ones_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny blocks: the bad lines land in different blocks and each is isolated by bisection.
    monkeypatch.setattr(reader, "BLOCK_BYTES", 2000)
    good = [rec(i).to_json() for i in range(200)]
    lines = list(good)
    for k, bad in enumerate(BAD_LINES):
        lines.insert(10 + 27 * k, bad)
    lines.insert(50, "")  # blank lines are not malformed
    path = tmp_path / "usage.jsonl"
    write(path, lines)
    table, bad = reader.read_table(path)
    assert bad == len(BAD_LINES)
    assert table["id"].to_pylist() == [json.loads(g)["id"] for g in good]
    assert table["input_tokens"].to_pylist() == [100 + i for i in range(200)]
    records, bad2 = reader.read_records(path)
    assert bad2 == bad and [r["id"] for r in records] == table["id"].to_pylist()
    assert records[3]["ts"] == json.loads(good[3])["ts"]  # the writer's own ISO form


def test_a_bad_line_costs_one_reparse_not_a_bisection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every block has a bad line, after blank and whitespace-only lines (which pyarrow leaves out of
    # its row numbers). Each is dropped where pyarrow's error points: the lines before it are parsed
    # once more, so about twice the log is parsed; bisecting would parse it about three times.
    monkeypatch.setattr(reader, "BLOCK_BYTES", 64_000)
    good = [rec(i).to_json() for i in range(1200)]
    lines: list[str] = []
    bad_count = 0
    for i, g in enumerate(good):
        if i % 150 == 70:
            lines += ["", "   ", '{"id":"torn","ts":"2026-03-01T00:0']
            bad_count += 1
        lines.append(g)
    path = tmp_path / "usage.jsonl"
    write(path, lines)
    parsed: list[int] = []
    real = reader._read_block
    monkeypatch.setattr(reader, "_read_block", lambda buf: (parsed.append(len(buf)), real(buf))[1])
    table, bad = reader.read_table(path)
    assert bad == bad_count and table["id"].to_pylist() == [json.loads(g)["id"] for g in good]
    assert sum(parsed) < 2.4 * path.stat().st_size, sum(parsed) / path.stat().st_size


def test_a_run_of_bad_lines_in_one_block(tmp_path: Path) -> None:
    # Thousands of failures in one block: handled in a loop, not one recursion level per bad line.
    lines = [rec(0).to_json()] + ["not json"] * 5000 + [rec(1).to_json()]
    table, bad = parse_lines("".join(line + "\n" for line in lines).encode())
    assert bad == 5000 and table["input_tokens"].to_pylist() == [100, 101]


@pytest.mark.parametrize("seed", range(6))
def test_block_reader_agrees_with_a_line_by_line_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # Random mixtures of good, malformed, blank and wrong-typed lines, in tiny blocks: the fast
    # reader must keep exactly the records, and count exactly the lines, that a reader taking one
    # line at a time keeps and counts.
    import random

    rng = random.Random(seed)
    monkeypatch.setattr(reader, "BLOCK_BYTES", rng.choice([300, 1000, 5000]))
    kinds = BAD_LINES + ["", "  ", '{"ts":"2026-03-01T00:00:00.000Z","model":"m","stream":"yes"}']
    lines = [rec(i).to_json() if rng.random() < 0.7 else rng.choice(kinds) for i in range(400)]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + rng.choice(["\n", ""]))  # with or without a final newline

    expected_ids, expected_bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            row, foreign = reader._valid_rows(reader._read_block((line + "\n").encode()))
        except Exception:
            expected_bad += 1
            continue
        expected_bad += foreign
        expected_ids += row["id"].to_pylist()
    table, bad = reader.read_table(path)
    assert (table["id"].to_pylist(), bad) == (expected_ids, expected_bad)
    snap = UsageLog(path).snapshot()
    assert (snap.table["id"].to_pylist(), snap.bad_lines) == (expected_ids, expected_bad)


def test_refresh_reads_only_new_bytes_and_handles_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    for i in range(5):
        usage_log.append(path, rec(i))
    log = UsageLog(path)
    snap = log.snapshot()
    assert snap.table.num_rows == 5 and snap.bad_lines == 0
    assert log.snapshot().version == snap.version and log.last_read_bytes == 0  # nothing new: nothing read

    size = path.stat().st_size
    usage_log.append(path, rec(5))
    snap2 = log.snapshot()
    assert snap2.table.num_rows == 6 and log.last_read_bytes == path.stat().st_size - size
    assert snap2.version != snap.version

    # A line without its newline is shown (if valid) or counted (if not), and re-read next time.
    line = rec(6).to_json()
    with open(path, "a") as fh:
        fh.write(line[:40])
    assert (log.snapshot().table.num_rows, log.snapshot().bad_lines) == (6, 1)
    with open(path, "a") as fh:
        fh.write(line[40:])
    assert (log.snapshot().table.num_rows, log.snapshot().bad_lines) == (7, 0)
    with open(path, "a") as fh:
        fh.write("\n")
    usage_log.append(path, rec(7))
    snap3 = log.snapshot()
    assert snap3.table.num_rows == 8 and snap3.bad_lines == 0
    assert snap3.table["input_tokens"].to_pylist() == [100 + i for i in range(8)]


def test_missing_and_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    log = UsageLog(path, cache_path_for(path))
    snap = log.snapshot()
    assert not snap.exists and snap.table.num_rows == 0 and snap.bad_lines == 0
    path.write_text("")
    snap = log.snapshot()
    assert snap.exists and snap.table.num_rows == 0
    usage_log.append(path, rec(0))
    assert log.snapshot().table.num_rows == 1
    path.unlink()
    assert log.snapshot().table.num_rows == 0


def _log_with(path: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        usage_log.append(path, rec(i))


def test_cache_is_reused_by_a_new_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "CACHE_SAVE_BYTES", 1)
    path = tmp_path / "usage.jsonl"
    _log_with(path, 30)
    with open(path, "a") as fh:
        fh.write("not json\n")
    first = UsageLog(path, cache_path_for(path))
    snap = first.snapshot()
    first.flush()  # the cache is written in the background
    assert cache_path_for(path).is_file() and snap.bad_lines == 1
    size = path.stat().st_size
    _log_with(path, 2, start=30)

    second = UsageLog(path, cache_path_for(path))  # a new process: the cache, then only the new bytes
    snap2 = second.snapshot()
    assert second.last_read_bytes == path.stat().st_size - size
    assert snap2.table.num_rows == 32 and snap2.bad_lines == 1
    assert snap2.table["id"].to_pylist() == [
        json.loads(line)["id"] for line in path.read_text().splitlines() if line.startswith("{")
    ]


@pytest.mark.parametrize("change", ["rotated", "truncated", "rewritten", "replaced"])
def test_cache_is_invalidated_when_the_log_is_not_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    monkeypatch.setattr(reader, "CACHE_SAVE_BYTES", 1)
    path = tmp_path / "usage.jsonl"
    _log_with(path, 20)
    writer = UsageLog(path, cache_path_for(path))
    writer.snapshot()
    writer.flush()
    assert cache_path_for(path).is_file()
    if change == "rotated":  # moved away, a fresh log started
        path.rename(tmp_path / "usage.1.jsonl")
        _log_with(path, 25, start=100)
        expected = list(range(100, 125))
    elif change == "truncated":
        path.write_text("")
        _log_with(path, 3, start=200)
        expected = list(range(200, 203))
    elif change == "rewritten":  # same inode, same size or more, different head
        lines = path.read_text().splitlines(keepends=True)
        with open(path, "r+") as fh:
            fh.write(lines[1])
        expected = None
    else:  # an editor's save: a new file with the same size and content except one record
        lines = path.read_text().splitlines(keepends=True)
        lines[5] = lines[5].replace('"input_tokens":105', '"input_tokens":999')
        tmp = tmp_path / "edit.tmp"
        tmp.write_text("".join(lines))
        os.replace(tmp, path)
        expected = [i if i != 5 else 899 for i in range(20)]
    snap = UsageLog(path, cache_path_for(path)).snapshot()
    if expected is None:
        table, bad = reader.read_table(path)
        assert snap.table.equals(table) and snap.bad_lines == bad
    else:
        assert [v - 100 for v in snap.table["input_tokens"].to_pylist()] == expected


def test_in_memory_reader_notices_rotation(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    _log_with(path, 10)
    log = UsageLog(path)
    assert log.snapshot().table.num_rows == 10
    path.rename(tmp_path / "old.jsonl")
    _log_with(path, 12, start=50)
    assert log.snapshot().table["input_tokens"].to_pylist() == [150 + i for i in range(12)]


def test_build_view_figures() -> None:
    day = date(2026, 3, 1)
    recs = [
        rec(0, model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000, total_tokens=2_000_000),
        rec(1, provider="local", model="smollm2", cost_usd=0.0),
        rec(2, model="mystery", cost_usd=None),
        rec(3, model="mystery", cost_usd=0.5),  # no price today, but a cost was logged
        rec(
            4,
            status="error",
            error_type="rate_limit",
            input_tokens=None,
            output_tokens=None,
            total_tokens=None,
            duration_ms=50.0,
            ttft_ms=None,
        ),
        rec(5, cache_hit=True, model="gpt-4.1"),
        rec(
            6,
            model="gpt-4o",
            resolved_model="gpt-4o-mini-2024-07-18",
            input_tokens=1000,
            output_tokens=0,
            total_tokens=None,
            ts=iso(T0 - timedelta(days=1)),
        ),
    ]
    table, bad = parse_lines("".join(r.to_json() + "\n" for r in recs).encode())
    prices = dict(DEFAULT_PRICES)
    v = build_view(table, Filters(start=day, end=day), prices=prices, local_providers=["local"], today=day)
    assert v.rows == 6 and v.errors == 1 and v.error_rate == pytest.approx(1 / 6)
    assert v.input_tokens == 1_000_000 + 101 + 102 + 103 + 105 and v.output_tokens == 1_000_000 + 11 + 12 + 13 + 15
    assert v.cost == pytest.approx(0.15 + 0.60 + 0.5)  # local and cache hit free; one mystery call unknown
    assert v.cost_unknown == 1 and v.unknown_models == ["mystery"]
    oks = [1000.0, 1001.0, 1002.0, 1003.0, 1005.0]
    assert v.p50_latency_ms == pytest.approx(1002.0) and v.p95_latency_ms == pytest.approx(1003.0 + 0.8 * 2)
    assert v.p50_ttft_ms == pytest.approx(102.0) and len(oks) == 5
    assert v.today_tokens == 2_000_000 + 112 + 114 + 116 + 120  # error line has no tokens
    assert dict(zip(v.by_provider["provider"], v.by_provider["calls"], strict=True)) == {"openai": 5, "local": 1}
    assert v.errors_over_time["calls"].sum() == 1 and v.errors_over_time["error_type"][0] == "rate_limit"
    assert list(v.recent["id"]) == [r.id for r in reversed(recs[:6])]  # newest first
    # The previous day: resolved model priced by prefix; total tokens filled from input + output.
    prev = build_view(
        table,
        Filters(start=day - timedelta(days=1), end=day - timedelta(days=1)),
        prices=prices,
        local_providers=["local"],
        today=day,
    )
    assert prev.rows == 1 and prev.cost == pytest.approx(1000 * 0.15 / 1e6)
    assert prev.over_time["tokens"].sum() == 1000
    # A price for the mystery model (prices.json) replaces the logged cost.
    prices["mystery"] = Price(1.0, 1.0)
    v2 = build_view(table, Filters(start=day, end=day), prices=prices, local_providers=["local"], today=day)
    assert v2.cost_unknown == 0 and v2.cost == pytest.approx(0.75 + (102 + 12 + 103 + 13) / 1e6)


def test_filters_and_timezone_days() -> None:
    recs = [
        rec(0, ts="2026-03-01T14:59:59.000Z"),
        rec(1, ts="2026-03-01T15:00:00.000Z", provider="gemini", page="summarize", status="error"),
    ]
    table, _ = parse_lines("".join(r.to_json() + "\n" for r in recs).encode())
    tokyo_day = date(2026, 3, 2)  # 15:00Z is midnight in Tokyo
    assert filter_table(table, Filters(start=tokyo_day, end=tokyo_day), "Asia/Tokyo")["provider"].to_pylist() == ["gemini"]
    assert filter_table(table, Filters(start=date(2026, 3, 1), end=date(2026, 3, 1)), "UTC").num_rows == 2
    assert filter_table(table, Filters(pages=("chat",))).num_rows == 1
    assert filter_table(table, Filters(statuses=("error",)))["page"].to_pylist() == ["summarize"]
    assert filter_table(table, Filters(providers=("openai", "gemini"), models=("gpt-4o-mini",))).num_rows == 2
    assert filter_table(table, Filters(models=("nope",))).num_rows == 0


def test_csv_has_every_filtered_row() -> None:
    recs = [rec(i, page="chat" if i % 2 else "logprobs") for i in range(10)]
    table, _ = parse_lines("".join(r.to_json() + "\n" for r in recs).encode())
    rows = list(csv.DictReader(io.StringIO(to_csv_bytes(filter_table(table, Filters(pages=("chat",)))).decode())))
    assert [r["id"] for r in rows] == [r.id for r in recs if r.page == "chat"]
    assert rows[0]["input_tokens"] == "101"
