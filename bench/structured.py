"""Benchmark: structured output on the embedded model.

1. Generation speed with a JSON schema ÷ the same request without it, interleaved (schema, plain,
   schema, plain, ...) at temperature 0 with a fixed seed: the schema reply ends with its document, the
   plain one is made to generate as many tokens (`ignore_eos`); llama-server's own
   `timings.predicted_per_second`; the figure is the median of the pairs' ratios. Target: ≥ 0.8.
2. Per-field confidence (`lib.structured.confidence.field_confidence`) of a ~2,000-token JSON reply the
   model wrote under a schema (an array of records, Japanese and English values), with logprobs:
   median of repeated runs. Target: ≤ 20 ms.

Last line: `structured: <ratio>`.
Usage: .venv/bin/python bench/structured.py [--small]   (--small: one pair of 8 tokens, a one-record reply (~60 tokens),
one timing round)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from lib.engine.server import LocalServer  # noqa: E402
from lib.logprobs import build_table  # noqa: E402
from lib.structured.confidence import field_confidence  # noqa: E402
from lib.structured.schema import example, parse_reply  # noqa: E402

SMALL = "--small" in sys.argv[1:]
PAIRS = 1 if SMALL else 8
TOKENS = 8 if SMALL else 256
RECORDS = 1 if SMALL else 37  # about 55 tokens a record (the model indents generously): ~2,000 tokens
ROUNDS = 1 if SMALL else 25

RECORD = {
    "type": "object",
    "properties": {
        "品名": {"type": "string", "maxLength": 12},
        "name": {"type": "string", "maxLength": 16},
        "qty": {"type": "integer", "minimum": 0, "maximum": 999},
        "in_stock": {"type": "boolean"},
    },
    "required": ["品名", "name", "qty", "in_stock"],
    "additionalProperties": False,
}
LIST_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": RECORD, "minItems": RECORDS, "maxItems": RECORDS}},
    "required": ["items"],
    "additionalProperties": False,
}


def speed(client: openai.OpenAI, model: str, schema: dict | None, tokens: int) -> tuple[float, int]:
    """(tokens/s of generation, tokens generated). With a schema the reply ends where the grammar does
    (generation cannot go past a complete document); without, exactly `tokens` are generated."""
    extra: dict = {"cache_prompt": False}
    if schema:
        kwargs: dict = {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}
    else:
        kwargs, extra = {}, extra | {"ignore_eos": True}
    done = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Describe a customer's order as JSON."}],
        temperature=0.0,
        seed=1,
        max_tokens=tokens,
        extra_body=extra,
        **kwargs,
    )
    timings = (done.model_extra or {})["timings"]
    return float(timings["predicted_per_second"]), int(timings["predicted_n"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalServer(log_path=Path(tmp) / "llama.log") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", timeout=600)
        schema = example("form").schema
        speed(client, server.alias, schema, TOKENS)  # warm-up (the grammar's first build, the prompt's first pass)
        with_schema, without = [], []
        for _ in range(PAIRS):
            tps, n = speed(client, server.alias, schema, TOKENS)
            with_schema.append(tps)
            without.append(speed(client, server.alias, None, n)[0])  # the same number of tokens, unconstrained
        # Each pair ran back to back, so it saw the same load: the median of the pairs' ratios.
        ratio = statistics.median(a / b for a, b in zip(with_schema, without, strict=True))
        print(
            f"tokens/s with the form schema: median {statistics.median(with_schema):.1f} (runs {', '.join(f'{v:.0f}' for v in with_schema)})"
        )
        print(
            f"tokens/s without a schema:     median {statistics.median(without):.1f} (runs {', '.join(f'{v:.0f}' for v in without)})"
        )

        reply = client.chat.completions.create(
            model=server.alias,
            messages=[{"role": "user", "content": "在庫の一覧をJSONで書いてください。List the stock as JSON."}],
            temperature=0.7,
            seed=2,
            max_tokens=RECORDS * 150,
            logprobs=True,
            top_logprobs=5,
            response_format={"type": "json_schema", "json_schema": {"name": "stock", "schema": LIST_SCHEMA}},
        )
        choice = reply.choices[0]
        text = choice.message.content or ""
        content = list(choice.logprobs.content or []) if choice.logprobs else []
        parsed = parse_reply(text, LIST_SCHEMA, finish_reason=choice.finish_reason)
        table = build_table(content, 5)
        times, fields = [], None
        for _ in range(ROUNDS):
            start = time.perf_counter()
            fields = field_confidence(table, text)
            times.append((time.perf_counter() - start) * 1000)
        assert fields is not None, "the tokens do not spell the reply"
        assert all(f.token_text == f.text for f in fields)
        print(
            f"JSON reply: {len(content)} tokens, {len(fields)} fields, valid={parsed.valid}; "
            f"field confidence median {statistics.median(times):.2f} ms (target ≤ 20 ms)"
        )
        print(f"structured: {ratio:.3f}")


if __name__ == "__main__":
    main()
