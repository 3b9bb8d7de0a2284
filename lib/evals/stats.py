"""How far a pass rate can be trusted, and whether two columns really differ.

- `wilson()`: the Wilson score interval of a proportion (95 %: z = 1.959964), honest at 0/3 and 3/3
  where the normal approximation says "0 %–0 %".
- `mcnemar_exact()`: the exact (binomial) McNemar test on paired pass/fail outcomes: only the pairs where
  the two columns disagree count, and under "no difference" each way is equally likely.
- `paired_bootstrap()`: a percentile interval of the mean score difference over resampled pairs.
- `bradley_terry()`: strengths from pairwise votes (Hunter's MM algorithm; a tie is half a win each way).
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials (None when n is 0)."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends (no rounding residue)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b pairs where only the first passed and c where only the second
    did: twice the binomial tail P(X ≤ min(b, c)) with X ~ Bin(b + c, 1/2), at most 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], iterations: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float] | None:
    """(mean of a − b, low, high): a percentile bootstrap interval over resampled pairs (None without pairs)."""
    n = len(a)
    if n == 0 or len(b) != n:
        return None
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(iterations))
    lo = means[int((1 - level) / 2 * iterations)]
    hi = means[min(iterations - 1, int((1 + level) / 2 * iterations))]
    return sum(diffs) / n, lo, hi


@dataclass(frozen=True)
class Paired:
    """Two columns' outcomes on the same rows: both passed, only a, only b, neither."""

    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float
    score_diff: tuple[float, float, float] | None  # mean score a − b, bootstrap low, high

    @property
    def pairs(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @property
    def rate_a(self) -> float:
        return (self.both + self.only_a) / self.pairs if self.pairs else 0.0

    @property
    def rate_b(self) -> float:
        return (self.both + self.only_b) / self.pairs if self.pairs else 0.0


def paired(outcomes: Sequence[tuple[bool, bool]], scores: Sequence[tuple[float, float]] = ()) -> Paired:
    """The paired comparison of (a passed, b passed) outcomes (and their scores, for the bootstrap)."""
    both = sum(a and b for a, b in outcomes)
    only_a = sum(a and not b for a, b in outcomes)
    only_b = sum(b and not a for a, b in outcomes)
    neither = len(outcomes) - both - only_a - only_b
    diff = paired_bootstrap([s[0] for s in scores], [s[1] for s in scores]) if scores else None
    return Paired(both, only_a, only_b, neither, mcnemar_exact(only_a, only_b), diff)


# --- votes ----------------------------------------------------------------------------------------

Vote = tuple[Hashable, Hashable, str]  # (first, second, winner: "a", "b" or "tie")


@dataclass(frozen=True)
class Record:
    wins: int = 0
    losses: int = 0
    ties: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        """Wins, a tie counting half, over the votes it was in."""
        return (self.wins + self.ties / 2) / self.games if self.games else None


def records(votes: Sequence[Vote]) -> dict[Hashable, Record]:
    out: dict[Hashable, list[int]] = {}
    for a, b, winner in votes:
        ra, rb = out.setdefault(a, [0, 0, 0]), out.setdefault(b, [0, 0, 0])
        if winner == "a":
            ra[0], rb[1] = ra[0] + 1, rb[1] + 1
        elif winner == "b":
            rb[0], ra[1] = rb[0] + 1, ra[1] + 1
        else:
            ra[2], rb[2] = ra[2] + 1, rb[2] + 1
    return {k: Record(*v) for k, v in out.items()}


def bradley_terry(votes: Sequence[Vote], prior: float = 0.0, iterations: int = 500, tol: float = 1e-10) -> dict[Hashable, float]:
    """Bradley–Terry strengths (summing to 1) from pairwise votes: P(i beats j) = p_i / (p_i + p_j).

    Hunter's MM update p_i ← W_i / Σ_j n_ij / (p_i + p_j), a tie counting half a win each way; `prior`
    adds that many virtual wins each way for every pair that met (keeps an unbeaten or winless column
    finite)."""
    items = sorted({x for a, b, _ in votes for x in (a, b)}, key=str)
    if not items:
        return {}
    wins: dict[tuple[Hashable, Hashable], float] = {}
    for a, b, winner in votes:
        if a == b:
            continue
        w = {"a": 1.0, "b": 0.0}.get(winner, 0.5)
        wins[(a, b)] = wins.get((a, b), 0.0) + w
        wins[(b, a)] = wins.get((b, a), 0.0) + 1.0 - w
    if prior:
        for pair in list(wins):
            wins[pair] += prior
    games = {(i, j): wins.get((i, j), 0.0) + wins.get((j, i), 0.0) for i in items for j in items if i != j}
    total_wins = {i: sum(wins.get((i, j), 0.0) for j in items if j != i) for i in items}
    p = dict.fromkeys(items, 1.0 / len(items))
    for _ in range(iterations):
        new = {}
        for i in items:
            denom = sum(games[(i, j)] / (p[i] + p[j]) for j in items if j != i and games[(i, j)] > 0)
            new[i] = total_wins[i] / denom if denom > 0 else p[i]
        s = sum(new.values()) or 1.0
        new = {i: v / s for i, v in new.items()}
        delta = max(abs(new[i] - p[i]) for i in items)
        p = new
        if delta < tol:
            break
    return p
