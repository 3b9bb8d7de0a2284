"""The chat page's saved conversations through AppTest, against the fake model (tests/support/):
reload (a fresh AppTest with the URL's `?c=`), the sidebar list, rename, delete with confirmation,
export, import, user personas, presets and the answer cache."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import rerun_without
from helpers import usage_lines as _usage
from streamlit.string_util import clean_text
from streamlit.testing.v1 import AppTest

from lib.conversation.io import export_json
from lib.llm.providers import LOCAL_MODEL_ALIAS
from lib.storage.store import Store
from tests.support.hosted_api_sim import Fault, HostedAPISim, split_pieces

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "chat.py")


def _app(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _turns(at: AppTest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in at.session_state["chat_history"]]


def _sidebar_text(at: AppTest) -> str:
    return " ".join(x.value for kind in ("error", "warning", "success", "info") for x in getattr(at.sidebar, kind))


def test_a_reload_brings_back_the_conversation_and_its_settings(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _app()
    at.sidebar.selectbox(key="chat_persona").set_value("Linux / DevOps assistant").run()
    at.sidebar.number_input(key="chat_max_tokens").set_value(12)
    at.sidebar.slider(key="chat_top_p").set_value(0.9)
    at.sidebar.text_input(key="chat_seed").set_value("7")
    at.chat_input(key="chat_input").set_value("How do I list files?").run()
    assert not at.exception
    cid = at.query_params["c"]
    turns = _turns(at)
    assert turns == [("user", "How do I list files?"), ("assistant", fake_model.reply_to(fake_model.calls()[-1]))]
    assert fake_model.calls()[-1]["max_tokens"] == 12 and fake_model.calls()[-1]["seed"] == 7
    caption = " ".join(c.value for c in at.chat_message[1].caption)

    # Saved as it happened: the database has both turns and the settings.
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv is not None and [(m.role, m.content) for m in conv.messages] == turns
    assert conv.title == "How do I list files?" and conv.persona == "Linux / DevOps assistant"

    fresh = _app(c=cid)  # a browser reload: new session, same URL
    assert _turns(fresh) == turns
    # Each stored turn is on the page as st.markdown shows text (dedented, outer whitespace stripped).
    assert [m.markdown[0].value for m in fresh.chat_message] == [clean_text(t) for _, t in turns]
    assert " ".join(c.value for c in fresh.chat_message[1].caption) == caption
    assert fresh.sidebar.selectbox(key="chat_persona").value == "Linux / DevOps assistant"
    assert "DevOps" in fresh.sidebar.text_area(key="chat_system_prompt").value
    assert fresh.sidebar.slider(key="chat_temperature").value == 0.2
    assert fresh.sidebar.number_input(key="chat_max_tokens").value == 12
    assert fresh.sidebar.slider(key="chat_top_p").value == 0.9
    assert fresh.sidebar.text_input(key="chat_seed").value == "7"
    assert fresh.sidebar.selectbox(key="chat_provider").value == "local"
    assert fresh.sidebar.selectbox(key="chat_model").value == LOCAL_MODEL_ALIAS
    assert fresh.query_params["c"] == cid
    assert fresh.sidebar.button(key=f"chat_open_{cid}").label == "How do I list files?"

    # The conversation continues where it was: the whole history goes with the new message.
    fresh.chat_input(key="chat_input").set_value("And hidden ones?").run()
    assert [r for r, _ in _turns(fresh)] == ["user", "assistant", "user", "assistant"]
    sent = fake_model.calls()[-1]
    assert [(m["role"], m["content"]) for m in sent["messages"][1:]] == turns + [("user", "And hidden ones?")]
    assert _turns(fresh)[3] == ("assistant", fake_model.reply_to(sent))
    assert len(Store.in_dir(data_dir).get_conversation(cid).messages) == 4  # type: ignore[union-attr]

    # A link to a conversation that no longer exists starts a new chat and says so.
    gone = _app(c="0" * 32)
    assert gone.session_state["chat_history"] == [] and "c" not in gone.query_params
    assert "no longer exists" in _sidebar_text(gone)


def test_list_open_rename_and_delete_with_confirmation(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    older = store.create_conversation(
        persona="Casual friend",
        system_prompt="Be chill.",
        provider="local",
        model=LOCAL_MODEL_ALIAS,
        params={"temperature": 1.0, "max_tokens": 33},
    )
    store.add_message(older, "user", "What's up?")
    store.add_message(older, "assistant", "Not much!")
    newer = store.create_conversation(persona="Helpful assistant", provider="local", model=LOCAL_MODEL_ALIAS)
    store.add_message(newer, "user", "Second conversation")

    at = _app()
    listed = [b for b in at.sidebar.button if b.key and b.key.startswith("chat_open_")]
    assert [b.label for b in listed] == ["Second conversation", "What's up?"]  # newest first

    at.sidebar.button(key=f"chat_open_{older}").click().run()
    assert _turns(at) == [("user", "What's up?"), ("assistant", "Not much!")]
    assert at.query_params["c"] == older
    assert at.sidebar.selectbox(key="chat_persona").value == "Casual friend"
    assert at.sidebar.text_area(key="chat_system_prompt").value == "Be chill."
    assert at.sidebar.slider(key="chat_temperature").value == 1.0
    assert at.sidebar.number_input(key="chat_max_tokens").value == 33
    assert [d.label for d in at.sidebar.download_button] == ["⬇️ Export JSON", "⬇️ Export Markdown"]

    at.sidebar.text_input(key="chat_rename_title").set_value("Small talk")
    at.sidebar.button(key="chat_rename").click().run()
    assert at.sidebar.button(key=f"chat_open_{older}").label == "Small talk"
    assert store.get_conversation(older).title == "Small talk"  # type: ignore[union-attr]
    at.sidebar.button(key="chat_new").click().run()
    assert at.session_state["chat_history"] == [] and "c" not in at.query_params
    at.sidebar.button(key=f"chat_open_{older}").click().run()
    assert at.sidebar.text_input(key="chat_rename_title").value == "Small talk"

    # Delete asks first; Cancel keeps everything.
    at.sidebar.button(key="chat_delete").click().run()
    assert "cannot be undone" in _sidebar_text(at)
    at.sidebar.button(key="chat_delete_no").click().run()
    assert store.get_conversation(older) is not None and _turns(at)
    at.sidebar.button(key="chat_delete").click().run()
    at.sidebar.button(key="chat_delete_yes").click().run()
    assert store.get_conversation(older) is None
    assert at.session_state["chat_history"] == [] and "c" not in at.query_params
    assert [b.label for b in at.sidebar.button if b.key and b.key.startswith("chat_open_")] == ["Second conversation"]


def test_import_loads_a_valid_export_and_rejects_a_hostile_file(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    source = store.create_conversation(
        persona="Patient Japanese teacher",
        system_prompt="Teach Japanese.",
        provider="local",
        model=LOCAL_MODEL_ALIAS,
        params={"temperature": 0.5},
    )
    store.add_message(source, "user", "Hello in Japanese?")
    store.add_message(source, "assistant", "こんにちは")
    export = export_json(store.get_conversation(source)).encode()  # type: ignore[arg-type]
    store.delete_conversation(source)

    at = _app()
    at.sidebar.file_uploader[0].upload(
        "evil.json", b'{"messages": [{"role": "tool", "content": "rm -rf /"}]}', "application/json"
    )
    at.run()
    at.sidebar.button(key="chat_import").click().run()
    assert "Import failed" in _sidebar_text(at) and "tool_call_id" in _sidebar_text(at)
    assert store.list_conversations() == [] and at.session_state["chat_history"] == []

    big = json.dumps([{"role": "user", "content": "x" * (3 * 1024 * 1024)}]).encode()
    at.sidebar.file_uploader[0].set_value(("big.json", big, "application/json"))
    at.run()
    at.sidebar.button(key="chat_import").click().run()
    assert "limit is 2 MB" in _sidebar_text(at)
    assert store.list_conversations() == []

    at.sidebar.file_uploader[0].set_value(("ok.json", export, "application/json"))
    at.run()
    at.sidebar.button(key="chat_import").click().run()
    assert not at.exception
    assert "Imported" in _sidebar_text(at)
    [conv] = store.list_conversations()
    assert at.query_params["c"] == conv.id and conv.title == "Hello in Japanese?"
    assert _turns(at) == [("user", "Hello in Japanese?"), ("assistant", "こんにちは")]
    assert at.sidebar.selectbox(key="chat_persona").value == "Patient Japanese teacher"
    assert at.sidebar.slider(key="chat_temperature").value == 0.5


def test_user_personas_are_created_edited_and_deleted(data_dir: Path) -> None:
    at = _app()
    at.sidebar.text_input(key="chat_pe_name").set_value("Helpful assistant")
    at.sidebar.text_area(key="chat_pe_prompt").set_value("x")
    at.sidebar.button(key="chat_pe_save").click().run()
    assert "built-in name" in _sidebar_text(at)

    at.sidebar.text_input(key="chat_pe_name").set_value("Pirate")
    at.sidebar.text_area(key="chat_pe_prompt").set_value("Talk like a pirate.")
    at.sidebar.slider(key="chat_pe_temp").set_value(1.1)
    at.sidebar.button(key="chat_pe_save").click().run()
    assert "Pirate" in at.sidebar.selectbox(key="chat_persona").options

    at.sidebar.selectbox(key="chat_persona").set_value("Pirate").run()
    assert at.sidebar.text_area(key="chat_system_prompt").value == "Talk like a pirate."
    assert at.sidebar.slider(key="chat_temperature").value == 1.1

    # Stored in the database: a new session (another browser) sees it too.
    [pirate] = Store.in_dir(data_dir).list_personas()
    other = _app()
    assert "Pirate" in other.sidebar.selectbox(key="chat_persona").options
    other.sidebar.selectbox(key="chat_pe_pick").set_value(pirate.id).run()
    assert other.sidebar.text_area(key="chat_pe_prompt").value == "Talk like a pirate."
    other.sidebar.text_input(key="chat_pe_name").set_value("Captain")
    other.sidebar.text_area(key="chat_pe_prompt").set_value("Talk like a sea captain.")
    other.sidebar.button(key="chat_pe_save").click().run()
    assert [p.name for p in Store.in_dir(data_dir).list_personas()] == ["Captain"]
    opts = other.sidebar.selectbox(key="chat_persona").options
    assert "Captain" in opts and "Pirate" not in opts

    other.sidebar.button(key="chat_pe_delete").click().run()
    assert Store.in_dir(data_dir).list_personas() == []
    assert "Captain" not in other.sidebar.selectbox(key="chat_persona").options
    # The first session was using the persona that is now gone: its prompt stays, as a custom one.
    at.run()
    assert at.sidebar.selectbox(key="chat_persona").value == "Custom system prompt"
    assert at.sidebar.text_area(key="chat_system_prompt").value == "Talk like a pirate."


def test_presets_save_and_load_in_one_click(data_dir: Path) -> None:
    at = _app()
    at.sidebar.slider(key="chat_temperature").set_value(0.3)
    at.sidebar.slider(key="chat_top_p").set_value(0.5)
    at.sidebar.number_input(key="chat_max_tokens").set_value(77)
    at.sidebar.text_area(key="chat_stop").set_value("END")
    at.sidebar.text_input(key="chat_preset_name").set_value("Terse")
    at.sidebar.button(key="chat_preset_save").click().run()
    [preset] = Store.in_dir(data_dir).list_presets()
    assert preset.name == "Terse" and preset.provider == "local" and preset.model == LOCAL_MODEL_ALIAS
    assert preset.params["max_tokens"] == 77 and preset.params["stop"] == "END"

    fresh = _app()  # another session
    assert fresh.sidebar.number_input(key="chat_max_tokens").value == 512
    fresh.sidebar.button(key=f"chat_preset_{preset.id}").click().run()
    assert fresh.sidebar.slider(key="chat_temperature").value == 0.3
    assert fresh.sidebar.slider(key="chat_top_p").value == 0.5
    assert fresh.sidebar.number_input(key="chat_max_tokens").value == 77
    assert fresh.sidebar.text_area(key="chat_stop").value == "END"
    assert fresh.sidebar.selectbox(key="chat_model").value == LOCAL_MODEL_ALIAS

    fresh.sidebar.button(key=f"chat_preset_del_{preset.id}").click().run()
    assert Store.in_dir(data_dir).list_presets() == []


def test_answer_cache_answers_a_repeat_without_a_model_call(data_dir: Path, fake_model: HostedAPISim) -> None:
    at = _app()
    assert at.sidebar.toggle(key="chat_cache").value is False  # off by default
    at.sidebar.toggle(key="chat_cache").set_value(True)
    at.sidebar.slider(key="chat_temperature").set_value(0.0)
    at.sidebar.number_input(key="chat_max_tokens").set_value(10)
    at.chat_input(key="chat_input").set_value("Name a fruit.").run()
    first = _turns(at)[1][1]
    assert first == fake_model.expected([{"role": "user", "content": "Name a fruit."}], 10) and len(fake_model.calls()) == 1

    at.sidebar.button(key="chat_new").click().run()
    at.chat_input(key="chat_input").set_value("Name a fruit.").run()
    assert not at.exception
    assert _turns(at) == [("user", "Name a fruit."), ("assistant", first)]
    assert "answer cache" in " ".join(c.value for c in at.chat_message[1].caption)
    assert len(fake_model.calls()) == 1  # no second model call

    lines = _usage(data_dir)
    assert len(lines) == 2  # one model call (a call logs its own line) + one cache hit
    assert lines[0]["cache_hit"] is False
    assert lines[1]["cache_hit"] is True and lines[1]["cost_usd"] == 0 and lines[1]["status"] == "ok"

    # Forgotten: the same request goes to the model again (and is cached anew).
    at.sidebar.button(key="chat_cache_clear").click().run()
    assert "1 cached answer(s) forgotten." in " ".join(x.value for x in at.sidebar.success)
    at.sidebar.button(key="chat_new").click().run()
    at.chat_input(key="chat_input").set_value("Name a fruit.").run()
    assert _turns(at)[1][1] == first and len(fake_model.calls()) == 2

    # Off again: the same request goes to the model.
    at.sidebar.toggle(key="chat_cache").set_value(False)
    at.sidebar.button(key="chat_new").click().run()
    at.chat_input(key="chat_input").set_value("Name a fruit.").run()
    lines = _usage(data_dir)
    assert len(lines) == 4 and lines[3]["cache_hit"] is False and len(fake_model.calls()) == 3


def test_a_reply_cut_off_mid_stream_is_saved_incomplete_and_comes_back_after_a_reload(
    data_dir: Path, fake_model: HostedAPISim
) -> None:
    fake_model.fail(Fault(drop=4))
    at = _app()
    at.sidebar.number_input(key="chat_max_tokens").set_value(64)
    at.chat_input(key="chat_input").set_value("Tell me about lighthouses.").run()
    assert not at.exception
    partial = at.session_state["chat_history"][1]
    arrived = split_pieces(fake_model.expected([{"role": "user", "content": "Tell me about lighthouses."}]))[:4]
    assert partial.incomplete is True and partial.content == "".join(arrived)
    cid = at.query_params["c"]

    saved = Store.in_dir(data_dir).get_conversation(cid)
    assert saved is not None
    assert [(m.role, m.content, m.incomplete) for m in saved.messages] == [
        ("user", "Tell me about lighthouses.", False),
        ("assistant", partial.content, True),
    ]
    fresh = _app(c=cid)
    assert _turns(fresh) == [("user", "Tell me about lighthouses."), ("assistant", partial.content)]
    assert any("Incomplete" in c.value for c in fresh.chat_message[1].caption)


def test_settings_the_browser_has_not_drawn_yet_keep_their_values_and_the_saved_ones(
    data_dir: Path, fake_model: HostedAPISim
) -> None:
    """A browser still drawing the previous run sends nothing for a field it has not drawn yet (a slow laptop,
    a demo machine under load). The field must get the session's value back, not its default: otherwise it is
    drawn at the default, sent back, and the conversation's saved settings are overwritten with it."""
    at = _app()
    at.sidebar.selectbox(key="chat_persona").set_value("Linux / DevOps assistant").run()  # temperature 0.2
    at.sidebar.number_input(key="chat_max_tokens").set_value(12)
    at.sidebar.text_input(key="chat_seed").set_value("7")
    at.chat_input(key="chat_input").set_value("How do I list files?").run()
    cid = at.query_params["c"]
    late = {"chat_persona", "chat_system_prompt", "chat_temperature", "chat_max_tokens", "chat_seed", "chat_model"}
    rerun_without(at, late)
    assert not at.exception, at.exception
    fields = {
        "chat_persona": at.sidebar.selectbox(key="chat_persona"),
        "chat_temperature": at.sidebar.slider(key="chat_temperature"),
        "chat_max_tokens": at.sidebar.number_input(key="chat_max_tokens"),
        "chat_seed": at.sidebar.text_input(key="chat_seed"),
    }
    assert {key: (w.proto.set_value, w.value) for key, w in fields.items()} == {
        "chat_persona": (True, "Linux / DevOps assistant"),
        "chat_temperature": (True, 0.2),
        "chat_max_tokens": (True, 12),
        "chat_seed": (True, "7"),
    }
    assert at.sidebar.selectbox(key="chat_model").value == LOCAL_MODEL_ALIAS  # (its default: nothing to hand back)
    conv = Store.in_dir(data_dir).get_conversation(cid)
    assert conv is not None and conv.persona == "Linux / DevOps assistant"
    assert (conv.params["temperature"], conv.params["max_tokens"], conv.params["seed"]) == (0.2, 12, "7")
