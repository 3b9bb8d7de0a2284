"""AppTest of the compare page's scoring (issue 25) on the fake model: assertions in the form, each cell's
pass/fail with its reason, each column's pass rate with its interval, two columns compared in words, a
judge model through the loopback simulator (estimate, verdicts, usage log), 👍/👎 and blind votes saved
with the run, the HTML report with the model's text escaped, promptfoo import into the form, an invalid
assertion shown as a message, and the page in Japanese."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers import capture_downloads, usage_lines
from streamlit.testing.v1 import AppTest

from lib.compare import load_run
from lib.evals.judge import JUDGE_PAGE, MARKER
from lib.evals.scoring import EvalSpec
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim, ServeModel, last_user_text
from tests.support.i18n import english_left, japanese_left

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
PROMPT = "Name a colour of the sea."
SEED_7 = "- type: icontains\n  value: seed 7\n"


def _page(locale: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    if locale:
        at.context = {"locale": locale}
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def _fill(at: AppTest, asserts: str = SEED_7) -> AppTest:
    """Columns = two prompt variants, rows = two samples (seeds 7 and 8); the fake model names the seed."""
    at.text_area(key="cmp_prompt").set_value(PROMPT)
    at.text_input(key="cmp_temperatures").set_value("0")
    at.text_input(key="cmp_seed").set_value("7")
    at.number_input(key="cmp_samples").set_value(2)
    at.sidebar.number_input(key="cmp_max_tokens").set_value(64)
    at.number_input(key="cmp_n_variants").set_value(2).run()
    at.text_area(key="cmp_system_1").set_value("Answer in one short sentence.")
    at.text_area(key="cmp_asserts_all").set_value(asserts).run()
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.main.markdown)


def test_assertions_score_cells_and_columns_then_votes_and_report(
    data_dir: Path, fake_model: HostedAPISim, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = capture_downloads(monkeypatch)
    at = _fill(_page())
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["cmp_view_id"]
    record = load_run(Store.in_dir(data_dir), run_id)
    assert record is not None and EvalSpec.from_dict(record.spec.evals).assertions[0].value == "seed 7"
    shown = _markdown(at)
    # cells: seed 7 passes, seed 8 fails with the assertion's reason
    assert shown.count("✅ **pass** · score 1.00") == 2
    assert shown.count("❌ **fail** · score 0.00: Expected the answer to contain “seed 7”.") == 2
    # columns: pass rate, Wilson interval for 1/2, mean score, cost per passing answer (local: free)
    assert shown.count("**pass rate** 50% (1/2) · 95% interval 9%–91%") == 2
    assert "**mean score** 0.50" in shown and "**cost per passing answer** free (local)" in shown
    # two columns compared: they agree on every row
    verdicts = [i.value for i in at.main.info]
    assert any("passed and failed on exactly the same 2 rows" in v for v in verdicts)
    assert not at.main.error

    # 👍 on a cell, with a comment; a blind vote; both saved with the run
    at.button(key="cmp_up_0").click().run()
    at.text_input(key="cmp_comment_0").set_value("Clear.").run()
    store = Store.in_dir(data_dir)
    assert {i: (r.rating, r.comment) for i, r in store.list_ratings(run_id).items()} == {0: (1, "Clear.")}
    at.toggle(key="cmp_blind").set_value(True).run()
    assert not at.exception, at.exception
    blind_text = _markdown(at)
    assert "prompt A" not in blind_text and "prompt B" not in blind_text  # the settings are hidden
    assert "**Answer 1**" in blind_text and "Which answer is better?" in blind_text
    at.button(key="cmp_vote_a").click().run()
    [vote] = store.list_blind_votes(run_id)
    assert vote.winner == "a" and record.plan.cells[vote.first].row == record.plan.cells[vote.second].row
    assert record.plan.cells[vote.first].column != record.plan.cells[vote.second].column
    assert "1 of 2 pairs voted" in [c.value for c in at.main.caption]
    at.toggle(key="cmp_blind").set_value(False).run()
    assert "What people preferred" in _markdown(at) and "won" in _markdown(at)

    # the report: every answer in it, escaped
    report = offered[next(k for k in offered if k.endswith(".html"))]
    assert isinstance(report, str) and "<script" not in report.lower()
    for res in record.results:
        assert res.text.replace("&", "&amp;").replace("<", "&lt;")[:40] in report
    assert "Clear." in report and "Expected the answer to contain “seed 7”." in report

    # the CSV and JSON exports carry each cell's verdict, score and reason
    rows = list(csv.DictReader(io.StringIO(offered[next(k for k in offered if k.endswith(".csv"))])))
    expected = [
        ("True", "1.0", "") if r["seed"] == "7" else ("False", "0.0", "Expected the answer to contain “seed 7”.") for r in rows
    ]
    assert [(r["passed"], r["score"], r["fail_reason"]) for r in rows] == expected and len(rows) == 4
    cells = json.loads(offered[next(k for k in offered if k.endswith(".json"))])["cells"]
    assert [(c["passed"], c["score"]) for c in cells] == [(p == "True", float(sc)) for p, sc, _ in expected]


def test_the_report_escapes_model_text(data_dir: Path, serve_model: ServeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = '<script>alert("x")</script><img src=http://example.com/x.png> & <b>bold</b>'
    serve_model(reply=lambda body: hostile)
    offered = capture_downloads(monkeypatch)
    at = _fill(_page(), asserts="- type: not-contains\n  value: <script>\n")
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    report = offered[next(k for k in offered if k.endswith(".html"))]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report and "&lt;b&gt;bold&lt;/b&gt;" in report
    assert "<script" not in report.lower() and "<img" not in report.lower()  # only as escaped text
    assert "src=" not in report.replace("&lt;img src=", "") and "href=" not in report  # nothing loaded from outside
    assert "Expected the answer not to contain “&lt;script&gt;”." in report


def _judge(body: dict) -> str:
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if system.startswith(MARKER):
        ok = "seed 7" in last_user_text(body).split("<answer>")[-1]
        return json.dumps(
            {"pass": ok, "score": 0.9 if ok else 0.1, "reason": "Names seed 7." if ok else "Wrong seed, says the judge."}
        )
    return f"Blue, seed {body.get('seed')}."


def test_a_judge_model_grades_with_its_reasons_and_is_estimated_and_logged(data_dir: Path, serve_model: ServeModel) -> None:
    serve_model(reply=_judge)
    at = _fill(_page(), asserts="- type: llm-rubric\n  value: Mentions seed 7\n")
    captions = [c.value for c in at.main.caption]
    assert any("plus 4 judge calls (smollm2-135m-instruct)" in c for c in captions), captions
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    shown = _markdown(at)
    assert (
        shown.count("✅ **pass** · score 0.90") == 2 and shown.count("❌ **fail** · score 0.10: Wrong seed, says the judge.") == 2
    )
    pages = sorted(line["page"] for line in usage_lines(data_dir))
    assert pages == ["compare"] * 4 + [JUDGE_PAGE] * 4


def test_an_invalid_assertion_is_a_message_and_blocks_the_run(fake_model: HostedAPISim) -> None:
    at = _fill(_page(), asserts="- type: regex\n  value: '([a-z'\n")
    errors = [e.value for e in at.main.error]
    assert any("Invalid regular expression ([a-z" in e for e in errors) and not any("Traceback" in e for e in errors)
    assert at.button(key="cmp_run").disabled


PROMPTFOO_CONFIG = """
prompts:
  - 'Describe {{thing}} in one line.'
providers:
  - id: openai:chat:smollm2-135m-instruct
    config: {temperature: 0, seed: 3, max_tokens: 32}
  - id: openai:chat:smollm2-135m-instruct
    config: {temperature: 0.8, seed: 3, max_tokens: 32}
  - anthropic:messages:claude-x
tests:
  - vars: {thing: the sea}
    assert:
      - type: icontains
        value: sea
  - vars: {thing: a forest}
defaultTest:
  assert:
    - type: not-icontains
      value: sorry
metadata:
  yoake: {providers: [local]}
"""


def test_a_promptfoo_config_imports_into_the_form_and_runs(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    at.file_uploader(key="cmp_pf_file").set_value(("promptfooconfig.yaml", PROMPTFOO_CONFIG.encode(), "application/yaml")).run()
    at.button(key="cmp_pf_import").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="cmp_prompt").value == "Describe {{thing}} in one line."
    assert at.text_area(key="cmp_vars").value.splitlines() == ["thing", "the sea", "a forest"]
    assert at.text_area(key="cmp_asserts_all").value == "- type: not-icontains\n  value: sorry\n"
    assert at.text_area(key="cmp_asserts_row_0").value == "- type: icontains\n  value: sea\n"
    assert "claude-x is not OpenAI-compatible" in " ".join(w.value for w in at.main.warning)  # what was left out, said
    assert "**4 calls**" in at.info[0].value
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    assert "**pass rate**" in _markdown(at)


def test_the_scored_page_in_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _fill(_page("ja-JP"))
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    assert english_left(at) == []
    shown = _markdown(at)
    assert "**合格率**" in shown and "「seed 7」が含まれることを期待しました。" in shown
    at.text_area(key="cmp_asserts_all").set_value("- type: bogus\n").run()
    errors = [e.value for e in at.main.error]
    assert any("アサーションの種類'bogus'はありません" in e for e in errors), errors
    assert english_left(at) == []
    at.toggle(key="cmp_blind").set_value(True).run()
    assert english_left(at) == []


def test_the_scored_page_in_english_has_no_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _fill(_page("en-US"))
    at.button(key="cmp_run").click().run()
    assert japanese_left(at) == []


def test_the_judge_can_be_a_model_from_another_provider(
    data_dir: Path, serve_model: ServeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = serve_model(reply=_judge)
    monkeypatch.setenv("CUSTOM_BASE_URL", sim.base_url)  # the judge's own provider: Custom, on the same loopback model
    at = _fill(_page(), asserts="- type: llm-rubric\n  value: Mentions seed 7\n")
    at.selectbox(key="cmp_judge_slot").set_value(-1).run()
    at.sidebar.selectbox(key="cmp_judge_provider").set_value("custom").run()
    assert not at.exception, at.exception
    assert any("judge calls" in c.value for c in at.main.caption)
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    judged = [(line["page"], line["provider"]) for line in usage_lines(data_dir) if line["page"] == JUDGE_PAGE]
    assert judged == [(JUDGE_PAGE, "custom")] * 4
    assert _markdown(at).count("✅ **pass** · score 0.90") == 2
    record = load_run(Store.in_dir(data_dir), at.session_state["cmp_view_id"])
    assert record is not None and EvalSpec.from_dict(record.spec.evals).judge_provider == "custom"


def test_a_failing_judge_in_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _fill(_page("ja-JP"), asserts="- type: llm-rubric\n  value: 丁寧か\n")  # the fake model answers no verdict
    at.selectbox(key="cmp_judge_slot").set_value(-1).run()
    assert any("採点の呼び出し4回" in c.value for c in at.main.caption)
    assert english_left(at) == []
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    shown = _markdown(at)
    assert shown.count("採点できませんでした：採点モデルがJSON形式の判定を返しませんでした。") == 4
    assert shown.count("⚠️ 2件の回答を採点できませんでした") == 2  # per column
    assert english_left(at) == []


def test_a_rerun_keeps_the_assertions(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _fill(_page(), asserts=SEED_7)
    at.text_input(key="cmp_threshold").set_value("0.5").run()
    at.button(key="cmp_run").click().run()
    first = at.session_state["cmp_view_id"]
    at.text_area(key="cmp_asserts_all").set_value("")
    at.text_input(key="cmp_threshold").set_value("").run()
    at.button(key="cmp_rerun").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="cmp_asserts_all").value == SEED_7 and at.text_input(key="cmp_threshold").value == "0.5"
    second = at.session_state["cmp_view_id"]
    assert second != first
    record = load_run(Store.in_dir(data_dir), second)
    assert record is not None and EvalSpec.from_dict(record.spec.evals).threshold == 0.5
    assert _markdown(at).count("**pass rate** 50% (1/2)") == 2
