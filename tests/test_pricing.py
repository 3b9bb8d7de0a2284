"""Price table: defaults, prices.json overrides, problems reported, unknown models listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.core.pricing import DEFAULT_PRICES, Price, estimate_cost, find_price, load_price_table, load_prices, unknown_models


def test_defaults_without_override_file(tmp_path: Path) -> None:
    table = load_price_table(tmp_path)
    assert table.prices == DEFAULT_PRICES and not table.overridden and not table.problems
    assert load_prices(None) == DEFAULT_PRICES


def test_override_changes_and_adds_prices(tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text(
        json.dumps({"gpt-4o-mini": {"input": 1, "output": 2}, "my-model": {"input": 0.5, "output": 0}})
    )
    table = load_price_table(tmp_path)
    assert table.prices["gpt-4o-mini"] == Price(1.0, 2.0) and table.prices["my-model"] == Price(0.5, 0.0)
    assert table.overridden == {"gpt-4o-mini", "my-model"} and not table.problems
    assert table.prices["gpt-4.1"] == DEFAULT_PRICES["gpt-4.1"]
    assert estimate_cost("my-model", 2_000_000, 5, local=False, prices=table.prices) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_broken_override_file_is_reported_and_defaults_kept(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "prices.json").write_text(content)
    table = load_price_table(tmp_path)
    assert table.prices == DEFAULT_PRICES
    assert len(table.problems) == 1 and needle in table.problems[0]


def test_bad_entries_are_reported_and_good_ones_still_apply(tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text(
        json.dumps(
            {
                "a": {"input": 1, "output": 1},
                "b": {"input": 1},
                "c": {"input": "cheap", "output": 1},
                "d": {"input": -1, "output": 1},
                "e": 3,
                "f": {"input": 2, "output": 3},
            }
        )
    )
    table = load_price_table(tmp_path)
    assert table.overridden == {"a", "f"}
    assert [p.split(" ")[1] for p in table.problems] == ["'b'", "'c'", "'d'", "'e'"]
    assert "missing 'output'" in table.problems[0] and "not negative" in table.problems[2]


def test_unknown_models_and_prefix_match() -> None:
    assert find_price("models/gemini-2.5-flash", DEFAULT_PRICES) == DEFAULT_PRICES["gemini-2.5-flash"]
    assert find_price("gpt-4.1-mini-2025-04-14", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4.1-mini"]
    assert unknown_models(["gpt-4o", "my-finetune", "gpt-4o-2024-08-06", "my-finetune", "", "zzz"], DEFAULT_PRICES) == [
        "my-finetune",
        "zzz",
    ]
