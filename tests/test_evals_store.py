"""Votes on compare runs (lib/storage/compare_votes.py, migration 8): ratings with comments and blind votes are
saved with the run, per owner; another owner's run behaves like a missing one; they go when the run is
deleted; every statement names the owner. Plain pytest, no model server."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from helpers import trace_sql

from lib.core.identity import Identity
from lib.storage.compare_votes import CompareVoteRepository
from lib.storage.db import StoreError
from lib.storage.migrations import SCHEMA_VERSION
from lib.storage.store import Store

ALICE = Identity("https://issuer.example", "alice-sub-123", email="alice@example.com")
BOB = Identity("https://issuer.example", "bob-sub-456", email="bob@example.com")


def _run(store: Store, title: str = "run") -> str:
    cells = [{"index": i, "cell": {}, "text": f"answer {i}", "status": "done", "metrics": {}} for i in range(4)]
    return store.save_compare_run(title=title, status="complete", spec={}, summary={}, cells=cells)


def test_ratings_and_blind_votes_are_saved_with_the_run(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    assert store.schema_version() == SCHEMA_VERSION
    rid = _run(store)
    assert store.rate_cell(rid, 1, 1, " Clear and kind. ") and store.rate_cell(rid, 2, -1)
    assert store.rate_cell(rid, 1, -1, "On second thought: too long.")  # replaces
    ratings = store.list_ratings(rid)
    assert {i: (r.rating, r.comment) for i, r in ratings.items()} == {1: (-1, "On second thought: too long."), 2: (-1, "")}
    assert store.rate_cell(rid, 2, 0) and 2 not in store.list_ratings(rid)  # cleared
    assert store.rate_cell(rid, 3, 0, "just a note") and store.list_ratings(rid)[3].rating == 0
    assert store.add_blind_vote(rid, 0, 1, "a") and store.add_blind_vote(rid, 3, 2, "tie")
    assert [(v.first, v.second, v.winner) for v in store.list_blind_votes(rid)] == [(0, 1, "a"), (3, 2, "tie")]
    with pytest.raises(StoreError):
        store.rate_cell(rid, 0, 2)
    with pytest.raises(StoreError):
        store.add_blind_vote(rid, 0, 1, "both")
    assert store.delete_compare_run(rid)
    with sqlite3.connect(store.path) as conn:  # deleted with the run
        assert conn.execute("SELECT COUNT(*) FROM compare_ratings").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM compare_blind_votes").fetchone() == (0,)


def test_votes_are_per_owner_and_anothers_run_is_like_a_missing_one(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    bob, alice = base.for_owner(BOB.owner), base.for_owner(ALICE.owner)
    bobs = _run(bob, "Bob's run")
    assert bob.rate_cell(bobs, 0, 1, "mine") and bob.add_blind_vote(bobs, 0, 1, "b")
    # Alice cannot vote on Bob's run, nor see his votes: exactly as for a run that does not exist
    for run_id in (bobs, "no-such-run"):
        assert alice.rate_cell(run_id, 0, -1, "hers") is False
        assert alice.rate_cell(run_id, 0, 0) is False
        assert alice.add_blind_vote(run_id, 0, 1, "a") is False
        assert alice.list_ratings(run_id) == {} and alice.list_blind_votes(run_id) == []
    assert base.list_ratings(bobs) == {}  # the laptop owner neither
    assert {i: r.comment for i, r in bob.list_ratings(bobs).items()} == {0: "mine"}
    assert [v.winner for v in bob.list_blind_votes(bobs)] == ["b"]


def test_every_vote_statement_names_the_owner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Store.in_dir(data_dir)
    statements = trace_sql(monkeypatch)
    bob = base.for_owner(BOB.owner)
    rid = _run(bob)
    methods = {n for n in vars(CompareVoteRepository) if not n.startswith("_")}
    calls = {
        "rate_cell": lambda: (bob.rate_cell(rid, 0, 1, "x"), bob.rate_cell(rid, 0, 0)),
        "list_ratings": lambda: bob.list_ratings(rid),
        "add_blind_vote": lambda: bob.add_blind_vote(rid, 0, 1, "a"),
        "list_blind_votes": lambda: bob.list_blind_votes(rid),
    }
    assert set(calls) == methods, "a new vote method: add it here"
    statements.clear()
    for call in calls.values():
        call()
    voted = [s for s in statements if re.search(r"\bcompare_(ratings|blind_votes)\b", s)]
    assert len(voted) >= 5 and [s for s in voted if not re.search(r"\bowner\b", s)] == []
