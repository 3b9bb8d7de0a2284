"""What the translation tests share: the messages of the code (extracted as `scripts/i18n.py` does), the
Japanese catalog, and a walk over everything an AppTest run shows."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from streamlit.testing.v1 import AppTest

from lib.core.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
JA_PO = ROOT / "locales" / "ja" / "LC_MESSAGES" / "messages.po"
JA_MO = JA_PO.with_suffix(".mo")


@cache
def i18n_script():
    spec = importlib.util.spec_from_file_location("yoake_i18n_script", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keywords() -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for spec in i18n_script().KEYWORDS:
        name, _, args = spec.partition(":")
        out[name] = tuple(int(a) for a in args.split(",")) if args else (1,)
    return {k: (v if len(v) > 1 else None) for k, v in out.items()}  # babel: None = the first argument


@cache
def code_messages() -> dict[str, str]:
    """Every message id marked in the code -> where (file:line)."""
    return _extracted()[0]


def plain_and_plural() -> set[str]:
    """Ids used both by `_()` and as the singular of an `ngettext()`: one catalog entry, which gettext
    files under the plural, so the `_()` would show English."""
    _, plain, plural = _extracted()
    return plain & plural


@cache
def _extracted() -> tuple[dict[str, str], set[str], set[str]]:
    method_map = [
        (line.strip()[1:-1].split(":", 1)[1].strip(), "python")
        for line in (ROOT / "babel.cfg").read_text().splitlines()
        if line.strip().startswith("[python:")
    ]
    found: dict[str, str] = {}
    plain: set[str] = set()
    plural: set[str] = set()
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=_keywords()
    ):
        # a plural message (ngettext) is one catalog entry, known by its singular
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
            (plural if isinstance(message, tuple) else plain).add(msgid)
    return found, plain, plural


@cache
def ja_catalog() -> Catalog:
    with JA_PO.open("rb") as f:
        return read_po(f)


def ja(msgid: str) -> str:
    message = ja_catalog().get(msgid)
    assert message is not None and message.string, f"not translated: {msgid!r}"
    return message.string if isinstance(message.string, str) else message.string[0]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^{}]*\}", template)
    return re.compile("^" + "(?s:.+)".join(re.escape(p) for p in parts) + "$")


@cache
def english_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """A pattern per message whose Japanese differs from its English, with words worth noticing."""
    out = []
    for msgid in code_messages():
        message = ja_catalog().get(msgid)
        translated = message.string if message is not None else ""
        if isinstance(translated, tuple):
            translated = translated[0]
        # (a word of its own, not only placeholders: "{done} of {total}" would match any "… of …")
        if translated and translated != msgid and re.search(r"[A-Za-z]{3,}", re.sub(r"\{[^{}]*\}", "", msgid)):
            out.append((msgid, _pattern(msgid)))
    return out


@cache
def japanese_texts() -> list[str]:
    out = []
    for msgid in code_messages():
        message = ja_catalog().get(msgid)
        if (
            message is not None
            and message.string
            and not message.pluralizable
            and "{" not in message.string
            and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", message.string)
        ):
            out.append(message.string)
    return out


_TEXT_ATTRS = ("label", "body", "value", "help", "placeholder", "caption", "options")
# Choice widgets: `value` is the option's own value (often an English id the code keeps), not what is
# shown; their shown texts are the (formatted) `options`.
_CHOICE_WIDGETS = {"selectbox", "radio", "multiselect", "select_slider", "button_group", "segmented_control", "pills"}


def visible_texts(at: AppTest) -> Iterator[str]:
    """Labels, bodies, help, placeholders, options and values of everything the run shows."""

    def walk(node) -> Iterator[object]:
        yield node
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                yield from walk(child)

    for node in walk(at._tree):
        choice = getattr(node, "type", None) in _CHOICE_WIDGETS
        for attr in _TEXT_ATTRS:
            if choice and attr == "value":
                continue
            try:
                value = getattr(node, attr, None)
            except Exception:  # an element without that field in its proto
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if isinstance(v, str) and v.strip():
                    yield v.strip()
        proto = getattr(node, "proto", None)
        for field in ("label", "body", "help", "placeholder"):
            v = getattr(proto, field, None) if proto is not None else None
            if isinstance(v, str) and v.strip():
                yield v.strip()


# The language switch names each language in itself (日本語, English) whatever the page's language.
_LANGUAGE_NAMES = set(LANGUAGES.values())


def _strip_markdown(text: str) -> str:
    return re.sub(r"[*_`]", "", text).strip()


def english_left(at: AppTest) -> list[str]:
    """Texts of a Japanese run that are exactly one of our English messages (untranslated on the page)."""
    left = []
    for text in set(visible_texts(at)) - _LANGUAGE_NAMES:
        plain = _strip_markdown(text)
        for msgid, pattern in english_patterns():
            if pattern.match(text) or pattern.match(plain):
                left.append(f"{text!r} (message {msgid!r})")
                break
    return sorted(left)


def japanese_left(at: AppTest) -> list[str]:
    """Texts of an English run that are one of our Japanese translations."""
    texts = {_strip_markdown(t) for t in visible_texts(at)} - _LANGUAGE_NAMES
    return sorted(t for t in japanese_texts() if _strip_markdown(t) in texts)
