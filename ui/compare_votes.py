"""People as judges on a saved compare run: 👍/👎 with a comment on any cell, a blind mode that shows two
answers of the same row from different columns (random order, no settings) and asks which is better, and
the columns' win rates and Bradley–Terry ranking from those votes. Votes are saved with the run, per owner
(lib/storage/compare_votes.py)."""

from __future__ import annotations

import random

import streamlit as st

from lib import compare as cmp
from lib.core.text import md_text
from lib.evals.stats import bradley_terry, records
from lib.storage.compare_votes import Rating
from lib.storage.store import Store
from ui.i18n import _, fmt_number, fmt_percent

state = st.session_state


def rating(store: Store, record: cmp.RunRecord, cell: cmp.Cell, ratings: dict[int, Rating]) -> None:
    """👍 / 👎 (a second click takes it back) and a comment, under a saved cell."""
    if record.id is None:
        return
    run_id, i = record.id, cell.index
    current = ratings.get(i)
    value = current.rating if current else 0
    comment = current.comment if current else ""
    state.setdefault(f"cmp_comment_{i}", comment)

    def rate(new: int) -> None:
        store.rate_cell(run_id, i, 0 if new == value else new, state.get(f"cmp_comment_{i}", ""))

    def save_comment() -> None:
        store.rate_cell(run_id, i, value, state.get(f"cmp_comment_{i}", ""))

    up, down, text = st.columns([1, 1, 3])
    up.button(
        "👍", key=f"cmp_up_{i}", on_click=rate, args=(1,), type="primary" if value == 1 else "secondary", help=_("A good answer")
    )
    down.button(
        "👎",
        key=f"cmp_down_{i}",
        on_click=rate,
        args=(-1,),
        type="primary" if value == -1 else "secondary",
        help=_("A poor answer"),
    )
    text.text_input(
        _("Comment"), key=f"cmp_comment_{i}", on_change=save_comment, label_visibility="collapsed", placeholder=_("Comment…")
    )


def _pairs(record: cmp.RunRecord) -> list[tuple[int, int]]:
    """Every two answered cells of one row from different columns."""
    by_row: dict[int, list[cmp.Cell]] = {}
    for cell in record.plan.cells:
        res = record.results[cell.index]
        if res.status == cmp.DONE and res.text.strip():
            by_row.setdefault(cell.row, []).append(cell)
    return [
        (a.index, b.index)
        for cells in by_row.values()
        for n, a in enumerate(cells)
        for b in cells[n + 1 :]
        if a.column != b.column
    ]


def blind(store: Store, record: cmp.RunRecord) -> bool:
    """The blind-vote switch and, when on, one pair to vote on (the grid is hidden: True)."""
    if record.id is None or len(record.plan.columns) < 2:
        return False
    st.toggle(
        "🙈 " + _("Blind mode"),
        key="cmp_blind",
        help=_(
            "Two answers to the same row from different columns, in random order and without their settings: pick the better one."
        ),
    )
    if not state.get("cmp_blind"):
        return False
    run_id = record.id
    votes = store.list_blind_votes(run_id)
    pairs = _pairs(record)
    done = {frozenset((v.first, v.second)) for v in votes}
    left = [p for p in pairs if frozenset(p) not in done]
    st.caption(_("{done} of {total} pairs voted").format(done=len(pairs) - len(left), total=len(pairs)))
    if not left:
        st.success(_("You have voted on every pair: switch blind mode off to see the ranking."))
        return True
    rng = random.Random(f"{run_id}:{len(votes)}")  # the same pair until it is voted on, whatever reruns happen
    first, second = rng.choice(left)
    if rng.random() < 0.5:
        first, second = second, first
    st.markdown("##### " + _("Which answer is better?"))
    prompt = record.plan.cells[first].prompt
    st.caption(_("The question: {prompt}").format(prompt=prompt[:300]))
    cols = st.columns(2)
    for col, index, name in ((cols[0], first, _("Answer 1")), (cols[1], second, _("Answer 2"))):
        with col:
            st.markdown(f"**{name}**")
            with st.container(border=True, height=260, key=f"cmp_blind_text_{'ab'[index == second]}"):
                st.markdown(record.results[index].text)  # model text as markdown, never as HTML

    def vote(winner: str) -> None:
        store.add_blind_vote(run_id, first, second, winner)

    b1, b2, b3 = st.columns(3)
    b1.button("⬅️ " + _("Answer 1 is better"), key="cmp_vote_a", on_click=vote, args=("a",), use_container_width=True)
    b2.button("🤝 " + _("Tie"), key="cmp_vote_tie", on_click=vote, args=("tie",), use_container_width=True)
    b3.button(_("Answer 2 is better") + " ➡️", key="cmp_vote_b", on_click=vote, args=("b",), use_container_width=True)
    return True


def ranking(store: Store, record: cmp.RunRecord, labels: list[str], ratings: dict[int, Rating]) -> None:
    """Win rates and the Bradley–Terry ranking from blind votes, and 👍/👎 counts per column."""
    if record.id is None:
        return
    plan = record.plan
    votes = [
        (plan.cells[v.first].column, plan.cells[v.second].column, v.winner)
        for v in store.list_blind_votes(record.id)
        if v.first < len(plan.cells) and v.second < len(plan.cells)
    ]
    thumbs = {j: [0, 0] for j in range(len(plan.columns))}
    for index, r in ratings.items():
        if index < len(plan.cells) and r.rating:
            thumbs[plan.cells[index].column][0 if r.rating > 0 else 1] += 1
    if not votes and not any(sum(t) for t in thumbs.values()):
        return
    st.markdown("##### " + _("What people preferred"))
    strengths = bradley_terry(votes, prior=0.5) if votes else {}
    recs = records(votes)
    order = sorted(range(len(plan.columns)), key=lambda j: -strengths.get(j, 0.0))
    lines = []
    for rank, j in enumerate(order, start=1):
        rec = recs.get(j)
        parts = [f"{rank}. **{md_text(labels[j])}**"]
        if rec and rec.games:
            parts.append(
                _("win rate {rate} ({wins} won, {losses} lost, {ties} tied)").format(
                    rate=fmt_percent(rec.win_rate or 0), wins=rec.wins, losses=rec.losses, ties=rec.ties
                )
            )
        if j in strengths:
            parts.append(_("strength {value}").format(value=fmt_number(strengths[j], 2)))
        up, down = thumbs[j]
        if up or down:
            parts.append(f"👍 {up} · 👎 {down}")
        lines.append(" · ".join(parts))
    st.markdown("  \n".join(lines))
    if votes:
        st.caption(
            _(
                "Strength: a Bradley–Terry model fitted to the blind votes (a tie counts half a win each way); it sums to 1 over the columns."
            )
        )
