"""Compare: one prompt over a grid of models, temperatures, top_p values, prompt variants, variable
rows and samples, streamed side by side with each cell's timing, tokens, cost and perplexity, and
how different each column's answers are. Runs are saved, reopened, re-run and exported.

A thin view: the grid, runner, metrics and export are lib/compare.py. Worker threads never touch
Streamlit: the script thread drains the runner's queue every 0.1 s and updates placeholders.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import replace
from datetime import datetime

import streamlit as st
from openai.types import CompletionUsage

from lib import compare as cmp
from lib.conversation.personas import BUILTIN_PERSONAS, CUSTOM_PERSONA, builtin_by_name
from lib.conversation.service import ChatSettings, ConversationService, Target, Turn, reply_meta
from lib.core.text import format_cost, md_text
from lib.llm.chat import ChatResult, parse_seed
from lib.storage.store import Store
from ui.common import Selection, enter_page, error_message, model_picker, open_store

enter_page()  # first: never run without the entry point (password gate, navigation)

PAGE = cmp.PAGE
state = st.session_state

# Widget values survive a visit to another page (Streamlit drops the state of widgets a run did not show).
FORM_KEYS = [
    "cmp_n_models",
    "cmp_max_tokens",
    "cmp_parallel",
    "cmp_logprobs",
    "cmp_persona",
    "cmp_n_variants",
    "cmp_prompt",
    "cmp_vars",
    "cmp_temperatures",
    "cmp_top_ps",
    "cmp_samples",
    "cmp_seed",
    "cmp_columns",
    "cmp_columns_auto",
]
FORM_KEYS += [f"cmp_system_{i}" for i in range(cmp.MAX_VARIANTS)]
FORM_KEYS += [f"cmp_m{i}_{k}" for i in range(cmp.MAX_MODELS) for k in ("provider", "model", "custom_url")]
for key, value in state.get("cmp_form", {}).items():
    state.setdefault(key, value)

for key, value in {
    "cmp_n_models": 1, "cmp_max_tokens": 256, "cmp_parallel": 4, "cmp_logprobs": True,
    "cmp_persona": BUILTIN_PERSONAS[0].name, "cmp_n_variants": 1, "cmp_prompt": "", "cmp_vars": "",
    "cmp_temperatures": "0, 0.7, 1.2", "cmp_top_ps": "", "cmp_samples": 2, "cmp_seed": "1", "cmp_columns": "temperature",
    "cmp_system_0": BUILTIN_PERSONAS[0].system_prompt, "cmp_system_1": "", "cmp_system_2": "",
    "cmp_active": None,  # the run streaming now (ActiveRun)
    "cmp_view_id": None,  # the saved run shown
    "cmp_notice": None,  # (kind, text) from the last action
    "cmp_autorun": False,  # a re-run was asked for: start once the form is filled in
}.items():  # fmt: skip
    state.setdefault(key, value)

store = open_store()

st.title("⚖️ Compare")
st.caption(
    "One prompt answered many ways at once: models, temperatures, top_p, system prompts and repeated "
    "samples side by side, with how different the answers are."
)


class ActiveRun:
    """A run in flight, kept in session state so a rerun (Stop, any widget) picks it up again."""

    def __init__(self, spec: cmp.GridSpec, plan: cmp.GridPlan, runner: cmp.GridRunner) -> None:
        self.spec, self.plan, self.runner = spec, plan, runner
        self._saved: str | None = None
        self._lock = threading.Lock()

    def save_once(self, store: Store) -> str:
        """The finished run's id, saved by whichever run of the page gets here first: using the page
        as a run ends starts a new script run beside the old one, and both may see it finish."""
        with self._lock:
            if self._saved is None:
                self._saved = cmp.save_run(store, cmp.record_of(self.spec, self.plan, self.runner))
            return self._saved


# --- sidebar ---------------------------------------------------------------------------------------


def _open_run(run_id: str) -> None:
    state.cmp_view_id = run_id


def _delete_run(run_id: str) -> None:
    store.delete_compare_run(run_id)
    if state.cmp_view_id == run_id:
        state.cmp_view_id = None
    state.cmp_notice = ("success", "Run deleted.")


with st.sidebar:
    st.number_input("Models to compare", 1, cmp.MAX_MODELS, key="cmp_n_models")
    selections: list[Selection | None] = []
    for i in range(int(state.cmp_n_models)):
        st.markdown(f"**Model {i + 1}**")
        selections.append(model_picker(f"cmp_m{i}"))
    st.divider()
    st.number_input("Max tokens per answer", 1, 8192, key="cmp_max_tokens")
    st.slider(
        "Calls at a time",
        1,
        8,
        key="cmp_parallel",
        help="Cells run concurrently on this many threads. A hosted API answers them in parallel; "
        "the embedded model on 2 cores does not get faster with more.",
    )
    st.toggle(
        "Perplexity (ask for logprobs)",
        key="cmp_logprobs",
        help="Requests token logprobs where the provider returns them and shows each answer's perplexity.",
    )
    with st.expander("Saved runs", expanded=True):
        runs = store.list_compare_runs(limit=50)
        if not runs:
            st.caption("Nothing saved yet: every run is saved when it ends.")
        for run in runs:
            open_col, del_col = st.columns([5, 1])
            when = datetime.fromtimestamp(run.created_at).strftime("%m-%d %H:%M")
            open_col.button(
                f"{run.title} · {when}",
                key=f"cmp_open_{run.id}",
                on_click=_open_run,
                args=(run.id,),
                use_container_width=True,
                type="primary" if run.id == state.cmp_view_id else "secondary",
                help=f"{run.cell_count} calls · {run.status}",
            )
            del_col.button("🗑️", key=f"cmp_del_{run.id}", on_click=_delete_run, args=(run.id,), help="Delete this run")

if state.cmp_notice:
    getattr(st, state.cmp_notice[0])(state.cmp_notice[1])
    state.cmp_notice = None


# --- the form --------------------------------------------------------------------------------------


def _apply_persona() -> None:
    persona = builtin_by_name().get(state.cmp_persona) or {p.name: p for p in store.list_personas()}.get(state.cmp_persona)
    if persona:
        state.cmp_system_0 = persona.system_prompt


persona_names = [p.name for p in BUILTIN_PERSONAS] + sorted(p.name for p in store.list_personas()) + [CUSTOM_PERSONA]
if state.cmp_persona not in persona_names:
    state.cmp_persona = CUSTOM_PERSONA
top = st.columns([2, 1])
top[0].selectbox("Persona (fills system prompt A)", persona_names, key="cmp_persona", on_change=_apply_persona)
top[1].number_input("Prompt variants (system prompts)", 1, cmp.MAX_VARIANTS, key="cmp_n_variants")
n_variants = int(state.cmp_n_variants)
for i, col in enumerate(st.columns(n_variants)):
    col.text_area(f"System prompt {cmp.VARIANT_NAMES[i]}", key=f"cmp_system_{i}", height=100)
st.text_area(
    "Prompt",
    key="cmp_prompt",
    height=110,
    placeholder="Ask something… Use {{name}} for a value that changes per row, e.g. Describe {{city}} in one line.",
)
systems = [state[f"cmp_system_{i}"] for i in range(n_variants)]
variables = cmp.find_variables(state.cmp_prompt, *systems)
if variables:
    header = ",".join(variables)
    st.text_area(
        f"Values of {', '.join('{{' + v + '}}' for v in variables)}: CSV, first line names them, one row per line",
        key="cmp_vars",
        height=110,
        placeholder=f"{header}\n" + ",".join("…" for _ in variables),
    )

axes = st.columns(4)
axes[0].text_input("Temperatures", key="cmp_temperatures", help="Comma-separated, 0–2; blank = the provider's default.")
axes[1].text_input("top_p values", key="cmp_top_ps", help="Comma-separated, 0–1; blank = not sent.")
axes[2].number_input(
    "Samples per cell",
    1,
    cmp.MAX_SAMPLES,
    key="cmp_samples",
    help="Repeats of every combination: sample k is sent with seed + k − 1.",
)
axes[3].text_input("Seed (blank = random)", key="cmp_seed")


def _model_choices() -> list[cmp.ModelChoice]:
    chosen = [(s.provider, s.model) for s in selections if s is not None]
    names = [m for _, m in chosen]
    return [cmp.ModelChoice(p.id, m, m if names.count(m) == 1 else f"{p.label.split(' (')[0]}: {m}") for p, m in chosen]


COLUMN_PREFERENCE = ("temperature", "model", "variant", "top_p", "input", "sample")


def _build() -> tuple[cmp.GridSpec, list[str]]:
    """The grid the form describes, and what stops it from running."""
    problems: list[str] = []
    temps, bad = cmp.parse_values(state.cmp_temperatures, "Temperatures", 0.0, 2.0)
    problems += [bad] if bad else []
    top_ps, bad = cmp.parse_values(state.cmp_top_ps, "top_p", 0.0, 1.0)
    problems += [bad] if bad else []
    inputs, bad = cmp.parse_inputs(state.cmp_vars, variables)
    problems += [bad] if bad else []
    seed, bad = parse_seed(state.cmp_seed)
    problems += [bad] if bad else []
    for i, sel in enumerate(selections):
        if sel is None:
            problems.append(f"Model {i + 1} is not usable yet (see the sidebar).")
    choices = _model_choices()
    if len({(c.provider, c.model) for c in choices}) < len(choices):
        problems.append("The same model is chosen twice: use samples to repeat a model.")
    spec = cmp.GridSpec(
        prompt=state.cmp_prompt, models=tuple(choices), variants=tuple(systems), temperatures=tuple(temps or [None]),
        top_ps=tuple(top_ps or [None]), inputs=tuple(inputs or [{}]), samples=int(state.cmp_samples), seed=seed,
        max_tokens=int(state.cmp_max_tokens), persona=state.cmp_persona,
    )  # fmt: skip
    options = spec.varying() or list(cmp.AXES)
    if state.cmp_columns not in options or state.get("cmp_columns_auto", True):
        # Until the user picks one, the columns follow the most telling axis that varies.
        state.cmp_columns = next(a for a in COLUMN_PREFERENCE if a in options)
        state.cmp_columns_auto = True
    st.selectbox(
        "Columns",
        options,
        key="cmp_columns",
        format_func=cmp.AXES.get,
        on_change=state.update,
        kwargs={"cmp_columns_auto": False},
        help="The axis laid out side by side; every combination of the others is a row.",
    )
    spec = replace(spec, column_axis=state.cmp_columns)
    return spec, problems + cmp.problems(spec)


spec, problems = _build()
plan = cmp.expand(spec)
prices = next((s.context(PAGE).prices for s in selections if s is not None), None)
est = cmp.estimate(plan, prices)
counts = spec.counts()
PLURALS = {
    "model": "models",
    "temperature": "temperatures",
    "top_p": "top_p values",
    "variant": "prompt variants",
    "input": "variable rows",
    "sample": "samples",
}
factors = " × ".join(f"{counts[a]} {PLURALS[a]}" for a in spec.varying()) or "1 combination"
cost = format_cost(est.cost_usd, "at most") + (f" ({', '.join(est.unpriced)} has no price)" if est.cost_usd is None else "")
st.info(
    f"**{est.calls} call{'s' if est.calls != 1 else ''}** ({factors}) · about {est.input_tokens:,} input tokens, "
    f"at most {est.max_output_tokens:,} output tokens · {cost}",
    icon="🧮",
)
for problem in dict.fromkeys(problems):
    if problem == cmp.NO_PROMPT:
        st.caption(problem)  # not a mistake yet: nothing typed
    else:
        st.error(problem)


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

    runner = cmp.GridRunner(
        plan.cells, targets, workers=int(state.cmp_parallel), logprobs=bool(state.cmp_logprobs), error_text=error_text
    )
    state.cmp_active = ActiveRun(spec, plan, runner.start())
    state.cmp_view_id = None


def _stop() -> None:
    if state.cmp_active is not None:
        state.cmp_active.runner.stop()


# Buttons act through callbacks and session state (a rerun before the body would drop a click).
if state.cmp_autorun and not problems and state.cmp_active is None:
    _start()
state.cmp_autorun = False
active: ActiveRun | None = state.cmp_active
buttons = st.columns([1, 1, 4])
buttons[0].button(
    "▶ Run",
    key="cmp_run",
    type="primary",
    disabled=bool(problems) or active is not None,
    on_click=state.update,
    kwargs={"cmp_autorun": True},
)
if active is not None:
    buttons[1].button(
        "⏹ Stop",
        key="cmp_stop",
        on_click=_stop,
        disabled=active.runner.stopping,
        help="Stop the run: answers streaming now keep what arrived, cells not started are skipped.",
    )
state.cmp_form = {k: state[k] for k in FORM_KEYS if k in state}


# --- the grid --------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str) -> str:
    return "?" if value is None else format(value, fmt)


def _cell_caption(res: cmp.CellResult) -> str:
    if res.status == cmp.PENDING:
        return "⏸ waiting for a free slot"
    if res.status == cmp.SKIPPED:
        return "⏹ not run (stopped)"
    if res.status == cmp.RUNNING:
        rate = res.live_rate()
        count = f"{res.live_tokens} token{'s' if res.live_tokens != 1 else ''}"
        return f"⏳ streaming · {count}" + (f" · {rate:.1f} tok/s" if rate else "")
    est = " (est.)" if res.usage_estimated else ""
    parts = [
        f"{(res.duration_ms or 0) / 1000:.2f} s",
        f"first token {_num(res.ttft_ms, '.0f')} ms",
        f"{_num(res.tokens_per_s, '.1f')} tok/s",
        f"{res.input_tokens if res.input_tokens is not None else '?'} in / "
        f"{res.output_tokens if res.output_tokens is not None else '?'} out tokens{est}",
        format_cost(res.cost_usd),
    ]
    if res.perplexity is not None:
        parts.append(f"perplexity {res.perplexity:.2f}")
    prefix = {cmp.DONE: "✅", cmp.ERROR: "⚠️", cmp.STOPPED: "⏹ stopped:"}.get(res.status, "")
    if res.status == cmp.DONE and res.finish_reason == "length":
        prefix = "✂️ cut at max tokens:"
    return f"{prefix} " + " · ".join(parts)


def _show_cell(res: cmp.CellResult, text_slot, meta_slot) -> None:
    with text_slot.container():
        if res.text:
            st.markdown(res.text)  # model text as markdown, never as HTML
        elif res.status in (cmp.PENDING, cmp.RUNNING):
            st.caption("…")
        if res.status == cmp.ERROR and res.error:
            st.error(res.error, icon="⚠️")
    meta_slot.caption(_cell_caption(res))


def _column_rate(plan: cmp.GridPlan, results: list[cmp.CellResult], column: int) -> str:
    cells = [results[c.index] for c in plan.cells if c.column == column]
    live = [r.live_rate() for r in cells if r.status == cmp.RUNNING]
    live = [x for x in live if x]
    if live:
        return f"⚡ {sum(live):.1f} tok/s now ({len(live)} streaming)"
    done = [r.tokens_per_s for r in cells if r.status == cmp.DONE and r.tokens_per_s]
    return f"{sum(done) / len(done):.1f} tok/s per answer" if done else ""


def _ratio(value: float | None, base: float | None) -> str:
    return f" (×{value / base:.2f} vs first column)" if value and base else ""


def _show_diversity(slot, div: cmp.Diversity, base: cmp.Diversity | None) -> None:
    if div.samples == 0:
        slot.caption("No finished answers to compare (failed and stopped cells are left out).")
        return
    d1, d2 = div.distinct_1, div.distinct_2
    lines = [
        f"**distinct-1** {_num(d1, '.3f')} · **distinct-2** {_num(d2, '.3f')}"
        + (_ratio(d2, base.distinct_2) if base is not None else ""),
        f"**similarity** {_num(div.similarity, '.3f')}" if div.similarity is not None else "**similarity** — (one answer)",
        f"**identical** {div.identical_answers} of {div.samples} answers"
        + (f" ({', '.join(f'{n}×' for n in div.identical)})" if div.identical else ""),
    ]
    slot.markdown("  \n".join(lines))


def _grid(plan: cmp.GridPlan, results: list[cmp.CellResult], *, actions: cmp.RunRecord | None = None):
    """The grid's placeholders: per cell (text, caption), per column (rate, diversity)."""
    ncols = len(plan.columns)
    heads = st.columns(ncols)
    rates = []
    for j, head in enumerate(heads):
        head.markdown(f"#### {md_text(plan.columns[j])}")  # model ids come from the provider: text, not markdown
        rates.append(head.empty())
    slots: dict[int, tuple] = {}
    for r, row_label in enumerate(plan.rows or [""]):
        if row_label:
            st.markdown(f"**{md_text(row_label)}**")
        cols = st.columns(ncols)
        for j, col in enumerate(cols):
            cell = plan.at(r, j)
            if cell is None:
                continue
            with col, st.container(key=f"cmp_cell_{cell.index}"):
                with st.container(border=True, height=260):
                    text_slot = st.empty()
                meta_slot = st.empty()
                slots[cell.index] = (text_slot, meta_slot)
                if actions is not None:
                    _cell_actions(actions, cell)
    st.markdown("##### How different are each column's answers?")
    divs = st.columns(ncols)
    div_slots = [c.empty() for c in divs]
    st.caption(cmp.DIVERSITY_NOTE)
    return slots, rates, div_slots


def _refresh_columns(plan, results, rates, div_slots) -> None:
    divs = cmp.column_diversity(plan, results)
    for j in range(len(plan.columns)):
        rates[j].caption(_column_rate(plan, results, j))
        _show_diversity(div_slots[j], divs[j], divs[0] if j else None)


# --- actions on a saved cell -------------------------------------------------------------------------


def _open_in_chat(record: cmp.RunRecord, cell: cmp.Cell) -> None:
    res = record.results[cell.index]
    usage = None
    if res.input_tokens is not None and res.output_tokens is not None:
        usage = CompletionUsage(
            prompt_tokens=res.input_tokens, completion_tokens=res.output_tokens, total_tokens=res.input_tokens + res.output_tokens
        )
    reply = ChatResult(
        text=res.text,
        usage=usage,
        usage_estimated=res.usage_estimated,
        resolved_model=res.resolved_model,
        ttft_ms=res.ttft_ms,
        duration_ms=res.duration_ms,
        cost_usd=res.cost_usd,
    )
    params: dict = {"max_tokens": cell.max_tokens, "seed": "" if cell.seed is None else str(cell.seed)}
    if cell.temperature is not None:
        params["temperature"] = cell.temperature
    if cell.top_p is not None:
        params["top_p"] = cell.top_p
    settings = ChatSettings(
        persona=CUSTOM_PERSONA, system_prompt=cell.system_prompt, provider=cell.provider, model=cell.model, params=params
    )
    turns = [Turn("user", cell.prompt)]
    if res.text:
        turns.append(
            Turn("assistant", res.text, incomplete=res.status != cmp.DONE, meta=reply_meta(reply, cell.model, None, False))
        )
    cid = ConversationService(store).ensure_saved(None, turns, settings)
    _carry_custom_url(cell, "chat")
    st.switch_page("pages/chat.py", query_params={"c": cid})


def _open_in_logprobs(cell: cmp.Cell) -> None:
    state.update(
        lp_provider=cell.provider,
        lp_model=cell.model,
        lp_system=cell.system_prompt,
        lp_prompt=cell.prompt,
        lp_temperature=float(cell.temperature if cell.temperature is not None else 1.0),
        lp_max_tokens=min(int(cell.max_tokens), 4096),
        lp_seed="" if cell.seed is None else str(cell.seed),
        lp_run=None,
        lp_fork=None,
        lp_error=None,
    )
    _carry_custom_url(cell, "lp")
    st.switch_page("pages/logprobs.py")


def _carry_custom_url(cell: cmp.Cell, prefix: str) -> None:
    """A custom server's URL (and typed key) go with the cell when this page's slot still uses it."""
    if cell.provider == "custom" and state.get(f"cmp_m{cell.slot}_provider") == "custom":
        for field in ("custom_url", "custom_key"):
            if state.get(f"cmp_m{cell.slot}_{field}"):
                state[f"{prefix}_{field}"] = state[f"cmp_m{cell.slot}_{field}"]


def _cell_actions(record: cmp.RunRecord, cell: cmp.Cell) -> None:
    left, right = st.columns(2)
    left.button(
        "💬 Chat",
        key=f"cmp_chat_{cell.index}",
        help="Continue this answer in the chat page",
        use_container_width=True,
        on_click=state.update,
        kwargs={"cmp_goto": ("chat", cell.index)},
    )
    right.button(
        "🔍 Logprobs",
        key=f"cmp_lp_{cell.index}",
        help="Open this request in the logprobs explorer",
        use_container_width=True,
        on_click=state.update,
        kwargs={"cmp_goto": ("logprobs", cell.index)},
    )


def _rerun(record: cmp.RunRecord) -> None:
    """Fill the form with the run's settings; the next script run starts it."""
    s = record.spec
    state.cmp_prompt = s.prompt
    state.cmp_n_variants = len(s.variants)
    for i, system in enumerate(s.variants):
        state[f"cmp_system_{i}"] = system
    if s.persona:
        state.cmp_persona = s.persona
    if s.inputs and s.inputs[0]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(list(s.inputs[0]))
        writer.writerows([list(row.values()) for row in s.inputs])
        state.cmp_vars = buf.getvalue()
    state.cmp_temperatures = ", ".join(f"{t:g}" for t in s.temperatures if t is not None)
    state.cmp_top_ps = ", ".join(f"{t:g}" for t in s.top_ps if t is not None)
    state.cmp_samples = s.samples
    state.cmp_seed = "" if s.seed is None else str(s.seed)
    state.cmp_max_tokens = s.max_tokens
    state.cmp_columns = s.column_axis
    state.cmp_columns_auto = False
    state.cmp_n_models = max(1, len(s.models))
    for i, m in enumerate(s.models):
        state[f"cmp_m{i}_provider"] = m.provider
        state[f"cmp_m{i}_model"] = m.model
    state.cmp_autorun = True
    state.cmp_view_id = None


# --- live run or saved run ---------------------------------------------------------------------------

if active is not None:
    runner = active.runner
    status = st.empty()
    slots, rates, div_slots = _grid(active.plan, runner.results)
    for res in runner.results:
        _show_cell(res, *slots[res.index])
    _refresh_columns(active.plan, runner.results, rates, div_slots)
    while not runner.finished:
        changed = runner.drain(0.1)
        for i in changed:
            _show_cell(runner.results[i], *slots[i])
        if changed:
            _refresh_columns(active.plan, runner.results, rates, div_slots)
        done = sum(r.finished for r in runner.results)
        status.caption(
            f"{'Stopping' if runner.stopping else 'Running'}: {done} of {len(runner.results)} cells done · "
            f"{runner.elapsed():.1f} s"
        )
    state.cmp_view_id = active.save_once(store)
    state.cmp_active = None
    st.rerun()

if state.cmp_view_id:
    record = cmp.load_run(store, state.cmp_view_id)
    if record is None:
        state.cmp_view_id = None
        st.warning("That run no longer exists.")
        st.stop()
    st.divider()
    failed = sum(r.status == cmp.ERROR for r in record.results)
    head = st.columns([3, 1, 1, 1])
    head[0].markdown(
        f"**{record.title}**  \n"
        f"{datetime.fromtimestamp(record.created_at):%Y-%m-%d %H:%M} · {len(record.results)} calls"
        + (f" · {failed} failed" if failed else "")
        + (" · stopped" if record.status == "stopped" else "")
        + (f" · {record.elapsed_s:.1f} s" if record.elapsed_s is not None else "")
    )
    head[1].button(
        "↻ Re-run",
        key="cmp_rerun",
        on_click=_rerun,
        args=(record,),
        disabled=active is not None,
        help="Fill the form with this run's settings and run it again",
    )
    goto = state.pop("cmp_goto", None)
    if goto and 0 <= goto[1] < len(record.plan.cells):
        cell = record.plan.cells[goto[1]]
        if goto[0] == "chat":
            _open_in_chat(record, cell)
        else:
            _open_in_logprobs(cell)
    stem = "".join(ch if ch.isalnum() else "-" for ch in record.title)[:40].strip("-") or "compare"
    head[2].download_button("⬇️ CSV", cmp.export_csv(record), f"{stem}.csv", "text/csv", key="cmp_dl_csv", on_click="ignore")
    head[3].download_button(
        "⬇️ JSON", cmp.export_json(record), f"{stem}.json", "application/json", key="cmp_dl_json", on_click="ignore"
    )
    slots, rates, div_slots = _grid(record.plan, record.results, actions=record)
    for res in record.results:
        _show_cell(res, *slots[res.index])
    _refresh_columns(record.plan, record.results, rates, div_slots)
