"""Assertions on an answer, named and scored as promptfoo names and scores them
(https://promptfoo.dev/docs/configuration/expected-outputs/).

An `Assertion` is `{type, value, threshold, weight}`; `not-<type>` inverts any type. `check()` grades one
answer (`Output`: its text and what the call measured) and `score_cell()` combines a cell's grades as
promptfoo does: the score is the weighted mean of the grades' scores; without a threshold the cell passes
when every assertion passes, with one when the score reaches it. Deterministic checks never call a model;
`llm-rubric` is graded by a judge (`lib.evals.judge`) and arrives here as a `Verdict`.

Every reason is a `Msg` (English as a `str`, rendered in the visitor's language by the page).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import yaml

from lib.core import schemas
from lib.core.errors import YoakeError
from lib.core.i18n import Msg

DETERMINISTIC = (
    "equals", "contains", "icontains", "contains-any", "contains-all", "starts-with", "regex", "is-json",
    "contains-json", "levenshtein", "rouge-n", "latency", "cost", "perplexity",
)  # fmt: skip
JUDGED = ("llm-rubric",)
BASE_TYPES = DETERMINISTIC + JUDGED
# The names a user may write: the base types, their `not-` forms (promptfoo inverts any type that way).
TYPES = BASE_TYPES + tuple(f"not-{t}" for t in BASE_TYPES)
NEEDS_THRESHOLD = ("latency", "cost", "perplexity")
DEFAULT_LEVENSHTEIN = 5
DEFAULT_ROUGE = 0.75
MAX_ASSERTIONS = 20  # per row, and for all rows


class AssertionProblem(YoakeError):
    """An assertion that cannot be used as written (the page shows it before the run)."""

    title = Msg("An assertion cannot be used")


@dataclass(frozen=True)
class Assertion:
    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    inverse: bool = field(init=False, repr=False, compare=False)  # `not-<type>`
    base: str = field(init=False, repr=False, compare=False)  # the type without `not-`

    def __post_init__(self) -> None:  # read on every check: worked out once
        object.__setattr__(self, "inverse", self.type.startswith("not-"))
        object.__setattr__(self, "base", self.type[4:] if self.inverse else self.type)

    @property
    def judged(self) -> bool:
        return self.base in JUDGED

    @property
    def key(self) -> str:
        """What identifies a judged assertion's verdict on a cell (its type and rubric)."""
        return f"{self.type}:{json.dumps(self.value, ensure_ascii=False, sort_keys=True)}:{self.threshold}"

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's shape: `type`, then `value`, `threshold`, `weight` where set."""
        out: dict[str, Any] = {"type": self.type}
        if self.value is not None:
            out["value"] = self.value
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.weight != 1.0:
            out["weight"] = self.weight
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Assertion:
        """An assertion from promptfoo's `{type, value, threshold, weight}` (checked: `AssertionProblem`)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("type"), str):
            raise AssertionProblem(Msg("Each assertion needs a type, e.g. `- type: icontains`."))
        kind = d["type"].strip()
        if kind not in TYPES:
            raise AssertionProblem(
                Msg("Unknown assertion type {type}. Known types: {types}.", type=repr(kind), types=", ".join(BASE_TYPES))
            )
        threshold = d.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise AssertionProblem(Msg("{type}: the threshold must be a number.", type=kind))
        weight = d.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0 or not math.isfinite(weight):
            raise AssertionProblem(Msg("{type}: the weight must be a number of 0 or more.", type=kind))
        a = cls(kind, d.get("value"), None if threshold is None else float(threshold), float(weight))
        a.validate()
        return a

    def validate(self) -> None:
        """What can be checked before a run: the value each type needs, a regex that compiles, a schema
        that is one."""
        base, value = self.base, self.value
        if base in ("equals",) and value is None:
            raise AssertionProblem(Msg("{type} needs a value to compare with.", type=self.type))
        if base in ("contains", "icontains", "starts-with") and not _is_text(value):
            raise AssertionProblem(Msg("{type} needs a text value.", type=self.type))
        if base in ("contains-any", "contains-all") and not _list_value(value):
            raise AssertionProblem(Msg("{type} needs a list of texts (or one text, comma-separated).", type=self.type))
        if base in ("levenshtein", "rouge-n", "llm-rubric") and not _is_text(value):
            raise AssertionProblem(Msg("{type} needs a text value.", type=self.type))
        if base == "regex":
            if not _is_text(value):
                raise AssertionProblem(Msg("{type} needs a regular expression.", type=self.type))
            try:
                re.compile(str(value))
            except re.error as exc:
                raise AssertionProblem(
                    Msg("Invalid regular expression {pattern}: {error}.", pattern=str(value), error=str(exc))
                ) from None
        if base in ("is-json", "contains-json") and value not in (None, ""):
            _schema(value)  # raises with the reason
        if base in NEEDS_THRESHOLD and self.threshold is None:
            raise AssertionProblem(Msg("{type} needs a threshold.", type=self.type))


def _is_text(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _list_value(value: Any) -> list[str]:
    """A list value, or promptfoo's comma-separated string (quotes keep commas)."""
    if isinstance(value, str):
        row = next(csv.reader(io.StringIO(value), skipinitialspace=True), [])
        return [v.strip() for v in row if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _schema(value: Any) -> Any:
    """A JSON schema from an object or its YAML/JSON text; `AssertionProblem` when it is none."""
    try:
        key = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return _check_schema(value)
    return _checked_schema(key)


@functools.lru_cache(maxsize=256)
def _checked_schema(value_json: str) -> Any:
    return _check_schema(json.loads(value_json))


def _check_schema(value: Any) -> Any:
    schema = value
    if isinstance(value, str):
        try:
            schema = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise AssertionProblem(Msg("Invalid JSON schema: {error}", error=str(exc).splitlines()[0])) from None
    if not isinstance(schema, (dict, bool)):
        raise AssertionProblem(Msg("Invalid JSON schema: it must be an object."))
    try:
        schemas.check_schema(schema)
    except schemas.SchemaError as exc:
        raise AssertionProblem(Msg("Invalid JSON schema: {error}", error=exc.message)) from None
    return schema


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """A checked schema's validator, built once per schema (scoring a grid reuses it for every cell)."""
    schema = json.loads(schema_json)
    return schemas.validator(schema)


def parse_assertions(text: str) -> list[Assertion]:
    """Assertions from YAML (or JSON): promptfoo's `assert:` list, e.g. `- type: icontains\\n  value: blue`.
    Blank: none. Raises `AssertionProblem` naming the first problem."""
    if not (text or "").strip():
        return []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Msg("line {line}", line=mark.line + 1) if mark is not None else ""
        raise AssertionProblem(Msg("The assertions are not valid YAML ({where}).", where=where)) from None
    if isinstance(data, Mapping) and "assert" in data:
        data = data["assert"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise AssertionProblem(Msg("Write the assertions as a YAML list, one `- type: …` per assertion."))
    if len(data) > MAX_ASSERTIONS:
        raise AssertionProblem(Msg("At most {n} assertions.", n=MAX_ASSERTIONS))
    return [Assertion.from_dict(d) for d in data]


def dump_assertions(assertions: Sequence[Assertion]) -> str:
    """YAML as `parse_assertions` reads it back."""
    if not assertions:
        return ""
    return yaml.safe_dump([a.to_dict() for a in assertions], allow_unicode=True, sort_keys=False)


# --- grading one answer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """What is graded: the answer and what its call measured."""

    text: str
    latency_ms: float | None = None
    cost_usd: float | None = None
    perplexity: float | None = None


def _msg_json(m: Msg) -> dict[str, Any]:
    """A `Msg` as JSON, its `Msg` parameters too (so it is worded in any language when read back)."""
    return {"id": m.msgid, "params": {k: _msg_json(v) if isinstance(v, Msg) else str(v) for k, v in m.params.items()}}


def _msg_of(d: Mapping[str, Any]) -> Msg:
    params = {k: _msg_of(v) if isinstance(v, dict) else str(v) for k, v in (d.get("params") or {}).items()}
    return Msg(str(d.get("id") or ""), **params)


@dataclass(frozen=True)
class Verdict:
    """A judge's grade of one answer against a rubric (or why there is none: `error`)."""

    passed: bool
    score: float
    reason: str
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {"pass": self.passed, "score": self.score, "reason": str(self.reason), "error": self.error}
        if isinstance(self.reason, Msg):  # worded by us (a judge failure): kept translatable
            out["msg"] = _msg_json(self.reason)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        reason: str = str(d.get("reason") or "")
        if isinstance(d.get("msg"), dict):
            reason = _msg_of(d["msg"])
        return cls(bool(d.get("pass")), float(d.get("score") or 0.0), reason, bool(d.get("error")))


@dataclass(slots=True)  # not frozen: made for every assertion on every cell, and a frozen init is slower
class Grade:
    assertion: Assertion
    passed: bool
    score: float
    why: str | Callable[[], str]  # the reason, or what words it when it is read (a failing grade only)
    error: bool = False  # not a verdict on the answer: the assertion or the judge failed

    @property
    def reason(self) -> str:
        """A `Msg` (or a judge's own words); PASSED when it passed."""
        return self.why() if callable(self.why) else self.why


PASSED = Msg("Assertion passed")
Judge = Callable[[Assertion], Verdict | None]


def _grade(a: Assertion, ok: bool, fail: Callable[[], str], *, score: float | None = None) -> Grade:
    """Grade with promptfoo's inversion: `not-` flips the outcome (and a graded score). The reason is
    worded only when the assertion fails (`fail()`)."""
    passed = ok != a.inverse
    if score is None:
        score = 1.0 if passed else 0.0
    elif a.inverse:
        score = 1.0 - score
    return Grade(a, passed, score, PASSED if passed else fail)


def _failed(a: Assertion, reason: str) -> Grade:
    return Grade(a, False, 0.0, reason, error=True)


_DECODER = json.JSONDecoder()


def json_objects(text: str) -> list[Any]:
    """Every JSON object found in the text, outermost first (as promptfoo's contains-json looks for them)."""
    decoder = _DECODER
    found: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """ROUGE-N recall: the reference's n-grams found in the candidate (counts clipped), case-sensitive,
    as promptfoo's `rouge-n` (js-rouge, n = 1)."""
    cand, ref = _TOKEN.findall(candidate), _TOKEN.findall(reference)
    ref_grams = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    cand_grams = Counter(tuple(cand[i : i + n]) for i in range(len(cand) - n + 1))
    total = sum(ref_grams.values())
    return sum((ref_grams & cand_grams).values()) / total if total else 0.0


def _fmt(x: float) -> str:
    return format(x, ".2f")


def check(a: Assertion, out: Output, judge: Judge | None = None) -> Grade:
    """One assertion on one answer. Never raises for the answer's sake: a problem with the assertion or
    a missing measurement fails the assertion with its reason."""
    text, base, value = out.text, a.base, a.value
    neg = a.inverse
    try:
        if base == "equals":
            if isinstance(value, (dict, list)):
                try:
                    ok = json.loads(text) == value
                except ValueError:
                    ok = False
                shown = json.dumps(value, ensure_ascii=False)
            else:
                ok, shown = text == str(value), str(value)
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer not to equal {value}.", value=shown)
                if neg
                else Msg("Expected the answer to equal {value}.", value=shown)
            )
            return _grade(a, ok, fail)
        if base in ("contains", "icontains"):
            needle = str(value)
            ok = needle.lower() in text.lower() if base == "icontains" else needle in text
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer not to contain “{value}”.", value=needle)
                if neg
                else Msg("Expected the answer to contain “{value}”.", value=needle)
            )
            return _grade(a, ok, fail)
        if base == "contains-any":
            values = _list_value(value)
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer to contain none of {values}.", values=", ".join(values))
                if neg
                else Msg("Expected the answer to contain one of {values}.", values=", ".join(values))
            )
            return _grade(a, any(v in text for v in values), fail)
        if base == "contains-all":
            values = _list_value(value)
            missing = [v for v in values if v not in text]
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer not to contain all of {values}.", values=", ".join(values))
                if neg
                else Msg("Missing from the answer: {missing}.", missing=", ".join(missing))
            )
            return _grade(a, not missing, fail)
        if base == "starts-with":
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer not to start with “{value}”.", value=str(value))
                if neg
                else Msg("Expected the answer to start with “{value}”.", value=str(value))
            )
            return _grade(a, text.startswith(str(value)), fail)
        if base == "regex":
            try:
                pattern = re.compile(str(value))
            except re.error as exc:
                return _failed(a, Msg("Invalid regular expression {pattern}: {error}.", pattern=str(value), error=str(exc)))
            fail = lambda: (  # noqa: E731 - worded only on failure
                Msg("Expected the answer not to match {pattern}.", pattern=str(value))
                if neg
                else Msg("Expected the answer to match {pattern}.", pattern=str(value))
            )
            return _grade(a, pattern.search(text) is not None, fail)
        if base in ("is-json", "contains-json"):
            return _check_json(a, text)
        if base == "levenshtein":
            limit = a.threshold or DEFAULT_LEVENSHTEIN
            dist = levenshtein(text, str(value))
            return _grade(
                a,
                dist <= limit,
                lambda: Msg("Edit distance {distance} is over {limit}.", distance=dist, limit=format(limit, "g")),
            )
        if base == "rouge-n":
            limit = DEFAULT_ROUGE if a.threshold is None else a.threshold
            if not text or not str(value):
                return _failed(a, Msg("ROUGE-N needs a non-empty answer and reference."))
            score = rouge_n(text, str(value))
            return _grade(
                a,
                score >= limit,
                lambda: Msg("ROUGE-N {score} is below {limit}.", score=_fmt(score), limit=format(limit, "g")),
                score=score,
            )
        if base in NEEDS_THRESHOLD:
            return _check_measure(a, out)
        if base == "llm-rubric":
            verdict = judge(a) if judge is not None else None
            if verdict is None:
                return _failed(a, Msg("Not judged yet."))
            if verdict.error:
                return _failed(a, verdict.reason)
            ok = verdict.passed if a.threshold is None else verdict.score >= a.threshold
            return _grade(a, ok, lambda: verdict.reason or Msg("The judge failed the answer."), score=verdict.score)
    except (TypeError, ValueError) as exc:  # a value of the wrong shape read from a file
        return _failed(a, Msg("{type} cannot be checked: {error}", type=a.type, error=str(exc)))
    return _failed(a, Msg("Unknown assertion type {type}.", type=repr(a.type)))


def _check_json(a: Assertion, text: str) -> Grade:
    if a.base == "is-json":
        try:
            candidates = [json.loads(text)]
        except ValueError:
            candidates = []
        not_json = Msg("The answer is not valid JSON.")
    else:
        candidates = json_objects(text)
        not_json = Msg("The answer contains no JSON object.")
    if not candidates:
        return _grade(a, False, lambda: not_json)
    if a.value in (None, ""):
        return _grade(a, True, lambda: Msg("Expected the answer not to be JSON."))
    try:
        schema = _schema(a.value)
    except AssertionProblem as exc:
        return _failed(a, exc.detail)
    validator = _validator(json.dumps(schema, sort_keys=True))
    problem = ""
    for obj in candidates:
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is None:
            return _grade(a, True, lambda: Msg("Expected the answer's JSON not to match the schema."))
        problem = error.message
    return _grade(a, False, lambda: Msg("The JSON does not match the schema: {error}", error=problem))


def _check_measure(a: Assertion, out: Output) -> Grade:
    limit = float(a.threshold or 0.0)
    if a.base == "latency":
        if out.latency_ms is None:
            return _failed(a, Msg("No latency was measured for this answer."))
        return _grade(
            a,
            out.latency_ms <= limit,
            Msg("Latency {ms} ms is over {limit} ms.", ms=round(out.latency_ms), limit=format(limit, "g")),
        )
    if a.base == "cost":
        if out.cost_usd is None:
            return _failed(a, Msg("This answer's cost is not known (no price for the model)."))
        return _grade(
            a,
            out.cost_usd <= limit,
            Msg("Cost ${cost} is over ${limit}.", cost=format(out.cost_usd, ".2g"), limit=format(limit, "g")),
        )
    if out.perplexity is None:
        return _failed(a, Msg("No perplexity: the provider returned no logprobs for this answer."))
    return _grade(
        a,
        out.perplexity <= limit,
        Msg("Perplexity {value} is over {limit}.", value=_fmt(out.perplexity), limit=format(limit, "g")),
    )


# --- a cell ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellScore:
    passed: bool
    score: float  # weighted mean of the grades' scores, 0–1
    reason: str  # why it failed (the first failing assertion's reason, or the threshold); PASSED when it passed
    grades: tuple[Grade, ...] = field(default_factory=tuple)

    @property
    def judge_failed(self) -> bool:
        return any(g.error and g.assertion.judged for g in self.grades)


def score_cell(
    assertions: Sequence[Assertion], out: Output, threshold: float | None = None, judge: Judge | None = None
) -> CellScore | None:
    """A cell's weighted score and pass/fail (None: no assertions apply)."""
    if not assertions:
        return None
    grades = tuple(check(a, out, judge) for a in assertions)
    total_weight = sum(g.assertion.weight for g in grades)
    score = sum(g.score * g.assertion.weight for g in grades) / total_weight if total_weight > 0 else 0.0
    failing = next((g for g in grades if not g.passed), None)
    if threshold is None:
        return CellScore(failing is None, score, failing.reason if failing else PASSED, grades)
    passed = score >= threshold
    if passed:
        return CellScore(True, score, PASSED, grades)
    values = {"score": _fmt(score), "threshold": format(threshold, "g")}
    reason = Msg("Weighted score {score} is below the threshold {threshold}.", **values)
    if failing is not None:
        reason = Msg(
            "Weighted score {score} is below the threshold {threshold}; first failure: {first}", first=failing.reason, **values
        )
    return CellScore(False, score, reason, grades)
