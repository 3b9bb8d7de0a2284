"""Docs Q&A: answer questions from the user's own files, with citations, on any provider.

- `tokenize`: one dictionary-free tokenizer for English and Japanese (CJK character bigrams).
- `extract`, `chunking`: files to text, text to structure-aware chunks with heading paths and lines.
- `index`: collections on disk (SQLite + a saved bm25s index), adding/rebuilding/deleting, search.
- `answer`: the prompt (passages within the context budget) and citation parsing.
- `python -m lib.docs_qa`: the same from the shell (`index`, `search --json`, `list`, …).
"""

from lib.docs_qa.answer import NOT_FOUND, Prompt, build_prompt, citations, is_not_found, passage_label
from lib.docs_qa.index import (
    Collection,
    DocsError,
    FileInfo,
    FileOutcome,
    Hit,
    SearchIndex,
    create_collection,
    list_collections,
    open_collection,
)
from lib.docs_qa.tokenize import tokenize

__all__ = [
    "NOT_FOUND",
    "Collection",
    "DocsError",
    "FileInfo",
    "FileOutcome",
    "Hit",
    "Prompt",
    "SearchIndex",
    "build_prompt",
    "citations",
    "create_collection",
    "is_not_found",
    "list_collections",
    "open_collection",
    "passage_label",
    "tokenize",
]
