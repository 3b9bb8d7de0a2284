"""One version of a prompt: a system prompt, a user message template with `{{variables}}` (compare's syntax,
parsed by `lib.compare.grid`), parameters (model, temperature, top_p, max tokens, seed, stop sequences,
presence and frequency penalties); its messages for given values, and `name@version` references.

A version's content is stored as the JSON of `PromptContent.to_dict()` (every key, `None` for a parameter
left to the provider), so two equal contents are equal dicts and a content diffs field by field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from lib.compare.grid import find_variables, render
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.llm.chat import ChatParams

TEXT_MAX = 100_000  # characters of a system prompt or template
MODEL_MAX = 200
STOP_MAX = 4  # OpenAI accepts at most 4 stop sequences
STOP_LEN_MAX = 200


class PromptError(YoakeError):
    """A prompt cannot be used as it is (a missing variable, a bad parameter); the message says why."""

    kind = "prompt"
    title = Msg("The prompt cannot be used.")


# name -> (type, lowest, highest): the parameters a version carries besides its texts.
NUMERIC: dict[str, tuple[type, float, float]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, 1_000_000),
    "seed": (int, -(2**63), 2**63 - 1),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
}
# The texts' and the parameters' labels, in the order a page shows them (rendered in the visitor's language).
TEXT_LABELS: dict[str, Msg] = {"system": Msg("System prompt"), "template": Msg("User message template")}
PARAMETER_LABELS: dict[str, Msg] = {
    "model": Msg("Model"),
    "temperature": Msg("Temperature"),
    "top_p": Msg("top_p"),
    "max_tokens": Msg("Max tokens"),
    "seed": Msg("Seed"),
    "stop": Msg("Stop sequences"),
    "presence_penalty": Msg("Presence penalty"),
    "frequency_penalty": Msg("Frequency penalty"),
}


@dataclass(frozen=True)
class PromptContent:
    """What one version says. `model` "" and parameters `None`: whatever the page running it chooses."""

    system: str = ""
    template: str = ""
    model: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        for name, (kind, _, _) in NUMERIC.items():
            value = getattr(self, name)
            if kind is int and isinstance(value, float) and value.is_integer():
                object.__setattr__(self, name, int(value))
        check(self)

    # --- stored form ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["stop"] = list(self.stop)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptContent:
        """From a stored or imported dict: missing keys take their defaults, unknown keys are ignored,
        a value of the wrong kind is a `PromptError` naming the field."""
        if not isinstance(data, Mapping):
            raise PromptError(Msg("A prompt version must be an object with its texts and parameters."))
        values: dict[str, Any] = {}
        for name in ("system", "template", "model"):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise PromptError(Msg("The field {field} must be text.", field=(TEXT_LABELS | PARAMETER_LABELS)[name]))
            values[name] = value
        for name, (kind, _, _) in NUMERIC.items():
            value = data.get(name)
            if value is None or value == "":
                continue
            values[name] = _number(name, value, kind)
        stop = data.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None:
            if not isinstance(stop, Sequence) or not all(isinstance(s, str) for s in stop):
                raise PromptError(Msg("The field {field} must be a list of texts.", field=PARAMETER_LABELS["stop"]))
            values["stop"] = tuple(s for s in stop if s)
        return cls(**values)

    # --- using it -----------------------------------------------------------------------------------

    def variables(self) -> list[str]:
        """The `{{name}}` placeholders of the system prompt and the template, in order of first appearance."""
        return find_variables(self.system, self.template)

    def parameters(self) -> dict[str, Any]:
        """The parameters that are set (model included when named)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("system", "template") and v not in (None, "", [])}

    def render_parts(self, values: Mapping[str, str]) -> tuple[str, str]:
        """(system prompt, user message) with every variable filled in. A variable without a value (absent
        or blank) is a `PromptError` that names all of them."""
        missing = [v for v in self.variables() if not str(values.get(v) or "").strip()]
        if missing:
            names = ", ".join("{{" + v + "}}" for v in missing)
            raise PromptError(
                Msg("Give a value for {names}: the prompt uses them.", names=names),
                title=Msg("Some variables have no value."),
            )
        filled = {v: str(values[v]) for v in self.variables()}
        return render(self.system, filled), render(self.template, filled)

    def messages(self, values: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """The chat messages this version sends: its system prompt (when it has one), then its user message
        (when it has a template)."""
        system, user = self.render_parts(values or {})
        out = [{"role": "system", "content": system}] if system.strip() else []
        if user.strip():
            out.append({"role": "user", "content": user})
        return out

    def chat_params(self, model: str = "") -> ChatParams:
        """The request's parameters: this version's model, else `model` (the page's choice)."""
        return ChatParams(
            model=self.model or model,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            stop=list(self.stop),
        )


def _number(name: str, value: Any, kind: type) -> float | int:
    label = PARAMETER_LABELS[name]
    if isinstance(value, bool):
        raise PromptError(Msg("The field {field} must be a number.", field=label))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PromptError(Msg("The field {field} must be a number.", field=label)) from None
    if kind is int:
        if not number.is_integer():
            raise PromptError(Msg("The field {field} must be a whole number.", field=label))
        return int(number)
    return number


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else format(bound, "g")


def check(content: PromptContent) -> None:
    """A `PromptError` for the first thing wrong with `content` (texts, lengths, ranges)."""
    if not content.system.strip() and not content.template.strip():
        raise PromptError(Msg("Write a system prompt or a user message template."))
    for name in ("system", "template"):
        if len(getattr(content, name)) > TEXT_MAX:
            raise PromptError(Msg("The field {field} can be at most {n} characters.", field=TEXT_LABELS[name], n=TEXT_MAX))
    if len(content.model) > MODEL_MAX or "\n" in content.model:
        raise PromptError(Msg("The model name must be one line of at most {n} characters.", n=MODEL_MAX))
    for name, (kind, lo, hi) in NUMERIC.items():
        value = getattr(content, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
            raise PromptError(Msg("The field {field} must be a number.", field=PARAMETER_LABELS[name]))
        if not math.isfinite(value) or not lo <= value <= hi:
            raise PromptError(
                Msg("{field} must be between {lo} and {hi}.", field=PARAMETER_LABELS[name], lo=_shown(lo), hi=_shown(hi))
            )
    if len(content.stop) > STOP_MAX or any(len(s) > STOP_LEN_MAX for s in content.stop):
        raise PromptError(Msg("At most {n} stop sequences of up to {length} characters.", n=STOP_MAX, length=STOP_LEN_MAX))


# --- name@version ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptRef:
    """A prompt as results name it: `name@3` (version 3), `name@demo` (the version labelled `demo`),
    or just `name` (the newest version)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        tail = self.version if self.version is not None else self.label
        return self.name if tail is None else f"{self.name}@{tail}"


def format_ref(name: str, version: int) -> str:
    return str(PromptRef(name, version))


def parse_ref(text: str) -> PromptRef:
    """`name@version`, `name@label` or `name`; the last `@` splits (a name may hold one). `v3` is read as 3."""
    text = " ".join(str(text or "").split())
    name, at, tail = text.rpartition("@")
    if not at:
        name, tail = text, ""
    name, tail = name.strip(), tail.strip()
    if not name:
        raise PromptError(Msg("'{ref}' names no prompt: write name@version, such as support@3.", ref=text))
    if not at:
        return PromptRef(name)
    digits = tail[1:] if tail[:1] in ("v", "V") and tail[1:].isdigit() else tail
    if digits.isdigit() and int(digits) >= 1:
        return PromptRef(name, version=int(digits))
    if not tail:
        raise PromptError(Msg("'{ref}' names no version: write name@version, such as support@3.", ref=text))
    return PromptRef(name, label=tail)
