"""The embedded server as Yoake starts it vs llama-server's own defaults, on a growing chat.

Both servers run side by side (the same binary and GGUF, the same slots and context). Each holds
the same 20-turn conversation, as the chat page sends it: every call carries the whole history
plus a new question, and llama-server's prompt cache reuses what the slot already processed, so a
turn costs the new tokens' prompt processing plus up to 128 generated tokens, at a context that
grows to about 3,000 tokens. The earlier assistant turns are fixed texts so both sides see the
same prompts. Calls go one at a time, alternating which server goes first.

The only difference today is flash attention: llama.cpp's default (auto, i.e. on for the CPU)
against ours (off), which generates faster once a conversation has history.

Last line: `embedded_server: <ours / reference, total time of all turns>`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.local_server import LocalServer  # noqa: E402
from lib.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402

ROUNDS = 2
TURNS = 20
REPLY_TOKENS = 128
_SENTENCES = [
    "The harbour master recorded the winter catch after the spring floods.",
    "The town council debated a new pier in front of a large crowd.",
    "Volunteers repaired the old sea wall over three long weeks.",
    "The lighthouse keeper measured the tide tables at dawn.",
    "Local merchants funded the grain store with money from the county.",
]


def conversation(round_: int) -> list[tuple[str, str]]:
    """TURNS (question, fixed answer of ~120 tokens) pairs."""
    turns = []
    for t in range(TURNS):
        answer = " ".join(_SENTENCES[(t + k) % len(_SENTENCES)] for k in range(8))
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours_server = LocalServer(log_path=Path(tmp) / "ours.log")
        # llama.cpp's defaults for everything our command line leaves to them: flash attention back to auto
        reference = LocalServer(log_path=Path(tmp) / "reference.log", extra_args=["--flash-attn", "auto"])
        with ours_server, reference:
            clients = {
                "ours": make_client(ours_server.base_url, "x", timeout=600),
                "reference": make_client(reference.base_url, "x", timeout=600),
            }
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
                    for who in ("ours", "reference") if (r + t) % 2 == 0 else ("reference", "ours"):
                        results.setdefault((who, t // 5), []).append(call(clients[who], messages))
            totals = {"ours": 0.0, "reference": 0.0}
            print(f"{'turns':>8} | {'ours: TTFT, tok/s':>20} | {'reference: TTFT, tok/s':>24}")
            for group in range(TURNS // 5):
                row = []
                for who in ("ours", "reference"):
                    runs = results[(who, group)]
                    ttft = statistics.median(t for t, _, _ in runs)
                    rate = statistics.median(n / (total - t) for t, total, n in runs if total > t and n > 1)
                    totals[who] += sum(total for _, total, _ in runs)
                    row.append(f"{ttft * 1000:7.0f} ms, {rate:5.1f}")
                print(f"{f'{group * 5 + 1}-{group * 5 + 5}':>8} | {row[0]:>20} | {row[1]:>24}")
            ratio = totals["ours"] / totals["reference"]
            print(f"all calls: ours {totals['ours']:.1f} s, reference {totals['reference']:.1f} s")
            print(f"embedded_server: {ratio:.3f}")


if __name__ == "__main__":
    main()
