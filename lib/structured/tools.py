"""Tool calls: function definitions (name, description, parameters as a JSON schema), `tool_choice`,
the model's calls with their arguments validated against the parameters, and the user's results sent
back as `tool` messages (all in the OpenAI chat format)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from lib.core import schemas
from lib.core.errors import YoakeError
from lib.core.i18n import N_, Msg
from lib.structured.schema import Problem, pointer, validate

MAX_TOOLS = 16
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names

CHOICE_AUTO, CHOICE_NONE, CHOICE_REQUIRED = "auto", "none", "required"
CHOICES = (CHOICE_AUTO, CHOICE_REQUIRED, CHOICE_NONE)
CHOICE_LABELS = {
    CHOICE_AUTO: N_("auto: the model decides"),
    CHOICE_REQUIRED: N_("required: must call a tool"),
    CHOICE_NONE: N_("none: answer in text"),
}


class ToolsInvalid(YoakeError):
    """The function definitions typed cannot be sent; the message says which and why."""

    kind = "invalid_tools"
    title = Msg("The tool definitions are not valid.")


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    parameters: dict[str, Any]

    def request(self) -> dict[str, Any]:
        fn: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            fn["description"] = self.description
        return {"type": "function", "function": fn}


def load_tools(text: str) -> list[ToolDef]:
    """Function definitions from an editor: a JSON list of OpenAI `tools` entries
    (`{"type": "function", "function": {...}}`) or of bare function objects. Each one's parameters are
    checked as a JSON schema. Raises ToolsInvalid."""
    if not (text or "").strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ToolsInvalid(
            Msg(
                "The tool definitions are not valid JSON (line {line}, column {column}: {reason}).",
                line=getattr(exc, "lineno", "?"),
                column=getattr(exc, "colno", "?"),
                reason=getattr(exc, "msg", str(exc)),
            )  # fmt: skip
        ) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ToolsInvalid(Msg("The tool definitions must be a JSON list of functions."))
    if len(data) > MAX_TOOLS:
        raise ToolsInvalid(Msg("At most {limit} tools can be sent at once.", limit=MAX_TOOLS))
    tools: list[ToolDef] = []
    for i, entry in enumerate(data):
        fn = entry.get("function") if isinstance(entry, dict) and entry.get("type") == "function" else entry
        if not isinstance(fn, dict):
            raise ToolsInvalid(Msg("Tool {n} is not an object.", n=i + 1))
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ToolsInvalid(Msg("Tool {n}: the name must be 1-64 letters, digits, _ or -.", n=i + 1))
        if any(t.name == name for t in tools):
            raise ToolsInvalid(Msg("Two tools are named {name}.", name=name))
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise ToolsInvalid(Msg("Tool {name}: 'parameters' must be a JSON schema object.", name=name))
        try:
            schemas.check_schema(params)
        except schemas.SchemaError as exc:
            raise ToolsInvalid(
                Msg(
                    "Tool {name}: at {pointer} of its parameters: {complaint}",
                    name=name,
                    pointer=pointer(exc.absolute_path) or "/",
                    complaint=exc.message,
                )  # fmt: skip
            ) from None
        description = fn.get("description") or ""
        tools.append(ToolDef(name, str(description), params))
    return tools


def tools_text(tools: Sequence[ToolDef]) -> str:
    return json.dumps([t.request() for t in tools], ensure_ascii=False, indent=2)


def tool_choice(choice: str, tools: Sequence[ToolDef]) -> str | dict[str, Any]:
    """The `tool_choice` request field: auto / required / none, or a tool's name to force that one."""
    if choice in CHOICES:
        return choice
    if any(t.name == choice for t in tools):
        return {"type": "function", "function": {"name": choice}}
    return CHOICE_AUTO


def request_kwargs(tools: Sequence[ToolDef], choice: str = CHOICE_AUTO) -> dict[str, Any]:
    if not tools:
        return {}
    return {"tools": [t.request() for t in tools], "tool_choice": tool_choice(choice, tools)}


# --- the model's calls ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """A call as the model made it (OpenAI message format) and what checking it found."""

    id: str
    name: str
    arguments: str  # the JSON text the model wrote
    value: Any = None  # the parsed arguments (None when they do not parse)
    error: Msg | None = None  # unknown tool, or arguments that are not a JSON object
    problems: list[Problem] = field(default_factory=list)  # against the tool's parameters

    @property
    def valid(self) -> bool:
        return self.error is None and not self.problems

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def check_call(raw: Any, tools: Sequence[ToolDef]) -> ToolCall:
    """One call (the SDK's object or its dict) checked against the definitions sent."""
    fn = _field(raw, "function")
    name = str(_field(fn, "name") or "")
    arguments = _field(fn, "arguments")
    arguments = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
    call_id = str(_field(raw, "id") or "")
    tool = next((t for t in tools if t.name == name), None)
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        error = Msg(
            "The arguments the model wrote for {name} are not valid JSON ({reason} at character {pos}); "
            "they are shown as written.",
            name=name or "?",
            reason=getattr(exc, "msg", str(exc)),
            pos=getattr(exc, "pos", "?"),
        )
        return ToolCall(call_id, name, arguments, None, error)
    if not isinstance(value, dict):
        return ToolCall(call_id, name, arguments, value, Msg("The arguments for {name} must be a JSON object.", name=name))
    if tool is None:
        return ToolCall(
            call_id, name, arguments, value, Msg("The model called {name}, which is not among the tools sent.", name=name or "?")
        )
    return ToolCall(call_id, name, arguments, value, None, validate(value, tool.parameters))


def check_calls(raws: Sequence[Any] | None, tools: Sequence[ToolDef]) -> list[ToolCall]:
    return [check_call(raw, tools) for raw in raws or []]


def assistant_message(content: str, calls: Sequence[ToolCall] | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The assistant's turn that made the calls, as it is sent back with the results."""
    messages = [c.message() if isinstance(c, ToolCall) else c for c in calls]
    return {"role": "assistant", "content": content or None, "tool_calls": messages}


def result_message(call_id: str, content: str) -> dict[str, Any]:
    """The user's result for one call: a `tool` message."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


# --- examples -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolExample:
    key: str
    label: str  # N_-marked
    tools: list[dict[str, Any]]
    mocks: dict[str, list[str]]  # tool name -> saved mock results

    def text(self) -> str:
        return json.dumps(self.tools, ensure_ascii=False, indent=2)


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    params = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": params}}


TOOL_EXAMPLES: Sequence[ToolExample] = (
    ToolExample(
        "weather",
        N_("Weather lookup"),
        [
            _fn(
                "get_weather",
                "Current weather for a city.",
                {
                    "city": {"type": "string", "description": "City name, e.g. 東京 or Osaka"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                ["city"],
            )
        ],  # fmt: skip
        {"get_weather": ['{"city": "東京", "temperature": 18, "condition": "晴れ"}', '{"error": "city not found"}']},
    ),
    ToolExample(
        "booking",
        N_("Shop assistant: stock and orders (parallel calls)"),
        [
            _fn("check_stock", "How many of a product are in stock.", {"sku": {"type": "string"}}, ["sku"]),
            _fn(
                "place_order",
                "Order a product for a customer.",
                {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}, "customer": {"type": "string"}},
                ["sku", "quantity", "customer"],
            ),
        ],
        {
            "check_stock": ['{"sku": "A-100", "in_stock": 12}', '{"sku": "A-100", "in_stock": 0}'],
            "place_order": ['{"order_id": "ORD-0042", "status": "受付済み"}'],
        },
    ),
)


def mock_results(tool_name: str) -> list[str]:
    """The saved mock results the examples offer for a tool of this name."""
    return [m for ex in TOOL_EXAMPLES for m in ex.mocks.get(tool_name, [])]


def server_tool_support(client: openai.OpenAI, base_url: str, timeout: float = 3.0) -> bool | None:
    """Whether a llama-server's model template supports tools, from its `/props` (`chat_template_caps`
    where the server reports them, else the template's text); None when it cannot be told. Asked through
    the page's own client (the SDK's connection to that server, its base URL already checked)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        props = client.with_options(timeout=timeout, max_retries=0).get(f"{root}/props", cast_to=object)
    except (openai.OpenAIError, ValueError):
        return None
    if not isinstance(props, dict):
        return None
    caps = props.get("chat_template_caps")
    if isinstance(caps, dict) and isinstance(caps.get("supports_tools"), bool):
        return caps["supports_tools"]
    template = props.get("chat_template")
    return template_supports_tools(template if isinstance(template, str) else None)


def template_supports_tools(chat_template: str | None) -> bool | None:
    """Whether a model's chat template knows about tools (llama-server's `/props` gives the template);
    None when it is unknown. Without it llama.cpp falls back to a generic tool format that small models
    seldom follow."""
    if chat_template is None:
        return None
    return bool(re.search(r"\btools\b|tool_call|\bfunctions\b", chat_template))
