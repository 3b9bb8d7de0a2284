"""AppTest runs of the Prompts page (issue 24): create a prompt and save three versions, diff two and see the
changed words marked, label one and move the label, restore an old version, import a promptfoo file, delete
with confirmation (a version a saved result used is kept); the page in Japanese leaves no English of ours,
and in English no Japanese. No model is called."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.text import md_text
from lib.prompts import PromptContent, resolve
from lib.storage.store import Store
from tests.support.hosted_api_sim import HostedAPISim
from tests.support.i18n import english_left, ja, japanese_left

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "prompts.py")
SYSTEM_1 = "You are a friendly support agent for {{product}}."
SYSTEM_2 = "You are a patient support agent for {{product}}."
TEMPLATE = "Customer question: {{question}}"
PROMPTFOO = b"""prompts:
  - id: faq@1
    raw: '[{"role": "system", "content": "Answer from the FAQ."}, {"role": "user", "content": "{{question}}"}]'
    config: {temperature: 0.1, response_format: json}
  - id: faq@2
    raw: '[{"role": "system", "content": "Answer from the FAQ, briefly."}, {"role": "user", "content": "{{question}}"}]'
"""


def _page(locale: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if locale:
        at.context = {"locale": locale}
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> list[str]:  # noqa: ANN001 - an AppTest element list
    return [e.value for e in elements]


def _create(at: AppTest) -> int:
    at.text_input(key="pr_new_name").set_value("support")
    at.text_area(key="pr_new_system").set_value(SYSTEM_1)
    at.text_area(key="pr_new_template").set_value(TEMPLATE)
    at.number_input(key="pr_new_temperature").set_value(0.3)
    at.text_input(key="pr_new_note").set_value("first try")
    at.button(key="pr_create").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    return at.session_state["pr_selected"]


def _save(at: AppTest, pid: int, base: int, note: str, **fields: object) -> None:
    for name, value in fields.items():
        widget = at.text_area if name in ("system", "template", "stop") else at.number_input
        widget(key=f"pr_edit_{pid}_{base}_{name}").set_value(value)
    at.text_input(key=f"pr_note_{pid}").set_value(note)
    at.button(key="pr_save").click().run()
    assert not at.exception


def _three_versions(at: AppTest) -> int:
    pid = _create(at)
    _save(at, pid, 1, "more patient", system=SYSTEM_2)
    assert _texts(at.success) == ["Saved version 2."] or _texts(at.success) == [ja("Saved version {n}.").format(n=2)]
    _save(at, pid, 2, "cooler, longer", temperature=0.1, max_tokens=512)
    return pid


def _frame(at: AppTest, column: str):  # noqa: ANN202 - a DataFrame
    """The first table with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _diff_markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "-background[" in m.value]


def test_versions_diff_labels_restore_and_delete(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    assert "No prompts yet" in " ".join(_texts(at.info))
    pid = _three_versions(at)
    assert _texts(at.success) == ["Saved version 3."]
    store = Store.in_dir(data_dir)
    versions = store.list_versions(pid)
    assert [(v.number, v.note) for v in versions] == [(1, "first try"), (2, "more patient"), (3, "cooler, longer")]
    assert PromptContent.from_dict(versions[2].content) == PromptContent(SYSTEM_2, TEMPLATE, temperature=0.1, max_tokens=512)
    history = _frame(at, "Restored from")
    assert list(history["Version"]) == ["v3", "v2", "v1"] and list(history["Note"])[-1] == "first try"

    # The diff of v1 and v2: the changed word on each side, marked; the parameters unchanged.
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(1)
    at.selectbox(key=f"pr_diff_new_{pid}").set_value(2).run()
    assert _diff_markdown(at) == [
        "You are a :red-background[friendly] support agent for {{product}}.",
        "You are a :green-background[patient] support agent for {{product}}.",
    ]
    assert "The parameters are the same." in _texts(at.caption)
    # v2 → v3 (the default pair once chosen back): the texts are the same, the parameters changed.
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(2)
    at.selectbox(key=f"pr_diff_new_{pid}").set_value(3).run()
    assert _diff_markdown(at) == []
    changes = _frame(at, "v3")
    assert changes.to_dict("records") == [
        {"Parameter": "Temperature", "v2": "0.3", "v3": "0.1"},
        {"Parameter": "Max tokens", "v2": "—", "v3": "512"},
    ]

    # Label v2, then move the label to v3.
    at.text_input(key="pr_label_name").set_value("本番")
    at.selectbox(key=f"pr_label_version_{pid}").set_value(2)
    at.button(key="pr_set_label").click().run()
    assert _texts(at.success) == ["The label 本番 now points at v2."]
    at.text_input(key="pr_label_name").set_value("本番")
    at.selectbox(key=f"pr_label_version_{pid}").set_value(3)
    at.button(key="pr_set_label").click().run()
    assert _texts(at.success) == ["Moved the label 本番 from v2 to v3."]
    assert store.get_prompt(pid).labels == {"本番": 3} and resolve(store, "support@本番")[0].number == 3

    # Restore v1: a new v4 equal to it; saving it again unchanged is refused with the reason.
    at.selectbox(key=f"pr_history_pick_{pid}").set_value(1)
    at.button(key="pr_restore").click().run()
    assert _texts(at.success) == ["Restored v1 as the new version v4."]
    v4 = store.get_version(pid, 4)
    assert v4.content == versions[0].content and v4.restored_from == 1
    at.button(key="pr_save").click().run()
    assert "Nothing changed since version 4" in " ".join(_texts(at.error))

    # A chat used v2 (as phase 2 will record it): deleting keeps v2, marked deleted; it asks first.
    store.add_prompt_reference(pid, 2, "conversation", "c-demo")
    at.run()
    assert at.button(key="pr_delete").disabled
    assert "Saved results used v2: those versions are kept, marked deleted." in _texts(at.caption)
    at.checkbox(key=f"pr_delete_confirm_{pid}").check().run()
    at.button(key="pr_delete").click().run()
    assert not at.exception
    assert _texts(at.info)[0] == "Deleted the prompt. The versions saved results used (v2) are kept, marked deleted."
    assert store.list_prompts() == [] and [(v.number, v.deleted) for v in store.list_versions(pid)] == [(2, True)]
    assert resolve(store, "support@2")[1].system == SYSTEM_2


def test_import_a_promptfoo_file_duplicate_and_export(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page()
    at.file_uploader(key="pr_import_file").set_value(("promptfooconfig.yaml", PROMPTFOO, "application/yaml"))
    at.button(key="pr_import").click().run()
    assert not at.exception
    assert _texts(at.success) == ["Imported: faq."]
    assert "· " + md_text("faq@1: settings left out: response_format.") in _texts(at.caption)
    store = Store.in_dir(data_dir)
    faq = store.find_prompt("faq")
    assert faq.latest == 2 and at.session_state["pr_selected"] == faq.id
    assert [PromptContent.from_dict(v.content).temperature for v in store.list_versions(faq.id)] == [0.1, None]
    assert [b.label for b in at.download_button] == ["JSON (all versions)", "promptfoo (YAML)", "Chat JSON (v2)"]

    at.button(key="pr_duplicate").click().run()  # the suggested name
    assert _texts(at.success) == ["Duplicated as 'faq (copy)'."]
    copy = store.find_prompt("faq (copy)")
    assert copy.latest == 1 and copy.content == faq.content and at.session_state["pr_selected"] == copy.id
    at.text_input(key="pr_search").set_value("briefly").run()
    assert list(_frame(at, "Newest")["Name"]) == ["faq", "faq (copy)"]
    at.text_input(key="pr_search").set_value("nothing holds this").run()
    assert _texts(at.info)[0] == "No prompt holds 'nothing holds this'."  # the open prompt stays open below


def test_the_page_in_japanese_leaves_no_english(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _page("ja-JP")
    assert english_left(at) == []
    pid = _three_versions(at)
    assert _texts(at.success) == [ja("Saved version {n}.").format(n=3)]
    at.selectbox(key=f"pr_diff_old_{pid}").set_value(1).run()
    assert english_left(at) == []
    at.button(key="pr_save").click().run()  # nothing changed: the error in Japanese
    [error] = _texts(at.error)
    assert (
        ja("That could not be saved.") in error
        and ja("Nothing changed since version {n}: no new version was saved.").format(n=3) in error
    )
    assert english_left(at) == []
    at.text_input(key=f"pr_edit_{pid}_3_var_product").set_value("Yoake").run()  # a variable left: said in Japanese
    assert ja("Give a value for {names}: the prompt uses them.").format(names="{{question}}") in _texts(at.caption)
    at.file_uploader(key="pr_import_file").set_value(("bad.json", b"{oops", "application/json"))
    at.button(key="pr_import").click().run()
    assert ja("The file cannot be imported.") in " ".join(_texts(at.error))
    assert english_left(at) == []


@pytest.mark.parametrize("locale", ["en-US"])
def test_the_page_in_english_leaves_no_japanese(data_dir: Path, fake_model: HostedAPISim, locale: str) -> None:
    at = _page(locale)
    _three_versions(at)
    at.button(key="pr_save").click().run()
    assert "That could not be saved." in " ".join(_texts(at.error))
    assert japanese_left(at) == []
