"""The built-in personas as prompts (issue 24): each owner gets one prompt per built-in persona, version 1
being its system prompt and temperature in the owner's language at the time, so it can be versioned,
labelled and diffed like any prompt. Made once per owner (remembered in the owner's preferences): a prompt
the owner deleted or renamed is not made again. The persona picker itself keeps working as before
(conversations name their persona)."""

from __future__ import annotations

from lib.conversation.personas import BUILTIN_PERSONAS
from lib.core.i18n import gettext
from lib.prompts.model import PromptContent
from lib.storage.db import StoreError
from lib.storage.store import Store

SOURCE_PREFIX = "builtin:"  # the prompts' `source`: which persona each came from
MADE = "prompts.builtin_personas_made"  # the owner's preference once they were made


def ensure_builtin_prompts(store: Store, lang: str) -> list[int]:
    """The first time for this owner, a prompt per built-in persona; returns the new prompts' ids ([] afterwards)."""
    if store.get_preference(MADE):
        return []
    made: list[int] = []
    for persona in BUILTIN_PERSONAS:
        source = SOURCE_PREFIX + persona.name
        name = persona.label(lang)
        if store.find_prompt(name) is not None:  # the owner already has a prompt of that name: keep theirs
            name = gettext("{name} (built-in persona)", lang).format(name=name)
        content = PromptContent(system=persona.prompt(lang), temperature=persona.temperature)
        try:
            made.append(
                store.create_prompt(name, content.to_dict(), gettext("The built-in persona, as a prompt.", lang), source=source)
            )
        except StoreError:  # both names taken: that one is left out, the owner's own prompts are kept
            continue
    store.set_preference(MADE, "1")
    return made
