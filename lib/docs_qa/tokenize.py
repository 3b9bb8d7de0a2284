"""One tokenizer for indexing and for queries, English and Japanese alike, with no dictionary.

Japanese (and Chinese, Korean) is written without spaces, so word splitting finds nothing in it:
each run of CJK characters becomes its overlapping character bigrams ("設定ファイル" -> 設定, 定フ,
ファ, ァイ, イル), the dictionary-free choice that search engines use for CJK. Everything else is
split into lowercased words; identifiers also give their parts (`trim_history`, `ChatStream` ->
trim, history, chat, stream) so prose queries find code. English words lose a plural `s` (the
"S-stemmer") and a short stop list; NFKC folds full-width letters and half-width kana first.
"""

from __future__ import annotations

import re
import unicodedata

from lib.core.text import CJK_CHARS

# Words are letter/digit runs joined by single underscores (so `__init__` is `init`), in both paths.
_PIECE = re.compile(rf"[{CJK_CHARS}]+|[^\W_{CJK_CHARS}]+(?:_[^\W_{CJK_CHARS}]+)*")
_IS_CJK = re.compile(rf"[{CJK_CHARS}]").match
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

_STOP_TEXT = (
    "a an and are as at be been but by can could do does did for from had has have how i if in into is it its "
    "me my no not of on or our so such than that the their them then there these they this those to was we were "
    "what when where which who whom why will with would you your"
)
STOPWORDS = frozenset(_STOP_TEXT.split(" "))


def _stem(word: str) -> str:
    """Harman's S-stemmer: files -> file, queries -> query, classes -> classe; leaves 'ss', 'us', 'is'."""
    if len(word) < 4 or not word.endswith("s") or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def _word_tokens(word: str) -> tuple[str, ...]:
    """A word's tokens: itself (lowercased, stemmed) and, for identifiers, its parts."""
    low = word.lower()
    out: list[str] = []
    if low not in STOPWORDS:
        out.append(_stem(low))
    parts = [p for piece in word.split("_") for p in _CAMEL.findall(piece)] if ("_" in word or not word.islower()) else []
    if len(parts) > 1:
        out.extend(_stem(p.lower()) for p in parts if p.lower() not in STOPWORDS)
    return tuple(out)


_CACHE: dict[str, tuple[str, ...]] = {}  # word -> tokens: vocabularies repeat, so this stays small
_CACHE_MAX = 200_000


def _words(words: list[str], tokens: list[str]) -> None:
    cache = _CACHE
    for word in words:
        got = cache.get(word)
        if got is None:
            got = _word_tokens(word)
            if len(cache) < _CACHE_MAX:
                cache[word] = got
        tokens += got


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, in order (repeats kept: BM25 counts them)."""
    tokens: list[str] = []
    if text.isascii():  # the common case, about twice as fast
        _words(_ASCII_WORD.findall(text), tokens)
        return tokens
    text = unicodedata.normalize("NFKC", text)
    for piece in _PIECE.findall(text):
        if _IS_CJK(piece):
            if len(piece) == 1:
                tokens.append(piece)
            else:
                tokens += [piece[i : i + 2] for i in range(len(piece) - 1)]
        else:
            _words([piece], tokens)
    return tokens
