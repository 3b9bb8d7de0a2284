"""Compare: one prompt over a grid of models, temperatures, top_p values, prompt variants, variable
rows and samples, streamed side by side with each cell's timing, tokens, cost and perplexity, and
how different each column's answers are. Runs are saved, reopened, re-run and exported.

A thin view: the grid, runner, metrics, export and hand-offs are lib/compare/; the form is
ui/compare_form.py and the grid's placeholders ui/compare_grid.py. Worker threads never touch
Streamlit: the script thread drains the runner's queue every 0.1 s and updates placeholders.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from lib import compare as cmp
from lib.compare.handoff import LogprobsRequest, chat_turns, form_values
from lib.conversation.service import ConversationService, Target
from lib.core.text import format_cost
from lib.evals.scoring import export_columns, score_results
from ui import compare_form, compare_grid, compare_scores, compare_votes
from ui.common import enter_page, error_message, open_store, settings
from ui.i18n import _, fmt_datetime, fmt_number, language, ngettext, tr

enter_page()  # first: never run without the entry point (password gate, navigation)

PAGE = cmp.PAGE
state = st.session_state
compare_form.init_state()
compare_scores.init_state()
store = open_store()

st.title("⚖️ " + _("Compare"))
st.caption(
    _(
        "One prompt answered many ways at once: models, temperatures, top_p, system prompts and repeated "
        "samples side by side, with how different the answers are."
    )
)

selections = compare_form.sidebar(store)
if state.cmp_notice:
    getattr(st, state.cmp_notice[0])(state.cmp_notice[1])
    state.cmp_notice = None

spec, problems = compare_form.form(store, selections)
spec, eval_problems = compare_scores.form(spec, selections)  # assertions, judge, promptfoo
problems += eval_problems
plan = cmp.expand(spec)
prices = next((s.context(PAGE).prices for s in selections if s is not None), None)
est = cmp.estimate(plan, prices)
factors = " × ".join(compare_grid.factor(a, spec.counts()[a]) for a in spec.varying()) or _("1 combination")
cost = format_cost(est.cost_usd, "at most", lang=language(), usd_jpy=settings().usd_jpy)
if est.cost_usd is None:
    cost += " " + _("({models} has no price)").format(models=", ".join(est.unpriced))
st.info(
    ngettext(
        "**{n} call** ({factors}) · about {input} input tokens, at most {output} output tokens · {cost}",
        "**{n} calls** ({factors}) · about {input} input tokens, at most {output} output tokens · {cost}",
        est.calls,
    ).format(
        n=est.calls, factors=factors, input=fmt_number(est.input_tokens), output=fmt_number(est.max_output_tokens), cost=cost
    ),
    icon="🧮",
)
if judge_estimate := compare_scores.judge_estimate(spec, plan, selections):
    st.caption("🧑‍⚖️ " + judge_estimate)
for problem in dict.fromkeys(problems):
    if problem == cmp.NO_PROMPT:
        st.caption(tr(problem))  # not a mistake yet: nothing typed
    else:
        st.error(tr(problem))


# --- running ---------------------------------------------------------------------------------------


def _start() -> None:
    targets = []
    for sel in selections:
        assert sel is not None
        targets.append(Target(sel.provider, sel.base_url, sel.client, sel.context(PAGE)))
    sels = list(selections)

    def error_text(exc: BaseException, cell: cmp.Cell) -> str:
        sel = sels[cell.slot]
        assert sel is not None
        return error_message(exc, sel.provider, sel.settings)

    runner = compare_scores.runner(  # a GridRunner that also judges llm-rubric assertions on its pool
        spec,
        plan,
        targets,
        sels,
        workers=int(state.cmp_parallel),
        logprobs=bool(state.cmp_logprobs),
        error_text=error_text,
        response_format=spec.response_format,
    )
    state.cmp_active = cmp.ActiveRun(spec, plan, runner.start())
    state.cmp_view_id = None


def _stop() -> None:
    if state.cmp_active is not None:
        state.cmp_active.runner.stop()


# Buttons act through callbacks and session state (a rerun before the body would drop a click).
if state.cmp_autorun and not problems and state.cmp_active is None:
    _start()
state.cmp_autorun = False
active: cmp.ActiveRun | None = state.cmp_active
buttons = st.columns([1, 1, 4])
buttons[0].button(
    "▶ " + _("Run"),
    key="cmp_run",
    type="primary",
    disabled=bool(problems) or active is not None,
    on_click=state.update,
    kwargs={"cmp_autorun": True},
)
if active is not None:
    buttons[1].button(
        "⏹ " + _("Stop"),
        key="cmp_stop",
        on_click=_stop,
        disabled=active.runner.stopping,
        help=_("Stop the run: answers streaming now keep what arrived, cells not started are skipped."),
    )


# --- actions on a saved cell -------------------------------------------------------------------------


def _open_in_chat(record: cmp.RunRecord, cell: cmp.Cell) -> None:
    turns, settings = chat_turns(record, cell)
    cid = ConversationService(store).ensure_saved(None, turns, settings)
    _carry_custom_url(cell, "chat")
    st.switch_page("pages/chat.py", query_params={"c": cid})


def _open_in_logprobs(cell: cmp.Cell) -> None:
    state.lp_handoff = LogprobsRequest.of(cell)  # the explorer fills its own widgets from it
    _carry_custom_url(cell, "lp")
    st.switch_page("pages/logprobs.py")


def _carry_custom_url(cell: cmp.Cell, prefix: str) -> None:
    """A custom server's URL (and typed key) go with the cell when this page's slot still uses it."""
    if cell.provider == "custom" and state.get(f"cmp_m{cell.slot}_provider") == "custom":
        for field in ("custom_url", "custom_key"):
            if state.get(f"cmp_m{cell.slot}_{field}"):
                state[f"{prefix}_{field}"] = state[f"cmp_m{cell.slot}_{field}"]


def _cell_actions(record: cmp.RunRecord, cell: cmp.Cell, ratings: dict) -> None:
    left, right = st.columns(2)
    left.button(
        "💬 " + _("Chat"),
        key=f"cmp_chat_{cell.index}",
        help=_("Continue this answer in the chat page"),
        use_container_width=True,
        on_click=state.update,
        kwargs={"cmp_goto": ("chat", cell.index)},
    )
    right.button(
        "🔍 " + _("Logprobs"),
        key=f"cmp_lp_{cell.index}",
        help=_("Open this request in the logprobs explorer"),
        use_container_width=True,
        on_click=state.update,
        kwargs={"cmp_goto": ("logprobs", cell.index)},
    )
    compare_votes.rating(store, record, cell, ratings)


def _rerun(record: cmp.RunRecord) -> None:
    """Fill the form with the run's settings; the next script run starts it."""
    state.update({f"cmp_{k}": v for k, v in form_values(record.spec).items()} | compare_scores.form_state(record.spec))
    state.cmp_autorun = True
    state.cmp_view_id = None


# --- live run or saved run ---------------------------------------------------------------------------

if active is not None:
    runner = active.runner
    status = st.empty()
    slots, rates, div_slots = compare_grid.grid(active.spec, active.plan, runner.results)
    score_slots = compare_scores.column_slots(len(active.plan.columns)) if active.spec.evals else None
    scores = score_results(active.spec, active.plan, runner.results)
    for res in runner.results:
        compare_grid.show_cell(res, *slots[res.index])
    compare_grid.refresh_columns(active.plan, runner.results, rates, div_slots)
    while not runner.finished:
        changed = runner.drain(0.1)
        scores = score_results(active.spec, active.plan, runner.results) if changed and score_slots else scores
        for i in changed:
            compare_grid.show_cell(runner.results[i], *slots[i], compare_scores.score_line(scores[i]))
        if changed:
            compare_grid.refresh_columns(active.plan, runner.results, rates, div_slots)
            if score_slots:
                compare_scores.refresh_columns(active.plan, runner.results, scores, score_slots)
        done = sum(r.finished for r in runner.results)
        progress = _("Stopping: {done} of {total} cells done") if runner.stopping else _("Running: {done} of {total} cells done")
        seconds = _("{seconds} s").format(seconds=fmt_number(runner.elapsed(), 1))
        status.caption(progress.format(done=done, total=len(runner.results)) + " · " + seconds)
    state.cmp_view_id = active.save_once(store)
    state.cmp_active = None
    st.rerun()

if state.cmp_view_id:
    record = cmp.load_run(store, state.cmp_view_id)
    if record is None:
        state.cmp_view_id = None
        st.warning(_("That run no longer exists."))
        st.stop()
    st.divider()
    failed = sum(r.status == cmp.ERROR for r in record.results)
    head = st.columns([2.6, 1, 1, 1, 1.4])
    facts = [
        fmt_datetime(datetime.fromtimestamp(record.created_at, UTC), "short"),
        ngettext("{n} call", "{n} calls", len(record.results)).format(n=len(record.results)),
    ]
    facts += [_("{n} failed").format(n=failed)] if failed else []
    facts += [tr(cmp.STATUS_LABELS["stopped"])] if record.status == "stopped" else []
    facts += [_("{seconds} s").format(seconds=fmt_number(record.elapsed_s, 1))] if record.elapsed_s is not None else []
    head[0].markdown(f"**{record.title}**  \n" + " · ".join(facts))
    head[1].button(
        "↻ " + _("Re-run"),
        key="cmp_rerun",
        on_click=_rerun,
        args=(record,),
        disabled=active is not None,
        help=_("Fill the form with this run's settings and run it again"),
    )
    goto = state.pop("cmp_goto", None)
    if goto and 0 <= goto[1] < len(record.plan.cells):
        cell = record.plan.cells[goto[1]]
        if goto[0] == "chat":
            _open_in_chat(record, cell)
        else:
            _open_in_logprobs(cell)
    stem = "".join(ch if ch.isalnum() else "-" for ch in record.title)[:40].strip("-") or _("compare")
    scores = score_results(record.spec, record.plan, record.results)
    scored = export_columns(scores, tr)  # the exports carry each cell's score too
    head[2].download_button(
        "⬇️ CSV", cmp.export_csv(record, scored), f"{stem}.csv", "text/csv", key="cmp_dl_csv", on_click="ignore"
    )
    head[3].download_button(
        "⬇️ JSON", cmp.export_json(record, scored), f"{stem}.json", "application/json", key="cmp_dl_json", on_click="ignore"
    )
    shown = compare_grid.shown_labels(record.spec, record.plan)
    compare_scores.report_button(store, record, scores, shown, stem, head[4])
    ratings = store.list_ratings(record.id) if record.id else {}
    if not compare_votes.blind(store, record):  # blind mode hides the grid and its settings
        slots, rates, div_slots = compare_grid.grid(
            record.spec, record.plan, record.results, actions=lambda cell: _cell_actions(record, cell, ratings)
        )
        for res in record.results:
            compare_grid.show_cell(res, *slots[res.index], compare_scores.score_line(scores[res.index]))
        compare_grid.refresh_columns(record.plan, record.results, rates, div_slots)
        if record.spec.evals:
            compare_scores.refresh_columns(
                record.plan, record.results, scores, compare_scores.column_slots(len(record.plan.columns))
            )
            compare_scores.compare_box(record.plan, scores, shown[0])
        compare_votes.ranking(store, record, shown[0], store.list_ratings(record.id) if record.id else {})
