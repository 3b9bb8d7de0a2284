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
from lib.structured.confidence import FieldConfidence, field_confidence
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
                note = Msg("The tokens the provider reported do not spell the reply exactly, so fields cannot be matched to them.")
    return Looked(parsed, fields, note, check_calls(res.tool_calls, request.tools))
