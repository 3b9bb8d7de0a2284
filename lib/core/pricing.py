"""Prices per million tokens (USD), model deprecations, and cost as billed. Unknown model -> None, local -> 0.

The defaults are data, not code: `lib/core/prices.json` lists each model's price with the page it was
read from and when, and the providers' announced shutdowns. `$YOAKE_DATA_DIR/prices.json` overrides
or extends them, in the old flat form {"gpt-4.1-mini": {"input": 0.4, "output": 1.6}, ...} or the
data file's own form {"models": [...], "deprecations": [...]}. A model named there replaces the
default entries for that model. A broken file (bad JSON, a bad entry) never breaks cost display:
valid entries still apply and `load_price_table` reports what was wrong so the usage page can say so.

Cost as billed: cached input tokens at their own price, the long-context tier when the prompt is over
its threshold (for the whole request, as OpenAI bills it), and the price in effect on the call's day
(an entry with `effective_from` applies from that date; older entries keep applying to older calls).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lib.core.i18n import Msg

PRICES_FILE = "prices.json"
DATA_FILE = Path(__file__).resolve().with_name(PRICES_FILE)  # lib/core/prices.json, shipped with the app


@dataclass(frozen=True)
class LongContext:
    """The tier that applies to the whole request once the prompt has more than `threshold_tokens`."""

    threshold_tokens: int
    input: float
    output: float
    cached_input: float | None = None


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M input tokens
    output: float  # USD per 1M output tokens
    cached_input: float | None = None  # USD per 1M cached input tokens; None: billed as input
    long_context: LongContext | None = None
    effective_from: _dt.date | None = None  # None: since always
    source: str | None = None  # the page the price was read from
    read_on: str | None = None  # when it was read (ISO date)
    earlier: tuple[Price, ...] = ()  # the entries this one replaced, newest first

    def at(self, when: _dt.date | _dt.datetime | None) -> Price | None:
        """The entry in effect on `when` (None: today's). None when the call predates every entry."""
        if when is None:
            when = _dt.date.today()
        day = when.date() if isinstance(when, _dt.datetime) else when
        for entry in (self, *self.earlier):
            if entry.effective_from is None or entry.effective_from <= day:
                return entry
        return None

    def history(self) -> list[Price]:
        """Every entry, newest first."""
        return [self, *self.earlier]

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int | None = None) -> float:
        """USD for one call; `input_tokens` includes the cached ones (as the API reports them)."""
        cached = min(max(cached_tokens or 0, 0), input_tokens)
        p_in, p_cached, p_out = self.input, self.cached_input, self.output
        tier = self.long_context
        if tier is not None and input_tokens > tier.threshold_tokens:
            p_in, p_cached, p_out = tier.input, tier.cached_input, tier.output
        p_cached = p_in if p_cached is None else p_cached
        return ((input_tokens - cached) * p_in + cached * p_cached + output_tokens * p_out) / 1_000_000


@dataclass(frozen=True)
class Deprecation:
    model: str
    shutdown_date: _dt.date
    replacement: str | None = None
    source: str | None = None

    def when(self, today: _dt.date | None = None) -> Msg:
        """When it goes away, for a sentence or a label: "shuts down 2027-01-14" (a Msg: tr() on the page)."""
        today = today or _dt.date.today()
        day = self.shutdown_date.isoformat()
        return Msg("shuts down {date}", date=day) if self.shutdown_date >= today else Msg("shut down {date}", date=day)

    def label(self, today: _dt.date | None = None) -> Msg:
        """Plain text for a picker label or a warning: "shuts down 2027-01-14 → gpt-6-luna"."""
        when = self.when(today)
        return Msg("{when} → {replacement}", when=when, replacement=self.replacement) if self.replacement else when


# --- parsing entries ------------------------------------------------------------------------------


def _number(entry: dict, key: str, *, required: bool = True) -> float | None:
    if key not in entry or entry[key] is None:
        if required:
            raise ValueError(Msg("missing {key}", key=repr(key)))
        return None
    value = entry[key]
    if isinstance(value, bool):
        raise ValueError(Msg("{key} must be a number", key=key))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            Msg("{key} must be a number", key=key) if key not in ("input", "output") else Msg("input and output must be numbers")
        ) from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(Msg("prices must be finite and not negative"))
    return number


def _date(value: object, key: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(Msg("{key} must be a date like 2027-01-14", key=key)) from None


def _price_of(entry: object) -> Price:
    if not isinstance(entry, dict):
        raise ValueError(Msg("expected {example}", example='{"input": <USD per 1M>, "output": <USD per 1M>}'))
    currency = entry.get("currency", "USD")
    if currency != "USD":
        # Costs are shown in USD; a JPY price is not converted silently at some rate.
        raise ValueError(Msg("currency {currency} is not supported (prices are USD per 1M tokens)", currency=repr(currency)))
    inp, out = _number(entry, "input"), _number(entry, "output")
    assert inp is not None and out is not None
    long_context = None
    if entry.get("long_context") is not None:
        tier = entry["long_context"]
        if not isinstance(tier, dict):
            raise ValueError(Msg("long_context must be an object"))
        threshold = tier.get("threshold_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise ValueError(Msg("long_context.threshold_tokens must be a positive whole number"))
        l_in, l_out = _number(tier, "input"), _number(tier, "output")
        assert l_in is not None and l_out is not None
        long_context = LongContext(threshold, l_in, l_out, _number(tier, "cached_input", required=False))
    effective = entry.get("effective_from")
    return Price(
        inp,
        out,
        cached_input=_number(entry, "cached_input", required=False),
        long_context=long_context,
        effective_from=_date(effective, "effective_from") if effective else None,
        source=str(entry["source"]) if entry.get("source") else None,
        read_on=str(entry["read_on"]) if entry.get("read_on") else None,
    )


def _chain(entries: list[Price]) -> Price:
    """One model's entries as the newest with the older ones in `earlier` (newest first)."""
    ordered = sorted(entries, key=lambda p: p.effective_from or _dt.date.min, reverse=True)
    return replace(ordered[0], earlier=tuple(ordered[1:]))


def _deprecation_of(entry: object) -> list[Deprecation]:
    if not isinstance(entry, dict) or not entry.get("model"):
        raise ValueError(Msg("expected {example}", example='{"model": ..., "shutdown_date": "YYYY-MM-DD", "replacement": ...}'))
    if not entry.get("shutdown_date"):
        raise ValueError(Msg("missing {key}", key="'shutdown_date'"))
    day = _date(entry["shutdown_date"], "shutdown_date")
    replacement = str(entry["replacement"]) if entry.get("replacement") else None
    source = str(entry["source"]) if entry.get("source") else None
    names = [str(entry["model"]), *(str(a) for a in entry.get("aliases") or [])]
    return [Deprecation(name, day, replacement, source) for name in names]


def _reason(exc: Exception) -> str:
    """What an exception raised here says: its Msg (so the page can word it), else its text."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Msg) else str(exc)


def _parse(raw: object) -> tuple[dict[str, Price], dict[str, Deprecation], list[str]]:
    """Prices and deprecations from either file form, plus what was wrong with it."""
    if not isinstance(raw, dict):
        raise TypeError(Msg("must be a JSON object mapping model names to prices"))
    problems: list[str] = []
    grouped: dict[str, list[Price]] = {}
    deprecations: dict[str, Deprecation] = {}
    if isinstance(raw.get("models"), list) or isinstance(raw.get("deprecations"), list):
        for i, entry in enumerate(raw.get("models") or []):
            name = entry.get("model") if isinstance(entry, dict) else None
            try:
                if not name:
                    raise ValueError(Msg("missing {key}", key="'model'"))
                price = _price_of(entry)
            except ValueError as exc:
                problems.append(Msg("entry {name} ignored: {reason}", name=repr(name or f"#{i + 1}"), reason=_reason(exc)))
                continue
            for alias in [name, *(entry.get("aliases") or [])]:
                grouped.setdefault(str(alias), []).append(price)
        for i, entry in enumerate(raw.get("deprecations") or []):
            try:
                for dep in _deprecation_of(entry):
                    deprecations[dep.model] = dep
            except ValueError as exc:
                name = entry.get("model") if isinstance(entry, dict) else None
                problems.append(Msg("deprecation {name} ignored: {reason}", name=repr(name or f"#{i + 1}"), reason=_reason(exc)))
    else:  # the flat form: {"model": {"input": x, "output": y, ...}}
        for model, entry in raw.items():
            try:
                price = _price_of(entry)
            except ValueError as exc:
                problems.append(Msg("entry {name} ignored: {reason}", name=repr(model), reason=_reason(exc)))
                continue
            grouped.setdefault(str(model), []).append(price)
    prices: dict[str, Price] = {}
    for model, entries in grouped.items():
        dated = [p.effective_from for p in entries]
        if len(set(dated)) < len(dated):
            problems.append(
                Msg("entry {name}: several prices with the same effective date, the last one is used", name=repr(model))
            )
            entries = list({p.effective_from: p for p in entries}.values())
        prices[model] = _chain(entries)
    return prices, deprecations, problems


def _load_defaults() -> tuple[dict[str, Price], dict[str, Deprecation]]:
    prices, deprecations, problems = _parse(json.loads(DATA_FILE.read_text(encoding="utf-8")))
    if problems:  # shipped with the app: a broken entry is a bug, caught by the tests
        raise ValueError(f"{DATA_FILE}: {'; '.join(problems)}")
    return prices, deprecations


DEFAULT_PRICES, DEFAULT_DEPRECATIONS = _load_defaults()


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, Price]
    overridden: frozenset[str] = frozenset()  # models whose price comes from prices.json
    override_path: Path | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)  # what was wrong with prices.json (Msgs)
    deprecations: dict[str, Deprecation] = field(default_factory=lambda: dict(DEFAULT_DEPRECATIONS))


def load_price_table(data_dir: Path | None = None) -> PriceTable:
    """The defaults plus `prices.json` overrides, and a list of problems with that file."""
    prices = dict(DEFAULT_PRICES)
    deprecations = dict(DEFAULT_DEPRECATIONS)
    path = data_dir / PRICES_FILE if data_dir else None
    if not path or not path.is_file():
        return PriceTable(prices, deprecations=deprecations)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return PriceTable(prices, override_path=path, problems=(Msg("cannot be read ({error})", error=exc.__class__.__name__),))
    except ValueError as exc:
        return PriceTable(prices, override_path=path, problems=(Msg("is not valid JSON ({error})", error=str(exc)),))
    try:
        extra, extra_deps, problems = _parse(raw)
    except TypeError as exc:
        return PriceTable(prices, override_path=path, problems=(_reason(exc),))
    prices.update(extra)
    deprecations.update(extra_deps)
    return PriceTable(prices, frozenset(extra), path, tuple(problems), deprecations)


def load_prices(data_dir: Path | None = None) -> dict[str, Price]:
    return load_price_table(data_dir).prices


def find_price(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact match, else the longest known prefix ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini")."""
    name = model.removeprefix("models/")  # Gemini lists "models/gemini-..."
    if name in prices:
        return prices[name]
    candidates = [k for k in prices if name.startswith(k + "-")]
    return prices[max(candidates, key=len)] if candidates else None


# A dated snapshot of a model: "gpt-4.1-2025-04-14", "gpt-4-0613". Only these inherit their base
# model's deprecation ("gpt-4.1-nano" is another model, not a snapshot of "gpt-4.1").
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


def find_deprecation(model: str, deprecations: dict[str, Deprecation] | None = None) -> Deprecation | None:
    table = DEFAULT_DEPRECATIONS if deprecations is None else deprecations
    name = model.removeprefix("models/")
    if name in table:
        return table[name]
    base = _SNAPSHOT.sub("", name)
    return replace(table[base], model=name) if base != name and base in table else None


def unknown_models(models: Iterable[str], prices: dict[str, Price]) -> list[str]:
    """The models (sorted, distinct) that no price entry matches: their costs cannot be estimated."""
    return sorted({m for m in models if m and find_price(m, prices) is None})


def estimate_cost(
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    *,
    local: bool,
    prices: dict[str, Price] | None = None,
    cached_tokens: int | None = None,
    when: _dt.date | _dt.datetime | None = None,
) -> float | None:
    """USD as billed, at the price in effect on `when` (None: today). None when there is no price."""
    if local:
        return 0.0
    found = find_price(model, prices if prices is not None else DEFAULT_PRICES)
    price = found.at(when) if found else None
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return price.cost(input_tokens, output_tokens, cached_tokens)
