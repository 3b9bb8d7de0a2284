"""lib/prompts (issue 24) with plain pytest: a version's messages for given values (compare's `{{variables}}`
parser), `name@version` references, the word-level diff and its safe markdown, a prompt with all its versions
as JSON (export → import gives identical versions) and promptfoo's prompt files both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lib.compare import grid
from lib.core.i18n import Msg
from lib.llm.chat import ChatParams
from lib.prompts import (
    PromptContent,
    PromptError,
    PromptRef,
    export_json,
    export_promptfoo,
    format_ref,
    import_file,
    parse_ref,
    promptfoo,
)
from lib.prompts import model as prompt_model
from lib.prompts.diff import (
    DELETE,
    EQUAL,
    INSERT,
    Segment,
    changed_words,
    diff_params,
    diff_versions,
    diff_words,
    side_markdown,
    sides,
    words,
)
from lib.prompts.io import PromptImportError, parse_export, unique_name
from lib.storage.store import Store
from tests.support.i18n import ja

SUPPORT = PromptContent(
    system="You are a support agent for {{product}}. Answer in {{language}}.",
    template="Customer question: {{question}}",
    model="gpt-6-luna",
    temperature=0.3,
    max_tokens=256,
    stop=("###",),
)


# --- a version's messages -----------------------------------------------------------------------------


def test_a_version_renders_its_messages_with_compares_variable_parser() -> None:
    assert prompt_model.find_variables is grid.find_variables and prompt_model.render is grid.render  # one parser
    assert SUPPORT.variables() == ["product", "language", "question"]
    values = {"product": "Yoake", "language": "Japanese", "question": "How do I export?", "unused": "x"}
    assert SUPPORT.messages(values) == [
        {"role": "system", "content": "You are a support agent for Yoake. Answer in Japanese."},
        {"role": "user", "content": "Customer question: How do I export?"},
    ]
    assert SUPPORT.render_parts(values) == (SUPPORT.messages(values)[0]["content"], SUPPORT.messages(values)[1]["content"])
    # A system prompt alone (a persona): one system message, the visitor writes the rest.
    assert PromptContent(system="Be brief.").messages() == [{"role": "system", "content": "Be brief."}]
    assert PromptContent(template="Hi {{ name }}").messages({"name": "Aki"}) == [{"role": "user", "content": "Hi Aki"}]


def test_missing_variables_are_one_clear_message_in_either_language() -> None:
    with pytest.raises(PromptError) as caught:
        SUPPORT.messages({"product": "Yoake", "language": "  "})  # blank counts as missing
    err = caught.value
    assert isinstance(err.detail, Msg) and err.kind == "prompt"
    assert str(err.detail) == "Give a value for {{language}}, {{question}}: the prompt uses them."
    assert err.detail.render("ja") == ja("Give a value for {names}: the prompt uses them.").format(
        names="{{language}}, {{question}}"
    )
    assert err.detail.render("ja") != str(err.detail) and "{{question}}" in err.detail.render("ja")
    assert err.title.render("ja") == ja("Some variables have no value.")


def test_chat_params_take_the_versions_parameters_and_the_pages_model_when_it_names_none() -> None:
    assert SUPPORT.chat_params("other") == ChatParams(model="gpt-6-luna", temperature=0.3, max_tokens=256, stop=["###"])
    assert PromptContent(system="x", seed=7).chat_params("m").to_kwargs() == {"model": "m", "seed": 7}
    assert SUPPORT.parameters() == {"model": "gpt-6-luna", "temperature": 0.3, "max_tokens": 256, "stop": ["###"]}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "Write a system prompt or a user message template."),
        ({"system": 3}, "The field System prompt must be text."),
        ({"system": "x", "temperature": "hot"}, "The field Temperature must be a number."),
        ({"system": "x", "temperature": 2.5}, "Temperature must be between 0 and 2."),
        ({"system": "x", "max_tokens": 1.5}, "The field Max tokens must be a whole number."),
        ({"system": "x", "stop": ["a", "b", "c", "d", "e"]}, "At most 4 stop sequences of up to 200 characters."),
        ({"system": "x", "stop": [1]}, "The field Stop sequences must be a list of texts."),
        ({"system": "x", "model": "a\nb"}, "The model name must be one line of at most 200 characters."),
    ],
)
def test_a_content_that_cannot_be_used_says_why(data: dict, problem: str) -> None:
    with pytest.raises(PromptError) as caught:
        PromptContent.from_dict(data)
    assert str(caught.value) == problem
    assert caught.value.detail.render("ja") != problem  # translated, parameter names included


def test_stored_form_round_trips_and_tolerates_missing_and_unknown_keys() -> None:
    stored = SUPPORT.to_dict()
    assert set(stored) == {"system", "template", "model", "temperature", "top_p", "max_tokens", "seed", "stop",
                           "presence_penalty", "frequency_penalty"}  # fmt: skip
    assert PromptContent.from_dict(json.loads(json.dumps(stored))) == SUPPORT
    assert PromptContent.from_dict({"system": "x", "future_field": 1, "max_tokens": 64.0, "stop": "END"}) == PromptContent(
        system="x", max_tokens=64, stop=("END",)
    )


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("support@3", PromptRef("support", 3)),
        ("support@v12", PromptRef("support", 12)),
        ("support@本番", PromptRef("support", label="本番")),
        ("support", PromptRef("support")),
        ("me@example@2", PromptRef("me@example", 2)),  # the last @ splits
        ("  サポート  ボット @ 4 ", PromptRef("サポート ボット", 4)),
    ],
)
def test_name_at_version_parses_and_formats(text: str, ref: PromptRef) -> None:
    assert parse_ref(text) == ref
    assert parse_ref(str(ref)) == ref


def test_a_reference_without_a_name_or_version_is_refused() -> None:
    assert format_ref("support", 3) == "support@3"
    for bad in ("", "@3", "support@"):
        with pytest.raises(PromptError, match="name@version"):
            parse_ref(bad)


# --- the diff ---------------------------------------------------------------------------------------------


def test_the_diff_is_word_by_word_and_character_by_character_in_japanese() -> None:
    assert "".join(words("Hello, world!  Two lines\nnext")) == "Hello, world!  Two lines\nnext"
    segs = diff_words("Answer briefly and politely.", "Answer politely and in detail.")
    assert "".join(s.text for s in segs if s.op != INSERT) == "Answer briefly and politely."
    assert "".join(s.text for s in segs if s.op != DELETE) == "Answer politely and in detail."
    assert set(changed_words(segs)) >= {"detail"} and "Answer" not in changed_words(segs)
    ja_segs = diff_words("丁寧に答えてください。", "簡潔に答えてください。")
    assert ja_segs == [Segment(DELETE, "丁寧"), Segment(INSERT, "簡潔"), Segment(EQUAL, "に答えてください。")]
    assert diff_words("same", "same") == [Segment(EQUAL, "same")]


def test_each_side_marks_its_changed_words_and_never_renders_the_users_markup() -> None:
    old = "Be **brief**.\n# Rules\n1. <b>no</b> [links](http://evil.example)"
    new = "Be **kind**.\n# Rules\n1. <b>no</b> [links](http://evil.example) :red[ever] www.x.org me@x.org"
    left, right = sides(diff_words(old, new))
    md_old, md_new = side_markdown(left, "red"), side_markdown(right, "green")
    assert ":red-background[brief]" in md_old and ":green-background[kind]" in md_new
    assert ":green-background[\\:red\\[ever\\] www" in md_new  # the user's own directive is text
    for md in (md_old, md_new):
        assert "**brief**" not in md and "**kind**" not in md and "\\*\\*" in md
        assert "<b>" not in md and "[links](http" not in md and "\n# " not in md and "\n1. " not in md
        assert "\\<b\\>" in md and "\\[links\\](http\\:\u2060//evil.example)" in md and "\\# Rules" in md and "1\\." in md
        assert all(line.count("-background[") == line.count("]") - line.count("\\]") for line in md.split("\n"))
    # Streamlit links bare URLs and addresses even when escaped (checked in Chromium): a word joiner stops it.
    assert "www\u2060.x.org" in md_new and "me@\u2060x.org" in md_new
    assert md_old.count("  \n") == 2  # three lines, each its own
    assert side_markdown([], "red") == "—"


def test_parameters_diff_as_a_table_of_changes() -> None:
    newer = PromptContent.from_dict(SUPPORT.to_dict() | {"temperature": 0.7, "top_p": 0.9, "stop": []})
    changes = diff_params(SUPPORT, newer)
    assert [(c.name, c.old, c.new) for c in changes] == [
        ("temperature", "0.3", "0.7"),
        ("top_p", "—", "0.9"),
        ("stop", "'###'", "—"),
    ]
    assert changes[0].label.render("ja") == ja("Temperature")
    diff = diff_versions(SUPPORT, newer)
    assert diff.changed and diff.changed_texts() == []
    assert not diff_versions(SUPPORT, SUPPORT).changed


# --- JSON export and import -----------------------------------------------------------------------------


def _three_versions(store: Store) -> int:
    pid = store.create_prompt("support", SUPPORT.to_dict(), "first")
    store.save_version(pid, PromptContent.from_dict(SUPPORT.to_dict() | {"temperature": 0.7}).to_dict(), "warmer")
    store.restore_version(pid, 1)
    store.set_label(pid, "本番", 2)
    store.set_label(pid, "demo", 3)
    return pid


def test_export_then_import_gives_identical_versions(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = _three_versions(store)
    exported = export_json(store, pid)
    doc = json.loads(exported)
    assert doc["format"] == "yoake.prompt" and doc["labels"] == {"demo": 3, "本番": 2} and len(doc["versions"]) == 3

    elsewhere = Store.in_dir(data_dir / "other")  # another laptop
    names, notes = import_file(elsewhere, "support.prompt.json", exported.encode())
    assert names == ["support"] and notes == []
    fields = lambda vs: [(v.number, v.created_at, v.note, v.content, v.restored_from) for v in vs]  # noqa: E731
    copy = elsewhere.find_prompt("support")
    assert fields(elsewhere.list_versions(copy.id)) == fields(store.list_versions(pid))
    assert copy.labels == {"demo": 3, "本番": 2}
    assert json.loads(export_json(elsewhere, copy.id)) | {"exported_at": 0} == doc | {"exported_at": 0}

    # Into the same store: the name is taken, so it comes in as "support (2)" and says so.
    names, notes = import_file(store, "support.prompt.json", exported.encode())
    assert names == ["support (2)"] and [str(n) for n in notes] == ["'support' already exists: imported as 'support (2)'."]
    assert unique_name("a", ["A", "a (2)"]) == "a (3)"


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ({"format": "something else"}, "not a Yoake prompt export"),
        ({"format": "yoake.prompt", "format_version": 99, "name": "x", "versions": []}, "newer Yoake"),
        ({"format": "yoake.prompt", "format_version": 1, "name": "x", "versions": []}, "no versions"),
        ({"format": "yoake.prompt", "format_version": 1, "name": " ", "versions": [{}]}, "no name"),
        ({"format": "yoake.prompt", "format_version": 1, "name": "x",
          "versions": [{"number": 2, "content": {"system": "a"}}, {"number": 1, "content": {"system": "b"}}]}, "each larger"),
        ({"format": "yoake.prompt", "format_version": 1, "name": "x", "versions": [{"content": {"temperature": 9}}]},
         "Version 1: Write a system prompt"),
        ({"format": "yoake.prompt", "format_version": 1, "name": "x", "versions": [{"content": {"system": "a"}}],
          "labels": {"demo": 4}}, "not in the file"),
    ],
)  # fmt: skip
def test_a_bad_export_is_refused_with_the_reason(doc: object, problem: str) -> None:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises(PromptImportError, match=problem) as caught:
        parse_export(raw)
    assert caught.value.kind == "import_rejected"


# --- promptfoo ---------------------------------------------------------------------------------------------

PROMPTFOO_CONFIG = """\
description: support bot
prompts:
  - 'Translate the following text to French: "{{text}}"'
  - |-
    You are a helpful assistant.

    Please answer the following question:
    {{question}}
  - id: file://prompts/customer_service.txt
  - id: concise
    label: Concise answer
    raw: '[{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": "{{question}}"}]'
    config:
      temperature: 0.2
      max_tokens: 64
      response_format: json
  - 'Product: {{product | upper}}'
providers: [openai:gpt-6-luna]
tests:
  - vars: {text: Hello, question: Why}
"""


def test_a_promptfoo_config_imports_its_prompts_and_says_what_it_left_out(data_dir: Path) -> None:
    found = promptfoo.parse("promptfooconfig.yaml", PROMPTFOO_CONFIG.encode())
    assert [p.name for p in found.prompts] == ["promptfooconfig-1", "promptfooconfig-2", "Concise answer", "promptfooconfig-5"]
    first, second, concise, upper = (p.contents[0] for p in found.prompts)
    assert first == PromptContent(template='Translate the following text to French: "{{text}}"')
    assert second.template.startswith("You are a helpful assistant.\n\nPlease answer") and second.variables() == ["question"]
    assert concise == PromptContent(system="Answer in one sentence.", template="{{question}}", temperature=0.2, max_tokens=64)
    assert upper.template == "Product: {{product | upper}}"
    notes = [str(n) for n in found.notes]
    assert any("file://prompts/customer_service.txt" in n and "import that file itself" in n for n in notes)
    assert "Concise answer: settings left out: response_format." in notes
    assert any(n.startswith("promptfooconfig-5: uses template tags or filters") for n in notes)
    assert all(n.render("ja") != str(n) for n in found.notes)

    store = Store.in_dir(data_dir)
    names, notes = import_file(store, "promptfooconfig.yaml", PROMPTFOO_CONFIG.encode())
    assert names == ["promptfooconfig-1", "promptfooconfig-2", "Concise answer", "promptfooconfig-5"] and len(notes) == 3
    stored = store.find_prompt("Concise answer")
    assert stored.source == "promptfoo" and PromptContent.from_dict(stored.content) == concise
    assert store.list_versions(stored.id)[0].note == "promptfooconfig.yaml"


def test_promptfoo_chat_json_jsonl_text_and_legacy_files_import() -> None:
    chat = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Who won in {{ year }}?"}]
    [one] = promptfoo.parse("chat.json", json.dumps(chat).encode()).prompts
    assert one.name == "chat" and one.contents == [PromptContent(system="You are a pirate.", template="Who won in {{ year }}?")]
    assert one.contents[0].variables() == ["year"]

    multishot = chat[:1] + [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr"}, chat[1]]
    found = promptfoo.parse("multi.jsonl", (json.dumps(chat) + "\n\n" + json.dumps(multishot) + "\n").encode())
    assert [c.template for p in found.prompts for c in p.contents] == ["Who won in {{ year }}?"] * 2
    assert [str(n) for n in found.notes] == [
        "multi-2: 2 other messages (earlier turns, non-text content) were left out; "
        "a version keeps the system prompt and the last user message."
    ]

    text = "Summarise: {{article}}\n---\nTranslate to {{language}}: {{text}}\n  ---  \n\n"
    assert [p.contents[0].template for p in promptfoo.parse("prompts.txt", text).prompts] == [
        "Summarise: {{article}}",
        "Translate to {{language}}: {{text}}",
    ]
    legacy = promptfoo.parse("config.yaml", "prompts:\n  prompts.txt: file_prompts\n  'Say {{x}}': say\n")
    assert [p.name for p in legacy.prompts] == ["say"] and "import that file itself" in str(legacy.notes[0])
    bare_list = promptfoo.parse("prompts.yaml", "- id: custom\n  label: Custom\n  raw: Answer {{question}}\n")
    assert bare_list.prompts[0].name == "Custom"

    for name, raw, problem in [
        ("x.json", b'{"nothing": 1}', "No prompts found"),
        ("x.yaml", b"prompts: [file://a.txt]", "No prompt in the file could be imported"),
        ("x.jsonl", b"[oops", "Line 1 is not valid JSON"),
        ("x.yaml", b"prompts: [unclosed", "cannot be read as YAML"),
    ]:
        with pytest.raises(PromptImportError, match=problem):
            promptfoo.parse(name, raw)


def test_a_prompt_exports_to_promptfoo_and_comes_back_as_the_same_versions(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    pid = store.create_prompt("support", SUPPORT.to_dict())
    plain = PromptContent(template="Line one\nLine two {{question}}", presence_penalty=0.5)
    store.save_version(pid, plain.to_dict())
    text = export_promptfoo(store, pid)
    doc = yaml.safe_load(text)
    entries = doc["prompts"]
    assert [e["id"] for e in entries] == ["support@1", "support@2"]
    assert json.loads(entries[0]["raw"]) == promptfoo.chat_messages(SUPPORT)  # a system prompt: chat JSON
    assert entries[0]["config"] == {"temperature": 0.3, "max_tokens": 256, "stop": ["###"]}
    assert entries[1]["raw"] == plain.template and "raw: |-" in text  # multi-line text as a block
    assert "# support@1: model gpt-6-luna" in text

    [back] = promptfoo.parse("support.promptfoo.yaml", text).prompts
    assert back.name == "support"
    assert back.contents == [PromptContent.from_dict(SUPPORT.to_dict() | {"model": ""}), plain]  # the model is a provider's
    [chat] = promptfoo.parse("support-v1.json", promptfoo.to_chat_json(SUPPORT)).prompts
    assert chat.contents == [PromptContent(system=SUPPORT.system, template=SUPPORT.template)]
