"""promptfoo configs both ways (lib/evals/promptfoo.py): a setup exports and imports back identical (and the
export of the import is the same text); a hand-written promptfooconfig.yaml maps onto Yoake's providers, its
tests become variable rows with their assertions, and what cannot be represented is left out and said."""

from __future__ import annotations

import pytest
import yaml

from lib import compare as cmp
from lib.evals.assertions import Assertion
from lib.evals.promptfoo import PromptfooImportError, export_config, import_config
from lib.evals.scoring import EvalSpec


def _spec() -> cmp.GridSpec:
    evals = EvalSpec(
        assertions=(Assertion("not-icontains", "sorry"), Assertion("llm-rubric", "Polite and short", threshold=0.6, weight=2.0)),
        rows=((Assertion("icontains", "blue"), Assertion("is-json", {"type": "object"})), (Assertion("regex", r"^\w+"),)),
        thresholds=(0.5, None),
        threshold=0.8,
        judge_provider="local",
        judge_model="smollm2-135m-instruct",
    )
    return cmp.GridSpec(
        prompt="Describe the colour of {{thing}} in {{lang}}.",
        models=(cmp.ModelChoice("local", "smollm2-135m-instruct"), cmp.ModelChoice("openai", "gpt-4.1-mini", "GPT mini")),
        variants=("You are terse.", "あなたは丁寧です。"),
        temperatures=(0.0, 0.7),
        top_ps=(None,),
        inputs=({"thing": "the sea", "lang": "English"}, {"thing": "草", "lang": "日本語"}),
        samples=2,
        seed=7,
        max_tokens=64,
        column_axis="model",
        evals=evals.to_dict(),
    )


def test_a_setup_round_trips_through_a_promptfoo_config() -> None:
    spec = _spec()
    text = export_config(spec, {0: "http://127.0.0.1:8090/v1"})
    imported = import_config(text)
    assert imported.notes == []
    assert imported.spec == spec
    assert export_config(imported.spec, {0: "http://127.0.0.1:8090/v1"}) == text


def test_the_export_is_promptfoos_shape() -> None:
    doc = yaml.safe_load(export_config(_spec(), {0: "http://127.0.0.1:8090/v1"}))
    assert [p["label"] for p in doc["prompts"]] == ["prompt A", "prompt B"]
    assert doc["prompts"][1]["raw"].startswith('[{"role": "system", "content": "あなたは丁寧です。"}')
    assert len(doc["providers"]) == 2 * 2 * 2  # models × temperatures × samples
    first = doc["providers"][0]
    assert first["id"] == "openai:chat:smollm2-135m-instruct"
    assert first["config"] == {"apiBaseUrl": "http://127.0.0.1:8090/v1", "temperature": 0.0, "max_tokens": 64, "seed": 7}
    assert (
        "apiBaseUrl" not in doc["providers"][-1]["config"] and doc["providers"][-1]["config"]["seed"] == 8
    )  # OpenAI: its default
    assert doc["tests"][0]["vars"] == {"thing": "the sea", "lang": "English"} and doc["tests"][0]["threshold"] == 0.5
    assert doc["tests"][0]["assert"] == [{"type": "icontains", "value": "blue"}, {"type": "is-json", "value": {"type": "object"}}]
    assert doc["defaultTest"]["assert"][1] == {"type": "llm-rubric", "value": "Polite and short", "threshold": 0.6, "weight": 2.0}
    assert doc["defaultTest"]["options"]["provider"]["id"] == "openai:chat:smollm2-135m-instruct"


HAND_WRITTEN = """
description: Support bot
prompts:
  - 'Answer the customer: {{question}}'
  - file://prompts/other.txt
providers:
  - openai:gpt-4.1-mini
  - id: openai:chat:qwen3
    label: qwen on vllm
    config:
      apiBaseUrl: http://localhost:8000/v1/
      temperature: 0.2
  - id: openai:chat:my-model
    config: {apiBaseUrl: 'http://10.0.0.5:9000/v1', temperature: 0.2}
  - anthropic:messages:claude-x
  - ollama:chat:llama3
tests:
  - vars: {question: 'Where is my order?'}
    assert:
      - type: icontains
        value: order
      - type: javascript
        value: output.length < 100
  - vars: {question: Refund please}
    threshold: 0.5
defaultTest:
  assert:
    - type: not-contains
      value: As an AI
"""


def test_a_hand_written_config_maps_onto_yoakes_providers_and_says_what_was_left_out() -> None:
    imported = import_config(HAND_WRITTEN)
    spec = imported.spec
    assert spec.prompt == "Answer the customer: {{question}}" and spec.variants == ("",)
    assert [(m.provider, m.model) for m in spec.models] == [
        ("openai", "gpt-4.1-mini"), ("vllm", "qwen3"), ("custom", "my-model"), ("ollama", "llama3"),
    ]  # fmt: skip
    assert imported.base_urls == {2: "http://10.0.0.5:9000/v1"}
    assert spec.temperatures == (None, 0.2) and spec.inputs == ({"question": "Where is my order?"}, {"question": "Refund please"})
    evals = EvalSpec.from_dict(spec.evals)
    assert evals.assertions == (Assertion("not-contains", "As an AI"),)
    assert evals.rows == ((Assertion("icontains", "order"),), ()) and evals.thresholds == (None, 0.5)
    notes = " | ".join(imported.notes)
    assert "file://prompts/other.txt" in notes and "anthropic:messages:claude-x" in notes and "javascript" in notes
    assert all(note.render("ja") != str(note) for note in imported.notes)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("prompts: [a\n", "not valid YAML"),
        ("- just a list", "YAML mapping"),
        ("prompts: ['hi']\nproviders: ['anthropic:messages:x']", "no OpenAI-compatible provider"),
        ("providers: ['openai:gpt-x']", "no prompt"),
    ],
)
def test_unusable_configs_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(PromptfooImportError) as info:
        import_config(text)
    assert why in str(info.value) and info.value.detail.render("ja") != str(info.value.detail)
