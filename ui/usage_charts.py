"""The usage page's charts: tokens and cost by model over time, latency, calls by page and provider, errors."""

from __future__ import annotations

import altair as alt
import streamlit as st

from lib.usage.view import UsageView


def charts(view: UsageView, tz: str) -> None:
    unit = "hour" if view.bucket == "hour" else "day"
    x = alt.X("bucket:T", title=f"{unit} ({tz})", timeUnit="yearmonthdatehours" if unit == "hour" else "yearmonthdate")
    tab_tokens, tab_latency, tab_mix, tab_errors = st.tabs(["Tokens & cost", "Latency", "Pages & providers", "Errors"])
    with tab_tokens:
        base = alt.Chart(view.over_time).mark_bar()
        st.altair_chart(
            base.encode(
                x=x,
                y=alt.Y("sum(tokens):Q", title="tokens"),
                color="model:N",
                tooltip=["bucket:T", "model:N", "sum(tokens):Q", "sum(calls):Q"],
            ),
            width="stretch",
        )
        st.altair_chart(
            base.encode(
                x=x,
                y=alt.Y("sum(cost):Q", title="estimated cost (USD)"),
                color="model:N",
                tooltip=["bucket:T", "model:N", alt.Tooltip("sum(cost):Q", format="$.4f")],
            ),
            width="stretch",
        )
    with tab_latency:
        if len(view.latency_hist):
            st.altair_chart(
                alt.Chart(view.latency_hist)
                .mark_bar()
                .encode(
                    x=alt.X("bin_start:Q", title="latency (ms), successful calls", bin="binned"),
                    x2="bin_end:Q",
                    y=alt.Y("calls:Q", title="calls"),
                    tooltip=["bin_start:Q", "bin_end:Q", "calls:Q"],
                ),
                width="stretch",
            )
        else:
            st.caption("No successful calls with a latency in this selection.")
    with tab_mix:
        left, right = st.columns(2)
        for col, frame, field in ((left, view.by_page, "page"), (right, view.by_provider, "provider")):
            col.altair_chart(
                alt.Chart(frame)
                .mark_bar()
                .encode(
                    x=alt.X("calls:Q", title="calls"),
                    y=alt.Y(f"{field}:N", sort="-x", title=field),
                    tooltip=[f"{field}:N", "calls:Q"],
                ),
                width="stretch",
            )
    with tab_errors:
        if len(view.errors_over_time):
            st.altair_chart(
                alt.Chart(view.errors_over_time)
                .mark_bar()
                .encode(
                    x=x,
                    y=alt.Y("sum(calls):Q", title="failed calls"),
                    color=alt.Color("error_type:N", title="error type"),
                    tooltip=["bucket:T", "error_type:N", "sum(calls):Q"],
                ),
                width="stretch",
            )
        else:
            st.caption("No failed calls in this selection.")
