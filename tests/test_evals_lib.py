"""lib/evals without the page: every assertion type on hand-made answers (pass, fail, edge cases), a cell's
weighted score and threshold, intervals and paired tests against known values, Bradley–Terry on known votes,
and the llm-rubric judge through the loopback simulator (a verdict, a malformed one, a failing judge)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import usage_lines

from lib import compare as cmp
from lib.conversation.service import Target
from lib.core.i18n import Msg
from lib.evals.assertions import (
    Assertion,
    AssertionProblem,
    Output,
    Verdict,
    check,
    dump_assertions,
    json_objects,
    levenshtein,
    parse_assertions,
    rouge_n,
    score_cell,
)
from lib.evals.judge import JUDGE_PAGE, MARKER, JudgedRunner, estimate_judge, judge_messages, make_judge, parse_verdict
from lib.evals.scoring import EvalSpec, column_scores, compare_columns, min_disagreements, score_results
from lib.evals.stats import bradley_terry, mcnemar_exact, paired_bootstrap, records, wilson
from lib.llm.chat import CallContext
from lib.llm.providers import PROVIDERS, make_client
from tests.support.hosted_api_sim import Fault, HostedAPISim, last_user_text
from tests.support.i18n import ja


def _a(kind: str, value=None, **kw) -> Assertion:
    return Assertion.from_dict({"type": kind, "value": value, **kw} if value is not None else {"type": kind, **kw})


def _ok(kind: str, text: str, value=None, **kw) -> bool:
    return check(_a(kind, value, **kw), Output(text, latency_ms=120.0, cost_usd=0.002, perplexity=3.5)).passed


# --- assertions -----------------------------------------------------------------------------------


def test_text_assertions_pass_and_fail_as_promptfoo_defines_them() -> None:
    assert _ok("equals", "Blue", "Blue") and not _ok("equals", "Blue ", "Blue")
    assert _ok("equals", '{"a": [1, 2]}', {"a": [1, 2]}) and not _ok("equals", "not json", {"a": 1})
    assert _ok("contains", "The sea is blue.", "blue") and not _ok("contains", "The sea is Blue.", "blue")
    assert _ok("icontains", "The sea is BLUE.", "blue") and not _ok("icontains", "green", "blue")
    assert _ok("contains-any", "teal sea", ["blue", "teal"]) and not _ok("contains-any", "red", "blue, teal")
    assert _ok("contains-all", "blue and teal", "blue, teal") and not _ok("contains-all", "blue", ["blue", "teal"])
    assert _ok("not-contains", "The sea is blue.", "red") and not _ok("not-contains", "red sea", "red")
    assert _ok("starts-with", "Yes, blue.", "Yes") and not _ok("starts-with", " Yes", "Yes")
    assert _ok("regex", "Order #123", r"#\d+") and not _ok("regex", "Order #x", r"#\d+")
    assert _ok("not-icontains", "calm", "STORM") and not _ok("not-regex", "abc", "b")
    # promptfoo's comma-separated lists keep quoted commas
    assert _ok("contains-all", "a, b and c", '"a, b", c')


def test_json_assertions_with_and_without_a_schema() -> None:
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    assert _ok("is-json", ' {"name": "Kai"} ') and not _ok("is-json", "Sure! {}")
    assert _ok("is-json", '{"name": "Kai"}', schema) and not _ok("is-json", '{"name": 3}', schema)
    assert _ok("is-json", '{"name": "Kai"}', "type: object\nrequired: [name]")  # a YAML schema, as promptfoo reads it
    assert _ok("contains-json", 'Here: {"name": "Kai"} done', schema) and not _ok("contains-json", "no json {here", schema)
    assert not _ok("contains-json", 'first {"name": 1} then {"x": 2}', schema)
    assert _ok("contains-json", 'first {"x": 2} then {"name": "ok"}', schema)
    grade = check(_a("is-json", value=schema), Output('{"name": 3}'))
    assert "does not match the schema" in grade.reason and "3" in grade.reason
    assert check(_a("is-json"), Output("plain words")).reason == "The answer is not valid JSON."
    assert json_objects('x {"a": {"b": 1}} y {"c": 2}') == [{"a": {"b": 1}}, {"c": 2}]


def test_similarity_and_measured_assertions() -> None:
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3
    assert _ok("levenshtein", "kitten", "sitting", threshold=3) and not _ok("levenshtein", "kitten", "sitting", threshold=2)
    assert _ok("levenshtein", "abcdefg", "abcdefgxyzw")  # promptfoo's default: at most 5 edits
    assert rouge_n("the cat sat", "the cat sat on the mat") == pytest.approx(3 / 6)
    assert rouge_n("the the the", "the cat") == pytest.approx(1 / 2)  # counts are clipped
    assert _ok("rouge-n", "the cat sat on the mat", "the cat sat") and not _ok("rouge-n", "a dog", "the cat sat")
    score = check(_a("rouge-n", "the cat sat on the mat"), Output("the cat sat")).score
    assert score == pytest.approx(0.5)
    assert _ok("latency", "x", threshold=200) and not _ok("latency", "x", threshold=100)
    assert _ok("cost", "x", threshold=0.01) and not _ok("cost", "x", threshold=0.001)
    assert _ok("perplexity", "x", threshold=4) and not _ok("perplexity", "x", threshold=3)
    unknown = check(_a("cost", threshold=1), Output("x", cost_usd=None))
    assert not unknown.passed and unknown.error and "not known" in unknown.reason
    assert "no logprobs" in check(_a("perplexity", threshold=3), Output("x")).reason


def test_problems_are_caught_before_a_run_with_a_message_not_a_stack_trace() -> None:
    cases = {
        "- type: regex\n  value: '([a-z'": "Invalid regular expression",
        "- type: is-json\n  value: {type: 12}": "Invalid JSON schema",
        "- type: bogus\n  value: x": "Unknown assertion type 'bogus'",
        "- type: latency": "latency needs a threshold",
        "- type: contains": "contains needs a text value",
        "- type: icontains\n  value: a\n  weight: -1": "weight must be a number",
        "- type: x\n value: [": "not valid YAML",
        "just words": "YAML list",
    }
    for text, expected in cases.items():
        with pytest.raises(AssertionProblem) as info:
            parse_assertions(text)
        assert expected in str(info.value.detail), text
        assert isinstance(info.value.detail, Msg) and info.value.detail.render("ja") != str(info.value.detail)
    # an invalid regex that reaches a check (a file edited by hand) fails the cell with its reason
    grade = check(Assertion("regex", "([a-z"), Output("abc"))
    assert not grade.passed and grade.error and "Invalid regular expression" in grade.reason
    assert "Invalid JSON schema" in check(Assertion("is-json", {"type": 12}), Output("{}")).reason


def test_assertions_round_trip_through_yaml() -> None:
    text = "- type: icontains\n  value: blue\n- type: rouge-n\n  value: the sea\n  threshold: 0.5\n  weight: 2\n"
    parsed = parse_assertions(text)
    assert parse_assertions(dump_assertions(parsed)) == parsed
    assert parsed[1] == Assertion("rouge-n", "the sea", 0.5, 2.0)
    assert parse_assertions("assert:\n  - type: equals\n    value: x") == [Assertion("equals", "x")]
    assert parse_assertions("  ") == []


def test_a_cell_is_the_weighted_mean_and_passes_all_or_the_threshold() -> None:
    checks = [Assertion("icontains", "blue", weight=3.0), Assertion("contains", "teal"), Assertion("starts-with", "No")]
    out = Output("Blue, of course.")
    plain = score_cell(checks, out)
    assert plain is not None and not plain.passed and plain.score == pytest.approx(3 / 5)
    assert plain.reason == "Expected the answer to contain “teal”."  # the first failing assertion's reason
    passed = score_cell(checks, out, threshold=0.6)
    assert passed is not None and passed.passed
    failed = score_cell(checks, out, threshold=0.7)
    assert failed is not None and not failed.passed
    assert failed.reason.startswith("Weighted score 0.60 is below the threshold 0.7; first failure: Expected")
    assert score_cell([], out) is None
    # the reason renders in Japanese, with the failing assertion's own reason inside
    assert failed.reason.render("ja") != str(failed.reason) and "teal" in failed.reason.render("ja")
    assert score_cell([Assertion("contains", "x", weight=0.0)], out).score == 0.0  # no weight at all


# --- statistics -----------------------------------------------------------------------------------


def test_wilson_intervals_match_known_values() -> None:
    lo, hi = wilson(0, 3)
    assert lo == 0.0 and hi == pytest.approx(0.56150, abs=5e-5)
    lo, hi = wilson(3, 3)
    assert lo == pytest.approx(0.43850, abs=5e-5) and hi == 1.0
    lo, hi = wilson(7, 10)
    assert lo == pytest.approx(0.39678, abs=5e-5) and hi == pytest.approx(0.89221, abs=5e-5)
    assert wilson(0, 0) is None


def test_exact_mcnemar_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)  # 2 × (C(10,0) + C(10,1)) / 2^10
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(2, 10) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert min_disagreements() == 6  # 5 disagreements all one way: p = 0.0625, never below 0.05


def test_paired_bootstrap_is_reproducible_and_brackets_the_mean() -> None:
    a, b = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    mean, lo, hi = paired_bootstrap(a, b, seed=3)
    assert mean == pytest.approx(0.5) and lo <= mean <= hi and (lo, hi) == paired_bootstrap(a, b, seed=3)[1:]
    assert paired_bootstrap([], []) is None


def test_bradley_terry_on_known_votes() -> None:
    # two columns: the strength ratio is the win ratio (3 : 1)
    votes = [("A", "B", "a")] * 3 + [("A", "B", "b")]
    p = bradley_terry(votes)
    assert p["A"] / p["B"] == pytest.approx(3.0, rel=1e-6) and sum(p.values()) == pytest.approx(1.0)
    # a tie is half a win each way: 2 wins + 2 ties vs 0 + 2 ties -> 3 : 1
    p = bradley_terry([("A", "B", "a"), ("B", "A", "b"), ("A", "B", "tie"), ("A", "B", "tie")])
    assert p["A"] / p["B"] == pytest.approx(3.0, rel=1e-6)
    # three columns: at the maximum, each column's expected wins equal its wins
    votes = (
        [("A", "B", "a")] * 4
        + [("A", "B", "b")] * 2
        + [("B", "C", "a")] * 3
        + [("C", "B", "a")]
        + [("A", "C", "a")] * 2
        + [("C", "A", "a")]
    )
    p = bradley_terry(votes)
    games = {("A", "B"): 6, ("B", "C"): 4, ("A", "C"): 3}
    wins = {"A": 6, "B": 5, "C": 2}
    for i in "ABC":
        expected = sum(n * p[i] / (p[i] + p[j]) for (x, y), n in games.items() for j in (x, y) if i in (x, y) and j != i)
        assert expected == pytest.approx(wins[i], rel=1e-6)
    assert sorted(p, key=p.get, reverse=True) == ["A", "B", "C"]
    rec = records(votes)
    assert (rec["A"].wins, rec["A"].losses, rec["A"].win_rate) == (6, 3, pytest.approx(6 / 9))
    assert bradley_terry([]) == {}
    assert all(math.isfinite(v) and v > 0 for v in bradley_terry([("A", "B", "a")], prior=0.5).values())


# --- a run scored -----------------------------------------------------------------------------------


def _run(texts: dict[int, str], evals: EvalSpec, **spec_kw) -> tuple[cmp.GridSpec, cmp.GridPlan, list[cmp.CellResult]]:
    spec = cmp.GridSpec(
        prompt="Colour of {{thing}}?",
        models=(cmp.ModelChoice("local", "m"),),
        temperatures=(0.0, 1.0),
        inputs=({"thing": "sea"}, {"thing": "grass"}),
        samples=4,
        seed=1,
        evals=evals.to_dict(),
        **spec_kw,
    )
    plan = cmp.expand(spec)
    results = [cmp.CellResult(c.index, cmp.DONE, texts.get(c.index, ""), cost_usd=0.001, duration_ms=50.0) for c in plan.cells]
    return spec, plan, results


def test_a_run_is_scored_per_row_and_columns_are_compared_by_pairs() -> None:
    evals = EvalSpec(
        assertions=(Assertion("not-contains", "sorry"),),
        rows=((Assertion("icontains", "blue"),), (Assertion("icontains", "green"),)),
    )
    spec, plan, _ = _run({}, evals)
    texts = {}
    for cell in plan.cells:  # column 0 (T=0) always right; column 1 right on 2 of 8 rows
        right = "blue" if cell.inputs["thing"] == "sea" else "green"
        texts[cell.index] = right if cell.column == 0 or cell.sample == 1 else "sorry, red"
    spec, plan, results = _run(texts, evals)
    scores = score_results(spec, plan, results)
    cols = column_scores(plan, results, scores)
    assert [(c.scored, c.passed) for c in cols] == [(8, 8), (8, 2)]
    assert cols[0].interval == pytest.approx(wilson(8, 8)) and cols[1].mean_score == pytest.approx((2 + 6 * 0) / 8)
    assert cols[0].cost_per_pass == pytest.approx(0.001) and cols[1].cost_per_pass == pytest.approx(0.008 / 2)
    failing = next(s for s in scores if s is not None and not s.passed)
    assert failing.reason == "Expected the answer not to contain “sorry”."
    comp = compare_columns(plan, scores, 0, 1, ["T=0", "T=1"])
    assert (comp.result.only_a, comp.result.only_b, comp.result.pairs) == (6, 0, 8)
    assert comp.likely_real and comp.result.p_value == pytest.approx(2 / 64)
    assert "likely real" in comp.verdict and "T=0 passes 100%" in comp.verdict
    assert comp.verdict.render("ja") != str(comp.verdict)
    # on 3 disagreeing rows no test can tell
    texts2 = {c.index: ("blue" if c.inputs["thing"] == "sea" else "green") for c in plan.cells}
    for cell in plan.cells[:6]:
        if cell.column == 1:
            texts2[cell.index] = "sorry"
    spec2, plan2, results2 = _run(texts2, evals)
    comp2 = compare_columns(plan2, score_results(spec2, plan2, results2), 0, 1)
    assert not comp2.likely_real and "too few" in comp2.verdict
    # unfinished cells are not scored; no assertions: nothing scored
    results[0].status = cmp.ERROR
    assert score_results(spec, plan, results)[0] is None
    assert score_results(spec, plan, results, EvalSpec()) == [None] * len(plan.cells)


def test_eval_spec_round_trips_in_the_grid_spec() -> None:
    evals = EvalSpec(
        assertions=(Assertion("llm-rubric", "Polite", threshold=0.5),),
        rows=((Assertion("equals", {"a": 1}),), ()),
        thresholds=(0.5, None),
        threshold=0.8,
        judge_provider="openai",
        judge_model="gpt-x",
    )
    spec, _, _ = _run({}, evals)
    again = cmp.GridSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert EvalSpec.from_dict(again.evals) == evals and evals.judged
    assert evals.for_row(0) == ([evals.assertions[0], evals.rows[0][0]], 0.5)
    assert evals.for_row(1) == ([evals.assertions[0]], 0.8)


# --- the judge ------------------------------------------------------------------------------------


def test_verdicts_are_parsed_or_refused_with_a_reason() -> None:
    assert parse_verdict('{"pass": true, "score": 0.9, "reason": "Kind."}') == Verdict(True, 0.9, "Kind.")
    assert parse_verdict('```json\n{"pass": "false", "reason": "Rude."}\n```') == Verdict(False, 0.0, "Rude.")
    assert parse_verdict('Verdict: {"pass": true} as asked').score == 1.0
    for bad, why in [("no json", "did not answer"), ('{"score": 1}', "pass"), ('{"pass": true, "score": 7}', "0 to 1")]:
        with pytest.raises(ValueError, match=why):
            parse_verdict(bad)
    assert judge_messages("Polite", "Hi", "ja")[0]["content"].startswith(MARKER + " あなたは")
    assert "English" in judge_messages("Polite", "Hi", "en")[0]["content"]


def _judge_reply(body: dict) -> str:
    """The model under test echoes; as a judge it passes answers that mention "blue", fails the others,
    answers garbage for "garbage" and fails outright (below) for "[fake status=500]"."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    user = last_user_text(body)
    if not system.startswith(MARKER):
        return f"{user.split('?')[0]} blue" if "sea" in user else ("garbage" if "garbage" in user else "red")
    answer = user.split("<answer>")[-1]
    if "garbage" in answer:
        return "I think it is fine."
    ok = "blue" in answer
    return json.dumps({"pass": ok, "score": 1.0 if ok else 0.2, "reason": "Mentions blue." if ok else "No blue."})


def _target(sim: HostedAPISim, data_dir: Path) -> Target:
    ctx = CallContext(page=cmp.PAGE, provider_id="custom", local=True, log_path=data_dir / "usage.jsonl")
    return Target(PROVIDERS["custom"], sim.base_url, make_client(sim.base_url, "sim", timeout=30, max_retries=0), ctx)


def test_the_judge_grades_on_the_grid_pool_and_its_calls_are_logged_as_compare_judge(data_dir: Path) -> None:
    evals = EvalSpec(assertions=(Assertion("llm-rubric", "Says the colour is blue"), Assertion("not-contains", "red")))
    spec = cmp.GridSpec(
        prompt="What colour is the {{thing}}?",
        models=(cmp.ModelChoice("custom", "sim-model"),),
        inputs=({"thing": "sea"}, {"thing": "garbage"}, {"thing": "grass"}),
        seed=1,
        max_tokens=40,
        evals=evals.to_dict(),
    )
    plan = cmp.expand(spec)
    with HostedAPISim(_judge_reply, first_byte_s=0.0, tokens_per_s=None, model="sim-model") as sim:
        target = _target(sim, data_dir)
        est = estimate_judge(spec, plan, evals, local=True, prices=None, lang="en")
        assert est.calls == 3 and est.cost_usd == 0.0 and est.input_tokens > 0
        runner = JudgedRunner(
            plan.cells, [target], spec=spec, evals=evals, judge=make_judge(target, "sim-model", "en"), workers=2, logprobs=False
        )
        results = runner.run()
        assert sim.stats()["requests"] == 6  # three answers, three judge calls
    scores = score_results(spec, plan, results)
    sea, garbage, grass = scores
    assert sea is not None and sea.passed and sea.score == 1.0
    assert grass is not None and not grass.passed and "No blue." in grass.reason  # the judge's own reason (first failing)
    assert garbage is not None and not garbage.passed and garbage.judge_failed
    assert "did not answer with a JSON verdict" in garbage.reason and garbage.reason.render("ja") != str(garbage.reason)
    pages = [line["page"] for line in usage_lines(data_dir)]
    assert sorted(pages) == [cmp.PAGE] * 3 + [JUDGE_PAGE] * 3
    # verdicts are saved with the cell and read back (a judge failure keeps its translatable wording)
    again = cmp.CellResult.from_saved(2, cmp.DONE, results[1].text, json.loads(json.dumps(results[1].metrics())), None)
    saved = score_results(spec, plan, [results[0], again, results[2]])[1]
    assert saved is not None and saved.reason.render("ja") == garbage.reason.render("ja")


def test_a_failing_judge_marks_its_cell_and_the_rest_finish(data_dir: Path) -> None:
    evals = EvalSpec(assertions=(Assertion("llm-rubric", "Blue"),))
    spec = cmp.GridSpec(
        prompt="What colour is the sea?",
        models=(cmp.ModelChoice("custom", "sim-model"),),
        samples=3,
        seed=1,
        evals=evals.to_dict(),
    )
    plan = cmp.expand(spec)

    def reply(body: dict) -> str:
        return _judge_reply(body) if body["messages"][0]["role"] == "system" else f"blue (seed {body.get('seed')})"

    with HostedAPISim(reply, first_byte_s=0.0, tokens_per_s=None, model="sim-model") as sim:
        target = _target(sim, data_dir)
        real = make_judge(target, "sim-model", "en")

        def judge(cell, answer, assertion):
            if cell.seed == 2:  # one worker: the next request is this judge call
                sim.fail(Fault(status=500))
            return real(cell, answer, assertion)

        results = JudgedRunner(plan.cells, [target], spec=spec, evals=evals, judge=judge, workers=1, logprobs=False).run()
    scores = score_results(spec, plan, results)
    assert [r.status for r in results] == [cmp.DONE] * 3
    assert [s.passed for s in scores] == [True, False, True]
    assert scores[1].judge_failed and scores[1].reason.startswith("The judge failed:")
    assert ja("The judge failed: {reason}")


def test_assertions_and_structured_outputs_read_a_json_schema_the_same_way() -> None:
    """One rule (lib/core/schemas.py): the draft a schema names in `$schema`, else 2020-12."""
    from lib.structured import schema as structured

    newest = {"type": "object", "dependentRequired": {"a": ["b"]}}  # a 2020-12 keyword
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#"} | newest  # unknown to draft-07: ignored
    assert structured.validate({"a": 1}, newest) and not structured.validate({"a": 1}, draft7)
    assert not _ok("is-json", '{"a": 1}', newest) and _ok("is-json", '{"a": 1}', draft7)
    assert structured.load_schema(json.dumps(draft7)) == draft7  # checked against the draft it names
