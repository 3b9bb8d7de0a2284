"""Export (JSON in OpenAI messages format + metadata, Markdown) and the validating import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.conversation.io import (
    FORMAT,
    MAX_IMPORT_BYTES,
    MAX_MESSAGES,
    ImportRejected,
    clean_params,
    export_json,
    export_markdown,
    parse_import,
)
from lib.storage.store import Store


def _saved(store: Store) -> str:
    cid = store.create_conversation(
        persona="Patient Japanese teacher",
        system_prompt="Teach Japanese.",
        provider="local",
        model="smollm2-135m-instruct",
        params={"temperature": 0.5, "max_tokens": 64, "stop": ""},
    )
    store.add_message(cid, "user", "How do I say *thank you*?")
    mid = store.add_message(
        cid, "assistant", "ありがとう (arigatou)", meta={"model": "smollm2-135m-instruct", "output_tokens": 7}
    )
    store.add_message(cid, "user", "And sorry?")
    store.update_message(store.add_message(cid, "assistant", "ごめん", incomplete=True), content="ごめんなさい")
    assert mid
    return cid


def test_json_export_is_openai_messages_plus_metadata_and_round_trips(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    conv = store.get_conversation(_saved(store))
    assert conv is not None
    doc = json.loads(export_json(conv))
    assert doc["messages"] == [
        {"role": "system", "content": "Teach Japanese."},
        {"role": "user", "content": "How do I say *thank you*?"},
        {"role": "assistant", "content": "ありがとう (arigatou)"},
        {"role": "user", "content": "And sorry?"},
        {"role": "assistant", "content": "ごめんなさい"},
    ]
    meta = doc["metadata"]
    assert meta["format"] == FORMAT and meta["version"] == 1 and meta["title"] == "How do I say *thank you*?"
    assert (meta["persona"], meta["provider"], meta["model"]) == ("Patient Japanese teacher", "local", "smollm2-135m-instruct")
    assert meta["params"] == {"temperature": 0.5, "max_tokens": 64, "stop": ""}
    assert [t["incomplete"] for t in meta["turns"]] == [False, False, False, True]

    imported_id = store.import_conversation(parse_import(export_json(conv).encode()))
    again = store.get_conversation(imported_id)
    assert again is not None and imported_id != conv.id
    assert [(m.role, m.content, m.incomplete, m.meta) for m in again.messages] == [
        (m.role, m.content, m.incomplete, m.meta) for m in conv.messages
    ]
    assert (again.title, again.persona, again.system_prompt, again.params) == (
        conv.title,
        conv.persona,
        conv.system_prompt,
        conv.params,
    )


def test_markdown_export(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    md = export_markdown(store.get_conversation(_saved(store)))  # type: ignore[arg-type]
    assert md.startswith("# How do I say *thank you*?\n")
    assert "## System prompt\n\nTeach Japanese." in md
    assert md.index("## 🧑 User\n\nHow do I say") < md.index("## 🤖 Assistant\n\nありがとう") < md.index("ごめんなさい")
    assert "incomplete" in md.split("ごめんなさい")[1]


def test_plain_openai_messages_are_importable() -> None:
    conv = parse_import(
        json.dumps(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hi\x1b[31m!"},
            ]
        ).encode()
    )
    assert conv.system_prompt == "Be brief." and conv.title == "Hello there"
    assert [m.content for m in conv.messages] == ["Hello there", "Hi[31m!"]  # terminal escape dropped
    assert parse_import(b'{"messages": [{"role": "user", "content": "q"}]}').messages[0].content == "q"


def _doc(**meta: object) -> dict:
    return {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "metadata": {"format": FORMAT, "version": 1, **meta},
    }


def _deep(n: int) -> bytes:
    return ("[" * n + "]" * n).encode()


BAD_FILES: list[tuple[str, bytes, str]] = [
    ("empty", b"   ", "empty"),
    ("not json", b"hello, world", "not valid JSON"),
    ("not utf-8", "{}".encode("utf-16"), "UTF-8"),
    ("truncated", b'{"messages": [{"role": "user", "content": "hi"}', "not valid JSON"),
    ("nan", b'{"messages": [{"role": "user", "content": NaN}]}', "not valid JSON"),
    ("deeply nested", _deep(100_000), "nested too deeply"),
    ("number", b"42", "must be an object"),
    ("no messages", b'{"conversation": []}', "no 'messages'"),
    ("messages not a list", b'{"messages": "hi"}', "must be a list"),
    ("no messages at all", b'{"messages": []}', "no messages"),
    ("only system", b'[{"role": "system", "content": "x"}]', "no user or assistant"),
    ("message not object", b'["hi"]', "not an object"),
    ("tool result without its call", b'[{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]', "tool_call_id"),
    ("bad role", b'[{"role": "user", "content": "a"}, {"role": "function", "content": "b"}]', "role 'function'"),
    ("missing role", b'[{"content": "a"}]', "no 'role'"),
    ("missing content", b'[{"role": "user"}]', "no 'content'"),
    ("numeric content", b'[{"role": "user", "content": 5}]', "must be text"),
    ("image part", b'[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]', "only text"),
    ("late system", b'[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]', "only allowed first"),
    ("foreign format", json.dumps(_doc(format="other.app")).encode(), "metadata.format"),
    ("future version", json.dumps(_doc(version=99)).encode(), "newer"),
    (
        "metadata not object",
        json.dumps({"messages": [{"role": "user", "content": "a"}], "metadata": [1]}).encode(),
        "'metadata' must be",
    ),
    ("bad temperature", json.dumps(_doc(params={"temperature": 9})).encode(), "params.temperature"),
    ("bool max_tokens", json.dumps(_doc(params={"max_tokens": True})).encode(), "params.max_tokens"),
    ("unknown param", json.dumps(_doc(params={"api_key": "x"})).encode(), "unknown parameter"),
    ("turns mismatch", json.dumps(_doc(turns=[{}])).encode(), "one entry per"),
    ("turn incomplete not bool", json.dumps(_doc(turns=[{}, {"incomplete": "yes"}])).encode(), "true or false"),
    ("huge title", json.dumps(_doc(title="t" * 5000)).encode(), "metadata.title"),
    ("too many messages", json.dumps([{"role": "user", "content": ""}] * (MAX_MESSAGES + 1)).encode(), "limit is"),
    ("oversized", json.dumps([{"role": "user", "content": "x" * MAX_IMPORT_BYTES}]).encode(), "MB"),
    ("long message", json.dumps([{"role": "user", "content": "x" * 300_000}]).encode(), "longer than"),
]


@pytest.mark.parametrize(("name", "data", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_import_rejects_wrong_and_hostile_files(name: str, data: bytes, reason: str, data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    with pytest.raises(ImportRejected, match=reason.replace("(", r"\(").replace("*", r"\*")):
        store.import_conversation(parse_import(data))
    assert store.list_conversations() == []  # nothing was written


def test_clean_params_keeps_only_known_valid_values() -> None:
    assert clean_params({"temperature": 0.5, "top_p": 7, "max_tokens": 64.0, "seed": "42", "bogus": 1, "stop": None}) == {
        "temperature": 0.5,
        "max_tokens": 64,
        "seed": "42",
    }
    assert clean_params("nope") == {}
