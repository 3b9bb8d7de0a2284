"""Prices per million tokens (USD) and cost estimates. Unknown model -> None, local -> 0.

The table can be overridden/extended by `$YOAKE_DATA_DIR/prices.json`:
{"gpt-4.1-mini": {"input": 0.4, "output": 1.6}, ...}
A broken file (bad JSON, a bad entry) never breaks cost display: valid entries still apply and
`load_price_table` reports what was wrong so the usage page can say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PRICES_FILE = "prices.json"


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M input tokens
    output: float  # USD per 1M output tokens


# Public list prices (USD / 1M tokens), standard tier.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    "o4-mini": Price(1.10, 4.40),
    "o3": Price(2.0, 8.0),
    "gemini-2.5-pro": Price(1.25, 10.0),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "grok-4": Price(3.0, 15.0),
    "grok-3": Price(3.0, 15.0),
    "grok-3-mini": Price(0.30, 0.50),
}


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, Price]
    overridden: frozenset[str] = frozenset()  # models whose price comes from prices.json
    override_path: Path | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)  # what was wrong with prices.json


def _price_of(entry: object) -> Price:
    if not isinstance(entry, dict):
        raise ValueError('expected {"input": <USD per 1M>, "output": <USD per 1M>}')
    try:
        price = Price(float(entry["input"]), float(entry["output"]))
    except KeyError as exc:
        raise ValueError(f"missing {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ValueError("input and output must be numbers") from None
    if not all(math.isfinite(v) and v >= 0 for v in (price.input, price.output)):
        raise ValueError("prices must be finite and not negative")
    return price


def load_price_table(data_dir: Path | None = None) -> PriceTable:
    """The defaults plus `prices.json` overrides, and a list of problems with that file."""
    prices = dict(DEFAULT_PRICES)
    path = data_dir / PRICES_FILE if data_dir else None
    if not path or not path.is_file():
        return PriceTable(prices)
    problems: list[str] = []
    overridden: set[str] = set()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return PriceTable(prices, override_path=path, problems=(f"could not be read ({exc.__class__.__name__})",))
    except ValueError as exc:
        return PriceTable(prices, override_path=path, problems=(f"is not valid JSON ({exc})",))
    if not isinstance(raw, dict):
        return PriceTable(prices, override_path=path, problems=("must be a JSON object mapping model names to prices",))
    for model, entry in raw.items():
        try:
            prices[str(model)] = _price_of(entry)
            overridden.add(str(model))
        except ValueError as exc:
            problems.append(f"entry {model!r} ignored: {exc}")
    return PriceTable(prices, frozenset(overridden), path, tuple(problems))


def load_prices(data_dir: Path | None = None) -> dict[str, Price]:
    return load_price_table(data_dir).prices


def find_price(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact match, else the longest known prefix ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini")."""
    name = model.removeprefix("models/")  # Gemini lists "models/gemini-..."
    if name in prices:
        return prices[name]
    candidates = [k for k in prices if name.startswith(k + "-")]
    return prices[max(candidates, key=len)] if candidates else None


def unknown_models(models: Iterable[str], prices: dict[str, Price]) -> list[str]:
    """The models (sorted, distinct) that no price entry matches: their costs cannot be estimated."""
    return sorted({m for m in models if m and find_price(m, prices) is None})


def estimate_cost(
    model: str, input_tokens: int | None, output_tokens: int | None, *, local: bool, prices: dict[str, Price] | None = None
) -> float | None:
    if local:
        return 0.0
    price = find_price(model, prices if prices is not None else DEFAULT_PRICES)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
