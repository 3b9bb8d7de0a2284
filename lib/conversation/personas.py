"""Built-in personas: a name, a system prompt and a suggested temperature.

A built-in persona's `name` is its stable id (English): conversations and the page's state store it,
so a conversation saved with "Helpful assistant" opens whatever the visitor's language. `label(lang)`
is the name shown, `prompt(lang)` the system prompt in that language: a Japanese visitor's persona
tells the model to answer in Japanese. `system_prompt` is the English prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.core.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, gettext


@dataclass(frozen=True)
class Persona:
    name: str  # the stable id, English (marked for translation where it is defined)
    system_prompt: str  # English
    temperature: float = 0.7
    builtin: bool = True
    prompts: dict[str, str] = field(default_factory=dict, compare=False)  # language -> system prompt

    def label(self, lang: str) -> str:
        return gettext(self.name, lang)

    def prompt(self, lang: str) -> str:
        return self.prompts.get(lang, self.system_prompt) if lang != SOURCE_LANGUAGE else self.system_prompt

    def prompt_variants(self) -> set[str]:
        """Its system prompt in every language (to tell an untouched prompt from an edited one)."""
        return {self.system_prompt, *self.prompts.values()}


BUILTIN_PERSONAS: tuple[Persona, ...] = (
    Persona(
        N_("Helpful assistant"),
        "You are a helpful assistant. Answer clearly and concisely.",
        0.7,
        prompts={"ja": "あなたは親切なアシスタントです。日本語で、わかりやすく簡潔に答えてください。"},
    ),
    Persona(
        N_("Linux / DevOps assistant"),
        "You are a senior Linux and DevOps engineer. Give exact shell commands in code blocks, explain "
        "what each does, warn before anything destructive, and prefer portable POSIX tools.",
        0.2,
        prompts={
            "ja": "あなたはLinuxとDevOpsに詳しいシニアエンジニアです。日本語で答えてください。シェルコマンドは"
            "正確にコードブロックで示し、それぞれが何をするかを説明してください。データを消すなど取り消せない操作の前には"
            "必ず注意を促し、移植性のあるPOSIXのツールを優先してください。"
        },
    ),
    Persona(
        N_("Patient Japanese teacher"),
        "You are a patient Japanese teacher for beginners. Answer with the Japanese, then its reading in "
        "hiragana, then the English meaning. Correct mistakes gently and give one short example sentence.",
        0.5,
        prompts={
            "ja": "あなたは初心者に日本語を教える、辛抱強い先生です。説明はやさしい日本語でしてください。日本語の表現、"
            "そのひらがなの読み、英語での意味の順に示してください。間違いはやさしく直し、短い例文を一つ添えてください。"
        },
    ),
    Persona(
        N_("IT support agent"),
        "You are a friendly IT support agent. Ask one clarifying question when the problem is unclear, "
        "then give numbered troubleshooting steps a non-technical user can follow.",
        0.3,
        prompts={
            "ja": "あなたは親しみやすいITサポート担当者です。日本語で答えてください。問題がはっきりしないときは、"
            "まず確認の質問を一つしてください。そのうえで、専門知識のない人でも進められるよう、番号付きの手順で"
            "解決方法を案内してください。"
        },
    ),
    Persona(
        N_("Casual friend"),
        "You are the user's easy-going friend. Keep replies short, warm and informal; use everyday words.",
        1.0,
        prompts={
            "ja": "あなたはユーザーの気さくな友だちです。日本語のくだけた話し言葉（タメ口）で、短く、あたたかく"
            "返してください。難しい言葉は使わず、普段の言葉で話してください。"
        },
    ),
    Persona(
        N_("Polite business assistant"),
        "You are a polite, professional business assistant. Write in a courteous, concise register suitable "
        "for email to clients, and structure longer answers with short headings.",
        0.4,
        prompts={
            "ja": "あなたは礼儀正しく有能なビジネスアシスタントです。取引先へのメールにそのまま使える、丁寧で"
            "簡潔な日本語のビジネス文（敬語）で書いてください。長くなる回答は短い見出しで整理してください。"
        },
    ),
)

CUSTOM_PERSONA = N_("Custom system prompt")  # stored as it is; shown translated (`persona_label`)


def builtin_by_name() -> dict[str, Persona]:
    return {p.name: p for p in BUILTIN_PERSONAS}


def persona_label(name: str, lang: str) -> str:
    """What a persona picker shows for a stored persona name: built-ins and the custom choice in
    `lang`, a user's own persona as they named it."""
    if name == CUSTOM_PERSONA or name in builtin_by_name():
        return gettext(name, lang)
    return name


def reserved_names() -> list[str]:
    """Names a user's persona may not take: the built-ins and the custom choice, in every language."""
    ids = [*builtin_by_name(), CUSTOM_PERSONA]
    return list(dict.fromkeys(gettext(n, lang) for n in ids for lang in LANGUAGES))
