"""A prompt version put to use on another page (issue 24, phase 2): the chat starts from it, the logprobs
explorer runs it, compare lays versions side by side; each call and saved result carries its `name@version`.

- `PromptHandoff`: a version handed from the Prompts page to another page (typed, in session state, like
  `lib.compare.handoff.LogprobsRequest`); that page preselects it in its version picker.
- `prepare`: a version with its `{{variables}}` filled: the system prompt, the first user message, its
  parameters and its reference (`name@number`, also when it was picked by a label).
- `persona_content`: a persona as a prompt version's content ("Save as prompt").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib.prompts import resolve
from lib.prompts.model import PromptContent, PromptError, format_ref

if TYPE_CHECKING:
    from lib.storage.prompts import PromptRepository, StoredVersion

# The pages a version can be handed to (the values of `PromptHandoff.page`).
CHAT, LOGPROBS, COMPARE = "chat", "logprobs", "compare"


@dataclass(frozen=True)
class PromptHandoff:
    """A version handed to another page: `ref` (`name@3`); for compare, `refs` lists the versions to lay side by side."""

    page: str
    ref: str
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreparedPrompt:
    """What a page sends for a version and the values of its variables."""

    ref: str  # name@number
    system: str
    user: str
    content: PromptContent
    values: dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, Any]:
        return self.content.parameters()


def prepare(version: StoredVersion, values: Mapping[str, str] | None = None) -> PreparedPrompt:
    """`version` with its variables filled in (a `PromptError` names any without a value)."""
    content = PromptContent.from_dict(version.content)
    values = {k: str(v) for k, v in (values or {}).items() if k in content.variables()}
    system, user = content.render_parts(values)
    return PreparedPrompt(format_ref(version.prompt_name, version.number), system.strip(), user.strip(), content, values)


def record(store: PromptRepository, ref: str, kind: str, target: str) -> bool:
    """Remember that the result `kind`/`target` used the version `ref` (`name@number`): deleting the prompt
    keeps that version. False when `ref` names no version (nothing is recorded)."""
    try:
        version, _ = resolve(store, ref)
    except PromptError:
        return False
    return store.add_prompt_reference(version.prompt_id, version.number, kind, target)


def persona_content(system_prompt: str, temperature: float | None) -> PromptContent:
    """A persona (its system prompt and temperature) as a version's content."""
    return PromptContent(system=system_prompt, temperature=temperature)


def compare_variant(version: StoredVersion) -> tuple[str, dict[str, Any]]:
    """A version as a compare grid's variant: (its system prompt, its entry of `GridSpec.versions`: the
    reference, its template and the temperature and top_p it sets)."""
    content = PromptContent.from_dict(version.content)
    entry: dict[str, Any] = {"ref": format_ref(version.prompt_name, version.number), "template": content.template}
    entry |= {k: getattr(content, k) for k in ("temperature", "top_p") if getattr(content, k) is not None}
    return content.system, entry
