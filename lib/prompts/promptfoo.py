"""promptfoo's prompt files, both ways (https://promptfoo.dev/docs/configuration/prompts and /chat).

Read: a config or prompts file (YAML or JSON) with a `prompts:` list — each entry a prompt string or
`{id, label, raw, config}` — or that list by itself, or promptfoo's legacy `{raw: label}` map; a chat-style
JSON prompt file (a list of `{role, content}` messages, OpenAI's format) or a JSONL file of them, one per
line; a text file of prompts separated by lines of `---`. A prompt string that is a JSON list of messages
is a chat prompt too. `{{var}}` is the same template syntax. Entries named `name@3` (as `to_yaml` writes
them) become versions of one prompt `name`, in file order.

Write: `to_yaml` gives a promptfoo prompts file (`prompts:` with `id`, `label`, `raw` and `config` per
version; `raw` is the chat JSON when the version has a system prompt); `to_chat_json` one version as a
chat-style JSON prompt file."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml

from lib.core.i18n import Msg
from lib.prompts.io import MAX_IMPORT_BYTES, PromptImportError
from lib.prompts.model import NUMERIC, PromptContent, PromptError, parse_ref

DELIMITER = "---"  # promptfoo's default PROMPT_DELIMITER between prompts of a text file
FILE_EXTENSIONS = (".txt", ".json", ".jsonl", ".yaml", ".yml", ".md", ".j2", ".csv", ".py", ".js", ".ts", ".mjs", ".cjs")
CONFIG_KEYS = tuple(NUMERIC) + ("stop",)  # what a promptfoo prompt's `config` may carry that a version keeps
_NUNJUCKS = re.compile(r"\{%|\{\{[^}]*\|[^}]*\}\}|\{#")  # tags, filters, comments: beyond plain {{var}}


@dataclass
class Imported:
    """One prompt read from a promptfoo file: its name and its versions' contents in order."""

    name: str
    contents: list[PromptContent] = field(default_factory=list)


@dataclass
class PromptfooImport:
    prompts: list[Imported]
    notes: list[Msg]  # what was left out or changed, for the page to say


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    if len(raw) > MAX_IMPORT_BYTES:
        raise PromptImportError(Msg("The file is larger than {mb} MB.", mb=MAX_IMPORT_BYTES // 1_000_000))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PromptImportError(Msg("The file is not UTF-8 text.")) from None


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, Mapping) and isinstance(m.get("role"), str) and "content" in m for m in value)
    )


def _looks_like_file(raw: str) -> bool:
    """promptfoo reads such an entry as a path to a prompt file (`file://…`, `prompts/*.txt`…)."""
    if "\n" in raw:
        return False
    text = raw.strip()
    return text.startswith("file://") or text.lower().endswith(FILE_EXTENSIONS) or "*" in text


class _Reader:
    def __init__(self, stem: str) -> None:
        self.stem = stem
        self.prompts: dict[str, Imported] = {}
        self.notes: list[Msg] = []
        self.count = 0

    def add(self, raw: Any, name: str | None = None, config: Any = None) -> None:
        """One promptfoo prompt: a string (a template, or a chat JSON list) or a list of messages."""
        self.count += 1
        label = name or f"{self.stem}-{self.count}"
        if isinstance(raw, str) and _looks_like_file(raw):
            self.notes.append(Msg("{name}: it refers to the file {path}; import that file itself.", name=label, path=raw.strip()))
            return
        messages = raw
        if isinstance(raw, str) and raw.strip().startswith("["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if _is_messages(parsed):
                messages = parsed
        if isinstance(messages, str):
            system, template = "", messages
        elif _is_messages(messages):
            system, template = self._from_messages(label, messages)
        else:
            self.notes.append(Msg("{name}: not a prompt string or a list of messages; left out.", name=label))
            return
        if _NUNJUCKS.search(system + template):
            self.notes.append(
                Msg("{name}: uses template tags or filters that Yoake does not fill in; they stay as text.", name=label)
            )
        values: dict[str, Any] = {"system": system, "template": template}
        if isinstance(config, Mapping):
            values |= {k: config[k] for k in CONFIG_KEYS if k in config}
            ignored = sorted(str(k) for k in config if k not in CONFIG_KEYS)
            if ignored:
                self.notes.append(Msg("{name}: settings left out: {keys}.", name=label, keys=", ".join(ignored)))
        try:
            content = PromptContent.from_dict(values)
        except PromptError as exc:
            self.notes.append(Msg("{name} was left out: {problem}", name=label, problem=exc.detail))
            return
        base = label
        if name:
            try:
                ref = parse_ref(name)
            except PromptError:
                ref = None
            if ref is not None and ref.version is not None:
                base = ref.name  # name@3 (as we write them): a version of `name`
        self.prompts.setdefault(base.casefold(), Imported(base)).contents.append(content)

    def _from_messages(self, label: str, messages: list[Mapping[str, Any]]) -> tuple[str, str]:
        """A version keeps the system messages and the last user message; other turns are said to be left out."""
        texts = [(m["role"], m["content"]) for m in messages]
        bad = [r for r, c in texts if not isinstance(c, str)]
        texts = [(r, c) for r, c in texts if isinstance(c, str)]
        system = "\n\n".join(c for r, c in texts if r in ("system", "developer"))
        users = [i for i, (r, _) in enumerate(texts) if r == "user"]
        template = texts[users[-1]][1] if users else ""
        others = len(texts) - sum(1 for r, _ in texts if r in ("system", "developer")) - (1 if users else 0) + len(bad)
        if others:
            self.notes.append(
                Msg(
                    "{name}: {n} other messages (earlier turns, non-text content) were left out; "
                    "a version keeps the system prompt and the last user message.",
                    name=label,
                    n=others,
                )
            )
        return system, template

    def entries(self, entries: Any) -> None:
        """The value of `prompts:` (or a prompts file that is that value)."""
        if isinstance(entries, str):
            self.add(entries)
        elif isinstance(entries, Mapping):  # legacy: {raw_or_path: label}
            for raw, label in entries.items():
                self.add(raw, str(label) if label else None)
        elif isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, Mapping) and ("raw" in entry or "id" in entry):
                    name = entry.get("label") or entry.get("id")
                    self.add(entry.get("raw") or entry.get("id"), str(name) if name else None, entry.get("config"))
                else:
                    self.add(entry)
        else:
            raise PromptImportError(Msg("The file's prompts must be a list."))


def parse(filename: str, raw: bytes | str) -> PromptfooImport:
    """The prompts of a promptfoo file (see the module's docstring); a `PromptImportError` when it holds none."""
    text = _decode(raw)
    path = PurePath(filename or "prompts.txt")
    suffix = path.suffix.lower()
    reader = _Reader(path.stem or "prompt")
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    reader.add(json.loads(line))
                except ValueError:
                    raise PromptImportError(Msg("Line {n} is not valid JSON.", n=n)) from None
    elif suffix in (".json", ".yaml", ".yml"):
        try:
            doc = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise PromptImportError(
                Msg("The file cannot be read as {kind} ({problem}).", kind=suffix[1:].upper(), problem=str(exc)[:200])
            ) from None
        if _is_messages(doc):  # a chat-style prompt file: one prompt, named after the file
            reader.add(doc, reader.stem)
        elif isinstance(doc, Mapping) and "prompts" in doc:
            reader.entries(doc["prompts"])
        elif isinstance(doc, list):
            reader.entries(doc)
        else:
            raise PromptImportError(Msg("No prompts found: expected a prompts: list, or a list of chat messages."))
    else:  # text: prompts separated by lines of ---
        chunks, buffer = [], []
        for line in text.splitlines():
            if line.strip() == DELIMITER:
                chunks.append("\n".join(buffer).strip())
                buffer = []
            else:
                buffer.append(line)
        chunks.append("\n".join(buffer).strip())
        for chunk in chunks:
            if chunk:
                reader.add(chunk)
    if not reader.prompts:
        raise PromptImportError(Msg("No prompt in the file could be imported."), title=Msg("The file cannot be imported."))
    return PromptfooImport(list(reader.prompts.values()), reader.notes)


# --- writing ----------------------------------------------------------------------------------------------


def chat_messages(content: PromptContent) -> list[dict[str, str]]:
    """The version's messages with its `{{variables}}` left in (a template, as promptfoo fills them)."""
    out = [{"role": "system", "content": content.system}] if content.system.strip() else []
    if content.template.strip():
        out.append({"role": "user", "content": content.template})
    return out


def to_chat_json(content: PromptContent) -> str:
    """One version as promptfoo's chat-style JSON prompt file (`prompts: [file://this.json]`)."""
    return json.dumps(chat_messages(content), ensure_ascii=False, indent=2)


def _raw(content: PromptContent) -> str:
    return json.dumps(chat_messages(content), ensure_ascii=False) if content.system.strip() else content.template


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(versions: Sequence[tuple[str, int, PromptContent]]) -> str:
    """A promptfoo prompts file: one entry per (name, number, content), `id` and `label` `name@number`,
    the parameters as the entry's `config`. A version's model is a provider setting in promptfoo: it is
    written as a comment."""
    entries = []
    models = []
    for name, number, content in versions:
        ref = f"{name}@{number}"
        entry: dict[str, Any] = {"id": ref, "label": ref, "raw": _raw(content)}
        config = {k: v for k, v in content.parameters().items() if k in CONFIG_KEYS}
        if "stop" in config:
            config["stop"] = list(config["stop"])
        if config:
            entry["config"] = config
        if content.model:
            models.append(f"# {ref}: model {content.model}")
        entries.append(entry)
    head = "# promptfoo prompts, exported from Yoake. Use with: prompts: file://this-file.yaml\n" + "".join(
        m + "\n" for m in models
    )
    body = yaml.dump({"prompts": entries}, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1_000_000)
    return head + body
