"""Several chats at once: time to first token through Yoake's own chat path vs the bare openai SDK
at the same concurrency, on the same embedded engine (4 slots: at 8 chats, half of them queue).

Our path is what the chat page does per message: `ensure_running()` on the shared engine, the user
turn saved (`ConversationService.ensure_saved`), the reply streamed through `ConversationService.reply`
(history trimming, ChatStream, saving as it streams, the usage log) and `finish()`. The reference
is `client.chat.completions.create(stream=True)` alone. At each level (1, 4, 8 chats) the two take
turns round by round, each round's chats started together; a marker at the start of each prompt
keeps llama-server's prompt cache from serving one side's prompt to the other. Each round's figure
is its chats' mean time to first token (at 8 chats the first 4 answer at once and the others queue
behind them: a median over single calls would fall between the two groups); the ratio of a level is
the median over rounds of ours / bare of the same round, so a change in the machine's other load
affects both sides of a pair alike.

First, a cold start: 8 chats at once through our path on an engine nobody has started yet; each
waits for the one start and is answered (issue 28's refused connections).

Small size: `--small` or YOAKE_BENCH_SMALL=1 (the cold start, then level 4 only, one round, 4-token
replies). Last line: `load: <worst ratio>` (ours / bare time to first token, the worst level; target <= 1.1).
On a shared machine the medians move with other load: compare runs made on a quiet machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.conversation.service import ChatSettings, ConversationService, Target, Turn  # noqa: E402
from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext, ChatParams  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, PROVIDERS, make_client  # noqa: E402
from lib.storage.store import Store  # noqa: E402

SMALL = "--small" in sys.argv[1:] or os.environ.get("YOAKE_BENCH_SMALL") == "1"
LEVELS = (4,) if SMALL else (1, 4, 8)
SAMPLES = 1 if SMALL else 24  # calls per side and level, at least (a round at level n makes n)
MIN_ROUNDS = 1 if SMALL else 10
# Prompts that run to max_tokens, so every call generates as much and a queued chat waits as long on
# both sides (a shorter reply would free its slot sooner and skew the queue).
PROMPTS = [
    "Write a long story about a lighthouse keeper.",
    "Explain in detail how plants grow.",
    "Describe a busy harbour town in many sentences.",
    "Write a long letter to a friend about the sea.",
]
PARAMS = ChatParams(LOCAL_MODEL_ALIAS, temperature=0.0, seed=1, max_tokens=4 if SMALL else 48)


class Bench:
    def __init__(self, server: LocalServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.store = Store.in_dir(tmp)
        self.service = ConversationService(self.store)
        self.ctx = CallContext(page="chat", provider_id="local", local=True, log_path=tmp / "usage.jsonl")
        self._client = None
        self.prep_ms: list[float] = []  # ours: engine check, user turn saved, reply set up (before the request)

    def client(self):
        if self._client is None:  # once the engine's port is known
            self._client = make_client(self.server.base_url, "not-needed", timeout=300)
        return self._client

    def ours(self, text: str) -> float:
        start = time.perf_counter()
        self.server.ensure_running()
        turns = [Turn("user", text)]
        cid = self.service.ensure_saved(None, turns, ChatSettings(provider="local", model=LOCAL_MODEL_ALIAS))
        target = Target(PROVIDERS["local"], self.server.base_url, self.client(), self.ctx)
        reply = self.service.reply(cid, turns, PARAMS, target, system_prompt=None)
        self.prep_ms.append((time.perf_counter() - start) * 1000)
        ttft = None
        for _ in reply:
            if ttft is None:
                ttft = time.perf_counter() - start
        reply.finish()
        if reply.result.error is not None or ttft is None:
            raise RuntimeError(f"failed: {reply.result.error!r}")
        return ttft * 1000

    def bare(self, text: str) -> float:
        start = time.perf_counter()
        stream = self.client().chat.completions.create(
            messages=[{"role": "user", "content": text}], stream=True, **PARAMS.to_kwargs()
        )
        ttft = None
        for chunk in stream:
            if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                ttft = time.perf_counter() - start
        if ttft is None:
            raise RuntimeError("failed: no text")
        return ttft * 1000


def together(fn, texts: list[str]) -> tuple[list[float], int]:
    """Run `fn` on each text in its own thread, all released at once: (TTFTs in ms, failures)."""
    gate = threading.Barrier(len(texts))
    out: list[float] = []
    failed = [0]
    lock = threading.Lock()

    def run(text: str) -> None:
        gate.wait()
        try:
            ms = fn(text)
        except Exception:
            with lock:
                failed[0] += 1
            return
        with lock:
            out.append(ms)

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, failed[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(log_path=Path(tmp) / "server.log")
        bench = Bench(server, Path(tmp))
        try:
            cold, cold_failed = together(bench.ours, [f"(cold {i}) {PROMPTS[i % 4]}" for i in range(8)])
            print(f"cold start: 8 chats at once while the engine starts: {len(cold)} answered, {cold_failed} failed")
            bench.bare("Hello")  # warm
            total_failed = cold_failed
            ratios = []
            print(
                f"{'chats':>5} {'rounds':>6} {'bare TTFT ms':>13} {'ours TTFT ms':>13} {'ratio':>6} {'failed':>7}"
                f"  {'ours before the request: median / max ms':>40}"
            )
            for level in LEVELS:
                got: dict[str, list[float]] = {"bare": [], "ours": []}
                pairs: list[float] = []
                failed = 0
                bench.prep_ms.clear()
                rounds = max(MIN_ROUNDS, -(-SAMPLES // level))
                for r in range(rounds):
                    order = ("bare", "ours") if r % 2 == 0 else ("ours", "bare")
                    for who in order:
                        texts = [f"({level}-{r}-{who}-{i}) {PROMPTS[(r + i) % 4]}" for i in range(level)]
                        ms, f = together(bench.bare if who == "bare" else bench.ours, texts)
                        if ms:
                            got[who].append(statistics.fmean(ms))
                        failed += f
                    if len(got["bare"]) == len(got["ours"]) == r + 1:
                        pairs.append(got["ours"][-1] / got["bare"][-1])
                med = {k: statistics.median(v) for k, v in got.items()}
                ratio = statistics.median(pairs)
                ratios.append(ratio)
                total_failed += failed
                prep = f"{statistics.median(bench.prep_ms):.1f} / {max(bench.prep_ms):.1f}"
                print(f"{level:5d} {rounds:6d} {med['bare']:13.1f} {med['ours']:13.1f} {ratio:6.3f} {failed:7d}  {prep:>40}")
            print(f"engines started: {1 + server.restarts}; failed calls: {total_failed}")
            print(f"load: {max(ratios):.3f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
