"""`python -m lib.docs_qa` in fresh processes: index, search --json, and collections that outlive the
process that made them. YOAKE_DATA_DIR (set per test by conftest) decides where they live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from docs_qa_corpus import BAD_FILES, write_corpus

from lib.core.host_paths import ANY_PATH
from lib.docs_qa import create_collection, open_collection

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lib.docs_qa", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _search(collection: str, query: str, k: int = 5) -> list[dict]:
    done = _cli("search", "--collection", collection, "--k", str(k), "--json", query)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_index_then_search_json(data_dir: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    done = _cli("index", "--collection", "manuals", str(corpus))
    assert done.returncode == 0, done.stderr
    assert "6 added" in done.stdout and "collection 'manuals': 6 files" in done.stdout
    assert (data_dir / "docs" / "manuals" / "collection.db").is_file()  # under YOAKE_DATA_DIR

    results = _search("manuals", "How do I move the data directory to another disk?", k=3)
    assert 1 <= len(results) <= 3
    best = results[0]
    assert best["source"] == str(corpus / "guide.md")  # the path as indexed
    assert best["heading"] == "Yoake Guide > Configuration > Data directory"
    assert isinstance(best["start_line"], int) and best["end_line"] >= best["start_line"] and best["page"] is None
    lines = (corpus / "guide.md").read_text().split("\n")
    assert best["text"] == "\n".join(lines[best["start_line"] - 1 : best["end_line"]]).strip()
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0

    ja = _search("manuals", "データの保存場所を変更するには？")
    assert ja[0]["source"] == str(corpus / "設定ガイド.md") and ja[0]["heading"] == "設定ガイド > データの保存場所"

    # Indexing again reads nothing new.
    again = _cli("index", "--collection", "manuals", str(corpus))
    assert again.returncode == 0 and "6 unchanged" in again.stdout


def test_collections_made_in_one_process_are_there_in_the_next(data_dir: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", bad=True)
    coll = create_collection(data_dir, "handbook")
    coll.add_paths([corpus], ANY_PATH)
    coll.add_upload("extra-notes.md", b"# Extra\n\nThe office plants are watered on Mondays.\n")
    del coll

    listed = _cli("list")
    assert listed.returncode == 0 and listed.stdout.split() == ["handbook"]
    pdf = _search("handbook", "How do I replace the battery?")
    assert pdf[0]["source"] == str(corpus / "manual.pdf") and pdf[0]["page"] == 2 and pdf[0]["start_line"] is None
    files = _cli("files", "--collection", "handbook")
    assert files.returncode == 0
    for name, _, reason in BAD_FILES:
        assert f"{corpus / name}: {reason}" in files.stdout  # the skip reasons are stored too

    rebuilt = _cli("rebuild", "--collection", "handbook")
    assert rebuilt.returncode == 0 and "7 updated" in rebuilt.stdout
    assert open_collection(data_dir, "handbook").search("watering the office plants", 1)[0].source == "extra-notes.md"
    assert _search("handbook", "zyxwv qqqq") == []

    gone = _cli("delete", "--collection", "handbook")
    assert gone.returncode == 0 and not (data_dir / "docs" / "handbook").exists()


def test_cli_errors_are_one_clear_line(data_dir: Path, tmp_path: Path) -> None:
    missing = _cli("search", "--collection", "nothing-here", "--json", "query")
    assert missing.returncode == 2 and missing.stdout == ""
    assert "There is no collection named 'nothing-here'" in missing.stderr and "Traceback" not in missing.stderr
    nothing = _cli("index", "--collection", "empty", str(tmp_path / "no-such-folder"))
    assert nothing.returncode == 1 and "no such file or folder" in nothing.stderr
