"""Time to first token and tokens/s through Yoake's chat pipeline (ChatStream: usage capture,
usage-log append) vs the bare openai SDK, against the same embedded server, interleaved.

Usage: .venv/bin/python bench/chat_overhead.py [--small]   (--small: one round of 4 tokens, a smoke run)
Last line: `chat_overhead: <ttft ratio>` (ours / bare, median; target <= 1.05).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext, ChatParams  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402
from lib.llm.streams import ChatStream  # noqa: E402

SMALL = "--small" in sys.argv[1:]
ROUNDS = 1 if SMALL else 20
PROMPTS = ["Name three colours.", "What is a lighthouse?", "Give me a haiku about rain.", "How do plants grow?"]
PARAMS = ChatParams(LOCAL_MODEL_ALIAS, temperature=0.0, seed=1, max_tokens=4 if SMALL else 64)


def bare(client, messages) -> tuple[float, float]:
    start = time.perf_counter()
    ttft = None
    n = 0
    stream = client.chat.completions.create(
        messages=messages, stream=True, stream_options={"include_usage": True}, **PARAMS.to_kwargs()
    )
    for chunk in stream:
        if chunk.usage:
            n = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content and ttft is None:
            ttft = time.perf_counter() - start
    total = time.perf_counter() - start
    return ttft * 1000, n / (total - ttft)


def ours(client, messages, ctx) -> tuple[float, float]:
    start = time.perf_counter()
    ttft = None
    stream = ChatStream(client, messages, PARAMS, ctx)
    for _ in stream:
        if ttft is None:
            ttft = time.perf_counter() - start
    total = time.perf_counter() - start
    return ttft * 1000, stream.result.usage.completion_tokens / (total - ttft)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalServer(log_path=Path(tmp) / "server.log") as server:
        client = make_client(server.base_url, "not-needed")
        ctx = CallContext(page="bench", provider_id="local", local=True, log_path=Path(tmp) / "usage.jsonl")
        warm = [{"role": "user", "content": "Hello"}]
        bare(client, warm)
        ours(client, warm, ctx)
        results: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": []}
        for i in range(ROUNDS):
            # Alternate who goes first; a marker at the start of each prompt keeps the server's prompt
            # cache from serving the second call of a pair (a bimodal TTFT skews the medians).
            order = ("bare", "ours") if i % 2 == 0 else ("ours", "bare")
            for who in order:
                messages = [{"role": "user", "content": f"({i}-{who}) {PROMPTS[i % len(PROMPTS)]}"}]
                results[who].append(bare(client, messages) if who == "bare" else ours(client, messages, ctx))
        med = {k: (statistics.median(t for t, _ in v), statistics.median(r for _, r in v)) for k, v in results.items()}
        print(f"{'':6} {'TTFT ms (median)':>18} {'tokens/s (median)':>18}   rounds={ROUNDS}")
        for who in ("bare", "ours"):
            print(f"{who:6} {med[who][0]:18.1f} {med[who][1]:18.1f}")
        print(f"tokens/s ratio (ours/bare): {med['ours'][1] / med['bare'][1]:.3f}")
        print(f"chat_overhead: {med['ours'][0] / med['bare'][0]:.3f}")


if __name__ == "__main__":
    main()
