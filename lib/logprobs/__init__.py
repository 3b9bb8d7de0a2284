"""Token logprobs: the per-position table, summary figures, temperature what-if, forks and the probe.

Built from the SDK's `ChatCompletionTokenLogprob` objects. Text is rebuilt from token `bytes`
with an incremental UTF-8 decoder, because a character can be split across tokens (and
llama-server's alternatives can be lone continuation bytes). Columnar (numpy) so 2,000
positions x 20 alternatives build in a few tens of milliseconds.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import openai
import pandas as pd
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionTokenLogprob
from openai.types.chat.chat_completion_token_logprob import TopLogprob

from lib.core.errors import YoakeError, describe_error
from lib.core.i18n import Msg, gettext
from lib.llm.chat import CallContext, ChatParams, ChatResult, complete
from lib.llm.providers import Provider

MAX_TOP_K = 20  # OpenAI's (and llama-server's OpenAI-compatible) upper bound


# --- labels -------------------------------------------------------------------------------------


def _hex_bytes(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(f"<0x{b:02X}>" for b in bad), exc.end


# Bytes that are not (yet) valid UTF-8 are shown as `<0xA5>`, never as U+FFFD mojibake.
HEX_ERRORS = "yoake-hexbytes"
codecs.register_error(HEX_ERRORS, _hex_bytes)

_VISIBLE_WS = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def visible(text: str) -> str:
    """Whitespace made visible, for places where token boundaries matter (table, tooltips)."""
    return text.translate(_VISIBLE_WS)


def token_bytes(token: str, raw: Sequence[int] | None) -> bytes:
    return bytes(raw) if raw is not None else token.encode("utf-8")


def label_bytes(raw: bytes) -> str:
    """A token's own bytes as visible text; partial UTF-8 as byte escapes (`<0xA5>`)."""
    if not raw:
        return "∅"  # special tokens (end of turn) can come with no bytes
    return raw.decode("utf-8", HEX_ERRORS).translate(_VISIBLE_WS)


def _alt_id(alt: TopLogprob | ChatCompletionTokenLogprob) -> int | None:
    extra = alt.model_extra  # llama-server adds the token id; OpenAI does not
    return extra.get("id") if extra else None


# --- the table ----------------------------------------------------------------------------------


@dataclass
class LogprobTable:
    """One entry per generated position; alternatives padded with NaN to `k` columns."""

    labels: list[str]  # visible label of the chosen token (byte escapes for partial UTF-8)
    texts: list[str]  # text the incremental decoder completed at this position ("" mid-character)
    partial: list[bool]  # ends mid-character: the decoder holds bytes for a later position
    raw: list[bytes]  # chosen token bytes
    logprobs: np.ndarray  # (n,)
    ranks: np.ndarray  # (n,) 1-based rank among the received alternatives; 0 = not among them
    match: np.ndarray  # (n,) index of the chosen token among the received alternatives; -1 = none
    received: list[list[TopLogprob]]  # the server's alternatives, as received
    alt_labels: list[list[str]]  # labels of the shown alternatives
    alt_logprobs: np.ndarray  # (n, k), NaN where a position has fewer alternatives
    k: int  # alternatives shown

    def __len__(self) -> int:
        return len(self.labels)

    def alt_bytes(self, i: int) -> list[bytes]:
        """Bytes of position i's shown alternatives (built on demand: only forks and exports need them)."""
        return [_alt_raw(a) for a in self.received[i][: len(self.alt_labels[i])]]

    def lead(self, i: int) -> bytes:
        """Bytes of the chosen token before its matched alternative. llama-server reports a character
        split over tokens as one position whose alternatives are for the last token only."""
        m, raw = int(self.match[i]), self.raw[i]
        if m < 0:
            return b""
        mb = _alt_raw(self.received[i][m])
        return raw[: len(raw) - len(mb)] if len(mb) < len(raw) and raw.endswith(mb) else b""

    @property
    def probs(self) -> np.ndarray:
        return np.exp(self.logprobs)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @property
    def alt_probs(self) -> np.ndarray:
        return np.exp(self.alt_logprobs)

    def entropy(self) -> np.ndarray:
        """Entropy (nats) over the shown alternatives, the chosen token when it is not among them,
        and a 'rest' bucket holding the remaining probability mass."""
        n = len(self)
        if n == 0:
            return np.zeros(0)
        p = np.exp(self.alt_logprobs)
        with np.errstate(invalid="ignore"):
            terms = np.where(np.isnan(p), 0.0, -p * self.alt_logprobs)
        h = terms.sum(axis=1)
        mass = np.nansum(p, axis=1)
        shown = (self.ranks >= 1) & (self.ranks <= self.k)
        chosen_p = np.exp(self.logprobs)
        h = h + np.where(shown, 0.0, -chosen_p * self.logprobs)
        mass = mass + np.where(shown, 0.0, chosen_p)
        rest = np.clip(1.0 - mass, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = h + np.where(rest > 0, -rest * np.log(np.where(rest > 0, rest, 1.0)), 0.0)
        return h


def _alt_raw(a: TopLogprob) -> bytes:
    return bytes(a.bytes) if a.bytes is not None else a.token.encode("utf-8")


def chosen_index(chosen: ChatCompletionTokenLogprob, chosen_raw: bytes, alts: Sequence[TopLogprob]) -> int:
    """Index of the chosen token among its alternatives, or -1."""
    cid = _alt_id(chosen)
    if cid is not None:
        for j, a in enumerate(alts):
            if _alt_id(a) == cid:
                return j
    for j, a in enumerate(alts):
        if token_bytes(a.token, a.bytes) == chosen_raw:
            return j
    for j, a in enumerate(alts):
        if a.token == chosen.token:
            return j
    # llama-server reports a character split over tokens as one position whose alternatives are
    # for its last token (lone continuation bytes): match that suffix with the same logprob.
    for j, a in enumerate(alts):
        ab = token_bytes(a.token, a.bytes)
        if ab and chosen_raw.endswith(ab) and a.logprob == chosen.logprob:
            return j
    return -1


def build_table(content: Sequence[ChatCompletionTokenLogprob], top_k: int | None = None) -> LogprobTable:
    """The per-position table. `top_k` limits the alternatives shown (ranks use all received).

    Flat comprehensions plus numpy rather than a loop of appends: 40,000 alternatives must build
    in a few milliseconds."""
    n = len(content)
    tops = [t.top_logprobs for t in content]
    lens = np.fromiter(map(len, tops), dtype=np.int64, count=n)
    received = int(lens.max()) if n else 0
    k = received if top_k is None else max(0, min(top_k, received))

    # Every received alternative's logprob, scattered into a NaN-padded (n, received) matrix.
    received_flat = [a for alts in tops for a in alts]
    full = np.full((n, received), np.nan)
    full[np.arange(received) < lens[:, None]] = [a.logprob for a in received_flat]
    logprobs = np.fromiter((t.logprob for t in content), dtype=float, count=n)
    raws = [bytes(t.bytes) if t.bytes is not None else t.token.encode("utf-8") for t in content]

    # Chosen token -> its index among the alternatives (usually 0: checked first, cheaply);
    # rank = 1 + how many alternatives are strictly likelier.
    match = np.fromiter(
        (0 if alts and alts[0].token == t.token and alts[0].logprob == t.logprob else chosen_index(t, r, alts)
         for t, r, alts in zip(content, raws, tops, strict=True)),
        dtype=np.int64, count=n,
    )  # fmt: skip
    found = match >= 0
    matched_lp = full[np.arange(n), np.where(found, match, 0)] if received else np.full(n, np.nan)
    ranks = np.where(found, 1 + (full > np.where(found, matched_lp, np.inf)[:, None]).sum(axis=1), 0).astype(np.int64)

    # Labels of the shown alternatives. Servers render partial UTF-8 in the token text lossily
    # ("\ufffd", or dropped: llama-server sends " " for b" \xe3\x81"). When a text encodes to the
    # bytes of the first alternative seen with it, it labels every alternative with that text and
    # byte length (valid UTF-8 round-trips); any other alternative is labelled from its own bytes.
    shown = received_flat if k == received else [a for alts in tops for a in alts[:k]]
    by_text: dict[str, tuple[str, int]] = {}  # text -> (label, byte length); ("", -1): not faithful
    by_bytes: dict[tuple[int, ...], str] = {}

    def first_seen(a: TopLogprob) -> str:
        tok, raw = a.token, bytes(a.bytes)
        faithful = bool(tok) and "\ufffd" not in tok and tok.encode("utf-8") == raw
        by_text[tok] = (visible(tok), len(raw)) if faithful else ("", -1)
        return by_text[tok][0] if faithful else from_bytes(tuple(raw))

    def from_bytes(key: tuple[int, ...]) -> str:
        label = by_bytes[key] = label_bytes(bytes(key))
        return label

    try:  # one pass with inlined lookups: this runs once per alternative (40,000 at 2,000 x 20)
        flat_labels = [
            f[0] if (f := by_text.get(a.token)) is not None and len(a.bytes) == f[1]
            else first_seen(a) if f is None
            else by_bytes.get(key := tuple(a.bytes)) or from_bytes(key)
            for a in shown
        ]  # fmt: skip
    except TypeError:  # a provider that omits `bytes`: label each from its text
        flat_labels = [label_bytes(_alt_raw(a)) for a in shown]
    shown_lens = np.minimum(lens, k).tolist()
    ends = np.cumsum(shown_lens).tolist() if n else []
    alt_labels = [flat_labels[e - m : e] for e, m in zip(ends, shown_lens, strict=True)]

    # Text: an incremental decoder across positions, so a character split over tokens appears
    # whole at the position that completes it.
    decoder = codecs.getincrementaldecoder("utf-8")(HEX_ERRORS)
    texts: list[str] = []
    partial: list[bool] = []
    labels: list[str] = []
    alone: dict[bytes, str] = {}
    pending = False
    for r in raws:
        text = decoder.decode(r)
        texts.append(text)
        label = alone.get(r)
        if label is None:
            label = alone[r] = label_bytes(r)
        # Completes a character begun at an earlier position: say which.
        labels.append(f"{label} → {visible(text)}" if pending and text else label)
        pending = bool(decoder.getstate()[0])
        partial.append(pending)
    tail = decoder.decode(b"", final=True)  # a reply cut mid-character: show the dangling bytes
    if tail and texts:
        texts[-1] += tail
    return LogprobTable(
        labels, texts, partial, raws, logprobs, ranks, match, tops, alt_labels, np.ascontiguousarray(full[:, :k]), k
    )


def to_frame(table: LogprobTable) -> pd.DataFrame:
    """The table as shown: one row per position."""
    probs = table.probs
    ranks = pd.arrays.IntegerArray(table.ranks.copy(), table.ranks == 0)  # 0 = not among the alternatives
    alt_p = np.exp(table.alt_logprobs).tolist()
    return pd.DataFrame(
        {
            "position": np.arange(len(table)),
            "token": table.labels,
            "probability": probs,
            "logprob": table.logprobs,
            "rank": ranks,
            "entropy": table.entropy(),
            "alternatives": table.alt_labels,
            "alt_probs": [row[: len(labels)] for row, labels in zip(alt_p, table.alt_labels, strict=True)],
        }
    )


def export_csv(table: LogprobTable) -> str:
    """Flat CSV: alternatives as alt_1, p_alt_1, ... columns."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    header = ["position", "token", "text", "probability", "logprob", "rank", "entropy"]
    for c in range(1, table.k + 1):
        header += [f"alt_{c}", f"p_alt_{c}"]
    writer.writerow(header)
    probs, ent, alt_p = table.probs, table.entropy(), table.alt_probs
    for i in range(len(table)):
        row: list[object] = [i, table.labels[i], table.texts[i], probs[i], table.logprobs[i], table.ranks[i] or "", ent[i]]
        for c in range(table.k):
            row += [table.alt_labels[i][c], alt_p[i, c]] if c < len(table.alt_labels[i]) else ["", ""]
        writer.writerow(row)
    return buf.getvalue()


def export_json(table: LogprobTable) -> str:
    probs, ent, alt_p = table.probs, table.entropy(), table.alt_probs
    rows = [
        {
            "position": i,
            "token": table.labels[i],
            "text": table.texts[i],
            "bytes": list(table.raw[i]),
            "probability": float(probs[i]),
            "logprob": float(table.logprobs[i]),
            "rank": int(table.ranks[i]) or None,
            "entropy": float(ent[i]),
            "alternatives": [
                {"token": lab, "bytes": list(raw), "logprob": float(table.alt_logprobs[i, c]), "probability": float(alt_p[i, c])}
                for c, (lab, raw) in enumerate(zip(table.alt_labels[i], table.alt_bytes(i), strict=True))
            ],
        }
        for i in range(len(table))
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1)


# --- summary ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    start: int  # first position
    end: int  # last position (inclusive)
    text: str
    logprob: float  # sum over the span
    min_prob: float


@dataclass(frozen=True)
class Summary:
    positions: int
    perplexity: float
    sum_logprob: float
    joint_prob: float
    mean_prob: float
    min_prob: float
    min_position: int
    low_count: int
    threshold: float
    spans: list[Span] = field(default_factory=list)


def summarize(table: LogprobTable, threshold: float = 0.5, max_spans: int = 5) -> Summary | None:
    """Perplexity = exp(-mean logprob); least-confident spans = runs of positions with p < threshold,
    least probable (lowest summed logprob) first."""
    n = len(table)
    if n == 0:
        return None
    lp = table.logprobs
    probs = np.exp(lp)
    total = float(lp.sum())
    low = probs < threshold
    spans: list[Span] = []
    if low.any():
        edges = np.diff(np.concatenate(([0], low.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        csum = np.concatenate(([0.0], np.cumsum(lp)))
        sums = csum[ends + 1] - csum[starts]
        for s in np.argsort(sums, kind="stable")[:max_spans]:
            a, b = int(starts[s]), int(ends[s])
            spans.append(Span(a, b, "".join(table.texts[a : b + 1]), float(sums[s]), float(probs[a : b + 1].min())))
    m = int(np.argmin(probs))
    return Summary(
        positions=n,
        perplexity=math.exp(-total / n),
        sum_logprob=total,
        joint_prob=math.exp(total),
        mean_prob=float(probs.mean()),
        min_prob=float(probs[m]),
        min_position=m,
        low_count=int(low.sum()),
        threshold=threshold,
        spans=spans,
    )


def what_if(logprobs: Sequence[float] | np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logprob / T) over the given alternatives: how sampling at T would spread them."""
    lp = np.asarray(logprobs, dtype=float)
    lp = lp[~np.isnan(lp)]
    if lp.size == 0:
        return lp
    z = lp / max(temperature, 1e-6)
    z = np.exp(z - z.max())
    return z / z.sum()


# --- heat view ----------------------------------------------------------------------------------


def _shade(p: float) -> str:
    # Sure tokens stay nearly clear; unsure ones turn strong orange-red, so they jump out.
    alpha = 0.08 + 0.77 * (1.0 - p)
    return f"background-color: rgba(230, 70, 20, {alpha:.2f}); border-radius: 3px; padding: 0 1px;"


def _heat_text(text: str) -> str:
    """Escaped display text: newlines as ↵ plus a line break; whitespace-only tokens as markers."""
    if text and not text.strip():
        return html.escape(visible(text)).replace("↵", "↵<br>")
    return html.escape(text).replace("\n", "↵<br>")


def heat_html(table: LogprobTable, start: int = 0, given_prefix: str = "", lang: str = "en") -> str:
    """The reply as HTML spans shaded by probability, alternatives in the hover title.

    Every model-derived string goes through html.escape (quote=True); the only markup is ours.
    Positions that end mid-character are merged with the one completing it. `given_prefix` is text
    the model did not generate (a fork's prefix), shown unshaded. `start` numbers positions; the
    hover text is worded in `lang`."""
    parts = ['<div style="white-space: pre-wrap; line-height: 1.9; font-size: 1rem;">']
    if given_prefix:
        given = html.escape(gettext("given prefix", lang))
        parts.append(
            f'<span style="color: #888; text-decoration: underline dotted;" title="{given}">{_heat_text(given_prefix)}</span>'
        )
    probs = table.probs
    alt_p = table.alt_probs
    pending: list[int] = []
    alternatives = gettext("alternatives: {list}", lang)
    for i in range(len(table)):
        pending.append(i)
        if table.partial[i] and i < len(table) - 1:
            continue  # mid-character: wait for the position that completes it
        group, pending = pending, []
        p = float(np.prod(probs[group]))
        tips = []
        for g in group:
            alts = ", ".join(f"{lab} {alt_p[g, c]:.1%}" for c, lab in enumerate(table.alt_labels[g]))
            tips.append(
                f"#{start + g} {table.labels[g]}  p={probs[g]:.2%}" + ("\n" + alternatives.format(list=alts) if alts else "")
            )
        text = "".join(table.texts[g] for g in group) or "".join(table.labels[g] for g in group)
        parts.append(f'<span style="{_shade(p)}" title="{html.escape(chr(10).join(tips), quote=True)}">{_heat_text(text)}</span>')
    parts.append("</div>")
    return "".join(parts)


# --- model calls --------------------------------------------------------------------------------


@dataclass
class LogprobRun:
    messages: list[ChatCompletionMessageParam]
    params: ChatParams
    top_k: int
    content: list[ChatCompletionTokenLogprob]
    table: LogprobTable
    text: str  # the reply as the server returned it (without a fork's prefix)
    result: ChatResult
    prefix: str = ""  # fork: the assistant prefix the model continued


def request_top_k(top_k: int) -> int:
    # llama-server returns no logprobs at all for top_logprobs=0: ask for 1 and show none.
    return min(max(top_k, 1), MAX_TOP_K)


# Why llama.cpp gets `cache_prompt: false`: a prompt it has cached is processed in a different batch
# shape than a fresh one, and its server does not promise bit-identical logits then. The explorer is
# for inspecting numbers, so the same request at temperature 0 with the same seed must give the same
# table every time, on any CPU: every request is evaluated from scratch (a few ms for a short prompt).
REPRODUCIBLE_NOTE = Msg(
    "Each request is evaluated from scratch (llama.cpp's prompt cache is off for this page), so the same "
    "request at temperature 0 with the same seed gives the same numbers every time."
)


def reproducible_extra_body(provider: Provider) -> dict[str, Any]:
    """Request fields that make logprobs repeatable on this provider (none where it has no cache to skip)."""
    return {"cache_prompt": False} if provider.llama_cpp else {}


def run_logprobs(
    client: openai.OpenAI,
    messages: Sequence[ChatCompletionMessageParam],
    params: ChatParams,
    ctx: CallContext,
    top_k: int,
    *,
    prefix: str = "",
    extra_body: dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
) -> LogprobRun:
    """One logged call with logprobs; with `prefix`, the model continues that assistant text;
    with `response_format`, the reply follows it (JSON object or schema)."""
    sent: list[ChatCompletionMessageParam] = list(messages)
    if prefix:
        sent.append({"role": "assistant", "content": prefix})
    extra: dict[str, Any] = {"extra_body": extra_body} if extra_body else {}
    if response_format:
        extra["response_format"] = response_format
    completion, res = complete(client, sent, params, ctx, logprobs=True, top_logprobs=request_top_k(top_k), **extra)
    choice = completion.choices[0] if completion.choices else None
    content = list(choice.logprobs.content or []) if choice and choice.logprobs else []
    text = res.text
    # llama-server echoes the prefix in the reply; the continuation is what follows it.
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    return LogprobRun(list(messages), params, top_k, content, build_table(content, top_k), text, res, prefix)


class ForkError(YoakeError):
    """The chosen alternative cannot be spliced into a text prefix; the message says why."""

    kind = "fork"
    title = Msg("Cannot fork there.")


def fork_prefix(table: LogprobTable, position: int, alt: int) -> str:
    """The reply up to `position` with alternative `alt` spliced in, as text."""
    if not 0 <= position < len(table) or not 0 <= alt < len(table.alt_labels[position]):
        raise ForkError(Msg("Pick a position and one of its alternatives."))
    raw = b"".join(table.raw[:position]) + table.lead(position) + table.alt_bytes(position)[alt]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ForkError(
            Msg("That alternative is only part of a multi-byte character, so there is no text prefix to continue from.")
        ) from None


def fork_unavailable_reason(provider: Provider) -> str | None:
    if provider.continues_prefix:
        return None
    return Msg(
        "{provider} cannot continue a partial assistant reply through its chat API, so forking is off.", provider=provider.label
    )


# --- capability probe ---------------------------------------------------------------------------


class ProbeStatus(StrEnum):
    SUPPORTED = "supported"
    REJECTED = "rejected"  # the endpoint answered 400/422 to `logprobs`
    NONE = "none"  # accepted, but no logprobs came back


@dataclass(frozen=True)
class Probe:
    status: ProbeStatus
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.status is ProbeStatus.SUPPORTED


def known_probe(provider: Provider) -> Probe | None:
    """Providers known not to return logprobs are not called at all."""
    if not provider.supports_logprobs:
        return Probe(
            ProbeStatus.REJECTED,
            Msg("{provider}'s OpenAI-compatible endpoint does not return logprobs.", provider=provider.label),
        )
    return None


def probe_logprobs(client: openai.OpenAI, model: str, ctx: CallContext, provider_label: str | None = None) -> Probe:
    """One tiny logged call. Other failures (connection, key) are raised: they say nothing about
    logprobs and must not be cached as an answer. The detail is a `Msg` (worded in the visitor's language)."""
    provider = provider_label or Msg("The provider")
    params = ChatParams(model=model, temperature=0.0, max_tokens=1)
    try:
        completion, _ = complete(client, [{"role": "user", "content": "Hi"}], params, ctx, logprobs=True, top_logprobs=1)
    except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        return Probe(ProbeStatus.REJECTED, describe_error(exc, provider).detail)
    choice = completion.choices[0] if completion.choices else None
    if choice and choice.logprobs and choice.logprobs.content:
        return Probe(ProbeStatus.SUPPORTED)
    return Probe(
        ProbeStatus.NONE,
        Msg("{provider} accepted the request but returned no logprobs for {model}.", provider=provider, model=model),
    )
