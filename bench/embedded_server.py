"""The embedded server as Yoake starts it vs llama-server's own defaults, on a growing chat.

Both servers run side by side, started at once (the same binary and GGUF, the same slots and
context). Each holds the same 20-turn conversation, as the chat page sends it: every call carries
the whole history plus a new question, and llama-server's prompt cache reuses what the slot already
processed, so a turn costs the new tokens' prompt processing plus up to 128 generated tokens, at a
context that grows to about 3,000 tokens. The earlier assistant turns are fixed texts so both sides
see the same prompts. Calls go one at a time, alternating which server goes first.

Besides ours and llama.cpp's defaults, the variants tried for the shipped default run in the same
rounds (information).

Usage: .venv/bin/python bench/embedded_server.py [--small]   (--small: ours and the reference only, one round of
2 turns of 4 tokens, the earlier answer 2 sentences long: a smoke run)
Last line: `embedded_server: <ours / reference, total time of all turns>`.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402

SMALL = "--small" in sys.argv[1:]
ROUNDS = 1 if SMALL else 2
TURNS = 2 if SMALL else 20  # small: the second turn still carries the first (the prompt cache's reuse)
GROUP = min(5, TURNS)  # turns per line of the table
REPLY_TOKENS = 4 if SMALL else 128
ANSWER_SENTENCES = 2 if SMALL else 8
_SENTENCES = [
    "The harbour master recorded the winter catch after the spring floods.",
    "The town council debated a new pier in front of a large crowd.",
    "Volunteers repaired the old sea wall over three long weeks.",
    "The lighthouse keeper measured the tide tables at dawn.",
    "Local merchants funded the grain store with money from the county.",
]


def conversation(round_: int) -> list[tuple[str, str]]:
    """TURNS (question, fixed answer of ~120 tokens; ~30 at --small) pairs."""
    turns = []
    for t in range(TURNS):
        answer = " ".join(_SENTENCES[(t + k) % len(_SENTENCES)] for k in range(ANSWER_SENTENCES))
        turns.append((f"Question {t + 1} of conversation {round_}: what happened next in the harbour?", answer))
    return turns


def call(client, messages: list[dict]) -> tuple[float, float, int]:
    """-> (seconds to the first token, seconds in all, completion tokens)."""
    start = time.perf_counter()
    first = None
    tokens = 0
    stream = client.chat.completions.create(
        model=LOCAL_MODEL_ALIAS, messages=messages, stream=True, temperature=0.0, seed=1,
        max_tokens=REPLY_TOKENS, stream_options={"include_usage": True},
    )  # fmt: skip
    for chunk in stream:
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, tokens


# name -> extra server arguments on top of what LocalServer ships. "ours" and "reference" make the last
# line; the others are information (variants tried for the shipped default).
SERVERS: dict[str, list[str]] = {
    "ours": [],
    # llama.cpp's defaults for what our command line could set (flash attention auto, as we ship now)
    "reference": ["--flash-attn", "auto"],
    "fa off (shipped before)": ["--flash-attn", "off"],
    "fa auto, ubatch 128": ["--flash-attn", "auto", "--ubatch-size", "128"],
}
if SMALL:
    SERVERS = {k: SERVERS[k] for k in ("ours", "reference")}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {
            name: LocalServer(log_path=Path(tmp) / f"{i}.log", extra_args=extra)
            for i, (name, extra) in enumerate(SERVERS.items())
        }
        for server in servers.values():
            stack.callback(server.stop)
        with ThreadPoolExecutor(len(servers)) as pool:  # the starts overlap (each waits for its engine's load)
            list(pool.map(LocalServer.start, servers.values()))
        clients = {name: make_client(server.base_url, "x", timeout=600) for name, server in servers.items()}
        names = list(SERVERS)
        for client in clients.values():
            call(client, [{"role": "user", "content": "Hello"}])  # warm-up
        results: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
        for r in range(ROUNDS):
            turns = conversation(r)
            system = {"role": "system", "content": "You are a helpful assistant who knows the harbour's history."}
            for t in range(TURNS):
                messages: list[dict] = [system]
                for question, answer in turns[:t]:
                    messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
                messages.append({"role": "user", "content": turns[t][0]})
                shift = (r * TURNS + t) % len(names)  # rotate who goes first
                for who in names[shift:] + names[:shift]:
                    results.setdefault((who, t // GROUP), []).append(call(clients[who], messages))
        totals = dict.fromkeys(names, 0.0)
        print(f"{'turns':>8} | " + " | ".join(f"{n + ': TTFT, tok/s':>28}" for n in names))
        for group in range(TURNS // GROUP):
            row = []
            for who in names:
                runs = results[(who, group)]
                ttft = statistics.median(t for t, _, _ in runs)
                rates = [n / (total - t) for t, total, n in runs if total > t and n > 1]
                rate = statistics.median(rates) if rates else float("nan")  # nan: every reply ended at its first token
                totals[who] += sum(total for _, total, _ in runs)
                row.append(f"{ttft * 1000:7.0f} ms, {rate:5.1f}")
            print(f"{f'{group * GROUP + 1}-{group * GROUP + GROUP}':>8} | " + " | ".join(f"{c:>28}" for c in row))
        print("all calls: " + ", ".join(f"{n} {totals[n]:.1f} s" for n in names))
        print(f"embedded_server: {totals['ours'] / totals['reference']:.3f}")


if __name__ == "__main__":
    main()
