"""Issue 22 for the URL summariser and Docs Q&A: both pages in Japanese and in English (no text of the
other language left), their failures worded in Japanese (the address guard's refusals included), what
the model is told in the visitor's language, the lib messages and the Docs Q&A command line's --lang."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from docs_qa_corpus import FAQ_HTML, GUIDE_JA_MD
from fixtures.pdfs import image_only_pdf
from net_trap import NetTrap, trap
from streamlit.testing.v1 import AppTest

from lib.core import netguard
from lib.core.i18n import Msg
from lib.docs_qa import DocsError, create_collection, open_collection
from lib.docs_qa.__main__ import main as docs_cli
from lib.docs_qa.answer import NOT_FOUND, SYSTEM_PROMPT, build_prompt, is_not_found, not_found, system_prompt
from lib.docs_qa.index import check_name
from lib.docs_qa.wording import recall
from lib.summarize import SummaryOptions, default_output_language, pages_label, single_messages
from lib.summarize.document import Document
from lib.summarize.fetch import FetchError, FetchLimits, fetch, normalize_url
from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import ROOT, english_left, ja, japanese_left

SUMMARIZE = str(ROOT / "pages" / "summarize.py")
DOCS_QA = str(ROOT / "pages" / "docs_qa.py")

JA_ARTICLE = """夜明け灯台の記録

岬の灯台は百年以上にわたって沖を行く船を見守ってきた。最初の灯台守は毎晩ランプに油を足し、嵐の夜も火を絶やさなかった。

二代目の灯台守は霧笛を据え付け、濃い霧の朝にも船が岩場を避けられるようにした。村の人々は今もその音を覚えている。

灯台は今では自動化され、記録は町の資料館に保管されている。"""


@pytest.fixture
def japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest calls a selectbox's or radio's `format_func` in the test's own thread too (to find the
    option it sets), where no visitor is known: the deployment's default stands in for the browser there."""
    monkeypatch.setenv("YOAKE_LANGUAGE", "ja")


def _page(path: str, locale: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=180)
    at.context = {"locale": locale}
    at.run()
    assert not at.exception
    return at


def english_shown(at: AppTest) -> list[str]:
    """`english_left(at)` less one false alarm: the `.value` AppTest gives for a selectbox or radio is the
    option itself, which stays English by design (it is stored and compared: "Japanese", "balanced"),
    while the page shows it through `format_func` (its label, in `.options`, which english_left checks)."""
    hidden = {
        repr(str(w.value)) for w in [*at.selectbox, *at.radio] if w.index is not None and w.options[w.index] != str(w.value)
    }
    return [left for left in english_left(at) if left.split(" (message ")[0] not in hidden]


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def _texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


# --- the summariser ---------------------------------------------------------------------------------


def test_the_summariser_speaks_japanese_and_asks_the_model_in_japanese(
    japanese: None, data_dir: Path, fake_model: HostedAPISim
) -> None:
    at = _page(SUMMARIZE, "ja-JP")
    assert english_shown(at) == []
    assert at.session_state["sum_language"] == "Japanese"  # a Japanese visitor gets a Japanese summary by default
    assert at.selectbox(key="sum_language").value == "Japanese"
    at.selectbox(key="sum_style").set_value("custom").run()  # the custom instruction's input shows too
    assert english_shown(at) == []
    at.selectbox(key="sum_style").set_value("bullets")
    at.radio(key="sum_source").set_value("Paste text or HTML").run()
    assert english_shown(at) == []
    at.sidebar.number_input(key="sum_max_tokens").set_value(12)
    at.text_area(key="sum_text").set_value(JA_ARTICLE)
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert english_shown(at) == []
    shown = _texts(at)
    assert "#### " + ja("Summary") in shown and ja("{n} call").format(n=1) in shown
    [sent] = fake_model.calls()
    system, user = sent["messages"][0]["content"], sent["messages"][-1]["content"]
    assert system == ja("You are a careful summariser. Use only facts stated in the document. Do not add opinions or commentary.")
    instruction = ja("Summarise the document as a bulleted list of its key points, about {chars} characters in total.")
    assert user.startswith(instruction.format(chars=300)) and "日本語で書いてください。" in user
    assert "\n\n" + ja("{instruction}\n\nDocument:\n{header}\n{text}").split("\n\n")[1].split("\n")[0] in user
    assert "灯台守" in user


def test_a_long_page_is_planned_and_summarised_in_japanese(japanese: None, data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page(SUMMARIZE, "ja-JP")
    at.session_state["sum_context_local"] = 1024
    at.session_state["sum_chunk"] = 300
    at.sidebar.number_input(key="sum_chunk_max").set_value(12)
    at.sidebar.number_input(key="sum_max_tokens").set_value(12)
    at.radio(key="sum_source").set_value("Paste text or HTML").run()
    at.text_area(key="sum_text").set_value("\n\n".join([JA_ARTICLE] * 40))
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert english_shown(at) == []
    info = " ".join(i.value for i in at.info)
    assert "長いページです" in info and ja("free (local)") in info
    *chunks, final = fake_model.calls()
    assert len(chunks) >= 2
    assert all(c["messages"][0]["content"] == chunks[0]["messages"][0]["content"] for c in chunks)
    assert chunks[0]["messages"][-1]["content"].startswith("これは長い文書を")
    assert "第1部: " in final["messages"][-1]["content"] and "日本語で書いてください。" in final["messages"][-1]["content"]


def _loopback_trap(monkeypatch: pytest.MonkeyPatch) -> NetTrap:
    """Only the fake model may be reached; every other connect attempt is refused before a packet leaves."""
    model = urlsplit(os.environ["YOAKE_LOCAL_BASE_URL"])
    return trap(monkeypatch, allow={("127.0.0.1", model.port or 80)})


@pytest.mark.parametrize(
    ("url", "ip", "category"),
    [("http://127.0.0.1/", "127.0.0.1", "loopback"), ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "metadata")],
)
def test_refused_addresses_are_explained_in_japanese(
    monkeypatch: pytest.MonkeyPatch, japanese: None, data_dir: Path, url: str, ip: str, category: str
) -> None:
    monkeypatch.delenv("YOAKE_FETCH_ALLOW_PRIVATE", raising=False)  # a deployed demo: the default
    net = _loopback_trap(monkeypatch)
    at = _page(SUMMARIZE, "ja-JP")
    at.text_input(key="sum_url").set_value(url)
    at.button(key="sum_go").click().run()
    assert not at.exception
    errors = _errors(at)
    assert ja("This address is not allowed.") in errors
    assert ja(netguard._NAMED[category]).format(ip=ip) in errors  # which address, and why, in Japanese
    assert "YOAKE_FETCH_ALLOW_PRIVATE" in errors and "URL要約が取得するのは公開されているWebページだけです" in errors
    assert english_shown(at) == []
    assert net.refused() == []  # nothing was attempted off the fake model's loopback port


def test_a_scanned_pdf_upload_is_refused_in_japanese(japanese: None, data_dir: Path) -> None:
    at = _page(SUMMARIZE, "ja-JP")
    at.radio(key="sum_source").set_value("Upload a file").run()
    assert english_shown(at) == []
    at.file_uploader(key="sum_file").set_value(("scan.pdf", image_only_pdf(2), "application/pdf"))
    at.button(key="sum_go").click().run()
    assert not at.exception
    errors = _errors(at)
    assert ja("'{name}' has no text layer.").format(name="scan.pdf") in errors
    assert "OCR" in errors and "2ページとも画像" in errors
    assert english_shown(at) == []


def test_the_summariser_in_english_has_no_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page(SUMMARIZE, "en-US")
    assert japanese_left(at) == [] and at.session_state["sum_language"] == "Same as the page"
    at.radio(key="sum_source").set_value("Paste text or HTML").run()
    at.text_area(key="sum_text").set_value("The lighthouse at the point has guided ships for over a century. " * 5)
    at.button(key="sum_go").click().run()
    assert not at.exception and not at.error
    assert japanese_left(at) == []
    [sent] = fake_model.calls()
    assert sent["messages"][0]["content"].startswith("You are a careful summariser.")
    assert "Write in the same language as the document." in sent["messages"][-1]["content"]
    at.radio(key="sum_source").set_value("URL").run()  # and an error
    at.text_input(key="sum_url").set_value("ftp://example.org/x")
    at.button(key="sum_go").click().run()
    assert "'ftp:' links cannot be summarised." in _errors(at) and japanese_left(at) == []


# --- Docs Q&A -----------------------------------------------------------------------------------------


def _upload_and_ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="qa_new_name").set_value("manuals")
    at.button(key="qa_create").click().run()
    at.file_uploader(key="qa_upload").set_value([
        ("faq.html", FAQ_HTML.encode(), "text/html"),
        ("設定ガイド.md", GUIDE_JA_MD.encode(), "text/markdown"),
        ("photo.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "text/markdown"),
    ]).run()  # fmt: skip
    at.button(key="qa_add_files").click().run()
    assert not at.exception
    at.sidebar.number_input(key="qa_max_tokens").set_value(4000)  # the fake's answer repeats the passages
    at.chat_input(key="qa_question").set_value(question).run()
    assert not at.exception and not at.error
    return at


def test_docs_qa_speaks_japanese_and_asks_the_model_in_japanese(japanese: None, data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page(DOCS_QA, "ja-JP")
    assert english_shown(at) == []
    at.text_input(key="qa_new_name").set_value("../escape")
    at.button(key="qa_create").click().run()
    assert ja("That is not a collection name.") in _errors(at) and english_shown(at) == []

    _upload_and_ask(at, "データの保存場所を変更するには？")
    assert english_shown(at) == []
    success = " ".join(s.value for s in at.success)
    assert f"{ja('Uploads')}：追加2件、スキップ1件" in success
    table = next(e for e in at.expander if e.label == ja("Add documents")).dataframe[0].value
    assert list(table[ja("What happened")]) == [ja("skipped")] and "バイナリファイルです（PNG画像）" in table[ja("Why")][0]
    [sent] = fake_model.calls()
    assert sent["messages"][0]["content"] == system_prompt("ja") != SYSTEM_PROMPT
    assert ja("Not found in the documents.") in sent["messages"][0]["content"]
    user = sent["messages"][-1]["content"]
    assert user.startswith("抜粋:\n\n[1] ") and user.endswith("質問: データの保存場所を変更するには？")
    assert "行目）" in user  # where each passage comes from, in Japanese
    answer = at.chat_message[-1]
    assert any(e.label.endswith("✓ " + ja("cited")) for e in answer.expander)
    assert ja("Sources") in " ".join(m.value for m in answer.markdown)

    # The retrieval inspector, and a question nothing matches (answered without the model).
    at.text_input(key="qa_inspect_query").set_value("保存場所").run()
    assert not at.exception and english_shown(at) == []
    assert ja("Heading") in list(at.tabs[1].dataframe[0].value.columns)
    at.sidebar.checkbox(key="qa_followup").uncheck()  # else the earlier question's words find passages
    at.chat_input(key="qa_question").set_value("zyxwv qqqq").run()
    assert not at.exception and english_shown(at) == []
    assert ja("Not found in the documents.") in " ".join(i.value for i in at.info)
    assert len(fake_model.calls()) == 1


def test_docs_qa_in_english_has_no_japanese(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page(DOCS_QA, "en-US")
    assert japanese_left(at) == []
    _upload_and_ask(at, "How do I reset my password?")
    assert japanese_left(at) == []
    assert "Uploads: 2 added, 1 skipped" in " ".join(s.value for s in at.success)
    [sent] = fake_model.calls()
    assert sent["messages"][0]["content"] == SYSTEM_PROMPT
    at.text_input(key="qa_inspect_query").set_value("password").run()
    at.sidebar.checkbox(key="qa_followup").uncheck()
    at.chat_input(key="qa_question").set_value("zyxwv qqqq").run()
    assert not at.exception and japanese_left(at) == []
    assert NOT_FOUND in " ".join(i.value for i in at.info)


def test_a_damaged_collection_is_explained_in_japanese(japanese: None, data_dir: Path) -> None:
    create_collection(data_dir, "manuals").add_uploads([("faq.html", FAQ_HTML.encode())])
    (data_dir / "docs" / "manuals" / "collection.db").write_bytes(b"this is not a database" * 100)
    for wal in (data_dir / "docs" / "manuals").glob("collection.db-*"):
        wal.unlink()
    at = _page(DOCS_QA, "ja-JP")
    assert ja("The collection '{name}' cannot be read.").format(name="manuals") in _errors(at)
    assert english_shown(at) == []


# --- lib: messages, and what the model is told ----------------------------------------------------------


def test_fetch_and_guard_messages_are_english_as_text_and_japanese_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FetchError) as info:
        normalize_url("ftp://example.org/file")
    err = info.value
    assert err.title == "'ftp:' links cannot be summarised." and str(err).startswith("'ftp:' links")
    assert err.title.render("ja") == "「ftp:」のリンクは要約できません。"
    net = trap(monkeypatch)
    with pytest.raises(FetchError) as info:
        fetch("http://127.0.0.1:8501/", FetchLimits(timeout=2.0))
    assert net.connects == []
    detail = info.value.detail
    assert "127.0.0.1 is a loopback address (the machine the app runs on)" in detail  # English as text
    assert detail.render("ja").startswith("127.0.0.1はループバックアドレス（アプリが動いているマシン自身）です。")
    for category, label in netguard.LABELS.items():  # each address category, named alone and in a sentence
        refusal = netguard.Refusal("h.example", ipaddress.ip_address("10.0.0.5"), category, True)
        assert netguard.describe(refusal) == f"10.0.0.5 is {label}"
        assert netguard.describe(refusal).render("ja") == ja(netguard._NAMED[category]).format(ip="10.0.0.5")
        resolved = netguard.Refusal("h.example", refusal.ip, category, False)
        assert netguard.describe(resolved).render("ja") == ja("'{host}' resolves to {ip}, {label}").format(
            host="h.example", ip="10.0.0.5", label=ja(label)
        )
        assert netguard.AddressRefused(resolved, "http://h.example/").message.render("ja") != str(netguard.describe(resolved))


def test_docs_messages_and_stored_reasons_render_in_japanese(data_dir: Path) -> None:
    with pytest.raises(DocsError) as info:
        check_name("../x")
    assert info.value.title == "That is not a collection name." and info.value.title.render("ja") == ja(
        "That is not a collection name."
    )
    coll = create_collection(data_dir, "mixed")
    outcomes = coll.add_uploads([("photo.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32), ("empty.md", b"")])
    assert [o.reason.render("ja") for o in outcomes] == ["バイナリファイルです（PNG画像）", "空のファイルです"]
    # Stored in English (the database and the command line read it as before), worded again for the page.
    stored = dict(open_collection(data_dir, "mixed").skipped())
    assert stored == {"photo.md": "binary file (a PNG image)", "empty.md": "empty file"}
    assert {s: r.render("ja") for s, r in stored.items()} == {
        "photo.md": "バイナリファイルです（PNG画像）",
        "empty.md": "空のファイルです",
    }
    wrapped = Msg("{reason} (its earlier version was removed from the collection)", reason=Msg("empty file"))
    assert recall(str(wrapped)).render("ja") == wrapped.render("ja") and recall("some OS error") == "some OS error"
    coll.add_uploads([("notes.md", b"# Notes\n\nThe lighthouse keeper logs the weather.\n")])
    [hit] = coll.search("lighthouse", 1)
    assert hit.location == "lines 1–3" and hit.location.render("ja") == "1〜3行目"


def test_the_model_is_told_in_the_visitors_language() -> None:
    doc = Document(text="本文です。" * 20, title="灯台")
    ja_opts = SummaryOptions(style="detailed", language=default_output_language("ja"), target_words=100, lang="ja")
    system, user = (m["content"] for m in single_messages(doc, ja_opts))
    assert system == ja("You are a careful summariser. Use only facts stated in the document. Do not add opinions or commentary.")
    assert user.startswith(
        "文書の詳しい要約を、段落に分けて200字程度で書いてください。日本語で書いてください。\n\n文書:\nタイトル: 灯台\n"
    )
    assert ja_opts.final_tokens() > SummaryOptions(target_words=100).final_tokens()  # characters cost more tokens
    en = single_messages(doc, SummaryOptions(style="tldr"))[1]["content"]
    assert en.startswith("Write a one-sentence TL;DR of the document. Write in the same language as the document.\n\nDocument:\n")
    assert default_output_language("en") == "Same as the page"
    assert pages_label((2, 4), "ja") == "（2〜4ページ）" and pages_label((2, 4)) == " (pages 2–4)"
    custom = SummaryOptions(style="custom", custom_instruction="", language="French", target_words=50, lang="ja").instruction()
    assert custom == "文書を要約してください。（50語程度）フランス語で書いてください。"
    # Docs Q&A: the instruction, the passages' labels and the "not found" reply the model is asked for.
    assert not_found("ja") == ja("Not found in the documents.") and not_found("en") == NOT_FOUND
    assert system_prompt("ja").endswith(not_found("ja")) and system_prompt("en") == SYSTEM_PROMPT
    assert is_not_found(not_found("ja")) and is_not_found(NOT_FOUND) and not is_not_found("答えは[1]です。")
    prompt = build_prompt("鍵はどこ？", [], lang="ja")
    assert (
        prompt.messages[0]["content"] == system_prompt("ja") and prompt.messages[-1]["content"] == "抜粋:\n\n\n\n質問: 鍵はどこ？"
    )


def test_the_docs_command_line_speaks_japanese_when_asked(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keeper.md").write_text("# Keeper\n\nThe lighthouse keeper logs the weather every night.\n")
    (folder / "empty.md").write_text("")
    assert docs_cli(["--lang", "ja", "index", "--collection", "notes", str(folder)]) == 0
    out = capsys.readouterr()
    assert "追加1件、スキップ1件" in out.out and "コレクション「notes」: ファイル1件、チャンク" in out.out
    assert f"スキップ: {folder / 'empty.md'}: 空のファイルです" in out.err
    assert docs_cli(["files", "--collection", "notes", "--lang", "ja"]) == 0  # --lang after the command too
    assert f"スキップ  {folder / 'empty.md'}: 空のファイルです" in capsys.readouterr().out
    assert docs_cli(["search", "--collection", "notes", "--lang", "ja", "zyxwv"]) == 0
    assert capsys.readouterr().out.strip() == "一致するチャンクはありません"
    assert docs_cli(["--lang", "ja", "files", "--collection", "nothing"]) == 2
    assert capsys.readouterr().err.startswith(
        "エラー: コレクションが見つかりません。「nothing」という名前のコレクションはありません"
    )
    assert docs_cli(["files", "--collection", "notes"]) == 0  # English unless asked
    assert f"skipped  {folder / 'empty.md'}: empty file" in capsys.readouterr().out
