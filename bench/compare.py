"""A 4 x 3 compare grid (4 temperatures x 3 seeds = 12 cells, 128 tokens each) through the compare
page's own runner (lib/compare.GridRunner: ScoredStream cells on a pool of 4, usage-log lines) vs the
same 12 requests one by one with the bare openai SDK.

Against the loopback hosted-API simulator (tests/support/hosted_api_sim.py: first byte after 0.3 s, then 60
tokens/s per request however many run at once, replaying 128 tokens the embedded model generated
once), which is where concurrency can shorten a grid; rounds interleaved, order alternated, medians.
Also printed, as information: the runner's overhead vs bare SDK calls made the same way (4 at a
time, same requests), and the same grid on the embedded server (2 cores: no gain expected).

Usage: .venv/bin/python bench/compare.py [--small]   (--small: a 2 x 1 grid of 4 tokens, one round, a simulator
without waits worth measuring (first byte after 0.02 s, 1,000 tokens/s): a smoke run)
Last line: `compare: <runner / bare one-by-one on the simulator>` (target <= 0.5).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.compare import Cell, GridRunner, GridSpec, ModelChoice, expand  # noqa: E402
from lib.conversation.service import Target  # noqa: E402
from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, PROVIDERS, make_client  # noqa: E402
from tests.support.hosted_api_sim import HostedAPISim  # noqa: E402

SMALL = "--small" in sys.argv[1:]
TOKENS = 4 if SMALL else 128
WORKERS = 4  # the page's default pool
ROUNDS = 1 if SMALL else 3
PROMPT = "Tell a short story about a lighthouse keeper and a storm."
FIRST_BYTE_S, TOKENS_PER_S = (0.02, 1000) if SMALL else (0.3, 60)  # the simulator's pace


def grid(provider: str, model: str) -> list[Cell]:
    spec = GridSpec(
        prompt=PROMPT,
        models=(ModelChoice(provider, model),),
        temperatures=(0.0, 1.0) if SMALL else (0.0, 0.5, 1.0, 1.5),
        samples=1 if SMALL else 3,
        seed=1,
        max_tokens=TOKENS,
        column_axis="temperature",
    )
    return expand(spec).cells


def reply_pieces(client: openai.OpenAI) -> list[str]:
    """128 tokens from the embedded model, one piece per streamed token (EOS ignored so it fills them)."""
    stream = client.chat.completions.create(
        model=LOCAL_MODEL_ALIAS, messages=[{"role": "user", "content": PROMPT}], stream=True, max_tokens=TOKENS,
        temperature=0.0, seed=1, extra_body={"ignore_eos": True},
    )  # fmt: skip
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    while len(pieces) < TOKENS:  # a server that stopped early anyway: repeat what it said
        pieces += pieces[: TOKENS - len(pieces)]
    return pieces


def extra_for(target: Target) -> dict:
    # The runner asks for logprobs where the provider returns them; the bare calls send the same request.
    return {"logprobs": True, "top_logprobs": 1} if target.provider.supports_logprobs else {}


def bare_one(target: Target, cell: Cell) -> int:
    stream = target.client.chat.completions.create(
        messages=cell.messages(), stream=True, stream_options={"include_usage": True}, **cell.params().to_kwargs(),
        **extra_for(target),
    )  # fmt: skip
    tokens = 0
    for chunk in stream:
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return tokens


def bare_sequential(target: Target, cells: list[Cell]) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = sum(bare_one(target, c) for c in cells)
    return time.perf_counter() - start, tokens


def bare_pool(target: Target, cells: list[Cell]) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        tokens = sum(pool.map(lambda c: bare_one(target, c), cells))
    return time.perf_counter() - start, tokens


def ours(target: Target, cells: list[Cell]) -> tuple[float, int]:
    start = time.perf_counter()
    results = GridRunner(cells, [target], workers=WORKERS).run()
    elapsed = time.perf_counter() - start
    failed = [r.error for r in results if r.error]
    if failed:
        raise SystemExit(f"runner cells failed: {failed[:2]}")
    return elapsed, sum(r.output_tokens or 0 for r in results)


def measure(runs: dict[str, Callable[[], tuple[float, int]]], rounds: int) -> dict[str, list[tuple[float, int]]]:
    """Each round runs every contender once; the order rotates so none always goes first."""
    out: dict[str, list[tuple[float, int]]] = {k: [] for k in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out[name].append(runs[name]())
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalServer(log_path=Path(tmp) / "server.log") as server:
        log = Path(tmp) / "usage.jsonl"
        local = make_client(server.base_url, "not-needed", timeout=900)
        pieces = reply_pieces(local)
        local_target = Target(
            PROVIDERS["local"], server.base_url, local, CallContext(page="compare", provider_id="local", local=True, log_path=log)
        )

        with HostedAPISim(pieces, first_byte_s=FIRST_BYTE_S, tokens_per_s=TOKENS_PER_S) as sim:
            client = make_client(sim.base_url, "sim", timeout=120)
            target = Target(
                PROVIDERS["custom"],
                sim.base_url,
                client,
                CallContext(page="compare", provider_id="custom", local=True, log_path=log),
            )
            cells = grid("custom", sim.model)
            ours(target, cells[:WORKERS])  # warm up connections and imports
            sim.reset_stats()
            res = measure(
                {
                    "runner": lambda: ours(target, cells),
                    "bare one by one": lambda: bare_sequential(target, cells),
                    "bare 4 at a time": lambda: bare_pool(target, cells),
                },
                ROUNDS,
            )
            stats = sim.stats()
        med = {k: statistics.median(t for t, _ in v) for k, v in res.items()}
        print(
            f"simulator: first byte {FIRST_BYTE_S:g} s, {TOKENS_PER_S:g} tokens/s per request; {len(cells)} cells x {TOKENS} tokens; "
            f"runner pool {WORKERS}; {ROUNDS} rounds, order rotated; peak concurrency {stats['peak_concurrency']}"
        )
        for name, runs in res.items():
            print(
                f"  {name:18} median {med[name]:7.2f} s   runs {', '.join(f'{t:.2f}' for t, _ in runs)}   tokens/run {runs[0][1]}"
            )
        overhead = med["runner"] / med["bare 4 at a time"]
        print(f"  runner overhead vs bare SDK 4 at a time (same requests): {overhead:.3f} (target <= 1.05)")

        # The embedded model, one round each (information: 2 cores do no more work with 4 in flight).
        cells = grid("local", LOCAL_MODEL_ALIAS)
        bare_one(local_target, cells[0])  # warm-up
        emb = measure(
            {"runner": lambda: ours(local_target, cells), "bare one by one": lambda: bare_sequential(local_target, cells)}, 1
        )
        (t_ours, n_ours), (t_bare, n_bare) = emb["runner"][0], emb["bare one by one"][0]
        print(
            f"embedded server: runner {t_ours:.1f} s ({n_ours} tokens) vs bare one by one {t_bare:.1f} s ({n_bare} tokens): "
            f"{t_ours / t_bare:.3f} (information)"
        )
        print(f"compare: {med['runner'] / med['bare one by one']:.3f}")


if __name__ == "__main__":
    main()
