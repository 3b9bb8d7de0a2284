"""Compare: one prompt over a grid of models, temperatures, top_p values, prompt variants, rows of
`{{variable}}` values and repeated samples, run concurrently and measured side by side.

- `GridSpec` (what the user chose) -> `expand()` -> `GridPlan` (the cells, laid out in columns and
  rows) -> `estimate()` (calls, tokens, cost before running).
- `GridRunner` streams every cell through `ScoredStream` (a `lib.llm.streams.ChatStream` that also keeps
  the streamed tokens' logprobs) on a bounded thread pool. Workers only push events into a queue;
  the consumer (the page's script thread, a test, a benchmark) calls `drain()` and reads `results`.
- `diversity()` says how different a column's answers are; `export_csv` / `export_json` write a run;
  `RunRecord` is a run as saved in the store.

The modules: `grid` (parsing, expansion, estimate), `runner` (streams and results), `metrics`
(diversity), `record` (the saved run and its export); this package exports what pages use.
"""

from lib.compare.grid import (
    AXES,
    MAX_INPUT_ROWS,
    MAX_MODELS,
    MAX_SAMPLES,
    MAX_VARIANTS,
    NO_PROMPT,
    PAGE,
    VARIANT_NAMES,
    Cell,
    GridPlan,
    GridSpec,
    ModelChoice,
    estimate,
    expand,
    find_variables,
    labels,
    parse_inputs,
    parse_values,
    problems,
    render,
)
from lib.compare.metrics import DIVERSITY_NOTE, Diversity, column_diversity, column_texts, distinct_n, diversity, jaccard, words
from lib.compare.record import STATUS_LABELS, ActiveRun, RunRecord, export_csv, export_json, load_run, record_of, save_run
from lib.compare.runner import DONE, ERROR, PENDING, RUNNING, SKIPPED, STOPPED, CellResult, GridRunner, perplexity

__all__ = [
    "ActiveRun",
    "AXES",
    "Cell",
    "CellResult",
    "DIVERSITY_NOTE",
    "DONE",
    "Diversity",
    "ERROR",
    "GridPlan",
    "GridRunner",
    "GridSpec",
    "MAX_INPUT_ROWS",
    "MAX_MODELS",
    "MAX_SAMPLES",
    "MAX_VARIANTS",
    "ModelChoice",
    "NO_PROMPT",
    "PAGE",
    "PENDING",
    "RUNNING",
    "RunRecord",
    "SKIPPED",
    "STATUS_LABELS",
    "STOPPED",
    "VARIANT_NAMES",
    "column_diversity",
    "column_texts",
    "distinct_n",
    "diversity",
    "estimate",
    "expand",
    "export_csv",
    "export_json",
    "find_variables",
    "jaccard",
    "labels",
    "load_run",
    "parse_inputs",
    "parse_values",
    "perplexity",
    "problems",
    "record_of",
    "render",
    "save_run",
    "words",
]
