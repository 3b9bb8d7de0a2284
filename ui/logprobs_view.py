"""The logprobs explorer's tables, chart and captions, worded in the visitor's language: headers and help
of the token table (`to_frame`), the least-confident spans, one position's close-up and the line that
describes a run."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lib.logprobs import LogprobRun, Summary, visible, what_if
from ui.i18n import N_, _, fmt_number, ngettext


def token_columns() -> dict:
    """Headers and help of a `to_frame` table (its column names stay as they are: the data's own)."""
    return {
        "position": st.column_config.NumberColumn("#", width="small"),
        "token": st.column_config.TextColumn(_("token"), help=_("␣ space, ↵ newline, <0xA5> a byte that is part of a character")),
        "probability": st.column_config.ProgressColumn("p", min_value=0.0, max_value=1.0, format="percent"),
        "logprob": st.column_config.NumberColumn(_("logprob"), format="%.4f"),
        "rank": st.column_config.NumberColumn(
            _("rank"), help=_("rank of the chosen token among the alternatives (empty: not among them)")
        ),
        "entropy": st.column_config.NumberColumn(
            _("entropy"), format="%.3f", help=_("nats, over the shown alternatives plus a 'rest' bucket")
        ),
        "alternatives": st.column_config.ListColumn(_("alternatives")),
        "alt_probs": st.column_config.BarChartColumn(_("alternative p"), y_min=0.0, y_max=1.0),
    }


def spans_table(summary: Summary) -> None:
    """The least-confident spans, least probable first."""
    st.markdown("**" + _("Least-confident spans") + "**")
    spans = summary.spans
    st.dataframe(
        pd.DataFrame(
            {
                "positions": [f"{s.start}–{s.end}" if s.end > s.start else str(s.start) for s in spans],
                "text": [visible(s.text) or "∅" for s in spans],
                "joint p": [float(np.exp(s.logprob)) for s in spans],
                "min p": [s.min_prob for s in spans],
            }
        ),
        hide_index=True,
        key="lp_spans",
        column_config={
            "positions": st.column_config.TextColumn(_("positions")),
            "text": st.column_config.TextColumn(_("text")),
            "joint p": st.column_config.NumberColumn(_("joint p"), format="%.3g"),
            "min p": st.column_config.ProgressColumn(_("min p"), min_value=0.0, max_value=1.0, format="percent"),
        },
    )


def run_caption(run: LogprobRun) -> str:
    """Model, temperature, seed, tokens and time of a run; says when it was cut off at max tokens."""
    res, params = run.result, run.params
    n = res.usage.completion_tokens if res.usage else None
    parts = [
        res.resolved_model or params.model,
        _("temperature {temperature}").format(temperature=params.temperature),
        _("seed {seed}").format(seed=_("random") if params.seed is None else params.seed),
        ngettext("{n} token", "{n} tokens", n or 0).format(n="?" if n is None else fmt_number(n)),
        _("{seconds} s").format(seconds=fmt_number((res.duration_ms or 0) / 1000, 2)),
    ]
    if res.finish_reason == "length":
        parts.append(_("cut off at max tokens"))
    return " · ".join(parts)


def close_up(labels: list[str], logprobs: np.ndarray, temperature: float) -> None:
    """One position's alternatives: the server's probabilities beside those a what-if temperature would
    give them, as bars (titles, legend and hover text in the visitor's language) and as a table."""
    server = np.exp(logprobs)
    at_t = what_if(logprobs, temperature)
    server_name, what_if_name = _("server p"), _("at T={t}").format(t=fmt_number(temperature))
    names = [f"{r + 1}. {lab}" for r, lab in enumerate(labels)]
    bars = pd.DataFrame(
        {"alternative": names * 2, "series": [server_name] * len(names) + [what_if_name] * len(names), "p": [*server, *at_t]}
    )
    chart = (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            x=alt.X("p:Q", title=_("probability"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("alternative:N", title=_("alternative"), sort=names),
            yOffset=alt.YOffset("series:N", sort=[server_name, what_if_name]),
            color=alt.Color("series:N", title=None, sort=[server_name, what_if_name], legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("alternative:N", title=_("alternative")),
                alt.Tooltip("series:N", title=" "),
                alt.Tooltip("p:Q", title=_("probability"), format=".1%"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        pd.DataFrame({"alternative": labels, "logprob": logprobs, "server p": server, "what-if p": at_t}),
        hide_index=True,
        key="lp_closeup",
        column_config={
            "alternative": st.column_config.TextColumn(_("alternative")),
            "logprob": st.column_config.NumberColumn(_("logprob")),
        }
        | {
            c: st.column_config.ProgressColumn(_(c), min_value=0.0, max_value=1.0, format="percent")
            for c in (N_("server p"), N_("what-if p"))
        },
    )
