"""The columnar usage-log reader: fast first load, incremental refresh, and a cache beside the log.

`usage.jsonl` (written by `lib.usage_log.append`) can reach hundreds of MB. We read it in 4 MB
blocks that end on a newline and parse them on a thread pool with pyarrow's JSON reader against
a fixed schema, reading the next blocks while the first are parsed. A block that fails (torn
line, hand edit, older schema) is re-parsed around the row pyarrow's error names, so one bad line
costs about one more parse of its block; failures that name no row (a value of the wrong type)
are bisected. Nothing falls back to a slow line-by-line read of the whole file.

`UsageLog` keeps what it parsed and the byte offset it reached, so a refresh reads only the bytes
appended since. It also saves the parsed table (in a background thread, once 8 MB more are
parsed) as an Arrow IPC file beside the log (`usage.cache.arrow`) with the offset and
fingerprints of the log's head, of the bytes just before the offset and of its inode; a new
process memory-maps it and reads only the bytes after the offset, unless the log was rotated,
truncated or rewritten, in which case it re-parses from scratch.

The rest of the module turns a table into what the usage page shows (`build_view`); it is pure
pandas/pyarrow so it is tested without Streamlit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pj

from lib.pricing import Price, find_price
from lib.usage_log import UsageRecord

# One column per `UsageRecord` field, in the order the writer emits them.
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("page", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("resolved_model", pa.string()),
        ("temperature", pa.float64()),
        ("top_p", pa.float64()),
        ("max_tokens", pa.int64()),
        ("stream", pa.bool_()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("ttft_ms", pa.float64()),
        ("duration_ms", pa.float64()),
        ("cost_usd", pa.float64()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("request_id", pa.string()),
        ("usage_estimated", pa.bool_()),
        ("cache_hit", pa.bool_()),
    ]
)
assert set(SCHEMA.names) == {f.name for f in fields(UsageRecord)}, "SCHEMA must follow UsageRecord"

_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
BLOCK_BYTES = 4 << 20  # measured fastest of 1-16 MB here; small enough that re-parsing around a bad line is cheap
_LINE_BY_LINE = 16  # below this many lines, a failing block is parsed one line at a time
FINGERPRINT_BYTES = 4096
CACHE_FORMAT = "1"
CACHE_SAVE_BYTES = 8 << 20  # re-save the cache once this much of the log is parsed but not cached


def empty_table() -> pa.Table:
    return SCHEMA.empty_table()


# --- parsing ------------------------------------------------------------------------------------


def _read_block(buf: memoryview | bytes) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(pa.py_buffer(buf)),
        read_options=pj.ReadOptions(use_threads=False, block_size=max(len(buf) + 1, 1 << 16)),
        parse_options=_PARSE,
    )


_ERROR_ROW = re.compile(r" in row (\d+)$")


def _failing_line(raw: bytes, message: str) -> tuple[int, int] | None:
    """(start, end) of the line a parse error names ("... in row N"), if that line fails on its own.

    pyarrow numbers the non-blank lines of the block; conversion errors name no row (None).
    """
    found = _ERROR_ROW.search(message)
    if not found:
        return None
    row, seen, pos = int(found.group(1)), 0, 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl + 1
        if raw[pos:end].strip():
            if seen == row:
                try:
                    _read_block(raw[pos:end])
                except pa.ArrowInvalid:
                    return pos, end
                return None  # our count of rows disagrees with pyarrow's: let the caller bisect
            seen += 1
        pos = end
    return None


def _parse_isolating(buf: memoryview) -> tuple[list[pa.Table], int]:
    """Parse complete lines, dropping only the bad ones. -> (tables, bad lines).

    A parse error names its row: the lines before it are re-parsed once, the line is dropped and
    parsing goes on after it. Other failures (a value of the wrong type) are bisected.
    """
    tables: list[pa.Table] = []
    bad = 0
    while len(buf):
        try:
            tables.append(_read_block(buf))
            break
        except pa.ArrowInvalid as exc:
            message = str(exc)
        raw = bytes(buf)
        if not raw.strip():  # pyarrow rejects an empty document
            break
        span = _failing_line(raw, message)
        if span is None:
            more, more_bad = _bisect(buf, raw)
            tables += more
            bad += more_bad
            break
        start, end = span
        if start:
            more, more_bad = _parse_isolating(buf[:start])
            tables += more
            bad += more_bad
        bad += 1
        buf = buf[end:]
    return tables, bad


def _bisect(buf: memoryview, raw: bytes) -> tuple[list[pa.Table], int]:
    if raw.count(b"\n") <= _LINE_BY_LINE:
        tables, bad = [], 0
        for line in raw.splitlines(keepends=True):
            if not line.strip():
                continue
            try:
                tables.append(_read_block(line))
            except pa.ArrowInvalid:
                bad += 1
        return tables, bad
    mid = raw.find(b"\n", len(raw) // 2)
    if mid < 0 or mid == len(raw) - 1:
        mid = raw.rfind(b"\n", 0, len(raw) // 2)
    left, bad_left = _parse_isolating(buf[: mid + 1])
    right, bad_right = _parse_isolating(buf[mid + 1 :])
    return left + right, bad_left + bad_right


def _valid_rows(table: pa.Table) -> tuple[pa.Table, int]:
    """Rows that parsed but lack a timestamp or model (an older schema, a foreign object) are malformed."""
    if table.num_rows == 0:
        return table, 0
    ok = pc.and_(pc.is_valid(table["ts"]), pc.fill_null(pc.greater(pc.utf8_length(table["model"]), 0), False))
    if pc.all(ok).as_py():
        return table, 0  # the usual case: no copy
    kept = table.filter(ok)
    return kept, table.num_rows - kept.num_rows


def _parse_block(buf: memoryview) -> tuple[list[pa.Table], int]:
    tables, bad = _parse_isolating(buf)
    kept = []
    for table in tables:
        valid, foreign = _valid_rows(table)
        bad += foreign
        if valid.num_rows:
            kept.append(valid)
    return kept, bad


def _parse_blocks(blocks: Iterable[memoryview], workers: int | None = None) -> tuple[pa.Table, int]:
    """Parse blocks of complete lines in parallel (pyarrow releases the GIL); `blocks` may be a
    generator still reading the file, so reading overlaps parsing."""
    workers = workers or (os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="usage-parse") as pool:
            results = list(pool.map(_parse_block, blocks))
    else:
        results = [_parse_block(b) for b in blocks]
    tables = [t for ts, _ in results for t in ts]
    bad = sum(b for _, b in results)
    return (pa.concat_tables(tables) if tables else empty_table()), bad


def _memory_blocks(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    start, size = 0, len(data)
    while start < size:
        end = data.find(b"\n", min(start + BLOCK_BYTES, size) - 1)
        end = size if end < 0 else end + 1
        yield view[start:end]
        start = end


def parse_lines(data: bytes, *, workers: int | None = None) -> tuple[pa.Table, int]:
    """Parse newline-delimited usage records. -> (table with SCHEMA, count of malformed lines)."""
    return _parse_blocks(_memory_blocks(data), workers or (1 if len(data) <= BLOCK_BYTES else None))


class _BlockReader:
    """Reads `length` bytes of a file as blocks that end on a newline, without one big copy.

    After iteration, `consumed` is the bytes handed out (complete lines) and `tail` what follows
    the last newline (an unterminated last line, or b"").
    """

    def __init__(self, fh: BinaryIO, length: int) -> None:
        self.fh, self.length = fh, length
        self.consumed, self.tail = 0, b""

    def __iter__(self) -> Iterator[memoryview]:
        left, carry = self.length, b""
        while left > 0:
            buf = bytearray(len(carry) + min(BLOCK_BYTES, left))
            buf[: len(carry)] = carry
            got = self.fh.readinto(memoryview(buf)[len(carry) :])
            if not got:  # the file shrank under us; the next snapshot notices
                break
            left -= got
            size = len(carry) + got
            end = buf.rfind(b"\n", 0, size) + 1
            carry = bytes(buf[end:size])
            if end:
                self.consumed += end
                yield memoryview(buf)[:end]
        self.tail = carry


def read_table(path: Path) -> tuple[pa.Table, int]:
    """The whole log as a table, plus its malformed-line count (no cache)."""
    if not path.is_file():
        return empty_table(), 0
    with open(path, "rb") as fh:
        reader = _BlockReader(fh, os.fstat(fh.fileno()).st_size)
        table, bad = _parse_blocks(reader)
    if reader.tail.strip():  # an unterminated last line is a line too
        tail, tail_bad = parse_lines(reader.tail)
        table, bad = pa.concat_tables([table, tail]), bad + tail_bad
    return table, bad


# --- the incremental reader and its cache ---------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    table: pa.Table  # valid records, in log order
    bad_lines: int  # malformed lines skipped
    version: tuple  # changes whenever the content changes; use it as a cache key
    exists: bool
    size: int  # bytes in the log


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class UsageLog:
    """Keeps the parsed log in memory; `snapshot()` reads only what was appended since the last call.

    Thread-safe (one instance is shared by every session of a Streamlit server).
    """

    def __init__(self, path: Path, cache_path: Path | None = None) -> None:
        self.path = Path(path)
        self.cache_path = cache_path
        self._lock = threading.Lock()
        self._reset()
        self._loaded_cache = False
        self._saver: threading.Thread | None = None
        self.last_read_bytes = 0  # how many bytes the last snapshot() read from the log (for tests/bench)

    def _reset(self) -> None:
        self._chunks: list[pa.Table] = []
        self._bad = 0  # malformed lines before _offset
        self._offset = 0  # bytes consumed, always just after a newline
        self._ino: int | None = None
        self._head = ""  # sha of the first FINGERPRINT_BYTES (or fewer) bytes
        self._head_len = 0
        self._window = ""  # sha of the FINGERPRINT_BYTES just before _offset
        self._tail_table = empty_table()  # a last line without its newline, parsed on every read
        self._tail_bad = 0
        self._size = -1
        self._mtime = -1
        self._generation = getattr(self, "_generation", 0) + 1
        self._cached_offset = 0  # how far the on-disk cache reaches

    # fingerprints of what we have already consumed: if they change, the file was replaced/rewritten
    def _fingerprint(self, fh, offset: int) -> tuple[str, int, str]:
        head_len = min(offset, FINGERPRINT_BYTES)
        fh.seek(0)
        head = _sha(fh.read(head_len))
        win_start = max(0, offset - FINGERPRINT_BYTES)
        fh.seek(win_start)
        window = _sha(fh.read(offset - win_start))
        return head, head_len, window

    def _still_valid(self, fh, st: os.stat_result) -> bool:
        if self._offset == 0:
            return True
        if st.st_ino != self._ino or st.st_size < self._offset:
            return False
        head, _, window = self._fingerprint(fh, self._offset)
        return head == self._head and window == self._window

    def snapshot(self) -> Snapshot:
        with self._lock:
            if not self._loaded_cache:
                self._loaded_cache = True
                self._load_cache()
            self.last_read_bytes = 0
            try:
                fh = open(self.path, "rb")  # noqa: SIM115 - closed by the `with fh` below
            except FileNotFoundError:
                if self._offset or self._size > 0:
                    self._reset()
                self._size = 0
                return self._snap(exists=False)
            with fh:
                st = os.fstat(fh.fileno())
                if (st.st_size, st.st_mtime_ns, st.st_ino) != (self._size, self._mtime, self._ino):
                    self._update(fh, st)
            return self._snap(exists=True)

    def _snap(self, *, exists: bool) -> Snapshot:
        parts = self._chunks + ([self._tail_table] if self._tail_table.num_rows else [])
        table = pa.concat_tables(parts) if parts else empty_table()
        version = (self._generation, self._offset, self._size, self._tail_bad, self._tail_table.num_rows)
        return Snapshot(table, self._bad + self._tail_bad, version, exists, max(self._size, 0))

    def _update(self, fh, st: os.stat_result) -> None:
        if not self._still_valid(fh, st):
            self._reset()
        fh.seek(self._offset)
        length = st.st_size - self._offset
        reader = _BlockReader(fh, length)
        table, bad = _parse_blocks(reader, workers=1 if length <= BLOCK_BYTES else None)
        self.last_read_bytes = reader.consumed + len(reader.tail)
        if table.num_rows:
            self._chunks.append(table)
        self._bad += bad
        self._offset += reader.consumed
        # A final line without its newline: a torn write or a hand edit. Counted/shown now,
        # re-read next time (it may be completed, or stay torn and be followed by new lines).
        self._tail_table, self._tail_bad = parse_lines(reader.tail) if reader.tail.strip() else (empty_table(), 0)
        self._ino, self._size, self._mtime = st.st_ino, st.st_size, st.st_mtime_ns
        if self._offset:
            self._head, self._head_len, self._window = self._fingerprint(fh, self._offset)
        if len(self._chunks) > 64:  # many small refreshes: keep the table's chunk list short
            self._chunks = [pa.concat_tables(self._chunks)]
        if self.cache_path and self._offset - self._cached_offset >= CACHE_SAVE_BYTES:
            self._save_cache()

    # --- the on-disk cache ---

    def _meta(self) -> dict:
        return {
            "format": CACHE_FORMAT,
            "log": str(self.path.resolve()),
            "offset": self._offset,
            "bad": self._bad,
            "ino": self._ino,
            "head": self._head,
            "window": self._window,
        }

    def _save_cache(self) -> None:
        """Write the cache in a background thread: the page shows the rows without waiting for the disk."""
        assert self.cache_path is not None
        if self._saver is not None and self._saver.is_alive():
            return  # one write at a time; the next refresh schedules the rest
        table = pa.concat_tables(self._chunks) if self._chunks else empty_table()
        table = table.replace_schema_metadata({b"yoake_usage_cache": json.dumps(self._meta()).encode()})
        self._saver = threading.Thread(target=self._write_cache, args=(table, self._generation, self._offset),
                                       name="usage-log-cache")
        self._saver.start()

    def _write_cache(self, table: pa.Table, generation: int, offset: int) -> None:
        assert self.cache_path is not None
        tmp = self.cache_path.with_name(f".{self.cache_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=256_000)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.cache_path)  # atomic: readers see the old or the new cache, never half
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only or full disk only costs speed
            return
        with self._lock:
            if self._generation == generation:  # not reset (log rotated) meanwhile
                self._cached_offset = max(self._cached_offset, offset)

    def flush(self) -> None:
        """Wait for a cache write in progress (tests, benchmarks, shutdown)."""
        saver = self._saver
        if saver is not None:
            saver.join()

    def _load_cache(self) -> None:
        if not self.cache_path or not self.cache_path.is_file():
            return
        try:
            table = pa.ipc.open_file(pa.memory_map(str(self.cache_path))).read_all()
            meta = json.loads((table.schema.metadata or {})[b"yoake_usage_cache"])
            if meta.get("format") != CACHE_FORMAT or meta.get("log") != str(self.path.resolve()):
                return
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                offset = int(meta["offset"])
                if st.st_ino != meta["ino"] or st.st_size < offset:
                    return
                head, head_len, window = self._fingerprint(fh, offset)
                if head != meta["head"] or window != meta["window"]:
                    return
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
            return  # no, stale or damaged cache: parse the log instead
        table = table.replace_schema_metadata(None)
        if table.schema != SCHEMA:
            return
        self._chunks = [table] if table.num_rows else []
        self._bad, self._offset, self._cached_offset = int(meta["bad"]), offset, offset
        self._ino, self._head, self._head_len, self._window = st.st_ino, head, head_len, window

    def save_cache(self) -> None:
        """Write the cache now if it is behind (e.g. before the app exits), and wait for it."""
        with self._lock:
            if self.cache_path and self._offset and self._offset != self._cached_offset:
                self._save_cache()
        self.flush()


def cache_path_for(log_path: Path) -> Path:
    return log_path.with_name(log_path.stem + ".cache.arrow")


def records_to_dicts(table: pa.Table) -> list[dict]:
    """Rows as dicts in the log's own shape (ts back to the ISO string the writer used)."""
    rows = table.to_pylist()
    for row in rows:
        ts = row["ts"]
        row["ts"] = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    return rows


def distinct(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})


# --- what the usage page shows ---------------------------------------------------------------------

RECENT_ROWS = 2000  # rows of the filtered calls shown in the table (the CSV has all of them)
DEFAULT_DAILY_ALERT = 500_000


@dataclass(frozen=True)
class Filters:
    start: _dt.date | None = None  # inclusive, in the display time zone
    end: _dt.date | None = None  # inclusive
    providers: tuple[str, ...] = ()  # empty: all
    models: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # "ok" / "error"


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
    for column, wanted in (("provider", f.providers), ("model", f.models), ("page", f.pages)):
        if wanted:
            mask = pc.and_(mask, pc.fill_null(pc.is_in(table[column], pa.array(list(wanted), pa.string())), False))
    if f.statuses:
        mask = pc.and_(mask, pc.is_in(_status(table), pa.array(list(f.statuses), pa.string())))
    return table.filter(mask)


def options(table: pa.Table) -> dict[str, list[str]]:
    """Distinct providers, models and pages in the log, for the filter widgets."""
    return {c: distinct(pc.unique(table[c]).to_pylist()) for c in ("provider", "model", "page")}


def _tokens(table: pa.Table) -> pa.ChunkedArray:
    # total_tokens when logged, else input + output (an absent count adds nothing)
    parts = pc.add(pc.fill_null(table["input_tokens"], 0), pc.fill_null(table["output_tokens"], 0))
    return pc.coalesce(table["total_tokens"], parts)


def _categorical(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    # low-cardinality text as pandas categoricals: filters and group-bys on 1M rows stay fast
    return pc.dictionary_encode(values)


def to_frame(table: pa.Table, prices: dict[str, Price], local_providers: Iterable[str]) -> pd.DataFrame:
    """The columns the page aggregates, plus `tokens`, `status` (ok/error) and `cost` at today's prices.

    cost: 0 for local providers, cache hits and calls without token counts; tokens x the price table for a priced model (the
    resolved model first, as when the call was logged); else the cost logged at call time, if any.
    """
    cols = {
        "ts": table["ts"],
        "page": _categorical(table["page"]),
        "provider": _categorical(table["provider"]),
        "model": _categorical(table["model"]),
        "effective_model": _categorical(pc.coalesce(table["resolved_model"], table["model"])),
        "status": _categorical(_status(table)),
        "error_type": _categorical(table["error_type"]),
        "input_tokens": pc.cast(table["input_tokens"], pa.float64()),
        "output_tokens": pc.cast(table["output_tokens"], pa.float64()),
        "tokens": pc.cast(_tokens(table), pa.float64()),
        "ttft_ms": table["ttft_ms"],
        "duration_ms": table["duration_ms"],
        "cost_usd": table["cost_usd"],
        "cache_hit": pc.fill_null(table["cache_hit"], False),
    }
    df = pa.table(cols).to_pandas()
    eff = df["effective_model"].cat
    found = [find_price(str(m), prices) for m in eff.categories]
    p_in = np.array([p.input if p else np.nan for p in found] + [np.nan])  # code -1 (null) -> NaN
    p_out = np.array([p.output if p else np.nan for p in found] + [np.nan])
    codes = eff.codes.to_numpy()
    cost = (df["input_tokens"].to_numpy() * p_in[codes] + df["output_tokens"].to_numpy() * p_out[codes]) / 1_000_000
    cost = np.where(np.isnan(cost), df["cost_usd"].to_numpy(dtype="float64", na_value=np.nan), cost)
    free = df["provider"].isin(list(local_providers)).to_numpy(dtype=bool) | df["cache_hit"].to_numpy(dtype=bool)
    # a call that reported no tokens (failed before any usage) bills nothing, whatever its model
    free |= df["input_tokens"].isna().to_numpy() & df["output_tokens"].isna().to_numpy()
    df["cost"] = np.where(free, 0.0, cost)
    return df


def _pct(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q)) if len(values) else None


@dataclass
class UsageView:
    rows: int  # calls in the selected period and filters
    input_tokens: int
    output_tokens: int
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
    errors_over_time: pd.DataFrame  # bucket, error_type, calls
    recent: pd.DataFrame  # newest first, at most RECENT_ROWS
    unknown_models: list[str]  # models in the log with no price (non-local, not cache hits)
    models_in_use: pd.DataFrame  # model, calls, input (USD/1M), output (USD/1M), note


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
) -> UsageView:
    local_providers = tuple(local_providers)
    today = today or pd.Timestamp.now(tz).date()
    day_rows = filter_table(table, Filters(start=today, end=today), tz)
    today_tokens = int(pc.sum(_tokens(day_rows)).as_py() or 0) if day_rows.num_rows else 0
    if bucket == "auto":
        bucket = pick_bucket(f, table, tz)
    sel = filter_table(table, f, tz)
    df = to_frame(sel, prices, local_providers)
    is_ok = (df["status"] == "ok").to_numpy(dtype=bool)
    errors = int((~is_ok).sum())
    local_ts = _local_naive(df["ts"], tz)
    df["bucket"] = local_ts.dt.floor("h") if bucket == "hour" else local_ts.dt.normalize()
    over_time = (
        df.groupby(["bucket", "model"], observed=True)
        .agg(tokens=("tokens", "sum"), input_tokens=("input_tokens", "sum"), output_tokens=("output_tokens", "sum"),
             cost=("cost", "sum"), calls=("tokens", "size"))
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
        idx = pc.select_k_unstable(ranked, k=min(recent_rows, sel.num_rows),
                                   sort_keys=[("ts", "descending"), ("_pos", "ascending")])
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
    in_use["input"] = [p.input if p else None for p in found]
    in_use["output"] = [p.output if p else None for p in found]
    unknown = sorted(m for m, p, b in zip(in_use["model"], found, in_use["billed"], strict=True) if p is None and b)
    in_use["note"] = ["local: free" if loc else ("no price: cost unknown" if m in unknown else "")
                      for m, loc in zip(in_use["model"], in_use["local"], strict=True)]
    in_use = in_use.drop(columns=["local", "billed"]).sort_values("calls", ascending=False).reset_index(drop=True)
    return UsageView(
        rows=len(df),
        input_tokens=int(df["input_tokens"].sum()),
        output_tokens=int(df["output_tokens"].sum()),
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
        errors_over_time=errors_over_time,
        recent=recent,
        unknown_models=unknown,
        models_in_use=in_use,
    )


def to_csv_bytes(table: pa.Table) -> bytes:
    """The rows as CSV (every logged field), written by Arrow: fast even for a million rows."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()
