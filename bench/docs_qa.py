"""Docs Q&A retrieval benchmark: index and query speed on 10,000 generated chunks, and retrieval
quality on documentation we did not write (the Markdown/reST files and package descriptions that the
packages installed in .venv ship).

Speed, in one run:
  1. index: 500 generated Markdown files (10 % Japanese) of 20 sections each, one chunk a section,
     through the app's path (`Collection.add_paths`: read, hash, chunk, tokenize, SQLite) plus the
     BM25 build and save (`load_index`); SQLite FTS5 filled with the same chunks as a reference;
  2. opening a collection: the saved bm25s index vs rebuilding it from the stored tokens, interleaved;
  3. 200 queries (words or a Japanese phrase from a random chunk), each run through ours
     (`SearchIndex.search`, texts fetched from SQLite), FTS5 over the same tokens, and a naive
     pure-Python BM25 that scores every chunk, in rotating order.
Quality: each document's title (and, separately, each section heading) as a query; recall@1/@5 for
ours and for FTS5 with its own tokenizer over the same chunk texts.
Usage: .venv/bin/python bench/docs_qa.py [--small]   (--small: 20 files of 5 sections, 20 queries, 30 documents)
Last line: `docs_qa: <our query p95 in ms>`.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import statistics
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.core.host_paths import ANY_PATH  # noqa: E402
from lib.docs_qa.chunking import chunk_document  # noqa: E402
from lib.docs_qa.extract import Skipped, extract  # noqa: E402
from lib.docs_qa.index import Collection, SearchIndex, create_collection  # noqa: E402
from lib.docs_qa.tokenize import tokenize  # noqa: E402

SMALL = "--small" in sys.argv[1:]  # a smoke run: the same steps on a small corpus
FILES, SECTIONS, QUERIES, K = (20, 5, 20, 5) if SMALL else (500, 20, 200, 5)
DOCS = 30 if SMALL else None  # documents taken from .venv for the quality part (None: all)
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
KANJI = "設定保存場所変更環境変数接続認証鍵管理会話履歴利用記録画面表示検索結果文書質問回答引用範囲"


def _vocabulary(rng: random.Random, n: int = 20_000) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 7.5, 7, 6.7, 6.3, 6, 6, 4.3, 4, 2.8, 2.8, 2.4, 2.4, 2.2, 2, 2, 1.9, 1.5, 1, 0.8, 0.2, 0.2, 0.1, 0.1]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choices(letters, weights, k=rng.randint(3, 10))))
    return sorted(words)


def _accumulate(xs: list[float]) -> list[float]:
    out, total = [], 0.0
    for x in xs:
        total += x
        out.append(total)
    return out


def make_corpus(root: Path, rng: random.Random) -> None:
    """FILES Markdown files of SECTIONS sections (~250 estimated tokens each: one chunk per section),
    words drawn from a Zipf-like distribution over a made-up vocabulary; every tenth file Japanese."""
    vocab = _vocabulary(rng)
    cum = _accumulate([1 / (i + 1) ** 1.07 for i in range(len(vocab))])
    root.mkdir(parents=True)
    for f in range(FILES):
        japanese = f % 10 == 0
        parts = [f"# Manual {f}\n"]
        for _ in range(SECTIONS):
            if japanese:
                body = "".join(rng.choice(KANJI) + rng.choice(KANA) for _ in range(120)) + "。"
                title = "".join(rng.choices(KANJI, k=4))
            else:
                words = rng.choices(vocab, cum_weights=cum, k=150)
                body = " ".join(words).capitalize() + "."
                title = " ".join(rng.choices(vocab, cum_weights=cum, k=3))
            parts.append(f"## {title}\n\n{body}\n")
        (root / f"manual-{f:03d}.md").write_text("\n".join(parts), encoding="utf-8")


def make_queries(coll: Collection, rng: random.Random) -> list[tuple[str, int]]:
    """(query, chunk id it came from): 4 words of a chunk, or a 6-character phrase of a Japanese one."""
    with sqlite3.connect(coll.db_path) as conn:
        rows = conn.execute("SELECT id, text FROM chunks").fetchall()
    out = []
    for chunk_id, text in rng.sample(rows, QUERIES):
        body = text.split("\n", 2)[-1]
        if re.search(r"[\u3040-\u9fff]", body):
            i = rng.randrange(0, len(body) - 7)
            out.append((body[i : i + 6], chunk_id))
        else:
            words = re.findall(r"[a-z]+", body.lower())
            out.append((" ".join(rng.sample(words, 4)), chunk_id))
    return out


# --- references ---------------------------------------------------------------------------------------


class NaiveBM25:
    """The textbook formula in plain Python, scoring every chunk for every query (Lucene's idf)."""

    def __init__(self, ids: list[int], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.ids, self.k1, self.b = ids, k1, b
        self.tfs = [Counter(d) for d in docs]
        self.lens = [len(d) for d in docs]
        self.avg = sum(self.lens) / len(docs)
        df: Counter[str] = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def search(self, tokens: list[str], k: int) -> list[int]:
        q = [t for t in tokens if t in self.idf]
        scores = []
        for i, tf in enumerate(self.tfs):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * self.lens[i] / self.avg)
            for t in q:
                f = tf.get(t)
                if f:
                    s += self.idf[t] * f / (f + norm)
            if s > 0:
                scores.append((s, -i))
        scores.sort(reverse=True)
        return [self.ids[-i] for _, i in scores[:k]]


def fts5(rows: list[tuple[int, str, str]], *, tokenizer: str = "unicode61") -> sqlite3.Connection:
    """An in-memory FTS5 table of (chunk id, indexed text, chunk text)."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, text UNINDEXED, tokenize='{tokenizer}')")
    conn.executemany("INSERT INTO t(rowid, body, text) VALUES (?,?,?)", rows)
    return conn


def fts_search(conn: sqlite3.Connection, tokens: list[str], k: int) -> list[int]:
    terms = sorted({t.replace('"', '""') for t in tokens if t})
    if not terms:
        return []
    match = " OR ".join(f'"{t}"' for t in terms)
    return [r[0] for r in conn.execute("SELECT rowid, text FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (match, k))]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]


# --- speed ----------------------------------------------------------------------------------------------


def speed(tmp: Path) -> float:
    rng = random.Random(14)
    corpus = tmp / "corpus"
    make_corpus(corpus, rng)
    t0 = time.perf_counter()
    coll = create_collection(tmp / "data", "bench")
    outcomes = coll.add_paths([corpus], ANY_PATH)
    t1 = time.perf_counter()
    index = coll.load_index()
    t2 = time.perf_counter()
    assert all(o.status == "added" for o in outcomes), Counter(o.status for o in outcomes)
    n = len(index)
    print(f"corpus: {FILES} files, {n:,} chunks ({sum(1 for _ in corpus.iterdir()) // 10} Japanese files)")
    print(f"index (ours): {t2 - t0:.2f} s = read+chunk+tokenize+store {t1 - t0:.2f} s + BM25 build+save {t2 - t1:.2f} s")

    with sqlite3.connect(coll.db_path) as conn:
        rows = conn.execute("SELECT id, tokens, text FROM chunks ORDER BY id").fetchall()
    t = time.perf_counter()
    fts = fts5(rows)
    t_fts = time.perf_counter() - t
    t = time.perf_counter()
    naive = NaiveBM25([r[0] for r in rows], [r[1].split() for r in rows])
    t_naive = time.perf_counter() - t
    print(f"index (references, from our stored tokens): FTS5 {t_fts:.2f} s, naive BM25 {t_naive:.2f} s")

    # Opening a collection: saved index vs rebuilt from the stored tokens (interleaved, 3 rounds).
    loads, builds = [], []
    for _ in range(3):
        t = time.perf_counter()
        Collection(coll.path).load_index()
        loads.append(time.perf_counter() - t)
        t = time.perf_counter()
        with sqlite3.connect(coll.db_path) as conn:
            pairs = conn.execute("SELECT id, tokens FROM chunks ORDER BY id").fetchall()
        SearchIndex.build(coll, 0, [i for i, _ in pairs], [s.split() for _, s in pairs])
        builds.append(time.perf_counter() - t)
    print(f"open: saved bm25s index {statistics.median(loads) * 1000:.1f} ms vs rebuild from stored tokens "
          f"{statistics.median(builds) * 1000:.0f} ms (median of 3, interleaved)")  # fmt: skip

    queries = make_queries(coll, rng)
    times: dict[str, list[float]] = {"ours": [], "fts5": [], "naive": []}
    found: dict[str, int] = {"ours": 0, "fts5": 0, "naive": 0}
    agree = 0
    for qi, (query, source_id) in enumerate(queries):
        order = ["ours", "fts5", "naive"]
        order = order[qi % 3 :] + order[: qi % 3]
        got: dict[str, list[int]] = {}
        for name in order:
            t = time.perf_counter()
            if name == "ours":
                got[name] = [h.chunk_id for h in index.search(query, K)]
            elif name == "fts5":
                got[name] = fts_search(fts, tokenize(query), K)
            else:
                got[name] = naive.search(tokenize(query), K)
            times[name].append(time.perf_counter() - t)
            found[name] += source_id in got[name][:1]
        agree += bool(got["ours"]) and bool(got["naive"]) and got["ours"][0] == got["naive"][0]
    for name in ("ours", "fts5", "naive"):
        ms = [x * 1000 for x in times[name]]
        print(f"query {name:5s}: p50 {pct(ms, 50):7.2f} ms  p95 {pct(ms, 95):7.2f} ms  "
              f"(source chunk ranked 1st for {found[name]}/{len(queries)})")  # fmt: skip
    print(f"ours and the naive formula agree on the best chunk for {agree}/{len(queries)} queries")
    return pct([x * 1000 for x in times["ours"]], 95)


# --- quality ----------------------------------------------------------------------------------------------


def site_docs(dest: Path) -> list[Path]:
    """Documentation the installed packages ship: their .md/.rst files, and the long descriptions in
    their METADATA (saved as metadata-<n>.md/.rst so that the file name does not give the package away)."""
    site = Path(sysconfig.get_paths()["purelib"])  # the running interpreter's: .venv's, also from a git worktree
    dest.mkdir(parents=True)
    out: list[Path] = []
    shipped = sorted(p for p in site.rglob("*") if p.suffix.lower() in (".md", ".rst") and p.is_file())
    for i, path in enumerate(shipped[:DOCS]):
        target = dest / f"{i:03d}-{path.name}"
        target.write_bytes(path.read_bytes())
        out.append(target)
    for i, meta in enumerate(sorted(site.glob("*.dist-info/METADATA"))[:DOCS]):
        head, _, body = meta.read_text(encoding="utf-8", errors="replace").partition("\n\n")
        kind = re.search(r"^Description-Content-Type:\s*text/(\w+)", head, re.M | re.I)
        ext = {"markdown": ".md", "x-rst": ".rst"}.get(kind.group(1).lower() if kind else "", "")
        if ext and len(body) > 200:
            target = dest / f"metadata-{i:03d}{ext}"
            target.write_text(body, encoding="utf-8")
            out.append(target)
    return out


def title_of(path: Path) -> str | None:
    try:
        chunks = chunk_document(extract(path.name, path.read_bytes()))
    except Skipped:
        return None
    heads = [c.heading.split(" > ")[0] for c in chunks if c.heading]
    return heads[0] if heads else None


def quality(tmp: Path) -> None:
    docs = site_docs(tmp / "site-docs")
    coll = create_collection(tmp / "data", "site")
    coll.add_paths([tmp / "site-docs"], ANY_PATH)
    index = coll.load_index()
    with sqlite3.connect(coll.db_path) as conn:
        rows = conn.execute("SELECT c.id, f.source, c.heading, c.text FROM chunks c JOIN files f ON f.id = c.file_id").fetchall()
    source_of = {r[0]: r[1] for r in rows}
    heading_of = {r[0]: r[2] for r in rows}
    fts = fts5([(r[0], f"{r[2]}\n{r[3]}", r[3]) for r in rows])  # FTS5's own tokenizer, same text

    def fts_query(q: str) -> list[int]:
        return fts_search(fts, re.findall(r"\w+", q.lower()), 5)

    titles: dict[str, set[str]] = {}
    for path in docs:
        title = title_of(path)
        if title and (path.stat().st_size > 0):
            titles.setdefault(title.lower(), set()).add(str(path))
    indexed = {r[1] for r in rows}
    queries = [(t, files & indexed) for t, files in titles.items() if files & indexed]
    leaf_queries = sorted({h.split(" > ")[-1] for h in heading_of.values() if h and " > " in h})

    def recall(results: dict[str, list[int]], relevant) -> tuple[float, float]:  # noqa: ANN001
        r1 = sum(bool(results[q][:1]) and relevant(q, results[q][0]) for q in results) / len(results)
        r5 = sum(any(relevant(q, c) for c in results[q][:5]) for q in results) / len(results)
        return r1, r5

    ours = {q: [h.chunk_id for h in index.search(q, 5)] for q, _ in queries}
    ref = {q: fts_query(q) for q, _ in queries}
    rel_files = dict(queries)
    by_title = lambda q, c: source_of.get(c) in rel_files[q]  # noqa: E731
    o1, o5 = recall(ours, by_title)
    f1, f5 = recall(ref, by_title)
    print(f"quality corpus: {len(docs)} documents shipped in .venv ({len(indexed)} indexed, {len(rows):,} chunks)")
    print(f"titles ({len(queries)} queries, the file is relevant): ours recall@1 {o1:.3f} @5 {o5:.3f}; "
          f"FTS5 recall@1 {f1:.3f} @5 {f5:.3f}")  # fmt: skip
    ours = {q: [h.chunk_id for h in index.search(q, 5)] for q in leaf_queries}
    ref = {q: fts_query(q) for q in leaf_queries}
    by_heading = lambda q, c: heading_of.get(c, "").split(" > ")[-1] == q  # noqa: E731
    o1, o5 = recall(ours, by_heading)
    f1, f5 = recall(ref, by_heading)
    print(f"section headings ({len(leaf_queries)} queries, a chunk under that heading is relevant): "
          f"ours recall@1 {o1:.3f} @5 {o5:.3f}; FTS5 recall@1 {f1:.3f} @5 {f5:.3f}")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p95 = speed(Path(tmp) / "speed")
        quality(Path(tmp) / "quality")
    print(f"docs_qa: {p95:.2f}")


if __name__ == "__main__":
    main()
