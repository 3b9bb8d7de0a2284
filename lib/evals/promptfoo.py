"""A compare setup as a promptfoo config (`promptfooconfig.yaml`), both ways
(https://promptfoo.dev/docs/configuration/reference/).

Export: `prompts` (the user message, or one chat-style JSON prompt per system prompt variant, labelled
"prompt A"…), `providers` (one `openai:chat:<model>` per model × temperature × top_p × sample, its
`config` carrying `apiBaseUrl`, `temperature`, `top_p`, `max_tokens` and `seed`), `tests` (one per
variables row: `vars`, its `assert` and `threshold`), `defaultTest` (the assertions for every row, the
row threshold, and `options.provider`: the `llm-rubric` judge). `metadata.yoake` keeps what promptfoo has
no field for (which of Yoake's providers each model came from), so an export imports back the same.

Import: the same shape, and what people write by hand: prompts as strings or `{raw, label}`, chat JSON
prompts, `openai:<model>`, `openai:chat:<model>` and `ollama:chat:<model>` providers as strings or
`{id, label, config}`, with `apiBaseUrl` (or `apiHost`) matched against Yoake's providers (any other URL:
the custom provider). What cannot be represented is left out and said (`notes`, `Msg`s).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from lib.compare.grid import (
    MAX_INPUT_ROWS,
    MAX_MODELS,
    MAX_SAMPLES,
    MAX_VARIANTS,
    VARIANT_NAMES,
    GridSpec,
    ModelChoice,
    find_variables,
)
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.evals.assertions import Assertion, AssertionProblem
from lib.evals.scoring import EvalSpec
from lib.llm.providers import PROVIDERS

MAX_CONFIG_BYTES = 1_000_000
FORMAT_NOTE = "Exported by Yoake (compare). Run: promptfoo eval -c promptfooconfig.yaml"


class PromptfooImportError(YoakeError):
    kind = "promptfoo_import"
    title = Msg("This promptfoo config cannot be imported")


# --- export ---------------------------------------------------------------------------------------


def _base_url(choice: ModelChoice, slot: int, base_urls: Mapping[int, str]) -> str | None:
    if slot in base_urls and base_urls[slot]:
        return base_urls[slot]
    provider = PROVIDERS.get(choice.provider)
    if provider is None or choice.provider == "openai":
        return None  # promptfoo's own default: OpenAI
    return provider.base_url


def _prompts(spec: GridSpec) -> list[dict[str, Any]]:
    if spec.variants == ("",):
        return [{"raw": spec.prompt, "label": "prompt A"}]
    out = []
    for name, system in zip(VARIANT_NAMES, spec.variants, strict=False):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": spec.prompt}]
        out.append({"raw": json.dumps(messages, ensure_ascii=False), "label": f"prompt {name}"})
    return out


def _provider_label(choice: ModelChoice, temperature: float | None, top_p: float | None, seed: int | None, sample: int) -> str:
    parts = [choice.name]
    parts += [f"T={temperature:g}"] if temperature is not None else []
    parts += [f"top_p={top_p:g}"] if top_p is not None else []
    parts += [f"seed {seed}"] if seed is not None else [f"sample {sample}"]
    return " · ".join(parts)


def export_config(spec: GridSpec, base_urls: Mapping[int, str] | None = None, description: str = "") -> str:
    """The setup as a promptfoo config (YAML). `base_urls`: the URL each model slot was reached at where
    it is not a fixed preset's (the embedded server, a custom server)."""
    base_urls = base_urls or {}
    evals = EvalSpec.from_dict(spec.evals)
    providers = []
    for (slot, choice), t, p, k in itertools.product(enumerate(spec.models), spec.temperatures, spec.top_ps, range(spec.samples)):
        seed = None if spec.seed is None else spec.seed + k
        config: dict[str, Any] = {}
        url = _base_url(choice, slot, base_urls)
        if url:
            config["apiBaseUrl"] = url
        for key, value in (("temperature", t), ("top_p", p), ("max_tokens", spec.max_tokens), ("seed", seed)):
            if value is not None:
                config[key] = value
        providers.append(
            {"id": f"openai:chat:{choice.model}", "label": _provider_label(choice, t, p, seed, k + 1), "config": config}
        )
    tests = []
    for i, values in enumerate(spec.inputs):
        test: dict[str, Any] = {"description": f"row {i + 1}"}
        if values:
            test["vars"] = dict(values)
        row = list(evals.rows[i]) if i < len(evals.rows) else []
        if row:
            test["assert"] = [a.to_dict() for a in row]
        threshold = evals.thresholds[i] if i < len(evals.thresholds) else None
        if threshold is not None:
            test["threshold"] = threshold
        tests.append(test)
    doc: dict[str, Any] = {
        "description": description or FORMAT_NOTE,
        "prompts": _prompts(spec),
        "providers": providers,
        "tests": tests,
    }
    default: dict[str, Any] = {}
    if evals.assertions:
        default["assert"] = [a.to_dict() for a in evals.assertions]
    if evals.threshold is not None:
        default["threshold"] = evals.threshold
    if evals.judged and evals.judge_model:
        judge: dict[str, Any] = {"id": f"openai:chat:{evals.judge_model}"}
        slot = next(
            (i for i, m in enumerate(spec.models) if (m.provider, m.model) == (evals.judge_provider, evals.judge_model)), None
        )
        url = _base_url(ModelChoice(evals.judge_provider, evals.judge_model), slot if slot is not None else -1, base_urls)
        if url:
            judge["config"] = {"apiBaseUrl": url}
        default["options"] = {"provider": judge}
    if default:
        doc["defaultTest"] = default
    doc["metadata"] = {
        "yoake": {
            "providers": [m.provider for m in spec.models],
            "labels": [m.label for m in spec.models],
            "judge_provider": evals.judge_provider,
            "column_axis": spec.column_axis,
        }
    }
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


# --- import ---------------------------------------------------------------------------------------


@dataclass
class ImportedSetup:
    """A promptfoo config as a compare setup: the grid (with its assertions in `spec.evals`), the URL of
    each model slot that needs one (custom servers), and what was left out."""

    spec: GridSpec
    base_urls: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _load(text: str) -> dict[str, Any]:
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise PromptfooImportError(Msg("The file is larger than {n} MB.", n=MAX_CONFIG_BYTES // 1_000_000))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise PromptfooImportError(Msg("The file is not valid YAML (line {line}).", line=line)) from None
    if not isinstance(data, dict):
        raise PromptfooImportError(Msg("A promptfoo config is a YAML mapping with prompts, providers and tests."))
    return data


def _chat(raw: str) -> tuple[str, str] | None:
    """(system, user) of a chat-style JSON prompt, or None when it is not one."""
    try:
        messages = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        return None
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m["role"] == "system")
    users = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
    return system, users[-1] if users else ""


def _read_prompts(data: Any, notes: list[str]) -> tuple[str, list[str]]:
    entries = data if isinstance(data, list) else [data] if data else []
    found: list[tuple[str, str]] = []
    for entry in entries:
        raw = entry.get("raw") if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and raw is None and isinstance(entry.get("id"), str):
            raw = entry["id"]
        if not isinstance(raw, str) or not raw.strip():
            notes.append(Msg("A prompt that is not text was left out."))
            continue
        if raw.startswith("file://"):
            notes.append(Msg("Prompt files are not read: {name} was left out (paste its text instead).", name=raw))
            continue
        chat = _chat(raw)
        found.append(chat if chat is not None else ("", raw))
    if not found:
        raise PromptfooImportError(Msg("The config has no prompt Yoake can use (a text or chat JSON prompt)."))
    user = found[0][1]
    variants = []
    for system, text in found:
        if text != user:
            notes.append(
                Msg("Compare runs one user message with up to 3 system prompts: a prompt with another user message was left out.")
            )
            continue
        if system not in variants:
            variants.append(system)
    if len(variants) > MAX_VARIANTS:
        notes.append(Msg("At most {n} system prompts: the others were left out.", n=MAX_VARIANTS))
        variants = variants[:MAX_VARIANTS]
    return user, variants


@dataclass
class _Provider:
    provider: str
    model: str
    url: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None


def _norm_url(url: str) -> str:
    return url.rstrip("/").lower()


def _provider_for(url: str | None, kind: str) -> str:
    if kind == "ollama":
        return "ollama"
    if not url:
        return "openai"
    for pid, p in PROVIDERS.items():
        if p.base_url and _norm_url(p.base_url) == _norm_url(url):
            return pid
    return "custom"


def _read_provider(entry: Any, notes: list[str]) -> _Provider | None:
    if isinstance(entry, str):
        pid, config = entry, {}
    elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
        pid, config = entry["id"], entry.get("config") or {}
    elif isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry.values())), dict):
        pid, options = next(iter(entry.items()))  # promptfoo's {id: options} form
        config = options.get("config") or {}
    else:
        notes.append(Msg("A provider that is neither an id nor a mapping with an id was left out."))
        return None
    parts = str(pid).split(":")
    if parts[0] not in ("openai", "ollama") or len(parts) < 2:
        notes.append(Msg("Provider {id} is not OpenAI-compatible: left out.", id=str(pid)))
        return None
    if parts[0] == "openai" and parts[1] in ("embedding", "embeddings", "image", "assistant", "realtime", "responses"):
        notes.append(Msg("Provider {id} is not a chat model: left out.", id=str(pid)))
        return None
    model = parts[-1] if parts[1] in ("chat", "completion") and len(parts) > 2 else ":".join(parts[1:])
    url = config.get("apiBaseUrl") or (f"https://{config['apiHost']}/v1" if config.get("apiHost") else None)

    def num(key: str) -> float | None:
        value = config.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    seed = config.get("seed")
    max_tokens = config.get("max_tokens", config.get("max_completion_tokens"))
    return _Provider(
        _provider_for(url, parts[0]), model, url, num("temperature"), num("top_p"),
        int(max_tokens) if isinstance(max_tokens, int) else None, int(seed) if isinstance(seed, int) else None,
    )  # fmt: skip


def _assertions(entries: Any, notes: list[str], where: str) -> tuple[Assertion, ...]:
    out = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            out.append(Assertion.from_dict(entry))
        except AssertionProblem as exc:
            notes.append(Msg("{where}: an assertion was left out: {reason}", where=where, reason=exc.detail))
    return tuple(out)


def import_config(text: str) -> ImportedSetup:
    """A compare setup from a promptfoo config's text. Raises `PromptfooImportError` when nothing usable is
    in it; notes say what was left out."""
    data = _load(text)
    notes: list[str] = []
    prompt, variants = _read_prompts(data.get("prompts"), notes)
    raw_providers = data.get("providers")
    entries = raw_providers if isinstance(raw_providers, list) else [raw_providers] if raw_providers else []
    providers = [p for p in (_read_provider(e, notes) for e in entries) if p is not None]
    if not providers:
        raise PromptfooImportError(
            Msg("The config has no OpenAI-compatible provider (openai:chat:<model>, with apiBaseUrl for another server).")
        )
    meta = (data.get("metadata") or {}).get("yoake") or {}
    models: list[tuple[str, str]] = []
    model_urls: list[str | None] = []
    for p in providers:
        if (p.provider, p.model) not in models:
            models.append((p.provider, p.model))
            model_urls.append(p.url)
    if len(models) > MAX_MODELS:
        notes.append(Msg("At most {n} models: the others were left out.", n=MAX_MODELS))
        models = models[:MAX_MODELS]
    labels = list(meta.get("labels") or [])
    yoake_providers = list(meta.get("providers") or [])
    choices = []
    urls: dict[int, str] = {}
    for i, (pid, model) in enumerate(models):
        if i < len(yoake_providers) and yoake_providers[i] in PROVIDERS and yoake_providers[i] != pid:
            pid = yoake_providers[i]  # Yoake's own export: the provider it came from (the embedded model, a local server)
        if pid == "custom" and model_urls[i]:
            urls[i] = str(model_urls[i])  # the page fills the slot's custom URL with it
        label = labels[i] if i < len(labels) and isinstance(labels[i], str) else ""
        choices.append(ModelChoice(pid, model, label if label != model else ""))
    temperatures = tuple(dict.fromkeys(p.temperature for p in providers))
    top_ps = tuple(dict.fromkeys(p.top_p for p in providers))
    seeds = sorted({p.seed for p in providers if p.seed is not None})
    seed = seeds[0] if seeds else None
    samples = len(seeds) if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))) else 1
    if seeds and samples == 1 and len(seeds) > 1:
        notes.append(Msg("Seeds that do not follow one another cannot be samples: the first seed is used."))
    if samples > MAX_SAMPLES:
        notes.append(Msg("At most {n} samples per cell.", n=MAX_SAMPLES))
        samples = MAX_SAMPLES
    max_tokens = max((p.max_tokens for p in providers if p.max_tokens), default=256)
    raw_tests = data.get("tests")
    if isinstance(raw_tests, str):
        notes.append(Msg("Test files are not read: {name} was left out (list the tests in the config).", name=raw_tests))
        raw_tests = []
    tests = [t for t in (raw_tests or []) if isinstance(t, dict)]
    if len(tests) > MAX_INPUT_ROWS:
        notes.append(Msg("At most {n} rows of variable values: the others were left out.", n=MAX_INPUT_ROWS))
        tests = tests[:MAX_INPUT_ROWS]
    variables = find_variables(prompt, *variants)
    inputs = []
    rows = []
    thresholds: list[float | None] = []
    for n, test in enumerate(tests, start=1):
        values = test.get("vars") or {}
        if not isinstance(values, dict):
            notes.append(Msg("Test {n}: vars that are not a mapping were left out.", n=n))
            values = {}
        inputs.append({v: str(values.get(v, "")) for v in variables})
        rows.append(_assertions(test.get("assert"), notes, Msg("Test {n} of the config", n=n)))
        t = test.get("threshold")
        thresholds.append(float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None)
    default = data.get("defaultTest") if isinstance(data.get("defaultTest"), dict) else {}
    all_rows = _assertions(default.get("assert"), notes, "defaultTest")
    threshold = default.get("threshold")
    judge = ((default.get("options") or {}).get("provider")) if isinstance(default.get("options"), dict) else None
    judge_provider = judge_model = ""
    if judge is not None:
        jp = _read_provider(judge, notes)
        if jp is not None:
            judge_provider, judge_model = jp.provider, jp.model
            if meta.get("judge_provider") in PROVIDERS:
                judge_provider = meta["judge_provider"]
    evals = EvalSpec(
        assertions=all_rows,
        rows=tuple(rows) if any(rows) else (),
        thresholds=tuple(thresholds) if any(t is not None for t in thresholds) else (),
        threshold=float(threshold) if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None,
        judge_provider=judge_provider,
        judge_model=judge_model,
    )
    spec = GridSpec(
        prompt=prompt,
        models=tuple(choices),
        variants=tuple(variants) or ("",),
        temperatures=temperatures or (None,),
        top_ps=top_ps or (None,),
        inputs=tuple(inputs) or ({},),
        samples=samples,
        seed=seed,
        max_tokens=max_tokens,
        column_axis=str(meta.get("column_axis") or "temperature"),
        evals=None if evals.empty and not evals.judge_model else evals.to_dict(),
    )
    if variables and not tests:
        notes.append(Msg("The prompt uses variables but the config has no tests: add rows of values."))
    return ImportedSetup(spec, urls, notes)
