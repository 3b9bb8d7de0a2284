"""Prices per million tokens (USD) and cost estimates. Unknown model -> None, local -> 0.

The table can be overridden/extended by `$YOAKE_DATA_DIR/prices.json`:
{"gpt-4.1-mini": {"input": 0.4, "output": 1.6}, ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


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


def load_prices(data_dir: Path | None = None) -> dict[str, Price]:
    prices = dict(DEFAULT_PRICES)
    override = data_dir / "prices.json" if data_dir else None
    if override and override.is_file():
        try:
            raw = json.loads(override.read_text(encoding="utf-8"))
            for model, entry in raw.items():
                prices[str(model)] = Price(float(entry["input"]), float(entry["output"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # a broken override file must not break cost display; the usage page reports it
    return prices


def find_price(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact match, else the longest known prefix ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini")."""
    name = model.removeprefix("models/")  # Gemini lists "models/gemini-..."
    if name in prices:
        return prices[name]
    candidates = [k for k in prices if name.startswith(k + "-")]
    return prices[max(candidates, key=len)] if candidates else None


def estimate_cost(
    model: str, input_tokens: int | None, output_tokens: int | None, *, local: bool, prices: dict[str, Price] | None = None
) -> float | None:
    if local:
        return 0.0
    price = find_price(model, prices if prices is not None else DEFAULT_PRICES)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
