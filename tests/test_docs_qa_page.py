"""AppTest runs of the Docs Q&A page. Collection management, the retrieval inspector and a question
nothing matches need no model; asking is end to end on the fake model (tests/support/), whose reply
repeats the message (passages and question), so a question holding [99] gets an answer citing passages
and a number that names none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docs_qa_corpus import BAD_FILES, FAQ_HTML, GUIDE_JA_MD, write_corpus
from helpers import usage_lines
from streamlit.testing.v1 import AppTest

from lib.core.host_paths import ANY_PATH
from lib.docs_qa import create_collection, list_collections, open_collection
from lib.docs_qa.answer import NOT_FOUND, SYSTEM_PROMPT, citations, passage_title
from lib.llm.chat import estimate_tokens
from tests.support.hosted_api_sim import HostedAPISim

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "docs_qa.py")


@pytest.fixture(autouse=True)
def _patient_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_MAX_RETRIES", "0")  # fail fast where a test makes the model fail


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    assert not at.exception
    return at


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def _table(at: AppTest, expander: str, n: int = 0):  # noqa: ANN202 - a DataFrame
    return next(e for e in at.expander if e.label.startswith(expander)).dataframe[n].value


def _passage_labels(block) -> list[str]:  # noqa: ANN001 - an AppTest block
    return [e.label.removesuffix(" ✓ cited") for e in block.expander if re.match(r"\[\d+\] ", e.label)]


@pytest.fixture
def manuals(data_dir: Path, tmp_path: Path) -> Path:
    """A collection 'manuals' holding the test corpus; returns the corpus folder."""
    corpus = write_corpus(tmp_path / "corpus")
    create_collection(data_dir, "manuals").add_paths([corpus], ANY_PATH)
    return corpus


# --- no model needed --------------------------------------------------------------------------------


def test_create_a_collection_index_a_folder_and_see_the_skipped_files(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus(tmp_path / "corpus", bad=True)
    at = _page()
    assert "Create a collection" in " ".join(i.value for i in at.info)
    at.text_input(key="qa_new_name").set_value("../escape")
    at.button(key="qa_create").click().run()
    assert "not a collection name" in _errors(at) and list_collections(data_dir) == []
    assert at.text_input(key="qa_new_name").value == "../escape"  # the input is kept to correct it

    at.text_input(key="qa_new_name").set_value("manuals")
    at.button(key="qa_create").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="qa_collection").value == "manuals" and list_collections(data_dir) == ["manuals"]

    monkeypatch.setenv("YOAKE_DOCS_ROOTS", str(tmp_path))  # a laptop reads below the home folder by default
    at.text_input(key="qa_path").set_value(str(corpus))
    at.button(key="qa_add_path").click().run()
    assert not at.exception
    assert f"'{corpus}': 6 added, {len(BAD_FILES)} skipped" in " ".join(s.value for s in at.success)
    table = _table(at, "Add documents")
    reasons = {Path(f).name: why for f, why in zip(table["File"], table["Why"], strict=True)}
    for name, _, reason in BAD_FILES:
        assert reason in reasons[name]
    assert "6 files · " in " ".join(c.value for c in at.caption)


def test_uploads_are_indexed_and_bad_ones_explained(data_dir: Path) -> None:
    create_collection(data_dir, "uploads")
    at = _page()
    at.file_uploader(key="qa_upload").set_value([
        ("faq.html", FAQ_HTML.encode(), "text/html"),
        ("設定ガイド.md", GUIDE_JA_MD.encode(), "text/markdown"),
        ("photo.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "text/markdown"),
    ]).run()  # fmt: skip
    at.button(key="qa_add_files").click().run()
    assert not at.exception
    assert "Uploads: 2 added, 1 skipped" in " ".join(s.value for s in at.success)
    table = _table(at, "Add documents")
    assert list(table["File"]) == ["photo.md"] and "binary file (a PNG image)" in table["Why"][0]
    files = _table(at, "Files in 'uploads'")
    assert sorted(files["File"]) == ["faq.html", "設定ガイド.md"]


@pytest.mark.parametrize(
    "query", ["How can I reset my password?", "データの保存場所を変更するには？", "evict expired cache entries"]
)
def test_the_inspector_shows_what_lib_retrieves(data_dir: Path, manuals: Path, query: str) -> None:
    at = _page()
    at.slider(key="qa_inspect_k").set_value(4)
    at.text_input(key="qa_inspect_query").set_value(query).run()
    assert not at.exception
    hits = open_collection(data_dir, "manuals").search(query, 4)
    assert hits
    inspector = at.tabs[1]
    assert _passage_labels(inspector) == [passage_title(h.rank, h) for h in hits]
    table = inspector.dataframe[0].value
    assert list(table["Heading"]) == [h.heading for h in hits] and list(table["#"]) == [1, 2, 3, 4][: len(hits)]
    first = next(e for e in inspector.expander if e.label.startswith("[1] "))
    shown = first.code[0].value if first.code else first.text[0].value
    assert shown == hits[0].text
    assert usage_lines(data_dir) == []  # no model call


def test_a_question_nothing_matches_is_answered_without_the_model(
    data_dir: Path, manuals: Path, fake_model: HostedAPISim
) -> None:
    at = _page()
    at.chat_input(key="qa_question").set_value("zyxwv qqqq").run()
    assert not at.exception
    assert f"{NOT_FOUND} No passage in 'manuals' shares a word with the question." in " ".join(i.value for i in at.info)
    assert usage_lines(data_dir) == [] and fake_model.calls() == []  # no model call at all
    turn = at.session_state["qa_turns"]["manuals"][0]
    assert turn["passages"] == [] and turn["answer"] == ""


def test_delete_needs_a_confirmation(data_dir: Path, manuals: Path) -> None:
    at = _page()
    assert at.button(key="qa_delete").disabled
    at.checkbox(key="qa_delete_confirm").check().run()
    at.button(key="qa_delete").click().run()
    assert not at.exception and list_collections(data_dir) == []
    assert "Create a collection" in " ".join(i.value for i in at.info)


def test_a_damaged_collection_says_so_and_can_be_deleted(data_dir: Path, manuals: Path) -> None:
    (data_dir / "docs" / "manuals" / "collection.db").write_bytes(b"this is not a database" * 100)
    for wal in (data_dir / "docs" / "manuals").glob("collection.db-*"):
        wal.unlink()
    at = _page()
    assert not at.exception
    assert "The collection 'manuals' cannot be read." in _errors(at)
    at.checkbox(key="qa_delete_broken_confirm").check().run()
    at.button(key="qa_delete_broken").click().run()
    assert not at.exception and not (data_dir / "docs" / "manuals").exists()


def test_configured_secrets_in_indexed_files_never_reach_the_page(data_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    secret = "s3cr3t-intranet-token-0123456789"
    monkeypatch.setenv("INTRANET_TOKEN", secret)  # a configured secret (the name ends in TOKEN)
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "deploy.md").write_text(f"# Deploy\n\nThe intranet token is {secret} and rotates monthly.\n")
    monkeypatch.setenv("YOAKE_DOCS_ROOTS", str(tmp_path))
    create_collection(data_dir, "ops")
    at = _page()
    at.text_input(key="qa_path").set_value(str(folder))
    at.button(key="qa_add_path").click().run()
    at.text_input(key="qa_inspect_query").set_value("intranet token rotates").run()
    assert not at.exception
    passage = next(e for e in at.tabs[1].expander if e.label.startswith("[1] "))
    assert "The intranet token is *** and rotates monthly." in passage.text[0].value
    page = str(at.main) + str(at.sidebar) + " ".join(str(t.value) for e in at.expander for t in e.text)
    assert secret not in page and secret[:8] not in page
    stored = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    assert secret.encode() not in stored and secret[:8].encode() not in stored


def test_indexing_server_paths_can_be_switched_off(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DOCS_ALLOW_PATHS", "0")
    create_collection(data_dir, "demo")
    at = _page()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "qa_path"] and not [b for b in at.button if b.key == "qa_add_path"]
    assert "switched off here (YOAKE_DOCS_ALLOW_PATHS=0)" in " ".join(c.value for c in at.caption)
    assert [b for b in at.button if b.key == "qa_add_files"]  # uploads still work


# --- asking the (fake) model ---------------------------------------------------------------------------


def _assistant_blocks(at: AppTest) -> list:
    return [m for m in at.chat_message if m.name == "assistant"]


def _check_turn(at: AppTest, data_dir: Path, block, turn: dict, query: str) -> None:  # noqa: ANN001
    """The passages shown are lib's retrieval for the query, and every [n] of the answer names one."""
    hits = open_collection(data_dir, "manuals").search(query, 5)
    assert hits and [h.chunk_id for h in turn["passages"]] == [h.chunk_id for h in hits]  # 8k context: all fit
    assert _passage_labels(block) == [passage_title(n, h) for n, h in enumerate(hits, 1)]
    answer = turn["answer"]
    assert answer.strip() and answer.strip()[:40] in " ".join(m.value for m in block.markdown)
    valid, invalid = citations(answer, len(hits))
    labels = [e.label for e in block.expander]
    for n in valid:
        assert any(label.startswith(f"[{n}] ") and label.endswith("✓ cited") for label in labels)
    assert sum(label.endswith("✓ cited") for label in labels) == len(valid)
    if invalid:
        assert "which is not one of the passages" in " ".join(w.value for w in block.warning)
    for n in re.findall(r"\[(\d+)\]", answer):
        assert int(n) in valid or int(n) in invalid
    passage = next(e for e in block.expander if e.label.startswith("[1] "))
    shown = passage.code[0].value if passage.code else passage.text[0].value
    assert shown == hits[0].text


def test_ask_and_follow_up(data_dir: Path, manuals: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    at.sidebar.number_input(key="qa_max_tokens").set_value(2000)  # the fake's answer repeats the whole message
    at.sidebar.slider(key="qa_temperature").set_value(0.0)
    question = "How can I reset my password?"
    at.chat_input(key="qa_question").set_value(question).run()
    assert not at.exception and not at.error
    turns = at.session_state["qa_turns"]["manuals"]
    assert len(turns) == 1 and turns[0]["error"] is None
    [sent] = fake_model.calls()
    assert turns[0]["answer"] == fake_model.reply_to(sent) and sent["messages"][0]["content"].startswith(SYSTEM_PROMPT[:40])
    _check_turn(at, data_dir, _assistant_blocks(at)[-1], turns[0], question)
    lines = usage_lines(data_dir)
    assert [(r["page"], r["status"], r["stream"]) for r in lines] == [("docs_qa", "ok", True)]
    # The passages went with the question (the estimate, ~4 characters a token, is below SmolLM2's count).
    sent = turns[0]["passages"]
    assert lines[0]["input_tokens"] >= estimate_tokens(SYSTEM_PROMPT) + sum(estimate_tokens(h.text) for h in sent)

    follow = "And where is the link sent? Say [1] and [99]."
    at.chat_input(key="qa_question").set_value(follow).run()
    assert not at.exception and not at.error
    turns = at.session_state["qa_turns"]["manuals"]
    assert len(turns) == 2 and turns[1]["search"] == f"{question} {follow}"  # the follow-up searched with its topic
    assert [m.markdown[0].value for m in at.chat_message if m.name == "user"] == [question, follow]
    _check_turn(at, data_dir, _assistant_blocks(at)[-1], turns[1], turns[1]["search"])
    valid, invalid = citations(turns[1]["answer"], len(turns[1]["passages"]))
    assert valid and invalid == [99]  # both kinds were checked
    lines = usage_lines(data_dir)
    assert [r["page"] for r in lines] == ["docs_qa", "docs_qa"]
    # The first turn stays on the page with its own passages.
    _check_turn(at, data_dir, _assistant_blocks(at)[0], turns[0], question)


def test_japanese_question(data_dir: Path, manuals: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    at.sidebar.number_input(key="qa_max_tokens").set_value(32)
    at.sidebar.slider(key="qa_temperature").set_value(0.0)
    question = "データの保存場所を変更するには？"
    at.chat_input(key="qa_question").set_value(question).run()
    assert not at.exception and not at.error
    turn = at.session_state["qa_turns"]["manuals"][0]
    assert Path(turn["passages"][0].source).name == "設定ガイド.md"
    _check_turn(at, data_dir, _assistant_blocks(at)[-1], turn, question)
    assert turn["answer"] == fake_model.reply_to(fake_model.calls()[-1])
    assert [r["page"] for r in usage_lines(data_dir)] == ["docs_qa"]
