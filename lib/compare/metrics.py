"""How different a column's answers are: distinct-n, mean pairwise similarity, identical answers."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lib.compare.grid import GridPlan
from lib.compare.runner import DONE, CellResult
from lib.core.i18n import Msg
from lib.core.text import CJK_CHARS

# --- how different are a column's answers ----------------------------------------------------------

_WORD = re.compile(rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+")

DIVERSITY_NOTE = Msg(
    "distinct-n: unique word n-grams ÷ all n-grams over the column's answers (higher = more varied; "
    "1.0 = nothing repeats) · similarity: mean token-set Jaccard over every pair of answers "
    "(1.0 = same words) · identical: answers exactly alike, grouped."
)


def words(text: str) -> list[str]:
    """Lower-cased words (a CJK character counts as one word); punctuation is dropped."""
    return _WORD.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Unique n-grams / all n-grams across the texts (None when there is no n-gram at all)."""
    grams = [tuple(toks[i : i + n]) for toks in map(words, texts) for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def jaccard(a: str, b: str) -> float:
    sa, sb = set(words(a)), set(words(b))
    return 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)


@dataclass(frozen=True)
class Diversity:
    samples: int
    distinct_1: float | None
    distinct_2: float | None
    similarity: float | None  # mean pairwise Jaccard; None with fewer than 2 answers
    identical: tuple[int, ...]  # sizes of the groups of identical answers (2+), largest first

    @property
    def identical_answers(self) -> int:
        return sum(self.identical)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"identical_answers": self.identical_answers}


def diversity(texts: Sequence[str]) -> Diversity:
    texts = list(texts)
    pairs = list(itertools.combinations(texts, 2))
    groups = Counter(t.strip() for t in texts)
    return Diversity(
        samples=len(texts),
        distinct_1=distinct_n(texts, 1),
        distinct_2=distinct_n(texts, 2),
        similarity=sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else None,
        identical=tuple(sorted((c for c in groups.values() if c > 1), reverse=True)),
    )


def column_texts(plan: GridPlan, results: Sequence[CellResult], column: int) -> list[str]:
    """The answers a column's diversity is measured on: its cells that finished without an error or a stop."""
    return [results[c.index].text for c in plan.cells if c.column == column and results[c.index].status == DONE]


def column_diversity(plan: GridPlan, results: Sequence[CellResult]) -> list[Diversity]:
    return [diversity(column_texts(plan, results, j)) for j in range(len(plan.columns))]
