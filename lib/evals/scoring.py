"""A compare run scored: which assertions apply to which cell (`EvalSpec`, saved in the grid's spec),
each cell's score, each column's pass rate with its interval, and two columns tested against each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.compare.grid import Cell, GridPlan, GridSpec
from lib.compare.runner import DONE, CellResult
from lib.core.i18n import Msg
from lib.evals.assertions import Assertion, CellScore, Output, Verdict, score_cell
from lib.evals.stats import Paired, paired, wilson

ALPHA = 0.05


@dataclass(frozen=True)
class EvalSpec:
    """The assertions of a grid: for every row, per variables row, and the rows' pass thresholds
    (None: every assertion must pass); the judge for `llm-rubric` (a provider id and model)."""

    assertions: tuple[Assertion, ...] = ()
    rows: tuple[tuple[Assertion, ...], ...] = ()  # per variables row (GridSpec.inputs' order)
    thresholds: tuple[float | None, ...] = ()  # per variables row; None: `threshold`
    threshold: float | None = None
    judge_provider: str = ""
    judge_model: str = ""

    @property
    def empty(self) -> bool:
        return not self.assertions and not any(self.rows)

    def for_row(self, row: int) -> tuple[list[Assertion], float | None]:
        own = list(self.rows[row]) if 0 <= row < len(self.rows) else []
        threshold = self.thresholds[row] if 0 <= row < len(self.thresholds) else None
        return [*self.assertions, *own], self.threshold if threshold is None else threshold

    @property
    def judged(self) -> bool:
        return any(a.judged for a in self.assertions) or any(a.judged for row in self.rows for a in row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assertions": [a.to_dict() for a in self.assertions],
            "rows": [[a.to_dict() for a in row] for row in self.rows],
            "thresholds": list(self.thresholds),
            "threshold": self.threshold,
            "judge": {"provider": self.judge_provider, "model": self.judge_model},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> EvalSpec:
        if not d:
            return cls()
        judge = d.get("judge") or {}
        return cls(
            assertions=tuple(Assertion.from_dict(a) for a in d.get("assertions") or ()),
            rows=tuple(tuple(Assertion.from_dict(a) for a in row) for row in d.get("rows") or ()),
            thresholds=tuple(d.get("thresholds") or ()),
            threshold=d.get("threshold"),
            judge_provider=str(judge.get("provider") or ""),
            judge_model=str(judge.get("model") or ""),
        )


def evals_of(spec: GridSpec) -> EvalSpec:
    return EvalSpec.from_dict(getattr(spec, "evals", None))


def input_row(spec: GridSpec, cell: Cell) -> int:
    """The variables row a cell was filled from."""
    return cell.input if 0 <= cell.input < len(spec.inputs) else 0


def assertions_for(spec: GridSpec, evals: EvalSpec, cell: Cell) -> tuple[list[Assertion], float | None]:
    return evals.for_row(input_row(spec, cell))


def output_of(res: CellResult) -> Output:
    return Output(res.text, res.duration_ms, res.cost_usd, res.perplexity)


def verdicts_of(res: CellResult) -> dict[str, Verdict]:
    return {k: Verdict.from_dict(v) for k, v in (getattr(res, "verdicts", None) or {}).items()}


def score_results(
    spec: GridSpec, plan: GridPlan, results: Sequence[CellResult], evals: EvalSpec | None = None
) -> list[CellScore | None]:
    """Each cell's score (None: not finished, or no assertion applies). Deterministic assertions are
    checked here, `llm-rubric` grades come from the judge's verdicts kept on the result."""
    evals = evals if evals is not None else evals_of(spec)
    if evals.empty:
        return [None] * len(plan.cells)
    out: list[CellScore | None] = []
    for cell in plan.cells:
        res = results[cell.index]
        if res.status != DONE:
            out.append(None)
            continue
        assertions, threshold = assertions_for(spec, evals, cell)
        verdicts = verdicts_of(res)
        out.append(score_cell(assertions, output_of(res), threshold, lambda a, v=verdicts: v.get(a.key)))
    return out


@dataclass(frozen=True)
class ColumnScore:
    scored: int
    passed: int
    interval: tuple[float, float] | None  # Wilson 95 %
    mean_score: float | None
    cost_per_pass: float | None  # every scored answer's cost over the answers that passed
    judge_failures: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


def column_scores(plan: GridPlan, results: Sequence[CellResult], scores: Sequence[CellScore | None]) -> list[ColumnScore]:
    out = []
    for j in range(len(plan.columns)):
        cells = [(results[c.index], scores[c.index]) for c in plan.cells if c.column == j and scores[c.index] is not None]
        n = len(cells)
        k = sum(s.passed for _, s in cells if s is not None)
        costs = [r.cost_usd for r, _ in cells]
        cost = None if not cells or any(c is None for c in costs) or k == 0 else sum(c or 0.0 for c in costs) / k
        out.append(
            ColumnScore(
                scored=n,
                passed=k,
                interval=wilson(k, n),
                mean_score=sum(s.score for _, s in cells if s is not None) / n if n else None,
                cost_per_pass=cost,
                judge_failures=sum(s.judge_failed for _, s in cells if s is not None),
            )
        )
    return out


@dataclass(frozen=True)
class Comparison:
    a: int
    b: int
    result: Paired
    verdict: str  # a `Msg`: the test's outcome in words
    likely_real: bool


def _pct(x: float) -> str:
    return f"{x:.0%}"


def compare_columns(plan: GridPlan, scores: Sequence[CellScore | None], a: int, b: int, names: Sequence[str] = ()) -> Comparison:
    """Columns a and b paired by row (same variables, prompt variant, sample and seed): the exact McNemar
    test on the rows where one passed and the other did not, and a bootstrap interval of the mean score
    difference. `names` words the verdict (the columns' labels)."""
    by_row: dict[int, dict[int, CellScore]] = {}
    for cell in plan.cells:
        s = scores[cell.index]
        if s is not None and cell.column in (a, b):
            by_row.setdefault(cell.row, {})[cell.column] = s
    pairs = [(r[a], r[b]) for r in by_row.values() if a in r and b in r]
    res = paired([(x.passed, y.passed) for x, y in pairs], [(x.score, y.score) for x, y in pairs])
    na = names[a] if a < len(names) else Msg("column {n}", n=a + 1)
    nb = names[b] if b < len(names) else Msg("column {n}", n=b + 1)
    disagree = res.only_a + res.only_b
    likely = False
    if res.pairs == 0:
        verdict = Msg("No row has a scored answer in both columns: nothing to compare yet.")
    elif disagree == 0:
        verdict = Msg(
            "{a} and {b} passed and failed on exactly the same {n} rows: no difference to test.", a=na, b=nb, n=res.pairs
        )
    else:
        values = {
            "a": na, "b": nb, "rate_a": _pct(res.rate_a), "rate_b": _pct(res.rate_b), "n": res.pairs,
            "only_a": res.only_a, "only_b": res.only_b, "p": f"{res.p_value:.3g}",
        }  # fmt: skip
        likely = res.p_value < ALPHA
        if likely:
            verdict = Msg(
                "{a} passes {rate_a} and {b} {rate_b} of {n} paired rows ({only_a} rows only {a} passed, {only_b} only {b}). "
                "A difference this large would come from chance alone with probability {p} (exact McNemar test): "
                "it is likely real.",
                **values,
            )
        elif disagree < min_disagreements():
            verdict = Msg(
                "{a} passes {rate_a} and {b} {rate_b} of {n} paired rows, but they disagree on only {only_a} + {only_b} rows: "
                "too few for any test to tell a real difference from chance (p = {p}). Add rows or samples.",
                **values,
            )
        else:
            verdict = Msg(
                "{a} passes {rate_a} and {b} {rate_b} of {n} paired rows ({only_a} rows only {a} passed, {only_b} only {b}). "
                "That could well be chance (p = {p}, exact McNemar test): not shown to be a real difference. "
                "Add rows or samples.",
                **values,
            )
    return Comparison(a, b, res, verdict, likely)


def min_disagreements(alpha: float = ALPHA) -> int:
    """The fewest disagreeing pairs with which the exact test can reach `alpha` at all (6 at 5 %)."""
    return next(n for n in range(1, 64) if 2 * 0.5**n < alpha)


def passing_share(scores: Sequence[CellScore | None]) -> float | None:
    scored = [s for s in scores if s is not None]
    return sum(s.passed for s in scored) / len(scored) if scored else None


def export_columns(scores: Sequence[CellScore | None], word: Callable[[Any], str]) -> list[dict[str, Any]] | None:
    """The cells' scores as columns of compare's CSV and JSON exports (None: nothing was scored): passed (blank
    for a cell not scored), the weighted score, and why it failed, worded by `word` (the page's language)."""
    if all(s is None for s in scores):
        return None
    return [
        {"passed": None, "score": None, "fail_reason": None}
        if s is None
        else {"passed": s.passed, "score": round(s.score, 4), "fail_reason": "" if s.passed else word(s.reason)}
        for s in scores
    ]
