"""Prompts with versions (issue 24): the content of a version and its messages (model), a word-level diff of
two versions (diff), a prompt with all its versions as JSON (io) and promptfoo's prompt files (promptfoo).
They are stored per owner by `lib.storage.prompts` (behind `Store`); `resolve` finds the version a
`name@version` reference names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.core.i18n import Msg
from lib.prompts import io, promptfoo
from lib.prompts.model import PromptContent, PromptError, PromptRef, format_ref, parse_ref

if TYPE_CHECKING:
    from lib.storage.prompts import PromptRepository, StoredVersion

__all__ = [
    "PromptContent", "PromptError", "PromptRef", "format_ref", "parse_ref", "resolve", "record_use", "import_file",
    "export_json", "export_promptfoo",
]  # fmt: skip


def resolve(store: PromptRepository, ref: str | PromptRef) -> tuple[StoredVersion, PromptContent]:
    """The version `ref` names (`name@3`, `name@demo`, `name` = the newest) among the store owner's
    prompts, with its content. A version kept after its prompt was deleted still resolves by number.
    A `PromptError` when there is none."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    version = store.version_by_name(parsed.name, number=parsed.version, label=parsed.label)
    if version is None:
        raise PromptError(Msg("There is no prompt version {ref}.", ref=str(parsed)), title=Msg("Prompt not found."))
    return version, PromptContent.from_dict(version.content)


def record_use(store: PromptRepository, version: StoredVersion, kind: str, target: str) -> str:
    """Remember that a result (`kind` such as "conversation" or "compare_run", and its id) was made with
    `version`, so deleting the prompt keeps that version; returns its `name@version` for the result to show."""
    store.add_prompt_reference(version.prompt_id, version.number, kind, target)
    return format_ref(version.prompt_name, version.number)


def import_file(store: PromptRepository, filename: str, raw: bytes) -> tuple[list[str], list[Msg]]:
    """Import an uploaded file: a Yoake prompt export (JSON, every version and label), else a promptfoo
    prompts file (lib.prompts.promptfoo). Names already taken get " (2)"… Returns (the names imported,
    notes on what was left out or renamed); a `PromptImportError` when nothing can be imported."""
    taken = [p.name for p in store.list_prompts()]
    names: list[str] = []
    notes: list[Msg] = []

    def add(name: str, versions: list[dict], labels: dict[str, int], source: str) -> None:
        final = io.unique_name(name, taken)
        if final != name:
            notes.append(Msg("'{name}' already exists: imported as '{new}'.", name=name, new=final))
        store.import_prompt(final, versions, labels, source=source)
        taken.append(final)
        names.append(final)

    doc = None
    if filename.lower().endswith(".json"):
        try:
            doc = io.read_json(raw)
        except io.PromptImportError:
            doc = None
    if io.is_prompt_export(doc):
        data = io.parse_export(doc)
        add(data.name, data.store_versions(), data.labels, "import")
        return names, notes
    found = promptfoo.parse(filename, raw)
    notes.extend(found.notes)
    for prompt in found.prompts:
        versions = [{"number": n, "content": c.to_dict(), "note": filename} for n, c in enumerate(prompt.contents, 1)]
        add(prompt.name, versions, {}, "promptfoo")
    return names, notes


def export_promptfoo(store: PromptRepository, prompt_id: int) -> str:
    """Every version of a prompt as a promptfoo prompts file (YAML)."""
    versions = store.list_versions(prompt_id)
    return promptfoo.to_yaml([(v.prompt_name, v.number, PromptContent.from_dict(v.content)) for v in versions])


def export_json(store: PromptRepository, prompt_id: int) -> str:
    """A prompt with all its versions and labels as JSON (lib.prompts.io)."""
    prompt = store.get_prompt(prompt_id)
    if prompt is None:
        raise PromptError(Msg("That prompt no longer exists."))
    return io.export_json(io.prompt_data(prompt.name, store.list_versions(prompt_id), prompt.labels))
