"""Docs Q&A from the shell; collections live under $YOAKE_DATA_DIR/docs/ (as for the app).
Every command acts on the `local` owner's collections unless given `--owner ISSUER|SUBJECT`
(a signed-in user's, as `lib.identity.Identity.owner` spells it). `--lang ja` prints in Japanese
(the default is English).

python -m lib.docs_qa index --collection NAME PATH...      add files and folders (changed files only)
python -m lib.docs_qa search --collection NAME [--k K] [--json] "query"
python -m lib.docs_qa list | files --collection NAME | rebuild --collection NAME | delete --collection NAME

Whoever runs this owns the machine, so any path can be indexed, unless YOAKE_DOCS_ROOTS is set:
then only below those folders, and never the app's own files (lib/core/host_paths.py, as on the page).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from lib.core.config import load_settings
from lib.core.errors import YoakeError
from lib.core.host_paths import command_line_access
from lib.core.i18n import LANGUAGES, gettext, render
from lib.core.identity import LOCAL_OWNER
from lib.docs_qa.index import FileOutcome, create_collection, list_collections, open_collection
from lib.docs_qa.wording import outcome_counts, status_label


def _report(outcomes: list[FileOutcome], lang: str) -> None:
    for o in outcomes:
        if o.reason:
            print(f"{status_label(o.status, lang)}: {o.source}: {render(o.reason, lang)}", file=sys.stderr)
    counts = Counter(o.status for o in outcomes)
    chunks = sum(o.chunks for o in outcomes if o.status in ("added", "updated"))
    summary = outcome_counts(counts, ("added", "updated", "unchanged", "skipped", "removed"), lang)
    print(gettext("{summary} ({chunks} new chunks)", lang).format(summary=summary, chunks=chunks))


def _language(argv: list[str] | None) -> str:
    """The --lang given (before the parser is built, so that its help is in that language too)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang", choices=list(LANGUAGES), default="en")
    known, _ = pre.parse_known_args(argv)
    return known.lang


def main(argv: list[str] | None = None) -> int:
    lang = _language(argv)
    parser = argparse.ArgumentParser(prog="python -m lib.docs_qa", description=gettext("Docs Q&A collections and search.", lang))
    lang_help = gettext("the language of the output: en (default) or ja", lang)
    parser.add_argument("--lang", choices=list(LANGUAGES), default="en", help=lang_help)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lang", choices=list(LANGUAGES), default=argparse.SUPPRESS, help=lang_help)  # also after the command
    common.add_argument(
        "--owner",
        default=LOCAL_OWNER,
        help=gettext("whose collections: ISSUER|SUBJECT of a signed-in user (default: local)", lang),
    )
    p = sub.add_parser("index", parents=[common], help=gettext("add files and folders to a collection (created if needed)", lang))
    p.add_argument("--collection", required=True)
    p.add_argument("paths", nargs="+")
    p = sub.add_parser("search", parents=[common], help=gettext("the best chunks for a query", lang))
    p.add_argument("--collection", required=True)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true", help=gettext("print a JSON list, best first", lang))
    p.add_argument("query")
    sub.add_parser("list", parents=[common], help=gettext("the collections", lang))
    for name, text in (
        ("files", gettext("a collection's files", lang)),
        ("rebuild", gettext("re-read and re-chunk every file", lang)),
        ("delete", gettext("delete a collection", lang)),
    ):
        sub.add_parser(name, parents=[common], help=text).add_argument("--collection", required=True)
    args = parser.parse_args(argv)
    settings = load_settings()
    data = settings.data_dir
    owner = args.owner.strip() or LOCAL_OWNER
    try:
        if args.command == "index":
            coll = create_collection(data, args.collection, exist_ok=True, owner=owner)
            coll.redact = settings.redact
            outcomes = coll.add_paths(args.paths, command_line_access(settings))
            index = coll.load_index()  # built and saved now, so the first search is quick
            _report(outcomes, lang)
            print(gettext("collection '{name}': {files} files, {chunks} chunks", lang).format(
                name=coll.name, files=len(coll.files()), chunks=len(index)))  # fmt: skip
            return 0 if any(o.status != "skipped" for o in outcomes) else 1
        if args.command == "search":
            hits = open_collection(data, args.collection, owner).search(args.query, max(1, args.k))
            if args.json:
                print(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=1))
            else:
                for h in hits:
                    where = f" ({render(h.location, lang)})" if h.location else ""
                    print(f"{h.rank}. {h.score:.3f}  {h.source}{where}  {h.heading}")
                if not hits:
                    print(gettext("no chunk matches", lang))
            return 0
        if args.command == "list":
            for name in list_collections(data, owner):
                print(name)
            return 0
        coll = open_collection(data, args.collection, owner)
        coll.redact = settings.redact
        if args.command == "files":
            for f in coll.files():
                print(f"{f.chunks:6d}  {f.kind:8s}  {f.source}")
            for source, reason in coll.skipped():
                print(f"{status_label('skipped', lang)}  {source}: {render(reason, lang)}")
        elif args.command == "rebuild":
            _report(coll.rebuild(command_line_access(settings)), lang)
            coll.load_index()
        elif args.command == "delete":
            coll.delete()
            print(gettext("deleted collection '{name}'", lang).format(name=coll.name))
        return 0
    except YoakeError as exc:  # DocsError, NotAllowed (an empty YOAKE_DOCS_ROOTS)
        print(gettext("error: {title} {detail}", lang).format(title=render(exc.title, lang), detail=render(exc.detail, lang)),
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    sys.exit(main())
