"""Usage-log reader benchmark: ours (lib/usage_data) against a naive `pd.read_json(lines=True)`.

Generates a realistic log (default 1,000,000 calls, ~460 MB) in a temp dir, then measures, in one run:
  1. first load with nothing cached (malformed lines included in ours; the naive read gets a clean copy,
     because it raises on a single bad line),
  2. refresh after new calls were appended (only the new bytes are read),
  3. reopening in a fresh process with a columnar cache beside the log (the log grew a little since).
Usage: .venv/bin/python bench/usage_log.py [calls [rounds]] [--small]   (--small: 5,000 calls, one round)
Last line: `usage_log: <first-load ratio>`.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.core.identity import LOCAL_OWNER, owner_hash  # noqa: E402
from lib.core.usage_log import UsageRecord  # noqa: E402

FIELDS = [f.name for f in fields(UsageRecord)]
ORDER = ["id", "ts"] + [f for f in FIELDS if f not in ("id", "ts")]

MODELS = [
    ("local", "smollm2-135m-instruct", "smollm2-135m-instruct"),
    ("openai", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
    ("openai", "gpt-4.1", "gpt-4.1-2025-04-14"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("gemini", "gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini", "gemini-2.5-pro", "gemini-2.5-pro"),
    ("xai", "grok-3-mini", "grok-3-mini"),
    ("custom", "my-finetune", "my-finetune"),
]
PAGES = ["chat", "chat", "chat", "logprobs", "summarize"]
# Who made the call, as the app writes it (the hash): mostly the laptop's one owner, some signed-in visitors.
OWNERS = [owner_hash(LOCAL_OWNER)] * 3 + [owner_hash("alice@example.test"), owner_hash("bob@example.test")]
ERRORS = ["rate_limit", "timeout", "connection", "auth", "bad_request"]


def make_lines(n: int, *, seed: int = 1, end: datetime | None = None, span: timedelta = timedelta(days=60)) -> list[str]:
    """n usage-log lines in the exact format `UsageRecord.to_json` writes, oldest first, ending at `end`.

    Bodies come from a pool of random records (fast enough for a million lines); id and ts are per line.
    """
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    bodies = [_body(rng) for _ in range(min(n, 20_000))]
    start = end - span
    step = span / max(n, 1)
    out = []
    for i in range(n):
        ts = (start + step * (i + 1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(f'{{"id":"{rng.getrandbits(128):032x}","ts":"{ts}",{bodies[i % len(bodies)]}\n')
    return out


def _body(rng: random.Random) -> str:
    provider, model, resolved = MODELS[rng.randrange(len(MODELS))]
    err = rng.random() < 0.03
    inp = rng.randrange(20, 4000)
    outp = 0 if err else rng.randrange(1, 800)
    ttft = None if err else round(rng.uniform(80, 1500), 1)
    rec = {
        "page": PAGES[rng.randrange(len(PAGES))],
        "provider": provider,
        "model": model,
        "resolved_model": None if err else resolved,
        "temperature": round(rng.uniform(0, 1.5), 2),
        "top_p": 1.0,
        "max_tokens": 512,
        "stream": rng.random() < 0.8,
        "input_tokens": None if err else inp,
        # a hosted API serves part of a repeated prompt from its cache
        "cached_tokens": None if err or provider == "local" else (inp // 2 if rng.random() < 0.3 else 0),
        "output_tokens": None if err else outp,
        "total_tokens": None if err else inp + outp,
        "ttft_ms": ttft,
        "duration_ms": round((ttft or 0) + rng.uniform(10, 8000), 1),
        "cost_usd": 0.0 if provider == "local" else (None if err else round((inp * 0.4 + outp * 1.6) / 1e6, 8)),
        "status": "error" if err else "ok",
        "error_type": ERRORS[rng.randrange(len(ERRORS))] if err else None,
        "request_id": None if err else f"chatcmpl-{rng.getrandbits(96):024x}",
        "usage_estimated": rng.random() < 0.05,
        "cache_hit": rng.random() < 0.02,
        "owner": OWNERS[rng.randrange(len(OWNERS))],
        "prompt": f"support@{rng.randrange(1, 5)}" if rng.random() < 0.2 else None,  # a saved prompt version's calls
        # a chat with tools: the model's calls, then the results sent back
        "tool_calls": (rng.randrange(1, 3) if rng.random() < 0.03 else None) if not err else None,
        "tool_results": rng.randrange(1, 3) if rng.random() < 0.03 else None,
    }
    return json.dumps({k: rec[k] for k in ORDER[2:]}, separators=(",", ":"))[1:]


MALFORMED = [
    '{"id":"torn","ts":"2026-01-01T00:00:00.000Z","page":"chat","prov\n',  # torn line
    "# hand edit: ignore the next calls\n",
    '{"when":"2025-01-01","tokens":12}\n',  # an older schema
    '{"id":"x","ts":"yesterday","model":"gpt-4o"}\n',
]


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


REOPEN = """
import sys, time, json
from pathlib import Path
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from lib.usage.reader import UsageLog, cache_path_for
t1 = time.perf_counter()
p = Path({path!r})
log = UsageLog(p, cache_path_for(p))
snap = log.snapshot()
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "open": t2 - t1, "rows": snap.table.num_rows, "bad": snap.bad_lines,
                  "read_bytes": log.last_read_bytes}}))
"""


def main() -> None:
    import pandas as pd

    from lib.core import usage_log
    from lib.usage.reader import CACHE_SAVE_BYTES, UsageLog, cache_path_for

    small = "--small" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--small"]
    n = int(args[0]) if args else 5_000 if small else 1_000_000
    rounds = int(args[1]) if len(args) > 1 else 1 if small else 2
    with tempfile.TemporaryDirectory(prefix="yoake-usage-bench-") as tmp:
        t_gen, lines = _time(lambda: make_lines(n))
        clean = Path(tmp) / "clean.jsonl"
        dirty = Path(tmp) / "data" / "usage.jsonl"
        dirty.parent.mkdir()
        with open(clean, "w") as fh:
            fh.writelines(lines)
        rng = random.Random(7)
        for bad in MALFORMED:  # scattered through the log; plus a torn last line
            lines.insert(rng.randrange(len(lines)), bad)
        with open(dirty, "w") as fh:
            fh.writelines(lines)
            fh.write('{"id":"torn-tail","ts":"2026-01-01T00:0')
        del lines
        size_mb = dirty.stat().st_size / 1e6
        print(f"log: {n:,} calls, {size_mb:,.0f} MB, {len(MALFORMED) + 1} malformed lines (generated in {t_gen:.1f} s)")
        print(f"machine: {os.cpu_count()} cores (shared with other jobs while measuring: figures are noisy)")
        try:
            pd.read_json(io.StringIO("".join(make_lines(50)) + MALFORMED[0]), lines=True)
            print("naive pd.read_json on a log with a torn line: parsed (!)")
        except ValueError as exc:
            print(f"naive pd.read_json on a log with a torn line: raises ValueError ({str(exc)[:60]}...)")

        naive, pa_engine, ours, cpu_naive, cpu_ours = [], [], [], [], []
        cache = cache_path_for(dirty)
        for r in range(rounds):  # interleaved: reference, ours, reference, ours...
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            t, df = _time(lambda: pd.read_json(clean, lines=True))
            cpu2 = resource.getrusage(resource.RUSAGE_SELF)
            naive_cpu = cpu2.ru_utime + cpu2.ru_stime - cpu.ru_utime - cpu.ru_stime
            cpu_naive.append(naive_cpu)
            naive.append(t)
            naive_rows = len(df)
            del df
            t, _ = _time(lambda: pd.read_json(clean, lines=True, engine="pyarrow"))
            pa_engine.append(t)
            cache.unlink(missing_ok=True)
            reader = UsageLog(dirty, cache)
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            t, snap = _time(reader.snapshot)
            cpu2 = resource.getrusage(resource.RUSAGE_SELF)
            ours.append(t)
            cpu_ours.append(cpu2.ru_utime + cpu2.ru_stime - cpu.ru_utime - cpu.ru_stime)
            t_cache, _ = _time(reader.flush)  # the cache beside the log is written in the background
            print(
                f"round {r + 1}: naive pd.read_json {naive[-1]:.2f} s (CPU {naive_cpu:.2f} s) | pandas pyarrow engine "
                f"{pa_engine[-1]:.2f} s (both need a clean log) | ours, first load {ours[-1]:.2f} s "
                f"(CPU {cpu2.ru_utime + cpu2.ru_stime - cpu.ru_utime - cpu.ru_stime:.2f} s; "
                f"cache written {t_cache:.2f} s later, in the background)"
            )
        assert snap.table.num_rows == n == naive_rows, (snap.table.num_rows, n, naive_rows)
        assert snap.bad_lines == len(MALFORMED) + 1, snap.bad_lines
        assert cache.is_file() or dirty.stat().st_size < CACHE_SAVE_BYTES  # small logs are not worth caching
        first = min(ours) / min(naive)
        print(
            f"first load: ours {min(ours):.2f} s vs naive {min(naive):.2f} s -> {first:.3f}x "
            f"(target <= 0.2x); pandas pyarrow engine {min(pa_engine):.2f} s"
        )
        print(
            f"first load CPU time: ours {min(cpu_ours):.2f} s (over {os.cpu_count()} threads) vs naive {min(cpu_naive):.2f} s "
            f"-> {min(cpu_ours) / min(cpu_naive):.3f}x; wall ratios depend on how much of the cores the run gets"
        )

        # Refresh: a few new calls appended by the real writer; only the new bytes are read.
        times = []
        for _ in range(5):
            before = dirty.stat().st_size
            for i in range(20):
                usage_log.append(
                    dirty,
                    UsageRecord(
                        page="chat",
                        provider="openai",
                        model="gpt-4.1-mini",
                        input_tokens=100 + i,
                        output_tokens=10,
                        total_tokens=110 + i,
                    ),
                )
            t, snap = _time(reader.snapshot)
            # the new lines, plus the unterminated line before them (re-read until it ends)
            assert dirty.stat().st_size - before <= reader.last_read_bytes <= dirty.stat().st_size - before + 4096
            times.append(t)
        # append starts a fresh line after the torn last one, so all 100 new calls are readable
        assert snap.table.num_rows == n + 100 and snap.bad_lines == len(MALFORMED) + 1
        print(
            f"refresh after 20 appended calls (x5): median {sorted(times)[2] * 1000:.1f} ms, max {max(times) * 1000:.1f} ms, "
            f"read {reader.last_read_bytes:,} bytes (target <= 50 ms); naive re-read {min(naive):.2f} s"
        )

        # Reopen in a new process: the cache beside the log, then only what was appended since.
        for _ in range(1000):
            usage_log.append(dirty, UsageRecord(page="chat", provider="local", model="smollm2-135m-instruct"))
        runs = []
        for _ in range(1 if small else 3):
            out = subprocess.run(
                [sys.executable, "-c", REOPEN.format(root=str(ROOT), path=str(dirty))], capture_output=True, text=True, check=True
            )
            runs.append(json.loads(out.stdout))
        best = min(runs, key=lambda r: r["open"])
        assert best["rows"] == n + 1100 and best["bad"] == len(MALFORMED) + 1, best
        print(
            f"reopen in a new process (+1,000 calls since the cache): {best['open']:.3f} s to a ready table "
            f"(+{best['import']:.2f} s imports), read {best['read_bytes']:,} new bytes (target <= 0.5 s); "
            f"naive {min(naive):.2f} s"
        )
    print(f"usage_log: {first:.3f}")


if __name__ == "__main__":
    main()
