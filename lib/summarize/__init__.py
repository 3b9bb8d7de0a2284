"""Summarising a document of any length: one call when it fits, else token-aware map-reduce.

Map: the text is cut into chunks that fit the model's context (counted with the server's own
tokenizer when it has one), and each chunk is summarised by a non-streamed `complete()` call in a
bounded thread pool (llama-server serves several slots at once, hosted APIs take parallel calls).
Reduce: the chunk summaries are combined; if they are still too long they are condensed again in
groups ("collapse") until they fit; the final pass is a `ChatStream` the page streams.

What the model is told is worded in the visitor's language (`SummaryOptions.lang`, "en" or "ja"); the
labels the page shows are `Msg`s (English as text, `render(lang)` on the page).
"""

from __future__ import annotations

import bisect
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.core.i18n import N_, Msg, gettext
from lib.core.pricing import estimate_cost
from lib.llm.chat import CallContext, ChatParams, complete, estimate_tokens
from lib.llm.streams import ChatStream
from lib.summarize.document import Document

STYLES: dict[str, Msg] = {
    "tldr": Msg("One-line TL;DR"),
    "bullets": Msg("Bullet points"),
    "detailed": Msg("Detailed"),
    "custom": Msg("Custom instruction"),
}
SAME_LANGUAGE = "Same as the page"
# The output languages (stored and compared in English; LANGUAGE_NAMES words them for the page).
LANGUAGES = (SAME_LANGUAGE, "English", "Japanese", "Chinese", "Korean", "French", "German", "Spanish")
LANGUAGE_NAMES: dict[str, Msg] = {
    SAME_LANGUAGE: Msg("Same as the page"),
    "English": Msg("English"),
    "Japanese": Msg("Japanese"),
    "Chinese": Msg("Chinese"),
    "Korean": Msg("Korean"),
    "French": Msg("French"),
    "German": Msg("German"),
    "Spanish": Msg("Spanish"),
}
# Written without spaces between words: a length is asked for in characters (about two per English word).
CHARACTER_LANGUAGES = frozenset({"Japanese", "Chinese", "Korean"})
# The output language a visitor gets until they choose one: a Japanese visitor a Japanese summary.
_DEFAULT_OUTPUT = {"ja": "Japanese"}

SYSTEM_PROMPT = N_("You are a careful summariser. Use only facts stated in the document. Do not add opinions or commentary.")
PROMPT_OVERHEAD = 160  # tokens: system prompt, instructions and chat template around the text
MAX_COLLAPSE_LEVELS = 4


def default_output_language(lang: str) -> str:
    """The output language chosen for a visitor speaking `lang` until they choose another."""
    return _DEFAULT_OUTPUT.get(lang, SAME_LANGUAGE)


def system_prompt(lang: str = "en") -> str:
    return gettext(SYSTEM_PROMPT, lang)


@dataclass(frozen=True)
class SummaryOptions:
    style: str = "bullets"
    custom_instruction: str = ""
    language: str = SAME_LANGUAGE
    target_words: int = 150
    temperature: float = 0.2
    final_max_tokens: int | None = None  # default: from target_words
    chunk_max_tokens: int = 256  # output of each chunk summary
    chunk_tokens: int = 2000  # document tokens per chunk: small models summarise short inputs better
    context_tokens: int = 8192  # the model's context window (per slot on llama-server)
    concurrency: int = 4
    reduce_tokens: int | None = None  # combined summaries above this are collapsed again (default: what fits)
    lang: str = "en"  # the language the model is instructed in: the visitor's ("en" or "ja")

    @property
    def in_characters(self) -> bool:
        """The summary's length is asked for in characters (Japanese, Chinese, Korean), else in words."""
        return self.language in CHARACTER_LANGUAGES

    def final_tokens(self) -> int:
        if self.final_max_tokens:
            return self.final_max_tokens
        words = 40 if self.style == "tldr" else self.target_words
        if self.in_characters:
            return int(words * 2 * 1.3) + 32  # ~2 characters per English word, ~1.3 tokens each
        return int(words * 1.6) + 32  # ~1.3 tokens per English word, plus room to finish

    def instruction(self) -> str:
        """What the model is asked to write, in `lang`."""
        lang, words, chars = self.lang, self.target_words, self.target_words * 2
        if self.style == "tldr":
            what = gettext("Write a one-sentence TL;DR of the document.", lang)
        elif self.style == "bullets" and self.in_characters:
            what = gettext(
                "Summarise the document as a bulleted list of its key points, about {chars} characters in total.", lang
            ).format(chars=chars)
        elif self.style == "bullets":
            what = gettext(
                "Summarise the document as a bulleted list of its key points, about {words} words in total.", lang
            ).format(words=words)
        elif self.style == "detailed" and self.in_characters:
            what = gettext("Write a detailed summary of the document in paragraphs, about {chars} characters.", lang).format(
                chars=chars
            )
        elif self.style == "detailed":
            what = gettext("Write a detailed summary of the document in paragraphs, about {words} words.", lang).format(
                words=words
            )
        else:
            asked = self.custom_instruction.strip() or gettext("Summarise the document.", lang)
            if self.in_characters:
                what = gettext("{instruction} (About {chars} characters.)", lang).format(instruction=asked, chars=chars)
            else:
                what = gettext("{instruction} (About {words} words.)", lang).format(instruction=asked, words=words)
        if self.language == SAME_LANGUAGE:
            return gettext("{what} Write in the same language as the document.", lang).format(what=what)
        return gettext("{what} Write in {language}.", lang).format(what=what, language=gettext(self.language, lang))


# --- token counting -----------------------------------------------------------------------------


class EstimateCounter:
    """Provider-neutral estimate, for providers without a tokenize endpoint."""

    exact = False

    def count(self, text: str) -> int:
        return estimate_tokens(text)


class LlamaServerCounter:
    """The model's own tokenizer through llama-server's POST /tokenize; estimates if that fails."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
        self.timeout = timeout
        self.exact = True

    def count(self, text: str) -> int:
        if not text:
            return 0
        req = urllib.request.Request(
            f"{self.root}/tokenize",
            data=json.dumps({"content": text}).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return len(json.load(resp)["tokens"])
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            self.exact = False  # not a llama-server after all: say the figures are estimates
            return estimate_tokens(text)


TokenCounter = EstimateCounter | LlamaServerCounter


def token_counter(provider_id: str, base_url: str | None) -> TokenCounter:
    """The exact counter for llama.cpp servers (the embedded one included), else the estimate."""
    if base_url and provider_id in ("local", "llama-server"):
        return LlamaServerCounter(base_url)
    return EstimateCounter()


# --- chunking -----------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def _split_long(block: str, max_chars: int) -> list[str]:
    """Split one over-long paragraph at sentence ends, then hard at max_chars."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(block):
        while len(sentence) > max_chars:  # a "sentence" with no end (tables, code, CJK without 。)
            pieces.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if current and len(current) + len(sentence) + 1 > max_chars:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def chunk_text(text: str, max_tokens: int, counter: TokenCounter) -> list[str]:
    """Consecutive chunks of at most `max_tokens` tokens, cut at paragraph (else sentence) breaks.

    One real count of the whole text calibrates the cheap per-paragraph estimate; every chunk is
    then counted for real and halved if it still exceeds the limit.
    """
    text = text.strip()
    if not text:
        return []
    total = counter.count(text)
    if total <= max_tokens:
        return [text]
    ratio = total / max(1, estimate_tokens(text))  # real tokens per estimated token for this text
    target = max_tokens * 0.9  # estimates are per paragraph: leave slack for their error
    chars_per_token = len(text) / total
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        if block.strip():
            if estimate_tokens(block) * ratio > target:
                blocks.extend(_split_long(block, max(200, int(target * chars_per_token))))
            else:
                blocks.append(block)
    chunks: list[str] = []
    current: list[str] = []
    size = 0.0
    for block in blocks:
        cost = estimate_tokens(block) * ratio + 1
        if current and size + cost > target:
            chunks.append("\n\n".join(current))
            current, size = [], 0.0
        current.append(block)
        size += cost
    if current:
        chunks.append("\n\n".join(current))
    return [piece for chunk in chunks for piece in _fit(chunk, max_tokens, counter)]


def _fit(chunk: str, max_tokens: int, counter: TokenCounter, depth: int = 0) -> list[str]:
    if depth > 8 or counter.count(chunk) <= max_tokens:
        return [chunk]
    cut = chunk.rfind("\n\n", 0, len(chunk) // 2 + 1)
    if cut <= 0:
        cut = chunk.rfind(" ", 0, len(chunk) // 2 + 1)
    if cut <= 0:
        cut = len(chunk) // 2
    return _fit(chunk[:cut].strip(), max_tokens, counter, depth + 1) + _fit(chunk[cut:].strip(), max_tokens, counter, depth + 1)


PageSpan = tuple[int, int]  # first and last page (1-based) a chunk's text comes from


def _solid(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def page_spans(chunks: Sequence[str], pages: Sequence[str]) -> list[PageSpan]:
    """The pages each chunk of a paged document comes from. Chunking only moves whitespace (it cuts
    at blank lines, sentence ends and spaces and strips the pieces), so a chunk's place in the
    document is its count of non-whitespace characters, and so is each page's."""
    ends: list[int] = []  # non-whitespace characters up to the end of each page
    total = 0
    for page in pages:
        total += _solid(page)
        ends.append(total)
    last = max(1, len(pages))
    spans: list[PageSpan] = []
    pos = 0
    for chunk in chunks:
        size = _solid(chunk)
        first = min(last, bisect.bisect_right(ends, pos) + 1)
        end = min(last, bisect.bisect_right(ends, pos + max(size, 1) - 1) + 1)
        spans.append((first, max(first, end)))
        pos += size
    return spans


def pages_label(span: PageSpan | None, lang: str = "en") -> str:
    """Where a chunk comes from, as the model is told it: ' (page 3)', ' (pages 3–5)'."""
    if span is None:
        return ""
    if span[0] == span[1]:
        return gettext(" (page {page})", lang).format(page=span[0])
    return gettext(" (pages {first}–{last})", lang).format(first=span[0], last=span[1])


# --- planning -----------------------------------------------------------------------------------


@dataclass
class Plan:
    text_tokens: int
    exact: bool  # counted by the model's tokenizer (else estimated)
    chunks: list[str]  # one entry: a single call
    est_input_tokens: int
    est_output_tokens: int
    est_cost_usd: float | None  # None: unknown price
    chunk_pages: list[PageSpan] | None = None  # a paged document's (PDF) chunks: the pages each comes from

    @property
    def single(self) -> bool:
        return len(self.chunks) <= 1

    @property
    def calls(self) -> int:
        return 1 if self.single else len(self.chunks) + 1


def chunk_budget(opts: SummaryOptions) -> int:
    """Document tokens per chunk call: what the user asked for, within the context window."""
    return max(200, min(opts.chunk_tokens, opts.context_tokens - opts.chunk_max_tokens - PROMPT_OVERHEAD))


def single_budget(opts: SummaryOptions) -> int:
    return max(200, opts.context_tokens - opts.final_tokens() - PROMPT_OVERHEAD)


def plan(
    doc: Document, opts: SummaryOptions, counter: TokenCounter, *, model: str, local: bool, prices: dict | None = None
) -> Plan:
    """How the document will be summarised, with the estimated tokens and cost, before any call."""
    total = counter.count(doc.text)
    if total <= single_budget(opts):
        chunks = [doc.text]
        est_in = total + PROMPT_OVERHEAD
        est_out = opts.final_tokens()
    else:
        chunks = chunk_text(doc.text, chunk_budget(opts), counter)
        n = len(chunks)
        # map calls read the text; the combining call reads up to n chunk summaries
        est_in = total + PROMPT_OVERHEAD * (n + 1) + n * opts.chunk_max_tokens
        est_out = n * opts.chunk_max_tokens + opts.final_tokens()
    cost = estimate_cost(model, est_in, est_out, local=local, prices=prices)
    spans = page_spans(chunks, doc.pages) if doc.pages is not None else None
    return Plan(total, counter.exact, chunks, est_in, est_out, cost, spans)


# --- prompts ------------------------------------------------------------------------------------


def _doc_header(doc: Document, lang: str = "en") -> str:
    return gettext("Title: {title}", lang).format(title=doc.title) + "\n" if doc.title else ""


def single_messages(doc: Document, opts: SummaryOptions) -> list[ChatCompletionMessageParam]:
    lang = opts.lang
    user = gettext("{instruction}\n\nDocument:\n{header}\n{text}", lang).format(
        instruction=opts.instruction(), header=_doc_header(doc, lang), text=doc.text
    )
    return [{"role": "system", "content": system_prompt(lang)}, {"role": "user", "content": user}]


def chunk_messages(
    chunk: str, index: int, total: int, doc: Document, opts: SummaryOptions, pages: PageSpan | None = None
) -> list[ChatCompletionMessageParam]:
    words = max(30, int(opts.chunk_max_tokens / 1.6))
    lang = opts.lang
    user = gettext(
        "This is part {part} of {total}{where} of a longer document. Summarise this part in at most {words} words, "
        "keeping the key facts, names and numbers.\n\n{header}Part {part}{where}:\n{text}",
        lang,
    ).format(part=index + 1, total=total, where=pages_label(pages, lang), words=words, header=_doc_header(doc, lang), text=chunk)
    return [{"role": "system", "content": system_prompt(lang)}, {"role": "user", "content": user}]


def condense_messages(summaries: Sequence[str], opts: SummaryOptions) -> list[ChatCompletionMessageParam]:
    words = max(30, int(opts.chunk_max_tokens / 1.6))
    user = gettext(
        "These are summaries of consecutive parts of one document. Merge them into one summary of at most {words} "
        "words, keeping the key facts.\n\n{summaries}",
        opts.lang,
    ).format(words=words, summaries="\n\n".join(summaries))
    return [{"role": "system", "content": system_prompt(opts.lang)}, {"role": "user", "content": user}]


def final_messages(
    summaries: Sequence[str], doc: Document, opts: SummaryOptions, pages: Sequence[PageSpan] | None = None
) -> list[ChatCompletionMessageParam]:
    lang = opts.lang
    part = gettext("Part {part}{where}: {summary}", lang)
    parts = "\n\n".join(
        part.format(part=i + 1, where=pages_label(pages[i] if pages else None, lang), summary=s.strip())
        for i, s in enumerate(summaries)
    )
    user = gettext("Below are summaries of the consecutive parts of one document. {instruction}\n\n{header}{parts}", lang).format(
        instruction=opts.instruction(), header=_doc_header(doc, lang), parts=parts
    )
    return [{"role": "system", "content": system_prompt(lang)}, {"role": "user", "content": user}]


# --- running ------------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]  # (stage, done, total); the stage is a `Msg`
CHUNKS_STAGE = Msg("chunks")


def run_parallel(
    client: openai.OpenAI,
    requests: Sequence[list[ChatCompletionMessageParam]],
    params: ChatParams,
    ctx: CallContext,
    *,
    concurrency: int,
    stage: str = CHUNKS_STAGE,
    on_progress: Progress | None = None,
) -> list[str]:
    """One logged `complete()` per request, at most `concurrency` at a time; results in order.

    Progress is reported from the calling thread (Streamlit elements must not be touched from
    pool threads). The first failure cancels the calls not yet started and is raised.
    """
    results: list[str] = [""] * len(requests)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="yoake-summ")
    try:
        futures = {pool.submit(complete, client, msgs, params, ctx): i for i, msgs in enumerate(requests)}
        for done, future in enumerate(as_completed(futures), 1):
            _completion, res = future.result()
            results[futures[future]] = res.text.strip()
            if on_progress:
                on_progress(stage, done, len(requests))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _group_spans(groups: Sequence[Sequence[str]], spans: Sequence[PageSpan] | None) -> list[PageSpan] | None:
    """The pages each collapsed group covers: from its first member's first page to its last's last."""
    if spans is None:
        return None
    out: list[PageSpan] = []
    i = 0
    for group in groups:
        out.append((spans[i][0], spans[i + len(group) - 1][1]))
        i += len(group)
    return out


def _pack(summaries: Sequence[str], budget: int, counter: TokenCounter) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    size = 0
    for summary in summaries:
        cost = counter.count(summary) + 4
        if groups[-1] and size + cost > budget:
            groups.append([])
            size = 0
        groups[-1].append(summary)
        size += cost
    return groups


def map_reduce(
    client: openai.OpenAI,
    doc: Document,
    the_plan: Plan,
    opts: SummaryOptions,
    model: str,
    ctx: CallContext,
    counter: TokenCounter,
    on_progress: Progress | None = None,
) -> list[ChatCompletionMessageParam]:
    """Run the map (and any collapse) calls; return the messages of the final, streamed call."""
    if the_plan.single:
        return single_messages(doc, opts)
    params = ChatParams(model=model, temperature=opts.temperature, max_tokens=opts.chunk_max_tokens)
    n = len(the_plan.chunks)
    spans = the_plan.chunk_pages
    requests = [chunk_messages(c, i, n, doc, opts, spans[i] if spans else None) for i, c in enumerate(the_plan.chunks)]
    summaries = run_parallel(client, requests, params, ctx, concurrency=opts.concurrency, on_progress=on_progress)
    budget = opts.reduce_tokens or single_budget(opts)
    level = 0
    while counter.count("\n\n".join(summaries)) + 8 * len(summaries) > budget and level < MAX_COLLAPSE_LEVELS:
        level += 1
        groups = _pack(summaries, chunk_budget(opts), counter)
        if len(groups) == len(summaries) and len(groups) > 1:
            groups = [summaries[i : i + 2] for i in range(0, len(summaries), 2)]  # always make progress
        spans = _group_spans(groups, spans)
        summaries = run_parallel(
            client,
            [condense_messages(g, opts) for g in groups],
            params,
            ctx,
            concurrency=opts.concurrency,
            stage=Msg("collapse {level}", level=level),
            on_progress=on_progress,
        )
    return final_messages(summaries, doc, opts, spans)


def final_stream(
    client: openai.OpenAI, messages: Sequence[ChatCompletionMessageParam], opts: SummaryOptions, model: str, ctx: CallContext
) -> ChatStream:
    return ChatStream(
        client, messages, ChatParams(model=model, temperature=opts.temperature, max_tokens=opts.final_tokens()), ctx
    )


def summarize(
    client: openai.OpenAI,
    doc: Document,
    opts: SummaryOptions,
    model: str,
    ctx: CallContext,
    counter: TokenCounter,
    on_progress: Progress | None = None,
) -> str:
    """The whole pipeline without a UI (benchmarks, scripts): the final pass is consumed here."""
    the_plan = plan(doc, opts, counter, model=model, local=ctx.local, prices=ctx.prices)
    stream = final_stream(client, map_reduce(client, doc, the_plan, opts, model, ctx, counter, on_progress), opts, model, ctx)
    for _ in stream:
        pass
    return stream.result.text


SESSION_CACHE_ITEMS = 8  # documents (and summaries) a session keeps: a long session must not grow without bound


def remember(cache: dict[Any, Any], key: Any, value: Any, limit: int = SESSION_CACHE_ITEMS) -> Any:
    """Put `key` in `cache` as its newest entry and drop the oldest beyond `limit`; returns `value`."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]
    return value
