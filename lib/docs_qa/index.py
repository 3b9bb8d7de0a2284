"""Collections of documents under `$YOAKE_DATA_DIR/docs/<name>/` (the `local` owner's, as before
owners existed) or `docs/.owners/<owner hash>/<name>/` (a signed-in user's): the files (a content hash each, so
a changed file is re-chunked and re-tokenized alone), their chunks with their tokens, in SQLite
(`collection.db`), and the BM25 index over all chunks (bm25s), saved as `index-v<version>/`.

BM25's weights depend on the whole collection, so the matrix is rebuilt (from the stored tokens,
no re-tokenizing) once the collection has changed, on the next `load_index`, then saved: loading a
saved index takes milliseconds where building one takes seconds (bench/docs_qa.py measures both).

Concurrency follows lib/storage/db.py: short-lived connections, WAL, `BEGIN IMMEDIATE` for writes, one
transaction per file, so a failure costs at most that file. `version` grows with every change; the
page caches the loaded index per (collection, version).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePath

import bm25s
import numpy as np

from lib.core.errors import YoakeError
from lib.core.host_paths import HostPathAccess
from lib.core.i18n import Msg
from lib.core.identity import LOCAL_OWNER, owner_hash
from lib.core.policy import NotAllowed
from lib.docs_qa.chunking import Chunk, chunk_document
from lib.docs_qa.extract import MAX_FILE_BYTES, Skipped, extract, too_large
from lib.docs_qa.tokenize import tokenize
from lib.docs_qa.wording import recall
from lib.storage.db import connect, transaction, use_wal

DOCS_DIR = "docs"
# Other owners' collections live under docs/.owners/<owner hash>/. A collection name starts with a
# letter or digit (_NAME), so no collection can be named like this folder or be listed from it.
OWNERS_DIR = ".owners"
DB_FILE = "collection.db"
UPLOADS_DIR = "uploads"
INDEX_PREFIX = "index-v"
IDS_FILE = "chunk_ids.npy"
MAX_FOLDER_FILES = 20_000
# Bumped when chunking or tokenizing changes: `rebuild` re-chunks every file with the new rules.
CHUNKER_VERSION = 1
_SKIP_DIRS = {"node_modules", "__pycache__"}
_NAME = re.compile(r"^\w[\w.-]{0,62}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL UNIQUE,      -- absolute path for files read from disk, the file name for uploads
    origin TEXT NOT NULL CHECK (origin IN ('path', 'upload')),
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER,
    chunker INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    heading TEXT NOT NULL,
    start_line INTEGER,
    end_line INTEGER,
    page INTEGER,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL              -- the tokenizer's output, space-separated (tokens hold no spaces)
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file_id);
CREATE TABLE IF NOT EXISTS skipped (source TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL);
"""


class DocsError(YoakeError):
    """A collection operation that cannot be done (the message says why, as `Msg`s)."""

    kind = "docs_qa"
    title = Msg("That cannot be done.")


@dataclass(frozen=True)
class FileOutcome:
    source: str
    status: str  # added | updated | unchanged | skipped | removed
    chunks: int = 0
    reason: str | None = None  # a `Msg` where worded here


@dataclass(frozen=True)
class FileInfo:
    source: str
    origin: str
    kind: str
    size: int
    chunks: int
    indexed_at: float


@dataclass(frozen=True)
class Hit:
    rank: int  # 1 = best
    score: float
    chunk_id: int
    source: str
    kind: str
    heading: str
    start_line: int | None
    end_line: int | None
    page: int | None
    text: str

    @property
    def name(self) -> str:
        return PurePath(self.source).name or self.source

    @property
    def location(self) -> str:
        """Where in the file: 'page 3', 'lines 4–9', a `Msg` (English as text; worded by `render(lang)`)."""
        if self.page is not None:
            return Msg("page {page}", page=self.page)
        if self.start_line is None:
            return ""
        if self.start_line == self.end_line:
            return Msg("line {line}", line=self.start_line)
        return Msg("lines {first}–{last}", first=self.start_line, last=self.end_line)

    def redacted(self, redact: Callable[[str], str]) -> Hit:
        """Configured secrets never reach the page or the model, even from an indexed file that holds one."""
        return replace(self, text=redact(self.text), heading=redact(self.heading), source=redact(self.source))

    def to_json(self) -> dict:
        return asdict(self) | {"score": round(float(self.score), 4)}


def _same(text: str) -> str:
    return text


def collections_root(data_dir: Path, owner: str = LOCAL_OWNER) -> Path:
    """The folder holding an owner's collections: `local` keeps the place collections had before
    owners existed (so nothing moves), anyone else gets a folder named by their owner's hash."""
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError("collections need a non-empty owner")
    root = Path(data_dir) / DOCS_DIR
    return root if owner == LOCAL_OWNER else root / OWNERS_DIR / owner_hash(owner)


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise DocsError(
            Msg("A collection name is 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit "
                "(got {name}).", name=repr(name)), title=Msg("That is not a collection name."))  # fmt: skip
    return name


def collection_path(data_dir: Path, name: str, owner: str = LOCAL_OWNER) -> Path:
    """Where an owner's collection of that name lives (whether or not it exists)."""
    return collections_root(data_dir, owner) / check_name(name)


def list_collections(data_dir: Path, owner: str = LOCAL_OWNER) -> list[str]:
    """An owner's collections, by name (never another owner's)."""
    root = collections_root(data_dir, owner)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _NAME.match(p.name) and (p / DB_FILE).is_file())


def create_collection(data_dir: Path, name: str, *, exist_ok: bool = False, owner: str = LOCAL_OWNER) -> Collection:
    name = check_name(name)
    path = collections_root(data_dir, owner) / name
    if (path / DB_FILE).is_file():
        if exist_ok:
            return Collection(path)
        raise DocsError(Msg("A collection named '{name}' already exists.", name=name), title=Msg("That name is taken."))
    path.mkdir(parents=True, exist_ok=True)
    return Collection(path)


def open_collection(data_dir: Path, name: str, owner: str = LOCAL_OWNER) -> Collection:
    """An owner's collection; another owner's of the same name is "no such collection"."""
    name = check_name(name)
    path = collections_root(data_dir, owner) / name
    if not (path / DB_FILE).is_file():
        known = ", ".join(list_collections(data_dir, owner)) or Msg("none yet")
        raise DocsError(Msg("There is no collection named '{name}' (collections: {known}).", name=name, known=known),
                        title=Msg("No such collection."))  # fmt: skip
    return Collection(path)


def delete_collection(data_dir: Path, name: str, owner: str = LOCAL_OWNER) -> bool:
    """Delete an owner's collection, even a damaged one that cannot be opened. False: none by that name."""
    path = collection_path(data_dir, name, owner)
    if not path.is_dir():
        return False
    shutil.rmtree(path)
    return True


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES ('version', '1') "
                 "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")  # fmt: skip


def index_tokens(source: str, chunk: Chunk) -> list[str]:
    """What a chunk is found by: its text, its heading path and its file's name."""
    return tokenize(f"{PurePath(source).stem} {chunk.heading}\n{chunk.text}")


class Collection:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.db_path = self.path / DB_FILE
        self.max_bytes = MAX_FILE_BYTES  # larger files are skipped unread
        self.max_files = MAX_FOLDER_FILES  # per folder given
        # Applied to chunk text before it is stored: the app passes Settings.redact, so a configured
        # key in an indexed file (a .env, a config dump) never reaches the database, the page or a model.
        self.redact: Callable[[str], str] = _same
        self._local = threading.local()  # a batch's connection, per thread (a cached index is shared)
        try:
            with self._connect() as conn:
                use_wal(conn)
                conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:  # not a database (damaged, overwritten) or unreadable
            raise DocsError(Msg("Its database ({path}) cannot be read: {error}. Delete the collection and add the files again.",
                                path=str(self.db_path), error=str(exc)),
                            title=Msg("The collection '{name}' cannot be read.", name=self.name)) from None  # fmt: skip

    # --- storage ---------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        shared = getattr(self._local, "conn", None)
        if shared is not None:
            yield shared
            return
        conn = connect(self.db_path, rows=False)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """One connection for many files (closing a WAL database's last connection checkpoints it:
        milliseconds per file otherwise); each file is still its own transaction."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._connect() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def version(self) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def files(self) -> list[FileInfo]:
        with self._connect() as conn:
            rows = conn.execute("SELECT source, origin, kind, size, chunks, indexed_at FROM files ORDER BY source").fetchall()
        return [FileInfo(*r) for r in rows]

    def skipped(self) -> list[tuple[str, str]]:
        """Files skipped the last time they were given, with the reason (stored in English: a `Msg` again
        where it is one of our messages, so the page words it in the visitor's language)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT source, reason FROM skipped ORDER BY source").fetchall()
        return [(source, recall(reason)) for source, reason in rows]

    def _upload_path(self, sha: str) -> Path:
        return self.path / UPLOADS_DIR / sha

    # --- adding files ------------------------------------------------------------------------------

    def _store(self, source: str, origin: str, data: bytes, *, mtime_ns: int | None = None, force: bool = False) -> FileOutcome:
        """Index one file's bytes under `source`: unchanged when its hash is known, else re-chunked alone."""
        sha = hashlib.sha256(data).hexdigest()
        with self._connect() as conn:
            old = conn.execute("SELECT id, sha256, chunker, chunks FROM files WHERE source = ?", (source,)).fetchone()
        if old and old[1] == sha and old[2] == CHUNKER_VERSION and not force:
            if mtime_ns is not None:
                with self._connect() as conn:
                    conn.execute("UPDATE files SET mtime_ns = ? WHERE id = ?", (mtime_ns, old[0]))
            return FileOutcome(source, "unchanged", old[3])
        try:
            doc = extract(source, data, max_bytes=self.max_bytes)
            chunks = chunk_document(doc)
            if not chunks:
                raise Skipped(Msg("no text to index"))
        except Skipped as exc:
            return self._skip(source, exc.detail)
        clean = [replace(c, heading=self.redact(c.heading), text=self.redact(c.text)) for c in chunks]
        held_secret = clean != chunks
        rows = [(c.heading, c.start_line, c.end_line, c.page, c.text, " ".join(index_tokens(source, c))) for c in clean]
        if origin == "upload" and not held_secret:  # an upload holding a key is not kept: rebuild asks for it again
            blob = self._upload_path(sha)
            blob.parent.mkdir(parents=True, exist_ok=True)
            if not blob.exists():
                tmp = blob.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(blob)
        with self._connect() as conn, transaction(conn):
            conn.execute("DELETE FROM files WHERE source = ?", (source,))
            cur = conn.execute(
                "INSERT INTO files(source, origin, kind, sha256, size, mtime_ns, chunker, chunks, indexed_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (source, origin, doc.kind, sha, len(data), mtime_ns, CHUNKER_VERSION, len(rows), time.time()),
            )
            conn.executemany(
                "INSERT INTO chunks(file_id, heading, start_line, end_line, page, text, tokens) VALUES (?,?,?,?,?,?,?)",
                [(cur.lastrowid, *r) for r in rows],
            )
            conn.execute("DELETE FROM skipped WHERE source = ?", (source,))
            _bump(conn)
        if old and old[1] != sha:
            self._drop_blob(old[1])
        return FileOutcome(source, "updated" if old else "added", len(rows))

    def _skip(self, source: str, reason: str) -> FileOutcome:
        """Record why a file was skipped; an earlier version of it leaves the index (it no longer says that)."""
        with self._connect() as conn, transaction(conn):
            old = conn.execute("SELECT sha256 FROM files WHERE source = ?", (source,)).fetchone()
            if old:
                conn.execute("DELETE FROM files WHERE source = ?", (source,))
                _bump(conn)
            conn.execute("INSERT OR REPLACE INTO skipped(source, reason, at) VALUES (?,?,?)", (source, str(reason), time.time()))
        if old:
            self._drop_blob(old[0])
            reason = Msg("{reason} (its earlier version was removed from the collection)", reason=reason)
        return FileOutcome(source, "skipped", 0, reason)

    def _drop_blob(self, sha: str) -> None:
        with self._connect() as conn:
            used = conn.execute("SELECT 1 FROM files WHERE sha256 = ? AND origin = 'upload'", (sha,)).fetchone()
        if not used:
            self._upload_path(sha).unlink(missing_ok=True)

    def add_upload(self, name: str, data: bytes) -> FileOutcome:
        """An uploaded file, known by its name: the same name with new content replaces it."""
        source = PurePath(name.replace("\\", "/")).name.strip() or "upload"
        return self._store(source, "upload", data)

    def add_path(self, path: Path, access: HostPathAccess, *, force: bool = False) -> FileOutcome:
        """One file on disk, known by its absolute path; read only if `access` allows where it really is."""
        path = Path(path)
        source = str(path)
        verdict = access.check(path)
        if not verdict.allowed:
            return self._skip(source, verdict.reason or Msg("not allowed"))
        try:
            st = verdict.path.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
                return self._skip(source, Msg("not a regular file"))
            if st.st_size > self.max_bytes:
                return self._skip(source, too_large(st.st_size, self.max_bytes))
            if not force:
                with self._connect() as conn:
                    row = conn.execute("SELECT size, mtime_ns, chunker, chunks FROM files WHERE source = ?", (source,)).fetchone()
                if row and row[0] == st.st_size and row[1] == st.st_mtime_ns and row[2] == CHUNKER_VERSION:
                    return FileOutcome(source, "unchanged", row[3])  # same size and time: not even read
            data = verdict.path.read_bytes()  # the checked file itself, not the name that led to it
        except OSError as exc:
            return self._skip(source, Msg("could not be read ({error})", error=exc.strerror or type(exc).__name__))
        return self._store(source, "path", data, mtime_ns=st.st_mtime_ns, force=force)

    def add_paths(self, paths: Iterable[str | Path], access: HostPathAccess, *, force: bool = False) -> list[FileOutcome]:
        """Files and folders (read recursively, hidden folders left out) that `access` allows; each refused
        one is listed with the reason. Files indexed from a folder that are gone from it leave the collection.
        NotAllowed when host paths are not for this visitor at all."""
        if not access.allowed:
            raise NotAllowed(access.refusal or Msg("Reading files of the server is not allowed here."))
        outcomes: list[FileOutcome] = []
        with self._batch():
            for raw in paths:
                path = Path(os.path.expanduser(str(raw))).absolute()
                verdict = access.check(path)
                if not verdict.allowed:
                    outcomes.append(FileOutcome(str(path), "skipped", 0, verdict.reason))
                elif path.is_dir():
                    outcomes.extend(self._add_folder(path, access, force=force))
                elif path.exists():
                    outcomes.append(self.add_path(path, access, force=force))
                else:
                    outcomes.append(FileOutcome(str(path), "skipped", 0, Msg("no such file or folder")))
        return outcomes

    def add_uploads(self, files: Iterable[tuple[str, bytes]]) -> list[FileOutcome]:
        with self._batch():
            return [self.add_upload(name, data) for name, data in files]

    def _add_folder(self, folder: Path, access: HostPathAccess, *, force: bool) -> list[FileOutcome]:
        found: list[Path] = []
        refused: list[FileOutcome] = []  # subfolders the walk may not enter (the data folder inside a root)
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for d in list(dirs):
                verdict = access.check(Path(root) / d)
                if not verdict.allowed:
                    dirs.remove(d)
                    refused.append(FileOutcome(str(Path(root) / d), "skipped", 0, verdict.reason))
            found.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
            if len(found) > self.max_files:  # a mistyped "/" must not walk the whole disk
                break
        outcomes: list[FileOutcome] = refused
        complete = len(found) <= self.max_files
        if not complete:
            outcomes.append(FileOutcome(str(folder), "skipped", 0,
                                        Msg("the folder holds more than {n} files: only the first {n} were read "
                                            "(index its subfolders instead)", n=format(self.max_files, ","))))  # fmt: skip
            found = found[: self.max_files]
        outcomes.extend(self.add_path(p, access, force=force) for p in found)
        if not complete:
            return outcomes  # files not seen may still be there: remove nothing
        seen = {str(p) for p in found}
        prefix = str(folder).rstrip(os.sep) + os.sep
        with self._connect() as conn:
            known = [r[0] for r in conn.execute("SELECT source FROM files WHERE origin = 'path' AND substr(source, 1, ?) = ?",
                                                 (len(prefix), prefix))]  # fmt: skip
        outcomes.extend(self.remove(s, reason=Msg("no longer in the folder")) for s in known if s not in seen)
        return outcomes

    def remove(self, source: str, *, reason: str | None = None) -> FileOutcome:
        with self._connect() as conn, transaction(conn):
            row = conn.execute("SELECT sha256, origin FROM files WHERE source = ?", (source,)).fetchone()
            if row:
                conn.execute("DELETE FROM files WHERE source = ?", (source,))
                _bump(conn)
        if not row:
            return FileOutcome(source, "skipped", 0, Msg("not in this collection"))
        if row[1] == "upload":
            self._drop_blob(row[0])
        return FileOutcome(source, "removed", 0, reason)

    def rebuild(self, access: HostPathAccess) -> list[FileOutcome]:
        """Read every file again (from disk, or the stored copy of an upload) and re-chunk it with the
        current rules; files gone from disk leave the collection. Files on disk that `access` no longer
        allows are kept as indexed, not read."""
        with self._connect() as conn:
            rows = conn.execute("SELECT source, origin, sha256 FROM files ORDER BY source").fetchall()
        with self._batch():
            return [self._reread(source, origin, sha, access) for source, origin, sha in rows]

    def _kept(self, source: str, why: str) -> FileOutcome:
        with self._connect() as conn:
            n = conn.execute("SELECT chunks FROM files WHERE source = ?", (source,)).fetchone()
        return FileOutcome(source, "unchanged", n[0] if n else 0, why)

    def _reread(self, source: str, origin: str, sha: str, access: HostPathAccess) -> FileOutcome:
        if origin == "upload":
            try:
                data = self._upload_path(sha).read_bytes()
            except OSError:  # not kept (it held a configured key) or removed by hand: keep the chunks as they are
                return self._kept(source, Msg("no stored copy of this upload: kept as indexed (upload it again to re-read it)"))
            return self._store(source, "upload", data, force=True)
        verdict = access.check(source)
        if not verdict.allowed:
            return self._kept(source, Msg("kept as indexed, not read again: {reason}", reason=verdict.reason))
        if not Path(source).exists():
            return self.remove(source, reason=Msg("the file no longer exists"))
        return self.add_path(Path(source), access, force=True)

    def delete(self) -> None:
        shutil.rmtree(self.path)

    # --- searching -----------------------------------------------------------------------------------

    def load_index(self) -> SearchIndex:
        """The BM25 index over every chunk, as of the version it reports: the saved one when it is
        current, else built from the stored tokens and saved for next time."""
        version = self.version()
        saved = self.path / f"{INDEX_PREFIX}{version}"
        if saved.is_dir():
            try:
                bm25 = bm25s.BM25.load(str(saved), show_progress=False)
                return SearchIndex(self, version, np.load(saved / IDS_FILE), bm25)
            except (OSError, ValueError, KeyError):
                pass  # removed by a newer version's save meanwhile, or damaged: build it
        with self._connect() as conn:
            conn.execute("BEGIN")  # one read snapshot: the version and the chunks agree
            row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            pairs = conn.execute("SELECT id, tokens FROM chunks ORDER BY id").fetchall()
            conn.execute("COMMIT")
        index = SearchIndex.build(self, int(row[0]) if row else 0, [i for i, _ in pairs], [t.split() for _, t in pairs])
        self._save(index)
        return index

    def _save(self, index: SearchIndex) -> None:
        """Write the index beside the database (a temporary folder renamed into place, so a reader
        never sees half of one) and drop older versions. Best effort: it can always be rebuilt."""
        if index.bm25 is None:
            return
        final = self.path / f"{INDEX_PREFIX}{index.version}"
        tmp = self.path / f".tmp-index-{uuid.uuid4().hex}"
        try:
            index.bm25.save(str(tmp), show_progress=False)
            np.save(tmp / IDS_FILE, index.ids)
            tmp.rename(final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process saved the same version first
            return
        for old in self.path.glob(f"{INDEX_PREFIX}*"):
            if old != final and old.name[len(INDEX_PREFIX) :].isdigit() and int(old.name[len(INDEX_PREFIX) :]) < index.version:
                shutil.rmtree(old, ignore_errors=True)

    def fetch_hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        """The chunks behind (chunk id, score) pairs, in the given order; ids gone since are left out."""
        if not ranked:
            return []
        ids = [i for i, _ in ranked]
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT c.id, f.source, f.kind, c.heading, c.start_line, c.end_line, c.page, c.text FROM chunks c "
                f"JOIN files f ON f.id = c.file_id WHERE c.id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
        by_id = {r[0]: r for r in rows}
        hits: list[Hit] = []
        for chunk_id, score in ranked:
            r = by_id.get(chunk_id)
            if r:
                hits.append(Hit(len(hits) + 1, float(score), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]))
        return hits

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """Load the index and search once (the CLI); pages keep a loaded index instead."""
        return self.load_index().search(query, k)


class SearchIndex:
    """bm25s over a collection's chunks; holds only ids and the matrix, reads hit texts from SQLite."""

    def __init__(self, collection: Collection, version: int, ids: np.ndarray, bm25: bm25s.BM25 | None) -> None:
        self.collection = collection
        self.version = version
        self.ids = ids
        self.bm25 = bm25

    @classmethod
    def build(cls, collection: Collection, version: int, ids: list[int], tokens: list[list[str]]) -> SearchIndex:
        return cls(collection, version, np.asarray(ids, dtype=np.int64), build_bm25(tokens))

    def __len__(self) -> int:
        return len(self.ids)

    def rank(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        """(chunk id, score) of the best `k` chunks that share a token with the query, best first."""
        if self.bm25 is None or k <= 0:
            return []
        return [(int(self.ids[i]), s) for i, s in top_k(self.bm25, tokenize(query), k)]

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.collection.fetch_hits(self.rank(query, k))


def build_bm25(tokens: list[list[str]]) -> bm25s.BM25 | None:
    if not tokens:
        return None
    bm25 = bm25s.BM25()  # Lucene's BM25 (k1 1.5, b 0.75)
    bm25.index(tokens, show_progress=False)
    return bm25


def top_k(bm25: bm25s.BM25, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
    """(row, score) of the best `k` rows with a positive score; ties keep file order."""
    known = [t for t in query_tokens if t and t in bm25.vocab_dict]
    if not known:
        return []
    scores = bm25.get_scores(known)
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return []
    if positive.size > k:
        part = np.argpartition(-scores[positive], k - 1)[:k]
        positive = positive[part]
    order = positive[np.lexsort((positive, -scores[positive]))]
    return [(int(i), float(scores[i])) for i in order]
