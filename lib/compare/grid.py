"""What the user chose (`GridSpec`), parsed from the form, expanded into cells (`GridPlan`) and estimated."""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from lib.core.i18n import Msg
from lib.core.pricing import Price, estimate_cost
from lib.llm.chat import ChatParams, estimate_message_tokens
from lib.llm.providers import PROVIDERS

PAGE = "compare"
MAX_MODELS = 4
MAX_VARIANTS = 3
MAX_VALUES = 6  # per numeric axis (temperatures, top_p)
MAX_SAMPLES = 10
MAX_INPUT_ROWS = 10
MAX_CELLS = 64
VARIANT_NAMES = "ABC"
NO_PROMPT = Msg("Write a prompt first.")

# Axes a grid can vary, in the order rows are labelled (their names as shown: `Msg`s).
AXES: dict[str, str] = {
    "model": Msg("Model"),
    "temperature": Msg("Temperature"),
    "top_p": "top_p",
    "variant": Msg("Prompt variant"),
    "input": Msg("Variables row"),
    "sample": Msg("Sample (seed)"),
}


# --- input parsing --------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


def find_variables(*texts: str) -> list[str]:
    """`{{name}}` placeholders in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in _VARIABLE.finditer(text or ""):
            seen.setdefault(match.group(1), None)
    return list(seen)


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each known `{{name}}` replaced by its value (unknown ones are left as typed)."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template or "")


def parse_values(text: str, name: str, lo: float, hi: float) -> tuple[list[float | None], str | None]:
    """(values, problem) from e.g. "0, 0.5, 1.0". Blank means the provider's default (not sent). The
    problem is a `Msg` naming the field by `name` (worded by the caller)."""
    parts = [p for p in re.split(r"[,\s;]+", (text or "").strip()) if p]
    if not parts:
        return [None], None
    values: list[float | None] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            return [], Msg("{name}: '{part}' is not a number.", name=name, part=part)
        if not math.isfinite(value) or not lo <= value <= hi:
            return [], Msg("{name}: {part} is outside {lo}–{hi}.", name=name, part=part, lo=format(lo, "g"), hi=format(hi, "g"))
        if value not in values:  # a repeated value would only repeat cells: use samples for that
            values.append(value)
    if len(values) > MAX_VALUES:
        return [], Msg("{name}: at most {n} values.", name=name, n=MAX_VALUES)
    return values, None


def parse_inputs(text: str, variables: Sequence[str]) -> tuple[list[dict[str, str]], str | None]:
    """Rows of variable values from CSV text whose first line names the variables.

    No variables in the prompt: one empty row. Returns (rows, problem); the problem is a `Msg`."""
    if not variables:
        return [{}], None
    body = (text or "").strip()
    needed = ", ".join(f"{{{{{v}}}}}" for v in variables)
    if not body:
        return [], Msg("The prompt uses {needed}: add a header line naming them and at least one row of values.", needed=needed)
    try:
        table = [row for row in csv.reader(io.StringIO(body)) if any(c.strip() for c in row)]
    except csv.Error as exc:
        return [], Msg("The variables table is not valid CSV ({error}).", error=str(exc))
    header = [h.strip() for h in table[0]]
    missing = [v for v in variables if v not in header]
    if missing:
        return [], Msg(
            "The variables table's first line must name the variables ({variables}); missing: {missing}.",
            variables=", ".join(variables),
            missing=", ".join(missing),
        )
    rows = table[1:]
    if not rows:
        return [], Msg("Add at least one row of values under the header for {needed}.", needed=needed)
    if len(rows) > MAX_INPUT_ROWS:
        return [], Msg("At most {n} rows of variable values.", n=MAX_INPUT_ROWS)
    out: list[dict[str, str]] = []
    for n, row in enumerate(rows, start=2):
        if len(row) != len(header):
            return [], Msg(
                "Line {line} of the variables table has {values} values; the header names {names}.",
                line=n,
                values=len(row),
                names=len(header),
            )
        values = {h: c.strip() for h, c in zip(header, row, strict=True)}
        out.append({v: values[v] for v in variables})
    return out, None


# --- the grid -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    provider: str  # provider id (lib.llm.providers)
    model: str
    label: str = ""  # as shown in column/row headers

    @property
    def name(self) -> str:
        return self.label or self.model


@dataclass(frozen=True)
class GridSpec:
    """Everything a run is made of; saved with the run and enough to run it again."""

    prompt: str
    models: tuple[ModelChoice, ...]
    variants: tuple[str, ...] = ("",)  # system prompts ("" = none)
    temperatures: tuple[float | None, ...] = (None,)
    top_ps: tuple[float | None, ...] = (None,)
    inputs: tuple[dict[str, str], ...] = ({},)  # rows of {{variable}} values
    samples: int = 1
    seed: int | None = None  # sample k (1-based) is sent with seed + k - 1; None: random
    max_tokens: int = 256
    column_axis: str = "temperature"
    persona: str | None = None
    # Saved prompt versions as the variants (issue 24): one per variant, each {"ref": "name@3", "template": …,
    # and its "temperature" / "top_p" when set}; the variant's system prompt is in `variants`. A version's
    # template is its user message ("" = `prompt`); its temperature and top_p apply where the axis is blank.
    versions: tuple[dict[str, Any], ...] = ()
    evals: dict[str, Any] | None = None  # assertions and judge (lib.evals.scoring.EvalSpec.to_dict())
    response_format: dict[str, Any] | None = None  # `response_format` sent with every cell (issue 26)

    def counts(self) -> dict[str, int]:
        return {
            "model": len(self.models),
            "temperature": len(self.temperatures),
            "top_p": len(self.top_ps),
            "variant": len(self.variants),
            "input": len(self.inputs),
            "sample": self.samples,
        }

    def varying(self) -> list[str]:
        """Axes with more than one value, in AXES order."""
        counts = self.counts()
        return [a for a in AXES if counts[a] > 1]

    def total_cells(self) -> int:
        return math.prod(self.counts().values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = [asdict(m) for m in self.models]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GridSpec:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in d.items() if k in known}
        data["models"] = tuple(ModelChoice(**m) for m in d.get("models", ()))
        for name in ("variants", "temperatures", "top_ps", "inputs", "versions"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


def problems(spec: GridSpec) -> list[str]:
    """Why this grid cannot run (empty: it can), as `Msg`s."""
    out: list[str] = []
    if not spec.prompt.strip() and not (spec.versions and all(str(v.get("template") or "").strip() for v in spec.versions)):
        out.append(NO_PROMPT)
    if spec.versions and len(spec.versions) != len(spec.variants):
        out.append(Msg("Each prompt variant needs its version."))
    if not spec.models:
        out.append(Msg("Pick at least one model."))
    if len(spec.models) > MAX_MODELS:
        out.append(Msg("At most {n} models.", n=MAX_MODELS))
    if not 1 <= len(spec.variants) <= MAX_VARIANTS:
        out.append(Msg("Between 1 and {n} prompt variants.", n=MAX_VARIANTS))
    if not 1 <= spec.samples <= MAX_SAMPLES:
        out.append(Msg("Between 1 and {n} samples per cell.", n=MAX_SAMPLES))
    if spec.column_axis not in AXES:
        out.append(Msg("Unknown column axis {axis}.", axis=repr(spec.column_axis)))
    total = spec.total_cells()
    if total > MAX_CELLS:
        out.append(
            Msg("That is {total} calls; a run is limited to {limit}. Drop a value from an axis.", total=total, limit=MAX_CELLS)
        )
    return out


def _num(value: float | None) -> str:
    return Msg("default") if value is None else f"{value:g}"


def _input_label(values: Mapping[str, str]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in values.items())
    return text if len(text) <= 40 else text[:39] + "…"


@dataclass(frozen=True)
class Cell:
    """One call of the grid: where it sits and exactly what is sent."""

    index: int
    row: int
    column: int
    slot: int  # index into GridSpec.models (and the runner's targets)
    provider: str
    model: str
    temperature: float | None
    top_p: float | None
    variant: str  # "A", "B", "C"
    system_prompt: str
    inputs: dict[str, str]
    sample: int  # 1-based
    seed: int | None
    prompt: str  # the user message, variables filled in
    max_tokens: int
    prompt_ref: str = ""  # the saved prompt version this cell ran (`name@version`), if any
    input: int = 0  # which row of variable values (GridSpec.inputs) filled it

    def messages(self) -> list[ChatCompletionMessageParam]:
        system: list[ChatCompletionMessageParam] = (
            [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        )
        return [*system, {"role": "user", "content": self.prompt}]

    def params(self) -> ChatParams:
        return ChatParams(
            model=self.model, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=self.seed
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cell:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def axis_label(spec: GridSpec, axis: str, i: int) -> str:
    """The label of value `i` of an axis: a `Msg` where it is worded (as a `str`, its English)."""
    if axis == "model":
        return spec.models[i].name
    if axis == "temperature":
        return Msg("T={value}", value=_num(spec.temperatures[i]))
    if axis == "top_p":
        return Msg("top_p={value}", value=_num(spec.top_ps[i]))
    if axis == "variant":
        if i < len(spec.versions):
            return str(spec.versions[i].get("ref") or VARIANT_NAMES[i])  # the version it runs: name@3
        return Msg("prompt {name}", name=VARIANT_NAMES[i])
    if axis == "input":
        return _input_label(spec.inputs[i]) or Msg("row 1")
    if axis == "sample":
        if spec.seed is None:
            return Msg("sample {n}", n=i + 1)
        return Msg("sample {n} (seed {seed})", n=i + 1, seed=spec.seed + i)
    raise ValueError(axis)


def labels(spec: GridSpec, column_axis: str) -> tuple[list[str], list[list[str]]]:
    """The column labels and, per row, the labels its varying axes give it (`Msg`s where worded: the
    page shows them in the visitor's language; `expand` keeps their English)."""
    counts = spec.counts()
    col_axis = column_axis if column_axis in AXES else "temperature"
    row_axes = [a for a in AXES if a != col_axis]
    row_varying = [a for a in row_axes if counts[a] > 1]
    columns = [axis_label(spec, col_axis, i) for i in range(counts[col_axis])]
    row_combos = itertools.product(*(range(counts[a]) for a in row_axes))
    rows = [[axis_label(spec, a, combo[row_axes.index(a)]) for a in row_varying] for combo in row_combos]
    return columns, rows


@dataclass(frozen=True)
class GridPlan:
    column_axis: str
    columns: list[str]  # column labels
    rows: list[str]  # row labels ("" when there is a single row)
    cells: list[Cell]  # row-major: row 0's columns first, so a row fills in side by side

    def at(self, row: int, column: int) -> Cell | None:
        for cell in self.cells:
            if cell.row == row and cell.column == column:
                return cell
        return None


def expand(spec: GridSpec) -> GridPlan:
    """Every combination of the axes as a cell: columns are `spec.column_axis`'s values, rows every
    combination of the others (labelled by the axes that vary)."""
    counts = spec.counts()
    col_axis = spec.column_axis if spec.column_axis in AXES else "temperature"
    row_axes = [a for a in AXES if a != col_axis]
    row_combos = list(itertools.product(*(range(counts[a]) for a in row_axes)))
    column_labels, row_labels = labels(spec, col_axis)
    columns = [str(label) for label in column_labels]  # English text, as saved and exported
    rows = [" · ".join(parts) for parts in row_labels]
    cells: list[Cell] = []
    for r, combo in enumerate(row_combos):
        for c in range(counts[col_axis]):
            idx = dict(zip(row_axes, combo, strict=True)) | {col_axis: c}
            choice = spec.models[idx["model"]]
            values = spec.inputs[idx["input"]]
            version = spec.versions[idx["variant"]] if idx["variant"] < len(spec.versions) else {}
            temperature, top_p = spec.temperatures[idx["temperature"]], spec.top_ps[idx["top_p"]]
            cells.append(Cell(
                index=len(cells), row=r, column=c, slot=idx["model"], provider=choice.provider, model=choice.model,
                temperature=version.get("temperature") if temperature is None else temperature,
                top_p=version.get("top_p") if top_p is None else top_p,
                variant=VARIANT_NAMES[idx["variant"]], system_prompt=render(spec.variants[idx["variant"]], values).strip(),
                inputs=dict(values), sample=idx["sample"] + 1,
                seed=None if spec.seed is None else spec.seed + idx["sample"],
                prompt=render(str(version.get("template") or "").strip() or spec.prompt, values).strip(),
                max_tokens=spec.max_tokens, prompt_ref=str(version.get("ref") or ""), input=idx["input"],
            ))  # fmt: skip
    return GridPlan(col_axis, columns, rows, cells)


@dataclass(frozen=True)
class Estimate:
    calls: int
    input_tokens: int  # estimated from the text
    max_output_tokens: int  # the ceiling: calls x max_tokens
    cost_usd: float | None  # at most this (every reply at max_tokens); None when a model has no price
    unpriced: tuple[str, ...]  # models without a known price


def estimate(plan: GridPlan, prices: dict[str, Price] | None = None) -> Estimate:
    """Calls, tokens and the cost ceiling before running (lib.core.pricing, lib.chat.estimate_message_tokens)."""
    total_in = total_out = 0
    cost = 0.0
    unpriced: set[str] = set()
    for cell in plan.cells:
        tokens_in = estimate_message_tokens(cell.messages())
        total_in += tokens_in
        total_out += cell.max_tokens
        provider = PROVIDERS.get(cell.provider)
        one = estimate_cost(cell.model, tokens_in, cell.max_tokens, local=bool(provider and provider.local), prices=prices)
        if one is None:
            unpriced.add(cell.model)
        else:
            cost += one
    return Estimate(len(plan.cells), total_in, total_out, None if unpriced else cost, tuple(sorted(unpriced)))
