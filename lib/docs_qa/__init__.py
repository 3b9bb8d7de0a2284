"""Docs Q&A: answer questions from the user's own files, with citations, on any provider.

- `tokenize`: one dictionary-free tokenizer for English and Japanese (CJK character bigrams).
- `extract`, `chunking`: files to text, text to structure-aware chunks with heading paths and lines.
- `index`: collections on disk (SQLite + a saved bm25s index), adding/rebuilding/deleting, search.
- `answer`: the prompt (passages within the context budget) and citation parsing (import it from
  `lib.docs_qa.answer`; the shell commands do without it).
- `python -m lib.docs_qa`: the same from the shell (`index`, `search --json`, `list`, …).
"""

from lib.docs_qa.index import (
    Collection,
    DocsError,
    FileInfo,
    FileOutcome,
    Hit,
    SearchIndex,
    create_collection,
    delete_collection,
    list_collections,
    open_collection,
)
from lib.docs_qa.tokenize import tokenize

__all__ = [
    "Collection",
    "DocsError",
    "FileInfo",
    "FileOutcome",
    "Hit",
    "SearchIndex",
    "create_collection",
    "delete_collection",
    "list_collections",
    "open_collection",
    "tokenize",
]
