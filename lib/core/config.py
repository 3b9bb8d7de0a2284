"""Settings from the environment, `.env` and Streamlit secrets, plus secret redaction.

`lib/` never imports streamlit: the page layer passes `st.secrets` in as a plain mapping.
Precedence: real environment > secrets.toml > `.env`, so a deployment can override a dev file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAILY_TOKEN_ALERT_DEFAULT = 500_000
# The name the embedded engine serves the built-in SmolLM2 under (here, below both the engine and the
# provider registry: the engine's child process then starts without importing the openai SDK).
LOCAL_MODEL_ALIAS = "smollm2-135m-instruct"

# Names whose values are secrets: never printed, logged or shown.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_REDACTED = "***"


def _flatten(secrets: Mapping[str, Any]) -> dict[str, str]:
    """Top-level scalar entries of secrets.toml (tables are ignored: we read flat names)."""
    out: dict[str, str] = {}
    for name, value in secrets.items():
        if isinstance(value, (str, int, float, bool)):
            out[str(name)] = str(value)
    return out


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str] = field(default_factory=dict)
    extra_secrets: tuple[str, ...] = ()  # secrets from elsewhere, e.g. a key typed into the page

    def with_secret(self, secret: str) -> Settings:
        return replace(self, extra_secrets=(*self.extra_secrets, secret))

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else default

    def get_float(self, name: str, default: float) -> float:
        try:
            return float(self.get(name, "") or default)
        except ValueError:
            return default

    def get_int(self, name: str, default: int) -> int:
        try:
            return int(self.get(name, "") or default)
        except ValueError:
            return default

    @property
    def data_dir(self) -> Path:
        """Where everything the app writes goes; created on demand."""
        path = Path(self.get("YOAKE_DATA_DIR", str(PROJECT_ROOT / "data")) or "data")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- typed settings: every YOAKE_* setting has one property here, and a row in README's table ---

    @property
    def local_model(self) -> str | None:
        """YOAKE_LOCAL_MODEL: a GGUF for the embedded server (default: the shipped SmolLM2)."""
        return self.get("YOAKE_LOCAL_MODEL")

    @property
    def local_model_sha256(self) -> str | None:
        """YOAKE_LOCAL_MODEL_SHA256: the digest a YOAKE_LOCAL_MODEL link's file must have (checked once, after the download)."""
        return self.get("YOAKE_LOCAL_MODEL_SHA256")

    @property
    def local_base_url(self) -> str | None:
        """YOAKE_LOCAL_BASE_URL: an already-running server to use instead of starting one."""
        return self.get("YOAKE_LOCAL_BASE_URL")

    @property
    def default_provider(self) -> str | None:
        """YOAKE_DEFAULT_PROVIDER, as given (lib.providers.default_provider_id applies the rule)."""
        return self.get("YOAKE_DEFAULT_PROVIDER")

    @property
    def timeout(self) -> float:
        """YOAKE_TIMEOUT: the client's read timeout, seconds."""
        return self.get_float("YOAKE_TIMEOUT", 60.0)

    @property
    def connect_timeout(self) -> float:
        """YOAKE_CONNECT_TIMEOUT: the client's connect timeout, seconds."""
        return self.get_float("YOAKE_CONNECT_TIMEOUT", 5.0)

    @property
    def max_retries(self) -> int:
        """YOAKE_MAX_RETRIES: the SDK's own retries (429, 5xx, connection errors)."""
        return self.get_int("YOAKE_MAX_RETRIES", 2)

    @property
    def password(self) -> str | None:
        """YOAKE_PASSWORD: when set, every page asks for it first."""
        return self.get("YOAKE_PASSWORD")

    @property
    def daily_token_alert(self) -> int:
        """YOAKE_DAILY_TOKEN_ALERT: the usage page warns when today's tokens cross it."""
        return self.get_int("YOAKE_DAILY_TOKEN_ALERT", DAILY_TOKEN_ALERT_DEFAULT)

    @property
    def fetch_timeout(self) -> float:
        """YOAKE_FETCH_TIMEOUT: the summariser's limit for connecting and downloading a page, seconds."""
        return self.get_float("YOAKE_FETCH_TIMEOUT", 15.0)

    @property
    def fetch_max_mb(self) -> float:
        """YOAKE_FETCH_MAX_MB: the largest page, PDF or upload the summariser reads, megabytes."""
        return self.get_float("YOAKE_FETCH_MAX_MB", 5.0)

    @property
    def fetch_max_redirects(self) -> int:
        """YOAKE_FETCH_MAX_REDIRECTS: redirects followed before giving up."""
        return self.get_int("YOAKE_FETCH_MAX_REDIRECTS", 5)

    @property
    def fetch_max_pages(self) -> int:
        """YOAKE_FETCH_MAX_PAGES: the most pages of a PDF the summariser reads."""
        return self.get_int("YOAKE_FETCH_MAX_PAGES", 300)

    @property
    def fetch_allow_private(self) -> bool:
        """YOAKE_FETCH_ALLOW_PRIVATE: let the summariser fetch loopback and private-network hosts
        (intranet pages on a laptop); link-local and cloud metadata addresses stay refused."""
        return (self.get("YOAKE_FETCH_ALLOW_PRIVATE", "") or "").strip().lower() in ("1", "true", "yes", "on")

    @property
    def docs_allow_paths(self) -> bool:
        """YOAKE_DOCS_ALLOW_PATHS: Docs Q&A may index folders and files on the app's machine by path
        (on by default; off on a shared demo, where visitors would read the server's files)."""
        return (self.get("YOAKE_DOCS_ALLOW_PATHS", "1") or "1").strip().lower() not in ("0", "false", "no", "off")

    @property
    def docs_roots(self) -> tuple[str, ...] | None:
        """YOAKE_DOCS_ROOTS: folders (os.pathsep-separated) below which Docs Q&A may index files by path;
        None when not set (lib/core/host_paths.py then uses the home folder on a laptop, nothing on a deployment)."""
        raw = self.get("YOAKE_DOCS_ROOTS")
        return None if raw is None else tuple(p.strip() for p in raw.split(os.pathsep) if p.strip())

    @property
    def password_host_actions(self) -> bool:
        """YOAKE_PASSWORD_HOST_ACTIONS: everyone with the shared password may act on the host (index its
        files, manage the shared model); off by default (lib/core/policy.py)."""
        return (self.get("YOAKE_PASSWORD_HOST_ACTIONS", "") or "").strip().lower() in ("1", "true", "yes", "on")

    @property
    def language(self) -> str | None:
        """YOAKE_LANGUAGE: the interface language (ja or en) for a visitor whose browser asks for neither and who has not chosen."""
        return self.get("YOAKE_LANGUAGE")

    @property
    def usd_jpy(self) -> float | None:
        """YOAKE_USD_JPY: yen per US dollar; when set, costs also show an estimate in yen at this rate."""
        rate = self.get_float("YOAKE_USD_JPY", 0.0)
        return rate if rate > 0 else None

    @property
    def admins(self) -> tuple[str, ...]:
        """YOAKE_ADMINS: comma-separated e-mails of signed-in users who see every user's usage."""
        raw = self.get("YOAKE_ADMINS", "") or ""
        return tuple(dict.fromkeys(a.strip().lower() for a in raw.split(",") if a.strip()))

    @property
    def shared_answer_cache(self) -> bool:
        """YOAKE_SHARED_ANSWER_CACHE: replay one signed-in user's cached answer to another (off: each
        owner's cache is their own, so nobody learns what someone else asked)."""
        return (self.get("YOAKE_SHARED_ANSWER_CACHE", "") or "").strip().lower() in ("1", "true", "yes", "on")

    def secret_values(self) -> list[str]:
        # Short values ("1", "true") would redact ordinary text; real keys are long.
        named = [v for k, v in self.values.items() if _SECRET_NAME.search(k) and len(v) >= 8]
        return named + [s for s in self.extra_secrets if len(s) >= 8]

    def redact(self, text: str, extra: list[str] | None = None) -> str:
        return redact(text, self.secret_values() + (extra or []))


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of a secret (and its first 8+ characters) with ***."""
    for secret in sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
        # Providers echo keys partly masked ("sk-abc12***wxyz"): hide any 8-char prefix too.
        text = text.replace(secret[:8], _REDACTED)
    return text


def load_settings(secrets: Mapping[str, Any] | None = None, env_file: str | Path | None = None) -> Settings:
    env_path = Path(env_file or os.environ.get("YOAKE_ENV_FILE") or PROJECT_ROOT / ".env")
    merged: dict[str, str] = {}
    if env_path.is_file():
        merged.update({k: v for k, v in dotenv_values(env_path).items() if v is not None})
    if secrets:
        merged.update(_flatten(secrets))
    merged.update(os.environ)
    return Settings(values=merged)
