"""Benchmark: the logprobs table + summary for 2,000 positions x 20 alternatives.

Real `ChatCompletionTokenLogprob` objects are gathered from the embedded model (an English and a
Japanese reply, top_logprobs=20) and replicated to 2,000 positions. Ours (`lib.logprobs`,
columnar numpy) and the simplest correct pandas construction (a dict per row, pandas for the
summary) run interleaved in one process; both must give the same table. Last line:
`logprobs_table: <median ms of ours>`. Target: <= 50 ms.
Usage: .venv/bin/python bench/logprobs_table.py [--small]   (--small: 100 positions from 4-token replies, one round)
"""

from __future__ import annotations

import codecs
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import openai  # noqa: E402
import pandas as pd  # noqa: E402

from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext, ChatParams  # noqa: E402
from lib.logprobs import HEX_ERRORS, build_table, chosen_index, label_bytes, run_logprobs, summarize, to_frame, token_bytes  # noqa: E402

SMALL = "--small" in sys.argv[1:]  # a smoke run
POSITIONS = 100 if SMALL else 2000
TOP_K = 20
THRESHOLD = 0.5
ROUNDS = 1 if SMALL else 15
REPLY_TOKENS = 4 if SMALL else 64


def gather(server: LocalServer) -> list:
    client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")
    ctx = CallContext(page="bench", provider_id="local", local=True, log_path=None)
    content: list = []
    for prompt in ("Tell me a short story about a lighthouse keeper.", "日本の首都について日本語で説明してください。"):
        run = run_logprobs(
            client,
            [{"role": "user", "content": prompt}],
            ChatParams(model=server.alias, temperature=0.0, seed=1, max_tokens=REPLY_TOKENS),
            ctx,
            TOP_K,
        )
        content += run.content
    return (content * (POSITIONS // len(content) + 1))[:POSITIONS]


def reference(content: list, top_k: int, threshold: float) -> tuple[pd.DataFrame, dict]:
    """The straightforward version: one dict per position, then pandas."""
    decoder = codecs.getincrementaldecoder("utf-8")(HEX_ERRORS)
    rows = []
    for i, t in enumerate(content):
        raw = token_bytes(t.token, t.bytes)
        pending = bool(decoder.getstate()[0])
        text = decoder.decode(raw)
        label = label_bytes(raw)
        if pending and text:
            label = f"{label} → {text.translate(str.maketrans({' ': '␣', chr(10): '↵', chr(9): '⇥', chr(13): '␍'}))}"
        alts = t.top_logprobs
        j = chosen_index(t, raw, alts)
        rank = 1 + sum(a.logprob > alts[j].logprob for a in alts) if j >= 0 else None
        shown = alts[:top_k]
        probs = [math.exp(a.logprob) for a in shown]
        h = -sum(p * a.logprob for p, a in zip(probs, shown, strict=True))
        mass = sum(probs)
        if rank is None or rank > top_k:
            h -= math.exp(t.logprob) * t.logprob
            mass += math.exp(t.logprob)
        rest = min(max(1.0 - mass, 0.0), 1.0)
        if rest > 0:
            h -= rest * math.log(rest)
        rows.append(
            {
                "position": i,
                "token": label,
                "text": text,
                "probability": math.exp(t.logprob),
                "logprob": t.logprob,
                "rank": rank,
                "entropy": h,
                "alternatives": [label_bytes(token_bytes(a.token, a.bytes)) for a in shown],
                "alt_probs": probs,
            }
        )
    df = pd.DataFrame(rows)
    df["rank"] = df["rank"].astype("Int64")
    low = df["probability"] < threshold
    runs = df[low].groupby((low != low.shift()).cumsum()[low])
    spans = runs.agg(
        start=("position", "min"),
        end=("position", "max"),
        text=("text", "sum"),
        logprob=("logprob", "sum"),
        min_prob=("probability", "min"),
    )
    summary = {
        "perplexity": math.exp(-df["logprob"].mean()),
        "sum_logprob": df["logprob"].sum(),
        "mean_prob": df["probability"].mean(),
        "min_prob": df["probability"].min(),
        "low_count": int(low.sum()),
        "spans": spans.sort_values("logprob", kind="stable").head(5),
    }
    return df.drop(columns="text"), summary


def ours(content: list, top_k: int, threshold: float):
    table = build_table(content, top_k)
    return to_frame(table), summarize(table, threshold)


def check(content: list) -> None:
    df, summary = ours(content, TOP_K, THRESHOLD)
    ref, ref_summary = reference(content, TOP_K, THRESHOLD)
    assert df["token"].tolist() == ref["token"].tolist()
    assert df["alternatives"].tolist() == ref["alternatives"].tolist()
    for col in ("probability", "logprob", "entropy"):
        assert np.allclose(df[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=1e-12), col
    assert df["rank"].equals(ref["rank"])
    assert all(np.allclose(a, b) for a, b in zip(df["alt_probs"], ref["alt_probs"], strict=True))
    assert math.isclose(summary.perplexity, ref_summary["perplexity"], rel_tol=1e-9)
    assert summary.low_count == ref_summary["low_count"]
    assert [s.start for s in summary.spans] == ref_summary["spans"]["start"].tolist()


if __name__ == "__main__":
    with LocalServer(parallel=1) as server:
        content = gather(server)
    print(
        f"{len(content)} positions x {max(len(t.top_logprobs) for t in content)} alternatives "
        f"(replicated from {len({id(t) for t in content})} real positions)"
    )
    check(content)
    ours_ms: list[float] = []
    ref_ms: list[float] = []
    ours_cpu: list[float] = []
    ref_cpu: list[float] = []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine load
        t0, c0 = time.perf_counter(), time.process_time()
        ours(content, TOP_K, THRESHOLD)
        t1, c1 = time.perf_counter(), time.process_time()
        reference(content, TOP_K, THRESHOLD)
        t2, c2 = time.perf_counter(), time.process_time()
        ours_ms.append((t1 - t0) * 1000)
        ref_ms.append((t2 - t1) * 1000)
        ours_cpu.append((c1 - c0) * 1000)
        ref_cpu.append((c2 - c1) * 1000)
    med, ref_med = statistics.median(ours_ms), statistics.median(ref_ms)
    print(f"ours:      median {med:.1f} ms wall (min {min(ours_ms):.1f}), {statistics.median(ours_cpu):.1f} ms CPU")
    print(
        f"reference: median {ref_med:.1f} ms wall (min {min(ref_ms):.1f}), {statistics.median(ref_cpu):.1f} ms CPU"
        f"  -> {ref_med / med:.1f}x"
    )
    print(f"logprobs_table: {med:.1f}")
