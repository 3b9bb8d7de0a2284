"""Issue 22 for the usage page, the local-models panel and the engine's, policy's and pricing's messages:
everything shown is Japanese for a Japanese browser (English for an English one), costs stay in dollars
with a yen estimate at YOAKE_USD_JPY, and lib's refusals and errors render in either language."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.config import load_settings
from lib.core.errors import describe_error
from lib.core.host_paths import HostPathAccess, host_path_access
from lib.core.i18n import Msg
from lib.core.policy import Action, Mode, NotAllowed, Visitor, decide
from lib.core.pricing import Deprecation, load_price_table
from lib.engine import models as lm
from lib.engine.download import check_url, download_model
from lib.engine.errors import BadModelURL, DownloadRefused, ModelError
from lib.engine.server import LocalServer, LocalServerError
from lib.engine.shared import SharedModels
from tests.support.i18n import english_left, ja, japanese_left, visible_texts
from tests.test_usage_page import sample_records, write_log

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "usage.py")
JAPANESE = "\u3040-\u30ff\u4e00-\u9fff"


def _has_japanese(text: str) -> bool:
    return re.search(f"[{JAPANESE}]", text) is not None


def _stored_values(at: AppTest) -> set[str]:
    """Values that widgets keep in English while showing them translated (format_func): the walker of
    tests/support/i18n.py reads a select box's `value`, which is the stored option, not what is shown
    (the shown options are the formatted ones)."""
    out: set[str] = set()

    def walk(node) -> None:
        options = getattr(node, "options", None)
        if isinstance(options, (list, tuple)):
            try:
                value = node.value
            except Exception:  # an element without a value
                value = None
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, str) and v not in options:
                    out.add(v)
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            walk(child)

    walk(at._tree)
    return out


def english_shown(at: AppTest) -> list[str]:
    """english_left, less the stored values of widgets that show them translated."""
    stored = {repr(v) for v in _stored_values(at)}
    return [left for left in english_left(at) if left.split(" (message ")[0] not in stored]


def _usage_data(data_dir: Path) -> None:
    """Calls of several models, pages and statuses, a malformed line, and a prices.json with a bad entry
    and a model shutting down soon: every section of the page has something to say."""
    write_log(data_dir, sample_records(), ["hand edit"])
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    (data_dir / "prices.json").write_text(
        json.dumps(
            {
                "models": [{"model": "bad-model", "input": "cheap", "output": 1.0}],
                "deprecations": [{"model": "gpt-4o-mini", "shutdown_date": soon, "replacement": "gpt-6-luna"}],
            }
        )
    )


def _page(locale: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.context = {"locale": locale}
    return at


def test_the_usage_page_speaks_japanese(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DAILY_TOKEN_ALERT", "1000")  # today's calls cross it: the alert shows
    _usage_data(data_dir)
    at = _page("ja-JP").run()
    assert not at.exception, at.exception
    assert english_shown(at) == []
    assert at.title[0].value == "📊 " + ja("Usage")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[ja("Calls")] == "9" and metrics[ja("Estimated cost")].startswith("$")
    warnings = "\n".join(w.value for w in at.warning)
    assert ja("Today's usage ({tokens} tokens) has reached the daily alert of {alert} tokens.").split("{")[0] in warnings
    assert "`prices.json`" + ja("entry {name} ignored: {reason}").split("{")[0] in warnings  # the bad entry, in Japanese
    assert ja("input and output must be numbers") in warnings
    shutting = ja(
        "{count} model(s) you have called shut down within 90 days of {today}: "
        "switch to the replacement before the date, or those calls will fail."
    )
    assert any(w.value.startswith(shutting.split("{")[0]) for w in at.warning)
    # the models-in-use notes are worded for the visitor; the data (model ids) stay as logged
    notes = next(d.value for d in at.dataframe if "note" in d.value.columns)["note"].tolist()
    assert ja("local: free") in notes and ja("no price: cost unknown") in notes
    assert any(n.startswith(ja("shuts down {date}").split("{")[0]) for n in notes)
    # a custom range and a status filter: their labels and options too
    at.sidebar.selectbox(key="usage_period").set_value("Custom range").run()
    at.sidebar.multiselect(key="usage_status").set_value(["error"]).run()
    assert not at.exception and english_shown(at) == []
    assert at.sidebar.selectbox(key="usage_period").format_func("Custom range") == ja("Custom range")
    assert at.sidebar.multiselect(key="usage_status").format_func("error") == ja("error")
    assert at.sidebar.multiselect(key="usage_page").format_func("summarize") == ja("URL summariser")


def test_an_empty_usage_page_in_japanese(data_dir: Path) -> None:
    at = _page("ja-JP").run()
    assert not at.exception and english_shown(at) == []
    assert at.info[0].value.startswith(ja("No usage log yet (`{path}`). Calls made on the other pages appear here.")[:6])


def test_with_a_dollar_rate_the_cost_has_a_yen_estimate(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_USD_JPY", "150")
    _usage_data(data_dir)
    at = _page("ja-JP").run()
    assert not at.exception and english_shown(at) == []
    estimate = next(c.value for c in at.caption if c.value.startswith(ja("Estimated cost: {cost}").split("{")[0]))
    assert "$" in estimate and ("¥" in estimate or "￥" in estimate) and "150円" in estimate  # labelled: at 150 yen a dollar
    recent = next(d.value for d in at.dataframe if "request_id" in d.value.columns)
    assert "cost_jpy" in recent.columns and ((recent["cost_jpy"] - recent["cost"] * 150).abs().fillna(0) < 1e-9).all()
    # English: the same estimate worded in English, and no yen column without a rate
    at = _page("en-US").run()
    assert any("(about ¥" in c.value and "at 150 yen to the dollar" in c.value for c in at.caption)
    monkeypatch.delenv("YOAKE_USD_JPY")
    at = _page("en-US").run()
    assert not any("¥" in c.value for c in at.caption)
    assert "cost_jpy" not in next(d.value for d in at.dataframe if "request_id" in d.value.columns).columns


def test_the_usage_page_in_english_has_no_japanese(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_DAILY_TOKEN_ALERT", "1000")
    monkeypatch.setenv("YOAKE_USD_JPY", "150")
    _usage_data(data_dir)
    at = _page("en-US").run()
    assert not at.exception, at.exception
    assert japanese_left(at) == []
    assert not any(_has_japanese(t) for t in visible_texts(at))
    assert at.title[0].value == "📊 Usage"


# --- lib's messages -----------------------------------------------------------------------------------


def test_host_path_refusals_render_in_japanese(tmp_path: Path) -> None:
    cfg = load_settings()
    shared = host_path_access(cfg, Visitor(Mode.PASSWORD))
    assert not shared.allowed and "YOAKE_PASSWORD_HOST_ACTIONS=1" in shared.refusal  # English as a str
    assert shared.refusal.render("ja") == ja(
        "{what} is off on a shared-password demo: every visitor would share the host. "
        "The operator can allow it with YOAKE_PASSWORD_HOST_ACTIONS=1."
    ).format(what=ja("Reading folders and files of the server"))
    outside = HostPathAccess(roots=(tmp_path / "docs",)).check(tmp_path / "elsewhere")
    assert str(outside.reason).endswith("; YOAKE_DOCS_ROOTS)") and "YOAKE_DOCS_ROOTS" in outside.reason.render("ja")
    assert _has_japanese(outside.reason.render("ja")) and not _has_japanese(outside.reason)
    system = HostPathAccess(roots=(Path("/"),), forbidden=(Path("/proc"),)).check("/proc/self")
    assert _has_japanese(system.reason.render("ja"))
    member = decide(Visitor(Mode.SIGN_IN), Action.SEE_ALL_USAGE, cfg)
    assert member.reason == "Seeing every visitor's usage is for admins only (YOAKE_ADMINS)."
    assert member.reason.render("ja") == ja("{what} is for admins only (YOAKE_ADMINS).").format(
        what=ja("Seeing every visitor's usage")
    )


def test_download_refusals_and_engine_errors_render_in_japanese(data_dir: Path) -> None:
    folder = data_dir / "models"
    with pytest.raises(DownloadRefused) as refused:
        download_model("http://127.0.0.1:9/m.gguf", folder=folder, allow_private=False)
    err = describe_error(refused.value)
    assert err.title == "This address is not allowed." and err.title.render("ja") == ja("This address is not allowed.")
    assert "Models are downloaded only from public servers" in err.detail
    assert ja(
        "{why}. Models are downloaded only from public servers, so that nobody can use a download to reach the machine the "
        "app runs on, its private network or its cloud credentials. On your own computer, YOAKE_FETCH_ALLOW_PRIVATE=1 "
        "allows loopback and private-network links. Nothing was downloaded."
    ).split("{why}")[1] in err.detail.render("ja")
    with pytest.raises(BadModelURL) as bad:
        check_url("ftp://example.com/m.gguf")
    assert bad.value.detail.render("ja").startswith("ダウンロードできるのは") and "ftp:" in bad.value.detail.render("ja")
    # the engine: a missing model file, and the log's tail it adds
    with pytest.raises(LocalServerError) as engine:
        LocalServer(data_dir / "nowhere.gguf", log_path=data_dir / "never.log").start(timeout=5)
    assert str(engine.value.detail).startswith("Model file not found:")
    assert engine.value.detail.render("ja").startswith(ja("Model file not found: {path}").split("{")[0])
    assert engine.value.title.render("ja") == ja("The embedded model could not start.")
    # a member's crafted call to the shared models: refused in lib, in Japanese on the page
    member = SharedModels(LocalServer(log_path=data_dir / "never.log"), load_settings(), Visitor(Mode.SIGN_IN))
    with pytest.raises(NotAllowed) as denied:
        member.delete(folder / "x.gguf")
    assert _has_japanese(denied.value.detail.render("ja")) and _has_japanese(denied.value.title.render("ja"))
    with pytest.raises(ModelError) as missing:
        lm.delete_model(folder / "gone.gguf", folder)
    assert missing.value.detail.render("ja") == ja("{name} is not in the models folder (already deleted?).").format(
        name="gone.gguf"
    )


def test_fit_problems_labels_and_deprecations_render_in_japanese(data_dir: Path) -> None:
    small = lm.HostResources(memory_bytes=200_000_000, cpus=4.0)
    problem = lm.fit_problem(100_000_000, small)
    assert problem.startswith("This host has 200 MB of memory") and _has_japanese(problem.render("ja"))
    assert "200 MB" in problem.render("ja")
    slow = lm.fit_problem(1, lm.HostResources(memory_bytes=None, cpus=0.5))
    assert "0.50" in slow.render("ja") and _has_japanese(slow.render("ja"))
    shipped = next(m for m in lm.list_models(lm.models_folder(load_settings())) if m.shipped)
    assert "(built-in)" in shipped.label and ja("{name} (built-in)").format(name="SmolLM2-135M-Instruct") in Msg.render(
        shipped.label, "ja"
    )
    for rec in lm.RECOMMENDED_MODELS:
        assert _has_japanese(rec.good_for.render("ja")) and not _has_japanese(rec.good_for)
    dep = Deprecation("gpt-old", dt.date(2027, 1, 14), "gpt-new")
    assert dep.label(dt.date(2026, 12, 1)) == "shuts down 2027-01-14 → gpt-new"
    assert dep.label(dt.date(2026, 12, 1)).render("ja") == "2027-01-14に提供終了 → gpt-new"
    assert dep.when(dt.date(2027, 2, 1)).render("ja") == ja("shut down {date}").format(date="2027-01-14")
    (data_dir / "prices.json").write_text("{not json")
    problem = load_price_table(data_dir).problems[0]
    assert problem.startswith("is not valid JSON (") and problem.render("ja").startswith("はJSONとして正しくありません")


# --- the local-models panel ---------------------------------------------------------------------------


def _panel_script() -> None:
    from lib.engine.server import LocalServer
    from lib.engine.shared import SharedModels
    from ui.common import current_visitor, settings
    from ui.local_models import local_model_panel

    server = LocalServer(log_path=settings().data_dir / "logs" / "never-started.log")  # never started
    local_model_panel("chat", SharedModels(server, settings(), current_visitor()))


def _panel(locale: str) -> AppTest:
    at = AppTest.from_function(_panel_script, default_timeout=60)
    at.context = {"locale": locale}
    return at.run()


def test_the_local_models_panel_speaks_japanese(data_dir: Path) -> None:
    models = data_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "broken.gguf").write_bytes(b"<html>not a model</html>" * 4)  # listed as unusable, deletable
    at = _panel("ja-JP")
    assert not at.exception, at.exception
    assert english_shown(at) == []
    picker = at.sidebar.selectbox(key="chat_local_gguf")
    assert (
        picker.label == ja("Local model file")
        and ja("{name} (built-in)").format(name="SmolLM2-135M-Instruct") in picker.options[0]
    )
    assert any(ja("Running: `{model}`").split("`")[0] in c.value for c in at.sidebar.caption)
    delete = at.selectbox(key="chat_del_which")
    assert ja("unusable") in delete.options[0]
    # a download refused by the address guard: the error and its advice in Japanese
    at.text_input(key="chat_dl_url").input("http://127.0.0.1:9/m.gguf").run()
    at.button(key="chat_dl_go").click().run()
    assert not at.exception, at.exception
    error = at.error[0].value
    assert error.startswith("**" + ja("This address is not allowed.") + "**") and "モデルは公開サーバーからのみ" in error
    assert english_shown(at) == []


def test_the_panel_says_why_it_is_locked_in_japanese(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOAKE_PASSWORD", "a-shared-password")
    at = _panel("ja-JP")
    assert not at.exception, at.exception
    picker = at.sidebar.selectbox(key="chat_local_gguf")
    assert picker.disabled and ja("Downloading, switching and deleting the shared model") in picker.help
    assert english_shown(at) == []


def test_the_local_models_panel_in_english_has_no_japanese(data_dir: Path) -> None:
    at = _panel("en-US")
    assert not at.exception, at.exception
    assert japanese_left(at) == []
    assert not any(_has_japanese(t) for t in visible_texts(at))
    assert at.sidebar.selectbox(key="chat_local_gguf").label == "Local model file"
