"""A structured request: the extra request fields for a response format, tools and logprobs, what a
provider's refusal of them means, and the reply looked at afterwards (parsed, validated, per-field
confidence, tool calls checked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.llm.chat import ChatResult
from lib.logprobs import build_table
from lib.structured.confidence import FieldConfidence, field_confidence, mean_confidence
from lib.structured.schema import Mode, ParsedReply, ResponseFormat, parse_reply
from lib.structured.tools import CHOICE_AUTO, ToolCall, ToolDef, check_calls, request_kwargs

CONFIDENCE_TOP_K = 5  # alternatives asked for at each token, for the field table


@dataclass(frozen=True)
class StructuredRequest:
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    tools: Sequence[ToolDef] = ()
    tool_choice: str = CHOICE_AUTO
    logprobs: bool = False  # ask for token logprobs (per-field confidence of a JSON reply)

    @property
    def active(self) -> bool:
        return self.response_format.structured or bool(self.tools)

    def kwargs(self) -> dict[str, Any]:
        extra = self.response_format.kwargs() | request_kwargs(self.tools, self.tool_choice)
        if self.logprobs and self.response_format.structured:
            extra |= {"logprobs": True, "top_logprobs": CONFIDENCE_TOP_K}
        return extra


class StructuredRefused(YoakeError):
    kind = "structured_refused"
    title = Msg("The provider refused the request's format or tools.")


def refusal(exc: BaseException, request: StructuredRequest, provider_label: str) -> StructuredRefused | None:
    """A 400/422 to a request that carried a response format or tools, said as what it most likely is;
    None for other failures (the usual message applies)."""
    if not isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)) or not request.active:
        return None
    said = str(getattr(exc, "message", "") or exc).lower()
    fmt = request.response_format.structured
    if request.tools and (not fmt or "tool" in said or "function" in said):
        return StructuredRefused(
            Msg(
                "{provider} refused the tool definitions for this model (it said: {said}). "
                "Choose a model that supports tool calls, or turn tools off.",
                provider=provider_label,
                said=str(getattr(exc, "message", exc))[:300],
            )
        )
    if fmt:
        return StructuredRefused(
            Msg(
                "{provider} refused response_format {kind} for this model (it said: {said}). "
                "Try JSON object instead of a schema, or plain text with the schema described in the prompt.",
                provider=provider_label,
                kind=str(request.response_format.mode),
                said=str(getattr(exc, "message", exc))[:300],
            )
        )
    return None


@dataclass(frozen=True)
class Looked:
    """A reply looked at: its JSON (when a format was asked for), field confidences and tool calls."""

    parsed: ParsedReply | None = None
    fields: list[FieldConfidence] | None = None
    confidence_note: Msg | None = None  # why there is no per-field confidence
    calls: list[ToolCall] = field(default_factory=list)


def look(res: ChatResult, request: StructuredRequest) -> Looked:
    parsed: ParsedReply | None = None
    fields: list[FieldConfidence] | None = None
    note: Msg | None = None
    fmt = request.response_format
    if fmt.structured and (res.text or not res.tool_calls):
        schema = fmt.schema if fmt.mode is Mode.JSON_SCHEMA else None
        parsed = parse_reply(res.text, schema, finish_reason=res.finish_reason)
        if not res.logprobs:
            note = Msg("No token probabilities came with this reply, so there is no per-field confidence.")
        elif parsed.parsed:
            fields = field_confidence(build_table(res.logprobs, CONFIDENCE_TOP_K), res.text)
            if fields is None:
                note = Msg(
                    "The tokens the provider reported do not spell the reply exactly, so fields cannot be matched to them."
                )
    return Looked(parsed, fields, note, check_calls(res.tool_calls, request.tools))


# --- kept with the reply ----------------------------------------------------------------------------

MAX_SAVED_FIELDS = 200


def saved_meta(request: StructuredRequest, looked: Looked, finish_reason: str | None = None) -> dict[str, Any]:
    """What a reply's saved metadata keeps of it: the format asked for and the field confidences
    (token logprobs themselves are not kept), so a reloaded conversation shows them again."""
    meta: dict[str, Any] = {"finish_reason": finish_reason} if finish_reason else {}
    if request.response_format.structured:
        meta["response_format"] = request.response_format.as_dict()
    if looked.fields:
        meta["fields"] = [
            {"pointer": f.pointer, "text": f.text, "p": f.joint_prob, "min_p": f.min_prob, "min_token": f.min_token,
             "position": f.min_position, "tokens": f.tokens, "alternatives": f.alternatives}
            for f in looked.fields[:MAX_SAVED_FIELDS]
        ]  # fmt: skip
    if request.tools:
        meta["tools"] = [t.request() for t in request.tools]
    return meta


def from_meta(content: str, meta: dict[str, Any] | None, finish_reason: str | None = None) -> Looked | None:
    """A saved reply looked at again (None when it was plain text without tool calls)."""
    meta = meta or {}
    finish_reason = meta.get("finish_reason") or finish_reason
    fmt = ResponseFormat.from_dict(meta.get("response_format"))
    tools = [ToolDef(t["function"]["name"], t["function"].get("description", ""), t["function"].get("parameters", {}))
             for t in meta.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)]  # fmt: skip
    calls = meta.get("tool_calls") or []
    if not fmt.structured and not calls:
        return None
    parsed = None
    fields = None
    if fmt.structured and (content or not calls):
        parsed = parse_reply(content, fmt.schema if fmt.mode is Mode.JSON_SCHEMA else None, finish_reason=finish_reason)
        if parsed.parsed and parsed.value is not None:
            fields = _fields_from(meta.get("fields"), parsed.value)
    note = None if fields else Msg("No token probabilities came with this reply, so there is no per-field confidence.")
    return Looked(parsed, fields, note, check_calls(calls, tools))


def _fields_from(saved: Any, value: Any) -> list[FieldConfidence] | None:
    if not isinstance(saved, list) or not saved:
        return None
    try:
        return [
            FieldConfidence(f["pointer"], None, f["text"], list(f["tokens"]), f["text"], float(f["p"]), float(f["min_p"]),
                            int(f["position"]), str(f["min_token"]), [(str(a), float(p)) for a, p in f["alternatives"]])
            for f in saved
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


# --- a compare column ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnFigures:
    answers: int
    valid_rate: float | None  # answers that parse (and match the schema), of those that arrived
    mean_confidence: float | None  # mean field confidence over the valid answers that came with logprobs

    @classmethod
    def of(cls, cells: Sequence[tuple[bool | None, float | None]]) -> ColumnFigures:
        """From cells' saved figures (schema_valid, field_confidence); cells without a verdict are left out."""
        judged = [(v, c) for v, c in cells if v is not None]
        confidences = [c for v, c in judged if v and c is not None]
        return cls(
            len(judged),
            sum(1 for v, _c in judged if v) / len(judged) if judged else None,
            sum(confidences) / len(confidences) if confidences else None,
        )


def column_figures(answers: Sequence[tuple[str, Sequence[Any] | None]], fmt: ResponseFormat) -> ColumnFigures:
    """A compare column's rate of schema-valid answers and, where logprobs came back, its mean field
    confidence. `answers`: each answer's text with its token logprobs (None without)."""
    if not fmt.structured or not answers:
        return ColumnFigures(len(answers), None, None)
    schema = fmt.schema if fmt.mode is Mode.JSON_SCHEMA else None
    valid, means = 0, []
    for text, logprobs in answers:
        parsed = parse_reply(text, schema)
        if not parsed.valid:
            continue
        valid += 1
        if logprobs:
            mean = mean_confidence(field_confidence(build_table(list(logprobs), CONFIDENCE_TOP_K), text))
            if mean is not None:
                means.append(mean)
    return ColumnFigures(len(answers), valid / len(answers), sum(means) / len(means) if means else None)


def cell_figures(res: ChatResult, response_format: dict[str, Any]) -> tuple[bool, float | None]:
    """A compare cell's answer under `response_format` (the request field): (valid, mean field confidence)."""
    kind = response_format.get("type")
    schema = (response_format.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    fmt = ResponseFormat(Mode.JSON_SCHEMA if kind == "json_schema" else Mode.JSON_OBJECT, schema)
    looked = look(res, StructuredRequest(fmt))
    valid = bool(looked.parsed and looked.parsed.valid)
    return valid, mean_confidence(looked.fields) if valid else None
