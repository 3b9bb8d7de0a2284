"""Translation catalogs with Babel: `python scripts/i18n.py` extracts every message of the code into
locales/messages.pot, merges it into each language's messages.po and compiles the .mo files the app
reads. `extract`, `update` or `compile` runs one step. After adding strings: run it, translate the new
entries of locales/ja/LC_MESSAGES/messages.po (docs/glossary-ja.md), run it again. Or let a tool help:
`missing` prints the untranslated ids as JSON, `fill FILE.json` ({id: translation}, a list for plural
forms) writes translations in and compiles.

Messages are marked in the code with `_()` and `ngettext()` (pages and ui/), `N_()` (a constant,
translated where shown) and `Msg()` (lib/: a message worded later in the visitor's language)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
POT = LOCALES / "messages.pot"
KEYWORDS = ["_", "N_", "Msg", "ngettext:1,2", "gettext:1"]  # gettext(msgid, lang) in lib/
TRANSLATED = ["ja"]  # English is the message ids themselves


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    pybabel(
        "extract", "-F", str(ROOT / "babel.cfg"), "--no-default-keywords", *keywords, "--add-location=file",
        "--sort-by-file", "--project=Yoake", "--no-wrap", "-o", str(POT), ".",
    )  # fmt: skip


def update() -> None:
    for lang in TRANSLATED:
        po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
        if po.exists():
            pybabel("update", "-i", str(POT), "-d", str(LOCALES), "-l", lang, "--no-wrap", "--ignore-obsolete")
        else:
            pybabel("init", "-i", str(POT), "-d", str(LOCALES), "-l", lang, "--no-wrap")


def compile_catalogs() -> None:
    pybabel("compile", "-d", str(LOCALES), "--use-fuzzy" if "--use-fuzzy" in sys.argv else "--statistics")


def _po(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


def missing(lang: str = "ja") -> dict[str, str | list[str]]:
    with _po(lang).open("rb") as f:
        catalog = read_po(f)
    out: dict[str, str | list[str]] = {}
    for m in catalog:
        empty = not m.string or (isinstance(m.string, tuple) and not all(m.string))
        if m.id and (empty or m.fuzzy):
            out[m.id[0] if isinstance(m.id, tuple) else m.id] = list(m.id) if isinstance(m.id, tuple) else ""
    return out


def fill(translations: dict[str, str | list[str]], lang: str = "ja") -> int:
    """Write translations (by English id; a plural entry by its singular) into the catalog."""
    with _po(lang).open("rb") as f:
        catalog = read_po(f)
    done = 0
    for m in catalog:
        key = m.id[0] if isinstance(m.id, tuple) else m.id
        if key and key in translations and translations[key]:
            value = translations[key]
            m.string = (
                tuple(value)
                if isinstance(m.id, tuple) and isinstance(value, list)
                else ((value,) if isinstance(m.id, tuple) else value)
            )
            if m.fuzzy:
                m.flags.discard("fuzzy")
            done += 1
    with _po(lang).open("wb") as f:
        write_po(f, catalog, width=None)
    return done


if __name__ == "__main__":
    os.chdir(ROOT)  # locations in the catalogs are relative to the project
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "missing":
        print(json.dumps(missing(), ensure_ascii=False, indent=1))
    elif command == "fill":
        print(f"{fill(json.loads(Path(sys.argv[2]).read_text(encoding='utf-8')))} translations written")
        compile_catalogs()
    else:
        steps = {"extract": [extract], "update": [update], "compile": [compile_catalogs]}
        for step in steps.get(command, [extract, update, compile_catalogs]):
            step()
