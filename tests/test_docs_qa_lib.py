"""Docs Q&A without a model: tokenizer, chunking, collections on disk, retrieval, prompt budget, citations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from docs_qa_corpus import BAD_FILES, GUIDE_MD, PDF_PAGES, QUESTIONS, SERVER_PY, text_pdf, write_corpus

from lib.core.host_paths import ANY_PATH
from lib.docs_qa import DocsError, create_collection, list_collections, open_collection, tokenize
from lib.docs_qa.answer import build_prompt, citations, is_not_found
from lib.docs_qa.chunking import OVERLAP_TOKENS, TARGET_TOKENS, chunk_document
from lib.docs_qa.extract import extract
from lib.docs_qa.index import INDEX_PREFIX, Collection
from lib.llm.chat import estimate_tokens

# --- tokenizer -----------------------------------------------------------------------------------


def test_japanese_is_split_into_character_bigrams_and_english_into_words() -> None:
    assert tokenize("設定ファイル") == ["設定", "定フ", "ファ", "ァイ", "イル"]
    assert tokenize("鍵") == ["鍵"]
    assert tokenize("How do I Configure the Files?") == ["configure", "file"]  # stop words out, plural folded
    assert tokenize("保存場所はYOAKE_DATA_DIRです") == [
        "保存",
        "存場",
        "場所",
        "所は",
        "yoake_data_dir",
        "yoake",
        "data",
        "dir",
        "です",
    ]


def test_identifiers_give_their_parts_and_both_paths_agree() -> None:
    assert tokenize("ChatStream trim_history") == ["chatstream", "chat", "stream", "trim_history", "trim", "history"]
    text = "HTTPServer __init__ x_ v2_beta café"
    ascii_part = tokenize(text.replace(" café", ""))
    assert tokenize(text + " 日本")[: len(ascii_part)] == ascii_part  # the non-ASCII path splits words the same way
    assert tokenize("ＡＢＣ ｶﾀｶﾅ") == tokenize("ABC カタカナ")  # NFKC: full-width letters, half-width kana


# --- chunking ------------------------------------------------------------------------------------


def _lines_of(text: str, start: int, end: int) -> str:
    return "\n".join(text.split("\n")[start - 1 : end]).strip()


def test_markdown_chunks_follow_headings_and_know_their_lines() -> None:
    chunks = chunk_document(extract("guide.md", GUIDE_MD.encode()))
    headings = [c.heading for c in chunks]
    assert headings == [
        "Yoake Guide",
        "Yoake Guide > Installation",
        "Yoake Guide > Configuration",
        "Yoake Guide > Configuration > Data directory",
        "Yoake Guide > Configuration > Timeouts",
        "Yoake Guide > Troubleshooting > Port already in use",  # a heading with no text of its own is no chunk
    ]
    for c in chunks:
        assert c.text == _lines_of(GUIDE_MD, c.start_line, c.end_line)  # the line range is exactly the text
    install = chunks[1]
    assert "scripts/install.sh" in install.text and "```bash" in install.text  # the code block stays with its section


def test_a_hash_in_a_code_fence_is_not_a_heading() -> None:
    text = "# Top\n\nIntro.\n\n```python\n# a comment\nx = 1\n```\n\nAfter.\n"
    chunks = chunk_document(extract("a.md", text.encode()))
    assert [c.heading for c in chunks] == ["Top"]
    assert "# a comment" in chunks[0].text and "After." in chunks[0].text


def test_python_chunks_are_functions_classes_and_methods() -> None:
    chunks = chunk_document(extract("server.py", SERVER_PY.encode()))
    by_heading = {c.heading: c for c in chunks}
    assert {"def start_server", "class Cache", "class Cache > def __init__", "class Cache > def evict"} <= set(by_heading)
    evict = by_heading["class Cache > def evict"]
    assert evict.text.startswith("def evict") and evict.text.endswith("return len(expired)")
    assert evict.text == _lines_of(SERVER_PY, evict.start_line, evict.end_line).replace("    def evict", "def evict", 1)


def test_other_code_uses_blank_lines_and_braces() -> None:
    text = (
        'import x from "y";\n\n// Starts it\nfunction start(port) {\n  if (port) {\n\n    listen(port);\n  }\n}\n\nconst z = 1;\n'
    )
    chunks = chunk_document(extract("a.js", text.encode()))
    assert [(c.heading, c.start_line, c.end_line) for c in chunks] == [("", 1, 1), ("function start(port)", 3, 9), ("", 11, 11)]


def test_html_sections_come_from_headings_with_source_lines() -> None:
    from docs_qa_corpus import FAQ_HTML

    chunks = chunk_document(extract("faq.html", FAQ_HTML.encode()))
    reset = next(c for c in chunks if c.heading.endswith("How do I reset my password?"))
    assert reset.heading == "Frequently asked questions > How do I reset my password?"
    assert "Forgot password" in reset.text and "<b>" not in reset.text
    lines = FAQ_HTML.split("\n")
    assert "reset my password" in lines[reset.start_line - 1] and "registered email" in lines[reset.end_line - 1]
    assert not any("not indexed" in c.text or "color: red" in c.text for c in chunks)  # script and style left out


def test_pdf_chunks_are_per_page() -> None:
    chunks = chunk_document(extract("manual.pdf", text_pdf(PDF_PAGES)))
    assert [c.page for c in chunks] == [1, 2]
    assert "Battery replacement" in chunks[1].text and chunks[1].start_line is None


def test_long_sections_become_overlapping_chunks_of_a_few_hundred_tokens() -> None:
    paragraph = " ".join(f"Sentence {i} explains one more detail of the long chapter." for i in range(400))
    text = f"# Long chapter\n\n{paragraph}\n\n## Next\n\nShort.\n"
    chunks = chunk_document(extract("long.md", text.encode()))
    long = [c for c in chunks if c.heading == "Long chapter"]
    assert len(long) >= 5
    assert all(estimate_tokens(c.text) <= TARGET_TOKENS + 5 for c in long)
    for a, b in zip(long, long[1:], strict=False):
        tail = a.text[-40:]
        assert tail in b.text, "consecutive chunks of one section overlap"
    assert estimate_tokens(long[1].text.split(long[0].text[-40:])[0]) <= OVERLAP_TOKENS + 20
    joined = " ".join(c.text for c in long)
    assert "Sentence 0 " in joined and "Sentence 399 " in joined  # nothing lost
    assert chunks[-1].heading == "Long chapter > Next"


def test_japanese_long_line_is_split_by_sentences() -> None:
    text = "# 説明\n\n" + "これは長い説明の文です。" * 200 + "\n"
    chunks = chunk_document(extract("ja.md", text.encode()))
    assert len(chunks) >= 5 and all(c.heading == "説明" and c.start_line in (1, 3) for c in chunks)
    assert all(estimate_tokens(c.text) <= TARGET_TOKENS + 5 for c in chunks)


# --- collections and retrieval --------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def indexed(data_dir: Path, corpus: Path) -> Collection:
    coll = create_collection(data_dir, "manuals")
    outcomes = coll.add_paths([corpus], ANY_PATH)
    assert {o.status for o in outcomes} == {"added"}, outcomes
    return coll


@pytest.mark.parametrize(("question", "file", "heading", "page"), QUESTIONS)
def test_known_questions_find_their_file_and_heading(indexed: Collection, question: str, file: str, heading: str,
                                                     page: int | None) -> None:  # fmt: skip
    hits = indexed.search(question, 5)
    assert hits, question
    top = hits[0]
    assert Path(top.source).name == file and top.heading == heading and top.page == page, [(h.name, h.heading) for h in hits]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score > 0 for a, b in zip(hits, hits[1:], strict=False))


def test_a_query_that_shares_no_word_finds_nothing(indexed: Collection) -> None:
    assert indexed.search("zyxwv qqqq", 5) == []
    assert indexed.search("   ", 5) == []
    assert indexed.search("the and of", 5) == []  # stop words only


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(data_dir: Path, tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "mixed", bad=True)
    (root / "big.md").write_text("# Big\n\n" + "word " * 400)
    coll = create_collection(data_dir, "mixed")
    coll.max_bytes = 1500
    outcomes = {Path(o.source).name: o for o in coll.add_paths([root], ANY_PATH)}
    for name, _, reason in BAD_FILES:
        assert outcomes[name].status == "skipped" and reason in (outcomes[name].reason or ""), (name, outcomes[name])
    assert outcomes["big.md"].status == "skipped" and "too large" in (outcomes["big.md"].reason or "")
    added = sorted(n for n, o in outcomes.items() if o.status == "added")
    assert added == sorted(["guide.md", "設定ガイド.md", "server.py", "client.js", "faq.html", "manual.pdf"])
    assert {Path(s).name for s, _ in coll.skipped()} == {n for n, _, _ in BAD_FILES} | {"big.md"}
    assert coll.search("replace the battery", 1)[0].name == "manual.pdf"
    missing = coll.add_paths([tmp_path / "nowhere"], ANY_PATH)
    assert missing[0].status == "skipped" and missing[0].reason == "no such file or folder"


def test_special_files_and_huge_folders_are_refused_without_reading(data_dir: Path, corpus: Path, tmp_path: Path) -> None:
    import os

    os.mkfifo(corpus / "pipe.md")  # reading it would block forever
    coll = create_collection(data_dir, "guarded")
    outcomes = {Path(o.source).name: o for o in coll.add_paths([corpus], ANY_PATH)}
    assert outcomes["pipe.md"].status == "skipped" and outcomes["pipe.md"].reason == "not a regular file"
    assert outcomes["guide.md"].status == "added"
    (corpus / "pipe.md").unlink()
    capped = create_collection(data_dir, "capped")
    capped.max_files = 3
    got = capped.add_paths([corpus], ANY_PATH)
    assert got[0].status == "skipped" and "more than 3 files" in (got[0].reason or "")
    assert [o.status for o in got[1:]] == ["added"] * 3
    create_collection(data_dir, "capped", exist_ok=True).add_paths([corpus / "src" / "server.py"], ANY_PATH)
    capped.add_paths([corpus], ANY_PATH)  # an incomplete walk removes nothing it did not see
    assert len(capped.files()) == 4


def _chunk_ids(coll: Collection) -> dict[str, list[int]]:
    with sqlite3.connect(coll.db_path) as conn:
        rows = conn.execute("SELECT f.source, c.id FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY c.id").fetchall()
    out: dict[str, list[int]] = {}
    for source, chunk_id in rows:
        out.setdefault(Path(source).name, []).append(chunk_id)
    return out


def test_a_changed_file_is_the_only_one_reindexed(indexed: Collection, corpus: Path) -> None:
    before = _chunk_ids(indexed)
    version = indexed.version()
    guide = corpus / "guide.md"
    guide.write_text(GUIDE_MD.replace("YOAKE_TIMEOUT is the read timeout", "YOAKE_TIMEOUT is the kumquat timeout"))
    outcomes = {Path(o.source).name: o.status for o in indexed.add_paths([corpus], ANY_PATH)}
    assert outcomes.pop("guide.md") == "updated"
    assert set(outcomes.values()) == {"unchanged"}
    after = _chunk_ids(indexed)
    assert all(after[name] == ids for name, ids in before.items() if name != "guide.md")  # untouched rows
    assert set(after["guide.md"]).isdisjoint(before["guide.md"])
    assert indexed.version() == version + 1
    assert indexed.search("kumquat", 1)[0].heading == "Yoake Guide > Configuration > Timeouts"
    # The same bytes again (even with a new modification time): nothing is re-chunked.
    guide.touch()
    assert {o.status for o in indexed.add_paths([corpus], ANY_PATH)} == {"unchanged"}
    assert indexed.version() == version + 1


def test_files_gone_from_a_folder_leave_the_collection(indexed: Collection, corpus: Path) -> None:
    (corpus / "faq.html").unlink()
    outcomes = {Path(o.source).name: o for o in indexed.add_paths([corpus], ANY_PATH)}
    assert outcomes["faq.html"].status == "removed"
    assert indexed.search("reset my password", 5) == [] or all(
        h.name != "faq.html" for h in indexed.search("reset my password", 5)
    )


def test_uploads_are_replaced_by_name_and_rebuilt_from_their_stored_copy(data_dir: Path) -> None:
    coll = create_collection(data_dir, "uploads")
    first = coll.add_upload("notes.md", b"# Notes\n\nThe meeting is on Tuesday.\n")
    assert (first.status, first.source) == ("added", "notes.md")
    assert coll.add_upload("notes.md", b"# Notes\n\nThe meeting is on Tuesday.\n").status == "unchanged"
    assert coll.add_upload("C:\\Users\\me\\notes.md", b"# Notes\n\nThe meeting moved to Friday.\n").status == "updated"
    assert [f.source for f in coll.files()] == ["notes.md"]
    assert coll.search("friday meeting", 1)[0].source == "notes.md" and coll.search("tuesday", 1) == []
    assert [o.status for o in coll.rebuild(ANY_PATH)] == ["updated"]
    assert coll.search("friday meeting", 1)[0].text.endswith("Friday.")
    assert len(list((coll.path / "uploads").iterdir())) == 1  # the replaced copy was dropped


def test_the_index_is_saved_per_version_and_reloaded(indexed: Collection, corpus: Path) -> None:
    first = indexed.load_index()
    saved = indexed.path / f"{INDEX_PREFIX}{indexed.version()}"
    assert saved.is_dir()
    again = Collection(indexed.path).load_index()  # a fresh object reads the saved index
    query = "How do I move the data directory to another disk?"
    assert [h.chunk_id for h in again.search(query, 5)] == [h.chunk_id for h in first.search(query, 5)]
    (corpus / "extra.md").write_text("# Extra\n\nA brand new zeppelin section.\n")
    indexed.add_paths([corpus], ANY_PATH)
    newer = indexed.load_index()
    assert newer.version == indexed.version() and newer.search("zeppelin", 1)[0].name == "extra.md"
    assert not saved.exists() and (indexed.path / f"{INDEX_PREFIX}{newer.version}").is_dir()


def test_collection_names_and_lifecycle(data_dir: Path) -> None:
    for bad in ["", "../up", "a/b", ".hidden", "x" * 64]:
        with pytest.raises(DocsError):
            create_collection(data_dir, bad)
    create_collection(data_dir, "manuals")
    with pytest.raises(DocsError, match="already exists"):
        create_collection(data_dir, "manuals")
    create_collection(data_dir, "日本語マニュアル")
    assert list_collections(data_dir) == ["manuals", "日本語マニュアル"]
    open_collection(data_dir, "manuals").delete()
    assert list_collections(data_dir) == ["日本語マニュアル"]
    with pytest.raises(DocsError, match="no collection named 'manuals'"):
        open_collection(data_dir, "manuals")


# --- prompt and citations ----------------------------------------------------------------------------


def test_prompt_keeps_within_the_context_and_numbers_the_passages(indexed: Collection) -> None:
    hits = indexed.search("data directory configuration settings install", 10)
    assert len(hits) >= 3
    roomy = build_prompt("Where is data stored?", hits, context_tokens=8192, reply_tokens=512)
    assert roomy.passages == hits and roomy.dropped_passages == 0
    user = roomy.messages[-1]["content"]
    assert user.index("[1] ") < user.index("[2] ") and user.endswith("Question: Where is data stored?")
    assert f"[1] {hits[0].name}" in user and hits[0].heading in user
    tight = build_prompt("Where is data stored?", hits, context_tokens=420, reply_tokens=100)
    assert 1 <= len(tight.passages) < len(hits) and tight.passages == hits[: len(tight.passages)]
    assert tight.dropped_passages == len(hits) - len(tight.passages)
    assert tight.prompt_tokens <= 420 - 100
    assert roomy.messages[0]["role"] == "system" and "Not found in the documents." in roomy.messages[0]["content"]


def test_history_is_kept_without_old_citation_numbers(indexed: Collection) -> None:
    hits = indexed.search("reset password", 3)
    history = [{"role": "user", "content": "How do I reset my password?"},
               {"role": "assistant", "content": "Use Forgot password [1][2]."}]  # fmt: skip
    prompt = build_prompt("And where is the link sent?", hits, history)
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[2]["content"] == "Use Forgot password ."


def test_citations_map_to_passages() -> None:
    assert citations("A [1], B [2][3] and C [1, 4]; D [9].", 4) == ([1, 2, 3, 4], [9])
    assert citations("No citations.", 3) == ([], [])
    assert is_not_found("Not found in the documents.") and not is_not_found("The data directory is set by [1].")


def test_configured_secrets_are_redacted_before_they_are_stored(data_dir: Path, tmp_path: Path) -> None:
    from lib.core.config import Settings

    secret = "s3cr3t-deploy-token-0123456789"
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "deploy.md").write_text(f"# Deploy\n\nThe deploy token is {secret} and rotates monthly.\n")
    coll = create_collection(data_dir, "ops")
    coll.redact = Settings(values={"DEPLOY_TOKEN": secret}).redact
    coll.add_paths([tmp_path / "ops"], ANY_PATH)
    coll.add_upload("deploy-copy.md", f"# Copy\n\nAn uploaded copy: {secret}.\n".encode())
    hit = coll.search("deploy token rotates monthly", 1)[0]
    assert "***" in hit.text and secret not in hit.text
    assert coll.search("uploaded copy", 1)[0].text.endswith("An uploaded copy: ***.")
    rebuilt = {o.source: o for o in coll.rebuild(ANY_PATH)}
    assert rebuilt["deploy-copy.md"].status == "unchanged" and "no stored copy" in (rebuilt["deploy-copy.md"].reason or "")
    assert coll.search("uploaded copy", 1)[0].source == "deploy-copy.md"
    stored = b"".join(p.read_bytes() for p in coll.path.rglob("*") if p.is_file())
    assert secret.encode() not in stored and secret[:8].encode() not in stored


def test_pdf_bookmarks_become_heading_paths() -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(text_pdf(["Intro page words here.", "Safety rules apply.", "Battery steps follow."]))))
    manual = writer.add_outline_item(title="User manual", page_number=0)
    writer.add_outline_item(title="Safety", page_number=1, parent=manual)
    writer.add_outline_item(title="Maintenance", page_number=2, parent=manual)
    buf = io.BytesIO()
    writer.write(buf)
    chunks = chunk_document(extract("manual.pdf", buf.getvalue()))
    assert [(c.page, c.heading) for c in chunks] == [
        (1, "User manual"),
        (2, "User manual > Safety"),
        (3, "User manual > Maintenance"),
    ]


def test_other_languages_get_their_definitions_as_headings() -> None:
    go = 'package main\n\nimport "fmt"\n\n// Start runs the server.\nfunc (s *Server) Start(port int) error {\n\tfmt.Println(port)\n\n\treturn nil\n}\n'
    c = "#include <stdio.h>\n\nstatic int add(int a, int b) {\n  return a + b;\n}\n"
    toml = '[server]\nport = 8080\n\n[database]\nurl = "sqlite:///x.db"\n'
    assert [ch.heading for ch in chunk_document(extract("main.go", go.encode()))] == [
        "",
        "func (s *Server) Start(port int) error",
    ]
    assert [ch.heading for ch in chunk_document(extract("add.c", c.encode()))] == ["", "static int add(int a, int b)"]
    assert [ch.heading for ch in chunk_document(extract("app.toml", toml.encode()))] == ["[server]", "[database]"]
