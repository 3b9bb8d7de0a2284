"""The columnar usage-log reader: fast first load, incremental refresh, and a cache beside the log.

`usage.jsonl` (written by `lib.usage.log.append`) can reach hundreds of MB. We read it in 4 MB
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

What the usage page makes of the table is in `lib.usage.view`.
"""

from __future__ import annotations

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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lib.core.identity import LOCAL_OWNER, owner_hash
from lib.core.usage_log import UsageRecord

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
        ("cached_tokens", pa.int64()),  # absent on lines written before it existed: null
        ("ttft_ms", pa.float64()),
        ("duration_ms", pa.float64()),
        ("cost_usd", pa.float64()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("request_id", pa.string()),
        ("usage_estimated", pa.bool_()),
        ("cache_hit", pa.bool_()),
        ("owner", pa.string()),
        ("prompt", pa.string()),  # name@version; absent on lines written before it existed: null
        ("tool_calls", pa.int64()),  # absent on lines written before tool calls existed: null
        ("tool_results", pa.int64()),
    ]
)
LOCAL_OWNER_HASH = owner_hash(LOCAL_OWNER)  # lines written before owners existed are the laptop's
assert set(SCHEMA.names) == {f.name for f in fields(UsageRecord)}, "SCHEMA must follow UsageRecord"

_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
BLOCK_BYTES = 4 << 20  # measured fastest of 1-16 MB here; small enough that re-parsing around a bad line is cheap
_LINE_BY_LINE = 16  # below this many lines, a failing block is parsed one line at a time
FINGERPRINT_BYTES = 4096
CACHE_FORMAT = "5"  # 2: the owner column; 3: cached_tokens; 4: prompt; 5: tool_calls, tool_results
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


def _owned(table: pa.Table) -> pa.Table:
    """A line without an owner (written before owners existed, or by hand) is the local owner's."""
    column = table["owner"]
    if column.null_count == 0:
        return table  # the usual case: no copy
    i = table.schema.get_field_index("owner")
    return table.set_column(i, SCHEMA.field("owner"), pc.fill_null(column, LOCAL_OWNER_HASH))


def _parse_block(buf: memoryview) -> tuple[list[pa.Table], int]:
    tables, bad = _parse_isolating(buf)
    kept = []
    for table in tables:
        valid, foreign = _valid_rows(table)
        bad += foreign
        if valid.num_rows:
            kept.append(_owned(valid))
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
        self._saver = threading.Thread(
            target=self._write_cache, args=(table, self._generation, self._offset), name="usage-log-cache"
        )
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


def read_records(path: Path) -> tuple[list[dict], int]:
    """Every valid record, plus the count of malformed lines skipped (torn, hand-edited, foreign);
    every record has every field (None when absent) and `ts` as written."""
    table, bad = read_table(path)
    return records_to_dicts(table), bad
