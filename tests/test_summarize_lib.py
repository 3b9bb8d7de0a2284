"""lib/summarize: token counting (llama.cpp's own tokenizer: the embedded model), chunking, planning and
map-reduce (against the fake model, whose /tokenize counts about 4 characters a token)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.fixture_site import FIXTURES, LONG_PARAGRAPHS, long_article

from lib.engine.server import LocalServer
from lib.llm.chat import CallContext, estimate_tokens
from lib.llm.providers import LOCAL_MODEL_ALIAS, make_client
from lib.summarize import (
    EstimateCounter,
    LlamaServerCounter,
    SummaryOptions,
    chunk_text,
    final_stream,
    map_reduce,
    plan,
    token_counter,
)
from lib.summarize.fetch import Document, extract
from tests.support.hosted_api_sim import HostedAPISim, echo_reply

MODEL = LOCAL_MODEL_ALIAS


def _ctx(data_dir: Path) -> CallContext:
    return CallContext(page="summarize", provider_id="local", local=True, log_path=data_dir / "usage.jsonl")


def _usage(data_dir: Path) -> list[dict]:
    path = data_dir / "usage.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _long_doc(paragraphs: int = 24) -> Document:
    return extract(long_article(paragraphs), "http://127.0.0.1/long.html")


@pytest.mark.model  # llama.cpp's /tokenize with the model's tokenizer
def test_llama_server_counter_uses_the_model_tokenizer(local_server: LocalServer) -> None:
    counter = token_counter("local", local_server.base_url)
    assert isinstance(counter, LlamaServerCounter)
    text = "Tokenizers split text into pieces: ｈｅｌｌｏ, naïve café, 東京タワー, 3.14159."
    n = counter.count(text)
    assert counter.exact and n > 0
    assert n != estimate_tokens(text)  # a real count, not the 4-chars heuristic
    assert counter.count("") == 0
    # Other providers get the estimate, flagged as such.
    assert isinstance(token_counter("openai", "https://api.openai.com/v1"), EstimateCounter)


def test_counter_falls_back_to_the_estimate_when_tokenize_is_missing(fake_model: HostedAPISim) -> None:
    counter = LlamaServerCounter(fake_model.base_url.removesuffix("/v1") + "/no-such-prefix/v1")
    assert counter.count("some words here") == estimate_tokens("some words here")
    assert counter.exact is False


def test_chunks_fit_the_token_limit_and_keep_order(fake_model: HostedAPISim) -> None:
    counter = LlamaServerCounter(fake_model.base_url)
    doc = _long_doc()
    chunks = chunk_text(doc.text, 300, counter)
    assert len(chunks) > 3
    assert all(counter.count(c) <= 300 for c in chunks)
    joined = "\n\n".join(chunks)
    positions = [joined.index(f"Chapter {i}.") for i in range(1, 25)]
    assert positions == sorted(positions)  # every paragraph, in order
    # A single paragraph longer than the limit is split at sentences.
    long_para = " ".join(f"Sentence number {i} is about the harbour." for i in range(200))
    pieces = chunk_text(long_para, 100, counter)
    assert len(pieces) > 5 and all(counter.count(p) <= 100 for p in pieces)


def test_plan_single_call_when_it_fits_else_chunks_with_cost(fake_model: HostedAPISim) -> None:
    counter = LlamaServerCounter(fake_model.base_url)
    small = extract((FIXTURES / "article.html").read_text())
    p = plan(small, SummaryOptions(), counter, model=MODEL, local=True)
    assert p.single and p.calls == 1 and p.est_cost_usd == 0 and p.exact
    doc = _long_doc()
    opts = SummaryOptions(context_tokens=1024, chunk_tokens=400)
    p = plan(doc, opts, counter, model=MODEL, local=True)
    assert not p.single and p.calls == len(p.chunks) + 1 and p.text_tokens > 1024
    # A hosted model gets a priced estimate from the same plan.
    priced = plan(doc, opts, EstimateCounter(), model="gpt-4.1-mini", local=False)
    assert priced.est_cost_usd and priced.est_cost_usd > 0 and not priced.exact
    assert priced.est_input_tokens > priced.text_tokens


def test_map_reduce_calls_run_concurrently_and_are_logged(data_dir: Path) -> None:
    # A paced model (0.3 s to the first byte), so calls that run concurrently overlap whatever the CPU does.
    with HostedAPISim(echo_reply, first_byte_s=0.3, tokens_per_s=None, model=MODEL) as sim:
        _map_reduce_run_concurrently_and_logged(sim, data_dir)


def _map_reduce_run_concurrently_and_logged(sim: HostedAPISim, data_dir: Path) -> None:
    client = make_client(sim.base_url, "not-needed", timeout=30)
    counter = LlamaServerCounter(sim.base_url)
    doc = _long_doc(8)
    opts = SummaryOptions(
        context_tokens=1024, chunk_tokens=250, chunk_max_tokens=12, final_max_tokens=12, temperature=0.0, concurrency=4
    )
    the_plan = plan(doc, opts, counter, model=MODEL, local=True)
    n = len(the_plan.chunks)
    assert n >= 3
    progress: list[tuple[str, int, int]] = []
    messages = map_reduce(
        client,
        doc,
        the_plan,
        opts,
        MODEL,
        _ctx(data_dir),
        counter,
        lambda stage, done, total: progress.append((stage, done, total)),
    )
    assert progress == [("chunks", i, n) for i in range(1, n + 1)]
    assert "Part 1:" in str(messages[-1]["content"])
    stream = final_stream(client, messages, opts, MODEL, _ctx(data_dir))
    text = "".join(stream)
    assert text == sim.reply_to(sim.calls()[-1]) and stream.result.error is None
    assert sim.stats()["peak_concurrency"] > 1

    lines = _usage(data_dir)
    assert len(lines) == n + 1
    assert all(r["page"] == "summarize" and r["status"] == "ok" for r in lines)
    assert [r["stream"] for r in lines] == [False] * n + [True]
    assert all(r["max_tokens"] == 12 and r["input_tokens"] > 0 for r in lines)
    # The chunk calls overlapped: some call started before another had finished.
    spans = sorted(
        (end - timedelta(milliseconds=r["duration_ms"]), end)
        for r in lines[:n]
        for end in [datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))]
    )
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))


def test_combined_summaries_that_are_too_long_are_collapsed_again(fake_model: HostedAPISim, data_dir: Path) -> None:
    client = make_client(fake_model.base_url, "not-needed", timeout=30)
    counter = LlamaServerCounter(fake_model.base_url)
    doc = _long_doc(5)
    opts = SummaryOptions(
        context_tokens=600, chunk_tokens=250, chunk_max_tokens=16, final_max_tokens=8, temperature=0.0, reduce_tokens=40
    )
    the_plan = plan(doc, opts, counter, model=MODEL, local=True)
    n = len(the_plan.chunks)
    assert n >= 2
    stages: list[str] = []
    map_reduce(client, doc, the_plan, opts, MODEL, _ctx(data_dir), counter, lambda stage, done, total: stages.append(stage))
    assert stages[:n] == ["chunks"] * n
    assert stages[n:] and set(stages[n:]) <= {"collapse 1", "collapse 2", "collapse 3", "collapse 4"}
    assert len(_usage(data_dir)) == len(stages)  # every call, collapse ones included, is logged


def test_a_long_pdf_is_summarised_with_its_chunks_pages(fake_model: HostedAPISim, data_dir: Path) -> None:
    from fixtures.pdfs import text_pdf

    from lib.summarize.pdf import read_pdf

    pages = [
        LONG_PARAGRAPHS[0].format(n=n, year=1800 + n) + " " + LONG_PARAGRAPHS[0].format(n=n + 50, year=1900 + n)
        for n in range(1, 7)
    ]
    doc = read_pdf(text_pdf(pages, title="Wexmoor records"), name="wexmoor.pdf")
    client = make_client(fake_model.base_url, "not-needed", timeout=30)
    counter = LlamaServerCounter(fake_model.base_url)
    opts = SummaryOptions(context_tokens=1024, chunk_tokens=250, chunk_max_tokens=12, final_max_tokens=12, temperature=0.0)
    the_plan = plan(doc, opts, counter, model=MODEL, local=True)
    assert the_plan.chunk_pages is not None and len(the_plan.chunk_pages) == len(the_plan.chunks) >= 3
    messages = map_reduce(client, doc, the_plan, opts, MODEL, _ctx(data_dir), counter)
    final = str(messages[-1]["content"])
    for i, (first, last) in enumerate(the_plan.chunk_pages):
        label = f"(page {first})" if first == last else f"(pages {first}–{last})"
        assert f"Part {i + 1} {label}:" in final
    assert len(_usage(data_dir)) == len(the_plan.chunks)


def test_the_session_cache_keeps_only_the_newest_entries() -> None:
    from lib.summarize import SESSION_CACHE_ITEMS, remember

    cache: dict[str, int] = {}
    for i in range(SESSION_CACHE_ITEMS + 5):
        assert remember(cache, f"doc{i}", i) == i
    assert list(cache) == [f"doc{i}" for i in range(5, SESSION_CACHE_ITEMS + 5)]
    remember(cache, "doc5", 55)  # used again: now the newest, so the next eviction spares it
    remember(cache, "new", 0)
    assert "doc5" in cache and "doc6" not in cache and len(cache) == SESSION_CACHE_ITEMS
