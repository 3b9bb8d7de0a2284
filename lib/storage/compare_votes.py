"""People's votes on a saved compare run, per owner: a 👍/👎 rating with a comment per cell, and blind
pairwise votes (two cells of a row, which is better or a tie). Saved with the run (deleted with it)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lib.storage.db import Database, StoreError

RATINGS = (-1, 0, 1)  # 👎, none, 👍
WINNERS = ("a", "b", "tie")


@dataclass(frozen=True)
class Rating:
    index: int
    rating: int  # -1, 0 (a comment only), 1
    comment: str
    updated_at: float


@dataclass(frozen=True)
class BlindVote:
    first: int  # cell index shown first (left)
    second: int  # cell index shown second (right)
    winner: str  # "a" (first), "b" (second) or "tie"
    created_at: float


class CompareVoteRepository(Database):
    # --- ratings and blind votes on compare runs --------------------------------------------------

    def rate_cell(self, run_id: str, index: int, rating: int, comment: str = "") -> bool:
        """Set this owner's rating of a cell of their run (replacing the last one); False when the run
        is not theirs. Rating 0 with no comment removes it."""
        if rating not in RATINGS:
            raise StoreError(f"rating must be one of {RATINGS}")
        comment = (comment or "").strip()[:2000]
        with self._write() as conn:
            if rating == 0 and not comment:
                conn.execute(
                    "DELETE FROM compare_ratings WHERE owner = ? AND run_id = ? AND idx = ?", (self.owner, run_id, int(index))
                )
                return (
                    conn.execute("SELECT 1 FROM compare_runs WHERE id = ? AND owner = ?", (run_id, self.owner)).fetchone()
                    is not None
                )
            cur = conn.execute(
                "INSERT INTO compare_ratings (owner, run_id, idx, rating, comment, updated_at)"
                " SELECT ?, id, ?, ?, ?, ? FROM compare_runs WHERE id = ? AND owner = ?"
                " ON CONFLICT (owner, run_id, idx) DO UPDATE SET rating = excluded.rating, comment = excluded.comment,"
                " updated_at = excluded.updated_at",
                (self.owner, int(index), rating, comment, time.time(), run_id, self.owner),
            )
            return cur.rowcount > 0

    def list_ratings(self, run_id: str) -> dict[int, Rating]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT idx, rating, comment, updated_at FROM compare_ratings WHERE owner = ? AND run_id = ? ORDER BY idx",
                (self.owner, run_id),
            ).fetchall()
        return {r["idx"]: Rating(r["idx"], r["rating"], r["comment"], r["updated_at"]) for r in rows}

    def add_blind_vote(self, run_id: str, first: int, second: int, winner: str) -> bool:
        """Record which of two cells this owner found better (or a tie); False when the run is not theirs."""
        if winner not in WINNERS:
            raise StoreError(f"winner must be one of {WINNERS}")
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO compare_blind_votes (owner, run_id, first_idx, second_idx, winner, created_at)"
                " SELECT ?, id, ?, ?, ?, ? FROM compare_runs WHERE id = ? AND owner = ?",
                (self.owner, int(first), int(second), winner, time.time(), run_id, self.owner),
            )
            return cur.rowcount > 0

    def list_blind_votes(self, run_id: str) -> list[BlindVote]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT first_idx, second_idx, winner, created_at FROM compare_blind_votes"
                " WHERE owner = ? AND run_id = ? ORDER BY id",
                (self.owner, run_id),
            ).fetchall()
        return [BlindVote(r["first_idx"], r["second_idx"], r["winner"], r["created_at"]) for r in rows]
