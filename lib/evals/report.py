"""A compare run as one self-contained HTML file to send to a client after the demo: the settings, each
column's scores (pass rate with its 95 % interval as a chart, mean score, cost per passing answer, votes),
the paired tests against the best column, and the grid with every answer, its verdict and its rating.

Every piece of text (model answers, prompts, labels, reasons) goes through `html.escape`; there is no
script, no external stylesheet, font or image (the chart is inline SVG), so it opens offline anywhere."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from lib.compare.metrics import column_diversity
from lib.compare.record import RunRecord
from lib.core.i18n import N_, Msg, format_number, format_percent, gettext, render
from lib.core.text import format_cost
from lib.evals.assertions import CellScore, dump_assertions
from lib.evals.scoring import ColumnScore, EvalSpec, compare_columns, evals_of
from lib.evals.stats import bradley_terry, records
from lib.storage.compare_votes import BlindVote, Rating

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:2rem;color:#1d2330;line-height:1.5}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid #dde;padding:.4rem .5rem;vertical-align:top;text-align:left}
th{background:#f4f5fa}.answer{white-space:pre-wrap;font-size:.92rem}.pass{color:#137333;font-weight:600}
.fail{color:#b3261e;font-weight:600}.muted{color:#667;font-size:.85rem}pre{white-space:pre-wrap;background:#f7f7fb;padding:.5rem}
table.settings th{width:14rem}.verdict{background:#f7f7fb;padding:.6rem;border-left:4px solid #7a8cff;margin:.4rem 0}
"""


T_SETTINGS = N_("Settings")
T_SCORES_PER_COLUMN = N_("Scores per column")
T_IS_THE_DIFFERENCE_REAL = N_("Is the difference real?")
T_ANSWERS = N_("Answers")
T_COMPARE_RUN_REPORT = N_("Compare run report")
T_ASSERTION_PASSED = N_("Assertion passed")
T_DID_NOT_PASS = N_("Did not pass")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _t(msgid: str, lang: str) -> str:
    return _e(gettext(msgid, lang))


def _chart(labels: Sequence[str], cols: Sequence[ColumnScore], lang: str) -> str:
    """Pass rates as horizontal bars with their 95 % intervals as whiskers (inline SVG)."""
    row_h, left, width = 28, 180, 360
    height = row_h * len(cols) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" role="img">']
    for i, (label, col) in enumerate(zip(labels, cols, strict=True)):
        y = 8 + i * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{_e(label[:28])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{width}" height="16" fill="#eef0f7"/>')
        if col.rate is not None:
            parts.append(f'<rect x="{left}" y="{y + 2}" width="{col.rate * width:.1f}" height="16" fill="#7a8cff"/>')
            if col.interval:
                lo, hi = (left + v * width for v in col.interval)
                parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 10}" y2="{y + 10}" stroke="#1d2330" stroke-width="2"/>')
                parts += [f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 5}" y2="{y + 15}" stroke="#1d2330"/>' for x in (lo, hi)]
            parts.append(f'<text x="{left + width + 6}" y="{y + 15}" font-size="12">{_e(format_percent(col.rate, lang))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(
    record: RunRecord,
    scores: Sequence[CellScore | None],
    columns: Sequence[ColumnScore],
    *,
    column_labels: Sequence[str],
    row_labels: Sequence[str],
    ratings: Mapping[int, Rating] | None = None,
    votes: Sequence[BlindVote] = (),
    lang: str = "en",
    usd_jpy: float | None = None,
) -> str:
    """The report's HTML (labels in the visitor's language, as the page shows them)."""
    ratings = ratings or {}
    spec, plan = record.spec, record.plan
    evals: EvalSpec = evals_of(spec)
    when = datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(lang)}"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(record.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(record.title)}</h1>",
        f'<p class="muted">{_t(T_COMPARE_RUN_REPORT, lang)} · {_e(when)} · Yoake</p>',
        f"<h2>{_t(T_SETTINGS, lang)}</h2><table class='settings'>",
    ]
    models = ", ".join(f"{m.name} ({m.provider})" for m in spec.models)
    temps = ", ".join("—" if t is None else f"{t:g}" for t in spec.temperatures)
    settings = [
        (gettext("Prompt", lang), spec.prompt),
        *[(render(Msg("System prompt {name}", name="ABC"[i]), lang), s) for i, s in enumerate(spec.variants) if s],
        (gettext("Models", lang), models),
        (gettext("Temperatures", lang), temps),
        (gettext("Samples per cell", lang), f"{spec.samples}" + (f" (seed {spec.seed}…)" if spec.seed is not None else "")),
        (gettext("Max tokens per answer", lang), str(spec.max_tokens)),
    ]
    if evals.assertions:
        settings.append((gettext("Assertions for every row", lang), dump_assertions(evals.assertions)))
    if evals.judge_model:
        settings.append((gettext("Judge model", lang), evals.judge_model))
    out += [f"<tr><th>{_e(k)}</th><td><pre>{_e(v)}</pre></td></tr>" for k, v in settings]
    out.append("</table>")

    vote_pairs = [(_column_of(plan, v.first), _column_of(plan, v.second), v.winner) for v in votes]
    vote_pairs = [(a, b, w) for a, b, w in vote_pairs if a is not None and b is not None and a != b]
    strengths = bradley_terry(vote_pairs, prior=0.5) if vote_pairs else {}
    vote_records = records(vote_pairs)
    divs = column_diversity(plan, record.results)
    out.append(f"<h2>{_t(T_SCORES_PER_COLUMN, lang)}</h2>")
    if any(c.scored for c in columns):
        out.append(_chart(column_labels, columns, lang))
    head = [
        N_("Column"),
        N_("Pass rate"),
        N_("{level} interval"),
        N_("Mean score"),
        N_("Cost per passing answer"),
        N_("Win rate (blind votes)"),
    ]
    out.append(
        "<table><tr>"
        + "".join(f"<th>{_t(h, lang).format(level=format_percent(0.95, lang))}</th>" for h in head)
        + "<th>distinct-2</th></tr>"
    )
    for j, (label, col) in enumerate(zip(column_labels, columns, strict=True)):
        rate = f"{format_percent(col.rate, lang)} ({col.passed}/{col.scored})" if col.rate is not None else "—"
        interval = "–".join(format_percent(x, lang) for x in col.interval) if col.interval else "—"
        mean = format_number(col.mean_score, lang, 2) if col.mean_score is not None else "—"
        cost = format_cost(col.cost_per_pass, lang=lang, usd_jpy=usd_jpy) if col.cost_per_pass is not None else "—"
        rec = vote_records.get(j)
        win = f"{format_percent(rec.win_rate or 0, lang)} ({rec.games})" if rec and rec.games else "—"
        if j in strengths:
            win += f" · BT {format_number(strengths[j], lang, 2)}"
        d2 = format_number(divs[j].distinct_2, lang, 3) if divs[j].distinct_2 is not None else "—"
        out.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (label, rate, interval, mean, cost, win, d2)) + "</tr>")
    out.append("</table>")
    scored = [j for j, c in enumerate(columns) if c.scored]
    if len(scored) > 1:
        best = max(scored, key=lambda j: (columns[j].rate or 0, columns[j].mean_score or 0))
        out.append(f"<h2>{_t(T_IS_THE_DIFFERENCE_REAL, lang)}</h2>")
        for j in scored:
            if j != best:
                comp = compare_columns(plan, scores, best, j, column_labels)
                out.append(f'<p class="verdict">{_e(render(comp.verdict, lang))}</p>')

    out.append(f"<h2>{_t(T_ANSWERS, lang)}</h2><table><tr><th></th>")
    out += [f"<th>{_e(label)}</th>" for label in column_labels]
    out.append("</tr>")
    for r, row_label in enumerate(row_labels or [""]):
        out.append(f"<tr><th>{_e(row_label)}</th>")
        for j in range(len(column_labels)):
            cell = plan.at(r, j)
            out.append("<td>" + (_cell(cell.index, record, scores, ratings, lang) if cell is not None else "") + "</td>")
        out.append("</tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def _column_of(plan, index: int) -> int | None:
    return plan.cells[index].column if 0 <= index < len(plan.cells) else None


def _cell(index: int, record: RunRecord, scores: Sequence[CellScore | None], ratings: Mapping[int, Rating], lang: str) -> str:
    res = record.results[index]
    parts = [f'<div class="answer">{_e(res.text)}</div>']
    if res.error:
        parts.append(f'<div class="fail">{_e(render(res.error, lang))}</div>')
    score = scores[index] if index < len(scores) else None
    if score is not None:
        if score.passed:
            parts.append(f'<div class="pass">✅ {_t(T_ASSERTION_PASSED, lang)} · {_e(format_number(score.score, lang, 2))}</div>')
        else:
            parts.append(
                f'<div class="fail">❌ {_t(T_DID_NOT_PASS, lang)} · {_e(format_number(score.score, lang, 2))}: {_e(render(score.reason, lang))}</div>'
            )
    rating = ratings.get(index)
    if rating is not None:
        thumb = {1: "👍", -1: "👎"}.get(rating.rating, "")
        parts.append(f'<div class="muted">{thumb} {_e(rating.comment)}</div>')
    return "".join(parts)
