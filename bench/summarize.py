"""The summariser on a long page (>= 100,000 characters), in one run:

1. extraction through the app's path (`lib.fetch.extract`: one trafilatura pass, markdown +
   metadata + tables) against bare `trafilatura.extract` with the same options, interleaved;
   target ratio <= 1.1;
2. map-reduce where concurrency can win: a hosted API streams every request at its own pace, so
   the page's pipeline (`lib.summarize.summarize`: plan, concurrent map with a pool of 4, streamed
   final pass) runs against the same pipeline with one chunk call at a time, on the loopback
   hosted-API simulator (tests/support/hosted_api_sim.py: first byte after 0.3 s, then 60 tokens/s per
   request, replaying a chunk summary the embedded model wrote once at the start, cut at each
   request's max_tokens). Rounds alternate which side goes first. Target ratio <= 0.5;
3. for information, the map stage on the embedded model (the first 8 chunks, groups of 4 run
   concurrently and one at a time in alternating order, each with its own title so llama-server's
   prompt cache cannot replay one side's prompts for the other). On a 2-core CPU this stays near
   1.0: llama-server does no more work per second with 4 sequences than with one
   (`llama-batched-bench`, docs/benchmarks.md).

Usage: .venv/bin/python bench/summarize.py [--small]   (--small: a one-section page (~4,000 characters), contexts small
enough that it is still chunked (on the embedded model 400 tokens, 200-token chunks: a paragraph each; on the
simulator 800 and 400), summaries of 4 tokens, one round each, 2 embedded chunks, a simulator without waits worth
measuring (first byte after 0.02 s, 1,000 tokens/s): a smoke run)
Last line: `summarize: <concurrent / sequential time on the simulator>`.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura  # noqa: E402

from lib.engine.server import LocalServer  # noqa: E402
from lib.llm.chat import CallContext, ChatParams, complete  # noqa: E402
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402
from lib.summarize import (  # noqa: E402
    LlamaServerCounter,
    SummaryOptions,
    chunk_messages,
    plan,
    run_parallel,
    summarize,
    token_counter,
)
from lib.summarize.fetch import Document, extract  # noqa: E402
from tests.support.hosted_api_sim import HostedAPISim, split_pieces  # noqa: E402

URL = "https://example.org/reports/harbour-history"
SMALL = "--small" in sys.argv[1:]
PAGE_CHARS = 2_000 if SMALL else 105_000  # small: one section (~4,000; whole sections are added until it is long enough)
EXTRACT_ROUNDS = 1 if SMALL else 6
SIM_ROUNDS = 1 if SMALL else 2  # each round runs both sides; the simulator's pacing is sleeps, so little noise
EMBEDDED_CHUNKS = 2 if SMALL else 8  # the informational embedded run: two groups of the pool's width
# The page's own defaults (2,000-token chunks, up to 256 tokens per chunk summary, a pool of 4), at
# temperature 0 so both sides generate the same text.
OPTS = replace(SummaryOptions(), temperature=0.0, final_max_tokens=48)
if SMALL:  # a context small enough that even this page is chunked
    OPTS = replace(OPTS, context_tokens=400, chunk_tokens=200, chunk_max_tokens=4, final_max_tokens=4)
SIM_PACE = {"first_byte_s": 0.02, "tokens_per_s": 1000.0} if SMALL else {"first_byte_s": 0.3, "tokens_per_s": 60.0}

_SUBJECTS = [
    "The harbour master",
    "A fishing crew",
    "The town council",
    "The lighthouse keeper",
    "Local merchants",
    "The school teacher",
    "A visiting engineer",
    "The ferry company",
    "Volunteers",
    "The museum curator",
]
_VERBS = ["recorded", "rebuilt", "debated", "inspected", "celebrated", "repaired", "measured", "funded", "mapped", "sold"]
_OBJECTS = [
    "the old sea wall",
    "the winter catch",
    "a new pier",
    "the tide tables",
    "the market square",
    "the storm damage",
    "the shipping lanes",
    "the coastal path",
    "the harbour lights",
    "the grain store",
]
_TAILS = [
    "after the spring floods",
    "in front of a large crowd",
    "with money from the county",
    "over three long weeks",
    "despite the bad weather",
    "for the first time in decades",
    "before the summer festival",
    "at dawn",
]


def make_page(min_chars: int = PAGE_CHARS, seed: int = 7) -> str:
    """A deterministic article: sections of varied, plausible sentences, plus a table."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    section = 0
    while size < min_chars:
        section += 1
        parts.append(f"<h2>Section {section}: the year {1850 + section}</h2>")
        for _ in range(4):
            sentences = [
                f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}, "
                f"and {rng.randint(2, 900)} people took part."
                for _ in range(rng.randint(4, 7))
            ]
            paragraph = " ".join(sentences)
            parts.append(f"<p>{paragraph}</p>")
            size += len(paragraph)
        if section % 10 == 0:
            rows = "".join(f"<tr><td>{1850 + section - i}</td><td>{rng.randint(10, 99)}</td></tr>" for i in range(5))
            parts.append(f"<table><tr><th>Year</th><th>Ships</th></tr>{rows}</table>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>A History of Wexmoor Harbour</title>"
        "<meta name='author' content='T. Fenwick'><meta property='og:site_name' content='Harbour Review'></head>"
        "<body><nav><a href='/'>Home</a></nav><article><h1>A History of Wexmoor Harbour</h1>"
        + "".join(parts)
        + "</article><footer>Copyright Harbour Review</footer></body></html>"
    )


def bench_extraction(html: str) -> float:
    def ours() -> float:
        start = time.perf_counter()
        extract(html, URL, "balanced")
        return time.perf_counter() - start

    def bare() -> float:
        start = time.perf_counter()
        trafilatura.extract(
            html, url=URL, output_format="markdown", with_metadata=True, include_tables=True, include_comments=False
        )
        return time.perf_counter() - start

    ours(), bare()  # warm-up (imports, lxml caches)
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for i in range(EXTRACT_ROUNDS):
        for who in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
            times[who].append(ours() if who == "ours" else bare())
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"extraction, median of {EXTRACT_ROUNDS}: app path {med['ours'] * 1000:.1f} ms, "
        f"bare trafilatura.extract {med['bare'] * 1000:.1f} ms"
    )
    ratio = med["ours"] / med["bare"]
    print(f"extraction ratio (app / bare): {ratio:.3f} (target <= 1.1)")
    return ratio


def reply_pieces(server_url: str, text: str) -> list[str]:
    """The reply as the model's own tokens (llama-server's /tokenize with pieces), so the simulator
    streams it token by token; word-sized pieces if the server cannot say."""
    import json
    import urllib.request

    req = urllib.request.Request(f"{server_url}/tokenize", data=json.dumps({"content": text, "with_pieces": True}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            tokens = json.load(resp)["tokens"]
        pieces = [t["piece"] for t in tokens]
        if "".join(pieces) == text:
            return pieces
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return split_pieces(text)


def bench_embedded(server: LocalServer, doc: Document, ctx: CallContext) -> float:
    """The map stage of the first chunks on the embedded model, concurrent vs one at a time (informational)."""
    client = make_client(server.base_url, "not-needed", timeout=1800)
    counter = LlamaServerCounter(server.base_url)
    the_plan = plan(doc, OPTS, counter, model=LOCAL_MODEL_ALIAS, local=True)
    n = min(EMBEDDED_CHUNKS, len(the_plan.chunks))
    params = ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=OPTS.chunk_max_tokens)
    totals = {"concurrent": 0.0, "sequential": 0.0}
    width = OPTS.concurrency
    for g, first in enumerate(range(0, n, width)):
        group = list(range(first, min(n, first + width)))
        for who in ("concurrent", "sequential") if g % 2 == 0 else ("sequential", "concurrent"):
            titled = replace(doc, title=f"A History of Wexmoor Harbour ({who} {g})")  # defeats the prompt cache
            requests = [chunk_messages(the_plan.chunks[i], i, len(the_plan.chunks), titled, OPTS) for i in group]
            start = time.perf_counter()
            run_parallel(client, requests, params, ctx, concurrency=width if who == "concurrent" else 1)
            totals[who] += time.perf_counter() - start
        print(
            f"  embedded chunks {group[0] + 1}-{group[-1] + 1}: concurrent {totals['concurrent']:6.1f} s, "
            f"sequential {totals['sequential']:6.1f} s (running totals)",
            flush=True,
        )
    ratio = totals["concurrent"] / totals["sequential"]
    print(
        f"embedded map stage, {n} chunks: concurrent {totals['concurrent']:.1f} s, sequential {totals['sequential']:.1f} s, "
        f"ratio {ratio:.3f} (informational: compute-bound on 2 cores)"
    )
    return ratio


def bench_simulator(pieces: list[str], doc: Document, tmp: Path) -> float:
    """The page's whole pipeline on the hosted-API simulator: a pool of 4 vs one chunk call at a time."""
    # A hosted model with an 8k context (the page assumes 128k for hosted providers, where this page
    # would fit in one call): the rest are the page's defaults.
    opts = replace(OPTS, context_tokens=800, chunk_tokens=400) if SMALL else replace(OPTS, context_tokens=8192)
    ctx = CallContext(page="summarize", provider_id="custom", local=False, log_path=tmp / "usage-sim.jsonl")
    totals = {"concurrent": 0.0, "sequential": 0.0}
    peaks: dict[str, int] = {}
    with HostedAPISim(pieces, **SIM_PACE) as sim:
        client = make_client(sim.base_url, "sim", timeout=600)
        counter = token_counter("custom", sim.base_url)  # what the page uses for a hosted API: the estimate
        the_plan = plan(doc, opts, counter, model=sim.model, local=False)
        n = len(the_plan.chunks)
        per_call = sim.first_byte_s + min(len(pieces), opts.chunk_max_tokens) / sim.tokens_per_s
        print(
            f"simulator: {sim.base_url}, {len(pieces)} reply tokens, first byte {sim.first_byte_s:g} s, "
            f"{sim.tokens_per_s:g} tokens/s per request; {the_plan.text_tokens:,} tokens (estimated) -> {n} chunks, "
            f"{per_call:.2f} s per chunk call"
        )
        summarize(client, replace(doc, text="Warm-up. " * 50, title="warm-up"), opts, sim.model, ctx, counter)
        for r in range(SIM_ROUNDS):
            for who in ("concurrent", "sequential") if r % 2 == 0 else ("sequential", "concurrent"):
                side = replace(opts, concurrency=opts.concurrency if who == "concurrent" else 1)
                sim.reset_stats()
                start = time.perf_counter()
                summarize(client, doc, side, sim.model, ctx, counter)
                totals[who] += time.perf_counter() - start
                stats = sim.stats()
                peaks[who] = max(peaks.get(who, 0), stats["peak_concurrency"])
                assert stats["requests"] == n + 1, stats  # n chunk calls and the final pass
            print(
                f"  round {r + 1}: concurrent {totals['concurrent']:6.1f} s, sequential {totals['sequential']:6.1f} s "
                f"(running totals)",
                flush=True,
            )
    ratio = totals["concurrent"] / totals["sequential"]
    print(
        f"simulator map-reduce over {n} chunks, {SIM_ROUNDS} rounds: concurrent {totals['concurrent']:.1f} s "
        f"(peak {peaks['concurrent']} requests at once), sequential {totals['sequential']:.1f} s (peak {peaks['sequential']})"
    )
    print(f"map-reduce ratio on the hosted-API simulator (concurrent / sequential): {ratio:.3f} (target <= 0.5)")
    return ratio


def main() -> None:
    html = make_page()
    doc = extract(html, URL, "balanced")
    print(f"page: {len(html):,} characters of HTML, {len(doc.text):,} characters extracted, {doc.word_count:,} words")
    assert SMALL or len(doc.text) >= 100_000, "the benchmark page must be >= 100,000 characters"
    bench_extraction(html)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with LocalServer(log_path=tmp / "server.log") as server:
            ctx = CallContext(page="summarize", provider_id="local", local=True, log_path=tmp / "usage.jsonl")
            client = make_client(server.base_url, "not-needed", timeout=1800)
            counter = LlamaServerCounter(server.base_url)
            the_plan = plan(doc, OPTS, counter, model=LOCAL_MODEL_ALIAS, local=True)
            print(
                f"document: {the_plan.text_tokens:,} tokens (model tokenizer) -> {len(the_plan.chunks)} chunks of "
                f"<= {OPTS.chunk_tokens} tokens, {OPTS.chunk_max_tokens} output tokens each"
            )
            # The reply the simulator replays: the embedded model's own summary of the first chunk.
            params = ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=OPTS.chunk_max_tokens)
            _completion, res = complete(client, chunk_messages(the_plan.chunks[0], 0, len(the_plan.chunks), doc, OPTS),
                                        params, ctx)  # fmt: skip
            pieces = reply_pieces(server.url, res.text)
            print(f"replayed reply: {len(pieces)} tokens from the embedded model ({len(res.text)} characters)")
            bench_embedded(server, doc, ctx)
        # The embedded server is stopped: the simulator's side of the machine is idle sleeps.
        ratio = bench_simulator(pieces, doc, tmp)
    print(f"summarize: {ratio:.3f}")


if __name__ == "__main__":
    main()
