"""How Docs Q&A words things for people in either language: what happened to each file (`STATUS_*`,
`outcome_counts`), and messages stored as their English text (why a file was skipped, in a
collection's database) turned back into `Msg`s, so the page can word them in the visitor's language although the database keeps
English (as it always has: the command line and older collections read it as it is).

`recall(text)` finds the message of the translation catalog whose English wording, its `{fields}`
filled, is exactly `text` (the most specific one when several fit), and does the same for the
values of its fields, which are often messages themselves ("binary file ({what})"). Text that is no
message of ours (an OS error, a reason stored by an older version) comes back unchanged.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from lib.core.i18n import N_, Msg, gettext, message_ids

# FileOutcome.status (stored and compared in English) as people read it, alone and counted.
STATUS_LABELS = {
    "added": N_("added"),
    "updated": N_("updated"),
    "unchanged": N_("unchanged"),
    "removed": N_("removed"),
    "skipped": N_("skipped"),
}
STATUS_COUNTS = {
    "added": N_("{n} added"),
    "updated": N_("{n} updated"),
    "unchanged": N_("{n} unchanged"),
    "removed": N_("{n} removed"),
    "skipped": N_("{n} skipped"),
}


def status_label(status: str, lang: str) -> str:
    return gettext(STATUS_LABELS[status], lang) if status in STATUS_LABELS else status


def outcome_counts(counts: dict[str, int], order: tuple[str, ...], lang: str) -> str:
    """'6 added, 2 skipped': the statuses in `order` that occurred, counted, in `lang`."""
    sep = gettext(", ", lang)
    return sep.join(gettext(STATUS_COUNTS[s], lang).format(n=counts[s]) for s in order if counts.get(s))


MIN_LITERAL_LETTERS = 6  # a template must say something itself: "{a} ({b})" would match anything


def _literal(msgid: str) -> str:
    return re.sub(r"\{[^{}]*\}", "", msgid)


@cache
def _templates() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """(msgid, its longest literal part, pattern) for every message with fields or not, most specific first."""
    catalog = message_ids()
    out = []
    for msgid in catalog:
        if not isinstance(msgid, str) or not msgid or len(re.findall(r"[A-Za-z]", _literal(msgid))) < MIN_LITERAL_LETTERS:
            continue
        parts = re.split(r"(\{[^{}]*\})", msgid)
        if any(p.startswith("{") and not re.fullmatch(r"\{[A-Za-z_]\w*\}", p) for p in parts):
            continue  # a format spec or an index: not a message Msg fills
        seen: set[str] = set()
        pattern = ""
        for part in parts:
            if part.startswith("{"):
                name = part[1:-1]
                pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
                seen.add(name)
            else:
                pattern += re.escape(part)
        longest = max((p for p in parts if not p.startswith("{")), key=len, default="")
        out.append((msgid, longest, re.compile(pattern, re.DOTALL)))
    out.sort(key=lambda t: -len(_literal(t[0])))
    return tuple(out)


@lru_cache(maxsize=4096)
def recall(text: str | None) -> str | None:
    """`text` as the `Msg` it was written from, or `text` itself."""
    if not text or isinstance(text, Msg):
        return text
    for msgid, longest, pattern in _templates():
        if longest not in text:
            continue
        match = pattern.fullmatch(text)
        if match is None:
            continue
        params = {name: recall(value) for name, value in match.groupdict().items()}
        msg = Msg(msgid, **params)
        if msg == text:
            return msg
    return text
