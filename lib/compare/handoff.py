"""A compare cell handed to another page, and a saved run handed back to the form.

- `chat_turns`: the cell as a conversation (its prompt, its answer with the answer's figures) and the
  chat settings that produced it.
- `LogprobsRequest`: the cell's request for the logprobs explorer (typed: that page applies it to its
  own widgets).
- `form_values`: the inverse of the page's grid builder: a saved run's spec as the form's values.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from lib.compare.grid import Cell, GridSpec
from lib.compare.record import RunRecord
from lib.compare.runner import DONE
from lib.conversation.personas import CUSTOM_PERSONA
from lib.conversation.service import ChatSettings, Turn, reply_meta
from lib.llm.chat import ChatResult

LOGPROBS_MAX_TOKENS = 4096  # the explorer's own limit


def chat_turns(record: RunRecord, cell: Cell) -> tuple[list[Turn], ChatSettings]:
    res = record.results[cell.index]
    reply = ChatResult.from_counts(
        res.text, res.input_tokens, res.output_tokens, usage_estimated=res.usage_estimated, resolved_model=res.resolved_model,
        ttft_ms=res.ttft_ms, duration_ms=res.duration_ms, cost_usd=res.cost_usd,
    )  # fmt: skip
    params: dict[str, Any] = {"max_tokens": cell.max_tokens, "seed": "" if cell.seed is None else str(cell.seed)}
    if cell.temperature is not None:
        params["temperature"] = cell.temperature
    if cell.top_p is not None:
        params["top_p"] = cell.top_p
    settings = ChatSettings(
        persona=CUSTOM_PERSONA, system_prompt=cell.system_prompt, provider=cell.provider, model=cell.model, params=params
    )
    turns = [Turn("user", cell.prompt)]
    if res.text:
        meta = reply_meta(reply, cell.model, None, False)
        turns.append(Turn("assistant", res.text, incomplete=res.status != DONE, meta=meta))
    return turns, settings


@dataclass(frozen=True)
class LogprobsRequest:
    provider: str
    model: str
    system: str
    prompt: str
    temperature: float
    max_tokens: int
    seed: str  # as the explorer's seed box holds it ("" = none)

    @classmethod
    def of(cls, cell: Cell) -> LogprobsRequest:
        return cls(
            provider=cell.provider, model=cell.model, system=cell.system_prompt or "", prompt=cell.prompt,
            temperature=float(cell.temperature if cell.temperature is not None else 1.0),
            max_tokens=min(int(cell.max_tokens), LOGPROBS_MAX_TOKENS), seed="" if cell.seed is None else str(cell.seed),
        )  # fmt: skip


def format_inputs(inputs: tuple[dict[str, str], ...]) -> str:
    """`{{variable}}` rows as the CSV the form takes (the inverse of `parse_inputs`)."""
    if not inputs or not inputs[0]:
        return ""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(inputs[0]))
    writer.writerows([list(row.values()) for row in inputs])
    return buf.getvalue()


def form_values(spec: GridSpec) -> dict[str, Any]:
    """The compare form's values (keys without the page's `cmp_` prefix) that build `spec` again."""
    values: dict[str, Any] = {
        "prompt": spec.prompt,
        "n_variants": len(spec.variants),
        "temperatures": ", ".join(f"{t:g}" for t in spec.temperatures if t is not None),
        "top_ps": ", ".join(f"{t:g}" for t in spec.top_ps if t is not None),
        "samples": spec.samples,
        "seed": "" if spec.seed is None else str(spec.seed),
        "max_tokens": spec.max_tokens,
        "columns": spec.column_axis,
        "columns_auto": False,
        "n_models": max(1, len(spec.models)),
    }
    values |= {f"system_{i}": system for i, system in enumerate(spec.variants)}
    if spec.persona:
        values["persona"] = spec.persona
    refs = [str(v.get("ref") or "") for v in spec.versions]
    values["use_versions"] = bool(refs)
    if refs:  # saved prompt versions as the variants: `name@3` (the form finds them again by name)
        values |= {"pv_name": refs[0].rpartition("@")[0], "pv_refs": refs}
    if inputs := format_inputs(spec.inputs):
        values["vars"] = inputs
    for i, m in enumerate(spec.models):
        values |= {f"m{i}_provider": m.provider, f"m{i}_model": m.model}
    return values
