"""How sure the model was of each field of a JSON reply.

Every leaf value of the JSON (a string's characters between its quotes, a number, true/false/null) is
located by character offsets in the reply text, and mapped to the generated tokens whose bytes overlap
it. The work is on token bytes (the reply is the tokens' bytes joined), so a Japanese character split
across tokens joins back to exactly the value text. A field's figures: the joint probability of its
tokens, its least-sure token and the alternatives the model had there.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.logprobs import LogprobTable
from lib.structured.schema import pointer, strip_fence

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Leaf:
    pointer: str
    value: Any
    start: int  # character offsets in the reply text: a string's inside (no quotes), a literal itself
    end: int


class _Walker:
    """A JSON reader that records where every leaf value is (json.loads says what, not where)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.leaves: list[Leaf] = []

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    def value(self, i: int, path: list[Any]) -> int:
        text = self.text
        i = self.ws(i)
        ch = text[i : i + 1]
        if ch == "{":
            i = self.ws(i + 1)
            if text[i : i + 1] == "}":
                return i + 1
            while True:
                i = self.ws(i)
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                i = self.ws(i)
                if text[i : i + 1] != ":":
                    raise ValueError(f"':' expected at {i}")
                i = self.value(i + 1, [*path, key])
                i = self.ws(i)
                if text[i : i + 1] == ",":
                    i += 1
                    continue
                if text[i : i + 1] == "}":
                    return i + 1
                raise ValueError(f"',' or '}}' expected at {i}")
        if ch == "[":
            i = self.ws(i + 1)
            if text[i : i + 1] == "]":
                return i + 1
            n = 0
            while True:
                i = self.ws(self.value(i, [*path, n]))
                n += 1
                if text[i : i + 1] == ",":
                    i += 1
                    continue
                if text[i : i + 1] == "]":
                    return i + 1
                raise ValueError(f"',' or ']' expected at {i}")
        if ch == '"':
            value, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            self.leaves.append(Leaf(pointer(path), value, i + 1, end - 1))
            return end
        m = _NUMBER.match(text, i)
        if m and m.end() > i:
            literal = m.group(0)
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            self.leaves.append(Leaf(pointer(path), value, i, m.end()))
            return m.end()
        for word, value in _LITERALS.items():
            if text.startswith(word, i):
                self.leaves.append(Leaf(pointer(path), value, i, i + len(word)))
                return i + len(word)
        raise ValueError(f"a JSON value expected at {i}")


def leaves(text: str) -> list[Leaf]:
    """Every leaf value of the JSON document `text` with its character span, in document order.
    Raises ValueError when `text` is not one JSON document."""
    walker = _Walker(text)
    end = walker.ws(walker.value(0, []))
    if end != len(text):
        raise ValueError(f"extra data at {end}")
    return walker.leaves


@dataclass(frozen=True)
class FieldConfidence:
    pointer: str
    value: Any
    text: str  # the value as written in the reply (a string's inside, escapes as written)
    tokens: list[int]  # positions in the token table
    token_text: str  # the tokens' bytes joined, cut to the value's bytes, decoded: equals `text`
    joint_prob: float
    min_prob: float
    min_position: int
    min_token: str
    alternatives: list[tuple[str, float]]  # at the least-sure token, besides the chosen one: (label, probability)


def _byte_offsets(text: str) -> np.ndarray:
    """Byte offset of each character of `text` (one more: the end)."""
    if text.isascii():
        return np.arange(len(text) + 1, dtype=np.int64)
    sizes = np.fromiter((len(c.encode("utf-8")) for c in text), dtype=np.int64, count=len(text))
    return np.concatenate(([0], np.cumsum(sizes)))


def field_confidence(table: LogprobTable, text: str | None = None) -> list[FieldConfidence] | None:
    """Each leaf of the JSON reply with the tokens that produced it, in document order; None when the
    tokens do not spell `text` (whitespace around it aside: then no field can be located honestly) or
    it is not one JSON document."""
    try:
        spelled = b"".join(table.raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    # The message text can be less than the tokens spell: llama-server strips the whitespace and the
    # ```json fence its JSON grammar allows around the document. Fields are located in the message's
    # JSON, then found at the same place in the tokens' text.
    core = strip_fence(spelled if text is None else text)
    at = spelled.find(core)
    if not core or at < 0:
        return None
    try:
        found = [Leaf(leaf.pointer, leaf.value, leaf.start + at, leaf.end + at) for leaf in leaves(core)]
    except (ValueError, IndexError):
        return None
    text = spelled
    char_bytes = _byte_offsets(text)
    ends = np.cumsum([len(r) for r in table.raw]).tolist()  # token i spans [ends[i-1], ends[i])
    starts = [0, *ends[:-1]]
    lp = table.logprobs
    alt_p = table.alt_probs
    out: list[FieldConfidence] = []
    for leaf in found:
        bs, be = int(char_bytes[leaf.start]), int(char_bytes[leaf.end])
        if be == bs:  # an empty string: the token holding its closing quote decided it
            first = last = min(bisect.bisect_right(ends, bs), len(ends) - 1)
        else:
            first = bisect.bisect_right(ends, bs)  # first token ending after the value starts
            last = bisect.bisect_left(starts, be) - 1  # last token starting before it ends
            last = max(last, first)
        positions = list(range(first, last + 1))
        joined = b"".join(table.raw[first : last + 1])
        cut = joined[bs - starts[first] : be - starts[first]]
        token_text = cut.decode("utf-8", "replace")
        span_lp = lp[first : last + 1]
        m = first + int(np.argmin(span_lp))
        chosen = int(table.match[m])
        alts = [(label, float(alt_p[m, c])) for c, label in enumerate(table.alt_labels[m]) if c != chosen]
        out.append(
            FieldConfidence(
                pointer=leaf.pointer,
                value=leaf.value,
                text=text[leaf.start : leaf.end],
                tokens=positions,
                token_text=token_text,
                joint_prob=math.exp(float(span_lp.sum())),
                min_prob=math.exp(float(lp[m])),
                min_position=m,
                min_token=table.labels[m],
                alternatives=alts,
            )
        )
    return out


def least_sure_first(fields: list[FieldConfidence]) -> list[FieldConfidence]:
    return sorted(fields, key=lambda f: (f.joint_prob, f.pointer))


def mean_confidence(fields: list[FieldConfidence] | None) -> float | None:
    """The mean joint probability of the fields (a compare column's figure)."""
    if not fields:
        return None
    return float(np.mean([f.joint_prob for f in fields]))


CSV_COLUMNS = ("pointer", "value", "joint_probability", "least_sure_token", "least_sure_probability", "tokens", "alternatives")


def rows(fields: list[FieldConfidence]) -> Iterator[dict[str, Any]]:
    """The table's rows, least sure first (keys: CSV_COLUMNS; the page translates the headers)."""
    for f in least_sure_first(fields):
        yield {
            "pointer": f.pointer,
            "value": f.text,
            "joint_probability": f.joint_prob,
            "least_sure_token": f.min_token,
            "least_sure_probability": f.min_prob,
            "tokens": len(f.tokens),
            "alternatives": ", ".join(f"{label} {p:.1%}" for label, p in f.alternatives),
        }


def export_csv(fields: list[FieldConfidence]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows(fields))
    return buf.getvalue()
