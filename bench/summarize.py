"""The summariser on a long page (>= 100,000 characters), in one run on the embedded server:

1. extraction through the app's path (`lib.fetch.extract`: one trafilatura pass, markdown +
   metadata + tables) against bare `trafilatura.extract` with the same options, interleaved;
   target ratio <= 1.1;
2. the map stage (all chunk calls of the page) run concurrently (a pool of 4, the server's 4
   slots) against the same calls one after another; target ratio <= 0.6. Groups of 4 chunks are
   run both ways in alternating order, each with its own document title so llama-server's prompt
   cache cannot replay one side's prompts for the other.

On a 2-core CPU the map stage is compute-bound: llama-server's aggregate throughput with 4
sequences in flight is about that of one (`llama-batched-bench`, docs/benchmarks.md), so the
concurrent side cannot be much faster; the pool pays off on GPUs and hosted APIs.

Last line: `summarize: <concurrent / sequential time>`.
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

from lib.chat import CallContext, ChatParams  # noqa: E402
from lib.fetch import extract  # noqa: E402
from lib.local_server import LocalServer  # noqa: E402
from lib.providers import LOCAL_MODEL_ALIAS, make_client  # noqa: E402
from lib.summarize import (  # noqa: E402
    LlamaServerCounter,
    SummaryOptions,
    chunk_messages,
    plan,
    run_parallel,
    summarize,
)

URL = "https://example.org/reports/harbour-history"
EXTRACT_ROUNDS = 6
# The page's own defaults (2,000-token chunks, up to 256 tokens per chunk summary, a pool of 4), at
# temperature 0 so both sides generate the same text.
OPTS = replace(SummaryOptions(), temperature=0.0, final_max_tokens=48)

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


def make_page(min_chars: int = 105_000, seed: int = 7) -> str:
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


def main() -> None:
    html = make_page()
    doc = extract(html, URL, "balanced")
    print(f"page: {len(html):,} characters of HTML, {len(doc.text):,} characters extracted, {doc.word_count:,} words")
    assert len(doc.text) >= 100_000, "the benchmark page must be >= 100,000 characters"
    bench_extraction(html)

    with tempfile.TemporaryDirectory() as tmp, LocalServer(log_path=Path(tmp) / "server.log") as server:
        client = make_client(server.base_url, "not-needed", timeout=1800)
        ctx = CallContext(page="summarize", provider_id="local", local=True, log_path=Path(tmp) / "usage.jsonl")
        counter = LlamaServerCounter(server.base_url)
        the_plan = plan(doc, OPTS, counter, model=LOCAL_MODEL_ALIAS, local=True)
        n = len(the_plan.chunks)
        print(
            f"document: {the_plan.text_tokens:,} tokens (model tokenizer) -> {n} chunks of <= {OPTS.chunk_tokens} tokens, "
            f"{OPTS.chunk_max_tokens} output tokens each"
        )
        summarize(client, replace(doc, text="Warm-up. " * 50, title="warm-up"), OPTS, LOCAL_MODEL_ALIAS, ctx, counter)
        # The chunk calls go in groups of one pool's width, each group run both ways in alternating
        # order: other load on the machine drifts over minutes and must not favour either side.
        params = ChatParams(model=LOCAL_MODEL_ALIAS, temperature=0.0, max_tokens=OPTS.chunk_max_tokens)
        totals = {"concurrent": 0.0, "sequential": 0.0}
        width = OPTS.concurrency
        for g, first in enumerate(range(0, n, width)):
            group = list(range(first, min(n, first + width)))
            for who in ("concurrent", "sequential") if g % 2 == 0 else ("sequential", "concurrent"):
                titled = replace(doc, title=f"A History of Wexmoor Harbour ({who} {g})")  # defeats the prompt cache
                requests = [chunk_messages(the_plan.chunks[i], i, n, titled, OPTS) for i in group]
                start = time.perf_counter()
                run_parallel(client, requests, params, ctx, concurrency=width if who == "concurrent" else 1)
                totals[who] += time.perf_counter() - start
            print(
                f"chunks {group[0] + 1}-{group[-1] + 1}: concurrent {totals['concurrent']:7.1f} s, "
                f"sequential {totals['sequential']:7.1f} s (running totals)",
                flush=True,
            )
        ratio = totals["concurrent"] / totals["sequential"]
        print(f"map stage over {n} chunks: concurrent {totals['concurrent']:.1f} s, sequential {totals['sequential']:.1f} s")
        print(f"map-reduce ratio (concurrent / sequential): {ratio:.3f} (target <= 0.6)")
        print(f"summarize: {ratio:.3f}")


if __name__ == "__main__":
    main()
