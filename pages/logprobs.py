"""Logprobs explorer: which tokens the model was sure of, what it almost said, and forks from there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import openai
import streamlit as st

from lib.llm.chat import CallContext, ChatParams, parse_seed
from lib.llm.providers import PROVIDERS
from lib.logprobs import (
    MAX_TOP_K,
    REPRODUCIBLE_NOTE,
    ForkError,
    LogprobRun,
    LogprobTable,
    Probe,
    export_csv,
    export_json,
    fork_prefix,
    fork_unavailable_reason,
    heat_html,
    known_probe,
    probe_logprobs,
    reproducible_extra_body,
    run_logprobs,
    summarize,
    to_frame,
)
from ui import logprobs_prompt
from ui.common import Selection, enter_page, error_message, model_picker, open_store, show_error
from ui.i18n import _, fmt_number, fmt_percent, language, ngettext, tr
from ui.logprobs_view import close_up, run_caption, spans_table, token_columns
from ui.structured_view import format_controls, show_for_table

enter_page()  # first: never run without the entry point (password gate, navigation)

PAGE = "logprobs"

st.title("🔍 " + _("Logprobs explorer"))
st.caption(_("See which tokens the model was sure of, and what it almost said."))

state = st.session_state
state.setdefault("lp_run", None)  # LogprobRun of the last run
state.setdefault("lp_fork", None)  # (LogprobRun, position, alternative label) of the last fork
state.setdefault("lp_error", None)  # redacted message of the last failure
if (handoff := state.pop("lp_handoff", None)) is not None:  # a compare cell opened here (LogprobsRequest)
    state.update(lp_provider=handoff.provider, lp_model=handoff.model, lp_system=handoff.system, lp_prompt=handoff.prompt,
                 lp_temperature=handoff.temperature, lp_max_tokens=handoff.max_tokens, lp_seed=handoff.seed,
                 lp_run=None, lp_fork=None, lp_error=None)  # fmt: skip
logprobs_prompt.init(open_store())

with st.sidebar:
    selection = model_picker("lp")
    st.slider(_("Temperature"), 0.0, 2.0, 0.0, 0.05, key="lp_temperature")
    st.number_input(_("Max tokens"), 1, 4096, 64, key="lp_max_tokens")
    st.slider(_("Alternatives per position (top_logprobs)"), 0, MAX_TOP_K, 5, key="lp_top_k")
    st.text_input(_("Seed (blank = random)"), "42", key="lp_seed")
    threshold = st.slider(_("Low confidence: p below"), 0.01, 0.99, 0.5, 0.01, key="lp_threshold")
    with st.expander(_("Structured output")):
        response_format, format_problem = format_controls("lp")

seed, seed_error = parse_seed(state.lp_seed)
if seed_error:
    st.sidebar.error(_("{problem} Sending without one.").format(problem=tr(seed_error)))


@st.cache_data(ttl=3600, show_spinner=_("Checking whether this model returns logprobs…"))
def _probe(provider_id: str, base_url: str, model: str, _client: openai.OpenAI, _ctx: CallContext) -> Probe:
    # Keyed by provider, base URL and model; connection/key failures raise and are not cached.
    return probe_logprobs(_client, model, _ctx, PROVIDERS[provider_id].label)


def _check(sel: Selection) -> Probe | None:
    probe = known_probe(sel.provider)
    if probe is None:
        try:
            probe = _probe(sel.provider.id, sel.base_url, sel.model, sel.client, sel.context(PAGE))
        except Exception as exc:  # the SDK's errors: a specific, redacted message
            show_error(exc, sel.provider, sel.settings)
            return None
    if not probe.available:
        st.warning(
            _("**Logprobs are not available for `{model}` on {provider}.** {detail} Pick another provider or model.").format(
                model=sel.model, provider=tr(sel.provider.label), detail=sel.settings.redact(tr(probe.detail))
            ),
            icon="🚫",
        )
    return probe


probe = _check(selection) if selection else None
ready = selection is not None and probe is not None and probe.available

if selection is not None and reproducible_extra_body(selection.provider):
    st.caption(tr(REPRODUCIBLE_NOTE))
logprobs_prompt.section(open_store())
st.text_area(_("System prompt (optional)"), key="lp_system", height=68)
st.text_area(_("Prompt"), key="lp_prompt", height=100, placeholder=_("Ask the model something…"))


def _fail(exc: BaseException) -> None:
    assert selection is not None
    state.lp_error = error_message(exc, selection.provider, selection.settings)


prompt_ref = logprobs_prompt.ref()  # name@version while the text is a saved version's
if st.button(_("Run"), key="lp_run_button", type="primary", disabled=not ready or format_problem is not None):
    assert selection is not None
    prompt = state.lp_prompt.strip()
    if not prompt:
        st.error(_("Type a prompt first."))
    else:
        state.lp_error = None
        messages = ([{"role": "system", "content": state.lp_system.strip()}] if state.lp_system.strip() else []) + [
            {"role": "user", "content": prompt}
        ]
        params = ChatParams(
            model=selection.model, temperature=state.lp_temperature, max_tokens=int(state.lp_max_tokens), seed=seed
        )
        try:
            with st.spinner(_("Asking the model…")):
                state.lp_run = run_logprobs(
                    selection.client,
                    messages,
                    params,
                    replace(selection.context(PAGE), prompt=prompt_ref),
                    int(state.lp_top_k),
                    extra_body=reproducible_extra_body(selection.provider),
                    response_format=response_format.request(),
                )
            state.lp_fork = None
            state.lp_format = response_format
        except Exception as exc:  # the SDK's errors, shown redacted below
            _fail(exc)

if state.lp_error:
    st.error(state.lp_error, icon="⚠️")

run: LogprobRun | None = state.lp_run
if run is None:
    st.stop()

table: LogprobTable = run.table
st.caption(run_caption(run))
if not len(table):
    st.warning(_("The model answered but returned no logprobs for this request, so there is nothing to explore."))
    st.text(run.text)
    st.stop()


# --- 1. heat view -------------------------------------------------------------------------------
st.subheader(_("Reply"))
st.html(heat_html(table, lang=language()))  # st.html sanitises; heat_html also escapes every model-derived string
st.caption(_("Darker = less probable. Hover a token to see its alternatives; ␣ and ↵ mark whitespace-only tokens."))
if any(table.lead(i) for i in range(len(table))):
    st.caption(
        _(
            "This server reports a character spanning several tokens as one position: its probability and "
            "alternatives are for the character's last token, so alternatives show as byte escapes like `<0xA5>`."
        )
    )

if state.get("lp_format") is not None:  # the format the run was made with
    show_for_table(state.lp_format, run.text, table, run.result.finish_reason, "lp_sv")

# --- 3. summary ---------------------------------------------------------------------------------
summary = summarize(table, threshold)
assert summary is not None
cols = st.columns(5)
below = fmt_number(threshold)
cols[0].metric(_("Perplexity"), f"{summary.perplexity:.3f}", help=_("exp(−mean logprob)"))
cols[1].metric(
    _("Joint probability"),
    f"{summary.joint_prob:.3g}",
    help=_("exp(sum of logprobs); sum = {sum}").format(sum=fmt_number(summary.sum_logprob, 3)),
)
cols[2].metric(_("Mean token p"), fmt_percent(summary.mean_prob, 1))
cols[3].metric(_("Min token p"), fmt_percent(summary.min_prob, 1), help=_("at position {n}").format(n=summary.min_position))
cols[4].metric(_("Positions with p < {threshold}").format(threshold=below), f"{summary.low_count} / {summary.positions}")
if summary.spans:
    spans_table(summary)

# --- 2. the table -------------------------------------------------------------------------------
st.subheader(_("Tokens"))
frame = to_frame(table)
only_low = st.checkbox(_("Only positions with p < {threshold}").format(threshold=below), key="lp_only_low")
shown = frame[frame["probability"] < threshold] if only_low else frame
picked = st.dataframe(
    shown,
    hide_index=True,
    key="lp_table",
    on_select="rerun",
    selection_mode="single-row",
    column_config=token_columns(),
)
st.caption(_("Click a column header to sort; select a row to look at that position up close below."))
rows = picked.selection.rows if picked is not None else []
if rows:
    pick = (id(run), int(shown["position"].iloc[rows[0]]))
    if state.get("lp_picked") != pick:  # a new row selection moves the close-up; the selectbox still works
        state.lp_picked = pick
        state.lp_position = pick[1]  # set before the position selectbox below is created
dl = st.columns(2)
dl[0].download_button(_("Download CSV"), export_csv(table), "logprobs.csv", "text/csv", key="lp_dl_csv")
dl[1].download_button(_("Download JSON"), export_json(table), "logprobs.json", "application/json", key="lp_dl_json")

# --- 4. one position up close -------------------------------------------------------------------
st.subheader(_("One position up close"))
probs = table.probs
if state.get("lp_position") not in range(len(table)):
    state.lp_position = summary.min_position
position = st.selectbox(
    _("Position"),
    range(len(table)),
    key="lp_position",
    format_func=lambda i: f"#{i} {table.labels[i]} ({fmt_percent(probs[i], 1)})",
)
labels = table.alt_labels[position]
if not labels:
    st.info(_("No alternatives were requested (top_logprobs = 0). Raise it in the sidebar and run again."))
else:
    t_what_if = st.slider(
        _("What-if temperature"),
        0.05,
        3.0,
        1.0,
        0.05,
        key="lp_what_if_t",
        help=_("softmax(logprob / T) over these alternatives, renormalised"),
    )
    alt_lp = table.alt_logprobs[position, : len(labels)]
    close_up(labels, alt_lp, t_what_if)
    st.caption(_("The what-if bars renormalise only the shown alternatives; the server's bars are its own probabilities."))

    # --- 5. fork from an alternative ------------------------------------------------------------
    st.subheader(_("Fork from an alternative"))
    if state.get("lp_fork_alt") not in range(len(labels)):
        state.lp_fork_alt = min(1, len(labels) - 1)  # the runner-up: the most interesting fork
    alt = st.selectbox(
        _("Alternative to splice in"),
        range(len(labels)),
        key="lp_fork_alt",
        format_func=lambda c: f"{labels[c]} ({fmt_percent(float(np.exp(alt_lp[c])), 1)})",
    )
    reason = fork_unavailable_reason(selection.provider) if selection else _("Pick a provider and model first.")
    prefix = ""
    if reason is None:
        try:
            prefix = fork_prefix(table, position, alt)
        except ForkError as exc:
            reason = exc.detail
    if reason:
        st.caption(f"⛔ {tr(reason)}")
    if st.button(_("Fork: continue from here"), key="lp_fork_button", disabled=reason is not None):
        assert selection is not None
        state.lp_error = None
        try:
            with st.spinner(_("Continuing from the alternative…")):
                forked = run_logprobs(
                    selection.client,
                    run.messages,
                    run.params,
                    selection.context(PAGE),
                    run.top_k,
                    prefix=prefix,
                    extra_body=reproducible_extra_body(selection.provider),
                )
            state.lp_fork = (forked, position, labels[alt])
        except Exception as exc:  # the SDK's errors
            _fail(exc)
            st.rerun()

fork = state.lp_fork
if fork is not None:
    forked, fpos, flabel = fork
    left, right = st.columns(2)
    with left:
        st.markdown("**" + _("Original") + "**")
        st.html(heat_html(table, lang=language()))  # escaped, see heat_html
    with right:
        st.markdown(_("**Fork at #{position}**, spliced in:").format(position=fpos))
        st.code(flabel, language=None)  # a model token: shown as text, never as markdown
        st.html(heat_html(forked.table, given_prefix=forked.prefix, lang=language()))  # escaped, see heat_html
        fsum = summarize(forked.table, threshold)
        if fsum:
            st.caption(
                ngettext(
                    "continuation: {n} token · perplexity {perplexity} · mean p {mean} · min p {min}",
                    "continuation: {n} tokens · perplexity {perplexity} · mean p {mean} · min p {min}",
                    fsum.positions,
                ).format(
                    n=fsum.positions,
                    perplexity=f"{fsum.perplexity:.3f}",
                    mean=fmt_percent(fsum.mean_prob, 1),
                    min=fmt_percent(fsum.min_prob, 1),
                )
            )
        else:
            st.caption(_("The continuation came back without logprobs."))
    with st.expander(_("Fork's tokens")):
        st.dataframe(to_frame(forked.table), hide_index=True, key="lp_fork_table", column_config=token_columns())
