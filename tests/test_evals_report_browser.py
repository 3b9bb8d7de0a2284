"""The HTML report of a scored compare run (lib/evals/report.py) in real Chromium: it opens from a file with
no script and no request beyond the file itself, the model's hostile text shows as text, and the chart of
pass rates is drawn. Screenshot: artifacts/screenshots/compare-report.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import artifacts_dir, chromium_page

from lib import compare as cmp
from lib.evals.assertions import Assertion
from lib.evals.report import html_report
from lib.evals.scoring import EvalSpec, column_scores, score_results
from lib.storage.compare_votes import BlindVote, Rating

pytestmark = pytest.mark.browser

HOSTILE = '<script>document.title="owned"</script><img src="http://203.0.113.9/x.png" onerror="alert(1)"> blue & <b>bold</b>'


def test_the_report_opens_offline_with_no_script_and_shows_the_text(tmp_path: Path) -> None:
    evals = EvalSpec(assertions=(Assertion("icontains", "blue"),))
    spec = cmp.GridSpec(
        prompt="What colour is the sea?", models=(cmp.ModelChoice("local", "smollm2-135m-instruct"),),
        temperatures=(0.0, 1.0), samples=3, seed=1, evals=evals.to_dict(),
    )  # fmt: skip
    plan = cmp.expand(spec)
    texts = [HOSTILE, "It is grey.", "海は青い blue", "Green.", "BLUE", "no idea"]
    results = [cmp.CellResult(c.index, cmp.DONE, texts[c.index], cost_usd=0.0, duration_ms=10.0) for c in plan.cells]
    record = cmp.RunRecord(spec, plan, results, id="r1")
    scores = score_results(spec, plan, results)
    page_html = html_report(
        record, scores, column_scores(plan, results, scores), column_labels=["T=0", "T=1"], row_labels=plan.rows,
        ratings={0: Rating(0, 1, "<i>nice</i>", 0.0)}, votes=[BlindVote(0, 1, "a", 0.0)], lang="en",
    )  # fmt: skip
    path = tmp_path / "report.html"
    path.write_text(page_html, encoding="utf-8")
    requests: list[str] = []
    with chromium_page() as page:
        page.on("request", lambda r: requests.append(r.url))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert requests == [path.as_uri()]  # nothing else: no image, font, stylesheet or script
        assert page.title() == record.title and not dialogs
        assert page.evaluate("document.scripts.length") == 0 and page.evaluate("document.images.length") == 0
        body = page.inner_text("body")
        assert '<script>document.title="owned"</script>' in body and "<b>bold</b>" in body and "<i>nice</i>" in body
        assert page.locator("svg rect").count() >= 4  # the pass-rate chart: a track and a bar per column
        assert "Expected the answer to contain “blue”." in body
        page.screenshot(path=str(artifacts_dir() / "compare-report.png"), full_page=True)
