"""Two versions side by side: the texts word by word (difflib; Japanese and Chinese character by character,
as they have no spaces between words), the parameters as a table of changes.

`side_markdown` writes one side for `st.markdown` with the changed words coloured by Streamlit's
`:red-background[…]` / `:green-background[…]` directives over escaped text (`lib.core.text.md_text`):
what the user wrote is never markup, HTML, a link (md_text also breaks bare URLs, `www.` names and e-mail
addresses, which Streamlit's markdown would link) or a heading."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from lib.core.i18n import Msg
from lib.core.text import CJK_CHARS, md_text
from lib.prompts.model import PARAMETER_LABELS, TEXT_LABELS, PromptContent

EQUAL, DELETE, INSERT = "equal", "delete", "insert"
# A CJK character alone, a run of whitespace, a run of other word characters, or one punctuation mark.
_TOKEN = re.compile(rf"[{CJK_CHARS}]|\s+|[^\W{CJK_CHARS}]+|[^\w\s]", re.UNICODE)
REMOVED_COLOUR, ADDED_COLOUR = "red", "green"


@dataclass(frozen=True)
class Segment:
    op: str  # equal / delete / insert
    text: str


def words(text: str) -> list[str]:
    """`text` as the tokens a diff compares; joined they give `text` back."""
    return _TOKEN.findall(text or "")


def diff_words(old: str, new: str) -> list[Segment]:
    """The edit from `old` to `new`, word by word: equal runs, deletions (in `old`) and insertions (in `new`),
    adjacent ones of a kind merged."""
    a, b = words(old), words(new)
    out: list[Segment] = []

    def add(op: str, tokens: list[str]) -> None:
        text = "".join(tokens)
        if not text:
            return
        if out and out[-1].op == op:
            out[-1] = Segment(op, out[-1].text + text)
        else:
            out.append(Segment(op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add(EQUAL, a[i1:i2])
        else:  # replace = the old words out, the new words in
            add(DELETE, a[i1:i2])
            add(INSERT, b[j1:j2])
    return out


def sides(segments: list[Segment]) -> tuple[list[Segment], list[Segment]]:
    """(the old side: equal + deleted, the new side: equal + inserted)."""
    return [s for s in segments if s.op != INSERT], [s for s in segments if s.op != DELETE]


def _escaped(run: str) -> str:
    """One line's run as literal markdown, keeping a space where it began or ended with one."""
    core = md_text(run)
    if not core:
        return " " if run else ""
    return (" " if run[:1].isspace() else "") + core + (" " if run[-1:].isspace() else "")


def side_markdown(segments: list[Segment], colour: str) -> str:
    """One side as markdown: each line of the text on its own line, changed words in `colour`'s
    background (a directive never spans a line break). Empty text: an em dash."""
    lines: list[list[str]] = [[]]
    for seg in segments:
        for n, piece in enumerate(seg.text.split("\n")):
            if n:
                lines.append([])
            escaped = _escaped(piece)
            if seg.op != EQUAL and escaped.strip():
                lead = " " if escaped.startswith(" ") else ""
                trail = " " if escaped.endswith(" ") else ""
                escaped = f"{lead}:{colour}-background[{escaped.strip()}]{trail}"
            lines[-1].append(escaped)
    rendered = ["".join(parts).strip() for parts in lines]
    # A line of its own per line (a hard break), a blank line stays a paragraph break.
    text = "  \n".join(line if line else "" for line in rendered).strip()
    return text or "—"


def changed_words(segments: list[Segment]) -> list[str]:
    """The words that changed (deleted and inserted), for captions and tests."""
    return [w for s in segments if s.op != EQUAL for w in words(s.text) if w.strip()]


@dataclass(frozen=True)
class ParamChange:
    name: str
    label: Msg
    old: str
    new: str


def show_value(name: str, value: Any) -> str:
    """A parameter's value as a table shows it: "—" when it is left to the provider."""
    if value in (None, "", [], ()):
        return "—"
    if name == "stop":
        return ", ".join(repr(s) for s in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def diff_params(old: PromptContent, new: PromptContent) -> list[ParamChange]:
    """The parameters whose value differs, in the page's order."""
    a, b = old.to_dict(), new.to_dict()
    return [
        ParamChange(name, label, show_value(name, a[name]), show_value(name, b[name]))
        for name, label in PARAMETER_LABELS.items()
        if a[name] != b[name]
    ]


@dataclass(frozen=True)
class VersionDiff:
    texts: dict[str, list[Segment]]  # "system" / "template" -> segments
    params: list[ParamChange]

    @property
    def changed(self) -> bool:
        return bool(self.params) or any(s.op != EQUAL for segs in self.texts.values() for s in segs)

    def changed_texts(self) -> list[str]:
        return [name for name, segs in self.texts.items() if any(s.op != EQUAL for s in segs)]


def diff_versions(old: PromptContent, new: PromptContent) -> VersionDiff:
    return VersionDiff({name: diff_words(getattr(old, name), getattr(new, name)) for name in TEXT_LABELS}, diff_params(old, new))
