"""Response formats (text, JSON object, JSON schema), checking a schema before it is sent, and parsing
and validating a reply against it.

A problem is located by its JSON pointer (RFC 6901) and worded as a `Msg`; the schema's own complaint
(jsonschema's message) is quoted as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lib.core import schemas
from lib.core.errors import YoakeError
from lib.core.i18n import N_, Msg

MAX_SCHEMA_CHARS = 100_000


class Mode(StrEnum):
    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


MODE_LABELS = {Mode.TEXT: N_("Plain text"), Mode.JSON_OBJECT: N_("JSON object"), Mode.JSON_SCHEMA: N_("JSON schema")}


class SchemaInvalid(YoakeError):
    """The schema typed is not JSON, or not a valid JSON Schema: nothing is sent."""

    kind = "invalid_schema"
    title = Msg("The JSON schema is not valid.")


def pointer(path: Iterable[Any]) -> str:
    """A JSON pointer (RFC 6901) for a path of keys and indexes; "" is the whole document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def load_schema(text: str) -> dict[str, Any]:
    """The schema typed in an editor, checked against the JSON Schema meta-schema (2020-12).
    Raises SchemaInvalid with where and why."""
    if not (text or "").strip():
        raise SchemaInvalid(Msg("The schema is empty. Type a JSON schema or pick an example."))
    if len(text) > MAX_SCHEMA_CHARS:
        raise SchemaInvalid(Msg("The schema is longer than {limit} characters.", limit=format(MAX_SCHEMA_CHARS, ",")))
    try:
        schema = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        raise SchemaInvalid(
            Msg(
                "The schema is not valid JSON (line {line}, column {column}: {reason}).",
                line=line,
                column=col,
                reason=getattr(exc, "msg", str(exc)),
            )  # fmt: skip
        ) from None
    if not isinstance(schema, dict):
        raise SchemaInvalid(Msg("A JSON schema must be an object in braces, not {kind}.", kind=type(schema).__name__))
    try:
        schemas.check_schema(schema)
    except schemas.SchemaError as exc:
        raise SchemaInvalid(
            Msg("At {pointer} of the schema: {complaint}", pointer=pointer(exc.absolute_path) or "/", complaint=exc.message)
        ) from None
    return schema


@dataclass(frozen=True)
class ResponseFormat:
    """What the reply must be. `name` and `strict` go with a JSON schema (OpenAI's `json_schema`)."""

    mode: Mode = Mode.TEXT
    schema: dict[str, Any] | None = None
    name: str = "reply"
    strict: bool = True

    @property
    def structured(self) -> bool:
        return self.mode is not Mode.TEXT

    def request(self) -> dict[str, Any] | None:
        """The `response_format` request field (None for plain text: nothing is sent)."""
        if self.mode is Mode.JSON_OBJECT:
            return {"type": "json_object"}
        if self.mode is Mode.JSON_SCHEMA and self.schema is not None:
            spec: dict[str, Any] = {"name": self.name or "reply", "schema": self.schema}
            if self.strict:
                spec["strict"] = True
            return {"type": "json_schema", "json_schema": spec}
        return None

    def kwargs(self) -> dict[str, Any]:
        value = self.request()
        return {"response_format": value} if value else {}

    def as_dict(self) -> dict[str, Any]:
        return {"mode": str(self.mode), "schema": self.schema, "name": self.name, "strict": self.strict}

    @classmethod
    def from_dict(cls, data: Any) -> ResponseFormat:
        if not isinstance(data, dict):
            return cls()
        try:
            mode = Mode(data.get("mode", "text"))
        except ValueError:
            mode = Mode.TEXT
        schema = data.get("schema") if isinstance(data.get("schema"), dict) else None
        return cls(mode, schema, str(data.get("name") or "reply")[:64], bool(data.get("strict", True)))


# --- the reply ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Where a reply breaks the schema: its JSON pointer and the schema's complaint."""

    pointer: str
    complaint: str

    @property
    def message(self) -> Msg:
        return Msg("At {pointer}: {complaint}", pointer=self.pointer or "/", complaint=self.complaint)


@dataclass(frozen=True)
class ParsedReply:
    text: str
    value: Any = None
    parsed: bool = False
    parse_error: Msg | None = None
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False  # cut off by max_tokens
    schema_checked: bool = False  # validated against a schema (not only parsed)

    @property
    def valid(self) -> bool:
        return self.parsed and not self.problems

    @property
    def headline(self) -> Msg | None:
        """One sentence on what is wrong (None when the reply parsed and validated)."""
        if self.truncated and not self.parsed:
            return Msg(
                "The reply was cut off by max tokens in the middle of the JSON, so it cannot be parsed. "
                "The partial reply is kept below; raise max tokens and send again."
            )
        if self.parse_error:
            return self.parse_error
        if self.problems:
            return Msg("The reply does not match the schema ({n} problem(s)).", n=len(self.problems))
        return None


def strip_fence(text: str) -> str:
    """A reply wrapped in a ```json fence (models without a grammar often do that): its inside."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and stripped.count("\n") >= 1:
        inner = stripped[3:-3]
        return inner.split("\n", 1)[1] if "\n" in inner else inner
    return stripped


def parse_reply(text: str, schema: dict[str, Any] | None = None, *, finish_reason: str | None = None) -> ParsedReply:
    """Parse a reply as JSON and validate it against `schema` (if any); every problem, in document order."""
    truncated = finish_reason == "length"
    try:
        value = json.loads(strip_fence(text))
    except ValueError as exc:
        reason = getattr(exc, "msg", str(exc))
        error = Msg(
            "The reply is not valid JSON (line {line}, column {column}: {reason}).",
            line=getattr(exc, "lineno", "?"),
            column=getattr(exc, "colno", "?"),
            reason=reason,
        )
        return ParsedReply(text, parse_error=error, truncated=truncated)
    problems: list[Problem] = []
    if schema is not None:
        problems = validate(value, schema)
    return ParsedReply(text, value, True, None, problems, truncated, schema is not None)


def validate(value: Any, schema: dict[str, Any]) -> list[Problem]:
    """Every way `value` breaks `schema`, by location (jsonschema's messages)."""
    validator = schemas.validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [Problem(pointer(e.absolute_path), e.message) for e in errors]


# --- examples -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    key: str
    label: str  # N_-marked: the page translates
    schema: dict[str, Any]
    prompt: dict[str, str]  # a message to try it with, per language

    def text(self) -> str:
        return json.dumps(self.schema, ensure_ascii=False, indent=2)


EXAMPLES: Sequence[Example] = (
    Example(
        "extraction",
        N_("Extraction: a contact from an email"),
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 40},
                "company": {"type": "string", "maxLength": 40},
                "email": {"type": "string", "maxLength": 60},
                "wants_meeting": {"type": "boolean"},
            },
            "required": ["name", "company", "email", "wants_meeting"],
            "additionalProperties": False,
        },
        {
            "en": "Extract the contact: 'Hi, this is Mia Chen from Harbor Foods (mia@harbor.example). Could we meet next week?'",
            "ja": "連絡先を抜き出してください：「ハーバー食品の佐藤美香です（sato@harbor.example）。来週お打ち合わせできますか？」",
        },
    ),
    Example(
        "classification",
        N_("Classification: a support ticket"),
        {
            "type": "object",
            "properties": {
                "category": {"type": "string", "enum": ["billing", "bug", "feature_request", "other"]},
                "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
                "summary": {"type": "string", "maxLength": 80},
            },
            "required": ["category", "urgency", "summary"],
            "additionalProperties": False,
        },
        {
            "en": "Classify: 'I was charged twice this month, please fix it today.'",
            "ja": "分類してください：「今月2回請求されています。今日中に直してください。」",
        },
    ),
    Example(
        "form",
        N_("Form: a restaurant booking (Japanese values)"),
        {
            "type": "object",
            "properties": {
                "氏名": {"type": "string", "maxLength": 20},
                "人数": {"type": "integer", "minimum": 1, "maximum": 20},
                "席": {"type": "string", "enum": ["カウンター", "テーブル", "個室"]},
                "備考": {"type": "string", "maxLength": 40},
            },
            "required": ["氏名", "人数", "席", "備考"],
            "additionalProperties": False,
        },
        {
            "en": "Fill in the booking: 'Table for four under Tanaka, a private room if possible, one guest is vegetarian.'",
            "ja": "予約フォームを埋めてください：「田中で4名、できれば個室で。1名はベジタリアンです。」",
        },
    ),
)


def example(key: str) -> Example:
    return next(e for e in EXAMPLES if e.key == key)
