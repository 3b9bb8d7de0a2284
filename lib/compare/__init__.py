"""Compare: one prompt over a grid of models, temperatures, top_p values, prompt variants, rows of
`{{variable}}` values and repeated samples, run concurrently and measured side by side.

- `GridSpec` (what the user chose) -> `expand()` -> `GridPlan` (the cells, laid out in columns and
  rows) -> `estimate()` (calls, tokens, cost before running).
- `GridRunner` streams every cell through `ScoredStream` (a `lib.streams.ChatStream` that also keeps
  the streamed tokens' logprobs) on a bounded thread pool. Workers only push events into a queue;
  the consumer (the page's script thread, a test, a benchmark) calls `drain()` and reads `results`.
- `diversity()` says how different a column's answers are; `export_csv` / `export_json` write a run;
  `RunRecord` is a run as saved in the store.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from lib.conversation.service import Target
from lib.core.errors import describe_error
from lib.core.pricing import Price, estimate_cost
from lib.core.text import CJK_CHARS
from lib.llm.chat import ChatParams, estimate_message_tokens
from lib.llm.providers import PROVIDERS
from lib.llm.streams import ChatStream
from lib.storage.store import Store

PAGE = "compare"
MAX_MODELS = 4
MAX_VARIANTS = 3
MAX_VALUES = 6  # per numeric axis (temperatures, top_p)
MAX_SAMPLES = 10
MAX_INPUT_ROWS = 10
MAX_CELLS = 64
VARIANT_NAMES = "ABC"
NO_PROMPT = "Write a prompt first."

# Axes a grid can vary, in the order rows are labelled.
AXES: dict[str, str] = {
    "model": "Model",
    "temperature": "Temperature",
    "top_p": "top_p",
    "variant": "Prompt variant",
    "input": "Variables row",
    "sample": "Sample (seed)",
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
    """(values, problem) from e.g. "0, 0.5, 1.0". Blank means the provider's default (not sent)."""
    parts = [p for p in re.split(r"[,\s;]+", (text or "").strip()) if p]
    if not parts:
        return [None], None
    values: list[float | None] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            return [], f"{name}: '{part}' is not a number."
        if not math.isfinite(value) or not lo <= value <= hi:
            return [], f"{name}: {part} is outside {lo:g}–{hi:g}."
        if value not in values:  # a repeated value would only repeat cells: use samples for that
            values.append(value)
    if len(values) > MAX_VALUES:
        return [], f"{name}: at most {MAX_VALUES} values."
    return values, None


def parse_inputs(text: str, variables: Sequence[str]) -> tuple[list[dict[str, str]], str | None]:
    """Rows of variable values from CSV text whose first line names the variables.

    No variables in the prompt: one empty row. Returns (rows, problem)."""
    if not variables:
        return [{}], None
    body = (text or "").strip()
    needed = ", ".join(f"{{{{{v}}}}}" for v in variables)
    if not body:
        return [], f"The prompt uses {needed}: add a header line naming them and at least one row of values."
    try:
        table = [row for row in csv.reader(io.StringIO(body)) if any(c.strip() for c in row)]
    except csv.Error as exc:
        return [], f"The variables table is not valid CSV ({exc})."
    header = [h.strip() for h in table[0]]
    missing = [v for v in variables if v not in header]
    if missing:
        return [], (
            f"The variables table's first line must name the variables ({', '.join(variables)}); missing: {', '.join(missing)}."
        )
    rows = table[1:]
    if not rows:
        return [], f"Add at least one row of values under the header for {needed}."
    if len(rows) > MAX_INPUT_ROWS:
        return [], f"At most {MAX_INPUT_ROWS} rows of variable values."
    out: list[dict[str, str]] = []
    for n, row in enumerate(rows, start=2):
        if len(row) != len(header):
            return [], f"Line {n} of the variables table has {len(row)} values; the header names {len(header)}."
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
        for name in ("variants", "temperatures", "top_ps", "inputs"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


def problems(spec: GridSpec) -> list[str]:
    """Why this grid cannot run (empty: it can)."""
    out: list[str] = []
    if not spec.prompt.strip():
        out.append(NO_PROMPT)
    if not spec.models:
        out.append("Pick at least one model.")
    if len(spec.models) > MAX_MODELS:
        out.append(f"At most {MAX_MODELS} models.")
    if not 1 <= len(spec.variants) <= MAX_VARIANTS:
        out.append(f"Between 1 and {MAX_VARIANTS} prompt variants.")
    if not 1 <= spec.samples <= MAX_SAMPLES:
        out.append(f"Between 1 and {MAX_SAMPLES} samples per cell.")
    if spec.column_axis not in AXES:
        out.append(f"Unknown column axis {spec.column_axis!r}.")
    total = spec.total_cells()
    if total > MAX_CELLS:
        out.append(f"That is {total} calls; a run is limited to {MAX_CELLS}. Drop a value from an axis.")
    return out


def _num(value: float | None) -> str:
    return "default" if value is None else f"{value:g}"


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
    if axis == "model":
        return spec.models[i].name
    if axis == "temperature":
        return f"T={_num(spec.temperatures[i])}"
    if axis == "top_p":
        return f"top_p={_num(spec.top_ps[i])}"
    if axis == "variant":
        return f"prompt {VARIANT_NAMES[i]}"
    if axis == "input":
        return _input_label(spec.inputs[i]) or "row 1"
    if axis == "sample":
        return f"sample {i + 1}" + (f" (seed {spec.seed + i})" if spec.seed is not None else "")
    raise ValueError(axis)


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
    row_varying = [a for a in row_axes if counts[a] > 1]
    columns = [axis_label(spec, col_axis, i) for i in range(counts[col_axis])]
    row_combos = list(itertools.product(*(range(counts[a]) for a in row_axes)))
    rows = [" · ".join(axis_label(spec, a, combo[row_axes.index(a)]) for a in row_varying) for combo in row_combos]
    cells: list[Cell] = []
    for r, combo in enumerate(row_combos):
        for c in range(counts[col_axis]):
            idx = dict(zip(row_axes, combo, strict=True)) | {col_axis: c}
            choice = spec.models[idx["model"]]
            values = spec.inputs[idx["input"]]
            cells.append(Cell(
                index=len(cells), row=r, column=c, slot=idx["model"], provider=choice.provider, model=choice.model,
                temperature=spec.temperatures[idx["temperature"]], top_p=spec.top_ps[idx["top_p"]],
                variant=VARIANT_NAMES[idx["variant"]], system_prompt=render(spec.variants[idx["variant"]], values).strip(),
                inputs=dict(values), sample=idx["sample"] + 1,
                seed=None if spec.seed is None else spec.seed + idx["sample"],
                prompt=render(spec.prompt, values).strip(), max_tokens=spec.max_tokens,
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


# --- one cell's stream ----------------------------------------------------------------------------


class ScoredStream(ChatStream):
    """A ChatStream (same request, usage log and result) that also keeps the logprob of every streamed
    token when the request asked for them (`logprobs=True`), for the reply's perplexity."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_logprobs: list[float] = []

    def on_chunk(self, chunk: ChatCompletionChunk) -> None:
        for choice in chunk.choices[:1]:
            if choice.logprobs and choice.logprobs.content:
                self.token_logprobs.extend(t.logprob for t in choice.logprobs.content)

    @property
    def perplexity(self) -> float | None:
        return perplexity(self.token_logprobs)


def perplexity(logprobs: Sequence[float]) -> float | None:
    """exp(-mean logprob): 1 when every token was certain; None without logprobs."""
    finite = [lp for lp in logprobs if math.isfinite(lp)]
    return math.exp(-sum(finite) / len(finite)) if finite else None


def _rejects_logprobs(exc: BaseException) -> bool:
    return isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)) and "logprob" in str(exc).lower()


# --- results --------------------------------------------------------------------------------------

PENDING, RUNNING, DONE, ERROR, STOPPED, SKIPPED = "pending", "running", "done", "error", "stopped", "skipped"


@dataclass
class CellResult:
    """What a cell produced. Live fields (status, text, live_tokens) change as events are drained."""

    index: int
    status: str = PENDING
    text: str = ""
    resolved_model: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    usage_estimated: bool = False
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens_per_s: float | None = None
    cost_usd: float | None = None
    perplexity: float | None = None
    logprob_tokens: int = 0
    error_kind: str | None = None
    error: str | None = None  # page text of the failure (redacted by the page's formatter)
    # live only (not saved)
    live_tokens: int = 0  # deltas received (about one token each)
    started: float | None = None
    first_at: float | None = None
    last_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in (DONE, ERROR, STOPPED, SKIPPED)

    def live_rate(self) -> float | None:
        """Tokens/s while streaming: deltas after the first over the time since it arrived."""
        if self.first_at is None or self.last_at is None or self.live_tokens < 2:
            return None
        span = self.last_at - self.first_at
        return (self.live_tokens - 1) / span if span > 0 else None

    def metrics(self) -> dict[str, Any]:
        keys = (
            "resolved_model",
            "finish_reason",
            "input_tokens",
            "output_tokens",
            "usage_estimated",
            "ttft_ms",
            "duration_ms",
            "tokens_per_s",
            "cost_usd",
            "perplexity",
            "logprob_tokens",
            "error_kind",
        )
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_saved(cls, index: int, status: str, text: str, metrics: Mapping[str, Any], error: str | None) -> CellResult:
        known = {f.name for f in fields(cls)} - {"index", "status", "text", "error"}
        return cls(index=index, status=status, text=text, error=error, **{k: v for k, v in metrics.items() if k in known})


def _default_error_text(exc: BaseException, cell: Cell) -> str:
    err = describe_error(exc)
    return f"**{err.title}** {err.detail}"


@dataclass
class _Event:
    kind: str  # start, delta, end
    index: int
    at: float
    text: str = ""
    result: CellResult | None = None
    exc: BaseException | None = None


class GridRunner:
    """Runs a plan's cells on a bounded pool of threads, each through a ScoredStream.

    Workers never touch the consumer's state: they put events in a queue, and `drain()` (called from
    one consumer thread, e.g. the Streamlit script thread every ~0.1 s) applies them to `results`.
    `stop()` sets an event the workers check after every delta: a streaming cell is closed (its call
    is logged with what arrived), cells not started are skipped.
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        targets: Sequence[Target],
        *,
        workers: int = 4,
        logprobs: bool = True,
        error_text: Callable[[BaseException, Cell], str] | None = None,
    ) -> None:
        self.cells = list(cells)
        self.targets = list(targets)
        self.workers = max(1, workers)
        self.logprobs = logprobs
        self.error_text = error_text or _default_error_text
        self.results = [CellResult(c.index) for c in self.cells]
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self._no_logprobs: set[int] = set()  # target slots that rejected `logprobs`
        self._pool: ThreadPoolExecutor | None = None
        self._open = len(self.cells)  # cells without an applied `end` event
        self.started_at: float | None = None
        self.ended_at: float | None = None

    # --- consumer side --------------------------------------------------------------------------

    def start(self) -> GridRunner:
        if self._pool is None:
            self.started_at = time.monotonic()
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="yoake-compare")
            for cell in self.cells:
                self._pool.submit(self._work, cell)
            self._pool.shutdown(wait=False)  # threads exit once the queue of cells is done
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def finished(self) -> bool:
        return self._open == 0

    def drain(self, timeout: float = 0.1) -> set[int]:
        """Apply the events that arrive within `timeout` seconds (returns at once when the run is
        over); the indices of the cells that changed."""
        changed: set[int] = set()
        deadline = time.monotonic() + timeout
        while not self.finished:
            wait = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
            except queue.Empty:
                break
            self._apply(event)
            changed.add(event.index)
        if self.finished and self.ended_at is None:
            self.ended_at = time.monotonic()
        return changed

    def run(self, timeout: float = 0.1) -> list[CellResult]:
        """Start and drain until every cell has ended (for callers without a UI)."""
        self.start()
        while not self.finished:
            self.drain(timeout)
        return self.results

    def _apply(self, event: _Event) -> None:
        res = self.results[event.index]
        if event.kind == "start":
            res.status, res.started = RUNNING, event.at
        elif event.kind == "delta":
            res.text += event.text
            res.live_tokens += 1
            res.first_at = res.first_at if res.first_at is not None else event.at
            res.last_at = event.at
        elif event.kind == "end" and event.result is not None:
            final = event.result
            final.started, final.first_at, final.last_at = res.started, res.first_at, res.last_at
            final.live_tokens = res.live_tokens
            if event.exc is not None:
                final.error = self.error_text(event.exc, self.cells[event.index])
            self.results[event.index] = final
            self._open -= 1

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    # --- worker side ------------------------------------------------------------------------------

    def _put(self, kind: str, index: int, **kw: Any) -> None:
        self._events.put(_Event(kind, index, time.monotonic(), **kw))

    def _work(self, cell: Cell) -> None:
        if self._stop.is_set():
            self._put("end", cell.index, result=CellResult(cell.index, SKIPPED))
            return
        self._put("start", cell.index)
        try:
            result, exc = self._stream(cell)
        except BaseException as unexpected:  # never leave the consumer waiting for an `end`
            result, exc = CellResult(cell.index, ERROR, error_kind=describe_error(unexpected).kind), unexpected
        self._put("end", cell.index, result=result, exc=exc)

    def _stream(self, cell: Cell) -> tuple[CellResult, BaseException | None]:
        target = self.targets[cell.slot]
        want = self.logprobs and target.provider.supports_logprobs and cell.slot not in self._no_logprobs
        extra: dict[str, Any] = {"logprobs": True, "top_logprobs": 1} if want else {}
        stream = ScoredStream(target.client, cell.messages(), cell.params(), target.ctx, **extra)
        it = iter(stream)
        stopped = False
        exc: BaseException | None = None
        try:
            for delta in it:
                self._put("delta", cell.index, text=delta)
                if self._stop.is_set():
                    stopped = True
                    break
        except Exception as err:  # the SDK's errors: recorded on the cell, the other cells go on
            exc = err
        finally:
            it.close()  # a stopped stream logs its partial call here
        if exc is not None and want and not stream.result.text and _rejects_logprobs(exc):
            self._no_logprobs.add(cell.slot)  # this model takes no logprobs: ask without (a second, logged call)
            return self._stream(cell)
        return self._result(cell, stream, stopped, exc), exc

    @staticmethod
    def _result(cell: Cell, stream: ScoredStream, stopped: bool, exc: BaseException | None) -> CellResult:
        res = stream.result
        usage = res.usage
        status = ERROR if exc is not None else STOPPED if stopped else DONE
        return CellResult(
            index=cell.index, status=status, text=res.text, resolved_model=res.resolved_model,
            finish_reason=res.finish_reason, input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None, usage_estimated=res.usage_estimated,
            ttft_ms=res.ttft_ms, duration_ms=res.duration_ms, tokens_per_s=res.tokens_per_s, cost_usd=res.cost_usd,
            perplexity=stream.perplexity, logprob_tokens=len(stream.token_logprobs), error_kind=res.error_kind,
        )  # fmt: skip


# --- how different are a column's answers ----------------------------------------------------------

_WORD = re.compile(rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+")

DIVERSITY_NOTE = (
    "distinct-n: unique word n-grams ÷ all n-grams over the column's answers (higher = more varied; "
    "1.0 = nothing repeats) · similarity: mean token-set Jaccard over every pair of answers "
    "(1.0 = same words) · identical: answers exactly alike, grouped."
)


def words(text: str) -> list[str]:
    """Lower-cased words (a CJK character counts as one word); punctuation is dropped."""
    return _WORD.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Unique n-grams / all n-grams across the texts (None when there is no n-gram at all)."""
    grams = [tuple(toks[i : i + n]) for toks in map(words, texts) for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def jaccard(a: str, b: str) -> float:
    sa, sb = set(words(a)), set(words(b))
    return 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)


@dataclass(frozen=True)
class Diversity:
    samples: int
    distinct_1: float | None
    distinct_2: float | None
    similarity: float | None  # mean pairwise Jaccard; None with fewer than 2 answers
    identical: tuple[int, ...]  # sizes of the groups of identical answers (2+), largest first

    @property
    def identical_answers(self) -> int:
        return sum(self.identical)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"identical_answers": self.identical_answers}


def diversity(texts: Sequence[str]) -> Diversity:
    texts = list(texts)
    pairs = list(itertools.combinations(texts, 2))
    groups = Counter(t.strip() for t in texts)
    return Diversity(
        samples=len(texts),
        distinct_1=distinct_n(texts, 1),
        distinct_2=distinct_n(texts, 2),
        similarity=sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else None,
        identical=tuple(sorted((c for c in groups.values() if c > 1), reverse=True)),
    )


def column_texts(plan: GridPlan, results: Sequence[CellResult], column: int) -> list[str]:
    """The answers a column's diversity is measured on: its cells that finished without an error or a stop."""
    return [results[c.index].text for c in plan.cells if c.column == column and results[c.index].status == DONE]


def column_diversity(plan: GridPlan, results: Sequence[CellResult]) -> list[Diversity]:
    return [diversity(column_texts(plan, results, j)) for j in range(len(plan.columns))]


# --- a saved run ------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run as saved: its spec, layout, and each cell with its result."""

    spec: GridSpec
    plan: GridPlan
    results: list[CellResult]
    status: str = "complete"  # complete / stopped
    id: str | None = None
    created_at: float = field(default_factory=time.time)
    elapsed_s: float | None = None

    @property
    def title(self) -> str:
        return title_of(self.spec)

    def cell_rows(self) -> list[dict[str, Any]]:
        """What the store keeps per cell."""
        return [
            {"index": c.index, "cell": c.to_dict(), "text": r.text, "status": r.status, "metrics": r.metrics(), "error": r.error}
            for c, r in zip(self.plan.cells, self.results, strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "columns": self.plan.columns,
            "rows": self.plan.rows,
            "column_axis": self.plan.column_axis,
            "elapsed_s": self.elapsed_s,
            "calls": len(self.plan.cells),
            "failed": sum(r.status == ERROR for r in self.results),
        }

    @classmethod
    def from_stored(
        cls,
        run_id: str,
        created_at: float,
        status: str,
        spec: Mapping[str, Any],
        summary: Mapping[str, Any],
        cells: Sequence[Mapping[str, Any]],
    ) -> RunRecord:
        grid = GridSpec.from_dict(spec)
        ordered = sorted(cells, key=lambda c: c["index"])
        plan_cells = [Cell.from_dict(c["cell"]) for c in ordered]
        results = [
            CellResult.from_saved(c["index"], c["status"], c["text"], c.get("metrics") or {}, c.get("error")) for c in ordered
        ]
        plan = GridPlan(
            summary.get("column_axis", grid.column_axis),
            list(summary.get("columns", [])),
            list(summary.get("rows", [])),
            plan_cells,
        )
        return cls(grid, plan, results, status, run_id, created_at, summary.get("elapsed_s"))


def save_run(store: Store, record: RunRecord) -> str:
    record.id = store.save_compare_run(
        title=record.title,
        status=record.status,
        spec=record.spec.to_dict(),
        summary=record.summary(),
        cells=record.cell_rows(),
        created_at=record.created_at,
    )
    return record.id


def load_run(store: Store, run_id: str) -> RunRecord | None:
    stored = store.get_compare_run(run_id)
    if stored is None:
        return None
    return RunRecord.from_stored(stored.id, stored.created_at, stored.status, stored.spec, stored.summary, stored.cells)


def title_of(spec: GridSpec) -> str:
    line = " ".join(spec.prompt.split())
    return line if len(line) <= 60 else line[:59] + "…"


def record_of(spec: GridSpec, plan: GridPlan, runner: GridRunner) -> RunRecord:
    results = [replace(r) for r in runner.results]
    status = "stopped" if runner.stopping or any(r.status in (STOPPED, SKIPPED) for r in results) else "complete"
    return RunRecord(spec, plan, results, status, elapsed_s=round(runner.elapsed(), 3))


# --- export ---------------------------------------------------------------------------------------

EXPORT_FORMAT = "yoake.compare"
CSV_FIELDS = (
    "index",
    "row",
    "column",
    "row_label",
    "column_label",
    "provider",
    "model",
    "temperature",
    "top_p",
    "variant",
    "system_prompt",
    "inputs",
    "sample",
    "seed",
    "prompt",
    "max_tokens",
    "status",
    "text",
    "resolved_model",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "usage_estimated",
    "ttft_ms",
    "duration_ms",
    "tokens_per_s",
    "cost_usd",
    "perplexity",
    "error_kind",
    "error",
)


def export_rows(record: RunRecord) -> list[dict[str, Any]]:
    """One flat row per cell: its axes, the text and its metrics."""
    rows = []
    for cell, res in zip(record.plan.cells, record.results, strict=True):
        row = cell.to_dict() | res.metrics() | {"status": res.status, "text": res.text, "error": res.error}
        row["row_label"] = record.plan.rows[cell.row] if cell.row < len(record.plan.rows) else ""
        row["column_label"] = record.plan.columns[cell.column] if cell.column < len(record.plan.columns) else ""
        rows.append({k: row.get(k) for k in CSV_FIELDS})
    return rows


def export_csv(record: RunRecord) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in export_rows(record):
        writer.writerow(row | {"inputs": json.dumps(row["inputs"], ensure_ascii=False) if row["inputs"] else ""})
    return buf.getvalue()


def export_json(record: RunRecord) -> str:
    cols = column_diversity(record.plan, record.results)
    doc = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "run": {
            "id": record.id,
            "created_at": record.created_at,
            "status": record.status,
            "elapsed_s": record.elapsed_s,
            "spec": record.spec.to_dict(),
        },
        "columns": [{"label": label} | d.as_dict() for label, d in zip(record.plan.columns, cols, strict=True)],
        "cells": export_rows(record),
    }
    return json.dumps(doc, ensure_ascii=False, indent=1)
