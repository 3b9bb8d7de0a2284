"""What a fresh compare form holds, in the visitor's language (`lang`: "ja" or "en"): system prompt A is
the default persona's, and choosing a persona fills it with that persona's prompt. The model is told
these, so a Japanese visitor's comparison starts from Japanese instructions."""

from __future__ import annotations

from lib.conversation.personas import BUILTIN_PERSONAS, Persona


def persona_prompt(persona: Persona, lang: str) -> str:
    """The persona's system prompt in `lang` (a built-in one in that language; the visitor's own as typed)."""
    return persona.prompt(lang)


def form_defaults(lang: str) -> dict[str, object]:
    """The compare form's starting values (keys without the page's `cmp_` prefix) that are worded."""
    return {"persona": BUILTIN_PERSONAS[0].name, "system_0": persona_prompt(BUILTIN_PERSONAS[0], lang), "prompt": ""}
