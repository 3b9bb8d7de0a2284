"""Docs Q&A from the shell; collections live under $YOAKE_DATA_DIR/docs/ (as for the app).
Every command acts on the `local` owner's collections unless given `--owner ISSUER|SUBJECT`
(a signed-in user's, as `lib.identity.Identity.owner` spells it).

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
from lib.core.identity import LOCAL_OWNER
from lib.docs_qa.index import FileOutcome, create_collection, list_collections, open_collection


def _report(outcomes: list[FileOutcome]) -> None:
    for o in outcomes:
        if o.reason:
            print(f"{o.status}: {o.source}: {o.reason}", file=sys.stderr)
    counts = Counter(o.status for o in outcomes)
    chunks = sum(o.chunks for o in outcomes if o.status in ("added", "updated"))
    print(", ".join(f"{counts[s]} {s}" for s in ("added", "updated", "unchanged", "skipped", "removed") if counts[s])
          + f" ({chunks} new chunks)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.docs_qa", description="Docs Q&A collections and search.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--owner", default=LOCAL_OWNER, help="whose collections: ISSUER|SUBJECT of a signed-in user (default: local)"
    )
    p = sub.add_parser("index", parents=[common], help="add files and folders to a collection (created if needed)")
    p.add_argument("--collection", required=True)
    p.add_argument("paths", nargs="+")
    p = sub.add_parser("search", parents=[common], help="the best chunks for a query")
    p.add_argument("--collection", required=True)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print a JSON list, best first")
    p.add_argument("query")
    sub.add_parser("list", parents=[common], help="the collections")
    for name, text in (
        ("files", "a collection's files"),
        ("rebuild", "re-read and re-chunk every file"),
        ("delete", "delete a collection"),
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
            _report(outcomes)
            print(f"collection '{coll.name}': {len(coll.files())} files, {len(index)} chunks")
            return 0 if any(o.status != "skipped" for o in outcomes) else 1
        if args.command == "search":
            hits = open_collection(data, args.collection, owner).search(args.query, max(1, args.k))
            if args.json:
                print(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=1))
            else:
                for h in hits:
                    where = f" ({h.location})" if h.location else ""
                    print(f"{h.rank}. {h.score:.3f}  {h.source}{where}  {h.heading}")
                if not hits:
                    print("no chunk matches")
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
                print(f"skipped  {source}: {reason}")
        elif args.command == "rebuild":
            _report(coll.rebuild(command_line_access(settings)))
            coll.load_index()
        elif args.command == "delete":
            coll.delete()
            print(f"deleted collection '{coll.name}'")
        return 0
    except YoakeError as exc:  # DocsError, NotAllowed (an empty YOAKE_DOCS_ROOTS)
        print(f"error: {exc.title} {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
