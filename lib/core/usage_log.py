"""The usage log's record and writer: one JSON object per API call, appended to `$YOAKE_DATA_DIR/usage.jsonl`.

No message text and no keys are ever written, and no identity either: `owner` is
`lib.identity.owner_hash` of whoever made the call (a line without it is the `local` owner's). Each record is one `os.write` of one line on an
O_APPEND descriptor under an exclusive `flock`, so concurrent sessions and processes never
tear or interleave lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

USAGE_FILE = "usage.jsonl"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class UsageRecord:
    page: str
    provider: str
    model: str
    resolved_model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None  # input tokens the provider served from its prompt cache (billed lower)
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cost_usd: float | None = None
    status: Literal["ok", "error"] = "ok"
    error_type: str | None = None
    request_id: str | None = None
    usage_estimated: bool = False
    cache_hit: bool = False
    owner: str | None = None  # owner_hash(owner), never the raw subject or e-mail
    prompt: str | None = None  # the prompt version the call ran, as `name@version` (lib.prompts), if any
    tool_calls: int | None = None  # calls the model made in this reply
    tool_results: int | None = None  # tool results sent with the request
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: str = field(default_factory=_now_iso)

    def to_json(self) -> str:
        data = asdict(self)
        ordered = {"id": data.pop("id"), "ts": data.pop("ts"), **data}
        return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def usage_path(data_dir: Path) -> Path:
    return data_dir / USAGE_FILE


def append(path: Path, record: UsageRecord) -> None:
    line = (record.to_json() + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # A crash can leave a torn last line; start ours on a fresh line so it stays readable.
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and os.pread(fd, 1, end - 1) != b"\n":
                line = b"\n" + line
            view = memoryview(line)
            while view:  # os.write may write less than asked (signals, full disk)
                view = view[os.write(fd, view) :]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
