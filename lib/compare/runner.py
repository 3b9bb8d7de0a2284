"""Running a grid: every cell streamed through `ScoredStream` on a bounded pool of threads; workers only
push events, the consumer drains them into `results`."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from lib.compare.grid import Cell
from lib.conversation.service import Target
from lib.core.errors import describe_error
from lib.core.i18n import Msg
from lib.llm.streams import ChatStream
from lib.structured.request import cell_figures

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
# What a finished cell measured: saved with the run, exported, shown in its caption.
METRICS = (
    "resolved_model", "finish_reason", "input_tokens", "output_tokens", "usage_estimated", "ttft_ms",
    "duration_ms", "tokens_per_s", "cost_usd", "perplexity", "logprob_tokens", "error_kind", "verdicts",
    "schema_valid", "field_confidence",
)  # fmt: skip


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
    verdicts: dict[str, dict] = field(default_factory=dict)  # judge verdicts by assertion key (lib.evals)
    schema_valid: bool | None = None  # with a response format: the answer parses (and matches the schema)
    field_confidence: float | None = None  # mean joint probability of its JSON fields (with logprobs)
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
        return {k: getattr(self, k) for k in METRICS}

    @classmethod
    def from_saved(cls, index: int, status: str, text: str, metrics: Mapping[str, Any], error: str | None) -> CellResult:
        known = {f.name for f in fields(cls)} - {"index", "status", "text", "error"}
        return cls(index=index, status=status, text=text, error=error, **{k: v for k, v in metrics.items() if k in known})


def _default_error_text(exc: BaseException, cell: Cell) -> str:
    err = describe_error(exc)
    return Msg("**{title}** {detail}", title=err.title, detail=err.detail)


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
        response_format: dict[str, Any] | None = None,
    ) -> None:
        self.response_format = response_format
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
        if self.response_format:
            extra["response_format"] = self.response_format
        ctx = replace(target.ctx, prompt=cell.prompt_ref or None)  # a saved prompt version's calls are logged with it
        stream = ScoredStream(target.client, cell.messages(), cell.params(), ctx, **extra)
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
        result = self._result(cell, stream, stopped, exc)
        if self.response_format and result.status == DONE:
            result.schema_valid, result.field_confidence = cell_figures(stream.result, self.response_format)
        return result, exc

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
