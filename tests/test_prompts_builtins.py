"""The built-in personas become prompts (issue 24): once per owner, in the owner's language, and a prompt
the owner deleted or a name they already use is respected. Plain pytest on the store."""

from __future__ import annotations

import re
from pathlib import Path

from lib.conversation.personas import BUILTIN_PERSONAS
from lib.core.identity import LOCAL_OWNER
from lib.prompts.builtins import SOURCE_PREFIX, ensure_builtin_prompts
from lib.storage.store import Store

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_each_builtin_persona_becomes_a_prompt_once_in_the_owners_language(data_dir: Path) -> None:
    store = Store.in_dir(data_dir)
    made = ensure_builtin_prompts(store, "ja")
    assert len(made) == len(BUILTIN_PERSONAS)
    prompts = {p.source: p for p in store.list_prompts()}
    for persona in BUILTIN_PERSONAS:
        prompt = prompts[SOURCE_PREFIX + persona.name]
        assert prompt.name == persona.label("ja") and JAPANESE.search(prompt.name)
        assert prompt.content["system"] == persona.prompt("ja") and prompt.content["temperature"] == persona.temperature
        assert [v.number for v in store.list_versions(prompt.id)] == [1]
    assert ensure_builtin_prompts(store, "en") == []  # once per owner, whatever the language later
    assert len(store.list_prompts()) == len(BUILTIN_PERSONAS)


def test_a_deleted_one_stays_deleted_and_a_name_in_use_is_kept(data_dir: Path) -> None:
    base = Store.in_dir(data_dir)
    alice = base.for_owner("https://issuer.example|alice")
    mine = alice.create_prompt(BUILTIN_PERSONAS[0].label("en"), {"system": "Mine."})
    made = ensure_builtin_prompts(alice, "en")
    assert len(made) == len(BUILTIN_PERSONAS)
    assert alice.get_prompt(mine).content["system"] == "Mine."  # the owner's own prompt is untouched
    first = next(p for p in alice.list_prompts() if p.source == SOURCE_PREFIX + BUILTIN_PERSONAS[0].name)
    assert first.name.startswith(BUILTIN_PERSONAS[0].label("en")) and first.name != BUILTIN_PERSONAS[0].label("en")
    assert alice.delete_prompt(first.id)
    assert ensure_builtin_prompts(alice, "en") == []  # not made again
    # another owner (the laptop's) gets their own set, in their language
    assert base.owner == LOCAL_OWNER and len(ensure_builtin_prompts(base, "en")) == len(BUILTIN_PERSONAS)
    assert all(not JAPANESE.search(p.content["system"]) for p in base.list_prompts())


def test_the_prompts_page_adds_them_in_the_visitors_language(data_dir: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.support.i18n import ROOT, english_left, ja

    at = AppTest.from_file(str(ROOT / "pages" / "prompts.py"), default_timeout=60)
    at.context = {"locale": "ja-JP"}
    at.run()
    at.button(key="pr_builtins").click().run()
    assert not at.exception, at.exception
    names = {p.name for p in Store.in_dir(data_dir).list_prompts()}
    assert names == {p.label("ja") for p in BUILTIN_PERSONAS}
    assert ja("The built-in personas are prompts now: {n} added.").format(n=len(BUILTIN_PERSONAS)) in [
        s.value for s in at.success
    ]
    at.button(key="pr_builtins").click().run()  # again: nothing new
    assert len(Store.in_dir(data_dir).list_prompts()) == len(BUILTIN_PERSONAS) and english_left(at) == []
