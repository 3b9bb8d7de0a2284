"""The provider registry: one preset per OpenAI-compatible endpoint, and the one client factory."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace

import openai

from lib.core import netguard
from lib.core.config import LOCAL_MODEL_ALIAS, Settings
from lib.core.errors import YoakeError
from lib.core.i18n import Msg
from lib.core.pricing import Deprecation, find_deprecation

LOCAL_ID = "local"


@dataclass(frozen=True)
class Provider:
    id: str
    label: str  # shown to a person: a product name, or a `Msg` where it has words to translate
    base_url: str | None  # None: filled in at run time (embedded server, custom)
    key_env: str | None  # env var holding the key; None: no key needed
    models: tuple[str, ...]  # fallback list when /v1/models is unavailable
    small_model: str
    large_model: str
    base_url_env: str | None = None  # env var that overrides base_url
    placeholder_key: str = "not-needed"  # local servers ignore the key but the SDK wants one
    local: bool = False  # runs on the user's machine: cost 0, no key required
    continues_prefix: bool = False  # continues a final assistant message (llama-server style)
    supports_logprobs: bool = True
    llama_cpp: bool = False  # llama.cpp's server: takes its own request fields (cache_prompt, /tokenize)

    def api_key(self, settings: Settings) -> str | None:
        if self.key_env:
            key = settings.get(self.key_env)
            if key:
                return key
            if not self.local:
                return None
        return self.placeholder_key

    def resolve_base_url(self, settings: Settings) -> str | None:
        if self.base_url_env and settings.get(self.base_url_env):
            return settings.get(self.base_url_env)
        return self.base_url


PROVIDERS: dict[str, Provider] = {
    p.id: p
    for p in [
        Provider(
            id=LOCAL_ID,
            label=Msg("Local (embedded SmolLM2)"),
            base_url=None,
            key_env=None,
            models=(LOCAL_MODEL_ALIAS,),
            small_model=LOCAL_MODEL_ALIAS,
            large_model=LOCAL_MODEL_ALIAS,
            local=True,
            continues_prefix=True,
            llama_cpp=True,
        ),
        Provider(
            id="openai",
            label="OpenAI",
            base_url="https://api.openai.com/v1",
            base_url_env="OPENAI_BASE_URL",
            key_env="OPENAI_API_KEY",
            # As of 2026-11-27 (lib/core/prices.json has the sources): gpt-4.1 and gpt-4o shut down 2027-01-14
            models=("gpt-6-luna", "gpt-6.2-sol", "gpt-6.1-sol", "gpt-6-sol", "gpt-6.1-terra", "gpt-6-astra"),
            small_model="gpt-6-luna",
            large_model="gpt-6.2-sol",
        ),
        Provider(
            id="gemini",
            label="Google Gemini",
            base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
            key_env="GEMINI_API_KEY",
            # gemini-2.5-flash and -pro shut down 2026-12-01; Google names these two as their replacements
            models=("gemini-3.5-flash-lite", "gemini-3.8-flash", "gemini-3.5-flash"),
            small_model="gemini-3.5-flash-lite",
            large_model="gemini-3.8-flash",
            supports_logprobs=False,
        ),
        Provider(
            id="xai",
            label="xAI Grok",
            base_url="https://api.x.ai/v1",
            key_env="XAI_API_KEY",
            models=("grok-4.3", "grok-4.7"),
            small_model="grok-4.3",
            large_model="grok-4.7",
        ),
        Provider(
            id="plamo",
            label="PLaMo (Preferred Networks)",
            base_url="https://api.platform.preferredai.jp/v1",
            key_env="PLAMO_API_KEY",
            models=("plamo-2.2-prime",),  # earlier PLaMo Prime ids were upgraded to it on 2026-01-28
            small_model="plamo-2.2-prime",
            large_model="plamo-2.2-prime",
        ),
        Provider(
            id="lmstudio",
            label="LM Studio",
            base_url="http://localhost:1234/v1",
            base_url_env="LMSTUDIO_BASE_URL",
            key_env="LMSTUDIO_API_KEY",
            models=("local-model",),
            small_model="local-model",
            large_model="local-model",
            local=True,
        ),
        Provider(
            id="llama-server",
            label="llama-server (llama.cpp)",
            base_url="http://localhost:8080/v1",
            base_url_env="LLAMA_SERVER_BASE_URL",
            key_env="LLAMA_SERVER_API_KEY",
            models=("default",),
            small_model="default",
            large_model="default",
            local=True,
            continues_prefix=True,
            llama_cpp=True,
        ),
        Provider(
            id="ollama",
            label="Ollama",
            base_url="http://localhost:11434/v1",
            base_url_env="OLLAMA_BASE_URL",
            key_env="OLLAMA_API_KEY",
            models=("llama3.2", "qwen2.5", "gemma3"),
            small_model="llama3.2",
            large_model="qwen2.5",
            placeholder_key="ollama",
            local=True,
        ),
        Provider(
            id="vllm",
            label="vLLM",
            base_url="http://localhost:8000/v1",
            base_url_env="VLLM_BASE_URL",
            key_env="VLLM_API_KEY",
            models=("default",),
            small_model="default",
            large_model="default",
            placeholder_key="EMPTY",
            local=True,
        ),
        Provider(
            id="custom",
            label=Msg("Custom (base URL + key)"),
            base_url=None,
            base_url_env="CUSTOM_BASE_URL",
            key_env="CUSTOM_API_KEY",
            models=("default",),
            small_model="default",
            large_model="default",
            local=True,  # unknown price; no key may be needed
        ),
    ]
}


def default_provider_id(settings: Settings) -> str:
    """OpenAI when a key is configured, else the embedded model (works offline, no key)."""
    explicit = settings.default_provider
    if explicit in PROVIDERS:
        return explicit
    return "openai" if settings.get("OPENAI_API_KEY") else LOCAL_ID


def make_client(
    base_url: str,
    api_key: str,
    *,
    timeout: float | openai.Timeout = 60.0,
    max_retries: int = 2,
) -> openai.OpenAI:
    """The one place clients are built: explicit timeout, the SDK's own retries."""
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)


def client_timeout(settings: Settings) -> openai.Timeout:
    return openai.Timeout(settings.timeout, connect=settings.connect_timeout)


def client_for(
    provider: Provider, settings: Settings, *, base_url: str | None = None, api_key: str | None = None
) -> openai.OpenAI:
    """Client for a preset; `base_url`/`api_key` override (the embedded server, a typed custom URL)."""
    url = base_url or provider.resolve_base_url(settings)
    key = api_key or provider.api_key(settings)
    if not url:
        raise ValueError(Msg("{provider} needs a base URL.", provider=provider.label))
    if key is None:
        raise ValueError(
            Msg(
                "{provider} needs an API key: set {setting} in the environment, .env or secrets.toml.",
                provider=provider.label,
                setting=provider.key_env,
            )
        )
    return make_client(
        url,
        key,
        timeout=client_timeout(settings),
        max_retries=settings.max_retries,
    )


class EndpointRefused(YoakeError):
    kind = "blocked_address"
    title = Msg("This base URL is not allowed.")


def check_typed_base_url(url: str, *, allow_private: bool) -> None:
    """A base URL typed on the page (the Custom provider) goes through the address guard before any
    client is built: a visitor must not make the server call its cloud metadata service or, on a
    deployment, its own private network. (Configured base URLs are the operator's and are not checked.)"""
    try:
        netguard.checked_url(url, allow_private)
    except netguard.AddressRefused as exc:
        opens = (Msg(" On your own computer this works without a setting; on a deployment the operator can allow "
                     "private networks with YOAKE_FETCH_ALLOW_PRIVATE=1.") if exc.refusal.opens_with_setting else "")  # fmt: skip
        raise EndpointRefused(
            Msg(
                "{refusal}, which the app does not call for a visitor.{opens}",
                refusal=netguard.describe(exc.refusal),
                opens=opens,
            )
        ) from None
    except ValueError as exc:
        raise EndpointRefused(
            Msg("That is not a valid base URL ({reason}).", reason=str(exc)), title=Msg("That base URL is malformed.")
        ) from None
    except (OSError, UnicodeError):  # socket.gaierror
        raise EndpointRefused(
            Msg("Check the spelling of the host, or the network."),
            title=Msg("The base URL's host could not be found."),
            retryable=True,
        ) from None


@dataclass(frozen=True)
class ModelList:
    models: list[str]
    from_server: bool
    notice: str | None = None
    shutdown_dates: dict[str, _dt.date] = field(default_factory=dict)  # from the provider's /v1/models


def _shutdown_date(model: object) -> _dt.date | None:
    """A listed model's optional `shutdown_date` (OpenAI's /v1/models: a field of newer SDKs' `Model`,
    kept in `model_extra` by older ones): an ISO date or a Unix timestamp. Anything else is ignored."""
    value = getattr(model, "shutdown_date", None) or (getattr(model, "model_extra", None) or {}).get("shutdown_date")
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _dt.datetime.fromtimestamp(value, _dt.UTC).date()
        if isinstance(value, str) and value:
            return _dt.date.fromisoformat(value[:10])
    except (ValueError, OverflowError, OSError):
        return None
    return None


def list_models(client: openai.OpenAI, provider: Provider) -> ModelList:
    """The provider's /v1/models, or the preset's list with a notice saying why."""
    try:
        listed = list(client.models.list())
    except openai.OpenAIError as exc:
        return ModelList(
            list(provider.models),
            False,
            Msg(
                "Could not list models ({error}); showing {provider}'s usual models.",
                error=type(exc).__name__,
                provider=provider.label,
            ),
        )
    ids = sorted(m.id for m in listed)
    if not ids:
        return ModelList(
            list(provider.models), False, Msg("{provider} listed no models; showing its usual models.", provider=provider.label)
        )
    dates = {m.id: day for m in listed if (day := _shutdown_date(m)) is not None}
    return ModelList(ids, True, shutdown_dates=dates)


def model_deprecation(
    model: str, models: ModelList | None, deprecations: dict[str, Deprecation] | None = None
) -> Deprecation | None:
    """Why `model` is going away: the provider's own `shutdown_date` (it wins on the date) or the
    deprecations data (which names the replacement)."""
    known = find_deprecation(model, deprecations)
    listed = models.shutdown_dates.get(model) if models else None
    if listed is None:
        return known
    return Deprecation(
        model, listed, known.replacement if known else None, known.source if known else "the provider's model list"
    )


def router_defaults(
    provider: Provider,
    models: ModelList | None = None,
    deprecations: dict[str, Deprecation] | None = None,
) -> Provider:
    """The preset with small and large models the 'auto' router may pick: never one that is deprecated
    (by the provider's list or the data). A deprecated default gives way to its named replacement, else
    to the next model of the preset's list (then of the provider's) that is not deprecated."""
    offered = models.models if models and models.from_server else []
    candidates = list(dict.fromkeys([*provider.models, *offered]))

    def usable(name: str) -> bool:
        return model_deprecation(name, models, deprecations) is None

    def pick(name: str, avoid: str) -> str:
        if usable(name):
            return name
        dep = model_deprecation(name, models, deprecations)
        if dep and dep.replacement and usable(dep.replacement):
            return dep.replacement
        # the models listed after it first (the preset lists them in a sensible order), and not the
        # other default if there is any other choice, so 'auto' still offers two models
        start = candidates.index(name) + 1 if name in candidates else 0
        ordered = [m for m in candidates[start:] + candidates[:start] if usable(m)]
        return next((m for m in ordered if m != avoid), ordered[0] if ordered else name)  # none: keep it, it works today

    small = pick(provider.small_model, provider.large_model)
    large = pick(provider.large_model, small)
    if (small, large) == (provider.small_model, provider.large_model):
        return provider
    return replace(provider, small_model=small, large_model=large)
