"""A prompt with all its versions and labels as one JSON file, and back.

    {"format": "yoake.prompt", "format_version": 1, "name": "support", "labels": {"demo": 2},
     "versions": [{"number": 1, "created_at": 1764000000.0, "note": "", "restored_from": null,
                   "content": {"system": "...", "template": "...{{question}}", "temperature": 0.3, ...}}]}

Importing gives the same versions (numbers, times, notes, contents) and labels under the file's name,
or another if that name is taken."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.prompts.model import PromptContent, PromptError

FORMAT = "yoake.prompt"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 5_000_000
MAX_VERSIONS = 10_000


class PromptImportError(YoakeError):
    """The file is not an importable prompt; the message says what is wrong."""

    kind = "import_rejected"
    title = Msg("The file cannot be imported.")


@dataclass(frozen=True)
class VersionData:
    """A version as it travels: its number, when and with what note it was saved, and its content."""

    number: int
    content: PromptContent
    note: str = ""
    created_at: float | None = None
    restored_from: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "created_at": self.created_at,
            "note": self.note,
            "restored_from": self.restored_from,
            "content": self.content.to_dict(),
        }


@dataclass(frozen=True)
class PromptData:
    """A prompt as it travels: a name, its versions (oldest first) and its labels (name -> version)."""

    name: str
    versions: tuple[VersionData, ...]
    labels: dict[str, int] = field(default_factory=dict)

    def store_versions(self) -> list[dict[str, Any]]:
        """The versions as `Store.import_prompt` takes them."""
        return [v.to_dict() for v in self.versions]


def prompt_data(name: str, versions: Iterable[Any], labels: Mapping[str, int]) -> PromptData:
    """From what the store returns (`StoredVersion`s, whose `content` is the stored dict)."""
    return PromptData(
        name,
        tuple(
            VersionData(v.number, PromptContent.from_dict(v.content), v.note, v.created_at, v.restored_from)
            for v in sorted(versions, key=lambda v: v.number)
        ),
        dict(labels),
    )


def export_json(data: PromptData, *, exported_at: float | None = None) -> str:
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": exported_at if exported_at is not None else time.time(),
        "name": data.name,
        "labels": dict(sorted(data.labels.items())),
        "versions": [v.to_dict() for v in data.versions],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def is_prompt_export(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("format") == FORMAT


def _reject(msg: Msg) -> PromptImportError:
    return PromptImportError(msg)


def read_json(raw: bytes | str) -> Any:
    """The JSON document of an uploaded file (a UTF-8 BOM is allowed); a `PromptImportError` otherwise."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_IMPORT_BYTES:
            raise _reject(Msg("The file is larger than {mb} MB.", mb=MAX_IMPORT_BYTES // 1_000_000))
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _reject(Msg("The file is not UTF-8 text.")) from None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _reject(Msg("The file is not valid JSON ({problem}).", problem=str(exc))) from None


def parse_export(raw: bytes | str | Mapping[str, Any]) -> PromptData:
    """A prompt export (`export_json`) back as `PromptData`; anything else is a `PromptImportError` that says why."""
    doc = raw if isinstance(raw, Mapping) else read_json(raw)
    if not is_prompt_export(doc):
        raise _reject(Msg('This is not a Yoake prompt export (its "format" is not "{format}").', format=FORMAT))
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise _reject(Msg("The file was written by a newer Yoake. Upgrade Yoake to import it."))
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _reject(Msg("The prompt in the file has no name."))
    versions = doc.get("versions")
    if not isinstance(versions, Sequence) or isinstance(versions, str) or not versions:
        raise _reject(Msg("The file has no versions."))
    if len(versions) > MAX_VERSIONS:
        raise _reject(Msg("The file has more than {n} versions.", n=MAX_VERSIONS))
    out: list[VersionData] = []
    for i, item in enumerate(versions, 1):
        if not isinstance(item, Mapping):
            raise _reject(Msg("Version {n} in the file is not an object.", n=i))
        number = item.get("number", i)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1 or (out and number <= out[-1].number):
            raise _reject(Msg("Version numbers must be whole numbers from 1 up, each larger than the last (at entry {n}).", n=i))
        try:
            content = PromptContent.from_dict(item.get("content"))
        except PromptError as exc:
            raise _reject(Msg("Version {n}: {problem}", n=number, problem=exc.detail)) from None
        created = item.get("created_at")
        if not (isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(created)):
            created = None
        restored = item.get("restored_from")
        note = item.get("note")
        out.append(
            VersionData(
                number,
                content,
                note if isinstance(note, str) else "",
                created,
                restored if isinstance(restored, int) and not isinstance(restored, bool) else None,
            )
        )
    numbers = {v.number for v in out}
    labels_in = doc.get("labels") or {}
    if not isinstance(labels_in, Mapping):
        raise _reject(Msg("The file's labels must be an object of label: version."))
    labels: dict[str, int] = {}
    for label, number in labels_in.items():
        if number not in numbers:
            raise _reject(Msg("The label {label} points at version {n}, which is not in the file.", label=label, n=number))
        labels[str(label)] = int(number)
    return PromptData(" ".join(name.split()), tuple(out), labels)


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name (2)`, `name (3)`… whichever is not taken (case-insensitively)."""
    used = {t.casefold() for t in taken}
    if name.casefold() not in used:
        return name
    n = 2
    while f"{name} ({n})".casefold() in used:
        n += 1
    return f"{name} ({n})"
