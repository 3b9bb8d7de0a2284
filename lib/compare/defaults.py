"""What a fresh compare form holds, in the visitor's language (`lang`: "ja" or "en"): system prompt A is
the default persona's, and choosing a persona fills it with that persona's prompt. The model is told
these, so a Japanese visitor's comparison starts from Japanese instructions."""

from __future__ import annotations

from lib.conversation.personas import BUILTIN_PERSONAS, Persona
from lib.core.i18n import N_, gettext

# The built-in personas' prompts (lib.conversation.personas) are messages of the catalog, so the form
# can put any of them in the visitor's language; a persona of the visitor's own is used as typed.
_PERSONA_PROMPTS = (
    N_("You are a helpful assistant. Answer clearly and concisely."),
    N_(
        "You are a senior Linux and DevOps engineer. Give exact shell commands in code blocks, explain "
        "what each does, warn before anything destructive, and prefer portable POSIX tools."
    ),
    N_(
        "You are a patient Japanese teacher for beginners. Answer with the Japanese, then its reading in "
        "hiragana, then the English meaning. Correct mistakes gently and give one short example sentence."
    ),
    N_(
        "You are a friendly IT support agent. Ask one clarifying question when the problem is unclear, "
        "then give numbered troubleshooting steps a non-technical user can follow."
    ),
    N_("You are the user's easy-going friend. Keep replies short, warm and informal; use everyday words."),
    N_(
        "You are a polite, professional business assistant. Write in a courteous, concise register suitable "
        "for email to clients, and structure longer answers with short headings."
    ),
)


def persona_prompt(persona: Persona, lang: str) -> str:
    """The persona's system prompt in `lang` (a built-in one translated; the visitor's own as typed)."""
    return gettext(persona.system_prompt, lang) if persona.builtin else persona.system_prompt


def form_defaults(lang: str) -> dict[str, object]:
    """The compare form's starting values (keys without the page's `cmp_` prefix) that are worded."""
    return {"persona": BUILTIN_PERSONAS[0].name, "system_0": persona_prompt(BUILTIN_PERSONAS[0], lang), "prompt": ""}
