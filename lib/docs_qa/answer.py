"""Prompts for answering from retrieved passages, within a small model's context, and the
citations ([1], [2]…) in the answer mapped back to the passages. What the model is told (the
instructions, the labels of the passages and the "not found" reply it is asked for) is worded in the
visitor's language (`lang`: "en" or "ja")."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam

from lib.core.i18n import N_, gettext, render
from lib.core.text import md_text
from lib.docs_qa.index import Hit
from lib.llm.chat import estimate_tokens, trim_history

NOT_FOUND = N_("Not found in the documents.")  # the reply asked for when the passages do not answer (English)
_SYSTEM_PROMPT = N_(
    "You answer questions about the user's documents. Use only the numbered passages given with the question, "
    "never outside knowledge. After each statement, cite the passage it comes from by its number in square "
    "brackets, like [1] or [2]. If the passages do not contain the answer, reply exactly: {not_found}"
)
SYSTEM_PROMPT = _SYSTEM_PROMPT.format(not_found=NOT_FOUND)  # the English one


def not_found(lang: str = "en") -> str:
    """The "not found" reply in `lang`: what the model is asked to say, and what the page says itself."""
    return gettext(NOT_FOUND, lang)


def system_prompt(lang: str = "en") -> str:
    return gettext(_SYSTEM_PROMPT, lang).format(not_found=not_found(lang))


TEMPLATE_MARGIN = 64  # chat-template tokens around the messages, and slack for the estimate
HISTORY_SHARE = 0.25  # at most this share of the context goes to earlier turns
# The instruction is in the system prompt only: repeating it next to the question (tried) sends
# SmolLM2-135M into loops of "[1]" instead of an answer; larger models follow it from the system prompt.


def _passage_name(hit: Hit, lang: str = "en") -> str:
    parts = [hit.name]
    if hit.heading:
        parts.append(hit.heading)
    where = gettext(" ({where})", lang).format(where=render(hit.location, lang)) if hit.location else ""
    return " › ".join(parts) + where


def passage_label(n: int, hit: Hit, lang: str = "en") -> str:
    """How a passage is named to the model: [n] file › heading (lines a–b)."""
    return f"[{n}] {_passage_name(hit, lang)}"


def passage_title(n: int, hit: Hit, lang: str = "en") -> str:
    """The same name on the page, in markdown (an expander's label): the file name and the document's
    heading are shown as the characters they are, never as a link or emphasis."""
    return f"[{n}] {md_text(_passage_name(hit, lang))}"


def format_passage(n: int, hit: Hit, text: str | None = None, lang: str = "en") -> str:
    return f"{passage_label(n, hit, lang)}\n{text if text is not None else hit.text}"


@dataclass
class Prompt:
    messages: list[ChatCompletionMessageParam]
    passages: list[Hit]  # what was sent, in order: citation [n] is passages[n - 1]
    truncated: bool  # the last passage was cut to fit
    dropped_passages: int  # retrieved but left out for room
    dropped_history: int  # earlier messages not sent
    prompt_tokens: int  # counted (or estimated) size of the messages


def _clean_history(history: Sequence[ChatCompletionMessageParam]) -> list[ChatCompletionMessageParam]:
    """Earlier answers without their [n] markers: those numbers named the passages of their own turn."""
    out: list[ChatCompletionMessageParam] = []
    for m in history:
        if m["role"] == "assistant":
            out.append({"role": "assistant", "content": _CITE.sub("", str(m.get("content") or "")).strip()})
        else:
            out.append(m)
    return out


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[ChatCompletionMessageParam] = (),
    *,
    context_tokens: int = 8192,
    reply_tokens: int = 512,
    count: Callable[[str], int] = estimate_tokens,
    lang: str = "en",
) -> Prompt:
    """System instruction, earlier turns (trimmed) and the question with as many passages (best
    first) as fit in `context_tokens` less the reply; the last one is cut rather than dropped when
    at least a useful part of it fits. `count` is the model's tokenizer where known; the instruction
    and the labels are in `lang`."""
    question = question.strip()
    system = system_prompt(lang)
    budget = context_tokens - reply_tokens - TEMPLATE_MARGIN - count(system) - count(question) - 40
    trimmed = trim_history(None, _clean_history(history), max_tokens=max(0, int(context_tokens * HISTORY_SHARE)))
    past = trimmed.messages if history else []
    budget -= sum(count(str(m.get("content") or "")) + 4 for m in past)
    sent: list[Hit] = []
    blocks: list[str] = []
    truncated = False
    for hit in hits:
        block = format_passage(len(sent) + 1, hit, lang=lang)
        cost = count(block) + 2
        if cost <= budget:
            sent.append(hit)
            blocks.append(block)
            budget -= cost
            continue
        if budget >= 80:  # room for a useful part of it: cut the text to the budget, at a line
            head = passage_label(len(sent) + 1, hit, lang)
            keep = hit.text[: max(0, int(len(hit.text) * (budget - count(head) - 4) / max(1, count(hit.text))))]
            keep = keep.rsplit("\n", 1)[0] if "\n" in keep[len(keep) // 2 :] else keep
            if keep.strip():
                sent.append(hit)
                blocks.append(format_passage(len(sent), hit, keep.rstrip() + " …", lang))
                truncated = True
        break
    user = gettext("Passages:\n\n{passages}\n\nQuestion: {question}", lang).format(
        passages="\n\n".join(blocks), question=question
    )
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}, *past,
                                                  {"role": "user", "content": user}]  # fmt: skip
    size = sum(count(str(m.get("content") or "")) + 4 for m in messages)
    dropped_history = len(history) - len(past) if history else 0
    return Prompt(messages, sent, truncated, len(hits) - len(sent), dropped_history, size)


_CITE = re.compile(r"\[(\d+(?:\s*[,，、]\s*\d+)*)\]")


def citations(answer: str, n_passages: int) -> tuple[list[int], list[int]]:
    """([n] that name a passage, in order of first use; [n] that name none), each listed once.
    Accepts [1], [1, 2] and [1][2]."""
    valid: list[int] = []
    invalid: list[int] = []
    for m in _CITE.finditer(answer):
        for part in re.split(r"[,，、]", m.group(1)):
            n = int(part.strip())
            bucket = valid if 1 <= n <= n_passages else invalid
            if n not in bucket:
                bucket.append(n)
    return valid, invalid


def is_not_found(answer: str) -> bool:
    """The model said the passages do not answer the question (in English or Japanese, whatever it was asked in)."""
    text = answer.strip().lower().rstrip(".。")
    if text.startswith("not found in the documents") or text in ("not found", "i don't know", "i do not know"):
        return True
    japanese = not_found("ja").rstrip("。")
    return bool(japanese) and japanese != NOT_FOUND.rstrip(".") and text.startswith(japanese)
