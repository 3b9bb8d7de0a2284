"""Conversation export (JSON in OpenAI `messages` format plus our metadata; Markdown) and the
validating import. An import is parsed and checked completely before anything is written, so a
wrong or hostile file is rejected with a specific message and changes nothing.
"""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import UTC, datetime
from typing import Any

from lib.conversation.personas import persona_label
from lib.core.errors import YoakeError
from lib.core.i18n import Msg, gettext
from lib.storage.conversations import Conversation, StoredMessage, title_from

FORMAT = "yoake.conversation"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_MESSAGES = 5000
MAX_FIELD_CHARS = 200_000
MAX_TURN_META = 32_000  # a reply's metadata (its field confidences for a JSON reply)

# The chat page's saved parameters: name -> (type, min, max). Used to validate imports and to
# ignore anything unexpected when a stored conversation or preset is applied to the widgets.
PARAM_SPEC: dict[str, tuple[type, float | None, float | None]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, 32768),
    "seed": (str, None, None),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "stop": (str, None, None),
    "max_history": (int, 1, 200),
    "history_budget": (int, 200, 1_000_000),
}


class ImportRejected(YoakeError):
    """The file is not an importable conversation; the message says what is wrong."""

    kind = "import_rejected"
    title = Msg("The file cannot be imported.")


def _param_value(name: str, value: Any) -> Any:
    """The value coerced to the widget's type, or raise ValueError."""
    kind, lo, hi = PARAM_SPEC[name]
    if isinstance(value, bool):
        raise ValueError(Msg("a boolean"))
    if kind is str:
        if not isinstance(value, str) or len(value) > 1000:
            raise ValueError(Msg("not text (or too long)"))
        return value
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ValueError(Msg("not a whole number"))
    elif not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(Msg("not a number"))
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise ValueError(Msg("outside {low}..{high}", low=lo, high=hi))
    return kind(value)


def clean_params(params: Any) -> dict[str, Any]:
    """Known, valid parameters only (for applying stored settings to widgets)."""
    out: dict[str, Any] = {}
    if isinstance(params, dict):
        for name, value in params.items():
            if name in PARAM_SPEC:
                try:
                    out[name] = _param_value(name, value)
                except ValueError:
                    continue
    return out


# --- export -----------------------------------------------------------------------------------------


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _openai_message(m: StoredMessage) -> dict[str, Any]:
    """A stored message in the OpenAI format: an assistant's tool calls as `tool_calls`, a tool's result
    (stored as a user row with its call's id) as a `tool` message."""
    meta = m.meta or {}
    if m.role == "assistant" and isinstance(meta.get("tool_calls"), list) and meta["tool_calls"]:
        return {"role": "assistant", "content": m.content or None, "tool_calls": meta["tool_calls"]}
    if m.role == "user" and meta.get("tool_call_id"):
        return {"role": "tool", "tool_call_id": meta["tool_call_id"], "content": m.content}
    return {"role": m.role, "content": m.content}


def _turn_meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """A turn's metadata without what the message itself carries (tool calls, the call id)."""
    if not meta:
        return meta
    return {k: v for k, v in meta.items() if k not in ("tool_calls", "tool_call_id")} or None


def _tool_calls(i: int, calls: Any) -> list[dict[str, Any]]:
    """An assistant message's `tool_calls`, checked: id, function name and arguments as text."""
    if not isinstance(calls, list) or not calls or len(calls) > 64:
        raise ImportRejected(Msg("Message {n}: 'tool_calls' must be a list of calls.", n=i + 1))
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(fn, dict)
            and isinstance(call.get("id"), str)
            and isinstance(fn.get("name"), str)
            and isinstance(fn.get("arguments"), str)
            and len(call["id"]) <= 200
            and len(fn["name"]) <= 64
            and len(fn["arguments"]) <= MAX_FIELD_CHARS
        ):
            raise ImportRejected(
                Msg("Message {n}: each tool call needs an id, and a function with a name and arguments as text.", n=i + 1)
            )
        out.append({"id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": fn["arguments"]}})
    return out


def export_json(conv: Conversation) -> str:
    messages: list[dict[str, str]] = []
    if conv.system_prompt:
        messages.append({"role": "system", "content": conv.system_prompt})
    messages += [_openai_message(m) for m in conv.messages]
    doc = {
        "messages": messages,
        "metadata": {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "title": conv.title,
            "created_at": _iso(conv.created_at),
            "updated_at": _iso(conv.updated_at),
            "exported_at": _iso(datetime.now(UTC).timestamp()),
            "persona": conv.persona,
            "prompt": conv.prompt,  # the prompt version it was started from (name@version), if any
            "provider": conv.provider,
            "model": conv.model,
            "params": conv.params,
            # One entry per non-system message, in order.
            "turns": [{"incomplete": m.incomplete, "meta": _turn_meta(m.meta)} for m in conv.messages],
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def export_markdown(conv: Conversation, lang: str = "en") -> str:
    """The conversation as a Markdown document, its headings and notes in `lang`."""
    lines = [f"# {conv.title}", ""]
    facts = [gettext("Exported from Yoake on {when}", lang).format(when=_iso(datetime.now(UTC).timestamp()))]
    if conv.provider or conv.model:
        facts.append(gettext("provider `{provider}`, model `{model}`", lang).format(provider=conv.provider, model=conv.model))
    if conv.persona:
        facts.append(gettext("persona: {persona}", lang).format(persona=persona_label(conv.persona, lang)))
    lines += ["_" + " · ".join(facts) + "_", ""]
    if conv.system_prompt:
        lines += ["## " + gettext("System prompt", lang), "", conv.system_prompt, ""]
    user, assistant = "## 🧑 " + gettext("User", lang), "## 🤖 " + gettext("Assistant", lang)
    tool = "## 🔧 " + gettext("Tool result", lang)
    for m in conv.messages:
        message = _openai_message(m)
        heading = {"user": user, "tool": tool}.get(message["role"], assistant)
        lines += [heading, "", m.content, ""]
        for call in message.get("tool_calls") or []:
            fn = call["function"]
            lines += [gettext("Tool call `{name}`:", lang).format(name=fn["name"]), "", "```json", fn["arguments"], "```", ""]
        if m.incomplete:
            lines += ["_" + gettext("(incomplete: the reply was cut off)", lang) + "_", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- import -----------------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    # Drop control characters other than newline/tab (hostile files smuggle terminal escapes).
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def _content_text(i: int, content: Any) -> str:
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):  # OpenAI content parts: text parts only
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise ImportRejected(Msg("Message {n}: only text content can be imported (found a non-text part).", n=i + 1))
            parts.append(part["text"])
        text = "".join(parts)
    else:
        raise ImportRejected(Msg("Message {n}: 'content' must be text, not {kind}.", n=i + 1, kind=type(content).__name__))
    if len(text) > MAX_FIELD_CHARS:
        raise ImportRejected(Msg("Message {n} is longer than {limit} characters.", n=i + 1, limit=_grouped(MAX_FIELD_CHARS)))
    return _clean_text(text)


def _grouped(n: int) -> str:
    return format(n, ",")


def _optional_str(meta: dict, name: str, limit: int = 200) -> str | None:
    value = meta.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ImportRejected(Msg("metadata.{name} must be text of at most {limit} characters.", name=name, limit=limit))
    return _clean_text(value)


def parse_import(data: bytes, lang: str = "en") -> Conversation:
    """Validate an export (or a bare OpenAI `messages` list / {"messages": [...]}) and return the
    conversation to insert. Raises ImportRejected with a specific reason (a `Msg`). `lang`: the
    language of the title given to a conversation that brings none."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRejected(
            Msg(
                "The file is {size} MB; the limit is {limit} MB.",
                size=round(len(data) / 1e6, 1),
                limit=MAX_IMPORT_BYTES // (1024 * 1024),
            )
        )
    if not data.strip():
        raise ImportRejected(Msg("The file is empty."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(Msg("The file is not UTF-8 text (is it really a JSON export?).")) from None
    try:
        doc = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except RecursionError:
        raise ImportRejected(Msg("The file is nested too deeply to be a conversation export.")) from None
    except ValueError as exc:
        raise ImportRejected(Msg("The file is not valid JSON ({reason}).", reason=str(exc))) from None

    meta: dict[str, Any] = {}
    if isinstance(doc, list):
        messages = doc
    elif isinstance(doc, dict):
        if "messages" not in doc:
            raise ImportRejected(Msg("The JSON has no 'messages' list: this is not a conversation export."))
        messages = doc["messages"]
        raw_meta = doc.get("metadata", {})
        if raw_meta is None:
            raw_meta = {}
        if not isinstance(raw_meta, dict):
            raise ImportRejected(Msg("'metadata' must be an object."))
        meta = raw_meta
        if meta.get("format") not in (None, FORMAT):
            raise ImportRejected(
                Msg(
                    "metadata.format is {found}, not {expected}.", found=repr(str(meta.get("format"))[:50]), expected=repr(FORMAT)
                )
            )
        version = meta.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
            raise ImportRejected(
                Msg(
                    "This export's version ({version}) is newer than this Yoake understands ({known}).",
                    version=str(version)[:20],
                    known=FORMAT_VERSION,
                )
            )
    else:
        raise ImportRejected(Msg("The JSON must be an object with a 'messages' list (or the list itself)."))

    if not isinstance(messages, list):
        raise ImportRejected(Msg("'messages' must be a list."))
    if not messages:
        raise ImportRejected(Msg("The conversation has no messages."))
    if len(messages) > MAX_MESSAGES:
        raise ImportRejected(
            Msg(
                "The conversation has {count} messages; the limit is {limit}.",
                count=_grouped(len(messages)),
                limit=_grouped(MAX_MESSAGES),
            )
        )

    system_prompt: str | None = None
    out: list[StoredMessage] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ImportRejected(Msg("Message {n} is not an object with 'role' and 'content'.", n=i + 1))
        role = msg.get("role")
        if role is None:
            raise ImportRejected(Msg("Message {n} has no 'role'.", n=i + 1))
        if role not in ("system", "user", "assistant", "tool"):
            raise ImportRejected(
                Msg(
                    "Message {n} has role {role}; only system, user, assistant and tool can be imported.",
                    n=i + 1,
                    role=repr(str(role)[:30]),
                )
            )
        if "content" not in msg:
            raise ImportRejected(Msg("Message {n} has no 'content'.", n=i + 1))
        calls = _tool_calls(i, msg["tool_calls"]) if role == "assistant" and msg.get("tool_calls") else None
        content = "" if calls and msg["content"] is None else _content_text(i, msg["content"])
        if role == "system":
            if i != 0:
                raise ImportRejected(Msg("Message {n}: a system message is only allowed first.", n=i + 1))
            system_prompt = content
            continue
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id or len(call_id) > 200:
                raise ImportRejected(Msg("Message {n}: a tool message needs the 'tool_call_id' it answers.", n=i + 1))
            out.append(StoredMessage(id=0, role="user", content=content, meta={"tool_call_id": call_id}))
            continue
        out.append(StoredMessage(id=0, role=role, content=content, meta={"tool_calls": calls} if calls else None))
    if not out:
        raise ImportRejected(Msg("The conversation has no user or assistant messages."))

    turns = meta.get("turns")
    if turns is not None:
        if not isinstance(turns, list) or len(turns) != len(out):
            raise ImportRejected(Msg("metadata.turns must be a list with one entry per user/assistant message."))
        for i, (turn, m) in enumerate(zip(turns, out, strict=True)):
            if turn is None:
                continue
            if not isinstance(turn, dict):
                raise ImportRejected(Msg("metadata.turns[{i}] must be an object.", i=i))
            incomplete = turn.get("incomplete", False)
            if not isinstance(incomplete, bool):
                raise ImportRejected(Msg("metadata.turns[{i}].incomplete must be true or false.", i=i))
            m.incomplete = incomplete
            turn_meta = turn.get("meta")
            if turn_meta is not None:
                if not isinstance(turn_meta, dict) or len(json.dumps(turn_meta)) > MAX_TURN_META:
                    raise ImportRejected(Msg("metadata.turns[{i}].meta must be a small object.", i=i))
                # what the message itself carries (its tool calls, the call a result answers) wins
                m.meta = (_turn_meta(turn_meta) or {}) | (m.meta or {}) or None

    params_raw = meta.get("params", {})
    if params_raw is None:
        params_raw = {}
    if not isinstance(params_raw, dict):
        raise ImportRejected(Msg("metadata.params must be an object."))
    params: dict[str, Any] = {}
    for name, value in params_raw.items():
        if name not in PARAM_SPEC:
            raise ImportRejected(Msg("metadata.params has an unknown parameter {name}.", name=repr(str(name)[:40])))
        try:
            params[name] = _param_value(name, value)
        except ValueError as exc:
            raise ImportRejected(Msg("metadata.params.{name} is invalid ({reason}).", name=name, reason=exc.args[0])) from None

    title = (
        _optional_str(meta, "title")
        or title_from(next((m.content for m in out if m.role == "user"), ""))
        or gettext("Imported conversation", lang)
    )
    return Conversation(
        id="",
        title=title,
        created_at=0.0,
        updated_at=0.0,
        persona=_optional_str(meta, "persona"),
        system_prompt=system_prompt,
        provider=_optional_str(meta, "provider", 40),
        model=_optional_str(meta, "model"),
        params=params,
        messages=out,
        prompt=_optional_str(meta, "prompt"),
    )
