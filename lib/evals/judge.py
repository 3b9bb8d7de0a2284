"""`llm-rubric`: a judge model grades an answer against a rubric and answers `{"pass", "score", "reason"}`
as JSON. Its calls go through the one client factory and the usage log (page `compare-judge`), are
counted in the estimate before the run, and run on the grid's own bounded pool: `JudgedRunner` judges a
cell in the worker thread that streamed it, right after its answer ended."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import openai

from lib.compare.grid import Cell, GridPlan, GridSpec
from lib.compare.runner import DONE, CellResult, GridRunner
from lib.conversation.service import Target
from lib.core.errors import describe_error
from lib.core.i18n import Msg
from lib.core.pricing import Price, estimate_cost
from lib.evals.assertions import Assertion, Verdict
from lib.evals.scoring import EvalSpec, assertions_for
from lib.llm.chat import ChatParams, complete, estimate_message_tokens

JUDGE_PAGE = "compare-judge"
JUDGE_MAX_TOKENS = 300
MARKER = "[yoake-judge]"  # starts the judge's instructions (a test's fake judge recognises it)

_INSTRUCTIONS = {
    "en": (
        f"{MARKER} You grade an AI assistant's answer against a rubric. Reply with one JSON object and "
        'nothing else: {{"pass": true or false, "score": a number from 0 to 1, "reason": "one or two '
        'sentences in English"}}.'
    ),
    "ja": (
        f"{MARKER} あなたはAIアシスタントの回答を評価基準に照らして採点します。JSONオブジェクトを1つだけ返してください。"
        '他の文字は書かないでください：{{"pass": trueまたはfalse, "score": 0から1の数値, "reason": "日本語で1〜2文の理由"}}。'
    ),
}


def judge_messages(rubric: str, answer: str, lang: str, question: str = "") -> list[Any]:
    """What the judge is told: the instructions (in the visitor's language, so its reasons are too),
    the rubric, the question asked and the answer."""
    system = _INSTRUCTIONS["ja" if lang == "ja" else "en"]
    parts = [f"<rubric>\n{rubric}\n</rubric>"]
    if question:
        parts.append(f"<question>\n{question}\n</question>")
    parts.append(f"<answer>\n{answer}\n</answer>")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


class VerdictError(ValueError):
    pass


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_verdict(text: str) -> Verdict:
    """The judge's JSON verdict (a code fence or words around it are tolerated). Raises `VerdictError`
    (its message a `Msg`) when there is no usable verdict."""
    body = _FENCE.sub("", (text or "").strip())
    data: Any = None
    try:
        data = json.loads(body)
    except ValueError:
        start = body.find("{")
        if start != -1:
            try:
                data, _ = json.JSONDecoder().raw_decode(body, start)
            except ValueError:
                data = None
    if not isinstance(data, dict):
        raise VerdictError(Msg("The judge did not answer with a JSON verdict."))
    passed = data.get("pass")
    if isinstance(passed, str) and passed.lower() in ("true", "false"):
        passed = passed.lower() == "true"
    if not isinstance(passed, bool):
        raise VerdictError(Msg("The judge's verdict has no true/false “pass”."))
    score = data.get("score", 1.0 if passed else 0.0)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise VerdictError(Msg("The judge's score is not a number from 0 to 1."))
    reason = data.get("reason")
    return Verdict(passed, float(score), str(reason) if reason is not None else "")


def failed_verdict(reason: str) -> Verdict:
    return Verdict(False, 0.0, Msg("The judge failed: {reason}", reason=reason), error=True)


JudgeFn = Callable[[Cell, str, Assertion], Verdict]


def make_judge(target: Target, model: str, lang: str) -> JudgeFn:
    """A judge calling `model` on `target` (its context's page is turned into `compare-judge`)."""
    ctx = replace(target.ctx, page=JUDGE_PAGE)

    def judge(cell: Cell, answer: str, assertion: Assertion) -> Verdict:
        messages = judge_messages(str(assertion.value), answer, lang, question=cell.prompt)
        try:
            _, res = complete(target.client, messages, ChatParams(model=model, temperature=0, max_tokens=JUDGE_MAX_TOKENS), ctx)
        except openai.OpenAIError as exc:
            err = describe_error(exc)
            return failed_verdict(err.title)
        try:
            return parse_verdict(res.text)
        except VerdictError as exc:
            return failed_verdict(exc.args[0])

    return judge


def rubrics(spec: GridSpec, evals: EvalSpec, cell: Cell) -> list[Assertion]:
    """The distinct judged assertions of a cell (one judge call each)."""
    found = {a.key: a for a in assertions_for(spec, evals, cell)[0] if a.judged}
    return list(found.values())


class JudgedRunner(GridRunner):
    """A GridRunner whose worker judges each cell that ended well, in the same thread, before the cell's
    end event: judge calls share the grid's bounded pool and a cell shows once it is judged."""

    def __init__(
        self,
        cells: Sequence[Cell],
        targets: Sequence[Target],
        *,
        spec: GridSpec,
        evals: EvalSpec,
        judge: JudgeFn | None,
        **kw: Any,
    ) -> None:
        super().__init__(cells, targets, **kw)
        self.spec, self.evals, self.judge = spec, evals, judge

    def _stream(self, cell: Cell) -> tuple[CellResult, BaseException | None]:
        result, exc = super()._stream(cell)
        if exc is None and result.status == DONE and self.judge is not None and not result.verdicts and not self._stop.is_set():
            verdicts = {}
            for assertion in rubrics(self.spec, self.evals, cell):
                try:
                    verdicts[assertion.key] = self.judge(cell, result.text, assertion).to_dict()
                except Exception as err:  # never lose the cell for its judge
                    verdicts[assertion.key] = failed_verdict(describe_error(err).title).to_dict()
            result.verdicts = verdicts
        return result, exc


@dataclass(frozen=True)
class JudgeEstimate:
    calls: int
    input_tokens: int
    max_output_tokens: int
    cost_usd: float | None  # at most; None when the judge model has no price


def estimate_judge(
    spec: GridSpec, plan: GridPlan, evals: EvalSpec, *, local: bool, prices: dict[str, Price] | None, lang: str
) -> JudgeEstimate:
    """The judge's calls before the run: one per cell and rubric, each with the whole answer (at most
    the cell's max tokens) and at most JUDGE_MAX_TOKENS back."""
    calls = tokens_in = 0
    for cell in plan.cells:
        for assertion in rubrics(spec, evals, cell):
            calls += 1
            tokens_in += estimate_message_tokens(judge_messages(str(assertion.value), "", lang, cell.prompt)) + cell.max_tokens
    out = calls * JUDGE_MAX_TOKENS
    cost = estimate_cost(evals.judge_model, tokens_in, out, local=local, prices=prices) if calls else 0.0
    return JudgeEstimate(calls, tokens_in, out, cost)
