"""The usage page's charts: tokens and cost by model over time, latency, calls by page and provider, errors.
Titles, axes, legends and tooltips in the visitor's language; the data (model ids, error kinds) as logged."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import altair as alt
import streamlit as st

from lib.core import i18n
from lib.usage.view import UsageView
from ui.i18n import N_, _, language

# The pages' ids in the usage log -> their titles in the navigation (streamlit_app.py).
PAGE_TITLES = {
    "chat": N_("Chat"),
    "logprobs": N_("Logprobs explorer"),
    "summarize": N_("URL summariser"),
    "docs_qa": N_("Docs Q&A"),
    "compare": N_("Compare"),
}


def shown_as(labels: Mapping[str, str], *, translate: bool = True) -> Callable[[str], str]:
    """A widget's format_func: a stored value (an English id) as its label in this run's language, bound
    now, since Streamlit (and AppTest) also call it outside the run. Values without a label stay as they
    are; `translate=False` for labels already worded."""
    lang = language()
    return lambda value: (i18n.gettext(labels[value], lang) if translate else labels[value]) if value in labels else value


def page_title(page: str) -> str:
    """A logged page id as the visitor knows the page (an unknown id as it is)."""
    return shown_as(PAGE_TITLES)(page)


def charts(view: UsageView, tz: str) -> None:
    hourly = view.bucket == "hour"
    when = (_("hour ({tz})") if hourly else _("day ({tz})")).format(tz=tz)
    x = alt.X("bucket:T", title=when, timeUnit="yearmonthdatehours" if hourly else "yearmonthdate")
    t_when = alt.Tooltip("bucket:T", title=when)
    t_model = alt.Tooltip("model:N", title=_("model"))
    t_calls = alt.Tooltip("sum(calls):Q", title=_("calls"))
    model = alt.Color("model:N", title=_("model"))
    tab_tokens, tab_latency, tab_mix, tab_errors = st.tabs(
        [_("Tokens & cost"), _("Latency"), _("Pages & providers"), _("Errors")]
    )
    with tab_tokens:
        base = alt.Chart(view.over_time).mark_bar()
        st.altair_chart(
            base.encode(
                x=x,
                y=alt.Y("sum(tokens):Q", title=_("tokens")),
                color=model,
                tooltip=[t_when, t_model, alt.Tooltip("sum(tokens):Q", title=_("tokens")), t_calls],
            ),
            width="stretch",
        )
        cost = _("estimated cost (USD)")
        st.altair_chart(
            base.encode(
                x=x,
                y=alt.Y("sum(cost):Q", title=cost),
                color=model,
                tooltip=[t_when, t_model, alt.Tooltip("sum(cost):Q", format="$.4f", title=cost)],
            ),
            width="stretch",
        )
    with tab_latency:
        if len(view.latency_hist):
            st.altair_chart(
                alt.Chart(view.latency_hist)
                .mark_bar()
                .encode(
                    x=alt.X("bin_start:Q", title=_("latency (ms), successful calls"), bin="binned"),
                    x2="bin_end:Q",
                    y=alt.Y("calls:Q", title=_("calls")),
                    tooltip=[
                        alt.Tooltip("bin_start:Q", title=_("from (ms)")),
                        alt.Tooltip("bin_end:Q", title=_("to (ms)")),
                        alt.Tooltip("calls:Q", title=_("calls")),
                    ],
                ),
                width="stretch",
            )
        else:
            st.caption(_("No successful calls with a latency in this selection."))
    with tab_mix:
        left, right = st.columns(2)
        by_page = view.by_page.assign(page=view.by_page["page"].map(page_title))
        for col, frame, field, title in (
            (left, by_page, "page", _("page")),
            (right, view.by_provider, "provider", _("provider")),
        ):
            col.altair_chart(
                alt.Chart(frame)
                .mark_bar()
                .encode(
                    x=alt.X("calls:Q", title=_("calls")),
                    y=alt.Y(f"{field}:N", sort="-x", title=title),
                    tooltip=[alt.Tooltip(f"{field}:N", title=title), alt.Tooltip("calls:Q", title=_("calls"))],
                ),
                width="stretch",
            )
    with tab_errors:
        if len(view.errors_over_time):
            kind = _("error type")
            st.altair_chart(
                alt.Chart(view.errors_over_time)
                .mark_bar()
                .encode(
                    x=x,
                    y=alt.Y("sum(calls):Q", title=_("failed calls")),
                    color=alt.Color("error_type:N", title=kind),
                    tooltip=[
                        t_when,
                        alt.Tooltip("error_type:N", title=kind),
                        alt.Tooltip("sum(calls):Q", title=_("failed calls")),
                    ],
                ),
                width="stretch",
            )
        else:
            st.caption(_("No failed calls in this selection."))
