"""Plain pytest for lib/: trimming, routing, providers, settings and redaction, usage log, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openai
import pytest

from lib.core import usage_log
from lib.core.config import load_settings, redact
from lib.core.errors import describe_error
from lib.core.pricing import estimate_cost
from lib.llm.chat import AUTO_MODEL, ChatParams, estimate_tokens, parse_stop, route_model, trim_history
from lib.llm.providers import LOCAL_ID, PROVIDERS, client_for, default_provider_id, list_models
from lib.usage import reader


def _msgs(n: int, size: int = 10) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} " + "x" * size} for i in range(n)]


# --- trim -----------------------------------------------------------------------------------------


def test_trim_keeps_system_prompt_and_newest_within_message_limit() -> None:
    out = trim_history("Be brief.", _msgs(10), max_messages=4, max_tokens=10_000)
    assert out.messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["content"].split()[0] for m in out.messages[1:]] == ["m6", "m7", "m8", "m9"]
    assert out.dropped == 6


def test_trim_respects_token_budget_and_always_sends_the_newest() -> None:
    history = _msgs(6, size=400)  # ~100 tokens each
    out = trim_history(None, history, max_messages=100, max_tokens=250)
    assert out.messages[-1] == history[-1]
    assert 1 <= len(out.messages) <= 2 and out.dropped == 6 - len(out.messages)
    # A single oversized newest message is still sent (the provider will say if it's too long).
    huge = [{"role": "user", "content": "y" * 100_000}]
    assert trim_history("sys", huge, max_tokens=100).messages[-1] == huge[0]


def test_trim_never_starts_with_an_orphaned_assistant_turn() -> None:
    out = trim_history(None, _msgs(4), max_messages=3, max_tokens=10_000)
    assert out.messages[0]["role"] == "user"
    assert out.dropped == 2


def test_estimate_tokens_counts_cjk_per_character() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("日本語です") == 5


def test_route_model_rule() -> None:
    assert route_model("hi there", "small", "large") == ("small", "short, simple message")
    assert route_model("Please explain how DNS works", "small", "large")[0] == "large"
    assert route_model("x" * 401, "small", "large") == ("large", "long message")
    assert route_model("fix this ```py\nprint(1)```", "small", "large")[0] == "large"
    assert AUTO_MODEL == "auto"


def test_params_and_stop_parsing() -> None:
    assert parse_stop("END\n\\n\\n\n\n  \nA\nB\nC") == ["END", "\n\n", "A", "B"]
    kw = ChatParams("m", temperature=0.0, seed=3, stop=["x"]).to_kwargs()
    assert kw == {"model": "m", "temperature": 0.0, "seed": 3, "stop": ["x"]}


# --- providers and settings ----------------------------------------------------------------------


def test_registry_has_every_preset_with_models() -> None:
    assert set(PROVIDERS) >= {"local", "openai", "gemini", "xai", "plamo", "lmstudio", "llama-server", "ollama", "vllm", "custom"}
    for p in PROVIDERS.values():
        assert p.models and p.small_model and p.large_model
    assert PROVIDERS["gemini"].base_url.endswith("/openai/")


def test_default_provider_is_local_without_key_and_openai_with_one(tmp_path: Path) -> None:
    assert default_provider_id(load_settings(env_file=tmp_path / "none")) == LOCAL_ID
    env = tmp_path / ".env"
    env.write_text("OPENAI_API_KEY=sk-test-from-dotenv-123456\n")
    assert default_provider_id(load_settings(env_file=env)) == "openai"
    assert (
        default_provider_id(load_settings({"OPENAI_API_KEY": "sk-from-secrets-123456"}, env_file=tmp_path / "none")) == "openai"
    )


def test_environment_beats_secrets_beats_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("XAI_API_KEY=from-dotenv-aaaa\nGEMINI_API_KEY=dotenv-gem-aaaa\nPLAMO_API_KEY=dotenv-plamo\n")
    monkeypatch.setenv("XAI_API_KEY", "from-env-bbbb")
    s = load_settings({"XAI_API_KEY": "from-secrets-cccc", "GEMINI_API_KEY": "secret-gem-cccc", "nested": {"a": 1}}, env_file=env)
    assert s.get("XAI_API_KEY") == "from-env-bbbb"
    assert s.get("GEMINI_API_KEY") == "secret-gem-cccc"
    assert s.get("PLAMO_API_KEY") == "dotenv-plamo"


def test_data_dir_is_created_on_demand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deep" / "data"
    monkeypatch.setenv("YOAKE_DATA_DIR", str(target))
    assert load_settings().data_dir == target and target.is_dir()


def test_redaction_hides_keys_and_their_prefixes() -> None:
    key = "sk-proj-ABCDEFGHIJKLMNOP1234"
    text = f"Incorrect API key provided: {key[:8]}****1234. Full: {key}"
    out = redact(text, [key])
    assert key not in out and key[:8] not in out
    s = load_settings({"OPENAI_API_KEY": key})
    assert key not in s.redact(f"boom {key}")


def test_client_for_requires_key_for_cloud_providers() -> None:
    s = load_settings()
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        client_for(PROVIDERS["openai"], s)
    client = client_for(PROVIDERS["ollama"], s)
    assert client.max_retries == 2 and client.timeout.read == 60.0


def test_model_list_from_server_and_fallback(local_server) -> None:
    s = load_settings()
    live = list_models(client_for(PROVIDERS[LOCAL_ID], s, base_url=local_server.base_url), PROVIDERS[LOCAL_ID])
    assert live.from_server and live.models == ["smollm2-135m-instruct"] and live.notice is None
    dead = client_for(PROVIDERS["vllm"], s, base_url="http://127.0.0.1:9/v1")
    dead = dead.with_options(max_retries=0, timeout=2)
    fallback = list_models(dead, PROVIDERS["vllm"])
    assert not fallback.from_server and fallback.models == list(PROVIDERS["vllm"].models)
    assert "APIConnectionError" in fallback.notice


# --- usage log ------------------------------------------------------------------------------------


def test_usage_log_appends_one_valid_line_per_call(tmp_path: Path) -> None:
    path = usage_log.usage_path(tmp_path)
    for i in range(3):
        usage_log.append(path, usage_log.UsageRecord(page="chat", provider="local", model="m", input_tokens=i))
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first)[:2] == ["id", "ts"] and first["ts"].endswith("Z")
    expected = {
        "id",
        "ts",
        "page",
        "provider",
        "model",
        "resolved_model",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "ttft_ms",
        "duration_ms",
        "cost_usd",
        "status",
        "error_type",
        "request_id",
    }
    assert expected <= set(first)
    records, bad = reader.read_records(path)
    assert [r["input_tokens"] for r in records] == [0, 1, 2] and bad == 0


def test_pricing_local_free_unknown_none_known_priced() -> None:
    assert estimate_cost("anything", 10, 10, local=True) == 0.0
    assert estimate_cost("mystery-model", 10, 10, local=False) is None
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, local=False) == pytest.approx(0.75)


# --- error mapping --------------------------------------------------------------------------------


def test_unexpected_and_decode_errors_get_messages() -> None:
    assert describe_error(json.JSONDecodeError("x", "doc", 0)).kind == "bad_response"
    assert describe_error(RuntimeError("boom")).kind == "unexpected"
    assert describe_error(openai.OpenAIError("x")).kind == "openai_error"


def test_append_after_a_torn_last_line_keeps_the_new_record(tmp_path: Path) -> None:
    path = usage_log.usage_path(tmp_path)
    usage_log.append(path, usage_log.UsageRecord(page="chat", provider="local", model="before"))
    with open(path, "ab") as fh:
        fh.write(b'{"id":"torn","ts":"2026-')  # a writer died mid-line
    usage_log.append(path, usage_log.UsageRecord(page="chat", provider="local", model="after"))
    records, bad = reader.read_records(path)
    assert [r["model"] for r in records] == ["before", "after"] and bad == 1


def test_text_from_outside_never_becomes_a_link_or_markup() -> None:
    """Streamlit's markdown links bare URLs, `www.` names and e-mail addresses even when escaped (seen in
    Chromium): md_text breaks each with an invisible word joiner, and the reader still sees the text."""
    from lib.core.text import WORD_JOINER, md_text

    hostile = "see https://evil.example/x, WWW.evil.example, bob@evil.example [a](javascript:x) <b>x</b> **b**"
    shown = md_text(hostile)
    assert not re.search(r"(?i)(https?|ftp|mailto):(?!\u2060)|www\.|@(?!\u2060)", shown.replace("\\", ""))
    assert shown.replace("\\", "").replace(WORD_JOINER, "") == hostile  # the same characters, as text


def test_a_prompt_reference_stays_as_typed_but_an_address_is_broken() -> None:
    from lib.core.text import WORD_JOINER, md_text

    assert md_text("support@2") == "support@2"  # no period after @: not an e-mail to GFM
    assert WORD_JOINER in md_text("faq@v3.2") and WORD_JOINER in md_text("me@x.org")
