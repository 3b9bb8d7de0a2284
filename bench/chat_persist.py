"""What saving a reply while it streams costs: ChatStream alone (reference) vs ChatStream wrapped in
the store's PersistedReply (ours: row on the first delta, text every 0.5 s, final write), and a naive
wrapper that commits on every delta, against the same embedded server, interleaved.

Usage: .venv/bin/python bench/chat_persist.py [--small]   (--small: one round of 4 tokens, a smoke run)
Last line: `chat_persist: <ratio>` (ours / reference, median time per reply; target <= 1.05).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.conversation.persisted import PersistedReply  # noqa: E402
from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext, ChatParams  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402
from lib.llm.streams import ChatStream  # noqa: E402
from lib.storage.store import Store  # noqa: E402

SMALL = "--small" in sys.argv[1:]
ROUNDS = 1 if SMALL else 12
PROMPTS = ["Name three colours.", "What is a lighthouse?", "Give me a haiku about rain.", "How do plants grow?"]
PARAMS = ChatParams(LOCAL_MODEL_ALIAS, temperature=0.0, seed=1, max_tokens=4 if SMALL else 64)


class CountingStore(Store):
    writes = 0

    def add_message(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingStore.writes += 1
        return super().add_message(*args, **kwargs)

    def update_message(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingStore.writes += 1
        return super().update_message(*args, **kwargs)


def reference(client, messages, ctx, store) -> float:
    start = time.perf_counter()
    for _ in ChatStream(client, messages, PARAMS, ctx):
        pass
    return time.perf_counter() - start


def ours(client, messages, ctx, store) -> float:
    start = time.perf_counter()
    cid = store.create_conversation()
    store.add_message(cid, "user", messages[-1]["content"])
    for _ in PersistedReply(store, cid, ChatStream(client, messages, PARAMS, ctx)):
        pass
    return time.perf_counter() - start


def naive(client, messages, ctx, store) -> float:
    start = time.perf_counter()
    cid = store.create_conversation()
    store.add_message(cid, "user", messages[-1]["content"])
    mid, text = None, ""
    for delta in ChatStream(client, messages, PARAMS, ctx):
        text += delta
        if mid is None:
            mid = store.add_message(cid, "assistant", text, incomplete=True)
        else:
            store.update_message(mid, content=text)
    if mid is not None:
        store.update_message(mid, content=text, incomplete=False)
    return time.perf_counter() - start


def main() -> None:
    runners = {"reference": reference, "ours": ours, "naive": naive}
    with tempfile.TemporaryDirectory() as tmp, LocalServer(log_path=Path(tmp) / "server.log") as server:
        client = make_client(server.base_url, "not-needed")
        ctx = CallContext(page="bench", provider_id="local", local=True, log_path=Path(tmp) / "usage.jsonl")
        store = CountingStore(Path(tmp) / "yoake.db")
        warm = [{"role": "user", "content": "Hello"}]
        for run in runners.values():
            run(client, warm, ctx, store)
        times: dict[str, list[float]] = {k: [] for k in runners}
        writes: dict[str, int] = dict.fromkeys(runners, 0)
        for i in range(ROUNDS):
            messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
            names = list(runners)
            order = names[i % 3 :] + names[: i % 3]  # rotate who goes first
            for who in order:
                before = CountingStore.writes
                times[who].append(runners[who](client, messages, ctx, store))
                writes[who] += CountingStore.writes - before
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(
            f"{'':10} {'ms per reply (median)':>22} {'DB writes per reply':>20}   rounds={ROUNDS}, max_tokens={PARAMS.max_tokens}"
        )
        for who in runners:
            print(f"{who:10} {med[who]:22.1f} {writes[who] / ROUNDS:20.1f}")
        print(f"naive / reference: {med['naive'] / med['reference']:.3f}")
        print(f"chat_persist: {med['ours'] / med['reference']:.3f}")


if __name__ == "__main__":
    main()
